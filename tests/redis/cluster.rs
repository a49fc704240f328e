//! `RedisStore::cluster` against a real Redis Cluster: three `redis-server` primaries on free
//! loopback ports, joined by `redis-cli --cluster create`, started by each test and torn down
//! after it. The same semantics as one server: single use of a proof (also under concurrency,
//! from two store instances), expiry at the given time, revocation by `jti` and by subject
//! with keys in different slots (the check reads them one key at a time: a multi-key read
//! across slots is refused by a cluster), and fail closed with 503 while the cluster is down,
//! then recovery once it is back.
//!
//! Needs `redis-server` and `redis-cli` on `PATH`, so every test is ignored
//! (`#[ignore = "…"]`) for plain `cargo test`; `./scripts/test.sh` installs both and runs them
//! with `--include-ignored`. Nothing waits for time to pass: expiries are read from Redis.

use crate::redis_server;
use crate::store_race;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use jwt_layer::store::{RedisStore, ReplayStore, RevocationStore, StoreError, TokenState};
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{Algorithm, Claims, Dpop, JwtAuth};
use redis_server::RedisCluster;
use serde_json::Value;
use store_race::firsts_among_concurrent_uses;
use tower::ServiceExt;

const AUDIENCE: &str = "https://api.example.test";
const URL: &str = "http://api.example.test/orders/42";
/// The store timeout of the outage test (real time: it is what ends a call nobody answers).
const STORE_TIMEOUT: Duration = Duration::from_millis(300);
/// A store call that takes longer than this hangs.
const HANG_GUARD: Duration = Duration::from_secs(20);
/// Requests tried after a restart before the store is declared unable to reconnect.
const RECOVERY_ATTEMPTS: usize = 40;

fn store(cluster: &RedisCluster) -> RedisStore {
    RedisStore::cluster(cluster.urls()).unwrap()
}

fn in_secs(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn state<'a>(jti: Option<&'a str>, sub: Option<&'a str>, iat: Option<f64>) -> TokenState<'a> {
    TokenState { jti, sub, iat }
}

async fn guarded<T>(future: impl std::future::Future<Output = T>, what: &str) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung for {HANG_GUARD:?}"))
}

