//! [`BuildError`]: why a configuration was refused, once, by [`crate::JwtAuthBuilder::build`].

use std::sync::Arc;

use crate::keys::KeyError;
use crate::keys::error::chain;
use crate::reason::{IntrospectionProblem, ResourceProblem};

/// Why a configuration was refused by [`crate::JwtAuthBuilder::build`].
///
/// Two errors are equal when they are the same mistake: the same variant, with the same value
/// and reason for the ones that carry them (a key source's error by its text).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No key provider was given.
    #[error("no key provider: call .keys(..)")]
    NoKeyProvider,
    /// An issuer template (`TenantTemplate::new`) that is not an `https` (or loopback `http`)
    /// URL holding `{tenant}` exactly once.
    #[error(
        "an issuer template must be an https URL (or http to a loopback host) holding {{tenant}} exactly once"
    )]
    InvalidTenantTemplate,
    /// `.tenants(..)` was combined with `.keys(..)`, `.issuer(..)`, `.trusted_issuer(..)` or
    /// `.introspection(..)`.
    #[error(
        "use either .tenants(..) or fixed issuers (.keys/.issuer/.trusted_issuer), without introspection"
    )]
    MixedTenantConfiguration,
    /// No issuer was given and the issuer check was not switched off explicitly.
    #[error("no issuer: call .issuer(..) or, knowingly, .dangerous_accept_any_issuer()")]
    NoIssuer,
    /// No audience was given and the audience check was not switched off explicitly.
    #[error("no audience: call .audience(..) or, knowingly, .dangerous_accept_any_audience()")]
    NoAudience,
    /// An issuer or audience is the empty string.
    #[error("issuer and audience values must not be empty")]
    EmptyValue,
    /// The leeway exceeds 10 minutes.
    #[error("leeway above 10 minutes defeats expiry")]
    LeewayTooLarge,
    /// More than 64 required claims.
    #[error("at most 64 required claims are supported")]
    TooManyRequiredClaims,
    /// A token limit below 16 bytes.
    #[error("the token size limit must be at least 16 bytes")]
    TokenLimitTooSmall,
    /// `.trusted_issuer(..)` was combined with `.keys(..)`, `.issuer(..)` or
    /// `.dangerous_accept_any_issuer()`.
    #[error("use either .trusted_issuer(..) or .keys(..) with .issuer(..), not both")]
    MixedIssuerConfiguration,
    /// The same issuer was trusted twice.
    #[error("an issuer is trusted twice")]
    DuplicateIssuer,
    /// The DPoP nonce secret is shorter than 32 bytes.
    #[error("the DPoP nonce secret must be at least 32 bytes")]
    WeakNonceSecret,
    /// DPoP is on but no public origin is configured ([`crate::Dpop::public_origin`]): a proof's
    /// `htu` is checked against it, never against the client's `Host` header.
    #[error("DPoP needs the server's public origin: call Dpop::public_origin(..)")]
    DpopWithoutPublicOrigin,
    /// A DPoP public origin is not `http(s)://host[:port]` (no path, query or user info).
    #[error("invalid DPoP public origin {0:?}: expected scheme and authority only")]
    InvalidPublicOrigin(String),
    /// DPoP is on but no proof algorithm is allowed.
    #[error("DPoP needs at least one asymmetric proof algorithm")]
    NoDpopAlgorithms,
    /// A key source could not be set up (for example an issuer URL that is not https). The
    /// text says why (`the key source could not be set up: <the key error and its causes>`),
    /// so `source` stays empty and a report does not print the causes twice.
    #[error("the key source could not be set up: {}", chain(.0.as_ref()))]
    KeySource(Arc<KeyError>),
    /// The token introspection configuration is unusable (an endpoint that is not an `https`
    /// URL, opaque tokens without `.introspection(..)`, a zero timeout): [`IntrospectionProblem`]
    /// says which.
    #[error("invalid token introspection configuration: {0}")]
    InvalidIntrospection(IntrospectionProblem),
    /// The realm is empty or holds characters a quoted-string cannot carry safely.
    #[error("the realm must be visible ASCII without quotes or backslashes")]
    InvalidRealm,
    /// A role is required of a route ([`crate::JwtAuth::require_any_role`]) but the `JwtAuth` reads
    /// no roles.
    #[error("roles are required but never read: call .roles_claim(..) or .roles(..)")]
    RolesNotConfigured,
    /// A permission is required of a route ([`crate::JwtAuth::require_any_permission`]) but the
    /// `JwtAuth` reads no permissions.
    #[error(
        "permissions are required but never read: call .permissions_claim(..) or .permissions(..)"
    )]
    PermissionsNotConfigured,
    /// The resource identifier given to [`crate::JwtAuthBuilder::resource`] is refused: the
    /// identifier as given, and why ([`ResourceProblem`]).
    #[error("invalid resource identifier {0:?}: {1}")]
    InvalidResource(String, ResourceProblem),
    /// [`crate::JwtAuth::protected_resource_metadata`] was called on a `JwtAuth` without a resource.
    #[error("no resource identifier: call .resource(..)")]
    NoResource,
    /// A value given to [`crate::JwtAuthBuilder::challenge_scope`] is not a scope-token (empty, or
    /// holding a space, a quote, a backslash or a byte outside visible ASCII).
    #[error("a challenge scope must be a non-empty scope-token of visible ASCII")]
    InvalidChallengeScope,
    /// A route requirement no token could meet as meant: no values, or a value that is empty
    /// or holds a space (granted values never do).
    #[error("a route requirement needs at least one value, none empty or holding a space")]
    InvalidRequirement,
    /// [`crate::JwtAuthBuilder::trust_forwarded_certificate`] was given a header name that is not a
    /// valid HTTP header name, or no proxy address.
    #[error("a forwarded certificate needs a valid header name and at least one proxy address")]
    InvalidForwardedCertificate,
}

impl PartialEq for BuildError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BuildError::InvalidPublicOrigin(a), BuildError::InvalidPublicOrigin(b)) => a == b,
            (BuildError::InvalidResource(a, x), BuildError::InvalidResource(b, y)) => {
                a == b && x == y
            }
            (BuildError::KeySource(a), BuildError::KeySource(b)) => a.to_string() == b.to_string(),
            (BuildError::InvalidIntrospection(a), BuildError::InvalidIntrospection(b)) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for BuildError {}
