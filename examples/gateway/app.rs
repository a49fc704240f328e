//! The routes: `/me` and `/admin` behind the verifier, the public `/health`, `/ready`,
//! `/metrics` and resource metadata, and the JSON body of every refusal.

use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use jwt_layer::service::RequireStepUp;
use jwt_layer::{AuthError, Claims, JwtAuth, ProtectedResourceMetadata, Readiness, Roles, Scopes};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::config::{Config, ResourceConfig, StepUpConfig};
use crate::verifier::TokenClaims;

/// The gateway's routes around `auth`; `prometheus` renders `GET /metrics`.
pub fn router(
    auth: JwtAuth<TokenClaims>,
    config: &Config,
    prometheus: PrometheusHandle,
) -> Result<Router, String> {
    let roles_configured = !config.roles_claims.is_empty();
    let probed = auth.clone();
    // Refused with the layer's renderer below, like every other refusal.
    let admin_scope = auth.require_all_scopes(["admin"]).map_err(|err| format!("/admin: {err}"))?;
    let metadata =
        config.resource.as_ref().map(|resource| resource_metadata(&auth, resource)).transpose()?;
    let step_up = step_up(&auth, &config.step_up)?;
    let protected = Router::new()
        .route("/me", get(move |claims, roles| me(claims, roles, roles_configured)))
        .route("/admin", get(admin).route_layer(admin_scope));
    // RFC 9470: every protected route asks for the sign-in `JWT_REQUIRE_ACR` and
    // `JWT_MAX_AUTH_AGE_SECS` name, refused with the layer's renderer too.
    let protected = match step_up {
        Some(step_up) => protected.route_layer(step_up),
        None => protected,
    };
    let app = protected
        // The routes above need a valid token; the ones added below are public.
        .route_layer(auth.layer().with_response(json_refusal))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(move || std::future::ready(ready(&probed))))
        .route("/metrics", get(move || std::future::ready(render_metrics(&auth, &prometheus))));
    // Public too: a client reads it before it has a token (RFC 9728 §3).
    let app = match &metadata {
        Some(metadata) => app.route_service(metadata.well_known_path(), metadata.service()),
        None => app,
    };
    Ok(app)
}

/// The step-up requirement of `JWT_REQUIRE_ACR` and `JWT_MAX_AUTH_AGE_SECS`, both in one
/// route layer (so one challenge names both), or `None` when neither is set.
fn step_up(
    auth: &JwtAuth<TokenClaims>,
    step_up: &StepUpConfig,
) -> Result<Option<RequireStepUp>, String> {
    let age = |layer: RequireStepUp| match step_up.max_auth_age {
        Some(age) => layer.max_auth_age(age).map_err(|err| format!("JWT_MAX_AUTH_AGE_SECS: {err}")),
        None => Ok(layer),
    };
    match (&step_up.acr, step_up.max_auth_age) {
        (Some(acr), _) => {
            let layer = auth.require_acr(acr).map_err(|err| format!("JWT_REQUIRE_ACR: {err}"))?;
            age(layer).map(Some)
        }
        (None, Some(max_age)) => auth
            .require_max_auth_age(max_age)
            .map(Some)
            .map_err(|err| format!("JWT_MAX_AUTH_AGE_SECS: {err}")),
        (None, None) => Ok(None),
    }
}

/// The RFC 9728 document of `JWT_RESOURCE_URL`: the accepted issuers as
/// `authorization_servers`, and `JWT_SCOPES_SUPPORTED` (or `admin`) as `scopes_supported`.
fn resource_metadata(
    auth: &JwtAuth<TokenClaims>,
    resource: &ResourceConfig,
) -> Result<ProtectedResourceMetadata, String> {
    let metadata = auth
        .protected_resource_metadata()
        .map_err(|err| format!("JWT_RESOURCE_URL: {err}"))?
        .scopes_supported(&resource.scopes_supported);
    // The router reads `:name` and `*name` segments as captures, and would panic on them.
    let path = metadata.well_known_path();
    if path.split('/').any(|segment| segment.starts_with([':', '*'])) {
        return Err(format!(
            "JWT_RESOURCE_URL: the metadata path {path:?} has a segment starting with : or *, \
             which the router cannot serve"
        ));
    }
    Ok(metadata)
}