#[test]
fn a_cluster_needs_nodes_and_valid_urls() {
    let none: [&str; 0] = [];
    assert!(matches!(RedisStore::cluster(none), Err(StoreError::Unavailable(_))));
    let bad = RedisStore::cluster(["redis://127.0.0.1:7000/", "not a url"]);
    assert!(matches!(bad, Err(StoreError::Unavailable(_))));
    let store = RedisStore::cluster(["redis://user:secret@127.0.0.1:7000/"]).unwrap();
    let debug = format!("{store:?}");
    assert!(debug.contains("cluster") && !debug.contains("secret"), "{debug}");
}

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn replay_in_a_cluster_is_single_use_and_spread_over_the_nodes() {
    let cluster = RedisCluster::start();
    let store = store(&cluster);
    let expires = in_secs(60);
    assert_eq!(store.first_use("k1", expires).await, Ok(true));
    assert_eq!(store.first_use("k1", expires).await, Ok(false), "a second use is a replay");
    assert_eq!(store.first_use("k1", in_secs(600)).await, Ok(false), "whatever its expiry");
    assert_eq!(cluster.integer(&["PEXPIRETIME", "jwt-layer:replay:k1"]), millis(expires));

    let short = in_secs(1);
    assert_eq!(store.first_use("short", short).await, Ok(true));
    assert_eq!(cluster.integer(&["PEXPIREAT", "jwt-layer:replay:short", "1"]), 1);
    assert_eq!(store.first_use("short", in_secs(60)).await, Ok(true), "expired, so new again");

    // Keys are not pinned to one slot: a few dozen land on every node.
    for i in 0..60 {
        assert_eq!(store.first_use(&format!("spread-{i}"), expires).await, Ok(true));
    }
    for node in &cluster.nodes {
        assert!(node.integer(&["DBSIZE"]) > 0, "node {} holds no key", node.port);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn concurrent_first_use_in_a_cluster_is_true_exactly_once() {
    let cluster = RedisCluster::start();
    let stores = [Arc::new(store(&cluster)), Arc::new(store(&cluster))];
    for round in 0..3 {
        let firsts = firsts_among_concurrent_uses(&stores, &format!("race-{round}"), 20).await;
        assert_eq!(firsts, 1, "round {round}: exactly one of 20 concurrent uses is the first");
    }
}

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn revocation_in_a_cluster_with_keys_in_different_slots() {
    let cluster = RedisCluster::start();
    let store = store(&cluster);
    let (jti_key, sub_key) = ("jwt-layer:revoked:jti:t1", "jwt-layer:revoked:sub:alice");
    // The two keys one check reads are in different slots: a plain MGET over both is refused
    // with CROSSSLOT, so the store reads them one key at a time.
    assert_ne!(
        cluster.integer(&["CLUSTER", "KEYSLOT", jti_key]),
        cluster.integer(&["CLUSTER", "KEYSLOT", sub_key])
    );

    let alice = |jti, iat| state(Some(jti), Some("alice"), Some(iat));
    assert_eq!(store.is_revoked(alice("t1", 1_000.0)).await, Ok(false));
    let until = in_secs(60);
    store.revoke_token("t1", until).await.unwrap();
    assert_eq!(store.is_revoked(alice("t1", 1_000.0)).await, Ok(true));
    assert_eq!(store.is_revoked(alice("t2", 1_000.0)).await, Ok(false), "only that token");
    assert_eq!(cluster.integer(&["PEXPIRETIME", jti_key]), millis(until));
    // The script again, with a shorter lifetime: never shortened.
    store.revoke_token("t1", in_secs(1)).await.unwrap();
    assert_eq!(cluster.integer(&["PEXPIRETIME", jti_key]), millis(until));

    let cutoff = 1_700_000_000u64;
    let t = UNIX_EPOCH + Duration::from_secs(cutoff);
    let cutoff = cutoff as f64;
    store.revoke_subject("alice", t, until).await.unwrap();
    assert_eq!(store.is_revoked(alice("t2", cutoff - 1.0)).await, Ok(true), "issued before");
    assert_eq!(store.is_revoked(alice("t2", cutoff)).await, Ok(false), "at the cut-off");
    assert_eq!(store.is_revoked(state(Some("t2"), Some("alice"), None)).await, Ok(true));
    assert_eq!(store.is_revoked(state(Some("t2"), Some("bob"), Some(1.0))).await, Ok(false));
    assert_eq!(store.is_revoked(state(None, None, None)).await, Ok(false));
    // An earlier cut-off never shortens a later one; a later one extends it.
    store.revoke_subject("alice", t - Duration::from_secs(1000), until).await.unwrap();
    assert_eq!(store.is_revoked(alice("t2", cutoff - 1.0)).await, Ok(true));
    store.revoke_subject("alice", t + Duration::from_secs(100), until).await.unwrap();
    assert_eq!(store.is_revoked(alice("t2", cutoff + 50.0)).await, Ok(true));
    assert_eq!(cluster.integer(&["PEXPIRETIME", sub_key]), millis(until));

    // A second store (another server of the fleet) sees the same revocations.
    let other = store_with_prefix(&cluster, "jwt-layer:");
    assert_eq!(other.is_revoked(alice("t1", cutoff + 500.0)).await, Ok(true));
}

fn store_with_prefix(cluster: &RedisCluster, prefix: &str) -> RedisStore {
    store(cluster).prefix(prefix)
}

/// A server whose DPoP replay store is `store`.
fn dpop_server(idp: &TestIssuer, store: RedisStore) -> Router {
    async fn me(Claims(claims): Claims<Value>) -> String {
        claims["sub"].as_str().unwrap_or_default().to_owned()
    }
    let dpop = Dpop::allowed().public_origin("http://api.example.test");
    let auth = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .dpop(dpop.replay_store(Arc::new(store)))
        .build()
        .unwrap();
    Router::new().route("/orders/42", get(me)).layer(auth.layer())
}

#[tokio::test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
async fn a_stopped_cluster_fails_closed_and_a_restart_recovers() {
    let mut cluster = RedisCluster::start();
    let idp = TestIssuer::new("https://idp.example.test");
    let app = dpop_server(&idp, store(&cluster).timeout(STORE_TIMEOUT));
    let revocations = store(&cluster).timeout(STORE_TIMEOUT);
    let key = DpopKey::new();
    let token =
        idp.token().audience(AUDIENCE).subject("alice").alg(Algorithm::ES256).bound_to(&key).sign();
    let request = |proof: &str| {
        Request::get("/orders/42")
            .header(header::AUTHORIZATION, format!("DPoP {token}"))
            .header("DPoP", proof)
            .body(Body::empty())
            .unwrap()
    };
    let send = |request| guarded(app.clone().oneshot(request), "request");

    let used = key.proof("GET", URL, &token);
    assert_eq!(send(request(&used)).await.unwrap().status(), StatusCode::OK);

    cluster.stop();
    for attempt in 0..3 {
        // A fresh proof and a replayed one alike: neither is accepted without the store.
        for proof in [key.proof("GET", URL, &token), used.clone()] {
            let response = send(request(&proof)).await.unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{attempt}");
            assert_eq!(response.headers()[header::RETRY_AFTER], "1", "{attempt}");
        }
        let revoked = guarded(revocations.is_revoked(state(Some("j"), Some("s"), None)), "check");
        assert!(matches!(revoked.await, Err(StoreError::Unavailable(_))), "{attempt}");
    }

    // Each node comes back on its port from its nodes.conf (its data is gone: no persistence);
    // the store reconnects, driven by the requests that find it disconnected.
    cluster.restart();
    let mut statuses = Vec::new();
    while statuses.last() != Some(&StatusCode::OK.as_u16()) {
        assert!(statuses.len() < RECOVERY_ATTEMPTS, "no recovery after restart: {statuses:?}");
        let status = send(request(&key.proof("GET", URL, &token))).await.unwrap().status();
        assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{status}");
        statuses.push(status.as_u16());
    }
    eprintln!("after restart: {statuses:?}");
    let check = revocations.is_revoked(state(Some("j"), Some("s"), None));
    assert_eq!(guarded(check, "check").await, Ok(false));
}
