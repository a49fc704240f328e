//! Opaque access tokens, verified by asking the authorization server (OAuth 2.0 Token
//! Introspection, RFC 7662).
//!
//! A token shaped like a compact JWS (three base64url segments) is verified locally as a JWT;
//! any other token is sent to the introspection endpoint ([`TokenKinds`] chooses). An active
//! answer must be for an access token (`token_type` absent, `Bearer` or `DPoP`, or a type the
//! application accepts). Its members are checked exactly as a JWT's claims are (`iss`, `aud`,
//! `exp`, `nbf`, the required claims, `cnf`, the custom validators), the application's claims
//! type is read from it, and the request-level rules (DPoP binding, revocation) and route
//! requirements apply unchanged.
//!
//! ```
//! use jwt_layer::{JwtAuth, TokenKinds, introspection::Introspection, keys::StaticKeys};
//!
//! #[derive(serde::Deserialize)]
//! struct MyClaims { sub: String }
//!
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::hmac([7u8; 32])?)
//!     .issuer("https://login.example")
//!     .audience("my-api")
//!     .introspection(
//!         Introspection::endpoint("https://login.example/oauth2/introspect")
//!             .client_secret_basic("my-api", "s3cret"),
//!     )
//!     .token_kinds(TokenKinds::JwtAndOpaque)
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod answer;
mod assertion;
mod cache;
mod client;

use crate::reason::IntrospectionProblem;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::keys::{KeyLookup, KeyProvider};
use crate::token::verify::split;

pub(crate) use answer::active;
pub(crate) use client::Introspector;

/// The default bound on one introspection call, connection included (5 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default cap on an introspection response body (64 KiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The default longest time an active answer is reused (60 s; never past the token's `exp`).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
/// The default time an inactive answer is reused (5 s).
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// The default bound on cached answers (10 000 tokens).
pub const DEFAULT_MAX_CACHE_ENTRIES: usize = 10_000;

/// Which tokens a [`crate::JwtAuth`] accepts, and how each is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenKinds {
    /// JWTs only, verified locally (the default without [`Introspection`]).
    #[default]
    Jwt,
    /// Opaque tokens only: every token is introspected, JWS-shaped or not, and no keys are
    /// needed (`.keys(..)` may be left out).
    Opaque,
    /// Both: a token of three base64url segments is verified as a JWT, any other token is
    /// introspected (the default with [`Introspection`]).
    JwtAndOpaque,
}

/// How the client authenticates to the introspection endpoint (RFC 7662 §2.1 requires some
/// authorization; RFC 6749 §2.3.1 defines these two).
#[derive(Clone)]
enum ClientAuth {
    None,
    /// `Authorization: Basic` over the form-encoded id and secret.
    Basic {
        id: String,
        secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    Post {
        id: String,
        secret: String,
    },
    /// A `client_assertion` signed with the client's key, made for each call.
    PrivateKeyJwt {
        id: String,
        key: Arc<assertion::ClientKey>,
    },
    /// A key that could not be read; refused by `build()`.
    Invalid(String),
}

/// Where the endpoint is.
#[derive(Clone, Debug)]
enum Endpoint {
    /// Given as configuration.
    Url(String),
    /// The `introspection_endpoint` of this issuer's metadata (RFC 8414 §2), fetched on first
    /// use.
    Discover(String),
}

/// The configuration of token introspection, given to
/// [`JwtAuthBuilder::introspection`](crate::JwtAuthBuilder::introspection).
///
/// Defaults: a call times out after [`DEFAULT_TIMEOUT`], a response over
/// [`DEFAULT_MAX_RESPONSE_BYTES`] is refused, an active answer is reused for
/// [`DEFAULT_CACHE_TTL`] (never past the token's `exp`), an inactive one for
/// [`DEFAULT_NEGATIVE_TTL`], and at most [`DEFAULT_MAX_CACHE_ENTRIES`] answers are kept.
/// Requests with the same token that arrive while a call is under way wait for that call
/// instead of making their own.
///
/// Failure behaviour: `"active": false` is a 401 `invalid_token` (`token not active`); an
/// active answer for another kind of token than an access token (its `token_type`, see
/// [`Introspection::accept_token_types`]) is a 401 `invalid_token`; an active answer whose
/// members fail a check is refused like a JWT with those claims (401);
/// an authorization server that cannot answer (no connection, timeout, a status other than
/// 200, a body that is not a JSON object with a boolean `active`, a body over the cap) is a
/// 503 with `Retry-After` (fail closed), never a 401 and never a pass. Failures are not
/// cached: the next request asks again.
#[derive(Clone)]
pub struct Introspection {
    endpoint: Endpoint,
    auth: ClientAuth,
    client: Option<reqwest::Client>,
    timeout: Duration,
    max_response_bytes: usize,
    cache_ttl: Duration,
    negative_ttl: Duration,
    max_cache_entries: usize,
    token_types: Vec<String>,
    allow_http: bool,
}

impl Introspection {
    fn new(endpoint: Endpoint) -> Self {
        Introspection {
            endpoint,
            auth: ClientAuth::None,
            client: None,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            cache_ttl: DEFAULT_CACHE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_cache_entries: DEFAULT_MAX_CACHE_ENTRIES,
            token_types: Vec::new(),
            allow_http: false,
        }
    }

