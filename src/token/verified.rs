//! What a token that passed every check leaves behind: the typed claims and the few
//! registered claims the request-level rules, the route layers and the cache still need.

use std::sync::Arc;

use crate::grants::authentication::Authentication;

/// A token that passed every check of [`crate::token::verify`].
pub(crate) struct Verified<C> {
    /// Shared with the verified-token cache when it is on.
    pub(crate) claims: Arc<C>,
    /// `exp` and `nbf`, for the cache's re-checks.
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) scope: Option<Arc<str>>,
    /// `cnf.jkt`, when the token is bound to a DPoP key.
    pub(crate) jkt: Option<String>,
    /// `cnf.x5t#S256`, when the token is bound to a client certificate (RFC 8705 §3).
    pub(crate) x5t_s256: Option<String>,
    /// `jti`, `sub` and `iat`, kept only when a revocation store will ask for them (boxed:
    /// the common case carries neither, and a smaller value is cheaper to pass along).
    pub(crate) state: Option<Box<OwnedState>>,
    /// Roles and permissions read from the configured claim paths, when any are.
    pub(crate) grants: Option<Box<Grants>>,
    /// `acr` and `auth_time`, when the token carries either (RFC 9470 §4).
    pub(crate) authentication: Option<Arc<Authentication>>,
}

impl<C> Verified<C> {
    /// A copy sharing the claims (for the cache).
    pub(crate) fn share(&self) -> Verified<C> {
        Verified {
            claims: Arc::clone(&self.claims),
            exp: self.exp,
            nbf: self.nbf,
            scope: self.scope.clone(),
            jkt: self.jkt.clone(),
            x5t_s256: self.x5t_s256.clone(),
            state: self.state.clone(),
            grants: self.grants.clone(),
            authentication: self.authentication.clone(),
        }
    }
}

/// The owned parts of a token a revocation store looks at.
#[derive(Clone)]
pub(crate) struct OwnedState {
    pub(crate) jti: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) iat: Option<f64>,
}

/// Roles and permissions, when claim paths for them are configured.
#[derive(Default, Clone)]
pub(crate) struct Grants {
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) permissions: Option<Vec<String>>,
}
