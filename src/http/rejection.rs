//! How a refused request is answered: the body is pluggable, the status and challenge are not.
//!
//! One renderer serves a whole app: the one given to the [`crate::JwtLayer`] also renders the
//! refusals of the route layers beneath it and of the [`crate::Claims`] extractor, unless a
//! route layer was given its own ([`FromLayer`] is their default).

use std::any::TypeId;
use std::sync::Arc;

use http::{Extensions, Response};

use crate::error::{AuthError, Challenge};
use crate::http::grpc::{apply_grpc, is_grpc};
use crate::request::original_uri::original_uri;

/// The request being refused, as a renderer sees it: its method and path, for a body that
/// names them (the `instance` of an RFC 9457 problem document, for example).
///
/// Neither the headers nor the query are offered: they may hold the token (a token query
/// parameter, when one is enabled), and a body must never echo it.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use jwt_layer::{AuthError, RefusedRequest};
///
/// fn problem(err: &AuthError, request: &RefusedRequest<'_>) -> Response {
///     axum::Json(serde_json::json!({
///         "title": err.description(),
///         "instance": request.path(),
///     }))
///     .into_response()
/// }
/// ```
#[derive(Clone, Copy)]
pub struct RefusedRequest<'a> {
    method: &'a str,
    path: &'a str,
    grpc: bool,
    /// Where the layer in front left its renderer (see [`FromLayer`]).
    extensions: Option<&'a Extensions>,
}

impl<'a> RefusedRequest<'a> {
    /// The request's parts a refusal is rendered from.
    pub(crate) fn new<B>(request: &'a http::Request<B>) -> Self {
        Self::from_parts(request.method(), request.uri(), request.headers(), request.extensions())
    }

    /// The request a handler's own refusal is for, from what its extractor kept.
    pub(crate) fn kept(method: &'a str, path: &'a str, grpc: bool, ext: &'a Extensions) -> Self {
        RefusedRequest { method, path, grpc, extensions: Some(ext) }
    }

    /// The same, from a request's parts.
    pub(crate) fn from_parts(
        method: &'a http::Method,
        uri: &'a http::Uri,
        headers: &http::HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        RefusedRequest {
            method: method.as_str(),
            path: original_uri(uri, extensions).path(),
            grpc: is_grpc(headers),
            extensions: Some(extensions),
        }
    }

    /// The request's method, such as `GET`.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request's path as the client called it, without the query: under axum's
    /// `Router::nest` the whole path, not the part left after the prefix was stripped.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// Whether the request is a gRPC call (`content-type: application/grpc`, alone or with a
    /// `+format`). Such a refusal is answered trailers-only, the way gRPC clients read a
    /// failed call (see [`GrpcStatus`]): the layer drops whatever body is rendered for it, so
    /// a renderer may skip building one.
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }
}

impl std::fmt::Debug for RefusedRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("grpc", &self.grpc)
            .finish()
    }
}

mod sealed {
    /// Only this crate can name it, so only this crate's rejections can override
    /// [`super::Rejection::respond`].
    #[derive(Debug, Clone, Copy)]
    pub struct Seal;

    /// An empty body of type `B`, for every `B: Default`. A supertrait of
    /// [`super::Rejection`], so that a layer generic over its response body can always answer
    /// a gRPC call trailers-only, whatever the renderer built.
    pub trait EmptyBodyOf<B> {
        fn empty_body() -> B;
    }

    impl<T: ?Sized, B: Default> EmptyBodyOf<B> for T {
        fn empty_body() -> B {
            B::default()
        }
    }
}

