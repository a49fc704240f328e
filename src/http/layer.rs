//! The Tower layer: `JwtLayer` (configuration), `JwtService` (the middleware) and its
//! `ResponseFuture`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_layer::{Claims, JwtAuth, keys::StaticKeys};
//!
//! #[derive(serde::Deserialize)]
//! struct MyClaims { sub: String }
//!
//! async fn me(Claims(claims): Claims<MyClaims>) -> String {
//!     claims.sub.clone()
//! }
//!
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::hmac(b"0123456789abcdef0123456789abcdef")?)
//!     .issuer("https://login.example")
//!     .audience("my-api")
//!     .build()?;
//! let app: Router = Router::new().route("/me", get(me)).layer(auth.layer());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

use crate::authenticator::Authenticator;
use crate::error::{AuthError, Challenge};
use crate::grants::granted::{Permissions, Roles, Scopes};
use crate::http::claims::{Anonymous, Claims};
use crate::http::rejection::{
    EmptyBody, RefusedRequest, Rejection, WithResponse, WithResponseFor, hand_down, respond,
};
use crate::observe::AlgorithmSeen;
use crate::request::extract::{Scheme, find_token};
use crate::request::rules::RequestRules;
use crate::token::verified::Verified;

/// A verification that had to wait (for keys, the authorization server or a store).
type PendingVerification<C> =
    Pin<Box<dyn Future<Output = Result<Verified<C>, AuthError>> + Send + 'static>>;

/// A Tower [`Layer`] that authenticates requests with a [`crate::JwtAuth`].
///
/// Made by [`crate::JwtAuth::layer`]. Rejections are responses, never service errors, so the layer
/// composes with timeouts, retries and `HandleErrorLayer`.
///
/// Its renderer (`with_response`, `with_response_for`, `with_rejection`) renders every refusal
/// of the routes beneath it: its own, those of the route layers
/// ([`crate::service::RequireScope`], [`crate::service::RequireRole`], [`crate::service::RequirePermission`],
/// [`crate::service::RequireAuth`]) unless one was given its own, and the 401 of the [`Claims`]
/// extractor for an anonymous request in optional mode.
pub struct JwtLayer<C, R = EmptyBody> {
    auth: Authenticator<C>,
    /// Shared, so that handing it down to route layers costs no allocation.
    rejection: Arc<R>,
}

impl<C> JwtLayer<C> {
    /// The layer of a [`crate::JwtAuth`] ([`crate::JwtAuth::layer`]), with empty refusal bodies.
    pub(crate) fn new(auth: Authenticator<C>) -> Self {
        JwtLayer { auth, rejection: Arc::new(EmptyBody) }
    }

    /// Renders rejections with `render` (for example a JSON body); the status code and the
    /// `WWW-Authenticate` challenge are set afterwards from the error, so they stay right.
    ///
    /// `render` returns the response body type of the service the layer wraps: axum's `Body`
    /// for an axum `Router`, tonic's for a tonic `Server`. A renderer written for one does not
    /// fit the other (the compiler says the layer is not a `Layer` of that service). To serve
    /// gRPC and HTTP with one renderer, put the tonic services into the router
    /// (`tonic::service::Routes::new(svc).into_axum_router()`) and the layer on the router;
    /// gRPC calls are answered trailers-only whatever the renderer builds.
    ///
    /// ```
    /// # use jwt_layer::{JwtAuth, AuthError, keys::StaticKeys};
    /// # #[derive(serde::Deserialize)] struct MyClaims {}
    /// # let auth = JwtAuth::<MyClaims>::builder().keys(StaticKeys::hmac([1u8; 32])?)
    /// #     .issuer("i").audience("a").build()?;
    /// use axum::response::{IntoResponse, Response};
    ///
    /// let layer = auth.layer().with_response(|err: &AuthError| -> Response {
    ///     axum::Json(serde_json::json!({ "error": err.description() })).into_response()
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_response<F>(self, render: F) -> JwtLayer<C, WithResponse<F>> {
        self.with_rejection(WithResponse(render))
    }

