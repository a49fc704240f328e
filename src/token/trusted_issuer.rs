//! Several issuers at once, each with its own keys and audiences (multi-tenant services, or a
//! migration from one identity provider to another).

use std::fmt;
use std::sync::Arc;

use crate::keys::KeyProvider;

/// One issuer the verifier trusts, with the keys that verify its tokens.
///
/// A token's unverified `iss` only selects which issuer's keys to try; the token is then
/// verified with those keys alone, and its `iss` checked again after the signature. A token
/// from an issuer not configured is refused before any key lookup, so it never causes a
/// network call.
///
/// ```
/// use jwt_layer::{JwtAuth, TrustedIssuer, keys::StaticKeys};
///
/// # #[derive(serde::Deserialize)] struct MyClaims {}
/// let auth = JwtAuth::<MyClaims>::builder()
///     .trusted_issuer(TrustedIssuer::new("https://old-idp.example/", StaticKeys::hmac([1u8; 32])?)
///         .audience("my-api"))
///     .trusted_issuer(TrustedIssuer::new("https://new-idp.example/", StaticKeys::hmac([2u8; 32])?)
///         .audience("https://api.example.com"))
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TrustedIssuer {
    pub(crate) issuer: String,
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) audiences: Vec<Box<str>>,
}

impl TrustedIssuer {
    /// Trusts `issuer` (exact string match) with keys from `keys`.
    pub fn new(issuer: impl Into<String>, keys: impl KeyProvider) -> Self {
        TrustedIssuer { issuer: issuer.into(), keys: Arc::new(keys), audiences: Vec::new() }
    }

    /// Trusts `issuer` with keys found by its OIDC discovery document.
    #[cfg(feature = "remote")]
    pub fn discover(issuer: impl Into<String>) -> Result<Self, crate::keys::KeyError> {
        let issuer = issuer.into();
        let keys = crate::keys::Jwks::discover(&issuer)?;
        Ok(TrustedIssuer::new(issuer, keys))
    }

    /// An audience accepted for this issuer's tokens; call again for several. Without any, the
    /// builder's audiences apply.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into().into());
        self
    }
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}
