//! Route layers that let a request through only if it is signed in ([`RequireAuth`]) or its
//! verified token grants the values they require: [`RequireScope`], [`RequireRole`] and
//! [`RequirePermission`], each answering 403 `insufficient_scope` when a value is missing
//! (RFC 6750 §3.1), and 401 with the layer's challenge to an anonymous request; and
//! [`RequireStepUp`], answering 401 `insufficient_user_authentication` when the user's sign-in
//! is not strong or recent enough (RFC 9470).
//!
//! Build them from the [`JwtAuth`](crate::JwtAuth) whose layer is in front: `auth.require_any_role(..)` fails
//! with a [`BuildError`](crate::BuildError) when the `JwtAuth` does not read roles, so the mistake shows when the
//! app is built, not as a 500 when a request comes.
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_layer::{JwtAuth, keys::StaticKeys};
//!
//! #[derive(serde::Deserialize)]
//! struct MyClaims {}
//!
//! async fn ok() -> &'static str { "welcome" }
//!
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::hmac([7u8; 32])?)
//!     .issuer("https://login.example")
//!     .audience("my-api")
//!     .roles_claim("realm_access.roles")
//!     .permissions_claim("permissions")
//!     .optional()
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/", get(ok))
//!     .route("/me", get(ok).route_layer(auth.require_auth()))
//!     .route("/admin", get(ok).route_layer(auth.require_all_scopes(["admin"])?))
//!     .route("/reports", get(ok).route_layer(auth.require_any_role(["auditor", "admin"])?))
//!     .route("/items", get(ok).route_layer(auth.require_all_permissions(["write:items"])?))
//!     .layer(auth.layer());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::build_error::BuildError;
use crate::clock::Clock;
use crate::error::{AuthError, Challenge, DEFAULT_REALM};
use crate::grants::authentication::Authentication;
use crate::grants::granted::{Permissions, Roles, Scopes};
use crate::http::rejection::{
    FromLayer, RefusedRequest, Rejection, WithResponse, WithResponseFor, respond,
};
use crate::reason::Misconfiguration;
use crate::token::registered::is_scope_token;

mod sealed {
    /// Keeps [`super::GrantKind`] to this crate's kinds: a kind names an extension that only
    /// the crate's layer puts into a request, after verifying its token.
    pub trait Sealed {}
}

