//! `Claims<C>`: the verified claims, extracted in a handler.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::error::{AuthError, Challenge, DEFAULT_REALM};
use crate::http::rejection::{FromLayer, RefusedRequest, respond};

/// The verified claims of the request's token, put into the request's extensions by the layer.
///
/// Behind an `Arc`, so extracting them never deep-clones. Extract `Claims<C>` in a route the
/// layer guards, or `Option<Claims<C>>` with [`crate::JwtAuthBuilder::optional`] (`None` for a
/// request without credentials). Under an optional layer, `Claims<C>` answers a request
/// without credentials 401 with the layer's challenge (see [`MissingClaims`]).
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

/// The rejection of the [`Claims`] extractor: the request carries no verified claims.
///
/// - The layer let the request through without credentials (an optional
///   [`crate::JwtAuth`]): 401 with the layer's challenge, the same `WWW-Authenticate` as a
///   required layer answers a request without a token, its body rendered by the layer's
///   renderer ([`crate::service::FromLayer`]).
/// - The route is not behind the layer (or behind one for another claims type): a
///   programming error, so it answers 500 and logs which claims type was missing, rather than
///   letting the request through unauthenticated.
#[derive(Debug)]
pub struct MissingClaims {
    type_name: &'static str,
    /// The 401 for an anonymous request, rendered while the request was at hand.
    refusal: Option<Response>,
}

impl MissingClaims {
    pub(crate) fn of<C>(parts: &Parts) -> Self {
        let type_name = std::any::type_name::<C>();
        if parts.extensions.get::<Anonymous>().is_none() {
            return MissingClaims { type_name, refusal: None };
        }
        let err = AuthError::MissingCredentials;
        tracing::debug!(status = err.status().as_u16(), reason = %err, "request refused");
        // The layer left its challenge with the anonymous request; the default realm only if
        // something else marked it anonymous.
        let fallback;
        let challenge = match parts.extensions.get::<Challenge>() {
            Some(challenge) => challenge,
            None => {
                fallback = Challenge::bearer(DEFAULT_REALM);
                &fallback
            }
        };
        let request = RefusedRequest::from_parts(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &parts.extensions,
        );
        MissingClaims { type_name, refusal: Some(respond(&FromLayer, &err, challenge, &request)) }
    }

    /// The status of the answer: 401 for an anonymous request, 500 without the layer.
    pub fn status(&self) -> StatusCode {
        self.refusal.as_ref().map_or(StatusCode::INTERNAL_SERVER_ERROR, Response::status)
    }
}

impl fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.refusal {
            Some(_) => write!(f, "no credentials in the request, and the route requires them"),
            None => write!(
                f,
                "no verified claims of type {} in the request: is the JwtAuth layer applied to this route?",
                self.type_name
            ),
        }
    }
}

impl std::error::Error for MissingClaims {}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        if let Some(refusal) = self.refusal {
            return refusal;
        }
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
        match parts.extensions.get::<Claims<C>>() {
            Some(claims) => Ok(claims.clone()),
            None => Err(MissingClaims::of::<C>(parts)),
        }
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
            None => Err(MissingClaims::of::<C>(parts)),
        }
    }
}
