//! `JwtAuth<C>`: the configured verifier, and the builder that checks the configuration once.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde::de::DeserializeOwned;

use crate::authenticator::Authenticator;
use crate::build_error::BuildError;
use crate::clock::Clock;
use crate::dpop::Dpop;
use crate::error::{AuthError, DEFAULT_REALM};
use crate::explain::Explanation;
use crate::grants::claim_path::ClaimPath;
use crate::grants::claim_values::{ClaimValues, GrantSource};
use crate::http::layer::JwtLayer;
use crate::http::require_grant::{
    RequireAuth, RequirePermission, RequireRole, RequireScope, RequireStepUp,
};
use crate::keys::KeyProvider;
use crate::observe::Silent;
use crate::readiness::Readiness;
use crate::request::certificate::{CertificateBinding, ForwardedCertificate};
use crate::request::extract::TokenSources;
use crate::request::rules::{Presented, RequestRules};
use crate::resource::identifier::Resource;
use crate::resource::resource_metadata::ProtectedResourceMetadata;
use crate::store::RevocationStore;
use crate::token::registered::{ClaimRules, is_scope_token};
use crate::token::token_cache::TokenCache;
use crate::token::trusted_issuer::TrustedIssuer;
use crate::token::verify::{Route, Validator, Verifier};

/// The default cap on a token's length, checked before any decoding (8 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The default clock-skew allowance for `exp` and `nbf` (60 s).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// A configured JWT verifier for claims of type `C`.
///
/// Cheap to clone (one `Arc`), usable as a Tower layer through [`JwtAuth::layer`] or on its own
/// through [`JwtAuth::verify`] (WebSocket upgrades, gRPC metadata, background jobs).
///
/// ```
/// use jwt_layer::{JwtAuth, keys::StaticKeys};
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// let auth = JwtAuth::<MyClaims>::builder()
///     .keys(StaticKeys::hmac(b"0123456789abcdef0123456789abcdef")?)
///     .issuer("https://login.example")
///     .audience("my-api")
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JwtAuth<C> {
    pub(crate) inner: Authenticator<C>,
}

impl<C> Clone for JwtAuth<C> {
    fn clone(&self) -> Self {
        JwtAuth { inner: self.inner.clone() }
    }
}

impl<C> fmt::Debug for JwtAuth<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> JwtAuth<C> {
    /// Starts a configuration.
    pub fn builder() -> JwtAuthBuilder<C> {
        JwtAuthBuilder::new()
    }

    /// Verifies one compact JWS token and returns its claims.
    /// With [`JwtAuthBuilder::introspection`], an opaque token is introspected instead and the
    /// answer checked the same way (see [`crate::introspection`]).
    ///
    /// Runs every check the layer runs (size, shape, header, key, signature, `exp`, `nbf`,
    /// `iss`, `aud`, required claims, `typ`, custom validators). Completes without awaiting
    /// unless the key provider has to fetch keys.
    ///
    /// A token bound to a DPoP key (`cnf.jkt`) or to a client certificate (`cnf.x5t#S256`) is
    /// refused here, since no proof or certificate comes with it; the layer checks such
    /// requests. With a revocation store, it is consulted too.
    pub async fn verify(&self, token: &str) -> Result<C, AuthError> {
        let presented = Presented::default();
        let verified = self.inner.authenticate(token, &presented, false, &mut Silent).await?;
        // Only the layer's verdicts are cached (and so shared); this one is `verify`'s own.
        Ok(Arc::into_inner(verified.claims).expect("verify's claims are not shared"))
    }
}

impl<C> JwtAuth<C> {
    /// Whether every key source has a usable set: [`Readiness::Ready`], or the first source
    /// that has none. For a readiness endpoint (answer 503 unless ready). Static keys are
    /// always ready; a remote source that has no usable set starts a fetch when asked (at
    /// most one per retry interval), so a probe alone brings it back. Never waits.
    pub fn readiness(&self) -> Readiness {
        self.inner
            .verifier
            .routes
            .iter()
            .map(|route| route.keys.readiness())
            .find(|readiness| !readiness.is_ready())
            .unwrap_or(Readiness::Ready)
    }

    /// With [`JwtAuthBuilder::tenants`]: whether the tenant whose issuer is `issuer` can have
    /// its tokens verified now, as [`JwtAuth::readiness`] says of a fixed key source; `None`
    /// when it is not a live tenant (never resolved, refused, or made room for). One tenant's
    /// identity provider down leaves [`JwtAuth::readiness`] `Ready`: the other tenants are
    /// served.
    #[cfg(feature = "remote")]
    pub fn tenant_readiness(&self, issuer: &str) -> Option<Readiness> {
        self.inner.tenants.as_ref()?.readiness(issuer)
    }
}