/// Latency buckets of the `_seconds` histograms, 10 µs to 1 s: an HS256 verification takes
/// microseconds, one that waited for a key fetch milliseconds.
const SECONDS_BUCKETS: [f64; 12] =
    [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1, 1.0];

/// Installs the Prometheus recorder, without a listener of its own: `GET /metrics` renders it.
/// A task runs its upkeep (draining histogram samples) even when nobody scrapes.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|err| format!("cannot set up metrics: {err}"))?;
    jwt_layer::metrics::describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`: the Prometheus text format. Asking for readiness first brings the key set
/// age gauges up to date.
fn render_metrics<C>(auth: &JwtAuth<C>, prometheus: &PrometheusHandle) -> Response {
    let _ = auth.readiness();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(CONTENT_TYPE, content_type)], prometheus.render()).into_response()
}

/// `GET /ready`: 200 while requests can be verified, 503 with the reason otherwise. Static key
/// sources are always ready; a remote one once it has a usable set (the probe itself retries
/// the fetch, at most once per retry interval).
fn ready<C>(auth: &JwtAuth<C>) -> Response {
    match auth.readiness() {
        Readiness::Ready => Json(json!({ "status": "ready" })).into_response(),
        not_ready => {
            let body = json!({
                "status": "not_ready",
                "reason": not_ready.code(),
                "description": not_ready.to_string(),
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `GET /me`: the verified claims, all of them, byte for byte as the token carries them; with
/// `JWT_ROLES_CLAIM`, beside the roles read from the configured paths.
async fn me(
    Claims(claims): Claims<TokenClaims>,
    roles: Option<Extension<Roles>>,
    roles_configured: bool,
) -> Response {
    if !roles_configured {
        return ([(CONTENT_TYPE, "application/json")], claims.get().to_owned()).into_response();
    }
    /// Serialized as it is (not through a `Value`), so the claims stay the token's own bytes.
    #[derive(serde::Serialize)]
    struct WithRoles<'a> {
        claims: &'a serde_json::value::RawValue,
        roles: Vec<&'a str>,
    }
    let roles: Vec<&str> =
        roles.as_ref().map(|Extension(roles)| roles.iter().collect()).unwrap_or_default();
    Json(WithRoles { claims: &claims, roles }).into_response()
}

/// `GET /admin`: only reached when the token grants `admin`.
async fn admin(
    Claims(claims): Claims<TokenClaims>,
    Extension(scopes): Extension<Scopes>,
) -> Json<serde_json::Value> {
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: Option<serde_json::Value>,
    }
    // The claims already parsed once as JSON during verification, so this cannot fail.
    let sub = serde_json::from_str::<Subject>(claims.get()).ok().and_then(|s| s.sub);
    Json(json!({
        "admin": true,
        "sub": sub,
        "scopes": scopes.iter().collect::<Vec<_>>(),
    }))
}

/// The body of a refusal; status and `WWW-Authenticate` are set by the middleware.
fn json_refusal(err: &AuthError) -> Response {
    let body = match (err, err.error_code()) {
        (_, Some(code)) => json!({ "error": code, "error_description": err.description() }),
        // 503: the DPoP replay store could not record the proof, or the revocation store
        // could not answer; nothing is wrong with the request, so it may be retried (the
        // answer carries `Retry-After`).
        (AuthError::StateUnavailable, None) => json!({
            "error": "temporarily_unavailable",
            "error_description": "token state store unavailable, retry later",
        }),
        // 503: the authorization server could not answer an introspection request; likewise
        // the client may retry.
        (AuthError::IntrospectionUnavailable, None) => json!({
            "error": "temporarily_unavailable",
            "error_description": "token introspection unavailable, retry later",
        }),
        // 500: a route layer is set up wrong (the log says which); nothing the client can fix.
        (AuthError::Misconfigured(_), None) => {
            json!({ "error": "server_error", "error_description": "authentication is misconfigured" })
        }
        // No credentials at all: RFC 6750 gives no error code for that.
        (_, None) => {
            json!({ "error": "unauthorized", "error_description": "access token required" })
        }
    };
    Json(body).into_response()
}
