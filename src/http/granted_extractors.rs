//! [`Scopes`], [`Roles`] and [`Permissions`] as extractors, and their check inside a handler:
//! the refusal a route requirement would give (the same 403, challenge and body), for a
//! handler that decides what to require only once it has read the request.

use std::sync::Arc;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::Extensions;
use http::request::Parts;

use crate::error::{AuthError, Challenge, DEFAULT_REALM};
use crate::grants::granted::{Permissions, RefusalContext, Roles, Scopes};
use crate::http::claims::MissingClaims;
use crate::http::grpc::is_grpc;
use crate::http::rejection::{FromLayer, LayerRejection, RefusedRequest, respond};
use crate::http::require_grant::{PermissionGrant, RoleGrant, ScopeGrant, meets};
use crate::request::original_uri::original_uri;

/// A refusal decided inside a handler by [`Scopes::require_all`] and its siblings: answered
/// 403 `insufficient_scope` with the challenge of the `JwtAuth` in front and the body its
/// renderer makes, exactly as the matching route requirement would answer.
///
/// ```
/// use jwt_layer::{GrantRefusal, Scopes};
///
/// async fn delete_order(scopes: Scopes) -> Result<&'static str, GrantRefusal> {
///     scopes.require_all(["orders:write"])?;
///     Ok("deleted")
/// }
/// ```
#[derive(Clone)]
pub struct GrantRefusal {
    error: AuthError,
    context: Option<Arc<RefusalContext>>,
}

impl GrantRefusal {
    /// Why the request was refused (`InsufficientScope`, `InsufficientRole`,
    /// `InsufficientPermission`).
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl std::fmt::Debug for GrantRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantRefusal").field("error", &self.error).finish_non_exhaustive()
    }
}

impl std::fmt::Display for GrantRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for GrantRefusal {}

impl IntoResponse for GrantRefusal {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.error.status().as_u16(), reason = %self.error, "request refused");
        match self.context.as_deref() {
            Some(kept) => {
                let request = RefusedRequest::kept(
                    kept.method.as_str(),
                    kept.uri.path(),
                    kept.grpc,
                    &kept.renderer,
                );
                respond(&FromLayer, &self.error, &kept.challenge, &request)
            }
            // Grants made without an extractor know no request: the default challenge.
            None => {
                let none = Extensions::new();
                let request = RefusedRequest::kept("", "", false, &none);
                respond(&FromLayer, &self.error, &Challenge::bearer(DEFAULT_REALM), &request)
            }
        }
    }
}

/// What a refusal inside the handler will need of this request.
fn kept(parts: &Parts) -> Arc<RefusalContext> {
    let challenge = parts
        .extensions
        .get::<Challenge>()
        .cloned()
        .unwrap_or_else(|| Challenge::bearer(DEFAULT_REALM));
    let mut renderer = Extensions::new();
    if let Some(layer) = parts.extensions.get::<LayerRejection<axum_core::body::Body>>() {
        renderer.insert(layer.clone());
    }
    Arc::new(RefusalContext {
        challenge,
        method: parts.method.clone(),
        uri: original_uri(&parts.uri, &parts.extensions).clone(),
        grpc: is_grpc(&parts.headers),
        renderer,
    })
}

/// The values a requirement names, as the route layers hold them.
fn values<I, S>(values: I) -> Vec<Box<str>>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values.into_iter().map(|value| value.into().into_boxed_str()).collect()
}

macro_rules! granted_extractor {
    ($name:ident, $kind:ty, $what:literal) => {
        impl<S: Send + Sync> FromRequestParts<S> for $name {
            /// 401 with the layer's challenge for an anonymous request (optional mode); 500
            /// when no layer put them into the request (or it reads none), as for `Claims`.
            type Rejection = MissingClaims;

            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, MissingClaims> {
                match parts.extensions.get::<$name>() {
                    Some(granted) => {
                        let mut granted = granted.clone();
                        granted.1 = Some(kept(parts));
                        Ok(granted)
                    }
                    None => Err(MissingClaims::of::<$name>(parts)),
                }
            }
        }

        impl $name {
            #[doc = concat!("Refuses unless every one of `values` is granted, with the 403 ")]
            #[doc = concat!("a route requirement on ", $what, " would answer (its challenge ")]
            #[doc = "and the layer's renderer, when extracted in a handler behind the layer)."]
            pub fn require_all<I, S>(&self, values: I) -> Result<(), GrantRefusal>
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.require(values, true)
            }

            #[doc = concat!("Refuses unless at least one of `values` is granted, as ")]
            #[doc = concat!("[`", stringify!($name), "::require_all`] refuses.")]
            pub fn require_any<I, S>(&self, values: I) -> Result<(), GrantRefusal>
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.require(values, false)
            }

            fn require<I, S>(&self, required: I, all: bool) -> Result<(), GrantRefusal>
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                meets::<$kind>(self, &values(required), all)
                    .map_err(|error| GrantRefusal { error, context: self.1.clone() })
            }
        }
    };
}

granted_extractor!(Scopes, ScopeGrant, "scopes");
granted_extractor!(Roles, RoleGrant, "roles");
granted_extractor!(Permissions, PermissionGrant, "permissions");
