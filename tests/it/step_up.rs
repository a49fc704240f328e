//! Step-up authentication (RFC 9470): route requirements on the token's `acr` and `auth_time`
//! (`require_acr`, `require_max_auth_age`, both at once with `RequireStepUp::max_auth_age`),
//! answered 401 `insufficient_user_authentication` with `acr_values` and/or `max_age` in the
//! challenge, through the layer and its renderer. Time is the test's own clock, moved by hand.

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use jwt_layer::keys::Clock;
use jwt_layer::testing::TokenBuilder;
use jwt_layer::{AuthError, BuildError, JwtAuth, JwtAuthBuilder, RefusedRequest};
use serde_json::{Value, json};

use crate::clock::ManualClock;
use crate::common::{AUDIENCE, issuer};

const SILVER: &str = "urn:mace:incommon:iap:silver";

fn builder(clock: &ManualClock) -> JwtAuthBuilder<Value> {
    let idp = issuer();
    JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .clock(clock.clone())
}

/// Seconds since the epoch by `clock`.
fn seconds(clock: &ManualClock) -> i64 {
    let since = clock.system_time().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// A token valid for an hour from the machine's time (the test clock starts there).
fn token() -> TokenBuilder {
    issuer().token().audience(AUDIENCE).subject("alice").expires_in(Duration::from_secs(3600))
}

async fn ok() -> &'static str {
    "ok"
}

async fn call(app: &Router, path: &str, token: &str) -> (StatusCode, Vec<String>, String) {
    let request = crate::common::request(path, Some(&format!("Bearer {token}")));
    crate::common::answered(app, request).await
}

fn allowed() -> (StatusCode, Vec<String>, String) {
    (StatusCode::OK, vec![], "ok".to_owned())
}

fn step_up(description: &str, params: &str) -> (StatusCode, Vec<String>, String) {
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", {params}"#
    );
    (StatusCode::UNAUTHORIZED, vec![challenge], String::new())
}

fn invalid_token(description: &str) -> (StatusCode, Vec<String>, String) {
    let challenge =
        format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#);
    (StatusCode::UNAUTHORIZED, vec![challenge], String::new())
}