impl<C> JwtAuth<C> {
    /// The protected resource metadata (RFC 9728 §2) of this configuration, to which you add
    /// what only you know (`scopes_supported`, `resource_name`, `resource_documentation`, …).
    /// Filled in from the configuration, so the document says what the checks do:
    ///
    /// - `resource`: the identifier given to [`crate::JwtAuthBuilder::resource`], in
    ///   canonical form;
    /// - `authorization_servers`: the accepted issuers (none with
    ///   `dangerous_accept_any_issuer`);
    /// - `bearer_methods_supported`: `header`, and `query` when
    ///   [`crate::JwtAuthBuilder::dangerous_token_query_parameter`] is on. A token cookie is
    ///   not an RFC 6750 method, so the document does not mention it;
    /// - with DPoP on: `dpop_signing_alg_values_supported` (the proof algorithms accepted) and
    ///   `dpop_bound_access_tokens_required` (`true` when DPoP is required).
    ///
    /// `resource_signing_alg_values_supported` is left out: RFC 9728 defines it for the
    /// resource's own signed responses, not for the tokens it accepts.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoResource`] when the builder was given no resource.
    pub fn protected_resource_metadata(&self) -> Result<ProtectedResourceMetadata, BuildError> {
        let rules = &self.inner.request;
        let resource = rules.resource.clone().ok_or(BuildError::NoResource)?;
        let mut issuers: Vec<&str> = Vec::new();
        for issuer in self.inner.verifier.routes.iter().flat_map(|route| route.rules.issuers.iter())
        {
            if !issuers.contains(&&**issuer) {
                issuers.push(issuer);
            }
        }
        let mut methods = vec!["header"];
        if rules.sources.query.is_some() {
            methods.push("query");
        }
        let mut metadata = ProtectedResourceMetadata::for_resource(resource)
            .authorization_servers(issuers)
            .bearer_methods_supported(methods);
        if let Some(dpop) = &rules.dpop {
            metadata = metadata
                .dpop_signing_alg_values_supported(dpop.algorithms.iter())
                .dpop_bound_access_tokens_required(dpop.mode == crate::dpop::DpopMode::Required);
        }
        Ok(metadata)
    }
}

/// Route layers built from the `JwtAuth` whose layer is in front of them, their configuration
/// checked once, when the app is built.
impl<C> JwtAuth<C> {
    /// A [`RequireAuth`]: the route answers an anonymous request (optional mode) 401 with this
    /// `JwtAuth`'s challenge.
    pub fn require_auth(&self) -> RequireAuth {
        RequireAuth::unchecked(Vec::<String>::new(), true)
    }

