//! What the layer reports through the `metrics` facade (feature `metrics`): each test installs
//! a debugging recorder for itself alone (`metrics::with_local_recorder`, on a single-threaded
//! runtime) and reads back the counters, histograms and gauges with their labels.
//!
//! Tokens are minted with the crate's test kit; the manual clock and the loopback JWKS server
//! are the root package's test helpers, shared by path.

#[path = "../../../tests/support/clock.rs"]
mod clock;
#[path = "../../../tests/support/jwks_server.rs"]
mod jwks_server;

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use clock::ManualClock;
use http::{Request, StatusCode, header};
use jwks_server::{Behaviour, JwksServer};
use jwt_layer::keys::RemoteJwks;
use jwt_layer::store::{RevocationStore, StoreError, StoreFuture, TokenState};
use jwt_layer::testing::{TestIssuer, TokenBuilder, strip_signature};
use jwt_layer::{Algorithm, JwtAuth, JwtAuthBuilder, Readiness};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::ServiceExt;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "jwt-layer-tests";

/// The issuer of this binary's tokens, each of its keys made once, on first use.
fn idp() -> &'static TestIssuer {
    static IDP: LazyLock<TestIssuer> = LazyLock::new(|| TestIssuer::new(ISSUER));
    &IDP
}

/// A token signed with `alg` that passes every check of [`builder`], for the subject `user-1`.
fn token(alg: Algorithm) -> TokenBuilder {
    idp().token().alg(alg).audience(AUDIENCE).subject("user-1")
}

type Entry = (metrics_util::CompositeKey, DebugValue);

/// What a test recorded.
struct Recorded(Vec<Entry>);

impl Recorded {
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut wanted: Vec<(&str, &str)> = labels.to_vec();
        wanted.sort_unstable();
        self.0.iter().find_map(|(key, value)| {
            let key = key.key();
            let mut have: Vec<(&str, &str)> =
                key.labels().map(|label| (label.key(), label.value())).collect();
            have.sort_unstable();
            (key.name() == name && have == wanted).then_some(value)
        })
    }

    /// A counter's value; 0 when it was never incremented.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(name, labels) {
            Some(DebugValue::Counter(value)) => *value,
            None => 0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    /// How many values a histogram holds.
    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        match self.find(name, labels) {
            Some(DebugValue::Histogram(values)) => values.len(),
            None => 0,
            Some(other) => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels)? {
            DebugValue::Gauge(value) => Some(value.0),
            other => panic!("{name} is not a gauge: {other:?}"),
        }
    }

    /// Every label value recorded, for the "nothing from the token" check.
    fn label_values(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(key, _)| key.key().labels().map(|label| label.value().to_owned()))
            .collect()
    }
}

/// Runs `test` on a single-threaded runtime with a recorder of its own.
fn recorded<T>(test: impl Future<Output = T>) -> (T, Recorded) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let out = metrics::with_local_recorder(&recorder, || runtime.block_on(test));
    let entries = snapshotter.snapshot().into_vec();
    (out, Recorded(entries.into_iter().map(|(key, _, _, value)| (key, value)).collect()))
}

fn builder() -> JwtAuthBuilder<serde_json::Value> {
    JwtAuth::builder().keys(idp().keys()).issuer(ISSUER).audience(AUDIENCE)
}

fn app(auth: &JwtAuth<serde_json::Value>) -> Router {
    Router::new().route("/", get(|| async { "ok" })).layer(auth.layer())
}

async fn send(app: &Router, authorization: Option<&str>) -> StatusCode {
    let mut request = Request::get("/");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap().status()
}

const REQUESTS: &str = "jwt_layer_requests_total";
const VERIFICATION: &str = "jwt_layer_verification_seconds";

#[test]
fn an_accepted_request_is_counted_and_timed_by_algorithm() {
    let (status, metrics) = recorded(async {
        let app = app(&builder().build().unwrap());
        let token = token(Algorithm::HS256).sign();
        send(&app, Some(&format!("Bearer {token}"))).await
    });
    assert_eq!(status, StatusCode::OK);
    assert_eq!(metrics.counter(REQUESTS, &[("outcome", "accepted")]), 1);
    assert_eq!(metrics.samples(VERIFICATION, &[("algorithm", "HS256")]), 1);
    assert_eq!(metrics.samples(VERIFICATION, &[("algorithm", "other")]), 0);
}