/// Which grant a [`RequireGrant`] checks, and how it answers when one is missing.
///
/// Sealed: implemented by [`ScopeGrant`], [`RoleGrant`], [`PermissionGrant`] and
/// [`SignedIn`] only, since the layer trusts a kind's extension to come from a verified
/// token.
///
/// ```compile_fail
/// use jwt_layer::{AuthError, GrantKind, Scopes};
///
/// enum Anything {}
///
/// impl GrantKind for Anything {
///     type Granted = Scopes;
///     fn contains(_: &Scopes, _: &str) -> bool { true }
///     fn missing(_: &[Box<str>]) -> AuthError { AuthError::InsufficientRole }
/// }
/// ```
pub trait GrantKind: sealed::Sealed + Send + Sync + 'static {
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
    fn unconfigured() -> Option<Misconfiguration> {
        None
    }
    /// The scopes a 401 to an anonymous request advertises (RFC 6750 §3), if the kind is
    /// scopes.
    #[doc(hidden)]
    fn advertised(required: &[Box<str>]) -> Option<Arc<str>> {
        let _ = required;
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
/// Verified credentials of any kind, for [`RequireAuth`].
#[derive(Debug, Clone, Copy)]
pub enum SignedIn {}

impl sealed::Sealed for ScopeGrant {}
impl sealed::Sealed for RoleGrant {}
impl sealed::Sealed for PermissionGrant {}
impl sealed::Sealed for SignedIn {}

impl GrantKind for ScopeGrant {
    type Granted = Scopes;
    fn contains(granted: &Scopes, value: &str) -> bool {
        granted.contains(value)
    }
    /// Every value, for `all` and `any` alike: the `scope` attribute cannot say "one of", and
    /// a client asking for them all gets a token with those it may have (RFC 6749 §3.3),
    /// which is enough for `any`.
    fn missing(required: &[Box<str>]) -> AuthError {
        AuthError::InsufficientScope { required: required.join(" ").into() }
    }
    fn advertised(required: &[Box<str>]) -> Option<Arc<str>> {
        Some(required.join(" ").into())
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
    fn unconfigured() -> Option<Misconfiguration> {
        Some(Misconfiguration::RolesNotRead)
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
    fn unconfigured() -> Option<Misconfiguration> {
        Some(Misconfiguration::PermissionsNotRead)
    }
}

impl GrantKind for SignedIn {
    /// On every verified request, and on no other.
    type Granted = Scopes;
    fn contains(_: &Scopes, _: &str) -> bool {
        true
    }
    fn missing(_: &[Box<str>]) -> AuthError {
        AuthError::MissingCredentials
    }
}

/// A route layer that lets a request through only if its verified token grants the values.
///
/// Put it under the [`crate::JwtLayer`] (`route_layer` in axum), and build it from the
/// [`JwtAuth`](crate::JwtAuth) of that layer ([`JwtAuth::require_any_role`](crate::JwtAuth::require_any_role) and its siblings), which checks
/// that the `JwtAuth` reads the grant. A request that reached it without verified credentials
/// (an anonymous request in optional mode) is answered 401; a token without the grant, 403
/// `insufficient_scope` (with the `scope` attribute for scopes). The challenge is the one of
/// the [`JwtAuth`](crate::JwtAuth) that verified the request: its realm, and the `DPoP` scheme when the request
/// used it. The body is rendered by the layer's renderer ([`FromLayer`]) unless this route
/// layer is given its own.
pub struct RequireGrant<K, R = FromLayer> {
    required: Arc<[Box<str>]>,
    all: bool,
    /// The realm given with [`RequireGrant::realm`], if any.
    realm: Option<Arc<str>>,
    rejection: R,
    _kind: PhantomData<fn() -> K>,
}

/// Requires scopes (`scope`/`scp`); see [`JwtAuth::require_all_scopes`](crate::JwtAuth::require_all_scopes).
pub type RequireScope<R = FromLayer> = RequireGrant<ScopeGrant, R>;
/// Requires roles; see [`JwtAuth::require_any_role`](crate::JwtAuth::require_any_role).
pub type RequireRole<R = FromLayer> = RequireGrant<RoleGrant, R>;
/// Requires permissions; see [`JwtAuth::require_any_permission`](crate::JwtAuth::require_any_permission).
pub type RequirePermission<R = FromLayer> = RequireGrant<PermissionGrant, R>;
/// Requires verified credentials, nothing more: the route layer that makes a route of an
/// optional [`JwtAuth`](crate::JwtAuth) (see [`crate::JwtAuthBuilder::optional`]) answer an anonymous request
/// 401 with the layer's challenge, while the other routes stay open to it.
///
/// ```
/// use axum::{Router, routing::get};
/// use jwt_layer::{Claims, JwtAuth, keys::StaticKeys};
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// async fn me(Claims(claims): Claims<MyClaims>) -> String { claims.sub.clone() }
/// async fn orders() -> &'static str { "your orders" }
/// async fn hello(claims: Option<Claims<MyClaims>>) -> String {
///     claims.map_or_else(|| "hello stranger".into(), |c| format!("hello {}", c.sub))
/// }
///
/// let auth = JwtAuth::<MyClaims>::builder()
///     .keys(StaticKeys::hmac([7u8; 32])?)
///     .issuer("https://login.example")
///     .audience("my-api")
///     .optional()
///     .build()?;
///
/// let app: Router = Router::new()
///     .route("/", get(hello))
///     .route("/me", get(me)) // `Claims<C>` alone answers an anonymous request 401
///     .route("/orders", get(orders).route_layer(auth.require_auth())) // no claims needed
///     .layer(auth.layer());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type RequireAuth<R = FromLayer> = RequireGrant<SignedIn, R>;

/// Whether `granted` holds every one of `required` (`all`) or at least one: the one check of a
/// grant, for the route layers and for a handler's own check alike.
pub(crate) fn meets<K: GrantKind>(
    granted: &K::Granted,
    required: &[Box<str>],
    all: bool,
) -> Result<(), AuthError> {
    let mut values = required.iter().map(|value| &**value);
    let has = |value: &str| K::contains(granted, value);
    let ok = if all { values.all(has) } else { values.any(has) };
    if ok { Ok(()) } else { Err(K::missing(required)) }
}

impl<K: GrantKind> RequireGrant<K> {
    /// The route layer for `values`, refused when no grant could ever equal one of them: an
    /// empty list (`any` of nothing refuses everyone), an empty value, or a value holding a
    /// space (the grants never hold one). What [`crate::JwtAuth::require_all_scopes`] and its
    /// siblings, the one way to make a requirement, hand out.
    pub(crate) fn checked<I, S>(values: I, all: bool) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        let unmatchable = |value: &String| value.is_empty() || value.contains(' ');
        if values.is_empty() || values.iter().any(unmatchable) {
            return Err(BuildError::InvalidRequirement);
        }
        Ok(Self::unchecked(values, all))
    }

    /// The route layer for `values`, unchecked: [`crate::JwtAuth::require_auth`] (no values)
    /// and the checked constructor above.
    pub(crate) fn unchecked<I, S>(values: I, all: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireGrant {
            required: values.into_iter().map(|s| s.into().into_boxed_str()).collect(),
            all,
            realm: None,
            rejection: FromLayer,
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

    /// Renders the refusal body with `render`, like [`crate::JwtLayer::with_response`],
    /// rather than with the layer's renderer.
    pub fn with_response<F>(self, render: F) -> RequireGrant<K, WithResponse<F>> {
        self.with_rejection(WithResponse(render))
    }

    /// Renders the refusal body with `render`, which sees the request's method and path, like
    /// [`crate::JwtLayer::with_response_for`], rather than with the layer's renderer.
    pub fn with_response_for<F>(self, render: F) -> RequireGrant<K, WithResponseFor<F>> {
        self.with_rejection(WithResponseFor(render))
    }

    /// Renders the refusal body with a [`Rejection`] of your own (see its documentation for
    /// what an implementation must do) rather than with the layer's renderer.
    pub fn with_rejection<R2>(self, rejection: R2) -> RequireGrant<K, R2> {
        RequireGrant {
            required: self.required,
            all: self.all,
            realm: self.realm,
            rejection,
            _kind: PhantomData,
        }
    }
}

/// The challenge of the `JwtAuth` in front (put into the extensions with the verified
/// request), with a route layer's own realm if it was given one.
fn route_challenge(extensions: &http::Extensions, realm: Option<&Arc<str>>) -> Challenge {
    match (extensions.get::<Challenge>(), realm) {
        (Some(challenge), None) => challenge.clone(),
        (Some(challenge), Some(realm)) => {
            Challenge { realm: Arc::clone(realm), ..challenge.clone() }
        }
        (None, Some(realm)) => Challenge::bearer(realm),
        (None, None) => Challenge::bearer(DEFAULT_REALM),
    }
}

/// Logs a route layer's refusal and renders it.
fn refuse_route<B, R: Rejection<B>, ReqBody>(
    rejection: &R,
    err: &AuthError,
    challenge: &Challenge,
    request: &Request<ReqBody>,
) -> Response<B> {
    if let AuthError::Misconfigured(_) = err {
        tracing::error!(reason = %err, "refusing: authentication is misconfigured");
    }
    // DEBUG, like the layer's own refusals: a flood of requests without the grant must not
    // become a flood of log lines.
    tracing::debug!(status = err.status().as_u16(), reason = %err, "request refused");
    let refused = RefusedRequest::new(request);
    respond(rejection, err, challenge, &refused)
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
            .finish_non_exhaustive()
    }
}

impl<S, K, R: Clone> Layer<S> for RequireGrant<K, R> {
    type Service = RequireGrantService<S, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RequirementService { inner, config: self.clone() }
    }
}

impl<K: GrantKind, R: Clone> route::Requirement for RequireGrant<K, R> {
    const SERVICE: &'static str = "RequireGrantService";
    type Rejection = R;

    fn rejection(&self) -> &R {
        &self.rejection
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
        meets::<K>(granted, &self.required, self.all)
    }

    fn challenge(&self, extensions: &http::Extensions, err: &AuthError) -> Challenge {
        let mut challenge = route_challenge(extensions, self.realm.as_ref());
        if *err == AuthError::MissingCredentials
            && let Some(scope) = K::advertised(&self.required)
        {
            // This route knows what an anonymous request lacks better than the layer.
            challenge.scope = Some(scope);
        }
        challenge
    }
}

/// The middleware made by [`RequireGrant`] ([`RequireScope`], [`RequireRole`],
/// [`RequirePermission`], [`RequireAuth`]).
pub type RequireGrantService<S, K, R = FromLayer> = RequirementService<S, RequireGrant<K, R>>;

/// A route layer that lets a request through only if the user signed in strongly or recently
/// enough (RFC 9470, OAuth 2.0 Step Up Authentication Challenge): the verified token's `acr`
/// is one of the accepted values, its `auth_time` is at most the maximum age old, or both.
///
/// Build it from the [`JwtAuth`](crate::JwtAuth) whose layer is in front:
/// [`JwtAuth::require_acr`](crate::JwtAuth::require_acr),
/// [`JwtAuth::require_max_auth_age`](crate::JwtAuth::require_max_auth_age), and both on one
/// route with [`RequireStepUp::max_auth_age`], so that a token short of both gets one
/// challenge naming both. It stacks with the scope, role and permission layers.
///
/// A token whose sign-in falls short (no `acr`, another `acr`, no `auth_time`, an older one)
/// is answered 401 `insufficient_user_authentication` with `acr_values` and/or `max_age` in the
/// challenge: what the client asks the authorization server for in a new authorization request
/// (RFC 9470 §3, §4). A token whose `auth_time` is further in the future than the leeway is
/// 401 `invalid_token`; one whose `acr` is not a string or whose `auth_time` is not a number
/// was refused by the layer already. An anonymous request (optional mode) is answered 401 with
/// the layer's challenge. The challenge and the body come from the `JwtAuth` in front, as for
/// [`RequireGrant`].
///
/// ```
/// use std::time::Duration;
///
/// use axum::{Router, routing::{get, post}};
/// use jwt_layer::{JwtAuth, keys::StaticKeys};
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims {}
///
/// async fn ok() -> &'static str { "done" }
///
/// let auth = JwtAuth::<MyClaims>::builder()
///     .keys(StaticKeys::hmac([7u8; 32])?)
///     .issuer("https://login.example")
///     .audience("my-api")
///     .build()?;
///
/// let app: Router = Router::new()
///     .route("/records", get(ok).route_layer(auth.require_acr(["urn:mace:incommon:iap:silver", "phr"])?))
///     .route(
///         "/transfer",
///         post(ok)
///             .route_layer(auth.require_acr(["phr"])?.max_auth_age(Duration::from_secs(300))?)
///             .route_layer(auth.require_all_scopes(["payments"])?),
///     )
///     .route("/settings", get(ok).route_layer(auth.require_max_auth_age(Duration::from_secs(600))?))
///     .layer(auth.layer());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RequireStepUp<R = FromLayer> {
    /// The accepted `acr` values, in order of preference.
    acr: Option<Arc<[Box<str>]>>,
    /// The maximum age of the sign-in, in seconds.
    max_age: Option<u64>,
    /// The clock and leeway of the `JwtAuth` it was built from.
    clock: Option<Arc<dyn Clock>>,
    leeway: f64,
    realm: Option<Arc<str>>,
    rejection: R,
}

impl RequireStepUp {
    /// The requirement of nothing yet, judged by `clock` (the system clock when `None`) with
    /// `leeway` seconds for an `auth_time` in the future.
    pub(crate) fn new(clock: Option<Arc<dyn Clock>>, leeway: f64) -> Self {
        RequireStepUp { acr: None, max_age: None, clock, leeway, realm: None, rejection: FromLayer }
    }

    /// Requires one of `values` as `acr`, refused when no challenge could name them: an empty
    /// list, or a value that is empty or not visible ASCII without a space, `"` or `\`.
    pub(crate) fn acr<I, S>(mut self, values: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<Box<str>> =
            values.into_iter().map(|value| value.into().into_boxed_str()).collect();
        if values.is_empty() || !values.iter().all(|value| is_scope_token(value)) {
            return Err(BuildError::InvalidRequirement);
        }
        self.acr = Some(values.into());
        Ok(self)
    }
}

impl<R> RequireStepUp<R> {
    /// Also requires that the user signed in at most `age` ago (`auth_time`), with the
    /// challenge naming both requirements when a token falls short of either: the way to put
    /// an `acr` requirement and a maximum age on one route. Replaces a maximum age given
    /// before.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidRequirement`] when `age` is not a whole number of seconds (the
    /// challenge's `max_age` is in seconds).
    pub fn max_auth_age(mut self, age: Duration) -> Result<Self, BuildError> {
        if age.subsec_nanos() != 0 {
            return Err(BuildError::InvalidRequirement);
        }
        self.max_age = Some(age.as_secs());
        Ok(self)
    }

    /// Answers with this `realm` rather than the one of the [`crate::JwtAuth`] in front; see
    /// [`RequireGrant::realm`].
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Renders the refusal body with `render` rather than with the layer's renderer; see
    /// [`RequireGrant::with_response`].
    pub fn with_response<F>(self, render: F) -> RequireStepUp<WithResponse<F>> {
        self.with_rejection(WithResponse(render))
    }

    /// Renders the refusal body with `render`, which sees the request's method and path,
    /// rather than with the layer's renderer; see [`RequireGrant::with_response_for`].
    pub fn with_response_for<F>(self, render: F) -> RequireStepUp<WithResponseFor<F>> {
        self.with_rejection(WithResponseFor(render))
    }

    /// Renders the refusal body with a [`Rejection`] of your own rather than with the layer's
    /// renderer; see [`RequireGrant::with_rejection`].
    pub fn with_rejection<R2>(self, rejection: R2) -> RequireStepUp<R2> {
        RequireStepUp {
            acr: self.acr,
            max_age: self.max_age,
            clock: self.clock,
            leeway: self.leeway,
            realm: self.realm,
            rejection,
        }
    }

    /// Whole seconds since the epoch by the `JwtAuth`'s clock: `auth_time` and `max_age` are
    /// whole seconds, so a sign-in exactly `max_age` old still passes.
    fn now(&self) -> f64 {
        let now = self.clock.as_ref().map_or_else(SystemTime::now, |clock| clock.system_time());
        now.duration_since(UNIX_EPOCH).map_or(0.0, |since| since.as_secs() as f64)
    }
}

impl<R: Clone> Clone for RequireStepUp<R> {
    fn clone(&self) -> Self {
        RequireStepUp {
            acr: self.acr.clone(),
            max_age: self.max_age,
            clock: self.clock.clone(),
            leeway: self.leeway,
            realm: self.realm.clone(),
            rejection: self.rejection.clone(),
        }
    }
}

impl<R> fmt::Debug for RequireStepUp<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireStepUp")
            .field("acr", &self.acr)
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl<S, R: Clone> Layer<S> for RequireStepUp<R> {
    type Service = RequireStepUpService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RequirementService { inner, config: self.clone() }
    }
}