    /// Like [`JwtLayer::with_response`], with the refused request's method and path too (see
    /// [`RefusedRequest`]), for example for the `instance` of an RFC 9457 problem document.
    ///
    /// ```
    /// # use jwt_layer::{JwtAuth, AuthError, keys::StaticKeys};
    /// # #[derive(serde::Deserialize)] struct MyClaims {}
    /// # let auth = JwtAuth::<MyClaims>::builder().keys(StaticKeys::hmac([1u8; 32])?)
    /// #     .issuer("i").audience("a").build()?;
    /// use axum::response::{IntoResponse, Response};
    /// use jwt_layer::RefusedRequest;
    ///
    /// let layer = auth.layer().with_response_for(|err: &AuthError, req: &RefusedRequest<'_>| -> Response {
    ///     let problem = serde_json::json!({
    ///         "type": "about:blank",
    ///         "title": err.description(),
    ///         "status": err.status().as_u16(),
    ///         "instance": req.path(),
    ///     });
    ///     ([("content-type", "application/problem+json")], problem.to_string()).into_response()
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_response_for<F>(self, render: F) -> JwtLayer<C, WithResponseFor<F>> {
        self.with_rejection(WithResponseFor(render))
    }

    /// Renders refusals with a [`Rejection`] of your own (see its documentation for what an
    /// implementation must do).
    pub fn with_rejection<R>(self, rejection: R) -> JwtLayer<C, R> {
        JwtLayer { auth: self.auth, rejection: Arc::new(rejection) }
    }
}

impl<C, R> Clone for JwtLayer<C, R> {
    fn clone(&self) -> Self {
        JwtLayer { auth: self.auth.clone(), rejection: Arc::clone(&self.rejection) }
    }
}

impl<C, R> fmt::Debug for JwtLayer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayer").field("auth", &self.auth).finish_non_exhaustive()
    }
}

impl<S, C, R> Layer<S> for JwtLayer<C, R> {
    type Service = JwtService<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService { inner, auth: self.auth.clone(), rejection: Arc::clone(&self.rejection) }
    }
}

/// The middleware made by [`JwtLayer`]: verifies the token, puts [`Claims<C>`] and
/// [`Scopes`] into the request's extensions, and calls the inner service; otherwise answers
/// with the error's status and `WWW-Authenticate` challenge.
pub struct JwtService<S, C, R = EmptyBody> {
    inner: S,
    auth: Authenticator<C>,
    rejection: Arc<R>,
}

impl<S: Clone, C, R> Clone for JwtService<S, C, R> {
    fn clone(&self) -> Self {
        JwtService {
            inner: self.inner.clone(),
            auth: self.auth.clone(),
            rejection: Arc::clone(&self.rejection),
        }
    }
}

impl<S: fmt::Debug, C, R> fmt::Debug for JwtService<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtService")
            .field("inner", &self.inner)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

inner_service_accessors!(JwtService<S, C, R>);

impl<S, C, R, ReqBody, ResBody> Service<Request<ReqBody>> for JwtService<S, C, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    C: DeserializeOwned + Send + Sync + 'static,
    R: Rejection<ResBody>,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, C, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let rules = &self.auth.request;
        let verifier = &self.auth.verifier;
        let found = find_token(
            request.headers(),
            request.uri(),
            &rules.sources,
            verifier.max_token_bytes,
            rules.dpop.is_some(),
        );
        let found = match found {
            Ok(Some(found)) => found,
            Ok(None) if rules.optional => {
                // What the `Claims` extractor and `RequireAuth` answer an anonymous request
                // with: the layer's challenge, rendered by the layer's renderer.
                let extensions = request.extensions_mut();
                extensions.insert(Anonymous);
                extensions.insert(rules.challenge(false));
                hand_down(&self.rejection, extensions);
                rules.meters.anonymous();
                return ResponseFuture::called(self.inner.call(request));
            }
            Ok(None) => return self.reject(&request, &AuthError::MissingCredentials, false),
            Err(err) => return self.reject(&request, &err, false),
        };
        let used_dpop = found.scheme == Scheme::Dpop;
        let presented = match rules.presented(&request, found.scheme) {
            Ok(presented) => presented,
            Err(err) => return self.reject(&request, &err, used_dpop),
        };
        // The verification sequence, polled once here: it completes at once unless keys,
        // the authorization server or a store must be awaited, and then it is awaited in the
        // response future.
        let timer = rules.meters.start();
        let auth = self.auth.clone();
        let token = found.token.into_owned();
        let mut pending: PendingVerification<C> = Box::pin(async move {
            let mut seen = AlgorithmSeen::default();
            let verdict = auth.authenticate(&token, &presented, true, &mut seen).await;
            auth.request.meters.verified(timer, seen.0);
            verdict
        });
        match pending.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(verified)) => {
                insert_verified(&mut request, verified, rules, used_dpop);
                hand_down(&self.rejection, request.extensions_mut());
                return ResponseFuture::called(self.inner.call(request));
            }
            Poll::Ready(Err(err)) => return self.reject(&request, &err, used_dpop),
            Poll::Pending => {}
        }
        // Take the service that was polled ready and leave a clone in its place (tower's
        // `Service` contract).
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            state: State::Verifying {
                pending,
                service: Some(service),
                request: Some(request),
                rejection: Arc::clone(&self.rejection),
                rules: Arc::clone(&self.auth.request),
                used_dpop,
            },
        }
    }
}

