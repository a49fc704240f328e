//! Remote key sets (`RemoteJwks`) against a real JWKS endpoint on loopback: rotation, outages,
//! hostile or broken answers, unknown-`kid` floods, HTTP caching (`Cache-Control`, `ETag`/304),
//! single-flight first use, the `http://` rule, and unusable keys in a served set.
//!
//! Every request goes to a server this file starts on 127.0.0.1; nothing leaves the machine.
#![cfg(feature = "remote")]

mod common;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use common::*;
use http::StatusCode;
use jwks_server::{Behaviour, JwksServer, Payload};
use jwt_layer::keys::{Jwks, RemoteJwks, RemoteStatus};
use jwt_layer::{Algorithm, AuthError, JwtAuth};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Keys of our own, for rotation: A, then A+B, then B only (C is never published).

struct TestKey {
    kid: &'static str,
    pair: Ed25519KeyPair,
}

impl TestKey {
    fn jwk(&self) -> Value {
        json!({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid": self.kid,
               "x": b64(self.pair.public_key().as_ref())})
    }

    /// A token with good claims signed by this key, `kid` set to this key's.
    fn mint(&self) -> String {
        let header = json!({"alg":"EdDSA","typ":"JWT","kid": self.kid});
        let input = format!("{}.{}", b64(header.to_string()), b64(good_claims().to_string()));
        let signature = self.pair.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.as_ref()))
    }
}

fn rotation_keys() -> &'static [TestKey; 3] {
    static KEYS: OnceLock<[TestKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        ["rot-a", "rot-b", "rot-c"]
            .map(|kid| TestKey { kid, pair: Ed25519KeyPair::generate().unwrap() })
    })
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

/// A well-signed token (common's Ed25519 key) whose `kid` no served set holds.
fn unknown_kid_token() -> String {
    let header = json!({"alg":"EdDSA","typ":"JWT","kid": random_kid()});
    mint_raw(Algorithm::EdDSA, &header.to_string(), &good_claims().to_string())
}

/// A token verified by `common::jwks()` (kid `p256`).
fn known_token() -> String {
    mint(Algorithm::ES256, &good_claims())
}

/// `common::jwks()` padded with an extra member to about `size` bytes (still a valid JWKS).
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