#[tokio::test]
async fn acr_must_be_one_of_the_accepted_values() {
    let clock = ManualClock::new();
    let auth = builder(&clock).build().unwrap();
    let app = Router::new()
        .route("/records", get(ok).route_layer(auth.require_acr([SILVER, "phr"]).unwrap()))
        .route("/open", get(ok))
        .layer(auth.layer());

    for accepted in [SILVER, "phr"] {
        let good = token().claim("acr", accepted).sign();
        assert_eq!(call(&app, "/records", &good).await, allowed(), "{accepted}");
    }
    // RFC 9470 §3: the accepted values, in order of preference.
    let refused = step_up(
        "a different authentication level is required",
        &format!(r#"acr_values="{SILVER} phr""#),
    );
    let weak = token().claim("acr", "1").sign();
    assert_eq!(call(&app, "/records", &weak).await, refused);
    // Compared exactly: no case folding, no prefix.
    let cased = token().claim("acr", "PHR").sign();
    assert_eq!(call(&app, "/records", &cased).await, refused);
    let plain = token().sign();
    assert_eq!(call(&app, "/records", &plain).await, refused);
    // A route without the requirement takes the weak token.
    assert_eq!(call(&app, "/open", &weak).await, allowed());
}

#[tokio::test]
async fn auth_time_must_be_recent_enough_by_the_jwt_auth_clock() {
    let clock = ManualClock::new();
    let auth = builder(&clock).build().unwrap();
    let max_age = auth.require_max_auth_age(Duration::from_secs(300)).unwrap();
    let app = Router::new().route("/settings", get(ok).route_layer(max_age)).layer(auth.layer());
    let now = seconds(&clock);
    let refused = step_up("more recent authentication is required", r#"max_age="300""#);

    let fresh = token().claim("auth_time", now - 100).sign();
    assert_eq!(call(&app, "/settings", &fresh).await, allowed());
    let exactly = token().claim("auth_time", now - 300).sign();
    assert_eq!(call(&app, "/settings", &exactly).await, allowed());
    let stale = token().claim("auth_time", now - 301).sign();
    assert_eq!(call(&app, "/settings", &stale).await, refused);
    // Without `auth_time`, the age is unknown: the same challenge.
    let unknown = token().sign();
    assert_eq!(call(&app, "/settings", &unknown).await, refused);

    // Within the leeway (60 s) a sign-in "in the future" is clock skew; beyond it, a bad token.
    let skewed = token().claim("auth_time", now + 60).sign();
    assert_eq!(call(&app, "/settings", &skewed).await, allowed());
    let future = token().claim("auth_time", now + 61).sign();
    assert_eq!(
        call(&app, "/settings", &future).await,
        invalid_token("authentication time in the future")
    );

    // The same token ages with the clock (the leeway does not stretch the maximum age).
    clock.advance(Duration::from_secs(201));
    assert_eq!(call(&app, "/settings", &fresh).await, refused);
}

#[tokio::test]
async fn acr_and_max_age_together_name_both_and_stack_with_scopes() {
    let clock = ManualClock::new();
    let auth = builder(&clock).build().unwrap();
    let step_up_rule = auth.require_acr(["phr"]).unwrap().max_auth_age(Duration::from_secs(60));
    let app = Router::new()
        .route(
            "/transfer",
            get(ok)
                .route_layer(step_up_rule.unwrap())
                .route_layer(auth.require_all_scopes(["payments"]).unwrap()),
        )
        .layer(auth.layer());
    let now = seconds(&clock);
    let both = step_up(
        "stronger or more recent authentication is required",
        r#"acr_values="phr", max_age="60""#,
    );

    let good = token().scope("payments").claim("acr", "phr").claim("auth_time", now - 10).sign();
    assert_eq!(call(&app, "/transfer", &good).await, allowed());
    // Short of either, or both: one challenge naming both, so one new sign-in satisfies the
    // route (RFC 9470 §3).
    let weak = token().scope("payments").claim("acr", "1").claim("auth_time", now - 10).sign();
    assert_eq!(call(&app, "/transfer", &weak).await, both);
    let stale = token().scope("payments").claim("acr", "phr").claim("auth_time", now - 61).sign();
    assert_eq!(call(&app, "/transfer", &stale).await, both);
    let plain = token().scope("payments").sign();
    assert_eq!(call(&app, "/transfer", &plain).await, both);
    // The scope layer (outer) answers first: 403 for the missing scope.
    let unscoped = token().scope("read").claim("acr", "phr").claim("auth_time", now).sign();
    let (status, challenges, _) = call(&app, "/transfer", &unscoped).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenges[0].contains(r#"error="insufficient_scope""#), "{challenges:?}");
}

/// `acr` must be a string and `auth_time` a number (OpenID Connect Core §2): otherwise the
/// token is refused by the layer on every route, as for `exp` of the wrong type.
#[tokio::test]
async fn acr_and_auth_time_of_the_wrong_type_are_invalid_tokens() {
    let clock = ManualClock::new();
    let auth = builder(&clock).build().unwrap();
    let app = Router::new()
        .route("/open", get(ok))
        .route("/settings", get(ok).route_layer(auth.require_max_auth_age(Duration::ZERO).unwrap()))
        .layer(auth.layer());
    let now = seconds(&clock);
    let cases = [
        ("auth_time", json!(now.to_string())),
        ("auth_time", json!(null)),
        ("acr", json!(2)),
        ("acr", json!(["phr"])),
    ];
    for (claim, value) in cases {
        let bad = token().claim(claim, value.clone()).sign();
        for path in ["/open", "/settings"] {
            let answer = call(&app, path, &bad).await;
            assert_eq!(answer, invalid_token("invalid claim type"), "{claim}={value} on {path}");
        }
    }
    let err = auth.verify(&token().claim("auth_time", "yesterday").sign()).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidClaimType(jwt_layer::reason::RegisteredClaim::AuthTime));
    // `max_age=0`: signed in this very second.
    let now_token = token().claim("auth_time", now).sign();
    assert_eq!(call(&app, "/settings", &now_token).await, allowed());
}

#[tokio::test]
async fn requirements_no_challenge_could_name_are_refused_at_build() {
    let clock = ManualClock::new();
    let auth = builder(&clock).build().unwrap();
    let invalid = Err(BuildError::InvalidRequirement);
    assert_eq!(auth.require_acr(Vec::<String>::new()).map(drop), invalid);
    for value in ["", "two words", "quo\"te", "back\\slash", "caf\u{e9}", "tab\t"] {
        assert_eq!(auth.require_acr(["phr", value]).map(drop), invalid, "{value:?}");
    }
    // `max_age` is whole seconds.
    assert_eq!(auth.require_max_auth_age(Duration::from_millis(1500)).map(drop), invalid);
    let acr = auth.require_acr(["phr"]).unwrap();
    assert_eq!(acr.max_auth_age(Duration::from_nanos(1)).map(drop), invalid);
    assert!(auth.require_max_auth_age(Duration::from_secs(86_400)).is_ok());
}

/// The layer's renderer renders the refusal, as it does the others: a problem document here,
/// with the status and challenge still set by the layer.
#[tokio::test]
async fn the_layers_renderer_renders_the_refusal() {
    let clock = ManualClock::new();
    let auth = builder(&clock).build().unwrap();
    let problem = |err: &AuthError, request: &RefusedRequest<'_>| -> Response {
        let body = json!({
            "type": "about:blank",
            "title": err.description(),
            "status": err.status().as_u16(),
            "error": err.error_code(),
            "instance": request.path(),
        });
        ([("content-type", "application/problem+json")], body.to_string()).into_response()
    };
    let app = Router::new()
        .route("/records", get(ok).route_layer(auth.require_acr(["phr"]).unwrap()))
        .layer(auth.layer().with_response_for(problem));
    let weak = token().claim("acr", "1").sign();
    let (status, challenges, body) = call(&app, "/records", &weak).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        [
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="phr""#
        ]
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "type": "about:blank",
            "title": "a different authentication level is required",
            "status": 401,
            "error": "insufficient_user_authentication",
            "instance": "/records",
        })
    );
}

/// An anonymous request (optional mode) gets the layer's plain challenge; a realm given to the
/// route layer wins.
#[tokio::test]
async fn anonymous_requests_get_the_plain_challenge() {
    let clock = ManualClock::new();
    let auth = builder(&clock).optional().build().unwrap();
    let app = Router::new()
        .route("/records", get(ok).route_layer(auth.require_acr(["phr"]).unwrap()))
        .route(
            "/vault",
            get(ok).route_layer(
                auth.require_max_auth_age(Duration::from_secs(5)).unwrap().realm("vault"),
            ),
        )
        .layer(auth.layer());
    let anonymous = crate::common::answered(&app, crate::common::request("/records", None)).await;
    assert_eq!(
        anonymous,
        (StatusCode::UNAUTHORIZED, vec![r#"Bearer realm="api""#.to_owned()], String::new())
    );
    let plain = token().sign();
    let (status, challenges, _) = call(&app, "/vault", &plain).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        [
            r#"Bearer realm="vault", error="insufficient_user_authentication", error_description="more recent authentication is required", max_age="5""#
        ]
    );
}
