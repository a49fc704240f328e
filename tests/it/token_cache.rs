//! The verified-token cache, on by default for the layer: a token seen before skips the
//! signature check and its claims' parsing (so a validator does not run again), and nothing
//! else: `exp` is judged on every hit, a key rotated out of the key set ends the entries it
//! verified, and the request's own checks (DPoP proof and binding, replay, revocation) run on
//! every request. `verify` and `explain` never use it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use jwt_layer::store::{MemoryRevocationStore, RevocationStore};
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{Algorithm, Dpop, JwtAuth, JwtAuthBuilder};
use serde_json::Value;
use tower::ServiceExt;

const ORIGIN: &str = "https://api.example";
const URL: &str = "https://api.example/me";

/// A configuration whose validator counts its calls: a hit does not run it.
struct Counted {
    builder: JwtAuthBuilder<Value>,
    validations: Arc<AtomicUsize>,
    /// How far the verifier's clock runs ahead of the real one.
    clock: Arc<Mutex<Duration>>,
}

fn counted(idp: &TestIssuer) -> Counted {
    let validations = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(Mutex::new(Duration::ZERO));
    let calls = Arc::clone(&validations);
    let builder = JwtAuth::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience("api")
        .leeway(Duration::ZERO)
        .clock(OffsetClock(Arc::clone(&clock)))
        .validate(move |_: &Value| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    Counted { builder, validations, clock }
}

fn app(auth: &JwtAuth<Value>) -> Router {
    Router::new().route("/me", get(|| async { "ok" })).layer(auth.layer())
}

async fn status(app: &Router, request: Request<Body>) -> StatusCode {
    app.clone().oneshot(request).await.unwrap().status()
}

fn bearer(token: &str) -> Request<Body> {
    Request::get("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn dpop(token: &str, proof: &str) -> Request<Body> {
    Request::get("/me")
        .header(header::AUTHORIZATION, format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn on_by_default_a_token_seen_before_is_not_verified_again() {
    let idp = issuer();
    let c = counted(idp);
    let app = app(&c.builder.build().unwrap());
    let token = idp.token().audience("api").subject("alice").alg(Algorithm::ES256).sign();
    for _ in 0..5 {
        assert_eq!(status(&app, bearer(&token)).await, StatusCode::OK);
    }
    assert_eq!(c.validations.load(Ordering::SeqCst), 1);
    // One changed byte is another token: verified, and refused.
    let forged = jwt_layer::testing::tamper(&token);
    assert_eq!(status(&app, bearer(&forged)).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn turned_off_every_request_is_verified() {
    let idp = issuer();
    let c = counted(idp);
    let app = app(&c.builder.token_cache(false).build().unwrap());
    let token = idp.token().audience("api").subject("alice").sign();
    for _ in 0..3 {
        assert_eq!(status(&app, bearer(&token)).await, StatusCode::OK);
    }
    assert_eq!(c.validations.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn verify_and_explain_never_use_it() {
    let idp = issuer();
    let c = counted(idp);
    let auth = c.builder.build().unwrap();
    let token = idp.token().audience("api").subject("alice").sign();
    assert_eq!(status(&app(&auth), bearer(&token)).await, StatusCode::OK);
    assert_eq!(auth.verify(&token).await.unwrap()["sub"], "alice");
    assert_eq!(auth.explain(&token).await.verdict(), Ok(()));
    assert_eq!(c.validations.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn exp_is_judged_on_every_hit() {
    let idp = issuer();
    let c = counted(idp);
    let app = app(&c.builder.build().unwrap());
    let token = idp.token().audience("api").subject("a").expires_in(Duration::from_secs(60)).sign();
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::OK);
    *c.clock.lock().unwrap() += Duration::from_secs(61);
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::UNAUTHORIZED);
    // A token not yet valid is refused, and so never cached.
    let later = idp.token().audience("api").subject("b").claim("nbf", now_plus(3600)).sign();
    assert_eq!(status(&app, bearer(&later)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, bearer(&later)).await, StatusCode::UNAUTHORIZED);
}

/// The identity provider rotates its keys (or revokes one, which takes it out of its JWKS):
/// once the verifier has the new set, a cached token signed by the old key is refused, as it
/// would be uncached. A key fetched again unchanged keeps its entries.
#[cfg(feature = "remote")]
#[tokio::test]
async fn a_key_that_leaves_the_key_set_ends_its_entries() {
    let idp = TestIssuer::start().await.unwrap();
    let remote = jwt_layer::keys::RemoteJwks::builder(idp.jwks_url().unwrap()).build().unwrap();
    remote.refresh().await.unwrap();
    let validations = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&validations);
    let auth = JwtAuth::<Value>::builder()
        .keys(remote.clone())
        .issuer(idp.issuer())
        .audience("api")
        .validate(move |_: &Value| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .build()
        .unwrap();
    let app = app(&auth);
    let token = idp.token().audience("api").subject("a").alg(Algorithm::RS256).sign();
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::OK);
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::OK);
    assert_eq!(validations.load(Ordering::SeqCst), 1);

    // The same keys fetched again: still the same keys, still a hit.
    remote.refresh().await.unwrap();
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::OK);
    assert_eq!(validations.load(Ordering::SeqCst), 1);

    idp.rotate();
    remote.refresh().await.unwrap();
    let refused = app.clone().oneshot(bearer(&token)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(auth.verify(&token).await.unwrap_err(), jwt_layer::AuthError::UnknownKey);
    // A token from the new key is verified (and cached) as usual.
    let fresh = idp.token().audience("api").subject("a").alg(Algorithm::RS256).sign();
    assert_eq!(status(&app, bearer(&fresh)).await, StatusCode::OK);
    assert_eq!(status(&app, bearer(&fresh)).await, StatusCode::OK);
    assert_eq!(validations.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn revocation_is_consulted_on_every_hit() {
    let idp = issuer();
    let revoked = Arc::new(MemoryRevocationStore::default());
    let c = counted(idp);
    let app = app(&c.builder.revocation_store(revoked.clone()).build().unwrap());
    let token = idp.token().audience("api").subject("a").claim("jti", "t-1").sign();
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::OK);
    revoked.revoke_token("t-1", SystemTime::now() + Duration::from_secs(600)).await.unwrap();
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(c.validations.load(Ordering::SeqCst), 1);
}

/// A cached DPoP-bound token still needs a fresh proof by its key on every request.
#[tokio::test]
async fn the_dpop_proof_and_its_single_use_are_checked_on_every_hit() {
    let idp = issuer();
    let c = counted(idp);
    let app = app(&c.builder.dpop(Dpop::allowed().public_origin(ORIGIN)).build().unwrap());
    let key = DpopKey::new();
    let token = idp.token().audience("api").subject("a").bound_to(&key).sign();
    let proof = key.proof("GET", URL, &token);
    assert_eq!(status(&app, dpop(&token, &proof)).await, StatusCode::OK);
    // The same proof again: a replay.
    assert_eq!(status(&app, dpop(&token, &proof)).await, StatusCode::UNAUTHORIZED);
    // No proof, or one by another key.
    assert_eq!(status(&app, bearer(&token)).await, StatusCode::UNAUTHORIZED);
    let other = DpopKey::new().proof("GET", URL, &token);
    assert_eq!(status(&app, dpop(&token, &other)).await, StatusCode::UNAUTHORIZED);
    // A fresh proof by the token's key: accepted, from the cache.
    assert_eq!(status(&app, dpop(&token, &key.proof("GET", URL, &token))).await, StatusCode::OK);
    assert_eq!(c.validations.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let idp = issuer();
    let c = counted(idp);
    let app = app(&c.builder.token_cache_size(4, 1 << 20).build().unwrap());
    let tokens: Vec<String> = (0..200)
        .map(|i| {
            let subject = format!("user-{i}");
            idp.token().audience("api").subject(&subject).alg(Algorithm::HS256).sign()
        })
        .collect();
    for round in 0..2 {
        for token in &tokens {
            assert_eq!(status(&app, bearer(token)).await, StatusCode::OK, "round {round}");
        }
    }
    // The cache held a few of the 200 tokens: the second round was verified again nearly in
    // full.
    let validations = c.validations.load(Ordering::SeqCst);
    assert!(validations >= 350, "{validations} validations");
}

/// One issuer for the tests of this file (its keys are made once).
fn issuer() -> &'static TestIssuer {
    static ISSUER: std::sync::OnceLock<TestIssuer> = std::sync::OnceLock::new();
    ISSUER.get_or_init(|| TestIssuer::new("https://issuer.test"))
}

fn now_plus(seconds: u64) -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + seconds
}

/// The system clock moved forward by a duration the test sets.
#[derive(Debug)]
struct OffsetClock(Arc<Mutex<Duration>>);

impl jwt_layer::keys::Clock for OffsetClock {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now() + *self.0.lock().unwrap()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now() + *self.0.lock().unwrap()
    }
}
