//! Why a request was refused, and the one place that maps each reason to its HTTP answer.

use std::borrow::Cow;

use http::{HeaderName, HeaderValue, StatusCode, header};

use crate::reason::{
    MalformedReason, Misconfiguration, ProofReason, RegisteredClaim, RequestReason,
};

/// Why a request or a token was refused.
///
/// Each variant knows its HTTP status ([`AuthError::status`]), its RFC 6750 §3.1 `error` code
/// ([`AuthError::error_code`]) and a short public description
/// ([`AuthError::description`]) that is safe to show to the caller. The full reason is logged
/// with `tracing` at the point of failure; the token itself is never logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no bearer credentials at all (RFC 6750 §3.1: no `error` attribute).
    #[error("no bearer token in the request")]
    MissingCredentials,
    /// The `Authorization` header is malformed: several of them, a scheme without a token,
    /// or bytes that are not visible ASCII (400 `invalid_request`).
    #[error("malformed authorization request: {0}")]
    InvalidRequest(RequestReason),
    /// The token is longer than the configured cap; nothing of it was decoded.
    #[error("token is larger than the configured limit")]
    TokenTooLarge,
    /// The token is not a well-formed compact JWS (characters, segments, base64url or JSON).
    #[error("malformed token: {0}")]
    Malformed(MalformedReason),
    /// The header names an algorithm that is not supported (`none` in any casing included).
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// The header carries `crit` or `b64`; no JWS extension is understood (RFC 7515 §4.1.11,
    /// RFC 7797).
    #[error("unsupported critical header parameter")]
    CriticalHeader,
    /// No loaded key has the token's `kid`, or no key accepts the token's algorithm.
    #[error("no key matches the token")]
    UnknownKey,
    /// A key was found by `kid`, but it is not pinned to the token's algorithm.
    #[error("algorithm not allowed for the selected key")]
    AlgorithmNotAllowed,
    /// The key provider could not supply keys (for example no key set was ever fetched).
    #[error("verification keys are unavailable")]
    KeysUnavailable,
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// A required claim is absent.
    #[error("missing required claim `{0}`")]
    MissingClaim(Cow<'static, str>),
    /// A registered claim has the wrong JSON type (for example `exp` as a string).
    #[error("claim `{0}` has an invalid type")]
    InvalidClaimType(RegisteredClaim),
    /// `iss` matches none of the configured issuers.
    #[error("untrusted issuer")]
    InvalidIssuer,
    /// `aud` matches none of the configured audiences.
    #[error("token not intended for this audience")]
    InvalidAudience,
    /// The header `typ` is not the required one, or an introspection answer's `token_type`
    /// names no access token (RFC 7662 §2.2).
    #[error("unexpected token type")]
    InvalidType,
    /// The claims do not fit the application's claims type.
    #[error("claims do not match the expected shape")]
    InvalidClaims,
    /// A custom validator refused the claims; the text is the validator's own description.
    #[error("claims rejected: {0}")]
    ClaimRejected(Cow<'static, str>),
    /// The token is valid but lacks a required scope (403 `insufficient_scope`).
    #[error("insufficient scope")]
    InsufficientScope {
        /// The scopes the resource needs, space-delimited (RFC 6750 §3 `scope` attribute).
        required: Cow<'static, str>,
    },
    /// The token is valid but lacks a required role (403 `insufficient_scope`).
    #[error("insufficient role")]
    InsufficientRole,
    /// The token is valid but lacks a required permission (403 `insufficient_scope`).
    #[error("insufficient permission")]
    InsufficientPermission,
    /// The token has been revoked (by `jti`, or all tokens of its subject issued before a time).
    #[error("token revoked")]
    Revoked,
    /// The replay or revocation store could not be reached; the request is refused (fail
    /// closed) with 503.
    #[error("token state store unavailable")]
    StateUnavailable,
    /// The authorization server says the opaque token is not active (RFC 7662 §2.2
    /// `"active": false`): unknown, expired, revoked or not meant for this client.
    #[error("token is not active")]
    InactiveToken,
    /// The authorization server could not answer a token introspection request (timeout,
    /// failure status, a body that is not an introspection response); the request is refused
    /// (fail closed) with 503 and `Retry-After`.
    #[error("token introspection unavailable")]
    IntrospectionUnavailable,
    /// The DPoP proof is missing, malformed, or does not match the request (RFC 9449 §4.3;
    /// `invalid_dpop_proof`).
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(ProofReason),
    /// The proof lacks a valid server nonce; the answer carries a fresh one in `DPoP-Nonce`
    /// (RFC 9449 §9, `use_dpop_nonce`).
    #[error("DPoP nonce required")]
    UseDpopNonce(String),
    /// The token is bound to a DPoP key (`cnf.jkt`) but came with the `Bearer` scheme, or DPoP
    /// is required and the `Bearer` scheme was used (RFC 9449 §7.1).
    #[error("a DPoP proof is required")]
    DpopRequired,
    /// The service is set up wrong (for example `RequireRole` without `roles_claim`): a
    /// programming error, answered 500 and logged, never a pass.
    #[error("authentication is misconfigured: {0}")]
    Misconfigured(Misconfiguration),
    /// The token came with the `DPoP` scheme but is not bound to a key, or is bound to another
    /// key than the proof's (RFC 9449 §6.1).
    #[error("DPoP key binding mismatch")]
    DpopBindingMismatch,
    /// The token's `cnf` names a confirmation method this crate does not check (`jwk`, `kid`,
    /// or `x5t#S256` when certificate-bound tokens are not turned on); it is refused rather
    /// than taken as a bearer token.
    #[error("token is bound by an unsupported confirmation method")]
    UnsupportedConfirmation,
    /// The token is bound to a TLS client certificate (`cnf.x5t#S256`, RFC 8705 §3) and the
    /// request came without a certificate, or with another one.
    #[error("token is bound to another client certificate")]
    CertificateBindingMismatch,
    /// The token is valid, but the user's sign-in is not strong or recent enough for the route
    /// (RFC 9470 §3): its `acr` is none of those accepted, or its `auth_time` is missing or
    /// older than the route allows. 401 `insufficient_user_authentication`; the challenge names
    /// what the client should ask the authorization server for (`acr_values`, `max_age`).
    #[error("insufficient user authentication")]
    InsufficientUserAuthentication {
        /// The acceptable `acr` values, space-delimited in order of preference, when the route
        /// requires one (the challenge's `acr_values`).
        acr_values: Option<Cow<'static, str>>,
        /// The maximum age of the sign-in in seconds, when the route sets one (the
        /// challenge's `max_age`).
        max_age: Option<u64>,
    },
    /// The token's `auth_time` is further in the future than the leeway allows (401
    /// `invalid_token`).
    #[error("authentication time in the future")]
    AuthTimeInTheFuture,
}

impl AuthError {
    /// The HTTP status of the answer: 400, 401, 403; 503 when token state is unavailable; 500
    /// for a misconfigured service.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope { .. }
            | AuthError::InsufficientRole
            | AuthError::InsufficientPermission => StatusCode::FORBIDDEN,
            AuthError::StateUnavailable | AuthError::IntrospectionUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AuthError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 §3.1 (or RFC 9449 §7.1) `error` code, or `None` when the request had no
    /// credentials or the failure is the server's own (503).
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingCredentials
            | AuthError::StateUnavailable
            | AuthError::IntrospectionUnavailable
            | AuthError::Misconfigured(_) => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InsufficientScope { .. }
            | AuthError::InsufficientRole
            | AuthError::InsufficientPermission => Some("insufficient_scope"),
            AuthError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            AuthError::UseDpopNonce(_) => Some("use_dpop_nonce"),
            AuthError::InsufficientUserAuthentication { .. } => {
                Some("insufficient_user_authentication")
            }
            _ => Some("invalid_token"),
        }
    }

    /// A short description that is safe to send to the caller: the `error_description` of the
    /// challenge, and the title a problem document or a gRPC message can show. Never empty.
    ///
    /// It names the class of failure only: never a key id, a claim value or the token. A
    /// request without credentials, or a refusal that is the server's own (503, 500), has no
    /// `error` attribute and so no `error_description` in its challenge (RFC 6750 §3.1), but
    /// still a description here.
    pub fn description(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            AuthError::MissingCredentials => "authentication required",
            AuthError::StateUnavailable => "token state unavailable",
            AuthError::IntrospectionUnavailable => "token introspection unavailable",
            AuthError::Misconfigured(_) => "internal error",
            AuthError::InvalidRequest(reason) => reason.as_str(),
            AuthError::TokenTooLarge => "token too large",
            AuthError::Malformed(_) => "malformed token",
            AuthError::UnsupportedAlgorithm => "unsupported algorithm",
            AuthError::CriticalHeader => "unsupported critical header",
            AuthError::UnknownKey => "no matching key",
            AuthError::AlgorithmNotAllowed => "algorithm not allowed",
            AuthError::KeysUnavailable => "verification keys unavailable",
            AuthError::InvalidSignature => "invalid signature",
            AuthError::Expired => "token expired",
            AuthError::NotYetValid => "token not yet valid",
            AuthError::MissingClaim(_) => "missing required claim",
            AuthError::InvalidClaimType(_) => "invalid claim type",
            AuthError::InvalidIssuer => "invalid issuer",
            AuthError::InvalidAudience => "invalid audience",
            AuthError::InvalidType => "invalid token type",
            AuthError::InvalidClaims => "invalid claims",
            AuthError::ClaimRejected(reason) if !reason.is_empty() => return reason.clone(),
            AuthError::ClaimRejected(_) => "claims rejected",
            AuthError::InsufficientScope { .. } => "insufficient scope",
            AuthError::InsufficientRole => "insufficient role",
            AuthError::InsufficientPermission => "insufficient permission",
            AuthError::Revoked => "token revoked",
            AuthError::InactiveToken => "token not active",
            AuthError::InvalidDpopProof(reason) => reason.as_str(),
            AuthError::UseDpopNonce(_) => "nonce required",
            AuthError::DpopRequired => "DPoP proof required",
            AuthError::DpopBindingMismatch => "invalid DPoP key binding",
            AuthError::UnsupportedConfirmation => "unsupported token binding",
            AuthError::CertificateBindingMismatch => "certificate binding mismatch",
            AuthError::InsufficientUserAuthentication { acr_values, max_age } => {
                match (acr_values, max_age) {
                    (Some(_), None) => "a different authentication level is required",
                    (None, Some(_)) => "more recent authentication is required",
                    _ => "stronger or more recent authentication is required",
                }
            }
            AuthError::AuthTimeInTheFuture => "authentication time in the future",
        })
    }

    /// The `Bearer` `WWW-Authenticate` challenge for this error, per RFC 6750 §3.
    ///
    /// `realm` must be a plain token of visible ASCII without `"` or `\\`; [`crate::JwtAuth`]'s
    /// builder checks that once.
    pub fn www_authenticate(&self, realm: &str) -> HeaderValue {
        self.challenge_value("Bearer", &Challenge::bearer(realm), None)
    }

    /// One challenge: `scheme realm="…"[, algs="…"][, error="…", error_description="…"]
    /// [, acr_values="…"][, max_age="…"][, scope="…"][, resource_metadata="…"]`.
    fn challenge_value(
        &self,
        scheme: &str,
        challenge: &Challenge,
        algs: Option<&str>,
    ) -> HeaderValue {
        let mut value = format!("{scheme} realm=\"{}\"", challenge.realm);
        if let Some(algs) = algs {
            value.push_str(", algs=\"");
            value.push_str(algs);
            value.push('"');
        }
        if let Some(code) = self.error_code() {
            value.push_str(", error=\"");
            value.push_str(code);
            value.push('"');
            value.push_str(", error_description=\"");
            push_quoted_safe(&mut value, &self.description());
            value.push('"');
        }
        // RFC 9470 §3: what the client asks the authorization server for in a new request.
        if let AuthError::InsufficientUserAuthentication { acr_values, max_age } = self {
            if let Some(acr_values) = acr_values {
                value.push_str(", acr_values=\"");
                push_quoted_safe(&mut value, acr_values);
                value.push('"');
            }
            if let Some(max_age) = max_age {
                value.push_str(&format!(", max_age=\"{max_age}\""));
            }
        }
        // The scopes the refused request needs: those missing from a token (403), or those
        // a request without a good token should come back with (401), when known.
        let scope = match self {
            AuthError::InsufficientScope { required } => Some(&**required),
            _ if self.status() == StatusCode::UNAUTHORIZED => challenge.scope.as_deref(),
            _ => None,
        };
        if let Some(scope) = scope {
            value.push_str(", scope=\"");
            push_quoted_safe(&mut value, scope);
            value.push('"');
        }
        // RFC 9728 §5.1: where the client finds how to get a token for this resource.
        if let Some(url) = &challenge.resource_metadata {
            value.push_str(", resource_metadata=\"");
            push_quoted_safe(&mut value, url);
            value.push('"');
        }
        // Every piece is visible ASCII by construction (see `push_quoted_safe`).
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// Builds the default answer: the status, the `WWW-Authenticate` challenge and an empty body.
    pub fn to_response<B: Default>(&self, challenge: &Challenge) -> http::Response<B> {
        let mut response = http::Response::new(B::default());
        self.apply_to(challenge, &mut response);
        response
    }

    /// Sets this error's status and `WWW-Authenticate` challenge(s) on a response built
    /// elsewhere (for example by a custom error body hook), overriding what it had.
    ///
    /// A request that used the `DPoP` scheme, or any request when DPoP is required, gets a
    /// `DPoP` challenge (RFC 9449 §7.1); a request without credentials where DPoP is allowed
    /// gets both a `Bearer` and a `DPoP` challenge; every other one a `Bearer` challenge.
    /// `use_dpop_nonce` answers also carry the fresh nonce in `DPoP-Nonce`; 503 answers carry
    /// `Retry-After` and no challenge.
    pub fn apply_to<B>(&self, challenge: &Challenge, response: &mut http::Response<B>) {
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.remove(header::WWW_AUTHENTICATE);
        match self {
            AuthError::StateUnavailable | AuthError::IntrospectionUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return;
            }
            AuthError::Misconfigured(_) => return,
            _ => {}
        }
        // RFC 9449 §7.1: answer in the DPoP scheme whenever DPoP is what the client must use.
        let dpop_scheme = matches!(
            self,
            AuthError::InvalidDpopProof(_)
                | AuthError::UseDpopNonce(_)
                | AuthError::DpopBindingMismatch
                | AuthError::DpopRequired
        ) || challenge.used_dpop
            || challenge.dpop_required;
        match (&challenge.dpop_algs, dpop_scheme) {
            (Some(algs), true) => {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    self.challenge_value("DPoP", challenge, Some(algs)),
                );
            }
            (Some(algs), false) if matches!(self, AuthError::MissingCredentials) => {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    self.challenge_value("Bearer", challenge, None),
                );
                headers.append(
                    header::WWW_AUTHENTICATE,
                    self.challenge_value("DPoP", challenge, Some(algs)),
                );
            }
            _ => {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    self.challenge_value("Bearer", challenge, None),
                );
            }
        }
        if let AuthError::UseDpopNonce(nonce) = self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert(HeaderName::from_static("dpop-nonce"), value);
        }
    }
}

