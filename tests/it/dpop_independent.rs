//! DPoP (RFC 9449) against tokens and proofs made by an independent implementation: jwcrypto
//! made the issuer's JWKS, the ES256 access tokens bound by `cnf.jkt` (its own RFC 7638
//! thumbprints) to P-256, Ed25519 and RSA client keys, and proofs with a fixed `iat`, good and
//! bad (`tests/fixtures/dpop/make_fixtures.py`). The verifier's clock is pinned to that `iat`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode, header};
use jwt_layer::keys::{FixedClock, StaticKeys};
use jwt_layer::store::{ReplayStore, StoreFuture};
use jwt_layer::{Claims, Dpop, JwtAuth};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

const ALGS: &str = "RS256 PS256 ES256 ES384 ES512 EdDSA";

#[derive(Deserialize)]
struct Fixtures {
    issuer: String,
    audience: String,
    now: u64,
    url: String,
    issuer_jwks: Value,
    clients: std::collections::BTreeMap<String, Client>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Client {
    alg: String,
    jkt: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    client: String,
    scheme: String,
    method: String,
    path: String,
    token: String,
    proof: Option<String>,
    expect: String,
}

fn fixtures() -> Fixtures {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dpop/fixtures.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn proof_error(description: &str) -> String {
    format!(
        r#"DPoP realm="api", algs="{ALGS}", error="invalid_dpop_proof", error_description="{description}""#
    )
}

/// The answer each fixture must get: status and `WWW-Authenticate` values.
fn expected(name: &str) -> (StatusCode, Vec<String>) {
    let refused = |challenge: String| (StatusCode::UNAUTHORIZED, vec![challenge]);
    match name {
        "valid_p256" | "valid_ed25519" | "valid_rsa" => (StatusCode::OK, vec![]),
        "wrong_htm" => refused(proof_error("proof htm does not match")),
        "wrong_htu" => refused(proof_error("proof htu does not match")),
        "wrong_ath" => refused(proof_error("proof ath does not match the token")),
        // A well-formed proof, but by a key other than the one the token is bound to.
        "signed_by_another_key" => refused(format!(
            r#"DPoP realm="api", algs="{ALGS}", error="invalid_token", error_description="invalid DPoP key binding""#
        )),
        // The embedded (bound) key does not verify the other key's signature.
        "signed_by_another_key_claiming_client_jwk" => {
            refused(proof_error("proof signature invalid"))
        }
        "typ_jwt" => refused(proof_error("proof typ is not dpop+jwt")),
        "embedded_private_key" => refused(proof_error("proof jwk is not a public key")),
        // RFC 9449 §7.1: a bound token is never accepted as a bearer token; the answer names
        // the DPoP scheme the client must use.
        "bound_token_as_bearer" => refused(
            r#"DPoP realm="api", algs="RS256 PS256 ES256 ES384 ES512 EdDSA", error="invalid_token", error_description="DPoP proof required""#
                .to_owned(),
        ),
        other => panic!("no expectation for fixture {other}"),
    }
}

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

/// A server whose clock reads the fixtures' `now`, so their fixed `iat` is fresh.
fn app(fixtures: &Fixtures, now: SystemTime) -> Router {
    let auth = JwtAuth::<Value>::builder()
        .keys(StaticKeys::from_jwks(fixtures.issuer_jwks.to_string()).unwrap())
        .issuer(fixtures.issuer.clone())
        .audience(fixtures.audience.clone())
        .clock(FixedClock::at(now))
        .dpop(Dpop::allowed().public_origin("http://api.example.test"))
        .build()
        .unwrap();
    Router::new().route("/orders/42", get(me).post(me)).layer(auth.layer())
}

fn request(case: &Case) -> Request<Body> {
    let mut builder = Request::builder()
        .method(case.method.as_str())
        .uri(case.path.as_str())
        .header(header::HOST, "api.example.test")
        .header(header::AUTHORIZATION, format!("{} {}", case.scheme, case.token));
    if let Some(proof) = &case.proof {
        builder = builder.header("DPoP", proof.as_str());
    }
    builder.body(Body::empty()).unwrap()
}

fn challenges(response: &Response<Body>) -> Vec<String> {
    let values = response.headers().get_all(header::WWW_AUTHENTICATE).iter();
    values.map(|v| v.to_str().unwrap().to_owned()).collect()
}

fn fixed_now(fixtures: &Fixtures) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(fixtures.now)
}

#[tokio::test]
async fn every_fixture_gets_its_status_and_challenge() {
    let fixtures = fixtures();
    assert_eq!(fixtures.url, "http://api.example.test/orders/42");
    let names: Vec<&str> = fixtures.cases.iter().map(|c| c.name.as_str()).collect();
    for required in [
        "valid_p256",
        "valid_ed25519",
        "valid_rsa",
        "wrong_htm",
        "wrong_htu",
        "wrong_ath",
        "signed_by_another_key",
        "typ_jwt",
        "embedded_private_key",
    ] {
        assert!(names.contains(&required), "fixture {required} is missing");
    }
    let mut failures = Vec::new();
    for case in &fixtures.cases {
        // A fresh server per case, so no proof is refused as a replay of an earlier case.
        let app = app(&fixtures, fixed_now(&fixtures));
        let response = app.oneshot(request(case)).await.unwrap();
        let got = (response.status(), challenges(&response));
        let want = expected(&case.name);
        assert_eq!(case.expect == "accept", want.0 == StatusCode::OK, "{}: verdict", case.name);
        if got != want {
            failures.push(format!("{} ({}): got {got:?}, want {want:?}", case.name, case.client));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_clients_use_every_key_type_and_python_thumbprints_bind_them() {
    let fixtures = fixtures();
    let algs: Vec<&str> = fixtures.clients.values().map(|c| c.alg.as_str()).collect();
    assert_eq!(algs, ["EdDSA", "ES256", "RS256"]);
    for (name, client) in &fixtures.clients {
        let case = fixtures.cases.iter().find(|c| c.name == format!("valid_{name}")).unwrap();
        let payload = case.token.split('.').nth(1).unwrap();
        let payload: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        // The token carries jwcrypto's thumbprint, which the layer accepted above only if its
        // own RFC 7638 computation over the proof's jwk gives the same value.
        assert_eq!(payload["cnf"]["jkt"], client.jkt, "{name}");
    }
}

/// Remembers every key forever, and what expiry the layer asked for.
#[derive(Default)]
struct Remembering(Mutex<HashMap<String, SystemTime>>);

impl ReplayStore for Remembering {
    fn first_use<'a>(&'a self, key: &'a str, expires_at: SystemTime) -> StoreFuture<'a, bool> {
        let first = self.0.lock().unwrap().insert(key.to_owned(), expires_at).is_none();
        Box::pin(std::future::ready(Ok(first)))
    }
}

#[tokio::test]
async fn a_fixture_proof_is_accepted_once() {
    // The built-in stores compare expiries with the system clock, not the verifier's, so with
    // a clock pinned in the past they forget a proof at once; this store keeps every key.
    let fixtures = fixtures();
    let now = fixed_now(&fixtures);
    let store = Arc::new(Remembering::default());
    let auth = JwtAuth::<Value>::builder()
        .keys(StaticKeys::from_jwks(fixtures.issuer_jwks.to_string()).unwrap())
        .issuer(fixtures.issuer.clone())
        .audience(fixtures.audience.clone())
        .clock(FixedClock::at(now))
        .dpop(Dpop::allowed().public_origin("http://api.example.test").replay_store(store.clone()))
        .build()
        .unwrap();
    let app = Router::new().route("/orders/42", get(me)).layer(auth.layer());
    let case = fixtures.cases.iter().find(|c| c.name == "valid_p256").unwrap();
    let response = app.clone().oneshot(request(case)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.oneshot(request(case)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&response), [proof_error("proof already used")]);
    // Keyed by the proof key's thumbprint and the proof's jti, kept for the proof window
    // (60 s max age + twice the 5 s leeway) in wall-clock time, whatever the verifier's clock.
    let jkt = &fixtures.clients["p256"].jkt;
    let recorded: Vec<_> = store.0.lock().unwrap().clone().into_iter().collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, format!("dpop:{jkt}:proof-1"));
    let remembered_for = recorded[0].1.duration_since(SystemTime::now()).unwrap();
    assert!(remembered_for > Duration::from_secs(60) && remembered_for <= Duration::from_secs(70));
}

#[tokio::test]
async fn the_fixed_iat_is_only_fresh_at_the_fixed_time() {
    let fixtures = fixtures();
    let case = fixtures.cases.iter().find(|c| c.name == "valid_p256").unwrap();
    // Two minutes later the proof is too old (60 s + 5 s leeway); the token is still valid.
    let later = fixed_now(&fixtures) + Duration::from_secs(120);
    let response = app(&fixtures, later).oneshot(request(case)).await.unwrap();
    assert_eq!(
        (response.status(), challenges(&response)),
        (StatusCode::UNAUTHORIZED, vec![proof_error("proof too old")])
    );
    // A minute earlier it is from the future.
    let earlier = fixed_now(&fixtures) - Duration::from_secs(60);
    let response = app(&fixtures, earlier).oneshot(request(case)).await.unwrap();
    assert_eq!(challenges(&response), [proof_error("proof issued in the future")]);
    // After the token's exp (now + 1 h, plus the 60 s leeway) the token itself is refused.
    let expired = fixed_now(&fixtures) + Duration::from_secs(3600 + 61);
    let response = app(&fixtures, expired).oneshot(request(case)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(&response).join(" ");
    assert!(challenge.contains(r#"error_description="token expired""#), "{challenge}");
}
