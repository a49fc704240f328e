//! The `gateway` example's `GET /metrics` (Prometheus text) and `GET /ready` (readiness probe),
//! end to end: the real binary on loopback, with a JWKS server of the test's own for the
//! remote case.
//!
//! The gateway's key set clock is the real one, so the wait for a retried fetch is a poll with
//! a generous bound, never a measured time.
#![cfg(all(feature = "remote", feature = "metrics"))]

use crate::example;
use crate::gateway_process;
use crate::jwks_server;

use std::time::Duration;

use gateway_process::{Gateway, Reply};
use http::StatusCode;
use jwks_server::{Behaviour, JwksServer};
use jwt_layer::Algorithm;
use jwt_layer::testing::TestIssuer;

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "gateway-tests";

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn sample(metrics: &Reply, series: &str) -> Option<f64> {
    metrics.body.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.trim().parse().expect("a number"))
    })
}

/// Asks `/ready` until it answers 200; `None` if it never did within the bound.
fn poll_until_ready(gateway: &Gateway) -> Option<Reply> {
    for _ in 0..400 {
        let reply = gateway.get("/ready", &[]);
        if reply.status == 200 {
            return Some(reply);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn metrics_show_the_requests_decided_and_static_keys_are_ready() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = example::TempFile::new(&issuer.jwks_json().to_string());
    let gateway = Gateway::start(&[
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_JWKS_FILE", jwks.path()),
    ]);
    let good = issuer.token().alg(Algorithm::ES256).audience(AUDIENCE).sign();
    let expired = issuer.token().alg(Algorithm::ES256).audience(AUDIENCE).expired().sign();
    assert_eq!(gateway.me(&good).status, 200);
    assert_eq!(gateway.me(&good).status, 200);
    assert_eq!(gateway.me(&expired).status, 401);
    assert_eq!(gateway.get("/me", &[]).status, 401);
    assert_eq!(gateway.me("not-a-token").status, 401);

    let ready = gateway.get("/ready", &[]);
    assert_eq!((ready.status, ready.json()["status"].as_str()), (200, Some("ready")));

    let metrics = gateway.get("/metrics", &[]);
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let requests =
        |labels: &str| sample(&metrics, &format!("jwt_layer_requests_total{{{labels}}}"));
    assert_eq!(requests(r#"outcome="accepted""#), Some(2.0), "{}", metrics.body);
    assert_eq!(requests(r#"outcome="refused",reason="expired""#), Some(1.0));
    assert_eq!(requests(r#"outcome="refused",reason="missing_credentials""#), Some(1.0));
    assert_eq!(requests(r#"outcome="refused",reason="malformed""#), Some(1.0));
    let verified = sample(&metrics, r#"jwt_layer_verification_seconds_count{algorithm="ES256"}"#);
    assert_eq!(verified, Some(3.0), "{}", metrics.body);
    assert!(metrics.body.contains("# TYPE jwt_layer_verification_seconds histogram"));
    assert!(metrics.body.contains("# HELP jwt_layer_requests_total "));
}

#[test]
fn ready_is_503_until_the_remote_key_set_is_fetched() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = TestIssuer::new(ISSUER);
    let failing = Behaviour::json(issuer.jwks_json()).with_status(StatusCode::BAD_GATEWAY);
    let server = runtime.block_on(JwksServer::start(failing));
    let url = server.url();
    let gateway = Gateway::start(&[
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_JWKS_URL", &url),
        ("JWT_JWKS_COOLDOWN_SECS", "1"),
    ]);

    let not_ready = gateway.get("/ready", &[]);
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    let body = not_ready.json();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["reason"], "no_key_set");
    assert!(!body["description"].as_str().unwrap().contains("127.0.0.1"), "{body}");
    let token = issuer.token().alg(Algorithm::EdDSA).audience(AUDIENCE).sign();
    assert_eq!(gateway.me(&token).status, 401);

    server.set(|behaviour| behaviour.status = StatusCode::OK);
    let ready = poll_until_ready(&gateway).expect("ready once the key set can be fetched");
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(gateway.me(&token).status, 200);

    let metrics = gateway.get("/metrics", &[]);
    let fetches = |outcome: &str| {
        let series =
            format!(r#"jwt_layer_key_set_fetches_total{{source="jwks",outcome="{outcome}"}}"#);
        sample(&metrics, &series)
    };
    assert_eq!(fetches("fetched"), Some(1.0), "{}", metrics.body);
    assert!(fetches("failed").is_some_and(|failed| failed >= 1.0), "{}", metrics.body);
    let age = sample(&metrics, r#"jwt_layer_key_set_age_seconds{source="jwks"}"#);
    assert!(age.is_some_and(|age| age >= 0.0), "{}", metrics.body);
    let refused = r#"jwt_layer_requests_total{outcome="refused",reason="keys_unavailable"}"#;
    assert_eq!(sample(&metrics, refused), Some(1.0), "{}", metrics.body);
    drop(server);
}