/// The default realm of the `WWW-Authenticate` challenge.
pub const DEFAULT_REALM: &str = "api";

/// What a refusal's `WWW-Authenticate` says besides the error: the realm, and whether DPoP is
/// offered (with its algorithms) or required, and which scheme the request used.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub(crate) realm: std::sync::Arc<str>,
    pub(crate) dpop_algs: Option<std::sync::Arc<str>>,
    pub(crate) dpop_required: bool,
    pub(crate) used_dpop: bool,
    /// The metadata's URL (RFC 9728 §5.1), when a resource is configured.
    pub(crate) resource_metadata: Option<std::sync::Arc<str>>,
    /// The scopes a 401 advertises (RFC 6750 §3), when known.
    pub(crate) scope: Option<std::sync::Arc<str>>,
}

impl Challenge {
    /// A `Bearer` challenge with this realm.
    pub fn bearer(realm: &str) -> Self {
        Challenge {
            realm: realm.into(),
            dpop_algs: None,
            dpop_required: false,
            used_dpop: false,
            resource_metadata: None,
            scope: None,
        }
    }

    /// The URL of the protected resource metadata that the challenge names in
    /// `resource_metadata` (RFC 9728 §5.1), when the `JwtAuth` has a resource
    /// ([`crate::JwtAuthBuilder::resource`]).
    pub fn resource_metadata(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// The scopes a 401 challenge advertises in `scope` (space-delimited), when known:
    /// [`crate::JwtAuthBuilder::challenge_scope`], or the scopes of the route requirement
    /// that refused an anonymous request.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }
}

/// RFC 6750 §3: `error_description` and `scope` values are limited to visible ASCII without
/// `"` and `\`; anything else is replaced so a header can always be built.
fn push_quoted_safe(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| match c {
        ' ' | '!' | '#'..='[' | ']'..='~' => c,
        _ => '?',
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_without_credentials_has_no_error() {
        let header = AuthError::MissingCredentials.www_authenticate("api");
        assert_eq!(header, "Bearer realm=\"api\"");
    }

    /// A problem document's title or a gRPC message is the description: never empty, and for
    /// a request without credentials still no `error` in the challenge (RFC 6750 §3.1).
    #[test]
    fn every_refusal_has_a_description() {
        let errors = [
            AuthError::MissingCredentials,
            AuthError::StateUnavailable,
            AuthError::IntrospectionUnavailable,
            AuthError::Misconfigured(Misconfiguration::RolesNotRead),
            AuthError::ClaimRejected("".into()),
            AuthError::ClaimRejected("too young".into()),
            AuthError::InvalidRequest(RequestReason::RepeatedCookie),
            AuthError::Expired,
        ];
        for error in errors {
            assert!(!error.description().is_empty(), "{error:?}");
        }
        assert_eq!(AuthError::MissingCredentials.description(), "authentication required");
        assert_eq!(AuthError::ClaimRejected("".into()).description(), "claims rejected");
        assert_eq!(AuthError::ClaimRejected("too young".into()).description(), "too young");
        assert_eq!(AuthError::MissingCredentials.www_authenticate("api"), "Bearer realm=\"api\"");
    }

    #[test]
    fn challenge_for_a_bad_token() {
        let header = AuthError::Expired.www_authenticate("api");
        assert_eq!(
            header,
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token expired\""
        );
    }

    #[test]
    fn challenge_for_scope_names_the_scope() {
        let err = AuthError::InsufficientScope { required: "admin write".into() };
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            err.www_authenticate("api"),
            "Bearer realm=\"api\", error=\"insufficient_scope\", \
             error_description=\"insufficient scope\", scope=\"admin write\""
        );
    }

    /// RFC 9470 §3's examples: `acr_values`, `max_age`, or both, after the error.
    #[test]
    fn challenge_for_step_up_names_what_to_ask_for() {
        let acr = AuthError::InsufficientUserAuthentication {
            acr_values: Some("myACR".into()),
            max_age: None,
        };
        assert_eq!(acr.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            acr.www_authenticate("api"),
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"a different authentication level is required\", \
             acr_values=\"myACR\""
        );
        let age = AuthError::InsufficientUserAuthentication { acr_values: None, max_age: Some(5) };
        assert_eq!(
            age.www_authenticate("api"),
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"more recent authentication is required\", max_age=\"5\""
        );
        let both = AuthError::InsufficientUserAuthentication {
            acr_values: Some("phr urn:mace:incommon:iap:silver".into()),
            max_age: Some(300),
        };
        assert_eq!(
            both.www_authenticate("api"),
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"stronger or more recent authentication is required\", \
             acr_values=\"phr urn:mace:incommon:iap:silver\", max_age=\"300\""
        );
        let future = AuthError::AuthTimeInTheFuture;
        assert_eq!(future.error_code(), Some("invalid_token"));
        assert_eq!(future.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn custom_descriptions_cannot_break_the_header() {
        let err = AuthError::ClaimRejected("bad \"quote\" \\ and ünïcode\r\n".into());
        let header = err.www_authenticate("api");
        assert!(header.to_str().unwrap().contains("bad ?quote? ? and ?n?code??"));
    }
}