impl<R: Clone> route::Requirement for RequireStepUp<R> {
    const SERVICE: &'static str = "RequireStepUpService";
    type Rejection = R;

    fn rejection(&self) -> &R {
        &self.rejection
    }

    fn check(&self, extensions: &http::Extensions) -> Result<(), AuthError> {
        // Scopes are on every verified request: without them, there are no credentials.
        if extensions.get::<Scopes>().is_none() {
            return Err(AuthError::MissingCredentials);
        }
        let signed_in = extensions.get::<Arc<Authentication>>();
        let acr = signed_in.and_then(|signed_in| signed_in.acr.as_deref());
        let auth_time = signed_in.and_then(|signed_in| signed_in.auth_time);
        let mut short = match &self.acr {
            Some(accepted) => !acr.is_some_and(|acr| accepted.iter().any(|a| **a == *acr)),
            None => false,
        };
        if let Some(max_age) = self.max_age {
            match auth_time {
                None => short = true,
                Some(auth_time) => {
                    let now = self.now();
                    if auth_time > now + self.leeway {
                        return Err(AuthError::AuthTimeInTheFuture);
                    }
                    // No leeway here: it would stretch a short maximum age.
                    short |= now - auth_time > max_age as f64;
                }
            }
        }
        if !short {
            return Ok(());
        }
        Err(AuthError::InsufficientUserAuthentication {
            acr_values: self.acr.as_ref().map(|values| values.join(" ").into()),
            max_age: self.max_age,
        })
    }

