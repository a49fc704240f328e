//! Remote key sets (`RemoteJwks`) against a real JWKS endpoint on loopback: rotation, outages,
//! hostile or broken answers, unknown-`kid` floods, HTTP caching (`Cache-Control`, `ETag`/304),
//! single-flight first use, the `http://` rule, unusable keys in a served set, and symmetric
//! (`oct`) keys in a published set, which are never used, and one cache per provider value
//! (clones share it, separately built providers do not).
//!
//! Every request goes to a server this file starts on 127.0.0.1; nothing leaves the machine.
//!
//! No test waits for time to pass or measures how long something took: lifetimes, cooldowns
//! and staleness run on a [`ManualClock`] the test advances, a request that must not wait for
//! a refresh is shown not to by holding the server's answer (it would hang, and the hang guard
//! fail), and events (a request reaching the server, a background refresh finishing) are
//! awaited, not polled. Only the fetch timeout is real time, as it is in production.
#![cfg(feature = "remote")]

use crate::clock;
use crate::common;
use crate::jwks_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, SystemTime};

use clock::ManualClock;
use common::*;
use http::StatusCode;
use jwks_server::{Behaviour, HANG_GUARD, JwksServer, Payload};
use jwt_layer::keys::{Jwks, RemoteJwks, RemoteJwksBuilder, RemoteStatus, StaticKeys};
use jwt_layer::testing::TestIssuer;
use jwt_layer::{Algorithm, AuthError, JwtAuth};
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

// ---------------------------------------------------------------------------------------------
// Keys of our own, for rotation: A, then A+B, then B only (C is never published).

/// A rotation key: the Ed25519 key of an issuer of its own.
struct TestKey {
    idp: TestIssuer,
    kid: String,
}

impl TestKey {
    fn jwk(&self) -> Value {
        self.idp.jwk(Algorithm::EdDSA)
    }

    /// A token with good claims signed by this key, `kid` set to this key's.
    fn token(&self) -> String {
        self.idp.token().alg(Algorithm::EdDSA).claims(good_claims()).sign()
    }
}

fn rotation_keys() -> &'static [TestKey; 3] {
    static KEYS: OnceLock<[TestKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [(); 3].map(|()| {
            let idp = TestIssuer::new(ISSUER);
            TestKey { kid: idp.kid(Algorithm::EdDSA), idp }
        })
    })
}

/// The sorted key ids of `keys`, as [`kids`] reports them.
fn kids_of(keys: &[&TestKey]) -> Vec<String> {
    let mut kids: Vec<String> = keys.iter().map(|key| key.kid.clone()).collect();
    kids.sort();
    kids
}

fn key_a() -> &'static TestKey {
    &rotation_keys()[0]
}

fn key_b() -> &'static TestKey {
    &rotation_keys()[1]
}

fn key_c() -> &'static TestKey {
    &rotation_keys()[2]
}

fn jwks_of(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() })
}

fn random_kid() -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("rnd-{hex}")
}

/// The key set served: every key of `issuer()`, its HMAC secrets too (`oct` keys, which a
/// remote set skips).
fn jwks() -> Value {
    issuer().jwks_json_with_secrets()
}

/// A well-signed token (`issuer()`'s Ed25519 key) whose `kid` no served set holds.
fn unknown_kid_token() -> String {
    issuer().token().alg(Algorithm::EdDSA).kid(random_kid()).claims(good_claims()).sign()
}

/// A token verified by [`jwks`] (`issuer()`'s P-256 key).
fn known_token() -> String {
    issuer().token().alg(Algorithm::ES256).claims(good_claims()).sign()
}

/// [`jwks`] padded with an extra member to about `size` bytes (still a valid JWKS).
fn padded_jwks(size: usize) -> Vec<u8> {
    let base = serde_json::to_vec(&jwks()).unwrap().len();
    let padding = "p".repeat(size.saturating_sub(base + 16));
    let mut document = jwks();
    document["padding"] = Value::String(padding);
    serde_json::to_vec(&document).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn auth(keys: &RemoteJwks) -> JwtAuth<Value> {
    JwtAuth::builder().keys(keys.clone()).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

/// Sorted, de-duplicated key ids of the current set.
fn kids(status: &RemoteStatus) -> Vec<String> {
    let mut kids = status.key_ids.clone();
    kids.sort();
    kids.dedup();
    kids
}

/// The lifetime the status reports: `expires_at - last_success`, exact on a [`ManualClock`].
fn lifetime(status: &RemoteStatus) -> Duration {
    let expires_at = status.expires_at.expect("expires_at");
    let last_success = status.last_success.expect("last_success");
    expires_at.duration_since(last_success).expect("expires_at after last_success")
}

/// A builder for `url` on `clock`.
fn on_clock(url: &str, clock: &ManualClock) -> RemoteJwksBuilder {
    RemoteJwks::builder(url).clock(clock.clone())
}

/// Verifies under a hang guard, so a request that waits for something that never comes
/// fails the test instead of stalling the run.
async fn verify_guarded(auth: &JwtAuth<Value>, token: &str) -> Result<Value, AuthError> {
    tokio::time::timeout(HANG_GUARD, auth.verify(token))
        .await
        .unwrap_or_else(|_| panic!("verify hung for {HANG_GUARD:?}"))
}

/// Refreshes under a hang guard.
async fn refresh_guarded(remote: &RemoteJwks) -> Result<(), jwt_layer::keys::KeyError> {
    tokio::time::timeout(HANG_GUARD, remote.refresh())
        .await
        .unwrap_or_else(|_| panic!("refresh hung for {HANG_GUARD:?}"))
}

/// Waits for the fetch in flight (a background refresh), if any, under a hang guard.
async fn settle(remote: &RemoteJwks) {
    tokio::time::timeout(HANG_GUARD, remote.wait_for_fetch())
        .await
        .unwrap_or_else(|_| panic!("a fetch hung for {HANG_GUARD:?}"));
}

/// Panics raised outside the test files (in the crate, reqwest, hyper, tokio…) are recorded
/// here: a background refresh task that panics would otherwise go unnoticed.
fn watch_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location =
                info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            if !location.starts_with("tests/") && !location.contains("/tests/") {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                foreign_panics().lock().unwrap().push(format!("{location}: {message}"));
            }
            default(info);
        }));
    });
}

fn foreign_panics() -> &'static Mutex<Vec<String>> {
    static PANICS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    PANICS.get_or_init(|| Mutex::new(Vec::new()))
}

