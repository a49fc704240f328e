//! `RedisStore` against a real `redis-server`, started by each test on a free loopback port:
//! as replay store (single use, expiry, atomicity under concurrency), as revocation store (by
//! `jti`, by subject and cut-off), shared by two layer instances as two servers of a fleet
//! would share it, and during an outage (fail closed with 503 within the timeout, then
//! recovery after a restart on the same port).
//!
//! Needs `redis-server` on `PATH`, so every test that starts one is ignored (`#[ignore = "…"]`) with that
//! reason: plain `cargo test` lists them as ignored, and `./scripts/test.sh` (which installs it,
//! `apt-get install redis-server`) runs them with `--include-ignored`. Run by hand without it, a
//! test FAILS with that instruction; it never passes silently. The test of a Redis that never
//! answers needs no server and always runs.
//!
//! Nothing waits for an entry to expire: each test reads the expiry Redis holds
//! (`PEXPIRETIME`, to the millisecond) and then lets Redis reach it at once (`PEXPIREAT` in the
//! past), which is what the passing of time would do.

use crate::redis_server;
use crate::store_race;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode, header};
use jwt_layer::store::{RedisStore, ReplayStore, RevocationStore, StoreError, TokenState};
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{Algorithm, Claims, Dpop, JwtAuth};
use redis_server::Redis;
use serde_json::Value;
use store_race::firsts_among_concurrent_uses;
use tower::ServiceExt;

const AUDIENCE: &str = "https://api.example.test";
const URL: &str = "http://api.example.test/orders/42";
const ALGS: &str = "RS256 PS256 ES256 ES384 ES512 EdDSA";
/// The store timeout of the outage tests (real time: it is what ends a call Redis never answers).
const STORE_TIMEOUT: Duration = Duration::from_millis(300);
/// A store call that takes longer than this hangs.
const HANG_GUARD: Duration = Duration::from_secs(20);
/// Requests tried after a restart before the store is declared unable to reconnect.
const RECOVERY_ATTEMPTS: usize = 20;

fn store(redis: &Redis) -> RedisStore {
    RedisStore::new(&redis.url()).unwrap()
}