    /// Introspects at this URL (`https`, or `http` to a loopback host).
    pub fn endpoint(url: impl Into<String>) -> Self {
        Self::new(Endpoint::Url(url.into()))
    }

    /// Introspects at the `introspection_endpoint` named by this issuer's metadata, found as
    /// for JWKS discovery (`{issuer}/.well-known/openid-configuration`, then RFC 8414's
    /// `/.well-known/oauth-authorization-server`). The document is fetched on the first
    /// opaque token and kept; its `issuer` must equal `issuer` exactly. Until it is found,
    /// opaque tokens are answered 503.
    pub fn discover(issuer: impl Into<String>) -> Self {
        Self::new(Endpoint::Discover(issuer.into()))
    }

    /// Authenticates with HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1): the id and
    /// secret are form-encoded, joined by `:` and base64-encoded.
    pub fn client_secret_basic(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.auth = ClientAuth::Basic { id: id.into(), secret: secret.into() };
        self
    }

    /// Authenticates with `client_id` and `client_secret` in the form body
    /// (`client_secret_post`, RFC 6749 §2.3.1).
    pub fn client_secret_post(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.auth = ClientAuth::Post { id: id.into(), secret: secret.into() };
        self
    }

    /// Authenticates with a JWT signed by the client's private key (`private_key_jwt`,
    /// OpenID Connect Core §9, RFC 7523 §2.2): `iss` and `sub` are `id`, `aud` the endpoint's
    /// URL, with a random `jti` and a lifetime of 60 s, made afresh for every call. `key` is
    /// a PKCS#8 private key, PEM (`-----BEGIN PRIVATE KEY-----`) or DER, for `alg` (RS256/384/
    /// 512, PS256/384/512, ES256, ES384 or EdDSA); `kid` names it in the header when the
    /// authorization server holds several keys of the client. A key that does not fit is
    /// refused by `build()` with [`BuildError::InvalidIntrospection`](crate::BuildError::InvalidIntrospection).
    pub fn private_key_jwt(
        mut self,
        id: impl Into<String>,
        key: impl AsRef<[u8]>,
        alg: crate::jose::algorithm::Algorithm,
        kid: Option<String>,
    ) -> Self {
        self.auth = match assertion::ClientKey::parse(key.as_ref(), alg, kid) {
            Ok(key) => ClientAuth::PrivateKeyJwt { id: id.into(), key: Arc::new(key) },
            Err(why) => ClientAuth::Invalid(why),
        };
        self
    }

    /// Sends the calls with this client (its proxy, TLS roots, connection pool). Its redirect
    /// policy applies; the timeout and size cap here still do. The default client follows no
    /// redirect, so the token and the credentials go to the configured endpoint only.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The bound on one call, discovery included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The cap on a response body in bytes (default 64 KiB); a larger one is a failure (503).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// The longest time an active answer is reused (default 60 s); it is never reused past
    /// the token's `exp`. A token revoked at the authorization server is accepted for at most
    /// this long. `Duration::ZERO` asks on every request (concurrent requests with the same
    /// token still share one call).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long an inactive answer is reused (default 5 s), so a client repeating a dead
    /// token does not make a call per request.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The bound on cached answers (default 10 000). When full, expired answers are dropped
    /// first, then the one nearest its deadline (a brief inactive answer before an active
    /// one), in O(log n) per insert; each entry holds the token's SHA-256, the response body
    /// and its deadline.
    pub fn max_cache_entries(mut self, max: usize) -> Self {
        self.max_cache_entries = max;
        self
    }