/// Renders the body of the answer to a refused request.
///
/// [`EmptyBody`] (the layer's default) answers with an empty body, as RFC 6750 intends: the
/// status code and the `WWW-Authenticate` challenge carry everything. [`WithResponse`] and
/// [`WithResponseFor`] wrap a closure (`with_response` and `with_response_for` on the layers);
/// an implementation of your own is given with [`crate::JwtLayer::with_rejection`] or
/// [`RequireGrant::with_rejection`](crate::service::RequireGrant::with_rejection). Given to the layer,
/// it renders the refusals of the route layers beneath it and of the [`crate::Claims`]
/// extractor too (see [`FromLayer`]).
///
/// # What the methods receive
///
/// - `error`: why the request was refused. [`AuthError::description`] is the short text that
///   is safe to send to the caller and [`AuthError::error_code`] the RFC 6750 §3.1 code; the
///   `Display` text is the detailed reason, meant for logs (the layer has logged it already).
/// - `challenge`: what the `WWW-Authenticate` header will say besides the error, such as the
///   [`Challenge::realm`], for a body that wants to repeat it.
/// - `request` ([`Rejection::render_for`] only): the method and path of the refused request.
///
/// # What an implementation must do
///
/// - Implement [`Rejection::render`], and [`Rejection::render_for`] as well when the body
///   names the request (its default calls `render`). The layers always call `render_for`.
/// - Build the body and the headers that describe it (`Content-Type`), nothing more. After
///   rendering, the layer sets the status code and the `WWW-Authenticate` challenge from the
///   error ([`AuthError::apply_to`]), replacing whatever the response had, and adds
///   `DPoP-Nonce` or `Retry-After` where the error calls for them: a body can neither turn a
///   refusal into a success nor drop the challenge a client needs (RFC 6750 §3).
/// - Expect no body on a gRPC call ([`RefusedRequest::is_grpc`]): it is answered
///   trailers-only (HTTP 200, `grpc-status` and `grpc-message` in the headers, see
///   [`GrpcStatus`]), and the layer drops the rendered body and its `Content-Length`, keeping
///   the other headers as metadata. A gRPC client reads any body as a length-prefixed message,
///   so a JSON document there would turn the call's status into `INTERNAL`.
/// - Put nothing of the request in the body beyond what [`RefusedRequest`] offers: not the
///   token, not a claim value, not a key id. [`AuthError::description`] never holds them.
/// - Not panic, block or wait: rendering runs inside `Service::call` for every refused
///   request, a flood of garbage tokens included, so it should cost no more than building a
///   small string. A panic there is a panic of the request's task.
/// - Be `Clone + Send + Sync + 'static`: the layer clones it into every service it makes.
///   The body type `B` implements `Default` (axum's, hyper's and tonic's bodies do): a gRPC
///   refusal's body is `B::default()`, the empty body.
///
/// # Example
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::{HeaderValue, Response, header};
/// use jwt_layer::{AuthError, Challenge, JwtAuth, RefusedRequest, Rejection, keys::StaticKeys};
///
/// /// Refusals as a small JSON document.
/// #[derive(Clone)]
/// struct JsonRefusal;
///
/// impl Rejection<Body> for JsonRefusal {
///     fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<Body> {
///         self.render_for(error, challenge, &RefusedRequest::default())
///     }
///
///     fn render_for(
///         &self,
///         error: &AuthError,
///         _challenge: &Challenge,
///         request: &RefusedRequest<'_>,
///     ) -> Response<Body> {
///         let body = serde_json::json!({
///             "error": error.error_code(),
///             "error_description": error.description(),
///             "instance": request.path(),
///         });
///         let mut response = Response::new(Body::from(body.to_string()));
///         let json = HeaderValue::from_static("application/json");
///         response.headers_mut().insert(header::CONTENT_TYPE, json);
///         // No status and no `WWW-Authenticate` here: the layer sets them from `error`.
///         response
///     }
/// }
///
/// # #[derive(serde::Deserialize)] struct MyClaims {}
/// # let auth = JwtAuth::<MyClaims>::builder().keys(StaticKeys::hmac([1u8; 32])?)
/// #     .issuer("i").audience("a").roles_claim("roles").build()?;
/// async fn admin() -> &'static str { "admin area" }
///
/// // The layer's renderer renders the role refusal too.
/// let app: Router = Router::new()
///     .route("/admin", get(admin).route_layer(auth.require_any_role(["admin"])?))
///     .layer(auth.layer().with_rejection(JsonRefusal));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Rejection<B>: Clone + Send + Sync + 'static + sealed::EmptyBodyOf<B> {
    /// The response for `error`: its body, and any headers that describe the body.
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B>;

    /// The response for `error` to `request`. By default [`Rejection::render`]; implement it
    /// for a body that names the request's method or path.
    fn render_for(
        &self,
        error: &AuthError,
        challenge: &Challenge,
        request: &RefusedRequest<'_>,
    ) -> Response<B> {
        let _ = request;
        self.render(error, challenge)
    }

    /// The whole answer: the body by [`Rejection::render_for`], then the status and challenge
    /// from `error` (for a gRPC call: HTTP 200 with `grpc-status` and `grpc-message`, the
    /// challenge kept as metadata, and no body; see [`GrpcStatus`]). Only this crate's
    /// rejections can change it (the seal cannot be named outside it), so a renderer of yours
    /// cannot leave the status or the challenge out, nor give a gRPC refusal a body.
    #[doc(hidden)]
    fn respond(
        &self,
        error: &AuthError,
        challenge: &Challenge,
        request: &RefusedRequest<'_>,
        _: sealed::Seal,
    ) -> Response<B> {
        let mut response = self.render_for(error, challenge, request);
        if request.grpc {
            // gRPC over HTTP/2, "Responses": a call refused before any message is
            // trailers-only, the HEADERS frame ending the stream. A client reads a DATA frame
            // as a length-prefixed message (grpc-go and grpc-java: INTERNAL).
            *response.body_mut() = Self::empty_body();
            apply_grpc(error, challenge, &mut response);
        } else {
            error.apply_to(challenge, &mut response);
        }
        response
    }
}