    fn challenge(&self, extensions: &http::Extensions, _: &AuthError) -> Challenge {
        route_challenge(extensions, self.realm.as_ref())
    }
}

/// The middleware made by [`RequireStepUp`].
pub type RequireStepUpService<S, R = FromLayer> = RequirementService<S, RequireStepUp<R>>;

mod route {
    use crate::error::{AuthError, Challenge};

    /// What a route layer checks and how it challenges a refusal: [`super::RequireGrant`]
    /// and [`super::RequireStepUp`], so that one middleware serves both.
    pub trait Requirement: Clone {
        /// The middleware's name, as its `Debug` shows it.
        const SERVICE: &'static str;
        /// The renderer of refusals.
        type Rejection;
        fn rejection(&self) -> &Self::Rejection;
        /// Whether the verified request (its extensions) meets the requirement.
        fn check(&self, extensions: &http::Extensions) -> Result<(), AuthError>;
        /// The challenge of a refusal for `err`.
        fn challenge(&self, extensions: &http::Extensions, err: &AuthError) -> Challenge;
    }
}

/// The middleware a route layer makes ([`RequireGrantService`], [`RequireStepUpService`]): the
/// inner service for a request that meets the requirement, the refusal otherwise.
pub struct RequirementService<S, L> {
    inner: S,
    config: L,
}

