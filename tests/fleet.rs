//! Two `gateway` processes as members of one fleet: the real binary twice, both configured
//! with `JWT_REDIS_URL` for the same `redis-server`, which the test starts on a free loopback
//! port and stops afterwards. A DPoP proof accepted by one gateway is a replay to the other;
//! the same fresh proof sent to both at once is accepted exactly once; a token revoked in
//! Redis by another process is refused by both; while Redis is down, every request that needs
//! it is refused with 503 and `Retry-After` (a replay and a revoked token included), and once
//! Redis is back on the same port both recover without a restart. Two gateways on a Redis
//! Cluster (`JWT_REDIS_CLUSTER=1`) share proofs and revocations the same way.
//!
//! Needs `redis-server` on `PATH`, so the tests that start one are ignored
//! (`#[ignore = "…"]`) for plain `cargo test`; `./scripts/test.sh` installs it and runs them
//! with `--include-ignored`. Nothing waits for time to pass or asserts how long anything took;
//! the only waits are for readiness, each bounded by a hang guard.
#![cfg(feature = "remote")]

#[path = "support/example.rs"]
mod example;
#[path = "support/gateway_process.rs"]
mod gateway_process;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use example::TempFile;
use gateway_process::{Gateway, Reply};
use jwt_layer::Algorithm;
use jwt_layer::store::{RedisStore, RevocationStore};
use jwt_layer::testing::{DpopKey, TestIssuer};
use redis_server::{Redis, RedisCluster};

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "fleet-tests";
/// The origin clients use; the proofs' `htu` is this plus the path.
const PUBLIC_URL: &str = "http://api.example.test";
const PREFIX: &str = "fleet:";
/// The gateways' bound on each Redis operation (real time: it is what ends a call to a Redis
/// that is gone).
const TIMEOUT_MS: &str = "300";
/// Requests tried after Redis is back before a gateway is declared unable to reconnect.
const RECOVERY_ATTEMPTS: usize = 40;

/// An issuer, its keys in a file, and two gateways sharing `redis`.
struct Fleet {
    idp: TestIssuer,
    gateways: [Gateway; 2],
    _jwks: TempFile,
}

impl Fleet {
    fn start(redis: &Redis) -> Fleet {
        Fleet::start_with(&[("JWT_REDIS_URL", &redis.url())])
    }

    /// Two gateways on a Redis Cluster.
    fn start_on_cluster(cluster: &RedisCluster) -> Fleet {
        let urls = cluster.urls().join(",");
        Fleet::start_with(&[("JWT_REDIS_URL", &urls), ("JWT_REDIS_CLUSTER", "1")])
    }

    fn start_with(redis: &[(&str, &str)]) -> Fleet {
        let idp = TestIssuer::new(ISSUER);
        let jwks = TempFile::new(&idp.jwks_json().to_string());
        let mut env = vec![
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", AUDIENCE),
            ("JWT_JWKS_FILE", jwks.path()),
            ("JWT_DPOP", "allowed"),
            ("JWT_PUBLIC_URL", PUBLIC_URL),
            ("JWT_REDIS_PREFIX", PREFIX),
            ("JWT_REDIS_TIMEOUT_MS", TIMEOUT_MS),
        ];
        env.extend_from_slice(redis);
        let gateways = [Gateway::start(&env), Gateway::start(&env)];
        Fleet { idp, gateways, _jwks: jwks }
    }

    /// A token bound to `key`, with this `jti`.
    fn bound_token(&self, key: &DpopKey, jti: &str) -> String {
        self.idp
            .token()
            .audience(AUDIENCE)
            .subject("alice")
            .claim("jti", jti)
            .alg(Algorithm::ES256)
            .bound_to(key)
            .sign()
    }

    fn bearer_token(&self, jti: &str) -> String {
        self.idp.token().audience(AUDIENCE).subject("bob").claim("jti", jti).sign()
    }
}

/// A fresh proof for `GET /me` with `token`.
fn proof(key: &DpopKey, token: &str) -> String {
    key.proof("GET", &format!("{PUBLIC_URL}/me"), token)
}

fn dpop(gateway: &Gateway, token: &str, proof: &str) -> Reply {
    gateway.get("/me", &[("Authorization", &format!("DPoP {token}")), ("DPoP", proof)])
}

/// The process that revokes: not a gateway, the same Redis and prefix.
fn admin(redis: &Redis) -> RedisStore {
    RedisStore::new(&redis.url()).unwrap().prefix(PREFIX)
}

