//! How a refused request is answered: the body is pluggable, the status and challenge are not.

use http::Response;

use crate::error::{AuthError, Challenge};

/// Renders the body of the answer to a refused request.
///
/// [`EmptyBody`] (the default) answers with an empty body, as RFC 6750 intends: the status code
/// and the `WWW-Authenticate` challenge carry everything. [`WithResponse`] wraps a closure
/// (`with_response` on the layers); an implementation of your own is given to a route layer
/// with [`RequireGrant::with_rejection`](crate::RequireGrant::with_rejection).
///
/// # What `render` receives
///
/// - `error`: why the request was refused. [`AuthError::description`] is the short text that
///   is safe to send to the caller and [`AuthError::error_code`] the RFC 6750 §3.1 code; the
///   `Display` text is the detailed reason, meant for logs (the layer has logged it already).
/// - `challenge`: what the `WWW-Authenticate` header will say besides the error, such as the
///   [`Challenge::realm`], for a body that wants to repeat it.
///
/// # What an implementation must do
///
/// - Build the body and the headers that describe it (`Content-Type`), nothing more. After
///   `render` returns, the layer sets the status code and the `WWW-Authenticate` challenge from
///   the error ([`AuthError::apply_to`]), replacing whatever the response had, and adds
///   `DPoP-Nonce` or `Retry-After` where the error calls for them: a body can neither turn a
///   refusal into a success nor drop the challenge a client needs (RFC 6750 §3).
/// - Put nothing of the request in the body: not the token, not a claim value, not a key id.
///   [`AuthError::description`] never holds them.
/// - Not panic, block or wait: `render` runs inside `Service::call` for every refused request,
///   a flood of garbage tokens included, so it should cost no more than building a small
///   string. A panic there is a panic of the request's task.
/// - Be `Clone + Send + Sync + 'static`: the layer clones it into every service it makes.
///
/// # Example
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::{HeaderValue, Response, header};
/// use jwt_layer::{AuthError, Challenge, Rejection, RequireScope};
///
/// /// Refusals as a small JSON document.
/// #[derive(Clone)]
/// struct JsonRefusal;
///
/// impl Rejection<Body> for JsonRefusal {
///     fn render(&self, error: &AuthError, _challenge: &Challenge) -> Response<Body> {
///         let body = serde_json::json!({
///             "error": error.error_code(),
///             "error_description": error.description(),
///         });
///         let mut response = Response::new(Body::from(body.to_string()));
///         let json = HeaderValue::from_static("application/json");
///         response.headers_mut().insert(header::CONTENT_TYPE, json);
///         // No status and no `WWW-Authenticate` here: the layer sets them from `error`.
///         response
///     }
/// }
///
/// async fn admin() -> &'static str { "admin area" }
///
/// let routes: Router = Router::new()
///     .route("/admin", get(admin).route_layer(RequireScope::all(["admin"]).with_rejection(JsonRefusal)));
/// ```
pub trait Rejection<B>: Clone + Send + Sync + 'static {
    /// The response for `error`: its body, and any headers that describe the body.
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B>;
}

/// The answer to a refused request: the body by `rejection`, then the status and challenge
/// from `error`, so that no [`Rejection`] can leave them out or change them. Every layer that
/// takes a user's [`Rejection`] answers through this function.
pub(crate) fn respond<B, R: Rejection<B>>(
    rejection: &R,
    error: &AuthError,
    challenge: &Challenge,
) -> Response<B> {
    let mut response = rejection.render(error, challenge);
    error.apply_to(challenge, &mut response);
    response
}

/// The default rejection: an empty body; RFC 6750 carries everything in the status and the
/// `WWW-Authenticate` header.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyBody;

impl<B: Default> Rejection<B> for EmptyBody {
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        error.to_response(challenge)
    }
}

/// A rejection rendered by the user's closure (see [`crate::JwtLayer::with_response`]).
#[derive(Debug, Clone, Copy)]
pub struct WithResponse<F>(pub(crate) F);

impl<F, B> Rejection<B> for WithResponse<F>
where
    F: Fn(&AuthError) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        let mut response = (self.0)(error);
        error.apply_to(challenge, &mut response);
        response
    }
}