fn in_secs(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn state<'a>(jti: Option<&'a str>, sub: Option<&'a str>, iat: Option<f64>) -> TokenState<'a> {
    TokenState { jti, sub, iat }
}

// ---------------------------------------------------------------------------------------------
// (a) Replay store
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn replay_first_use_then_replay_then_expiry() {
    let redis = Redis::start();
    let store = store(&redis);
    let expires = in_secs(60);
    assert_eq!(store.first_use("k1", expires).await, Ok(true));
    assert_eq!(store.first_use("k1", expires).await, Ok(false), "a second use is a replay");
    assert_eq!(store.first_use("k1", in_secs(600)).await, Ok(false), "whatever its expiry");
    assert_eq!(store.first_use("k2", expires).await, Ok(true), "keys are independent");
    // SET NX PXAT: the entry expires exactly at the given time, to the millisecond.
    assert_eq!(redis.integer(&["PEXPIRETIME", "jwt-layer:replay:k1"]), millis(expires));

    // A one-second entry is a replay within the second and forgotten after it.
    let short = in_secs(1);
    assert_eq!(store.first_use("short", short).await, Ok(true));
    assert_eq!(store.first_use("short", short).await, Ok(false));
    assert_eq!(redis.integer(&["PEXPIRETIME", "jwt-layer:replay:short"]), millis(short));
    redis.expire_now("jwt-layer:replay:short");
    assert_eq!(store.first_use("short", in_secs(60)).await, Ok(true), "expired, so new again");

    // An expiry already past is still recorded (for a millisecond), never an error.
    let past = SystemTime::now() - Duration::from_secs(5);
    assert_eq!(store.first_use("past", past).await, Ok(true));

    // Another prefix is another namespace (two applications sharing one Redis).
    let other = RedisStore::new(&redis.url()).unwrap().prefix("other-app:");
    assert_eq!(other.first_use("k1", expires).await, Ok(true));
    assert_eq!(other.first_use("k1", expires).await, Ok(false));
    assert_eq!(redis.integer(&["EXISTS", "other-app:replay:k1"]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn concurrent_first_use_of_one_key_is_true_exactly_once() {
    let redis = Redis::start();
    // Two store instances, as two servers would have, racing on the same key.
    let stores = [Arc::new(store(&redis)), Arc::new(store(&redis))];
    for round in 0..3 {
        let firsts = firsts_among_concurrent_uses(&stores, &format!("race-{round}"), 20).await;
        assert_eq!(firsts, 1, "round {round}: exactly one of 20 concurrent uses is the first");
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Revocation store
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn revocation_by_jti() {
    let redis = Redis::start();
    let store = store(&redis);
    let alice = |jti| state(Some(jti), Some("alice"), Some(1_000.0));
    assert_eq!(store.is_revoked(alice("t1")).await, Ok(false));
    store.revoke_token("t1", in_secs(60)).await.unwrap();
    assert_eq!(store.is_revoked(alice("t1")).await, Ok(true));
    assert_eq!(store.is_revoked(alice("t2")).await, Ok(false), "only that token");
    assert_eq!(store.is_revoked(state(None, Some("alice"), None)).await, Ok(false));
    assert_eq!(store.is_revoked(state(None, None, None)).await, Ok(false));
    // Revoking twice is harmless; a subject named like the jti is not affected.
    store.revoke_token("t1", in_secs(60)).await.unwrap();
    assert_eq!(store.is_revoked(state(Some("x"), Some("t1"), None)).await, Ok(false));
    // Remembered until the token's own expiry, then forgotten.
    let short = in_secs(1);
    store.revoke_token("short", short).await.unwrap();
    assert_eq!(store.is_revoked(alice("short")).await, Ok(true));
    assert_eq!(redis.integer(&["PEXPIRETIME", "jwt-layer:revoked:jti:short"]), millis(short));
    redis.expire_now("jwt-layer:revoked:jti:short");
    assert_eq!(store.is_revoked(alice("short")).await, Ok(false));
    assert_eq!(store.is_revoked(alice("t1")).await, Ok(true));
}

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn revocation_of_a_subject_before_a_time() {
    let redis = Redis::start();
    let store = store(&redis);
    let cutoff = 1_700_000_000u64;
    let t = UNIX_EPOCH + Duration::from_secs(cutoff);
    let cutoff = cutoff as f64;
    let alice = |iat| state(Some("j"), Some("alice"), iat);
    store.revoke_subject("alice", t, in_secs(60)).await.unwrap();
    assert_eq!(store.is_revoked(alice(Some(cutoff - 1.0))).await, Ok(true), "issued before");
    assert_eq!(store.is_revoked(alice(Some(cutoff - 0.5))).await, Ok(true), "fractional iat");
    assert_eq!(store.is_revoked(alice(Some(cutoff))).await, Ok(false), "issued at the cut-off");
    assert_eq!(store.is_revoked(alice(Some(cutoff + 1.0))).await, Ok(false), "issued after");
    assert_eq!(store.is_revoked(alice(None)).await, Ok(true), "no iat counts as before");
    let bob = state(Some("j"), Some("bob"), Some(cutoff - 1.0));
    assert_eq!(store.is_revoked(bob).await, Ok(false), "other subjects are not affected");
    assert_eq!(store.is_revoked(state(Some("j"), None, None)).await, Ok(false), "no sub");
    assert_eq!(store.is_revoked(state(Some("alice"), None, None)).await, Ok(false));

    // An earlier cut-off never shortens a later one.
    store.revoke_subject("alice", t - Duration::from_secs(1000), in_secs(60)).await.unwrap();
    assert_eq!(store.is_revoked(alice(Some(cutoff - 1.0))).await, Ok(true));
    assert_eq!(store.is_revoked(alice(Some(cutoff - 999.0))).await, Ok(true));
    // A later cut-off extends it.
    store.revoke_subject("alice", t + Duration::from_secs(100), in_secs(60)).await.unwrap();
    assert_eq!(store.is_revoked(alice(Some(cutoff + 50.0))).await, Ok(true));
    assert_eq!(store.is_revoked(alice(Some(cutoff + 100.0))).await, Ok(false));

    // An earlier cut-off with a longer lifetime keeps the later cut-off and takes the longer
    // lifetime.
    let longer = in_secs(3600);
    store.revoke_subject("alice", t, longer).await.unwrap();
    assert_eq!(store.is_revoked(alice(Some(cutoff + 50.0))).await, Ok(true));
    assert_eq!(redis.integer(&["PEXPIRETIME", "jwt-layer:revoked:sub:alice"]), millis(longer));

    // Forgotten after its lifetime.
    let short = in_secs(1);
    store.revoke_subject("carol", t, short).await.unwrap();
    let carol = state(None, Some("carol"), Some(cutoff - 1.0));
    assert_eq!(store.is_revoked(carol).await, Ok(true));
    assert_eq!(redis.integer(&["PEXPIRETIME", "jwt-layer:revoked:sub:carol"]), millis(short));
    redis.expire_now("jwt-layer:revoked:sub:carol");
    assert_eq!(store.is_revoked(carol).await, Ok(false));
}

// ---------------------------------------------------------------------------------------------
// (c) Through the layer: two servers sharing one Redis
// ---------------------------------------------------------------------------------------------

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

fn router(auth: JwtAuth<Value>) -> Router {
    Router::new().route("/orders/42", get(me)).layer(auth.layer())
}

fn builder(idp: &TestIssuer) -> jwt_layer::JwtAuthBuilder<Value> {
    JwtAuth::<Value>::builder().keys(idp.keys()).issuer(idp.issuer()).audience(AUDIENCE)
}

/// A server whose DPoP replay store is `store`.
fn dpop_server(idp: &TestIssuer, store: RedisStore) -> Router {
    router(
        builder(idp)
            .dpop(
                Dpop::allowed()
                    .public_origin("http://api.example.test")
                    .replay_store(Arc::new(store)),
            )
            .build()
            .unwrap(),
    )
}

/// A server that checks revocation in `store` (bearer tokens).
fn revocation_server(idp: &TestIssuer, store: RedisStore) -> Router {
    router(builder(idp).revocation_store(Arc::new(store)).build().unwrap())
}

fn request(scheme: &str, token: &str, proof: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/orders/42")
        .header(header::HOST, "api.example.test")
        .header(header::AUTHORIZATION, format!("{scheme} {token}"));
    if let Some(proof) = proof {
        builder = builder.header("DPoP", proof);
    }
    builder.body(Body::empty()).unwrap()
}

async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    app.clone().oneshot(request).await.unwrap()
}

fn challenges(response: &Response<Body>) -> Vec<String> {
    let values = response.headers().get_all(header::WWW_AUTHENTICATE).iter();
    values.map(|v| v.to_str().unwrap().to_owned()).collect()
}

fn bound_token(idp: &TestIssuer, key: &DpopKey) -> String {
    idp.token().audience(AUDIENCE).subject("alice").alg(Algorithm::ES256).bound_to(key).sign()
}

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn a_proof_used_on_one_server_is_refused_by_another() {
    let redis = Redis::start();
    let idp = TestIssuer::new("https://idp.example.test");
    let (a, b) = (dpop_server(&idp, store(&redis)), dpop_server(&idp, store(&redis)));
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);

    let proof = key.proof("GET", URL, &token);
    let response = send(&a, request("DPoP", &token, Some(&proof))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(&b, request("DPoP", &token, Some(&proof))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&response),
        [format!(
            r#"DPoP realm="api", algs="{ALGS}", error="invalid_dpop_proof", error_description="proof already used""#
        )]
    );
    // And back on the first one, too.
    let response = send(&a, request("DPoP", &token, Some(&proof))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A fresh proof is accepted by either.
    let proof = key.proof("GET", URL, &token);
    assert_eq!(send(&b, request("DPoP", &token, Some(&proof))).await.status(), StatusCode::OK);
    // One entry per accepted proof, in the one Redis both servers share.
    let keys = redis.command(&["KEYS", "jwt-layer:replay:dpop:*"]).unwrap();
    assert_eq!(keys, "*2", "one entry per accepted proof");
}

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn revocation_through_the_layer_on_two_servers() {
    let redis = Redis::start();
    let idp = TestIssuer::new("https://idp.example.test");
    let (a, b) = (revocation_server(&idp, store(&redis)), revocation_server(&idp, store(&redis)));
    let admin = store(&redis);
    let revoked =
        [r#"Bearer realm="api", error="invalid_token", error_description="token revoked""#];

    let token = idp.token().audience(AUDIENCE).subject("alice").claim("jti", "tok-1").sign();
    let other = idp.token().audience(AUDIENCE).subject("alice").claim("jti", "tok-2").sign();
    assert_eq!(send(&a, request("Bearer", &token, None)).await.status(), StatusCode::OK);
    admin.revoke_token("tok-1", in_secs(600)).await.unwrap();
    for server in [&a, &b] {
        let response = send(server, request("Bearer", &token, None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenges(&response), revoked);
        assert_eq!(send(server, request("Bearer", &other, None)).await.status(), StatusCode::OK);
    }

    // Logout everywhere: every token of bob issued before the cut-off.
    let iat = now_secs();
    let old = idp.token().audience(AUDIENCE).subject("bob").claim("iat", iat - 10).sign();
    let cutoff = UNIX_EPOCH + Duration::from_secs(iat);
    admin.revoke_subject("bob", cutoff, in_secs(600)).await.unwrap();
    let response = send(&b, request("Bearer", &old, None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&response), revoked);
    let fresh = idp.token().audience(AUDIENCE).subject("bob").claim("iat", iat).sign();
    assert_eq!(send(&a, request("Bearer", &fresh, None)).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// (d) Outage: fail closed, then recover
// ---------------------------------------------------------------------------------------------

/// `future` under the hang guard.
async fn guarded<T>(future: impl std::future::Future<Output = T>, what: &str) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung for {HANG_GUARD:?}"))
}

/// Asserts a fail-closed answer: 503, `Retry-After: 1`, no challenge, and no hang.
async fn assert_unavailable(app: &Router, request: Request<Body>, what: &str) {
    let response = guarded(send(app, request), what).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(response.headers()[header::RETRY_AFTER], "1", "{what}");
    assert!(challenges(&response).is_empty(), "{what}: no WWW-Authenticate on 503");
}

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn outage_fails_closed_and_a_restart_recovers() {
    let mut redis = Redis::start();
    let port = redis.port;
    let idp = TestIssuer::new("https://idp.example.test");
    let bounded = || store(&redis).timeout(STORE_TIMEOUT);
    let (dpop, revocation) = (dpop_server(&idp, bounded()), revocation_server(&idp, bounded()));
    let key = DpopKey::new();
    let bound = bound_token(&idp, &key);
    let bearer = idp.token().audience(AUDIENCE).subject("alice").sign();
    let dpop_request = || request("DPoP", &bound, Some(&key.proof("GET", URL, &bound)));
    let bearer_request = || request("Bearer", &bearer, None);

    assert_eq!(send(&dpop, dpop_request()).await.status(), StatusCode::OK);
    assert_eq!(send(&revocation, bearer_request()).await.status(), StatusCode::OK);

    redis.stop();
    for attempt in 0..3 {
        assert_unavailable(&dpop, dpop_request(), &format!("DPoP request {attempt}")).await;
        let what = format!("revocation-checked request {attempt}");
        assert_unavailable(&revocation, bearer_request(), &what).await;
    }
    // A bearer request to the DPoP server does not need the store and still works.
    assert_eq!(send(&dpop, bearer_request()).await.status(), StatusCode::OK);

    let _redis = Redis::start_on(port);
    // The store reconnects on its own, driven by the requests that find it disconnected (each
    // one bounded by the store timeout); clients are told to retry after a second.
    for (name, app, make) in [
        ("DPoP", &dpop, &dpop_request as &dyn Fn() -> Request<Body>),
        ("revocation", &revocation, &bearer_request),
    ] {
        let mut statuses = Vec::new();
        while statuses.last() != Some(&StatusCode::OK.as_u16()) {
            assert!(
                statuses.len() < RECOVERY_ATTEMPTS,
                "{name}: no recovery after restart: {statuses:?}"
            );
            let status = guarded(send(app, make()), name).await.status();
            assert!(
                status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
                "{name}: {status}"
            );
            statuses.push(status.as_u16());
        }
        eprintln!("{name} after restart: {statuses:?}");
    }
}

#[tokio::test]
async fn a_redis_that_never_answers_is_bounded_by_the_timeout() {
    // Accepts connections (the kernel completes the handshake) but never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", silent.local_addr().unwrap());
    let store = RedisStore::new(&url).unwrap().timeout(STORE_TIMEOUT);
    // Without the timeout each call would wait for ever: ending before the hang guard is the
    // timeout at work.
    for attempt in 0..2 {
        let result = guarded(store.first_use("k", in_secs(60)), "first_use").await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{attempt}: {result:?}");
        let revoked = store.is_revoked(state(Some("j"), Some("s"), None));
        let result = guarded(revoked, "is_revoked").await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{attempt}: {result:?}");
    }
    drop(silent);
}

/// Revoking again with a shorter lifetime, or a later cut-off with a shorter lifetime, never
/// shortens a revocation (in either store). The shorter lifetimes have already run out when
/// they are given, so a store that took them would forget at once; Redis's expiries are read
/// exactly as well.
#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn a_second_revocation_never_shortens_the_first() {
    let redis = Redis::start();
    let memory = jwt_layer::store::MemoryRevocationStore::default();
    let redis_store = store(&redis);
    let stores: [&dyn RevocationStore; 2] = [&memory, &redis_store];
    let cutoff = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (long, longer, over) =
        (in_secs(3600), in_secs(7200), SystemTime::now() - Duration::from_secs(1));
    for store in stores {
        store.revoke_token("long-then-short", long).await.unwrap();
        store.revoke_token("long-then-short", over).await.unwrap();
        store.revoke_token("short-then-long", in_secs(1)).await.unwrap();
        store.revoke_token("short-then-long", longer).await.unwrap();
        store.revoke_subject("alice", cutoff, long).await.unwrap();
        store.revoke_subject("alice", cutoff + Duration::from_secs(10), over).await.unwrap();
    }
    for (name, store) in [("memory", stores[0]), ("redis", stores[1])] {
        for jti in ["long-then-short", "short-then-long"] {
            assert_eq!(
                store.is_revoked(state(Some(jti), None, None)).await,
                Ok(true),
                "{name} {jti}"
            );
        }
        let old = state(Some("j"), Some("alice"), Some(1_699_999_999.0));
        assert_eq!(store.is_revoked(old).await, Ok(true), "{name} subject");
        let between = state(Some("j"), Some("alice"), Some(1_700_000_005.0));
        assert_eq!(store.is_revoked(between).await, Ok(true), "{name} later cut-off kept");
    }
    let expiry = |key: &str| redis.integer(&["PEXPIRETIME", &format!("jwt-layer:revoked:{key}")]);
    assert_eq!(expiry("jti:long-then-short"), millis(long), "the longer lifetime is kept");
    assert_eq!(expiry("jti:short-then-long"), millis(longer), "a longer lifetime extends");
    assert_eq!(expiry("sub:alice"), millis(long), "the subject's longer lifetime is kept");
}