#[test]
fn each_refusal_is_counted_under_its_class() {
    let expired = token(Algorithm::HS256).claim("exp", 1000).sign();
    let foreign = token(Algorithm::RS256).claim("iss", "https://elsewhere.test").sign();
    let good = token(Algorithm::ES256).sign();
    let (head, _) = good.rsplit_once('.').unwrap();
    // 64 zero bytes, base64url.
    let zeros = "A".repeat(86);
    let unsigned = strip_signature(&token(Algorithm::ES256).raw_header(r#"{"alg":"none"}"#).sign());
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no credentials", None, "missing_credentials"),
        ("bearer without a token", Some("Bearer".into()), "invalid_request"),
        ("not a JWS", Some("Bearer abc".into()), "malformed"),
        ("RFC 8725 §3.1 alg none", Some(format!("Bearer {unsigned}")), "unsupported_algorithm"),
        ("changed signature", Some(format!("Bearer {head}.{zeros}")), "invalid_signature"),
        ("expired", Some(format!("Bearer {expired}")), "expired"),
        ("foreign issuer", Some(format!("Bearer {foreign}")), "invalid_issuer"),
    ];
    for (case, authorization, reason) in cases {
        let (status, metrics) = recorded(async {
            let app = app(&builder().build().unwrap());
            send(&app, authorization.as_deref()).await
        });
        assert!(status.is_client_error(), "{case}: {status}");
        let refused = [("outcome", "refused"), ("reason", reason)];
        assert_eq!(metrics.counter(REQUESTS, &refused), 1, "{case}");
        assert_eq!(metrics.counter(REQUESTS, &[("outcome", "accepted")]), 0, "{case}");
    }
}

#[test]
fn the_algorithm_label_is_a_supported_algorithm_or_other() {
    let (_, metrics) = recorded(async {
        let app = app(&builder().build().unwrap());
        let unknown = idp().token().raw_header(r#"{"alg":"XX999"}"#).raw_payload("{}").sign();
        let odd_kid = token(Algorithm::ES256)
            .raw_header(r#"{"alg":"ES256","kid":"kid-from-the-token"}"#)
            .sign();
        for token in [unknown, odd_kid, token(Algorithm::EdDSA).sign()] {
            send(&app, Some(&format!("Bearer {token}"))).await;
        }
    });
    assert_eq!(metrics.samples(VERIFICATION, &[("algorithm", "other")]), 1);
    assert_eq!(metrics.samples(VERIFICATION, &[("algorithm", "ES256")]), 1);
    assert_eq!(metrics.samples(VERIFICATION, &[("algorithm", "EdDSA")]), 1);
    assert_eq!(metrics.counter(REQUESTS, &[("outcome", "refused"), ("reason", "unknown_key")]), 1);
    // Nothing the tokens carried became a label.
    let values = metrics.label_values();
    assert!(!values.iter().any(|v| v.contains("kid-from") || v.contains("XX999")), "{values:?}");
    assert!(!values.iter().any(|v| v.contains(ISSUER) || v.contains("user-1")), "{values:?}");
}

#[test]
fn verified_token_cache_hits_and_misses_are_counted() {
    let (statuses, metrics) = recorded(async {
        let app = app(&builder().token_cache_size(100, 1 << 20).build().unwrap());
        let bearer = format!("Bearer {}", token(Algorithm::HS256).sign());
        [send(&app, Some(&bearer)).await, send(&app, Some(&bearer)).await]
    });
    assert_eq!(statuses, [StatusCode::OK; 2]);
    let lookups = "jwt_layer_token_cache_lookups_total";
    assert_eq!(metrics.counter(lookups, &[("result", "miss")]), 1);
    assert_eq!(metrics.counter(lookups, &[("result", "hit")]), 1);
    assert_eq!(metrics.counter(REQUESTS, &[("outcome", "accepted")]), 2);
}

/// A revocation store that is down.
struct DownStore;

impl RevocationStore for DownStore {
    fn is_revoked<'a>(&'a self, _: TokenState<'a>) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }

    fn revoke_token<'a>(&'a self, _: &'a str, _: std::time::SystemTime) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn revoke_subject<'a>(
        &'a self,
        _: &'a str,
        _: std::time::SystemTime,
        _: std::time::SystemTime,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[test]
fn a_store_that_cannot_answer_is_counted() {
    let (status, metrics) = recorded(async {
        let app = app(&builder().revocation_store(Arc::new(DownStore)).build().unwrap());
        send(&app, Some(&format!("Bearer {}", token(Algorithm::HS256).sign()))).await
    });
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(metrics.counter("jwt_layer_store_errors_total", &[("store", "revocation")]), 1);
    let refused = [("outcome", "refused"), ("reason", "state_unavailable")];
    assert_eq!(metrics.counter(REQUESTS, &refused), 1);
}

const FETCHES: &str = "jwt_layer_key_set_fetches_total";

#[test]
fn remote_fetches_age_and_unknown_kid_refreshes_are_counted_by_source_name() {
    let ((first, readiness, unknown), metrics) = recorded(async {
        let server = JwksServer::start(Behaviour::json(idp().jwks_json())).await;
        let keys = RemoteJwks::builder(server.url()).name("idp").build().unwrap();
        let auth = JwtAuth::<serde_json::Value>::builder()
            .keys(keys)
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        let app = app(&auth);
        let bearer = format!("Bearer {}", token(Algorithm::EdDSA).sign());
        let first = send(&app, Some(&bearer)).await;
        let readiness = auth.readiness();
        let unknown =
            token(Algorithm::ES256).raw_header(r#"{"alg":"ES256","kid":"not-published"}"#).sign();
        let unknown = send(&app, Some(&format!("Bearer {unknown}"))).await;
        (first, readiness, unknown)
    });
    assert_eq!(first, StatusCode::OK);
    assert_eq!(readiness, Readiness::Ready);
    assert_eq!(unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(metrics.counter(FETCHES, &[("source", "idp"), ("outcome", "fetched")]), 2);
    assert_eq!(metrics.counter(FETCHES, &[("source", "idp"), ("outcome", "failed")]), 0);
    let refreshes = "jwt_layer_key_set_unknown_kid_refreshes_total";
    assert_eq!(metrics.counter(refreshes, &[("source", "idp")]), 1);
    let age = metrics.gauge("jwt_layer_key_set_age_seconds", &[("source", "idp")]);
    assert!(age.is_some_and(|age| age >= 0.0), "{age:?}");
    // The key set's URL is configuration, and still never a label.
    assert!(!metrics.label_values().iter().any(|v| v.contains("127.0.0.1")));
}

#[test]
fn a_failed_fetch_is_counted_and_the_source_is_not_ready() {
    let (readiness, metrics) = recorded(async {
        let server = JwksServer::start(
            Behaviour::json(idp().jwks_json()).with_status(StatusCode::BAD_GATEWAY),
        )
        .await;
        let keys = RemoteJwks::builder(server.url()).name("idp").build().unwrap();
        let auth = JwtAuth::<serde_json::Value>::builder()
            .keys(keys.clone())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        assert!(keys.refresh().await.is_err());
        let bearer = format!("Bearer {}", token(Algorithm::EdDSA).sign());
        assert_eq!(send(&app(&auth), Some(&bearer)).await, StatusCode::UNAUTHORIZED);
        auth.readiness()
    });
    assert_eq!(readiness, Readiness::NoKeySet { source: "idp".into() });
    assert!(!readiness.is_ready());
    assert!(metrics.counter(FETCHES, &[("source", "idp"), ("outcome", "failed")]) >= 1);
    let refused = [("outcome", "refused"), ("reason", "keys_unavailable")];
    assert_eq!(metrics.counter(REQUESTS, &refused), 1);
    assert_eq!(metrics.gauge("jwt_layer_key_set_age_seconds", &[("source", "idp")]), None);
}

#[test]
fn static_keys_are_always_ready() {
    assert!(builder().build().unwrap().readiness().is_ready());
}

#[test]
fn a_set_past_its_staleness_limit_is_not_ready_until_a_probe_brings_it_back() {
    let ((), metrics) = recorded(async {
        let server = JwksServer::start(Behaviour::json(idp().jwks_json())).await;
        let clock = ManualClock::new();
        let keys = RemoteJwks::builder(server.url())
            .name("idp")
            .clock(clock.clone())
            .default_ttl(Duration::from_secs(600))
            .max_staleness(Duration::from_secs(3600))
            .build()
            .unwrap();
        let auth = JwtAuth::<serde_json::Value>::builder()
            .keys(keys.clone())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        let never = auth.readiness();
        assert_eq!(never, Readiness::NoKeySet { source: "idp".into() });
        // The probe started the first fetch.
        assert!(matches!(keys.wait_for_fetch().await, Some(Ok(()))));
        assert_eq!(auth.readiness(), Readiness::Ready);

        server.set(|behaviour| behaviour.status = StatusCode::BAD_GATEWAY);
        clock.advance(Duration::from_secs(600 + 3600 + 1));
        let stale = auth.readiness();
        assert_eq!(
            stale,
            Readiness::Stale { source: "idp".into(), age: Duration::from_secs(4201) }
        );
        assert_eq!(stale.code(), "stale");
        assert!(matches!(keys.wait_for_fetch().await, Some(Err(_))));

        server.set(|behaviour| behaviour.status = StatusCode::OK);
        // Past the retry interval after a failure, the next probe fetches again.
        clock.advance(Duration::from_secs(6));
        assert!(!auth.readiness().is_ready());
        assert!(matches!(keys.wait_for_fetch().await, Some(Ok(()))));
        assert_eq!(auth.readiness(), Readiness::Ready);
    });
    assert_eq!(metrics.counter(FETCHES, &[("source", "idp"), ("outcome", "fetched")]), 2);
    assert_eq!(metrics.counter(FETCHES, &[("source", "idp"), ("outcome", "failed")]), 1);
    assert_eq!(metrics.gauge("jwt_layer_key_set_age_seconds", &[("source", "idp")]), Some(0.0));
}

/// Approves the test issuer, refuses any other, and fails for `https://failing.example`.
struct OneTenant;

impl jwt_layer::tenants::TenantResolver for OneTenant {
    fn resolve<'a>(&'a self, issuer: &'a str) -> jwt_layer::tenants::Resolution<'a> {
        let answer = match issuer {
            ISSUER => Ok(Some(jwt_layer::tenants::Tenant::new(idp().keys()))),
            "https://failing.example" => Err(jwt_layer::tenants::ResolveError("down".into())),
            _ => Ok(None),
        };
        Box::pin(async move { answer })
    }
}

#[test]
fn tenant_resolutions_are_counted_by_result_never_by_issuer() {
    let (statuses, metrics) = recorded(async {
        let tenants = jwt_layer::tenants::Tenants::new(OneTenant);
        let auth = JwtAuth::builder().tenants(tenants).audience(AUDIENCE).build().unwrap();
        let app = app(&auth);
        let mut statuses = Vec::new();
        for issuer in [ISSUER, ISSUER, "https://made-up.example", "https://failing.example"] {
            let token = token(Algorithm::HS256).claim("iss", issuer).sign();
            statuses.push(send(&app, Some(&format!("Bearer {token}"))).await);
        }
        statuses
    });
    assert_eq!(statuses[..3], [StatusCode::OK, StatusCode::OK, StatusCode::UNAUTHORIZED]);
    assert_ne!(statuses[3], StatusCode::OK);
    let resolutions = "jwt_layer_tenant_resolutions_total";
    // The second request of the approved tenant found its answer cached.
    assert_eq!(metrics.counter(resolutions, &[("result", "approved")]), 1);
    assert_eq!(metrics.counter(resolutions, &[("result", "refused")]), 1);
    assert_eq!(metrics.counter(resolutions, &[("result", "failed")]), 1);
    assert_eq!(metrics.gauge("jwt_layer_tenants_live", &[]), Some(1.0));
    let values = metrics.label_values();
    assert!(!values.iter().any(|v| v.contains("example")), "{values:?}");
}