impl<S, C, R> JwtService<S, C, R> {
    fn reject<ReqBody, ResBody>(
        &self,
        request: &Request<ReqBody>,
        err: &AuthError,
        used_dpop: bool,
    ) -> ResponseFuture<S, ReqBody, C, R>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        R: Rejection<ResBody>,
    {
        let challenge = self.auth.request.challenge(used_dpop);
        let response = refuse(&*self.rejection, request, err, &challenge, &self.auth.request);
        ResponseFuture { state: State::Rejected { response: Some(response) } }
    }
}

/// Puts what handlers and route layers read into the request: the claims, the grants, and the
/// challenge route layers answer with (the same realm and scheme as the layer); counts the
/// request as accepted.
fn insert_verified<B, C: Send + Sync + 'static>(
    request: &mut Request<B>,
    verified: Verified<C>,
    rules: &RequestRules,
    used_dpop: bool,
) {
    rules.meters.accepted();
    let extensions = request.extensions_mut();
    extensions.insert(rules.challenge(used_dpop));
    extensions.insert(Claims(verified.claims));
    extensions.insert(Scopes::new(verified.scope));
    let grants = verified.grants.as_deref();
    if let Some(roles) = grants.and_then(|grants| grants.roles.as_ref()) {
        extensions.insert(Roles::new(roles));
    }
    if let Some(permissions) = grants.and_then(|grants| grants.permissions.as_ref()) {
        extensions.insert(Permissions::new(permissions));
    }
    if let Some(authentication) = verified.authentication {
        extensions.insert(authentication);
    }
}

/// The layer's answer to a refused request, logged and counted.
fn refuse<B, ResBody, R: Rejection<ResBody>>(
    rejection: &R,
    request: &Request<B>,
    err: &AuthError,
    challenge: &Challenge,
    rules: &RequestRules,
) -> Response<ResBody> {
    log_rejection(err);
    rules.meters.refused(err);
    let refused = RefusedRequest::new(request);
    respond(rejection, err, challenge, &refused)
}

/// Refusals are logged at DEBUG: a flood of garbage tokens must not become a flood of log
/// lines. Failures of the server's own (key sources, stores) are logged where they happen.
fn log_rejection(err: &AuthError) {
    tracing::debug!(status = err.status().as_u16(), reason = %err, "request refused");
}

pin_project! {
    /// The response future of [`JwtService`].
    pub struct ResponseFuture<S, ReqBody, C, R>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, C, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, C, R>
    where
        S: Service<Request<ReqBody>>,
    {
        Called { #[pin] future: S::Future },
        Rejected { response: Option<S::Response> },
        Verifying {
            pending: PendingVerification<C>,
            service: Option<S>,
            request: Option<Request<ReqBody>>,
            rejection: Arc<R>,
            rules: Arc<RequestRules>,
            used_dpop: bool,
        },
    }
}

impl<S, ReqBody, C, R> fmt::Debug for ResponseFuture<S, ReqBody, C, R>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
            State::Verifying { .. } => "verifying",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}

impl<S, ReqBody, C, R> ResponseFuture<S, ReqBody, C, R>
where
    S: Service<Request<ReqBody>>,
{
    fn called(future: S::Future) -> Self {
        ResponseFuture { state: State::Called { future } }
    }
}

impl<S, ReqBody, ResBody, C, R> Future for ResponseFuture<S, ReqBody, C, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: Send + Sync + 'static,
    R: Rejection<ResBody>,
    ResBody: 'static,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
                StateProj::Verifying { pending, service, request, rejection, rules, used_dpop } => {
                    let verdict = ready!(pending.as_mut().poll(cx));
                    let (Some(mut service), Some(mut request)) = (service.take(), request.take())
                    else {
                        panic!("polled after completion");
                    };
                    match verdict {
                        Ok(verified) => {
                            insert_verified(&mut request, verified, rules, *used_dpop);
                            hand_down(rejection, request.extensions_mut());
                            State::Called { future: service.call(request) }
                        }
                        Err(err) => {
                            let challenge = rules.challenge(*used_dpop);
                            let response = refuse(&**rejection, &request, &err, &challenge, rules);
                            State::Rejected { response: Some(response) }
                        }
                    }
                }
            };
            this.state.set(next);
        }
    }
}