    /// A [`RequireScope`] that lets a request through when its token grants every one of
    /// `values` (403 `insufficient_scope` with `scope="…"` otherwise).
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidRequirement`] for an empty list, or a value that is empty or holds
    /// a space.
    pub fn require_all_scopes<I, S>(&self, values: I) -> Result<RequireScope, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScope::checked(values, true)
    }

    /// A [`RequireScope`] that lets a request through when its token grants at least one of
    /// `values`.
    ///
    /// # Errors
    ///
    /// As [`JwtAuth::require_all_scopes`].
    pub fn require_any_scope<I, S>(&self, values: I) -> Result<RequireScope, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScope::checked(values, false)
    }

    /// A [`RequireRole`] that lets a request through when its token has every one of
    /// `values` (403 `insufficient_scope`, `insufficient role`, otherwise).
    ///
    /// # Errors
    ///
    /// [`BuildError::RolesNotConfigured`] when this `JwtAuth` reads no roles (neither
    /// [`crate::JwtAuthBuilder::roles_claim`] nor [`crate::JwtAuthBuilder::roles`]);
    /// [`BuildError::InvalidRequirement`] for an empty list, or a value that is empty or holds
    /// a space.
    ///
    /// ```
    /// use jwt_layer::{BuildError, JwtAuth, keys::StaticKeys};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims {}
    ///
    /// let auth = JwtAuth::<MyClaims>::builder()
    ///     .keys(StaticKeys::hmac([7u8; 32])?)
    ///     .issuer("https://login.example")
    ///     .audience("my-api")
    ///     .build()?;
    /// // Roles were never configured: caught here, not by the first request.
    /// assert_eq!(auth.require_all_roles(["admin"]).unwrap_err(), BuildError::RolesNotConfigured);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require_all_roles<I, S>(&self, values: I) -> Result<RequireRole, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_roles()?;
        RequireRole::checked(values, true)
    }

    /// A [`RequireRole`] that lets a request through when its token has at least one of
    /// `values`.
    ///
    /// # Errors
    ///
    /// As [`JwtAuth::require_all_roles`].
    pub fn require_any_role<I, S>(&self, values: I) -> Result<RequireRole, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_roles()?;
        RequireRole::checked(values, false)
    }

    /// A [`RequirePermission`] that lets a request through when its token has every one of
    /// `values` (403 `insufficient_scope`, `insufficient permission`, otherwise).
    ///
    /// # Errors
    ///
    /// [`BuildError::PermissionsNotConfigured`] when this `JwtAuth` reads no permissions
    /// (neither [`crate::JwtAuthBuilder::permissions_claim`] nor
    /// [`crate::JwtAuthBuilder::permissions`]); [`BuildError::InvalidRequirement`] as for
    /// roles.
    pub fn require_all_permissions<I, S>(&self, values: I) -> Result<RequirePermission, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_permissions()?;
        RequirePermission::checked(values, true)
    }

    /// A [`RequirePermission`] that lets a request through when its token has at least one of
    /// `values`.
    ///
    /// # Errors
    ///
    /// As [`JwtAuth::require_all_permissions`].
    pub fn require_any_permission<I, S>(&self, values: I) -> Result<RequirePermission, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_permissions()?;
        RequirePermission::checked(values, false)
    }

    /// A [`RequireStepUp`] that lets a request through when its token's `acr` (how the user
    /// signed in) is one of `values`, listed in order of preference: otherwise 401
    /// `insufficient_user_authentication` with `acr_values="…"` (RFC 9470 §3). A maximum age
    /// on the same route is added with [`RequireStepUp::max_auth_age`].
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidRequirement`] for an empty list, or a value that is empty or not
    /// visible ASCII without a space, `"` or `\`.
    pub fn require_acr<I, S>(&self, values: I) -> Result<RequireStepUp, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.step_up().acr(values)
    }

    /// A [`RequireStepUp`] that lets a request through when its token's `auth_time` (when the
    /// user signed in) is at most `age` ago by this `JwtAuth`'s clock: otherwise, or without
    /// `auth_time`, 401 `insufficient_user_authentication` with `max_age="…"` (RFC 9470 §3).
    /// An `auth_time` further in the future than the leeway is 401 `invalid_token`; the
    /// leeway does not lengthen `age`.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidRequirement`] when `age` is not a whole number of seconds.
    pub fn require_max_auth_age(&self, age: Duration) -> Result<RequireStepUp, BuildError> {
        self.step_up().max_auth_age(age)
    }

    fn step_up(&self) -> RequireStepUp {
        let verifier = &self.inner.verifier;
        RequireStepUp::new(verifier.clock.clone(), verifier.leeway_secs)
    }

    fn check_roles(&self) -> Result<(), BuildError> {
        if self.inner.verifier.roles.is_configured() {
            Ok(())
        } else {
            Err(BuildError::RolesNotConfigured)
        }
    }

    fn check_permissions(&self) -> Result<(), BuildError> {
        if self.inner.verifier.permissions.is_configured() {
            Ok(())
        } else {
            Err(BuildError::PermissionsNotConfigured)
        }
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> JwtAuth<C> {
    /// A Tower layer that authenticates every request with this verifier.
    pub fn layer(&self) -> JwtLayer<C> {
        JwtLayer::new(self.inner.clone())
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> JwtAuth<C> {
    /// Runs every check of [`JwtAuth::verify`] on `token` and reports each outcome, with the
    /// key chosen and the token's times relative to now.
    ///
    /// The same sequence as `verify`, run once and observed: [`Explanation::verdict`] is what
    /// `verify` answers. Where `verify` stops at the first refusal, `explain` goes on wherever
    /// the later checks can still run (the payload's checks after a bad signature, for
    /// example). A token over the size limit or not shaped as a compact JWS is not decoded
    /// further. It may fetch keys, as `verify` does, and asks the revocation store when one is
    /// configured; the verified-token cache is not consulted.
    ///
    /// With [`JwtAuthBuilder::introspection`](crate::JwtAuthBuilder::introspection), a token
    /// that `verify` introspects (see [`TokenKinds`](crate::TokenKinds)) is introspected here
    /// too, through the same answer cache: [`Check::Introspection`](crate::explain::Check::Introspection)
    /// reports whether the answer is active for an access token, and the checks of the payload
    /// report on the answer's members.
    pub async fn explain(&self, token: &str) -> Explanation {
        self.inner.explain(token).await
    }
}

#[cfg(feature = "remote")]
impl<C: DeserializeOwned + Send + Sync + 'static> JwtAuthBuilder<C> {
    /// Verifies opaque tokens by introspection at the authorization server (RFC 7662); see
    /// [`Introspection`](crate::introspection::Introspection) for the defaults and what a failure is answered with. Unless
    /// [`JwtAuthBuilder::token_kinds`] says otherwise, JWS-shaped tokens are still verified
    /// locally and every other token is introspected ([`TokenKinds::JwtAndOpaque`](crate::TokenKinds::JwtAndOpaque)).
    pub fn introspection(mut self, introspection: crate::introspection::Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Which tokens are accepted (default [`TokenKinds::Jwt`](crate::TokenKinds::Jwt), or
    /// [`TokenKinds::JwtAndOpaque`](crate::TokenKinds::JwtAndOpaque) with [`JwtAuthBuilder::introspection`]). A kind other
    /// than `Jwt` needs `.introspection(..)`, and `Jwt` with it is refused:
    /// [`BuildError::InvalidIntrospection`] either way.
    pub fn token_kinds(mut self, kinds: crate::introspection::TokenKinds) -> Self {
        self.token_kinds = Some(kinds);
        self
    }
}

/// Builds a [`JwtAuth`]; [`JwtAuthBuilder::build`] refuses an unsafe or incomplete
/// configuration, so no request ever meets one.
pub struct JwtAuthBuilder<C> {
    keys: Option<Arc<dyn KeyProvider>>,
    issuers: Vec<Box<str>>,
    audiences: Vec<Box<str>>,
    any_issuer: bool,
    any_audience: bool,
    required: Vec<Box<str>>,
    require_exp: bool,
    leeway: Duration,
    typ: Option<String>,
    max_token_bytes: usize,
    validators: Vec<Validator<C>>,
    realm: String,
    optional: bool,
    sources: TokenSources,
    clock: Option<Arc<dyn Clock>>,
    trusted: Vec<TrustedIssuer>,
    #[cfg(feature = "remote")]
    tenants: Option<crate::tenants::Tenants>,
    deferred: Option<BuildError>,
    dpop: Option<Dpop>,
    revocation: Option<Arc<dyn RevocationStore>>,
    roles: GrantSource<C>,
    permissions: GrantSource<C>,
    /// The verified-token cache's bounds (entries, bytes), when it is on.
    cache: Option<(usize, usize)>,
    #[cfg(feature = "remote")]
    pub(crate) introspection: Option<crate::introspection::Introspection>,
    #[cfg(feature = "remote")]
    pub(crate) token_kinds: Option<crate::introspection::TokenKinds>,
    resource: Option<String>,
    challenge_scope: Vec<String>,
    certificate_bound: bool,
    /// The header name and the proxies' addresses, checked by `build`.
    forwarded_certificate: Option<(String, Vec<IpAddr>)>,
    _claims: PhantomData<fn() -> C>,
}

impl<C: DeserializeOwned + Send + Sync + 'static> JwtAuthBuilder<C> {
    fn new() -> Self {
        JwtAuthBuilder {
            keys: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            any_issuer: false,
            any_audience: false,
            required: Vec::new(),
            require_exp: true,
            leeway: DEFAULT_LEEWAY,
            typ: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            validators: Vec::new(),
            realm: DEFAULT_REALM.to_owned(),
            optional: false,
            sources: TokenSources::default(),
            clock: None,
            trusted: Vec::new(),
            #[cfg(feature = "remote")]
            tenants: None,
            deferred: None,
            dpop: None,
            revocation: None,
            roles: GrantSource::default(),
            permissions: GrantSource::default(),
            cache: Some((DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_BYTES)),
            #[cfg(feature = "remote")]
            introspection: None,
            #[cfg(feature = "remote")]
            token_kinds: None,
            resource: None,
            challenge_scope: Vec::new(),
            certificate_bound: false,
            forwarded_certificate: None,
            _claims: PhantomData,
        }
    }

    /// Where verification keys come from (required).
    pub fn keys(mut self, provider: impl KeyProvider) -> Self {
        self.keys = Some(Arc::new(provider));
        self
    }

    /// Trusts an OpenID Connect issuer: keys come from its discovery document
    /// (`{issuer}/.well-known/openid-configuration`, see [`crate::keys::RemoteJwks`]) and tokens
    /// must carry exactly this `iss`. The same as `.keys(Jwks::discover(issuer)?).issuer(issuer)`.
    #[cfg(feature = "remote")]
    pub fn discover(self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        match crate::keys::Jwks::discover(&issuer) {
            Ok(keys) => self.keys(keys).issuer(issuer),
            Err(err) => self.defer(BuildError::KeySource(Arc::new(err))),
        }
    }

    /// Trusts several issuers, each with its own keys and audiences (see [`TrustedIssuer`]).
    /// Replaces `.keys(..)` and `.issuer(..)`, which must then not be used.
    pub fn trusted_issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.trusted.push(issuer);
        self
    }

    /// Trusts the issuers a resolver approves, per request: many tenants, each with its own
    /// keys, audiences and claims, bounded and isolated (see [`crate::tenants`]). Replaces
    /// `.keys(..)`, `.issuer(..)` and `.trusted_issuer(..)`, which must then not be used;
    /// `.audience(..)` applies to tenants that name none of their own. Not with
    /// introspection.
    #[cfg(feature = "remote")]
    pub fn tenants(mut self, tenants: crate::tenants::Tenants) -> Self {
        self.tenants = Some(tenants);
        self
    }

    #[cfg(feature = "remote")]
    fn defer(mut self, err: BuildError) -> Self {
        self.deferred.get_or_insert(err);
        self
    }

    /// Accepts tokens whose `iss` equals this issuer exactly; call again to accept several.
    ///
    /// The comparison is exact, as RFC 7519 §4.1.1 asks: `https://a.example` and
    /// `https://a.example/` are different issuers. Copy the value from the identity provider's
    /// discovery document.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into().into());
        self
    }

    /// Accepts tokens whose `aud` (a string or an array) contains this audience; call again to
    /// accept several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into().into());
        self
    }

    /// This protected resource's identifier (RFC 8707 §2, RFC 9728 §1.2), for example
    /// `https://api.example.com/mcp`: the URL clients name as the `resource` when they ask
    /// for a token, and so the audience such tokens carry. Setting it does three things:
    ///
    /// - tokens whose `aud` names this resource are accepted; it is one more accepted
    ///   audience beside those given with [`JwtAuthBuilder::audience`] (a token matching any
    ///   of them passes), and with it alone no `.audience(..)` is needed. A token for another
    ///   resource is refused 401 `invalid_token` (`invalid audience`), as the Model Context
    ///   Protocol's authorization specification requires of a server;
    /// - every `WWW-Authenticate` challenge names the metadata document in
    ///   `resource_metadata="…"` (RFC 9728 §5.1);
    /// - [`JwtAuth::protected_resource_metadata`] can build that document (RFC 9728 §2).
    ///
    /// The identifier must be an absolute `https` URL (`http` only to `localhost`, `127.0.0.1`
    /// or `[::1]`) without a fragment, user info, query (not even an empty `?`), port 0, or a
    /// `.` or `..` path segment (percent-encoded or not: its metadata URL would resolve to
    /// another path); [`JwtAuthBuilder::build`] refuses anything else with
    /// [`BuildError::InvalidResource`]. It is kept in canonical form: scheme and
    /// host in lower case, the scheme's default port (443, 80) and an empty port dropped, and
    /// one trailing slash of the path dropped (`https://api.example.com/` becomes
    /// `https://api.example.com`, `…/mcp/` becomes `…/mcp`).
    ///
    /// A token's `aud` value names the resource when it equals the canonical form exactly,
    /// or after the same rules are applied to it: `HTTPS://API.example.com:443/mcp/` names
    /// `https://api.example.com/mcp`. Nothing else is normalized: the path is compared case
    /// by case and byte by byte (`/MCP`, `/%6Dcp` and `/mcp//` are other resources), percent
    /// escapes are not decoded, dot segments are not removed, and a value with a query, a
    /// fragment or user info never names the resource.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resource = Some(uri.into());
        self
    }

    /// The scopes an answer to a request without credentials advertises in `scope="…"`
    /// (RFC 6750 §3), so a client knows what to ask for; by default none is advertised.
    ///
    /// The layer cannot know the scopes of the route a request was going to, so this is the
    /// scopes most requests need (the Model Context Protocol's clients request exactly these).
    /// A route requirement answering an anonymous request under an optional layer
    /// ([`JwtAuth::require_all_scopes`]) advertises its own scopes instead. The metadata's
    /// `scopes_supported` is not used for this: it lists every scope the resource knows,
    /// and clients fall back to it by themselves when a challenge names none.
    ///
    /// Each value must be an RFC 6749 §3.3 scope-token (visible ASCII without space, `"` or
    /// `\`); [`JwtAuthBuilder::build`] refuses others with
    /// [`BuildError::InvalidChallengeScope`].
    pub fn challenge_scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.challenge_scope.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Opts out of the issuer check. Only for a key that a single issuer uses: otherwise any
    /// holder of a trusted key could mint tokens for this service.
    pub fn dangerous_accept_any_issuer(mut self) -> Self {
        self.any_issuer = true;
        self
    }

    /// Opts out of the audience check. Only when every token of the issuer is meant for this
    /// service: otherwise a token for another service is replayed here (RFC 8725 §3.9).
    pub fn dangerous_accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Clock-skew allowance for `exp` and `nbf` (default 60 s, at most 10 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether `exp` must be present (default `true`). Tokens without expiry live forever.
    pub fn require_exp(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    /// Claims that must be present, by top-level name (for example `sub`, `jti`).
    pub fn require_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required.extend(names.into_iter().map(|name| name.into().into_boxed_str()));
        self
    }

    /// Requires the header `typ` (RFC 8725 §3.11 explicit typing), for example `at+jwt` for
    /// RFC 9068 access tokens. Compared case-insensitively, with or without `application/`.
    pub fn require_type(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The cap on a token's length in bytes, checked before any decoding (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Adds a check over the typed claims, run after every built-in check. `Err` refuses the
    /// token with 401 `invalid_token`, the text becoming the public `error_description`: keep it
    /// short and free of claim values.
    ///
    /// ```
    /// # use jwt_layer::{JwtAuth, keys::StaticKeys};
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims { email_verified: bool }
    ///
    /// let auth = JwtAuth::<MyClaims>::builder()
    ///     .keys(StaticKeys::hmac([7u8; 32])?)
    ///     .issuer("https://login.example")
    ///     .audience("my-api")
    ///     .validate(|c: &MyClaims| if c.email_verified { Ok(()) } else { Err("email not verified".into()) })
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate<F>(mut self, check: F) -> Self
    where
        F: Fn(&C) -> Result<(), Cow<'static, str>> + Send + Sync + 'static,
    {
        self.validators.push(Arc::new(check));
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Lets requests without any credentials through without claims; a request with a bad
    /// token is still refused. Applies to every route behind this `JwtAuth`'s layer, and each
    /// route says what it needs:
    ///
    /// - `Option<Claims<C>>` is `None` for an anonymous request: the route is open to all;
    /// - `Claims<C>` answers an anonymous request 401 with the layer's challenge (the same
    ///   `WWW-Authenticate` as without `optional`), rendered by the layer's renderer;
    /// - [`crate::service::RequireAuth`] (`auth.require_auth()`) does the same for a handler that does
    ///   not take the claims, and the grant route layers (`auth.require_any_role(..)`, …)
    ///   answer 401 too.
    ///
    /// So one `JwtAuth`, with one key cache, serves signed-in and open routes together.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use jwt_layer::{Claims, JwtAuth, keys::StaticKeys};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims { sub: String }
    ///
    /// async fn me(Claims(claims): Claims<MyClaims>) -> String { claims.sub.clone() }
    /// async fn hello(claims: Option<Claims<MyClaims>>) -> String {
    ///     claims.map_or_else(|| "hello stranger".into(), |c| format!("hello {}", c.sub))
    /// }
    ///
    /// let auth = JwtAuth::<MyClaims>::builder()
    ///     .keys(StaticKeys::hmac([7u8; 32])?)
    ///     .issuer("https://login.example")
    ///     .audience("my-api")
    ///     .optional()
    ///     .build()?;
    /// let app: Router = Router::new()
    ///     .route("/me", get(me))         // 401 without a token
    ///     .route("/public", get(hello))  // open, greets a signed-in caller by name
    ///     .layer(auth.layer());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Also reads the token from this cookie (for browser apps; pair it with `SameSite`
    /// cookies and CSRF protection). A request must carry its token in one place only: a
    /// bearer `Authorization` header and the cookie together are refused with 400
    /// `invalid_request` (RFC 6750 §2), and so is the cookie name given twice (a sibling
    /// subdomain can set a cookie of that name for the parent domain). `Authorization: Basic …`
    /// is not a token, so the cookie is then the request's token.
    pub fn token_cookie(mut self, name: impl Into<String>) -> Self {
        self.sources.cookie = Some(name.into().into());
        self
    }

    /// Also reads the token from this query parameter. A token both here and in the header
    /// or the cookie is refused with 400 `invalid_request` (RFC 6750 §2).
    ///
    /// Off by default: RFC 6750 §2.3 and RFC 9700 discourage tokens in URLs, which end up in
    /// logs, browser history and `Referer` headers.
    pub fn dangerous_token_query_parameter(mut self, name: impl Into<String>) -> Self {
        self.sources.query = Some(name.into().into());
        self
    }

    /// The JWT access token profile of RFC 9068: header `typ` must be `at+jwt` (or
    /// `application/at+jwt`), and `iss`, `exp`, `aud`, `sub`, `client_id`, `iat` and `jti` must
    /// be present. Scopes come from `scope`, as always. Differences from the plain mode: plain
    /// mode accepts any `typ` and requires only `exp` (and `iss`/`aud` when configured, which
    /// `build()` insists on anyway).
    pub fn access_token_profile(self) -> Self {
        self.require_type("at+jwt").require_claims([
            "iss",
            "exp",
            "aud",
            "sub",
            "client_id",
            "iat",
            "jti",
        ])
    }

    /// Reads roles from this claim path (call again for several; values are merged), for
    /// [`crate::service::RequireRole`] and the [`crate::Roles`] extension. For example
    /// `realm_access.roles` (Keycloak), `resource_access.my-client.roles`, `roles` (Entra ID).
    /// Costs one extra untyped parse of the payload per request; the path form suits paths
    /// that come from a configuration file, [`JwtAuthBuilder::roles`] claims types that have
    /// the roles as a field.
    pub fn roles_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.roles.add_path(path.into());
        self
    }

    /// Reads roles from the typed claims with `roles` (call again for several; values are
    /// merged, after those of [`JwtAuthBuilder::roles_claim`]), for [`crate::service::RequireRole`] and
    /// the [`crate::Roles`] extension. Runs once per verified token, after the validators;
    /// costs no second parse of the payload. See [`ClaimValues`] for what `roles` may return.
    ///
    /// ```
    /// use jwt_layer::{JwtAuth, keys::StaticKeys};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Access { roles: Vec<String> }
    ///
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims { realm_access: Access }
    ///
    /// let auth = JwtAuth::<MyClaims>::builder()
    ///     .keys(StaticKeys::hmac([7u8; 32])?)
    ///     .issuer("https://login.example")
    ///     .audience("my-api")
    ///     .roles(|c: &MyClaims| c.realm_access.roles.clone())
    ///     .build()?;
    /// let admin_only = auth.require_any_role(["admin"])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn roles<F>(mut self, roles: F) -> Self
    where
        F: for<'c> ClaimValues<'c, C> + Send + Sync + 'static,
    {
        self.roles.add_function(roles);
        self
    }

    /// Reads permissions from this claim path (for example `permissions`, as Auth0 sends
    /// them), for [`crate::service::RequirePermission`] and the [`crate::Permissions`] extension.
    pub fn permissions_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.permissions.add_path(path.into());
        self
    }

    /// Reads permissions from the typed claims with `permissions`, as
    /// [`JwtAuthBuilder::roles`] reads roles.
    pub fn permissions<F>(mut self, permissions: F) -> Self
    where
        F: for<'c> ClaimValues<'c, C> + Send + Sync + 'static,
    {
        self.permissions.add_function(permissions);
        self
    }

    /// Accepts (or requires) DPoP sender-constrained tokens (RFC 9449); see [`Dpop`]. The
    /// server's public origin is required ([`Dpop::public_origin`]).
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Accepts certificate-bound access tokens (RFC 8705 §3, off by default): a token whose
    /// `cnf` carries `x5t#S256` is accepted only when the request came with that TLS client
    /// certificate, given to the layer as a [`crate::ClientCertificate`] request extension
    /// (set per connection by the application's TLS acceptor). Without a certificate, or
    /// with another one, the token is refused (401 `invalid_token`, "certificate binding
    /// mismatch"); the thumbprint must be exactly the unpadded base64url SHA-256 of the DER.
    ///
    /// Off, such tokens are refused as a binding this crate does not check
    /// ([`AuthError::UnsupportedConfirmation`]), never taken as bearer tokens. Tokens without
    /// `cnf` stay bearer tokens either way. A token bound to both a DPoP key and a
    /// certificate (`jkt` and `x5t#S256`) must pass both checks. Other confirmation methods
    /// (`jwk`, `kid`, ...) stay refused. [`JwtAuth::verify`] has no request, so it refuses
    /// certificate-bound tokens.
    pub fn certificate_bound_tokens(mut self) -> Self {
        self.certificate_bound = true;
        self
    }

    /// Behind a reverse proxy that ends TLS: takes the client certificate from the request
    /// header `header`, but only on requests whose TCP peer ([`crate::PeerAddress`], set by
    /// the application from its accept loop) is one of `proxies`. Requests from any other
    /// address never have the header read (a client could write it), and use the
    /// [`crate::ClientCertificate`] extension as without a proxy; requests from a trusted
    /// proxy use the header only.
    ///
    /// The header holds the client's certificate as URL-encoded PEM, as nginx's
    /// `$ssl_client_escaped_cert` and the AWS load balancers' `X-Amzn-Mtls-Clientcert-Leaf`
    /// send it: exactly one `CERTIFICATE` block, with nothing before or after it but one
    /// final line break. A chain, a second block, text around the block, spaces in place of
    /// line breaks or PEM headers are not read. Envoy's `X-Forwarded-Client-Cert` is not
    /// read. An absent, repeated, empty or unreadable header means no certificate (a bound
    /// token is then refused). The proxy must strip the header from what clients send.
    ///
    /// Turns [`JwtAuthBuilder::certificate_bound_tokens`] on. A header name that is not a
    /// valid HTTP header name, or no proxy address, is refused by `build` with
    /// [`BuildError::InvalidForwardedCertificate`].
    pub fn trust_forwarded_certificate<I>(mut self, header: impl Into<String>, proxies: I) -> Self
    where
        I: IntoIterator<Item = IpAddr>,
    {
        self.certificate_bound = true;
        self.forwarded_certificate = Some((header.into(), proxies.into_iter().collect()));
        self
    }

    /// Refuses revoked tokens (by `jti`, or by `sub` and `iat`), asking `store` after every
    /// other check. When the store cannot answer, requests are refused with 503.
    pub fn revocation_store(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocation = Some(store);
        self
    }

    /// The time `exp`, `nbf` and `iat` are judged by (default: the system clock): the same
    /// [`Clock`](crate::keys::Clock) a remote key set takes, so a test moves one clock for
    /// both. Meant for tests and, with [`FixedClock`](crate::keys::FixedClock), for checking a
    /// recorded token as of when it was used; a server keeps the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the configuration and builds the verifier.
    // `mut` for the introspection-only key provider, feature `remote`.
    #[cfg_attr(not(feature = "remote"), allow(unused_mut))]
    pub fn build(mut self) -> Result<JwtAuth<C>, BuildError> {
        if let Some(err) = self.deferred {
            return Err(err);
        }
        #[cfg(feature = "remote")]
        let introspection =
            crate::introspection::build(self.introspection.take(), self.token_kinds)
                .map_err(BuildError::InvalidIntrospection)?;
        #[cfg(feature = "remote")]
        if self.token_kinds == Some(crate::introspection::TokenKinds::Opaque) && self.keys.is_none()
        {
            // Every token is introspected: no key is ever asked for.
            self.keys = Some(Arc::new(crate::introspection::NoKeys));
        }
        #[cfg(feature = "remote")]
        if self.tenants.is_some() {
            let fixed = self.keys.is_some() || !self.issuers.is_empty() || self.any_issuer;
            if fixed || !self.trusted.is_empty() || introspection.is_some() {
                return Err(BuildError::MixedTenantConfiguration);
            }
        }
        #[cfg(feature = "remote")]
        let tenants = self.tenants.is_some();
        #[cfg(not(feature = "remote"))]
        let tenants = false;
        if tenants {
            // Each tenant brings its keys and issuer.
        } else if self.trusted.is_empty() {
            if self.keys.is_none() {
                return Err(BuildError::NoKeyProvider);
            }
            if self.issuers.is_empty() && !self.any_issuer {
                return Err(BuildError::NoIssuer);
            }
        } else if self.keys.is_some() || !self.issuers.is_empty() || self.any_issuer {
            return Err(BuildError::MixedIssuerConfiguration);
        }
        let resource = match &self.resource {
            Some(uri) => Some(
                Resource::parse(uri)
                    .map_err(|problem| BuildError::InvalidResource(uri.clone(), problem))?,
            ),
            None => None,
        };
        if !self.challenge_scope.iter().all(|scope| is_scope_token(scope)) {
            return Err(BuildError::InvalidChallengeScope);
        }
        let audiences_missing = resource.is_none()
            && self.audiences.is_empty()
            && (self.trusted.is_empty() || self.trusted.iter().any(|t| t.audiences.is_empty()));
        if audiences_missing && !self.any_audience {
            return Err(BuildError::NoAudience);
        }
        let trusted_names = self.trusted.iter().map(|t| t.issuer.as_str());
        if self
            .issuers
            .iter()
            .map(|i| &**i)
            .chain(trusted_names.clone())
            .chain(self.audiences.iter().map(|a| &**a))
            .chain(self.trusted.iter().flat_map(|t| t.audiences.iter().map(|a| &**a)))
            .any(str::is_empty)
        {
            return Err(BuildError::EmptyValue);
        }
        if trusted_names
            .clone()
            .enumerate()
            .any(|(i, name)| trusted_names.clone().skip(i + 1).any(|n| n == name))
        {
            return Err(BuildError::DuplicateIssuer);
        }
        if self.leeway > Duration::from_secs(600) {
            return Err(BuildError::LeewayTooLarge);
        }
        if self.required.len() > 64 {
            return Err(BuildError::TooManyRequiredClaims);
        }
        if self.max_token_bytes < 16 {
            return Err(BuildError::TokenLimitTooSmall);
        }
        let dpop_origins = match &self.dpop {
            Some(dpop) => dpop.parsed_origins().map_err(BuildError::InvalidPublicOrigin)?,
            None => Vec::new(),
        };
        if let Some(dpop) = &self.dpop {
            // RFC 9449 §11.1: `htu` binds a proof to one resource, so the origin clients use
            // must be known; the `Host` header is the client's to choose.
            if dpop_origins.is_empty() {
                return Err(BuildError::DpopWithoutPublicOrigin);
            }
            if dpop.nonce.as_ref().is_some_and(|nonce| nonce.secret_len < 32) {
                return Err(BuildError::WeakNonceSecret);
            }
            if dpop.algorithms.is_empty() {
                return Err(BuildError::NoDpopAlgorithms);
            }
        }
        let forwarded = match &self.forwarded_certificate {
            Some((header, proxies)) => {
                let header = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| BuildError::InvalidForwardedCertificate)?;
                if proxies.is_empty() {
                    return Err(BuildError::InvalidForwardedCertificate);
                }
                let proxies = proxies.iter().map(IpAddr::to_canonical).collect();
                Some(ForwardedCertificate { header, proxies })
            }
            None => None,
        };
        let realm_ok = !self.realm.is_empty()
            && self.realm.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
        if !realm_ok {
            return Err(BuildError::InvalidRealm);
        }
        let typ = self.typ.map(|typ| {
            let lower = typ.to_ascii_lowercase();
            lower.strip_prefix("application/").unwrap_or(&lower).into()
        });
        let canonical: Option<Box<str>> = resource.as_ref().map(|r| r.as_str().into());
        let rules = |issuers: Vec<Box<str>>, audiences: &[Box<str>]| ClaimRules {
            issuers,
            audiences: if self.any_audience {
                Vec::new()
            } else {
                // The resource's canonical form first: the common token names it exactly.
                canonical.iter().chain(audiences).cloned().collect()
            },
            resource: canonical.clone().filter(|_| !self.any_audience),
            required: self.required.clone(),
            required_values: Vec::new(),
            require_exp: self.require_exp,
            certificate_bound: self.certificate_bound,
        };
        let by_issuer = !self.trusted.is_empty();
        let routes = if tenants {
            Vec::new()
        } else if by_issuer {
            self.trusted
                .iter()
                .map(|t| {
                    let audiences =
                        if t.audiences.is_empty() { &self.audiences } else { &t.audiences };
                    Arc::new(Route {
                        keys: Arc::clone(&t.keys),
                        rules: rules(vec![t.issuer.clone().into()], audiences),
                    })
                })
                .collect()
        } else {
            let issuers = if self.any_issuer { Vec::new() } else { self.issuers.clone() };
            let keys = self.keys.clone().ok_or(BuildError::NoKeyProvider)?;
            vec![Arc::new(Route { keys, rules: rules(issuers, &self.audiences) })]
        };
        #[cfg(feature = "remote")]
        let tenants = self.tenants.map(|tenants| {
            Arc::new(crate::tenants::TenantTable::new(tenants, rules(Vec::new(), &self.audiences)))
        });
        let verifier = Verifier {
            routes,
            by_issuer,
            leeway_secs: self.leeway.as_secs_f64(),
            typ,
            max_token_bytes: self.max_token_bytes,
            validators: self.validators,
            keep_state: self.revocation.is_some(),
            cache: self.cache.map(|(entries, bytes)| TokenCache::new(entries, bytes)),
            roles: self.roles,
            permissions: self.permissions,
            clock: self.clock,
        };
        let request = RequestRules {
            realm: self.realm.into(),
            optional: self.optional,
            sources: self.sources,
            dpop_algs: self.dpop.as_ref().map(|dpop| Arc::from(dpop.algs_text())),
            dpop_origins,
            dpop: self.dpop,
            revocation: self.revocation,
            challenge_scope: (!self.challenge_scope.is_empty())
                .then(|| self.challenge_scope.join(" ").into()),
            resource,
            certificates: self.certificate_bound.then_some(CertificateBinding { forwarded }),
            meters: crate::metrics::Meters::new(),
        };
        Ok(JwtAuth {
            inner: Authenticator {
                verifier: Arc::new(verifier),
                request: Arc::new(request),
                #[cfg(feature = "remote")]
                introspection,
                #[cfg(feature = "remote")]
                tenants,
            },
        })
    }
}