fn revoke_token(store: &RedisStore, jti: &str) {
    let until = SystemTime::now() + Duration::from_secs(600);
    runtime().block_on(store.revoke_token(jti, until)).unwrap();
}

fn revoke_subject(store: &RedisStore, sub: &str, issued_before: SystemTime) {
    let until = SystemTime::now() + Duration::from_secs(600);
    runtime().block_on(store.revoke_subject(sub, issued_before, until)).unwrap();
}

/// One runtime for every store call of the test: a store's connection lives on the runtime
/// it was made on, and its tasks need a runtime that keeps running.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(1).enable_all().build().unwrap()
    })
}

fn assert_replayed(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("DPoP ")
            && challenge.contains(r#"error="invalid_dpop_proof""#)
            && challenge.contains(r#"error_description="proof already used""#),
        "{what}: {challenge}"
    );
}

fn assert_revoked(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(challenge.contains(r#"error_description="token revoked""#), "{what}: {challenge}");
}

/// 503, `Retry-After: 1`, no challenge, and the JSON reason.
fn assert_unavailable(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 503, "{what}: {}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"), "{what}");
    assert_eq!(reply.header("www-authenticate"), None, "{what}");
    assert_eq!(reply.json()["error"], "temporarily_unavailable", "{what}");
}

#[test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
fn a_proof_accepted_by_one_gateway_is_a_replay_to_the_other() {
    let redis = Redis::start();
    let fleet = Fleet::start(&redis);
    let [a, b] = &fleet.gateways;
    let key = DpopKey::new();
    let token = fleet.bound_token(&key, "tok-1");

    let used = proof(&key, &token);
    let reply = dpop(a, &token, &used);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["sub"], "alice");
    assert_replayed(&dpop(b, &token, &used), "the same proof at the other gateway");
    assert_replayed(&dpop(a, &token, &used), "and at the first one again");
    assert_eq!(dpop(b, &token, &proof(&key, &token)).status, 200, "a fresh proof");
    // Recorded in the one Redis both share, under the configured prefix.
    assert_eq!(redis.command(&["KEYS", "fleet:replay:dpop:*"]).unwrap(), "*2");
}

#[test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
fn a_token_revoked_in_redis_is_refused_by_every_gateway() {
    let redis = Redis::start();
    let fleet = Fleet::start(&redis);
    let key = DpopKey::new();
    let (token, other) = (fleet.bearer_token("tok-1"), fleet.bearer_token("tok-2"));
    for gateway in &fleet.gateways {
        assert_eq!(gateway.me(&token).status, 200);
    }
    // The gateways have no revocation endpoint: another process writes into the same Redis.
    revoke_token(&admin(&redis), "tok-1");
    for gateway in &fleet.gateways {
        assert_revoked(&gateway.me(&token), "revoked by jti");
        assert_eq!(gateway.me(&other).status, 200, "only that token");
    }

    // Every token of alice issued before now (DPoP-bound ones too): logout everywhere.
    let bound = fleet.bound_token(&key, "tok-3");
    let cutoff = SystemTime::now() + Duration::from_secs(1);
    revoke_subject(&admin(&redis), "alice", cutoff);
    for gateway in &fleet.gateways {
        assert_revoked(&dpop(gateway, &bound, &proof(&key, &bound)), "revoked by subject");
    }
    let later = (cutoff + Duration::from_secs(1)).duration_since(UNIX_EPOCH).unwrap().as_secs();
    let fresh = fleet
        .idp
        .token()
        .audience(AUDIENCE)
        .subject("alice")
        .claim("iat", later)
        .alg(Algorithm::ES256)
        .bound_to(&key)
        .sign();
    for gateway in &fleet.gateways {
        assert_eq!(dpop(gateway, &fresh, &proof(&key, &fresh)).status, 200, "issued after");
    }
}

#[test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
fn the_same_proof_sent_to_both_at_once_is_accepted_exactly_once() {
    let redis = Redis::start();
    let fleet = Arc::new(Fleet::start(&redis));
    let key = DpopKey::new();
    let token = Arc::new(fleet.bound_token(&key, "tok-1"));
    const SENDERS: usize = 6;
    for round in 0..5 {
        let proof = Arc::new(proof(&key, &token));
        let barrier = Arc::new(Barrier::new(SENDERS));
        let senders: Vec<_> = (0..SENDERS)
            .map(|i| {
                let (fleet, token, proof) =
                    (Arc::clone(&fleet), Arc::clone(&token), Arc::clone(&proof));
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    dpop(&fleet.gateways[i % 2], &token, &proof)
                })
            })
            .collect();
        let replies: Vec<Reply> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        let accepted = replies.iter().filter(|reply| reply.status == 200).count();
        assert_eq!(accepted, 1, "round {round}: exactly one of {SENDERS} is accepted");
        for reply in replies.iter().filter(|reply| reply.status != 200) {
            assert_replayed(reply, &format!("round {round}"));
        }
    }
}