/// `later - earlier` in seconds, negative when `later` is earlier.
fn secs(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

async fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Verifies with a hard outer limit, so a hang fails the test instead of stalling the run.
async fn verify_timed(auth: &JwtAuth<Value>, token: &str) -> (Result<Value, AuthError>, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(20), auth.verify(token))
        .await
        .expect("verify hung for 20 s");
    (result, started.elapsed())
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

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

// ---------------------------------------------------------------------------------------------
// 1. Rotation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_adds_new_keys_on_first_use_and_drops_retired_ones() {
    watch_panics();
    let (a, b, c) = (key_a(), key_b(), key_c());
    let server = JwksServer::start(Behaviour::json(jwks_of(&[a]))).await;
    let cooldown = ms(300);
    let remote = RemoteJwks::builder(server.url())
        .cooldown(cooldown)
        .min_ttl(Duration::ZERO)
        .default_ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    let auth = auth(&remote);
    assert_eq!(server.fetches(), 0, "building must not fetch (lazy)");

    auth.verify(&a.mint()).await.expect("token by A verifies");
    assert_eq!(server.fetches(), 1);
    assert_eq!(kids(&remote.status()), ["rot-a"]);
    auth.verify(&a.mint()).await.expect("token by A verifies again");
    assert_eq!(server.fetches(), 1, "a known kid never fetches");

    // B is published next to A. (Wait out the cooldown counted from the first fetch, so the
    // test holds whichever way the cooldown is counted.)
    server.set(|s| s.payload = Payload::Json(jwks_of(&[a, b])));
    tokio::time::sleep(cooldown + ms(50)).await;
    let (result, _) = verify_timed(&auth, &b.mint()).await;
    result.expect("token by B verifies on its first use (unknown kid → refresh)");
    assert_eq!(server.fetches(), 2);
    assert_eq!(kids(&remote.status()), ["rot-a", "rot-b"]);
    auth.verify(&a.mint()).await.expect("A still verifies");

    // Within the cooldown, another unknown kid does not fetch.
    let (result, _) = verify_timed(&auth, &c.mint()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(server.fetches(), 2, "an unknown kid within the cooldown must not fetch");

    // A is retired. The cached set still holds it until something refreshes.
    server.set(|s| s.payload = Payload::Json(jwks_of(&[b])));
    auth.verify(&a.mint()).await.expect("A verifies from the cached set");
    assert_eq!(server.fetches(), 2);

    // After the cooldown, an unknown kid refreshes; the new set has no A.
    tokio::time::sleep(cooldown + ms(50)).await;
    let (result, _) = verify_timed(&auth, &unknown_kid_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(server.fetches(), 3, "the unknown kid after the cooldown refreshes once");
    assert_eq!(kids(&remote.status()), ["rot-b"]);

    let (result, _) = verify_timed(&auth, &a.mint()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "retired key A must be refused");
    assert_eq!(server.fetches(), 3, "A's now-unknown kid is within the cooldown: no fetch");
    auth.verify(&b.mint()).await.expect("B verifies");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn rotation_under_concurrency_never_refuses_the_new_key() {
    // Many short rotations: the provider knows A; B is published; 16 tokens by B arrive at
    // once. One of them triggers the unknown-kid refresh; every other one must either join
    // it or see its result, never answer from the old set after the refresh completed.
    // Time-boxed; a correct provider never refuses.
    watch_panics();
    let (a, b) = (key_a(), key_b());
    let server = JwksServer::start(Behaviour::json(jwks_of(&[a]))).await;
    let client = reqwest::Client::new();
    let (token_a, token_b) = (a.mint(), b.mint());
    let (mut refused, mut rotations, mut verifies) = (Vec::new(), 0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < ms(2000) {
        rotations += 1;
        server.set(|s| s.payload = Payload::Json(jwks_of(&[a])));
        let remote = RemoteJwks::builder(server.url())
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
            tasks.spawn(async move { auth.verify(&token).await });
        }
        while let Some(joined) = tasks.join_next().await {
            verifies += 1;
            if let Err(err) = joined.expect("verify task panicked") {
                refused.push((rotations, err, remote.status().fetches, kids(&remote.status())));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "{} of {verifies} first uses of the new key refused (in {rotations} rotations); \
         first ones as (rotation, error, provider fetches, key ids after): {:?}",
        refused.len(),
        &refused[..refused.len().min(3)]
    );
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_ttl_expiry_drops_retired_keys() {
    watch_panics();
    let (a, b) = (key_a(), key_b());
    let server = JwksServer::start(Behaviour::json(jwks_of(&[a]))).await;
    let ttl = ms(400);
    let remote = RemoteJwks::builder(server.url())
        .cooldown(Duration::from_secs(10))
        .min_ttl(Duration::ZERO)
        .default_ttl(ttl)
        .build()
        .unwrap();
    let auth = auth(&remote);

    auth.verify(&a.mint()).await.expect("A verifies");
    assert_eq!(server.fetches(), 1);
    server.set(|s| s.payload = Payload::Json(jwks_of(&[b])));
    tokio::time::sleep(ttl + ms(100)).await;

    // The set has expired: the next lookup refreshes (its own verdict may come from the stale
    // set, so it is not asserted).
    let _ = verify_timed(&auth, &b.mint()).await;
    assert!(
        wait_until(Duration::from_secs(3), || kids(&remote.status()) == ["rot-b"]).await,
        "the expired set was not replaced: fetches {}, status {:?}",
        server.fetches(),
        remote.status()
    );
    assert_eq!(server.fetches(), 2, "requests: {:#?}", server.requests());

    let (result, _) = verify_timed(&auth, &a.mint()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "retired key A must be refused");
    auth.verify(&b.mint()).await.expect("B verifies");
    assert!(server.fetches() <= 3, "fetches: {}", server.fetches());
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 2. Outage after a successful fetch.

async fn outage_keeps_known_keys(stop_server: bool) {
    watch_panics();
    let mut server = JwksServer::start(Behaviour::json(jwks())).await;
    let timeout = ms(500);
    let remote = RemoteJwks::builder(server.url())
        .timeout(timeout)
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
    tokio::time::sleep(ms(400)).await;

    for _ in 0..3 {
        let (result, elapsed) = verify_timed(&auth, &known_token()).await;
        result.expect("known key keeps verifying during the outage");
        assert!(elapsed < timeout + Duration::from_secs(1), "verify took {elapsed:?}");
    }
    let (result, elapsed) = verify_timed(&auth, &unknown_kid_token()).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, AuthError::UnknownKey | AuthError::KeysUnavailable),
        "unknown kid during outage: {err:?}"
    );
    assert!(elapsed < timeout + Duration::from_secs(1), "verify took {elapsed:?}");

    let started = Instant::now();
    let refreshed = tokio::time::timeout(Duration::from_secs(20), remote.refresh()).await.unwrap();
    assert!(refreshed.is_err(), "refresh during the outage must fail");
    assert!(started.elapsed() < timeout + Duration::from_secs(1));

    let after = remote.status();
    assert!(after.last_error.is_some(), "last_error must be set during the outage: {after:?}");
    assert_eq!(after.last_success, before.last_success, "no success during the outage");
    assert_eq!(kids(&after), kids(&before), "the last good set is kept");
    assert!(after.last_fetch >= after.last_success);

    let (result, _) = verify_timed(&auth, &known_token()).await;
    result.expect("known key still verifies after failed refreshes");
    if !stop_server {
        assert!(server.fetches() >= 2, "the failing refreshes reached the server");
        // The server recovers: a refresh succeeds and clears the error.
        server.set(|s| s.status = StatusCode::OK);
        remote.refresh().await.expect("refresh after recovery");
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
    let remote = RemoteJwks::builder(server.url())
        .timeout(ms(300))
        .cooldown(ms(100))
        .min_ttl(Duration::ZERO)
        .default_ttl(ms(300))
        .max_staleness(ms(500))
        .build()
        .unwrap();
    let auth = auth(&remote);
    auth.verify(&known_token()).await.expect("known key verifies");
    let fetched_at = Instant::now();
    server.stop().await;

    // Expired (300 ms) but within max_staleness (300 + 500 ms): still served.
    tokio::time::sleep(ms(450).saturating_sub(fetched_at.elapsed())).await;
    let since_fetch = fetched_at.elapsed();
    let (result, _) = verify_timed(&auth, &known_token()).await;
    if let Err(err) = result {
        panic!(
            "within max_staleness ({since_fetch:?} after the fetch; expiry 300 ms + staleness \
             500 ms) the last good set must be used, got {err:?}; status {:?}",
            remote.status()
        );
    }

    // Well past expiry + max_staleness: the set must no longer be trusted.
    tokio::time::sleep(ms(1100).saturating_sub(fetched_at.elapsed())).await;
    let (result, elapsed) = verify_timed(&auth, &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable, "stale set past max_staleness");
    assert!(elapsed < ms(300) + Duration::from_secs(1), "verify took {elapsed:?}");
    assert!(remote.status().last_error.is_some());
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// 3. Broken answers with no set ever fetched: KeysUnavailable, in bounded time, no panic.

const FAIL_TIMEOUT: Duration = Duration::from_millis(300);
const FAIL_CAP: usize = 10_000;

async fn assert_cold_failure(behaviour: Behaviour, timeout: Duration, bound: Duration) {
    watch_panics();
    let server = JwksServer::start(behaviour).await;
    let remote = RemoteJwks::builder(server.url())
        .timeout(timeout)
        .max_response_bytes(FAIL_CAP)
        .cooldown(ms(200))
        .build()
        .unwrap();
    let auth = auth(&remote);

    for attempt in 0..2 {
        let (result, elapsed) = verify_timed(&auth, &known_token()).await;
        assert_eq!(
            result.as_ref().err(),
            Some(&AuthError::KeysUnavailable),
            "attempt {attempt}: {result:?}"
        );
        assert!(elapsed < bound, "attempt {attempt}: verify took {elapsed:?}, bound {bound:?}");
    }
    assert!(server.fetches() >= 1, "the server was never asked");

    let status = remote.status();
    assert!(status.last_error.is_some(), "last_error must say why: {status:?}");
    assert!(status.last_success.is_none(), "{status:?}");
    assert!(status.key_ids.is_empty(), "{status:?}");

    let started = Instant::now();
    let refreshed = tokio::time::timeout(Duration::from_secs(20), remote.refresh())
        .await
        .expect("refresh hung for 20 s");
    assert!(refreshed.is_err(), "refresh must fail");
    assert!(started.elapsed() < bound, "refresh took {:?}", started.elapsed());
    assert_no_foreign_panics();
}

fn fail_bound() -> Duration {
    FAIL_TIMEOUT + Duration::from_secs(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_500_is_keys_unavailable() {
    // A valid JWKS body does not make an error status acceptable.
    let behaviour = Behaviour::json(jwks()).with_status(StatusCode::INTERNAL_SERVER_ERROR);
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_404_is_keys_unavailable() {
    let behaviour = Behaviour::json(jwks()).with_status(StatusCode::NOT_FOUND);
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_garbage_is_keys_unavailable() {
    let garbage = b"<html><body>502 Bad Gateway \xff\xfe\x00</body></html>".to_vec();
    let behaviour = Behaviour::json(Value::Null).with_payload(Payload::Raw(garbage));
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_set_without_usable_key_is_keys_unavailable() {
    let rsa = PublicKeyComponents::<Vec<u8>>::from(keys().rsa.public_key());
    let documents = [
        json!({"keys": []}),
        json!({"no_keys_here": true}),
        json!({"keys": [
            {"kty":"RSA","kid":"enc","use":"enc","alg":"RSA-OAEP","n": b64(&rsa.n),"e": b64(&rsa.e)},
            {"kty":"XYZ","kid":"weird"},
        ]}),
    ];
    for document in documents {
        assert_cold_failure(Behaviour::json(document), FAIL_TIMEOUT, fail_bound()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_oversized_body_with_content_length_is_keys_unavailable() {
    let body = padded_jwks(100_000);
    let behaviour = Behaviour::json(Value::Null).with_payload(Payload::Raw(body));
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_oversized_streamed_body_is_keys_unavailable() {
    // A valid JWKS of 100 KB without Content-Length, in 1 KB chunks.
    let body = padded_jwks(100_000);
    let behaviour =
        Behaviour::json(Value::Null).with_payload(Payload::Streamed { body, chunk_size: 1024 });
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
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
    let (result, _) = verify_timed(&auth(&remote), &known_token()).await;
    result.expect("a set under the cap verifies");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_body_is_cut_off_by_the_cap_not_the_timeout() {
    // The body never ends (8 KB every 2 ms). With a 10 s timeout, only the byte cap can end
    // the fetch quickly: the verdict must come long before the timeout.
    let behaviour = Behaviour::json(Value::Null)
        .with_payload(Payload::Endless { chunk: vec![b' '; 8 * 1024], every: ms(2) });
    assert_cold_failure(behaviour, Duration::from_secs(10), Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_slow_response_is_keys_unavailable_within_the_timeout() {
    let behaviour = Behaviour::json(jwks()).with_delay(Duration::from_secs(3));
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_stalled_body_is_keys_unavailable_within_the_timeout() {
    // Headers arrive at once, then the body stops after a few bytes and never ends.
    let behaviour = Behaviour::json(Value::Null)
        .with_payload(Payload::Stalled { prefix: br#"{"keys":["#.to_vec() });
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_trickling_body_is_keys_unavailable_within_the_timeout() {
    // One byte every 50 ms: no read ever idles long, so only a whole-fetch timeout ends it.
    let behaviour = Behaviour::json(Value::Null)
        .with_payload(Payload::Endless { chunk: b" ".to_vec(), every: ms(50) });
    assert_cold_failure(behaviour, FAIL_TIMEOUT, fail_bound()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_cap_is_one_mib() {
    watch_panics();
    let over = JwksServer::start(
        Behaviour::json(Value::Null).with_payload(Payload::Raw(padded_jwks(1024 * 1024 + 4096))),
    )
    .await;
    let remote = Jwks::remote(over.url()).unwrap();
    let (result, _) = verify_timed(&auth(&remote), &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable, "a set over 1 MiB is refused");

    let under = JwksServer::start(
        Behaviour::json(Value::Null).with_payload(Payload::Raw(padded_jwks(900 * 1024))),
    )
    .await;
    let remote = Jwks::remote(under.url()).unwrap();
    let (result, _) = verify_timed(&auth(&remote), &known_token()).await;
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
        tasks.spawn(async move { (is_known, verify_timed(&auth, &token).await) });
    }
    let mut known_ok = 0;
    while let Some(joined) = tasks.join_next().await {
        let (is_known, (result, _)) = joined.expect("verify task panicked");
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
    let remote =
        RemoteJwks::builder(server.url()).cooldown(Duration::from_secs(10)).build().unwrap();
    let auth = auth(&remote);
    if warm {
        auth.verify(&known_token()).await.expect("warm-up");
        assert_eq!(server.fetches(), 1);
    }

    flood(&auth, 500, 20).await;
    for _ in 0..5 {
        tokio::time::sleep(ms(200)).await;
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
    let remote = RemoteJwks::builder(server.url())
        .min_ttl(Duration::ZERO)
        .max_ttl(Duration::from_secs(3600))
        .cooldown(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = auth(&remote);

    auth.verify(&known_token()).await.expect("known key verifies");
    assert_eq!(server.fetches(), 1);
    let first = remote.status();
    let ttl = secs(first.expires_at.expect("expires_at"), first.last_success.unwrap());
    assert!((0.75..=1.25).contains(&ttl), "max-age=1 gave a TTL of {ttl} s");

    tokio::time::sleep(ms(1200)).await;
    // The refresh will be slow; lookups must not wait for it.
    server.set(|s| s.delay = ms(800));
    for _ in 0..5 {
        let (result, elapsed) = verify_timed(&auth, &known_token()).await;
        result.expect("known key verifies while the set is being refreshed");
        assert!(elapsed < ms(400), "a known key waited for the refresh: {elapsed:?}");
    }
    assert!(
        wait_until(Duration::from_secs(2), || server.fetches() == 2).await,
        "no refresh after max-age expired: fetches {}",
        server.fetches()
    );
    assert!(
        wait_until(Duration::from_secs(3), || remote.status().last_success > first.last_success)
            .await,
        "the background refresh did not complete: {:?}",
        remote.status()
    );
    let second = remote.status();
    let ttl = secs(second.expires_at.unwrap(), second.last_success.unwrap());
    assert!((0.75..=1.25).contains(&ttl), "after refresh, TTL {ttl} s");
    assert!(second.expires_at > first.expires_at);
    assert_eq!(server.fetches(), 2, "exactly one refresh");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_max_age_is_clamped_to_max_ttl() {
    watch_panics();
    let server =
        JwksServer::start(Behaviour::json(jwks()).with_cache_control("max-age=100000")).await;
    let remote = RemoteJwks::builder(server.url())
        .min_ttl(Duration::ZERO)
        .max_ttl(Duration::from_secs(2))
        .cooldown(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = auth(&remote);
    auth.verify(&known_token()).await.expect("known key verifies");
    let status = remote.status();
    let expires_at = status.expires_at.expect("expires_at");
    let ttl = secs(expires_at, status.last_success.unwrap());
    assert!((1.5..=2.5).contains(&ttl), "max-age=100000 with max_ttl 2 s gave {ttl} s");

    let wait = expires_at.duration_since(SystemTime::now()).unwrap_or_default() + ms(200);
    tokio::time::sleep(wait).await;
    auth.verify(&known_token()).await.expect("known key verifies");
    assert!(
        wait_until(Duration::from_secs(2), || server.fetches() == 2).await,
        "no refresh after the clamped TTL: fetches {}",
        server.fetches()
    );
    assert_no_foreign_panics();
}

/// Fetches once with `cache_control` from a provider made by `make` and returns
/// `expires_at - last_success` in seconds.
async fn ttl_for(cache_control: Option<&str>, make: impl FnOnce(&str) -> RemoteJwks) -> f64 {
    let mut behaviour = Behaviour::json(jwks());
    if let Some(value) = cache_control {
        behaviour = behaviour.with_cache_control(value);
    }
    let server = JwksServer::start(behaviour).await;
    let remote = make(&server.url());
    remote.refresh().await.expect("refresh");
    auth(&remote).verify(&known_token()).await.expect("known key verifies");
    assert_eq!(server.fetches(), 1);
    let status = remote.status();
    secs(status.expires_at.expect("expires_at"), status.last_success.expect("last_success"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_defaults_and_clamping() {
    watch_panics();
    let defaults = |url: &str| RemoteJwks::builder(url).build().unwrap();
    let near = |ttl: f64, want: f64| (ttl - want).abs() <= 5.0;

    let ttl = ttl_for(None, defaults).await;
    assert!(near(ttl, 600.0), "no Cache-Control: default_ttl is 10 min, got {ttl} s");

    let ttl = ttl_for(Some("max-age=1"), defaults).await;
    assert!(near(ttl, 300.0), "max-age=1 clamps up to min_ttl 5 min, got {ttl} s");

    let ttl = ttl_for(Some("public, max-age=600, must-revalidate"), defaults).await;
    assert!(near(ttl, 600.0), "max-age=600 among other directives, got {ttl} s");

    let ttl = ttl_for(Some("max-age=100000000"), defaults).await;
    assert!(near(ttl, 86_400.0), "max-age clamps down to max_ttl 24 h, got {ttl} s");

    let ttl = ttl_for(None, |url| {
        RemoteJwks::builder(url).default_ttl(Duration::from_secs(420)).build().unwrap()
    })
    .await;
    assert!(near(ttl, 420.0), "no Cache-Control: configured default_ttl 7 min, got {ttl} s");

    let ttl = ttl_for(Some("max-age=1"), |url| {
        RemoteJwks::builder(url).min_ttl(Duration::from_secs(60)).build().unwrap()
    })
    .await;
    assert!(near(ttl, 60.0), "max-age=1 with min_ttl 60 s, got {ttl} s");
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
    let remote = RemoteJwks::builder(server.url())
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
    tokio::time::sleep(ms(20)).await;
    remote.refresh().await.expect("a 304 is a successful refresh");
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
    tokio::time::sleep(ms(1100)).await;
    auth.verify(&known_token()).await.expect("known key verifies");
    assert!(
        wait_until(Duration::from_secs(2), || server.fetches() == 3).await,
        "no revalidation after max-age expired: fetches {}",
        server.fetches()
    );
    assert_eq!(server.requests()[2].if_none_match.as_deref(), Some("\"v1\""));
    assert!(
        wait_until(Duration::from_secs(2), || remote.status().last_success > second.last_success)
            .await
    );
    auth.verify(&known_token()).await.expect("known key verifies after the second 304");

    // A changed set with a new ETag replaces the keys; the next request names the new ETag.
    server.set(|s| {
        s.payload = Payload::Json(jwks_of(&[key_b()]));
        s.etag = Some("\"v2\"".into());
    });
    remote.refresh().await.expect("refresh");
    // A background revalidation may have run just before (a 304): look past it.
    assert!(server.requests()[3..].iter().any(|request| request.status == StatusCode::OK));
    assert_eq!(kids(&remote.status()), ["rot-b"]);
    auth.verify(&key_b().mint()).await.expect("B verifies after the new set");
    let (result, _) = verify_timed(&auth, &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "p256 left the set");
    remote.refresh().await.expect("refresh");
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
    let server = JwksServer::start(Behaviour::json(jwks()).with_delay(ms(200))).await;
    let remote = Jwks::remote(server.url()).unwrap();
    let auth = auth(&remote);

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let auth = auth.clone();
        let token = known_token();
        tasks.spawn(async move { verify_timed(&auth, &token).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let (result, _) = joined.expect("verify task panicked");
        result.expect("every concurrent first use verifies");
    }
    assert_eq!(server.fetches(), 1, "50 concurrent cold lookups must share one fetch");
    assert!(started.elapsed() < ms(200) + Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(remote.status().fetches, 1);
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_first_use_never_refuses_a_good_token() {
    // Many short cold starts, 16 concurrent first verifies each: none may be refused while
    // another request is starting the first fetch (no set yet, no fetch in flight, but a fetch
    // being started is not "the last fetch failed"). Time-boxed; a correct provider never fails.
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let client = reqwest::Client::new();
    let token = known_token();
    let (mut refused, mut cold_starts, mut verifies) = (Vec::new(), 0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < ms(2000) {
        cold_starts += 1;
        let remote = RemoteJwks::builder(server.url()).client(client.clone()).build().unwrap();
        let auth = auth(&remote);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (auth, token) = (auth.clone(), token.clone());
            tasks.spawn(async move { auth.verify(&token).await });
        }
        while let Some(joined) = tasks.join_next().await {
            verifies += 1;
            if let Err(err) = joined.expect("verify task panicked") {
                refused.push((cold_starts, err, remote.status().fetches));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "{} of {verifies} concurrent first-use verifies refused (in {cold_starts} cold starts); \
         first ones as (cold start, error, provider fetches): {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );
    assert_eq!(server.fetches(), cold_starts, "one fetch per cold start");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_use_shares_one_failing_fetch() {
    watch_panics();
    let timeout = ms(300);
    let server =
        JwksServer::start(Behaviour::json(jwks()).with_delay(Duration::from_secs(3))).await;
    let remote = RemoteJwks::builder(server.url()).timeout(timeout).build().unwrap();
    let auth = auth(&remote);

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let auth = auth.clone();
        let token = known_token();
        tasks.spawn(async move { verify_timed(&auth, &token).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let (result, elapsed) = joined.expect("verify task panicked");
        assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable);
        assert!(elapsed < timeout + Duration::from_secs(1), "verify took {elapsed:?}");
    }
    assert!(started.elapsed() < timeout + Duration::from_secs(1));
    assert_eq!(server.fetches(), 1, "50 concurrent cold lookups must share one (failing) fetch");
    assert_no_foreign_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_once_the_server_does() {
    watch_panics();
    let server =
        JwksServer::start(Behaviour::json(jwks()).with_status(StatusCode::SERVICE_UNAVAILABLE))
            .await;
    let remote = RemoteJwks::builder(server.url()).cooldown(ms(200)).build().unwrap();
    let auth = auth(&remote);

    let (result, _) = verify_timed(&auth, &known_token()).await;
    assert_eq!(result.unwrap_err(), AuthError::KeysUnavailable);
    assert!(remote.status().last_error.is_some());

    server.set(|s| s.status = StatusCode::OK);
    tokio::time::sleep(ms(250)).await;
    let (result, _) = verify_timed(&auth, &known_token()).await;
    result.expect("verifies once the server answers again");
    let status = remote.status();
    assert!(status.last_success.is_some());
    assert!(status.last_error.is_none(), "a success clears last_error: {status:?}");
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
    let rsa = PublicKeyComponents::<Vec<u8>>::from(keys().rsa.public_key());
    let document = json!({"keys": [
        {"kty":"RSA","kid":"enc-rsa","use":"enc","alg":"RS256","n": b64(&rsa.n),"e": b64(&rsa.e)},
        {"kty":"XYZ","kid":"weird","x":"AAAA"},
        {"kty":"EC","kid":"p521","crv":"P-521","x":"AAAA","y":"AAAA"},
        {"kty":"OKP","kid":"x25519","crv":"X25519","x": b64([9u8; 32])},
        {"kty":"oct","kid":"ops","alg":"HS256","k": b64(HMAC_SECRET),"key_ops":["encrypt"]},
        "not an object",
        key_a().jwk(),
    ]});
    let server = JwksServer::start(Behaviour::json(document)).await;
    let remote =
        RemoteJwks::builder(server.url()).cooldown(Duration::from_secs(10)).build().unwrap();
    let auth = auth(&remote);

    auth.verify(&key_a().mint()).await.expect("the usable key verifies");
    assert_eq!(kids(&remote.status()), ["rot-a"], "only the usable key is kept");
    let enc_token = mint_raw(
        Algorithm::RS256,
        &json!({"alg":"RS256","typ":"JWT","kid":"enc-rsa"}).to_string(),
        &good_claims().to_string(),
    );
    let (result, _) = verify_timed(&auth, &enc_token).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "a `use: enc` key must not verify");
    let hmac_token = mint_raw(
        Algorithm::HS256,
        &json!({"alg":"HS256","typ":"JWT","kid":"ops"}).to_string(),
        &good_claims().to_string(),
    );
    let (result, _) = verify_timed(&auth, &hmac_token).await;
    assert_eq!(result.unwrap_err(), AuthError::UnknownKey, "key_ops without verify");
    assert_no_foreign_panics();
}

// ---------------------------------------------------------------------------------------------
// Around the edges.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_kind_verifies_through_a_remote_set_with_one_fetch() {
    watch_panics();
    let server = JwksServer::start(Behaviour::json(jwks())).await;
    let remote = Jwks::remote(server.url()).unwrap();
    let auth = auth(&remote);
    for alg in [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        auth.verify(&mint(alg, &good_claims())).await.unwrap_or_else(|e| panic!("{alg}: {e:?}"));
    }
    assert_eq!(server.fetches(), 1);
    // A token signed by a key the set does not hold, under a known kid: bad signature.
    let forged = {
        let header = json!({"alg":"EdDSA","typ":"JWT","kid":"ed25519"}).to_string();
        let input = format!("{}.{}", b64(&header), b64(good_claims().to_string()));
        format!("{input}.{}", b64(key_c().pair.sign(input.as_bytes()).as_ref()))
    };
    let (result, _) = verify_timed(&auth, &forged).await;
    assert_eq!(result.unwrap_err(), AuthError::InvalidSignature);
    assert_eq!(server.fetches(), 1, "a known kid with a bad signature does not fetch");
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
    assert_eq!(kids(&status), ["ed25519", "hmac", "p256", "p384", "rsa"]);

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