impl Default for RefusedRequest<'_> {
    /// A request with an empty method and path, for a [`Rejection::render`] that has none and
    /// shares its code with [`Rejection::render_for`].
    fn default() -> Self {
        RefusedRequest { method: "", path: "", grpc: false, extensions: None }
    }
}

/// The answer to a refused request. Every layer and extractor answers through this function.
pub(crate) fn respond<B, R: Rejection<B>>(
    rejection: &R,
    error: &AuthError,
    challenge: &Challenge,
    request: &RefusedRequest<'_>,
) -> Response<B> {
    rejection.respond(error, challenge, request, sealed::Seal)
}

/// The default rejection of the [`crate::JwtLayer`]: an empty body; RFC 6750 carries
/// everything in the status and the `WWW-Authenticate` header.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyBody;

impl<B: Default> Rejection<B> for EmptyBody {
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        error.to_response(challenge)
    }

    fn respond(
        &self,
        error: &AuthError,
        challenge: &Challenge,
        request: &RefusedRequest<'_>,
        seal: sealed::Seal,
    ) -> Response<B> {
        if request.grpc {
            return GrpcStatus.respond(error, challenge, request, seal);
        }
        // `render` has set the status and challenge already.
        error.to_response(challenge)
    }
}

/// A [`Rejection`] that answers every refused request as a failed gRPC call, whatever its
/// `content-type`: HTTP 200 with `grpc-status` 16 (`UNAUTHENTICATED`) for a 401,
/// 7 (`PERMISSION_DENIED`) for a 403, 3 (`INVALID_ARGUMENT`) for a 400, 14 (`UNAVAILABLE`) for
/// a 503 and 13 (`INTERNAL`) for a misconfigured service; `grpc-message` is the short
/// description, and the `WWW-Authenticate` challenge (and `DPoP-Nonce`, `Retry-After`) stay as
/// metadata.
///
/// Requests whose `content-type` is `application/grpc` get this answer from every rejection
/// already, the default one included; choose `GrpcStatus` for a server that speaks only gRPC,
/// so that even a client sending a wrong `content-type` gets a gRPC answer.
///
/// ```
/// use jwt_layer::{GrpcStatus, JwtAuth, keys::StaticKeys};
///
/// # #[derive(serde::Deserialize)] struct MyClaims {}
/// let auth = JwtAuth::<MyClaims>::builder()
///     .keys(StaticKeys::hmac([7u8; 32])?)
///     .issuer("https://login.example")
///     .audience("my-grpc-api")
///     .build()?;
/// // tonic: `Server::builder().layer(layer).add_service(..)`
/// let layer = auth.layer().with_rejection(GrpcStatus);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatus;

impl<B: Default> Rejection<B> for GrpcStatus {
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        let mut response = Response::new(B::default());
        apply_grpc(error, challenge, &mut response);
        response
    }

    fn respond(
        &self,
        error: &AuthError,
        challenge: &Challenge,
        _: &RefusedRequest<'_>,
        _: sealed::Seal,
    ) -> Response<B> {
        self.render(error, challenge)
    }
}