fn assert_no_foreign_panics() {
    let panics = foreign_panics().lock().unwrap().clone();
    assert!(panics.is_empty(), "panics outside the tests: {panics:#?}");
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

// ---------------------------------------------------------------------------------------------
// 1. Rotation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_adds_new_keys_on_first_use_and_drops_retired_ones() {
    watch_panics();
    let (a, b, c) = (key_a(), key_b(), key_c());
    let server = JwksServer::start(Behaviour::json(jwks_of(&[a]))).await;
    let clock = ManualClock::new();
    let cooldown = ms(300);
    let remote = on_clock(&server.url(), &clock)
        .cooldown(cooldown)
        .min_ttl(Duration::ZERO)
        .default_ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    let auth = auth(&remote);
    assert_eq!(server.fetches(), 0, "building must not fetch (lazy)");

    auth.verify(&a.token()).await.expect("token by A verifies");
    assert_eq!(server.fetches(), 1);
    assert_eq!(kids(&remote.status()), kids_of(&[key_a()]));
    auth.verify(&a.token()).await.expect("token by A verifies again");
    assert_eq!(server.fetches(), 1, "a known kid never fetches");

    // B is published next to A. (The cooldown passes, counted from the first fetch, so the
    // test holds whichever way the cooldown is counted.)
    server.set(|s| s.payload = Payload::Json(jwks_of(&[a, b])));
    clock.advance(cooldown + ms(50));
    let result = verify_guarded(&auth, &b.token()).await;
    result.expect("token by B verifies on its first use (unknown kid → refresh)");
    assert_eq!(server.fetches(), 2);
    assert_eq!(kids(&remote.status()), kids_of(&[key_a(), key_b()]));
    auth.verify(&a.token()).await.expect("A still verifies");

    // Within the cooldown, another unknown kid does not fetch.
    clock.advance(cooldown - ms(1));
    let result = verify_guarded(&auth, &c.token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(server.fetches(), 2, "an unknown kid within the cooldown must not fetch");

    // A is retired. The cached set still holds it until something refreshes.
    server.set(|s| s.payload = Payload::Json(jwks_of(&[b])));
    auth.verify(&a.token()).await.expect("A verifies from the cached set");
    assert_eq!(server.fetches(), 2);

    // Once the cooldown has passed, an unknown kid refreshes; the new set has no A.
    clock.advance(ms(1));
    let result = verify_guarded(&auth, &unknown_kid_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(server.fetches(), 3, "the unknown kid after the cooldown refreshes once");
    assert_eq!(kids(&remote.status()), kids_of(&[key_b()]));

    let result = verify_guarded(&auth, &a.token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "retired key A must be refused");
    assert_eq!(server.fetches(), 3, "A's now-unknown kid is within the cooldown: no fetch");
    auth.verify(&b.token()).await.expect("B verifies");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn rotation_under_concurrency_never_refuses_the_new_key() {
    // Many short rotations: the provider knows A; B is published; 16 tokens by B arrive at
    // once. One of them triggers the unknown-kid refresh; every other one must either join
    // it or see its result, never answer from the old set after the refresh completed.
    // A fixed number of rounds; a correct provider never refuses.
    const ROTATIONS: u64 = 60;
    watch_panics();
    let (a, b) = (key_a(), key_b());
    let server = JwksServer::start(Behaviour::json(jwks_of(&[a]))).await;
    let client = reqwest::Client::new();
    let (token_a, token_b) = (a.token(), b.token());
    let (mut refused, mut verifies) = (Vec::new(), 0u64);
    for rotation in 0..ROTATIONS {
        server.set(|s| s.payload = Payload::Json(jwks_of(&[a])));
        // The clock stands still: the only refresh allowed is the one the first unknown kid
        // starts, so a request that does not share it is refused.
        let remote = on_clock(&server.url(), &ManualClock::new())
            .client(client.clone())
            .cooldown(Duration::from_secs(10))
            .build()
            .unwrap();
        let auth = auth(&remote);
        auth.verify(&token_a).await.expect("A verifies");
        server.set(|s| s.payload = Payload::Json(jwks_of(&[a, b])));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (auth, token) = (auth.clone(), token_b.clone());
            tasks.spawn(async move { verify_guarded(&auth, &token).await });
        }
        while let Some(joined) = tasks.join_next().await {
            verifies += 1;
            if let Err(err) = joined.expect("verify task panicked") {
                refused.push((rotation, err, remote.status().fetches, kids(&remote.status())));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "{} of {verifies} first uses of the new key refused (in {ROTATIONS} rotations); \
         first ones as (rotation, error, provider fetches, key ids after): {:?}",
        refused.len(),
        &refused[..refused.len().min(3)]
    );
    assert_eq!(server.fetches(), 2 * ROTATIONS, "one fetch for A, one refresh for B, per round");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_ttl_expiry_drops_retired_keys() {
    watch_panics();
    let (a, b) = (key_a(), key_b());
    let server = JwksServer::start(Behaviour::json(jwks_of(&[a]))).await;
    let clock = ManualClock::new();
    let ttl = ms(400);
    let remote = on_clock(&server.url(), &clock)
        .cooldown(Duration::from_secs(10))
        .min_ttl(Duration::ZERO)
        .default_ttl(ttl)
        .build()
        .unwrap();
    let auth = auth(&remote);

    auth.verify(&a.token()).await.expect("A verifies");
    assert_eq!(server.fetches(), 1);
    server.set(|s| s.payload = Payload::Json(jwks_of(&[b])));
    clock.advance(ttl + ms(100));

    // The set has expired: the next lookup starts a background refresh, and B's unknown kid
    // waits for it (or, if it already finished, finds B in the new set).
    verify_guarded(&auth, &b.token()).await.expect("B verifies once the expired set is replaced");
    settle(&remote).await;
    assert_eq!(kids(&remote.status()), kids_of(&[key_b()]), "the expired set was not replaced");
    assert_eq!(server.fetches(), 2, "requests: {:#?}", server.requests());

    let result = verify_guarded(&auth, &a.token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "retired key A must be refused");
    assert_eq!(server.fetches(), 3, "A's kid, unknown now, refreshes once");
    auth.verify(&b.token()).await.expect("B verifies");
    let result = verify_guarded(&auth, &a.token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(server.fetches(), 3, "within the cooldown, no more refreshes");
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 2. Outage after a successful fetch.

async fn outage_keeps_known_keys(stop_server: bool) {
    watch_panics();
    let mut server = JwksServer::start(Behaviour::json(jwks())).await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock)
        .timeout(ms(500))
        .cooldown(ms(200))
        .min_ttl(Duration::ZERO)
        .default_ttl(ms(300))
        .max_staleness(Duration::from_secs(60))
        .build()
        .unwrap();
    let auth = auth(&remote);

    auth.verify(&known_token()).await.expect("known key verifies");
    let before = remote.status();
    assert!(before.last_success.is_some());
    assert!(before.last_error.is_none(), "no error yet: {:?}", before.last_error);
    assert_eq!(before.jwks_url.as_deref(), Some(server.url().as_str()));

    if stop_server {
        server.stop().await;
    } else {
        server.set(|s| s.status = StatusCode::INTERNAL_SERVER_ERROR);
    }
    // Past the TTL and the cooldown: lookups now try to refresh, and the refreshes fail.
    clock.advance(ms(400));

    for _ in 0..3 {
        let result = verify_guarded(&auth, &known_token()).await;
        result.expect("known key keeps verifying during the outage");
    }
    let result = verify_guarded(&auth, &unknown_kid_token()).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, AuthError::UnknownKey | AuthError::KeysUnavailable),
        "unknown kid during outage: {err:?}"
    );

    let refreshed = refresh_guarded(&remote).await;
    assert!(refreshed.is_err(), "refresh during the outage must fail");

    let after = remote.status();
    assert!(after.last_error.is_some(), "last_error must be set during the outage: {after:?}");
    assert_eq!(after.last_success, before.last_success, "no success during the outage");
    assert_eq!(kids(&after), kids(&before), "the last good set is kept");
    assert!(after.last_fetch > after.last_success);

    let result = verify_guarded(&auth, &known_token()).await;
    result.expect("known key still verifies after failed refreshes");
    if !stop_server {
        assert!(server.fetches() >= 2, "the failing refreshes reached the server");
        // The server recovers: a refresh succeeds and clears the error.
        server.set(|s| s.status = StatusCode::OK);
        refresh_guarded(&remote).await.expect("refresh after recovery");
        let recovered = remote.status();
        assert!(recovered.last_success > before.last_success);
        assert!(recovered.last_error.is_none(), "a success clears last_error: {recovered:?}");
    }
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_server_gone_known_keys_keep_working() {
    outage_keeps_known_keys(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_server_500_known_keys_keep_working() {
    outage_keeps_known_keys(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_set_is_dropped_after_max_staleness() {
    watch_panics();
    let mut server = JwksServer::start(Behaviour::json(jwks())).await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock)
        .timeout(ms(300))
        .cooldown(ms(100))
        .min_ttl(Duration::ZERO)
        .default_ttl(ms(300))
        .max_staleness(ms(500))
        .build()
        .unwrap();
    let auth = auth(&remote);
    auth.verify(&known_token()).await.expect("known key verifies");
    server.stop().await;

    // Expired (300 ms) but within max_staleness (300 + 500 ms): still served.
    clock.advance(ms(450));
    let result = verify_guarded(&auth, &known_token()).await;
    if let Err(err) = result {
        panic!(
            "within max_staleness (450 ms after the fetch; expiry 300 ms + staleness 500 ms) \
             the last good set must be used, got {err:?}; status {:?}",
            remote.status()
        );
    }
    settle(&remote).await;

    // The last moment of max_staleness: still served.
    clock.advance(ms(350));
    verify_guarded(&auth, &known_token()).await.expect("at expiry + max_staleness exactly");
    settle(&remote).await;

    // Past expiry + max_staleness: the set must no longer be trusted.
    clock.advance(ms(1));
    let result = verify_guarded(&auth, &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable, "stale set past max_staleness");
    assert!(remote.status().last_error.is_some());
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 3. Broken answers with no set ever fetched: KeysUnavailable, no hang, no panic.

/// The fetch timeout of these providers (real time: it is what ends a fetch that stalls).
const FAIL_TIMEOUT: Duration = Duration::from_secs(1);
/// A timeout that never ends a fetch within the hang guard.
const NO_TIMEOUT: Duration = Duration::from_secs(3600);
const FAIL_CAP: usize = 10_000;

/// A fresh provider (with a clock that stands still) facing `behaviour`: the first request is
/// refused as `KeysUnavailable` after one fetch, the second at once without another fetch (the
/// failure is recent), and an explicit refresh fails too. Each under the hang guard: a fetch
/// that the timeout or the size cap does not end would hang until it.
async fn assert_cold_failure(server: &JwksServer, timeout: Duration) {
    watch_panics();
    let remote = on_clock(&server.url(), &ManualClock::new())
        .timeout(timeout)
        .max_response_bytes(FAIL_CAP)
        .cooldown(ms(200))
        .build()
        .unwrap();
    let auth = auth(&remote);

    for attempt in 0..2 {
        let result = verify_guarded(&auth, &known_token()).await;
        assert_eq!(
            result.as_ref().err(),
            Some(&AuthError::KeysUnavailable),
            "attempt {attempt}: {result:?}"
        );
        assert_eq!(remote.status().fetches, 1, "attempt {attempt}: one fetch, then none");
    }

    let status = remote.status();
    assert!(status.last_error.is_some(), "last_error must say why: {status:?}");
    assert!(status.last_success.is_none(), "{status:?}");
    assert!(status.key_ids.is_empty(), "{status:?}");

    let refreshed = refresh_guarded(&remote).await;
    assert!(refreshed.is_err(), "refresh must fail");
    assert_eq!(remote.status().fetches, 2, "an explicit refresh is not held back");
    // Each fetch reached the server (whatever made it fail came after).
    server.wait_for_fetches(2).await;
    assert_no_foreign_panics();
}

/// [`assert_cold_failure`] against a server that answers with `behaviour`.
async fn assert_cold_failure_of(behaviour: Behaviour) {
    let server = JwksServer::start(behaviour).await;
    assert_cold_failure(&server, FAIL_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_500_is_keys_unavailable() {
    // A valid JWKS body does not make an error status acceptable.
    let behaviour = Behaviour::json(jwks()).with_status(StatusCode::INTERNAL_SERVER_ERROR);
    assert_cold_failure_of(behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_404_is_keys_unavailable() {
    let behaviour = Behaviour::json(jwks()).with_status(StatusCode::NOT_FOUND);
    assert_cold_failure_of(behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_garbage_is_keys_unavailable() {
    let garbage = b"<html><body>502 Bad Gateway \xff\xfe\x00</body></html>".to_vec();
    let behaviour = Behaviour::json(Value::Null).with_payload(Payload::Raw(garbage));
    assert_cold_failure_of(behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_set_without_usable_key_is_keys_unavailable() {
    let rsa = issuer().jwk(Algorithm::RS256);
    let documents = [
        json!({"keys": []}),
        json!({"no_keys_here": true}),
        json!({"keys": [
            {"kty":"RSA","kid":"enc","use":"enc","alg":"RSA-OAEP","n": rsa["n"],"e": rsa["e"]},
            {"kty":"XYZ","kid":"weird"},
        ]}),
    ];
    for document in documents {
        assert_cold_failure_of(Behaviour::json(document)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_oversized_body_with_content_length_is_keys_unavailable() {
    let body = padded_jwks(100_000);
    let behaviour = Behaviour::json(Value::Null).with_payload(Payload::Raw(body));
    assert_cold_failure_of(behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_oversized_streamed_body_is_keys_unavailable() {
    // A valid JWKS of 100 KB without Content-Length, in 1 KB chunks.
    let body = padded_jwks(100_000);
    let behaviour =
        Behaviour::json(Value::Null).with_payload(Payload::Streamed { body, chunk_size: 1024 });
    assert_cold_failure_of(behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_body_just_under_the_cap_is_accepted() {
    // Positive control for the two tests above: same shape, under the cap.
    watch_panics();
    let body = padded_jwks(FAIL_CAP - 1_000);
    assert!(body.len() < FAIL_CAP);
    let server = JwksServer::start(
        Behaviour::json(Value::Null).with_payload(Payload::Streamed { body, chunk_size: 1024 }),
    )
    .await;
    let remote = RemoteJwks::builder(server.url())
        .timeout(FAIL_TIMEOUT)
        .max_response_bytes(FAIL_CAP)
        .build()
        .unwrap();
    let result = verify_guarded(&auth(&remote), &known_token()).await;
    result.expect("a set under the cap verifies");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_body_is_cut_off_by_the_cap_not_the_timeout() {
    // The body never ends (8 KB every 2 ms). With no timeout to speak of, only the byte cap
    // can end the fetch before the hang guard.
    let server = JwksServer::start(
        Behaviour::json(Value::Null)
            .with_payload(Payload::Endless { chunk: vec![b' '; 8 * 1024], every: ms(2) }),
    )
    .await;
    assert_cold_failure(&server, NO_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_slow_response_is_keys_unavailable_within_the_timeout() {
    // The server never answers: only the fetch timeout ends the fetch before the hang guard.
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    server.hold();
    assert_cold_failure(&server, FAIL_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_stalled_body_is_keys_unavailable_within_the_timeout() {
    // Headers arrive at once, then the body stops after a few bytes and never ends.
    let behaviour = Behaviour::json(Value::Null)
        .with_payload(Payload::Stalled { prefix: br#"{"keys":["#.to_vec() });
    assert_cold_failure_of(behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_trickling_body_is_keys_unavailable_within_the_timeout() {
    // One byte every 50 ms: no read ever idles long, and the 10 KB cap would take 500 s, so
    // only a whole-fetch timeout ends it before the hang guard.
    let behaviour = Behaviour::json(Value::Null)
        .with_payload(Payload::Endless { chunk: b" ".to_vec(), every: ms(50) });
    assert_cold_failure_of(behaviour).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_cap_is_one_mib() {
    watch_panics();
    let over = JwksServer::start(
        Behaviour::json(Value::Null).with_payload(Payload::Raw(padded_jwks(1024 * 1024 + 4096))),
    )
    .await;
    let remote = Jwks::remote(over.url()).unwrap();
    let result = verify_guarded(&auth(&remote), &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable, "a set over 1 MiB is refused");

    let under = JwksServer::start(
        Behaviour::json(Value::Null).with_payload(Payload::Raw(padded_jwks(900 * 1024))),
    )
    .await;
    let remote = Jwks::remote(under.url()).unwrap();
    let result = verify_guarded(&auth(&remote), &known_token()).await;
    result.expect("a set under 1 MiB verifies");
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 4. Unknown-kid floods.

/// `unknown` random-kid tokens and `known` good tokens, interleaved, each verified in its own
/// task, all at once.
async fn flood(auth: &JwtAuth<Value>, unknown: usize, known: usize) {
    let spacing = unknown / known.max(1);
    let mut tokens = Vec::with_capacity(unknown + known);
    for i in 0..unknown {
        if known > 0 && i % spacing == 0 && tokens.len() - i < known {
            tokens.push((true, known_token()));
        }
        tokens.push((false, unknown_kid_token()));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (is_known, token) in tokens {
        let auth = auth.clone();
        tasks.spawn(async move { (is_known, verify_guarded(&auth, &token).await) });
    }
    let mut known_ok = 0;
    while let Some(joined) = tasks.join_next().await {
        let (is_known, result) = joined.expect("verify task panicked");
        if is_known {
            result.expect("known-key token verifies during the flood");
            known_ok += 1;
        } else {
            assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "random kid");
        }
    }
    assert_eq!(known_ok, known);
}

async fn unknown_kid_flood(warm: bool) {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock).cooldown(Duration::from_secs(10)).build().unwrap();
    let auth = auth(&remote);
    if warm {
        auth.verify(&known_token()).await.expect("warm-up");
        assert_eq!(server.fetches(), 1);
    }

    // Six floods spread over one second of the provider's clock, all within the cooldown.
    flood(&auth, 500, 20).await;
    for _ in 0..5 {
        clock.advance(ms(200));
        flood(&auth, 100, 5).await;
    }
    assert!(
        server.fetches() <= 2,
        "an unknown-kid flood made {} fetches (at most initial + one refresh)",
        server.fetches()
    );
    auth.verify(&known_token()).await.expect("known key verifies after the flood");
    assert!(server.fetches() <= 2);
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_kid_flood_on_a_warm_provider_fetches_at_most_once_more() {
    unknown_kid_flood(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_kid_flood_on_a_cold_provider_fetches_at_most_twice() {
    unknown_kid_flood(false).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Cache-Control.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_expiry_refreshes_in_the_background() {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks()).with_cache_control("max-age=1")).await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock)
        .min_ttl(Duration::ZERO)
        .max_ttl(Duration::from_secs(3600))
        .cooldown(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = auth(&remote);

    auth.verify(&known_token()).await.expect("known key verifies");
    assert_eq!(server.fetches(), 1);
    let first = remote.status();
    assert_eq!(lifetime(&first), Duration::from_secs(1), "max-age=1");

    // Up to 90 % of the lifetime, nothing is refreshed.
    clock.advance(ms(899));
    auth.verify(&known_token()).await.expect("known key verifies");
    assert!(remote.wait_for_fetch().await.is_none(), "refreshed before 90 % of max-age");
    assert_eq!(server.fetches(), 1);

    // Past it, the next lookup refreshes in the background. The server holds its answer: a
    // lookup that waited for the refresh would hang (and fail the hang guard).
    clock.advance(ms(301));
    server.hold();
    for _ in 0..5 {
        let result = verify_guarded(&auth, &known_token()).await;
        result.expect("known key verifies while the set is being refreshed");
    }
    server.wait_for_fetches(2).await;
    server.release();
    settle(&remote).await;
    let second = remote.status();
    assert!(second.last_success > first.last_success, "{second:?}");
    assert_eq!(lifetime(&second), Duration::from_secs(1), "after refresh");
    assert!(second.expires_at > first.expires_at);
    assert_eq!(server.fetches(), 2, "exactly one refresh");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_max_age_is_clamped_to_max_ttl() {
    watch_panics();
    let server =
        JwksServer::start(Behaviour::json(jwks()).with_cache_control("max-age=100000")).await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock)
        .min_ttl(Duration::ZERO)
        .max_ttl(Duration::from_secs(2))
        .cooldown(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = auth(&remote);
    auth.verify(&known_token()).await.expect("known key verifies");
    assert_eq!(lifetime(&remote.status()), Duration::from_secs(2), "max-age=100000, max_ttl 2 s");

    clock.advance(ms(2200));
    auth.verify(&known_token()).await.expect("known key verifies");
    settle(&remote).await;
    assert_eq!(server.fetches(), 2, "no refresh after the clamped TTL");
    assert_no_foreign_panics();
}

/// Fetches once with `cache_control` from a provider configured by `configure` (on a clock
/// that stands still) and returns the lifetime it gave the set.
async fn ttl_for(
    cache_control: Option<&str>,
    configure: impl FnOnce(RemoteJwksBuilder) -> RemoteJwksBuilder,
) -> Duration {
    let mut behaviour = Behaviour::json(jwks());
    if let Some(value) = cache_control {
        behaviour = behaviour.with_cache_control(value);
    }
    let server = JwksServer::start(behaviour).await;
    let remote = configure(on_clock(&server.url(), &ManualClock::new())).build().unwrap();
    refresh_guarded(&remote).await.expect("refresh");
    auth(&remote).verify(&known_token()).await.expect("known key verifies");
    assert_eq!(server.fetches(), 1);
    lifetime(&remote.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_defaults_and_clamping() {
    watch_panics();
    let defaults = |builder| builder;
    let secs = Duration::from_secs;

    let ttl = ttl_for(None, defaults).await;
    assert_eq!(ttl, secs(600), "no Cache-Control: default_ttl is 10 min");

    let ttl = ttl_for(Some("max-age=1"), defaults).await;
    assert_eq!(ttl, secs(300), "max-age=1 clamps up to min_ttl 5 min");

    let ttl = ttl_for(Some("public, max-age=600, must-revalidate"), defaults).await;
    assert_eq!(ttl, secs(600), "max-age=600 among other directives");

    let ttl = ttl_for(Some("max-age=100000000"), defaults).await;
    assert_eq!(ttl, secs(86_400), "max-age clamps down to max_ttl 24 h");

    let ttl = ttl_for(None, |builder| builder.default_ttl(secs(420))).await;
    assert_eq!(ttl, secs(420), "no Cache-Control: configured default_ttl 7 min");

    let ttl = ttl_for(Some("max-age=1"), |builder| builder.min_ttl(secs(60))).await;
    assert_eq!(ttl, secs(60), "max-age=1 with min_ttl 60 s");
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 6. Conditional requests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_revalidation_uses_if_none_match_and_304() {
    watch_panics();
    let server = JwksServer::start(
        Behaviour::json(jwks()).with_cache_control("max-age=1").with_etag("\"v1\""),
    )
    .await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock)
        .min_ttl(Duration::ZERO)
        .cooldown(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = auth(&remote);

    auth.verify(&known_token()).await.expect("known key verifies");
    assert_eq!(server.fetches(), 1);
    assert_eq!(server.requests()[0].if_none_match, None, "the first request is unconditional");
    let first = remote.status();

    // An explicit refresh revalidates.
    clock.advance(ms(20));
    refresh_guarded(&remote).await.expect("a 304 is a successful refresh");
    assert_eq!(server.fetches(), 2, "the 304 request is counted");
    let seen = server.requests();
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""), "If-None-Match carries the ETag");
    assert_eq!(seen[1].status, StatusCode::NOT_MODIFIED);
    let second = remote.status();
    assert!(second.last_success > first.last_success, "last_success moves on a 304: {second:?}");
    assert!(second.expires_at > first.expires_at, "a 304 renews the set's lifetime: {second:?}");
    assert_eq!(kids(&second), kids(&first), "a 304 keeps the keys");
    assert_eq!(second.fetches, 2);
    auth.verify(&known_token()).await.expect("known key verifies after the 304");

    // TTL-driven revalidation also sends If-None-Match.
    clock.advance(ms(1100));
    auth.verify(&known_token()).await.expect("known key verifies");
    settle(&remote).await;
    assert_eq!(server.fetches(), 3, "one revalidation after max-age expired");
    assert_eq!(server.requests()[2].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(server.requests()[2].status, StatusCode::NOT_MODIFIED);
    assert!(remote.status().last_success > second.last_success);
    auth.verify(&known_token()).await.expect("known key verifies after the second 304");

    // A changed set with a new ETag replaces the keys; the next request names the new ETag.
    server.set(|s| {
        s.payload = Payload::Json(jwks_of(&[key_b()]));
        s.etag = Some("\"v2\"".into());
    });
    refresh_guarded(&remote).await.expect("refresh");
    assert_eq!(server.fetches(), 4);
    assert_eq!(server.requests()[3].status, StatusCode::OK, "the changed set is sent whole");
    assert_eq!(kids(&remote.status()), kids_of(&[key_b()]));
    auth.verify(&key_b().token()).await.expect("B verifies after the new set");
    let result = verify_guarded(&auth, &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "p256 left the set");
    refresh_guarded(&remote).await.expect("refresh");
    let last = server.requests().last().cloned().unwrap();
    assert_eq!(last.if_none_match.as_deref(), Some("\"v2\""));
    assert_eq!(last.status, StatusCode::NOT_MODIFIED);
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 7. Concurrent first use.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_use_fetches_once() {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let remote = Jwks::remote(server.url()).unwrap();
    let auth = auth(&remote);

    // The first fetch is held at the server until every request has been sent.
    server.hold();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let auth = auth.clone();
        let token = known_token();
        tasks.spawn(async move { verify_guarded(&auth, &token).await });
    }
    server.wait_for_fetches(1).await;
    server.release();
    while let Some(joined) = tasks.join_next().await {
        let result = joined.expect("verify task panicked");
        result.expect("every concurrent first use verifies");
    }
    assert_eq!(server.fetches(), 1, "50 concurrent cold lookups must share one fetch");
    assert_eq!(remote.status().fetches, 1);
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_first_use_never_refuses_a_good_token() {
    // Many short cold starts, 16 concurrent first verifies each: none may be refused while
    // another request is starting the first fetch (no set yet, no fetch in flight, but a fetch
    // being started is not "the last fetch failed"). A fixed number of rounds; a correct
    // provider never fails.
    const COLD_STARTS: u64 = 60;
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let client = reqwest::Client::new();
    let token = known_token();
    let (mut refused, mut verifies) = (Vec::new(), 0u64);
    for cold_start in 0..COLD_STARTS {
        let remote =
            on_clock(&server.url(), &ManualClock::new()).client(client.clone()).build().unwrap();
        let auth = auth(&remote);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (auth, token) = (auth.clone(), token.clone());
            tasks.spawn(async move { verify_guarded(&auth, &token).await });
        }
        while let Some(joined) = tasks.join_next().await {
            verifies += 1;
            if let Err(err) = joined.expect("verify task panicked") {
                refused.push((cold_start, err, remote.status().fetches));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "{} of {verifies} concurrent first-use verifies refused (in {COLD_STARTS} cold starts); \
         first ones as (cold start, error, provider fetches): {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );
    assert_eq!(server.fetches(), COLD_STARTS, "one fetch per cold start");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_use_shares_one_failing_fetch() {
    watch_panics();
    // The server never answers: the first fetch fails by its timeout, and every request
    // shares it (or, coming later, is refused at once: the failure is recent).
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    server.hold();
    let remote = on_clock(&server.url(), &ManualClock::new()).timeout(ms(300)).build().unwrap();
    let auth = auth(&remote);

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let auth = auth.clone();
        let token = known_token();
        tasks.spawn(async move { verify_guarded(&auth, &token).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let result = joined.expect("verify task panicked");
        assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable);
    }
    assert_eq!(remote.status().fetches, 1, "50 concurrent cold lookups must share one fetch");
    assert!(server.fetches() <= 1, "50 concurrent cold lookups must share one (failing) fetch");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_once_the_server_does() {
    watch_panics();
    let server =
        JwksServer::start(Behaviour::json(jwks()).with_status(StatusCode::SERVICE_UNAVAILABLE))
            .await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock).cooldown(ms(200)).build().unwrap();
    let auth = auth(&remote);

    let result = verify_guarded(&auth, &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable);
    assert!(remote.status().last_error.is_some());

    server.set(|s| s.status = StatusCode::OK);
    // Within the retry interval, the recent failure stands.
    let result = verify_guarded(&auth, &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable, "retried at once");
    assert_eq!(server.fetches(), 1);

    clock.advance(ms(250));
    let result = verify_guarded(&auth, &known_token()).await;
    result.expect("verifies once the server answers again");
    let status = remote.status();
    assert!(status.last_success.is_some());
    assert!(status.last_error.is_none(), "a success clears last_error: {status:?}");
    assert_no_foreign_panics();
}

/// Two `JwtAuth`s given clones of one `RemoteJwks` share its cache: one fetch serves both.
/// A provider built separately for the same URL keeps a cache, and fetches, of its own.
#[tokio::test]
async fn verifiers_share_a_cache_only_through_one_provider() {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let clock = ManualClock::new();
    let shared = on_clock(&server.url(), &clock).build().unwrap();
    let (first, second) = (auth(&shared), auth(&shared.clone()));
    verify_guarded(&first, &known_token()).await.expect("the first verifier");
    verify_guarded(&second, &known_token()).await.expect("the second verifier");
    assert_eq!(server.fetches(), 1, "two verifiers over one provider fetch once");
    assert_eq!(shared.status().fetches, 1);

    let separate = on_clock(&server.url(), &clock).build().unwrap();
    verify_guarded(&auth(&separate), &known_token()).await.expect("a separate provider");
    assert_eq!(server.fetches(), 2, "a separately built provider fetches for itself");
    assert_no_foreign_panics();
}

/// The same through OIDC discovery: one `Jwks::discover` value given to two verifiers fetches
/// the issuer's JWKS once; two `Jwks::discover` calls fetch it once each.
#[tokio::test]
async fn discovered_keys_are_shared_by_cloning_the_provider() {
    use jwt_layer::testing::TestIssuer;

    watch_panics();
    let idp = TestIssuer::start().await.unwrap();
    let verifier = |keys: RemoteJwks| {
        JwtAuth::<Value>::builder().keys(keys).issuer(idp.issuer()).audience(AUDIENCE).build()
    };
    let token = idp.token().audience(AUDIENCE).alg(Algorithm::ES256).sign();

    let keys = Jwks::discover(idp.issuer()).unwrap();
    let (first, second) = (verifier(keys.clone()).unwrap(), verifier(keys).unwrap());
    verify_guarded(&first, &token).await.expect("the first verifier");
    verify_guarded(&second, &token).await.expect("the second verifier");
    assert_eq!(idp.jwks_fetches(), 1, "one provider value, one fetch");

    let (third, fourth) = (
        verifier(Jwks::discover(idp.issuer()).unwrap()).unwrap(),
        verifier(Jwks::discover(idp.issuer()).unwrap()).unwrap(),
    );
    verify_guarded(&third, &token).await.expect("the third verifier");
    verify_guarded(&fourth, &token).await.expect("the fourth verifier");
    assert_eq!(idp.jwks_fetches(), 3, "each `Jwks::discover` call has a cache of its own");
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 8. http:// only on loopback unless allowed. Nothing here may send a request anywhere.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_off_loopback_at_build_time() {
    watch_panics();
    let refused = [
        "http://jwks.invalid/",
        "http://jwks.invalid:8080/.well-known/jwks.json",
        "http://localhost.jwks.invalid/",
        "http://127.0.0.1.jwks.invalid/",
        "http://127.0.0.1@jwks.invalid/",
        "http://10.0.0.1/jwks",
        "ftp://127.0.0.1/jwks",
        "file:///etc/passwd",
        "not a url",
        "",
    ];
    for url in refused {
        assert!(Jwks::remote(url).is_err(), "Jwks::remote({url:?}) must be refused");
        assert!(RemoteJwks::builder(url).build().is_err(), "builder({url:?}) must be refused");
        assert!(
            RemoteJwks::builder(url).allow_http(false).build().is_err(),
            "builder({url:?}).allow_http(false) must be refused"
        );
    }
    // Loopback is always allowed over http (port 1: nothing listens; nothing is fetched).
    let allowed = [
        "http://127.0.0.1:1/jwks",
        "http://127.1.2.3:1/jwks",
        "http://localhost:1/jwks",
        "http://[::1]:1/jwks",
    ];
    for url in allowed {
        if let Err(err) = Jwks::remote(url) {
            panic!("Jwks::remote({url:?}) refused loopback: {err:?}");
        }
        if let Err(err) = RemoteJwks::builder(url).build() {
            panic!("builder({url:?}) refused loopback: {err:?}");
        }
    }
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 9. Unusable keys in a served set are skipped, the rest kept.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_keys_in_the_served_set_are_skipped() {
    watch_panics();
    let rsa = issuer().jwk(Algorithm::RS256);
    let secret = issuer().jwk(Algorithm::HS256)["k"].clone();
    let document = json!({"keys": [
        {"kty":"RSA","kid":"enc-rsa","use":"enc","alg":"RS256","n": rsa["n"],"e": rsa["e"]},
        {"kty":"XYZ","kid":"weird","x":"AAAA"},
        {"kty":"EC","kid":"p521","crv":"P-521","x":"AAAA","y":"AAAA"},
        {"kty":"OKP","kid":"x25519","crv":"X25519","x": b64([9u8; 32])},
        {"kty":"oct","kid":"ops","alg":"HS256","k": secret,"key_ops":["encrypt"]},
        "not an object",
        key_a().jwk(),
    ]});
    let server = JwksServer::start(Behaviour::json(document)).await;
    let remote =
        RemoteJwks::builder(server.url()).cooldown(Duration::from_secs(10)).build().unwrap();
    let auth = auth(&remote);

    auth.verify(&key_a().token()).await.expect("the usable key verifies");
    assert_eq!(kids(&remote.status()), kids_of(&[key_a()]), "only the usable key is kept");
    let enc_token =
        issuer().token().alg(Algorithm::RS256).kid("enc-rsa").claims(good_claims()).sign();
    let result = verify_guarded(&auth, &enc_token).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "a `use: enc` key must not verify");
    let hmac_token = issuer().token().alg(Algorithm::HS256).kid("ops").claims(good_claims()).sign();
    let result = verify_guarded(&auth, &hmac_token).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "key_ops without verify");
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// Around the edges.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_key_kind_verifies_through_a_remote_set_with_one_fetch() {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let remote = Jwks::remote(server.url()).unwrap();
    let auth = auth(&remote);
    for alg in [
        Algorithm::RS256,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ] {
        auth.verify(&issuer().token().alg(alg).claims(good_claims()).sign())
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
    }
    assert_eq!(server.fetches(), 1);
    // A token signed by a key the set does not hold, under a known kid: bad signature.
    let forged = key_c()
        .idp
        .token()
        .alg(Algorithm::EdDSA)
        .kid(issuer().kid(Algorithm::EdDSA))
        .claims(good_claims())
        .sign();
    let result = verify_guarded(&auth, &forged).await;
    assert_eq!(result.unwrap_err(), AuthError::InvalidSignature);
    assert_eq!(server.fetches(), 1, "a known kid with a bad signature does not fetch");
    assert_no_foreign_panics();
}

/// Counts the WARN events whose message contains `needle`.
struct WarningCounter {
    needle: &'static str,
    count: Arc<AtomicUsize>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarningCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message<'a>(&'a str, bool);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" && format!("{value:?}").contains(self.0) {
                    self.1 = true;
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut message = Message(self.needle, false);
            event.record(&mut message);
            if message.1 {
                self.count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// RFC 8725 (and OpenID Connect Discovery 1.0 §3: a published set "MUST NOT contain private or
/// symmetric key values"): an `oct` key in a remote set is a secret everyone who can fetch the
/// set knows. It is skipped, so a token HMAC-signed with it is refused, through the layer, with
/// `invalid_token`; the set's public keys keep working; and the skip is logged once per fetch,
/// not per key or per request. Same for a set found through discovery.
#[tokio::test]
async fn remote_set_never_supplies_oct_keys_rfc8725() {
    watch_panics();
    let warnings = Arc::new(AtomicUsize::new(0));
    // One thread (the current-thread runtime): the fetches run where the subscriber is set.
    let subscriber = tracing_subscriber::registry()
        .with(WarningCounter { needle: "symmetric (oct)", count: Arc::clone(&warnings) });
    let _guard = tracing::subscriber::set_default(subscriber);
    // Another test's thread may have met these callsites first, with no subscriber of its
    // own, and cached "never interested" for them; recompute with this thread's subscriber.
    tracing::callsite::rebuild_interest_cache();

    // The set holds the HMAC secrets (HS256, HS384, HS512) next to the public keys.
    assert!(jwks().to_string().contains(r#""kty":"oct""#));
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let discovery = JwksServer::start(Behaviour::json(Value::Null)).await;
    let discovery_url = format!("http://{}", discovery.addr());
    let document = json!({"issuer": discovery_url, "jwks_uri": server.url()});
    discovery.set(|b| b.payload = Payload::Json(document));

    let clock = ManualClock::new();
    let direct = on_clock(&server.url(), &clock).build().unwrap();
    let discovered =
        RemoteJwks::discover_builder(&discovery_url).clock(clock.clone()).build().unwrap();
    for (name, remote) in [("jwks_uri", direct), ("discovery", discovered)] {
        let before = server.fetches();
        let app = axum::Router::new()
            .route("/me", axum::routing::get(|| async { "ok" }))
            .layer(auth(&remote).layer());
        let send = |token: String| {
            let app = app.clone();
            async move {
                let authorization = format!("Bearer {token}");
                let request = request("/me", Some(&authorization));
                tokio::time::timeout(HANG_GUARD, app.oneshot(request)).await.unwrap().unwrap()
            }
        };

        for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA] {
            let response = send(issuer().token().alg(alg).claims(good_claims()).sign()).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}: {alg} by a public key");
        }
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let kid = issuer().kid(alg);
            assert!(!kids(&remote.status()).contains(&kid), "{name}: oct key kept");
        }
        // Forged with the published secret: by its kid, and without a kid.
        let without_kid =
            issuer().token().alg(Algorithm::HS256).without_kid().claims(good_claims()).sign();
        let forged = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
            .map(|alg| issuer().token().alg(alg).claims(good_claims()).sign())
            .into_iter()
            .chain([without_kid]);
        for token in forged {
            let response = send(token).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
            let challenge = challenge(&response).unwrap_or_default();
            assert!(challenge.contains(r#"error="invalid_token""#), "{name}: {challenge}");
        }
        let response =
            send(issuer().token().alg(Algorithm::ES256).claims(good_claims()).sign()).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}: public keys still work");
        let fetches = server.fetches() - before;
        assert!(fetches >= 1, "{name}: the set was fetched");
    }
    assert_eq!(
        warnings.load(Ordering::SeqCst) as u64,
        server.fetches(),
        "one warning per fetch of a set with oct keys (3 of them in the set; 9 requests each)"
    );
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_url_and_fetches() {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let remote = RemoteJwks::builder(server.url()).build().unwrap();
    let status = remote.status();
    assert_eq!(status.fetches, 0);
    assert!(status.last_fetch.is_none() && status.last_success.is_none());
    assert!(status.key_ids.is_empty() && status.expires_at.is_none());

    let before = SystemTime::now();
    remote.refresh().await.expect("refresh");
    let status = remote.status();
    assert_eq!(status.fetches, 1);
    assert_eq!(server.fetches(), 1);
    assert!(status.last_fetch.unwrap() >= before && status.last_success.unwrap() >= before);
    assert!(status.last_error.is_none());
    assert_eq!(status.jwks_url.as_deref(), Some(server.url().as_str()));
    let mut public_kids: Vec<String> = issuer().jwks_json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|jwk| jwk["kid"].as_str().unwrap().to_owned())
        .collect();
    public_kids.sort();
    assert_eq!(kids(&status), public_kids, "oct keys are never kept");

    // Clones share one cache.
    let clone = remote.clone();
    auth(&clone).verify(&known_token()).await.expect("verifies through the clone");
    assert_eq!(server.fetches(), 1, "a clone uses the same cached set");
    clone.refresh().await.unwrap();
    assert_eq!(remote.status().fetches, 2, "a clone's refresh shows in the original's status");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_the_jwks_url_before_the_first_fetch() {
    // A direct JWKS URL is known from the start; a dashboard should show it even when the
    // provider has not fetched yet (or its first fetch is still pending).
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let remote = RemoteJwks::builder(server.url()).build().unwrap();
    assert_eq!(remote.status().jwks_url.as_deref(), Some(server.url().as_str()));
    assert_eq!(server.fetches(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_client_is_used() {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let client = reqwest::Client::builder().user_agent("remote-jwks-test/1").build().unwrap();
    let remote = RemoteJwks::builder(server.url()).client(client).build().unwrap();
    auth(&remote).verify(&known_token()).await.expect("verifies");
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, jwks_server::JWKS_PATH);
    assert_eq!(
        seen[0].headers.get(http::header::USER_AGENT).map(|v| v.to_str().unwrap()),
        Some("remote-jwks-test/1"),
        "the request went through the given client"
    );
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// Errors: configuration mistakes by name, fetch failures with their causes, warnings bounded.

/// `err`'s sources, outermost first.
fn sources(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(err.source(), |e| e.source()).map(ToString::to_string).collect()
}

#[test]
fn configuration_mistakes_have_their_own_errors() {
    use jwt_layer::keys::KeyError;
    let err = RemoteJwks::builder("not a url").build().unwrap_err();
    assert!(matches!(&err, KeyError::InvalidUrl { url, .. } if url == "not a url"), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "the URL parser's error is the source");
    let err = RemoteJwks::builder("http://jwks.invalid/").build().unwrap_err();
    assert!(matches!(err, KeyError::InsecureUrl { .. }), "{err:?}");
    let url = "https://idp.example/jwks.json";
    let err = RemoteJwks::builder(url)
        .min_ttl(Duration::from_secs(60))
        .max_ttl(Duration::from_secs(30))
        .build()
        .unwrap_err();
    assert!(matches!(err, KeyError::TtlBoundsReversed { .. }), "{err:?}");
    assert_eq!(err.to_string(), "min_ttl (60s) is larger than max_ttl (30s)");
    let err = RemoteJwks::builder(url).timeout(Duration::ZERO).build().unwrap_err();
    assert!(matches!(err, KeyError::ZeroTimeout), "{err:?}");
    let err = RemoteJwks::builder(url).max_response_bytes(0).build().unwrap_err();
    assert!(matches!(err, KeyError::ZeroResponseLimit), "{err:?}");
    let err = StaticKeys::from_jwks("{not json").unwrap_err();
    assert!(matches!(err, KeyError::Json(_)), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "the JSON parser's error is the source");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_failures_keep_their_causes() {
    use jwt_layer::keys::KeyError;
    watch_panics();
    // Not JSON: the key set's error, then the JSON parser's.
    let server = JwksServer::start(
        Behaviour::json(Value::Null).with_payload(Payload::Raw(b"<html>".to_vec())),
    )
    .await;
    let remote = on_clock(&server.url(), &ManualClock::new()).build().unwrap();
    let err = refresh_guarded(&remote).await.unwrap_err();
    assert!(matches!(&err, KeyError::Fetch { url, .. } if *url == server.url()), "{err:?}");
    let causes = sources(&err);
    assert_eq!(causes[0], "unusable key set", "{causes:?}");
    assert_eq!(causes[1], "the JWK or JWKS document is not JSON", "{causes:?}");
    assert_eq!(causes.len(), 3, "the JSON parser's own error last: {causes:?}");
    // A request within the retry interval gets the same cause.
    let result = verify_guarded(&auth(&remote), &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable);

    // Nothing listening: the HTTP client's error, with its own causes.
    let mut gone = JwksServer::start(Behaviour::json(jwks())).await;
    gone.stop().await;
    let remote = on_clock(&gone.url(), &ManualClock::new()).build().unwrap();
    let err = refresh_guarded(&remote).await.unwrap_err();
    let causes = sources(&err);
    assert_eq!(causes[0], "the request failed", "{causes:?}");
    assert!(causes.len() >= 2, "the client's error is kept: {causes:?}");
    let last_error = remote.status().last_error.unwrap();
    assert!(last_error.starts_with(&gone.url()), "{last_error}");
    assert!(last_error.contains("the request failed: "), "the whole chain: {last_error}");

    // A status: named as such.
    let server =
        JwksServer::start(Behaviour::json(jwks()).with_status(StatusCode::BAD_GATEWAY)).await;
    let remote = on_clock(&server.url(), &ManualClock::new()).build().unwrap();
    let err = refresh_guarded(&remote).await.unwrap_err();
    assert_eq!(sources(&err), ["HTTP status 502 Bad Gateway"]);
    assert_no_foreign_panics();
}

/// A source that keeps failing is logged at WARN once a minute (on the key set's clock), not
/// once per fetch attempt, however many requests ask; a success resets it.
#[tokio::test]
async fn a_failing_source_warns_once_a_minute_not_per_request() {
    watch_panics();
    let warnings = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(WarningCounter { needle: "key set fetch failed", count: Arc::clone(&warnings) });
    let _guard = tracing::subscriber::set_default(subscriber);
    // Another test's thread may have met these callsites first, with no subscriber of its
    // own, and cached "never interested" for them; recompute with this thread's subscriber.
    tracing::callsite::rebuild_interest_cache();

    let server =
        JwksServer::start(Behaviour::json(jwks()).with_status(StatusCode::SERVICE_UNAVAILABLE))
            .await;
    let clock = ManualClock::new();
    let remote = on_clock(&server.url(), &clock).cooldown(Duration::from_secs(1)).build().unwrap();
    let auth = auth(&remote);
    // 30 seconds of a flood: a retry every second, 20 requests between retries.
    for _ in 0..30 {
        for _ in 0..20 {
            let result = verify_guarded(&auth, &known_token()).await;
            assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable);
        }
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(server.fetches(), 30, "one retry per second");
    assert_eq!(warnings.load(Ordering::SeqCst), 1, "one warning for 30 failed fetches");
    clock.advance(Duration::from_secs(30));
    let _ = verify_guarded(&auth, &known_token()).await;
    assert_eq!(warnings.load(Ordering::SeqCst), 2, "a minute later, the next one");

    // Recovery, then a new failure: warned at once.
    server.set(|s| s.status = StatusCode::OK);
    clock.advance(Duration::from_secs(1));
    verify_guarded(&auth, &known_token()).await.expect("recovered");
    server.set(|s| s.status = StatusCode::SERVICE_UNAVAILABLE);
    assert!(refresh_guarded(&remote).await.is_err());
    assert_eq!(warnings.load(Ordering::SeqCst), 3, "a new outage is warned at once");
    assert_no_foreign_panics();
}
