//! What authenticates a request, below [`crate::JwtAuth`]: the token verifier, the request
//! rules and, with introspection, the introspector. The layer and `explain` take it as it is,
//! so nothing below the public face imports the face.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::request::rules::RequestRules;
use crate::token::verify::Verifier;

/// The configured verification that a [`crate::JwtAuth`] wraps; one `Arc` per part, so clones
/// are cheap.
pub(crate) struct Authenticator<C> {
    pub(crate) verifier: Arc<Verifier<C>>,
    pub(crate) request: Arc<RequestRules>,
    /// Opaque tokens' verifier, when introspection is configured.
    #[cfg(feature = "remote")]
    pub(crate) introspection: Option<Arc<crate::introspection::Introspector>>,
    /// Tenants resolved per request, instead of the verifier's fixed routes.
    #[cfg(feature = "remote")]
    pub(crate) tenants: Option<Arc<crate::tenants::TenantTable>>,
}

impl<C> Clone for Authenticator<C> {
    fn clone(&self) -> Self {
        Authenticator {
            verifier: Arc::clone(&self.verifier),
            request: Arc::clone(&self.request),
            #[cfg(feature = "remote")]
            introspection: self.introspection.clone(),
            #[cfg(feature = "remote")]
            tenants: self.tenants.clone(),
        }
    }
}

/// Shown as the `JwtAuth` it makes: issuers, audiences, leeway, realm, mode, resource.
impl<C> fmt::Debug for Authenticator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field(
                "issuers",
                &self.verifier.routes.iter().map(|r| &r.rules.issuers).collect::<Vec<_>>(),
            )
            .field(
                "audiences",
                &self.verifier.routes.iter().map(|r| &r.rules.audiences).collect::<Vec<_>>(),
            )
            .field("leeway_secs", &self.verifier.leeway_secs)
            .field("realm", &self.request.realm)
            .field("optional", &self.request.optional)
            .field("resource", &self.request.resource.as_ref().map(|r| r.as_str()))
            .finish_non_exhaustive()
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> Authenticator<C> {
    /// The introspector that takes `token`, when it is one `verify` introspects (an opaque
    /// token, or every token, as [`crate::TokenKinds`] says); `None` for a token verified as a
    /// JWT. The one place this route is chosen, by the verification sequence.
    #[cfg(feature = "remote")]
    pub(crate) fn introspector_for(
        &self,
        token: &str,
    ) -> Option<&Arc<crate::introspection::Introspector>> {
        self.introspection.as_ref().filter(|introspector| introspector.takes(token))
    }
}