/// The verified-token cache's default bounds: entries, and bytes (see
/// [`JwtAuthBuilder::token_cache_size`]).
const DEFAULT_CACHE_ENTRIES: usize = 4096;
const DEFAULT_CACHE_BYTES: usize = 16 << 20;

impl<C> JwtAuthBuilder<C> {
    /// Whether the layer caches verified tokens (on by default). Clients send one access
    /// token again and again for its lifetime; a token seen before, byte for byte (keyed by
    /// its SHA-256), skips the signature check and the parsing of its claims. Nothing else is
    /// skipped:
    ///
    /// - `exp` and `nbf` are judged again on every hit (with the leeway), and an entry never
    ///   outlives `exp`; a token without `exp` is never cached;
    /// - the key that verified the token must still be in the set its key source serves: a
    ///   key rotated out of a JWKS, or revoked at the identity provider and so gone from it,
    ///   ends the entries it verified (the token is then verified again, in full);
    /// - the request's own checks run on every request: DPoP proof and binding, certificate
    ///   binding, the proof's single use, revocation, and the route requirements.
    ///
    /// A cache belongs to one `JwtAuth`: another configuration is another cache. Turn it off
    /// when a custom validator depends on something besides the claims (the time, outside
    /// state), since a hit does not run it again. [`JwtAuth::verify`] and
    /// [`JwtAuth::explain`] never use it.
    pub fn token_cache(mut self, on: bool) -> Self {
        self.cache =
            on.then_some(self.cache.unwrap_or((DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_BYTES)));
        self
    }

    /// The verified-token cache's bounds: at most about `max_entries` tokens and `max_bytes`
    /// bytes, each entry counted as twice its token's length (for the claims decoded from
    /// it) plus 256 bytes. Defaults: 4096 entries, 16 MiB. When full, expired entries go
    /// first, then arbitrary ones. Turns the cache on.
    pub fn token_cache_size(mut self, max_entries: usize, max_bytes: usize) -> Self {
        self.cache = Some((max_entries.max(1), max_bytes));
        self
    }
}

impl<C> fmt::Debug for JwtAuthBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}
