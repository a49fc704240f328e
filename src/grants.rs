//! What a verified token grants, and route layers that require it: scopes (`scope`/`scp`),
//! roles and permissions (from configurable claim paths), each answered 403
//! `insufficient_scope` when missing (RFC 6750 §3.1).
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_layer::{RequirePermission, RequireRole, RequireScope};
//!
//! async fn ok() -> &'static str { "welcome" }
//!
//! let routes: Router = Router::new()
//!     .route("/admin", get(ok).route_layer(RequireScope::all(["admin"])))
//!     .route("/reports", get(ok).route_layer(RequireRole::any(["auditor", "admin"])))
//!     .route("/items", get(ok).route_layer(RequirePermission::all(["write:items"])));
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{AuthError, Challenge, DEFAULT_REALM};
use crate::rejection::{EmptyBody, Rejection, WithResponse};

/// A list of granted values (space-delimited internally), put into request extensions.
#[derive(Clone, Default, PartialEq, Eq)]
struct GrantList(Option<Arc<str>>);

impl GrantList {
    fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }

    fn contains(&self, wanted: &str) -> bool {
        self.iter().any(|granted| granted == wanted)
    }
}

macro_rules! grant_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq)]
        pub struct $name(GrantList);

        impl $name {
            /// Each granted value.
            pub fn iter(&self) -> impl Iterator<Item = &str> {
                self.0.iter()
            }

            /// Whether `value` is granted (exact, case-sensitive match).
            pub fn contains(&self, value: &str) -> bool {
                self.0.contains(value)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.iter()).finish()
            }
        }
    };
}

grant_type!(
    /// The scopes granted by the verified token: its `scope` claim (space-delimited, RFC 8693
    /// §4.2) or, failing that, its `scp` claim (an array, as Okta and Entra ID send it). An
    /// `scp` entry that is not one RFC 6749 §3.3 scope-token (empty, or holding a space, `"`,
    /// `\` or a control character) is ignored, never split into several scopes.
    ///
    /// Put into the request's extensions on every verified request; handlers may extract it
    /// with `Extension<Scopes>`.
    Scopes
);

grant_type!(
    /// The roles of the verified token, read from the claim paths given to
    /// [`crate::JwtAuthBuilder::roles_claim`] (for example Keycloak's `realm_access.roles`,
    /// Entra ID's `roles`). Put into the request's extensions when configured.
    Roles
);

grant_type!(
    /// The permissions of the verified token, read from the claim paths given to
    /// [`crate::JwtAuthBuilder::permissions_claim`] (for example Auth0's `permissions`). Put
    /// into the request's extensions when configured.
    Permissions
);

/// Space-joins values that contain no spaces themselves (a value with a space could be
/// mistaken for two).
fn joined<'a>(values: impl IntoIterator<Item = &'a str>) -> GrantList {
    let mut text = String::new();
    for value in values.into_iter().filter(|v| !v.is_empty() && !v.contains(' ')) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(value);
    }
    GrantList((!text.is_empty()).then(|| Arc::from(text)))
}

impl Scopes {
    pub(crate) fn new(scope: Option<Arc<str>>) -> Self {
        Scopes(GrantList(scope))
    }
}

impl Roles {
    pub(crate) fn new(values: &[String]) -> Self {
        Roles(joined(values.iter().map(String::as_str)))
    }
}

impl Permissions {
    pub(crate) fn new(values: &[String]) -> Self {
        Permissions(joined(values.iter().map(String::as_str)))
    }
}

/// Which grant a [`RequireGrant`] checks, and how it answers when one is missing.
pub trait GrantKind: Send + Sync + 'static {
    /// The extension the layer reads.
    #[doc(hidden)]
    type Granted: Clone + Send + Sync + 'static;
    #[doc(hidden)]
    fn contains(granted: &Self::Granted, value: &str) -> bool;
    #[doc(hidden)]
    fn missing(required: &[Box<str>]) -> AuthError;
    /// Why the grant can be absent from a verified request (its claim path is not
    /// configured); `None` when a verified request always carries it.
    #[doc(hidden)]
    fn unconfigured() -> Option<&'static str> {
        None
    }
}