/// The default rejection of the route layers ([`crate::service::RequireScope`], [`crate::service::RequireRole`],
/// [`crate::service::RequirePermission`], [`crate::service::RequireAuth`]) and of the [`crate::Claims`]
/// extractor: the renderer of the [`crate::JwtLayer`] in front of them (given with
/// `with_response`, `with_response_for` or `with_rejection`), or an empty body when it has
/// none. So one renderer, given once to the layer, renders every refusal of the app.
///
/// ```
/// use axum::{Router, routing::get};
/// use axum::response::{IntoResponse, Response};
/// use jwt_layer::{AuthError, JwtAuth, keys::StaticKeys};
///
/// # #[derive(serde::Deserialize)] struct MyClaims {}
/// # let auth = JwtAuth::<MyClaims>::builder().keys(StaticKeys::hmac([1u8; 32])?)
/// #     .issuer("i").audience("a").build()?;
/// async fn admin() -> &'static str { "admin area" }
///
/// // A 403 `insufficient_scope` from `/admin` comes back with this JSON body too.
/// let app: Router = Router::new()
///     .route("/admin", get(admin).route_layer(auth.require_all_scopes(["admin"])?))
///     .layer(auth.layer().with_response(|err: &AuthError| -> Response {
///         axum::Json(serde_json::json!({ "error": err.description() })).into_response()
///     }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FromLayer;

impl<B: Default + 'static> Rejection<B> for FromLayer {
    /// An empty body: without the request, the layer's renderer cannot be found.
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        error.to_response(challenge)
    }

    fn respond(
        &self,
        error: &AuthError,
        challenge: &Challenge,
        request: &RefusedRequest<'_>,
        seal: sealed::Seal,
    ) -> Response<B> {
        match request.extensions.and_then(Extensions::get::<LayerRejection<B>>) {
            Some(LayerRejection(layer)) => layer.respond_erased(error, challenge, request),
            None => EmptyBody.respond(error, challenge, request, seal),
        }
    }
}

/// The [`crate::JwtLayer`]'s rejection, left in the request's extensions for the route layers
/// and extractors beneath it (see [`FromLayer`]). Typed by the response body, so a route
/// layer finds it only when it answers with the same body type as the layer.
pub(crate) struct LayerRejection<B>(Arc<dyn Respond<B>>);

impl<B> Clone for LayerRejection<B> {
    fn clone(&self) -> Self {
        LayerRejection(Arc::clone(&self.0))
    }
}

/// [`Rejection::respond`] without `Clone`, so it can live behind a `dyn`.
trait Respond<B>: Send + Sync {
    fn respond_erased(
        &self,
        error: &AuthError,
        challenge: &Challenge,
        request: &RefusedRequest<'_>,
    ) -> Response<B>;
}

impl<B, R: Rejection<B>> Respond<B> for R {
    fn respond_erased(
        &self,
        error: &AuthError,
        challenge: &Challenge,
        request: &RefusedRequest<'_>,
    ) -> Response<B> {
        self.respond(error, challenge, request, sealed::Seal)
    }
}

/// Leaves the layer's `rejection` in `extensions` for [`FromLayer`]. The default, [`EmptyBody`],
/// answers exactly as [`FromLayer`] does without one, so it is not left: the common case
/// pays nothing for this.
pub(crate) fn hand_down<B: 'static, R: Rejection<B>>(rejection: &Arc<R>, ext: &mut Extensions) {
    if TypeId::of::<R>() != TypeId::of::<EmptyBody>() {
        let shared: Arc<dyn Respond<B>> = rejection.clone();
        ext.insert(LayerRejection(shared));
    }
}

/// A rejection rendered by the user's closure (see [`crate::JwtLayer::with_response`]).
#[derive(Debug, Clone, Copy)]
pub struct WithResponse<F>(pub(crate) F);

impl<F, B: Default> Rejection<B> for WithResponse<F>
where
    F: Fn(&AuthError) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError, _: &Challenge) -> Response<B> {
        (self.0)(error)
    }
}

/// A rejection rendered by the user's closure that also sees the request's method and path
/// (see [`crate::JwtLayer::with_response_for`]).
#[derive(Debug, Clone, Copy)]
pub struct WithResponseFor<F>(pub(crate) F);

impl<F, B: Default> Rejection<B> for WithResponseFor<F>
where
    F: Fn(&AuthError, &RefusedRequest<'_>) -> Response<B> + Clone + Send + Sync + 'static,
{
    /// The closure, shown an empty method and path.
    fn render(&self, error: &AuthError, _: &Challenge) -> Response<B> {
        (self.0)(error, &RefusedRequest::default())
    }

    fn render_for(
        &self,
        error: &AuthError,
        _: &Challenge,
        request: &RefusedRequest<'_>,
    ) -> Response<B> {
        (self.0)(error, request)
    }
}
