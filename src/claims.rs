//! `Claims<C>`: the verified claims, extracted in a handler.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

/// The verified claims of the request's token, put into the request's extensions by the layer.
///
/// Behind an `Arc`, so extracting them never deep-clones. Extract `Claims<C>` in a route the
/// layer guards, or `Option<Claims<C>>` with [`crate::JwtAuthBuilder::optional`] (`None` for a
/// request without credentials).
///
/// ```
/// use jwt_layer::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// async fn me(Claims(claims): Claims<MyClaims>) -> String {
///     format!("hello {}", claims.sub)
/// }
///
/// async fn maybe(claims: Option<Claims<MyClaims>>) -> String {
///     claims.map_or_else(|| "hello stranger".into(), |c| format!("hello {}", c.sub))
/// }
/// ```
pub struct Claims<C>(pub Arc<C>);

impl<C> Clone for Claims<C> {
    fn clone(&self) -> Self {
        Claims(Arc::clone(&self.0))
    }
}

impl<C> Deref for Claims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C: fmt::Debug> fmt::Debug for Claims<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Claims").field(&self.0).finish()
    }
}

impl<C> Claims<C> {
    /// The claims, cloned only if other references to them remain.
    pub fn into_inner(self) -> C
    where
        C: Clone,
    {
        Arc::unwrap_or_clone(self.0)
    }
}

/// Serializes as the claims themselves, so a handler can return `Json(claims)`.
impl<C: serde::Serialize> serde::Serialize for Claims<C> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Marks a request the layer let through without credentials (optional mode).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anonymous;

/// The rejection of the [`Claims`] extractor: the route is not behind the layer.
///
/// That is a programming error, so it answers 500 and logs which claims type was missing,
/// rather than letting the request through unauthenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingClaims {
    type_name: &'static str,
}

impl fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no verified claims of type {} in the request: is the JwtAuth layer applied to this route?",
            self.type_name
        )
    }
}

impl std::error::Error for MissingClaims {}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (StatusCode::INTERNAL_SERVER_ERROR, "authentication is misconfigured").into_response()
    }
}

impl<C, S> FromRequestParts<S> for Claims<C>
where
    C: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Claims<C>>()
            .cloned()
            .ok_or(MissingClaims { type_name: std::any::type_name::<C>() })
    }
}

impl<C, S> OptionalFromRequestParts<S> for Claims<C>
where
    C: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(claims) = parts.extensions.get::<Claims<C>>() {
            return Ok(Some(claims.clone()));
        }
        // Anonymous only if the layer said so; otherwise the layer is missing.
        match parts.extensions.get::<Anonymous>() {
            Some(_) => Ok(None),
            None => Err(MissingClaims { type_name: std::any::type_name::<C>() }),
        }
    }
}