/// Scopes, for [`RequireScope`].
#[derive(Debug, Clone, Copy)]
pub enum ScopeGrant {}
/// Roles, for [`RequireRole`].
#[derive(Debug, Clone, Copy)]
pub enum RoleGrant {}
/// Permissions, for [`RequirePermission`].
#[derive(Debug, Clone, Copy)]
pub enum PermissionGrant {}

impl GrantKind for ScopeGrant {
    type Granted = Scopes;
    fn contains(granted: &Scopes, value: &str) -> bool {
        granted.contains(value)
    }
    fn missing(required: &[Box<str>]) -> AuthError {
        AuthError::InsufficientScope { required: required.join(" ").into() }
    }
}

impl GrantKind for RoleGrant {
    type Granted = Roles;
    fn contains(granted: &Roles, value: &str) -> bool {
        granted.contains(value)
    }
    fn missing(_: &[Box<str>]) -> AuthError {
        AuthError::InsufficientRole
    }
    fn unconfigured() -> Option<&'static str> {
        Some("RequireRole needs JwtAuthBuilder::roles_claim")
    }
}

impl GrantKind for PermissionGrant {
    type Granted = Permissions;
    fn contains(granted: &Permissions, value: &str) -> bool {
        granted.contains(value)
    }
    fn missing(_: &[Box<str>]) -> AuthError {
        AuthError::InsufficientPermission
    }
    fn unconfigured() -> Option<&'static str> {
        Some("RequirePermission needs JwtAuthBuilder::permissions_claim")
    }
}

/// A route layer that lets a request through only if its verified token grants the values.
///
/// Put it under the [`crate::JwtLayer`] (`route_layer` in axum). A request that reached it
/// without verified credentials (an anonymous request in optional mode) is answered 401; a
/// token without the grant, 403 `insufficient_scope` (with the `scope` attribute for scopes).
pub struct RequireGrant<K, R = EmptyBody> {
    required: Arc<[Box<str>]>,
    all: bool,
    /// The realm given with [`RequireGrant::realm`], if any.
    realm: Option<Arc<str>>,
    rejection: R,
    _kind: PhantomData<fn() -> K>,
}

/// Requires scopes (`scope`/`scp`).
pub type RequireScope<R = EmptyBody> = RequireGrant<ScopeGrant, R>;
/// Requires roles (see [`crate::JwtAuthBuilder::roles_claim`]).
pub type RequireRole<R = EmptyBody> = RequireGrant<RoleGrant, R>;
/// Requires permissions (see [`crate::JwtAuthBuilder::permissions_claim`]).
pub type RequirePermission<R = EmptyBody> = RequireGrant<PermissionGrant, R>;

impl<K: GrantKind> RequireGrant<K> {
    /// Requires every one of `values`.
    pub fn all<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(values, true)
    }

    /// Requires at least one of `values`.
    pub fn any<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(values, false)
    }

    fn new<I, S>(values: I, all: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireGrant {
            required: values.into_iter().map(|s| s.into().into_boxed_str()).collect(),
            all,
            realm: None,
            rejection: EmptyBody,
            _kind: PhantomData,
        }
    }
}

impl<K: GrantKind, R> RequireGrant<K, R> {
    /// Answers with this `realm` rather than the one of the [`crate::JwtAuth`] in front.
    ///
    /// Rarely needed: by default a refusal carries the challenge of the `JwtAuth` that
    /// verified the request (its realm, and the `DPoP` scheme when the request used it), and
    /// [`crate::DEFAULT_REALM`] for a request that did not pass through one. A realm given here
    /// names another protection space (RFC 7235 §2.2) for this route and wins over the
    /// `JwtAuth`'s; the rest of the challenge still comes from the `JwtAuth`. Like the
    /// builder's realm, it must be visible ASCII without `"` or `\`.
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Renders the refusal body with `render`, like [`crate::JwtLayer::with_response`].
    pub fn with_response<F>(self, render: F) -> RequireGrant<K, WithResponse<F>> {
        RequireGrant {
            required: self.required,
            all: self.all,
            realm: self.realm,
            rejection: WithResponse(render),
            _kind: PhantomData,
        }
    }