    /// Also accepts these `token_type`s in an active answer (RFC 7662 §2.2), compared
    /// case-insensitively (RFC 6749 §5.1), as bearer tokens (a `cnf` still binds them).
    ///
    /// Without it, an active answer passes only when `token_type` is absent, `Bearer` or
    /// `DPoP` (then `cnf.jkt` is required and the DPoP binding is checked as for a bound JWT);
    /// any other type (`refresh_token`, `id_token`, an RFC 8693 token type URI) is refused
    /// with [`AuthError::InvalidType`](crate::AuthError::InvalidType), and a `token_type` that is not a string with
    /// [`AuthError::InvalidClaimType`](crate::AuthError::InvalidClaimType). Name here only types your authorization server uses
    /// for access tokens. An empty name is refused by `build()`.
    pub fn accept_token_types(
        mut self,
        types: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.token_types.extend(types.into_iter().map(Into::into));
        self
    }

    /// Allows a plain `http` endpoint off loopback (and in discovered metadata). Only for a
    /// private network you trust: the token and the client credentials travel in clear.
    pub fn dangerous_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            ClientAuth::None => "none",
            ClientAuth::Basic { .. } => "client_secret_basic",
            ClientAuth::Post { .. } => "client_secret_post",
            ClientAuth::PrivateKeyJwt { .. } => "private_key_jwt",
            ClientAuth::Invalid(_) => "invalid",
        };
        f.debug_struct("Introspection")
            .field("endpoint", &self.endpoint)
            .field("client_auth", &auth)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("token_types", &self.token_types)
            .finish_non_exhaustive()
    }
}

/// The key provider of an introspection-only configuration: no token is ever verified as a
/// JWT, so none is ever asked for.
pub(crate) struct NoKeys;

impl KeyProvider for NoKeys {
    fn lookup(&self, _: &crate::jose::header::TokenHeader<'_>) -> KeyLookup {
        KeyLookup::no_keys()
    }
}

/// Checks the introspection configuration once, at build time.
pub(crate) fn build(
    introspection: Option<Introspection>,
    kinds: Option<TokenKinds>,
) -> Result<Option<Arc<Introspector>>, IntrospectionProblem> {
    use IntrospectionProblem as Problem;
    let Some(config) = introspection else {
        return match kinds {
            None | Some(TokenKinds::Jwt) => Ok(None),
            Some(_) => Err(Problem::OpaqueWithoutIntrospection),
        };
    };
    let opaque_only = match kinds.unwrap_or(TokenKinds::JwtAndOpaque) {
        TokenKinds::Jwt => return Err(Problem::IntrospectionWithJwtOnly),
        TokenKinds::Opaque => true,
        TokenKinds::JwtAndOpaque => false,
    };
    if let ClientAuth::Invalid(why) = &config.auth {
        tracing::warn!(reason = %why, "the introspection client key is unusable");
        return Err(Problem::UnusableClientKey);
    }
    if config.timeout.is_zero() {
        return Err(Problem::ZeroTimeout);
    }
    if config.max_response_bytes == 0 {
        return Err(Problem::ZeroResponseCap);
    }
    if config.token_types.iter().any(String::is_empty) {
        return Err(Problem::EmptyTokenType);
    }
    Introspector::new(config, opaque_only).map(|i| Some(Arc::new(i)))
}

impl Introspector {
    /// Whether this token is introspected rather than verified as a JWT: every token, or one
    /// without the shape of a compact JWS (the shape check of the verification sequence).
    pub(crate) fn takes(&self, token: &str) -> bool {
        self.opaque_only || split(token).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_base64url_segments_look_like_a_jws() {
        let looks_like_jws = |token| split(token).is_ok();
        assert!(looks_like_jws("eyJh.eyJi.c2ln"));
        assert!(looks_like_jws("eyJh.eyJi."));
        assert!(!looks_like_jws("2YotnFZFEjr1zCsicMWpAA"));
        assert!(!looks_like_jws("a.b"));
        assert!(!looks_like_jws("a.b.c.d"));
        assert!(!looks_like_jws(".b.c"));
        assert!(!looks_like_jws("a~b.c.d"));
        assert!(!looks_like_jws("a+b.c.d"));
    }
}
