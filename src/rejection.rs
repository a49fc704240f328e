//! How a refused request is answered: the body is pluggable, the status and challenge are not.

use http::Response;

use crate::error::{AuthError, Challenge};

/// Renders the response for a refused request.
///
/// Implemented by [`EmptyBody`] (the default) and by [`WithResponse`] around a closure. The
/// status code and `WWW-Authenticate` challenge are always set from the [`AuthError`] after the
/// body is rendered.
pub trait Rejection<B>: Clone + Send + Sync + 'static {
    /// The response for `error`, with status and challenge already applied.
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<B>;
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