    fn check(&self, extensions: &http::Extensions) -> Result<(), AuthError> {
        let Some(granted) = extensions.get::<K::Granted>() else {
            // Scopes are on every verified request: without them, there are no credentials;
            // with them, the grant's claim path was never configured.
            return match (extensions.get::<Scopes>(), K::unconfigured()) {
                (Some(_), Some(reason)) => Err(AuthError::Misconfigured(reason)),
                _ => Err(AuthError::MissingCredentials),
            };
        };
        let mut required = self.required.iter().map(|value| &**value);
        let has = |value: &str| K::contains(granted, value);
        let ok = if self.all { required.all(has) } else { required.any(has) };
        if ok { Ok(()) } else { Err(K::missing(&self.required)) }
    }

    /// The challenge of the `JwtAuth` in front (put into the extensions with the verified
    /// request), with this layer's own realm if it was given one.
    fn challenge(&self, extensions: &http::Extensions) -> Challenge {
        match (extensions.get::<Challenge>(), &self.realm) {
            (Some(challenge), None) => challenge.clone(),
            (Some(challenge), Some(realm)) => {
                Challenge { realm: Arc::clone(realm), ..challenge.clone() }
            }
            (None, Some(realm)) => Challenge::bearer(realm),
            (None, None) => Challenge::bearer(DEFAULT_REALM),
        }
    }
}

impl<K, R: Clone> Clone for RequireGrant<K, R> {
    fn clone(&self) -> Self {
        RequireGrant {
            required: Arc::clone(&self.required),
            all: self.all,
            realm: self.realm.clone(),
            rejection: self.rejection.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K, R> fmt::Debug for RequireGrant<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireGrant")
            .field("kind", &std::any::type_name::<K>())
            .field("required", &self.required)
            .field("all", &self.all)
            .field("realm", &self.realm)
            .finish()
    }
}

impl<S, K, R: Clone> Layer<S> for RequireGrant<K, R> {
    type Service = RequireGrantService<S, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireGrantService { inner, config: self.clone() }
    }
}

/// The middleware made by [`RequireGrant`] ([`RequireScope`], [`RequireRole`],
/// [`RequirePermission`]).
pub struct RequireGrantService<S, K, R = EmptyBody> {
    inner: S,
    config: RequireGrant<K, R>,
}

impl<S: Clone, K, R: Clone> Clone for RequireGrantService<S, K, R> {
    fn clone(&self) -> Self {
        RequireGrantService { inner: self.inner.clone(), config: self.config.clone() }
    }
}

impl<S: fmt::Debug, K, R> fmt::Debug for RequireGrantService<S, K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireGrantService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, K, R, ReqBody, ResBody> Service<Request<ReqBody>> for RequireGrantService<S, K, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    K: GrantKind,
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
        match self.config.check(request.extensions()) {
            Ok(()) => futures_util::future::Either::Left(self.inner.call(request)),
            Err(err) => {
                if let AuthError::Misconfigured(_) = err {
                    tracing::error!(reason = %err, "refusing: authentication is misconfigured");
                }
                tracing::info!(status = err.status().as_u16(), reason = %err, "request refused");
                let challenge = self.config.challenge(request.extensions());
                let response = self.config.rejection.render(&err, &challenge);
                futures_util::future::Either::Right(std::future::ready(Ok(response)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_spaces_are_not_split_into_two() {
        let roles = Roles::new(&["a b".to_owned(), "c".to_owned()]);
        assert!(roles.contains("c") && !roles.contains("a") && !roles.contains("b"));
    }
}