#[test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
fn with_redis_down_both_refuse_with_503_and_recover_when_it_is_back() {
    // Every write reaches disk before Redis answers, so the restart below keeps what was
    // recorded before the outage, as a production Redis with persistence would.
    let mut redis = Redis::start_persistent();
    let fleet = Fleet::start(&redis);
    let key = DpopKey::new();
    let token = fleet.bound_token(&key, "tok-1");
    let bearer = fleet.bearer_token("tok-2");
    let revoked = fleet.bearer_token("tok-3");
    let used = proof(&key, &token);
    assert_eq!(dpop(&fleet.gateways[0], &token, &used).status, 200);
    revoke_token(&admin(&redis), "tok-3");
    for gateway in &fleet.gateways {
        assert_eq!(gateway.me(&bearer).status, 200);
        assert_revoked(&gateway.me(&revoked), "before the outage");
    }

    redis.stop();
    for (name, gateway) in ["a", "b"].iter().zip(&fleet.gateways) {
        for attempt in 0..2 {
            let what = |case: &str| format!("gateway {name}, {case}, attempt {attempt}");
            let fresh = proof(&key, &token);
            assert_unavailable(&dpop(gateway, &token, &fresh), &what("fresh proof"));
            assert_unavailable(&dpop(gateway, &token, &used), &what("replayed proof"));
            assert_unavailable(&gateway.me(&revoked), &what("revoked token"));
            // Every token needs the revocation check, so none passes unchecked.
            assert_unavailable(&gateway.me(&bearer), &what("valid bearer token"));
        }
        assert_eq!(gateway.get("/health", &[]).status, 200, "the public route needs no store");
    }

    redis.restart();
    for (name, gateway) in ["a", "b"].iter().zip(&fleet.gateways) {
        // Each gateway reconnects by itself, driven by the requests that find it disconnected.
        let mut statuses = Vec::new();
        while statuses.last() != Some(&200) {
            assert!(
                statuses.len() < RECOVERY_ATTEMPTS,
                "gateway {name}: no recovery after Redis came back: {statuses:?}"
            );
            let reply = gateway.me(&bearer);
            assert!(matches!(reply.status, 200 | 503), "gateway {name}: {}", reply.status);
            statuses.push(reply.status);
        }
        eprintln!("gateway {name} after Redis came back: {statuses:?}");
        // What Redis kept still holds: the proof used before the outage, and the revocation.
        assert_replayed(&dpop(gateway, &token, &used), &format!("gateway {name}, old proof"));
        assert_revoked(&gateway.me(&revoked), &format!("gateway {name}, revoked token"));
        assert_eq!(dpop(gateway, &token, &proof(&key, &token)).status, 200, "a fresh proof");
    }
}

#[test]
#[ignore = "needs redis-server; ./scripts/test.sh runs it"]
fn two_gateways_on_a_redis_cluster_share_proofs_and_revocations() {
    let cluster = RedisCluster::start();
    let fleet = Fleet::start_on_cluster(&cluster);
    let [a, b] = &fleet.gateways;
    let key = DpopKey::new();
    let token = fleet.bound_token(&key, "tok-1");
    let used = proof(&key, &token);
    assert_eq!(dpop(a, &token, &used).status, 200);
    assert_replayed(&dpop(b, &token, &used), "the same proof at the other gateway");
    assert_eq!(dpop(b, &token, &proof(&key, &token)).status, 200, "a fresh proof");

    let admin = RedisStore::cluster(cluster.urls()).unwrap().prefix(PREFIX);
    revoke_token(&admin, "tok-1");
    for gateway in &fleet.gateways {
        assert_revoked(&dpop(gateway, &token, &proof(&key, &token)), "revoked by jti");
    }
    let bearer = fleet.bearer_token("tok-2");
    assert_eq!(a.me(&bearer).status, 200);
    revoke_subject(&admin, "bob", SystemTime::now() + Duration::from_secs(1));
    for gateway in &fleet.gateways {
        assert_revoked(&gateway.me(&bearer), "revoked by subject");
    }
}