inner_service_accessors!(RequirementService<S, L>);

impl<S: Clone, L: Clone> Clone for RequirementService<S, L> {
    fn clone(&self) -> Self {
        RequirementService { inner: self.inner.clone(), config: self.config.clone() }
    }
}

impl<S: fmt::Debug, L: route::Requirement + fmt::Debug> fmt::Debug for RequirementService<S, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(L::SERVICE)
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, L, ReqBody, ResBody> Service<Request<ReqBody>> for RequirementService<S, L>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    L: route::Requirement,
    L::Rejection: Rejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireGrantFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.config.check(request.extensions()) {
            // The service that was polled ready is the one called; nothing is cloned.
            Ok(()) => RequireGrantFuture { kind: Kind::Inner { future: self.inner.call(request) } },
            Err(err) => {
                let challenge = self.config.challenge(request.extensions(), &err);
                let response = refuse_route(self.config.rejection(), &err, &challenge, &request);
                RequireGrantFuture { kind: Kind::Refused { response: Some(response) } }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequirementService`]: the inner service's answer, or the
    /// refusal.
    pub struct RequireGrantFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for RequireGrantFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}

impl<F, B> fmt::Debug for RequireGrantFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.kind {
            Kind::Inner { .. } => "calling the inner service",
            Kind::Refused { .. } => "refused",
        };
        f.debug_tuple("RequireGrantFuture").field(&format_args!("{state}")).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::convert::Infallible;

    use tower::ServiceExt;

    fn request_with(scopes: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(scopes) = scopes {
            request.extensions_mut().insert(Scopes::new(Some(scopes.into())));
        }
        request
    }

    #[tokio::test]
    async fn lets_through_or_refuses_through_its_own_future() {
        let inner = tower::service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::from("inner")))
        });
        let service = RequireScope::unchecked(["read", "admin"], false).layer(inner);
        assert!(format!("{service:?}").starts_with("RequireGrantService"));

        let future = service.clone().ready().await.unwrap().call(request_with(Some("read")));
        assert_eq!(format!("{future:?}"), "RequireGrantFuture(calling the inner service)");
        assert_eq!(future.await.unwrap().into_body(), "inner");

        let future = service.clone().oneshot(request_with(Some("write")));
        let response = future.await.unwrap();
        assert_eq!(response.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(response.into_body(), "");

        let future = service.clone().ready().await.unwrap().call(request_with(None));
        assert_eq!(format!("{future:?}"), "RequireGrantFuture(refused)");
        assert_eq!(future.await.unwrap().status(), http::StatusCode::UNAUTHORIZED);
    }

    /// A body that tries to pass for a success and to drop the challenge.
    #[derive(Clone)]
    struct Sneaky;

    impl Rejection<String> for Sneaky {
        fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<String> {
            let mut response =
                Response::new(format!("{} in {}", error.description(), challenge.realm()));
            response.headers_mut().insert(http::header::WWW_AUTHENTICATE, "Basic".parse().unwrap());
            response
        }
    }

    #[tokio::test]
    async fn a_custom_rejection_sets_the_body_only() {
        let inner = tower::service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::from("inner")))
        });
        let service = RequireScope::unchecked(["admin"], true)
            .realm("shop")
            .with_rejection(Sneaky)
            .layer(inner);
        let response = service.oneshot(request_with(Some("read"))).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers().get_all(http::header::WWW_AUTHENTICATE).iter().collect::<Vec<_>>(),
            ["Bearer realm=\"shop\", error=\"insufficient_scope\", \
                 error_description=\"insufficient scope\", scope=\"admin\""]
        );
        assert_eq!(response.into_body(), "insufficient scope in shop");
    }

    #[test]
    fn accessors_reach_the_inner_service() {
        let mut service = RequireScope::unchecked(["admin"], true).layer(7_u8);
        assert_eq!(*service.get_ref(), 7);
        *service.get_mut() = 8;
        assert_eq!(service.into_inner(), 8);
    }
}
