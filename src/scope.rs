//! Scopes: what the token grants (`scope` or `scp`), and `RequireScope`, a route layer that
//! answers 403 `insufficient_scope` when a grant is missing (RFC 6750 §3.1).
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_layer::RequireScope;
//!
//! async fn admin() -> &'static str { "welcome" }
//!
//! let admin_routes: Router = Router::new()
//!     .route("/admin", get(admin).route_layer(RequireScope::all(["admin"])));
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::DEFAULT_REALM;
use crate::error::AuthError;
use crate::rejection::{EmptyBody, Rejection};

/// The scopes granted by the verified token: its `scope` claim (space-delimited, RFC 8693
/// §4.2) or, failing that, its `scp` claim (an array, as Okta and Entra ID send it).
///
/// Put into the request's extensions by the layer on every verified request; handlers may
/// extract it with `Extension<Scopes>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    scope: Option<Arc<str>>,
}

impl Scopes {
    pub(crate) fn new(scope: Option<String>) -> Self {
        Scopes { scope: scope.map(Arc::from) }
    }

    /// Each granted scope.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` is granted (exact, case-sensitive match).
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|granted| granted == scope)
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A route layer that lets a request through only if its token grants the scopes.
///
/// Put it under the [`crate::JwtLayer`] (`route_layer` in axum). A request that reached it
/// without verified credentials (an anonymous request in optional mode) is answered 401.
#[derive(Clone)]
pub struct RequireScope<R = EmptyBody> {
    scopes: Arc<[Box<str>]>,
    all: bool,
    realm: Arc<str>,
    rejection: R,
}

impl RequireScope {
    /// Requires every one of `scopes`.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(scopes, true)
    }

    /// Requires at least one of `scopes`.
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(scopes, false)
    }

    fn new<I, S>(scopes: I, all: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScope {
            scopes: scopes.into_iter().map(|s| s.into().into_boxed_str()).collect(),
            all,
            realm: Arc::from(DEFAULT_REALM),
            rejection: EmptyBody,
        }
    }
}

impl<R> RequireScope<R> {
    /// The `realm` of the challenge; use the same as the [`crate::JwtAuth`] (default `api`).
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = Arc::from(realm);
        self
    }

    /// Renders the 403 body with `render`, like [`crate::JwtLayer::with_response`].
    pub fn with_response<F>(self, render: F) -> RequireScope<crate::rejection::WithResponse<F>> {
        RequireScope {
            scopes: self.scopes,
            all: self.all,
            realm: self.realm,
            rejection: crate::rejection::WithResponse(render),
        }
    }

    fn check(&self, granted: Option<&Scopes>) -> Result<(), AuthError> {
        let Some(granted) = granted else {
            return Err(AuthError::MissingCredentials);
        };
        let ok = if self.all {
            self.scopes.iter().all(|s| granted.contains(s))
        } else {
            self.scopes.iter().any(|s| granted.contains(s))
        };
        if ok {
            return Ok(());
        }
        Err(AuthError::InsufficientScope { required: self.scopes.join(" ").into() })
    }
}

impl<R> fmt::Debug for RequireScope<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope")
            .field("scopes", &self.scopes)
            .field("all", &self.all)
            .finish()
    }
}

impl<S, R: Clone> Layer<S> for RequireScope<R> {
    type Service = RequireScopeService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService { inner, config: self.clone() }
    }
}

/// The middleware made by [`RequireScope`].
#[derive(Clone)]
pub struct RequireScopeService<S, R = EmptyBody> {
    inner: S,
    config: RequireScope<R>,
}

impl<S: fmt::Debug, R> fmt::Debug for RequireScopeService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopeService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopeService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: Rejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = futures_util::future::Either<
        S::Future,
        std::future::Ready<Result<Response<ResBody>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.config.check(request.extensions().get::<Scopes>()) {
            Ok(()) => futures_util::future::Either::Left(self.inner.call(request)),
            Err(err) => {
                tracing::info!(status = err.status().as_u16(), reason = %err, "request refused");
                let response = self.config.rejection.render(&err, &self.config.realm);
                futures_util::future::Either::Right(std::future::ready(Ok(response)))
            }
        }
    }
}
