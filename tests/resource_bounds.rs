//! Resource bounds under floods: garbage tokens, random `kid`s, random issuers and oversized
//! headers sent through the layer keep memory and outbound fetches bounded.
//!
//! - Fetches are counted by the loopback JWKS servers: a flood of random `kid`s costs at most
//!   one fetch per cooldown, and garbage, oversized headers or unknown issuers cost none. The
//!   key set's clock stands still, so "per cooldown" means one, however long the floods take.
//! - Memory is the process's resident set (`/proc/self/statm`), sampled every 64 requests of
//!   each flood worker: it may not grow by more than 50 MiB over its level after a warm-up.
//!   This is a correctness bound against unbounded growth (a cache keyed by attacker input,
//!   say), not a performance figure.
//!
//! One test in this binary, so nothing else runs in the process while it measures.
#![cfg(all(feature = "remote", target_os = "linux"))]

#[path = "support/clock.rs"]
mod clock;
#[path = "it/common.rs"]
mod common;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use clock::ManualClock;
use common::*;
use http::{HeaderValue, Request, StatusCode, header};
use jwks_server::{Behaviour, JwksServer};
use jwt_layer::keys::RemoteJwks;
use jwt_layer::{Algorithm, Claims, JwtAuth, TrustedIssuer};
use serde_json::{Value, json};
use tower::ServiceExt;

const GARBAGE: usize = 100_000;
const RANDOM_KIDS: usize = 10_000;
const RANDOM_ISSUERS: usize = 10_000;
const OVERSIZED: usize = 300;
const CONCURRENCY: usize = 8;
const MAX_GROWTH: u64 = 50 * 1024 * 1024;

/// Resident set size in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// The highest resident set size sampled by the flood workers.
static PEAK_RSS: AtomicU64 = AtomicU64::new(0);
/// Each flood worker samples the resident set after this many requests.
const SAMPLE_EVERY: u64 = 64;

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `min` to `min + spread - 1` random bytes.
    fn bytes(&mut self, min: usize, spread: usize) -> Vec<u8> {
        let len = min + self.below(spread);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// `min` to `min + spread - 1` characters of `alphabet`.
    fn text(&mut self, alphabet: &[u8], min: usize, spread: usize) -> String {
        let len = min + self.below(spread);
        (0..len).map(|_| alphabet[self.below(alphabet.len())] as char).collect()
    }
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";

/// One garbage `Authorization` value of a random kind.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        // Random b64token text, short or near the cap.
        0 => {
            let len = if rng.below(10) == 0 { 8000 + rng.below(400) } else { 1 + rng.below(300) };
            format!("Bearer {}", rng.text(B64TOKEN, len, 1)).into_bytes()
        }
        // Three random base64url segments.
        1 => {
            let parts: Vec<String> = (0..3).map(|_| rng.text(B64URL, 1, 200)).collect();
            format!("Bearer {}", parts.join(".")).into_bytes()
        }
        // A JSON header with random content, random payload and signature bytes.
        2 => {
            let header = format!(
                r#"{{"alg":"{}","kid":"{}"}}"#,
                ["RS256", "ES256", "HS256", "EdDSA", "none", "XX"][rng.below(6)],
                rng.text(B64URL, 0, 40)
            );
            let payload = rng.bytes(0, 200);
            let signature = rng.bytes(0, 300);
            format!("Bearer {}.{}.{}", b64(header), b64(payload), b64(signature)).into_bytes()
        }
        // Random visible bytes after the scheme (quotes, commas, spaces...).
        3 => {
            let tail: Vec<u8> =
                (0..1 + rng.below(200)).map(|_| 0x20 + rng.below(95) as u8).collect();
            [b"Bearer ".as_slice(), &tail].concat()
        }
        // obs-text bytes.
        4 => {
            let tail: Vec<u8> =
                (0..1 + rng.below(100)).map(|_| 0x80 + rng.below(128) as u8).collect();
            [b"Bearer ".as_slice(), &tail].concat()
        }
        // Another scheme with random credentials.
        5 => format!("Basic {}", rng.text(B64TOKEN, 1, 100)).into_bytes(),
        // Random bytes that are a valid header value.
        6 => rng
            .bytes(1, 300)
            .into_iter()
            .filter(|b| *b == b'\t' || (0x20..0x7f).contains(b) || *b >= 0x80)
            .collect(),
        // Header JSON that is deeply nested or duplicated.
        _ => {
            let depth = 1 + rng.below(300);
            let header = format!(
                r#"{{"alg":"ES256","alg":"ES256","x":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            format!("Bearer {}.{}.{}", b64(header), b64("{}"), b64([0u8; 64])).into_bytes()
        }
    }
}

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

fn request_with(authorization: &[u8]) -> Request<Body> {
    let mut request = Request::get("/me").body(Body::empty()).unwrap();
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    request
}

/// Sends `count` requests through `app`, `CONCURRENCY` at a time, each `Authorization` value
/// made just before it is sent (so only the requests in flight take memory) by `make` from a
/// generator seeded with the request's index. Returns how often each status was answered;
/// samples the resident set into [`PEAK_RSS`] as it goes.
async fn flood<F>(app: &Router, count: usize, make: F) -> Vec<(StatusCode, u64)>
where
    F: Fn(&mut Rng) -> Vec<u8> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (app, make, next) = (app.clone(), Arc::clone(&make), Arc::clone(&next));
        workers.spawn(async move {
            let mut seen: Vec<(StatusCode, u64)> = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count as u64 {
                    break;
                }
                if index % SAMPLE_EVERY == 0 {
                    PEAK_RSS.fetch_max(rss(), Ordering::Relaxed);
                }
                let mut rng =
                    Rng(0x5eed_1234_abcd_ef01 ^ (index + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let authorization = make(&mut rng);
                let response = tokio::time::timeout(
                    Duration::from_secs(10),
                    app.clone().oneshot(request_with(&authorization)),
                )
                .await
                .expect("a request hung for 10 s")
                .unwrap();
                let status = response.status();
                match seen.iter_mut().find(|(s, _)| *s == status) {
                    Some((_, n)) => *n += 1,
                    None => seen.push((status, 1)),
                }
            }
            seen
        });
    }
    let mut counts: Vec<(StatusCode, u64)> = Vec::new();
    while let Some(joined) = workers.join_next().await {
        for (status, n) in joined.expect("flood worker panicked") {
            match counts.iter_mut().find(|(s, _)| *s == status) {
                Some((_, total)) => *total += n,
                None => counts.push((status, n)),
            }
        }
    }
    counts
}

fn assert_only_refusals(phase: &str, counts: &[(StatusCode, u64)]) {
    for (status, n) in counts {
        assert!(
            *status == StatusCode::BAD_REQUEST || *status == StatusCode::UNAUTHORIZED,
            "{phase}: {n} requests answered {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_keep_memory_and_fetches_bounded() {
    let started = Instant::now();
    let server = JwksServer::start(Behaviour::json(issuer().jwks_json_with_secrets())).await;
    let other_server = JwksServer::start(Behaviour::json(issuer().jwks_json_with_secrets())).await;
    // The default cooldown (30 s), on a clock that stands still: a random-kid flood may cost
    // one fetch in this test, however long it takes.
    let keys = RemoteJwks::builder(server.url()).clock(ManualClock::new()).build().unwrap();
    let auth: JwtAuth<Value> =
        JwtAuth::builder().keys(keys.clone()).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let app = Router::new().route("/me", get(me)).layer(auth.layer());
    let issuers: JwtAuth<Value> = JwtAuth::builder()
        .trusted_issuer(
            TrustedIssuer::new(ISSUER, RemoteJwks::builder(other_server.url()).build().unwrap())
                .audience(AUDIENCE),
        )
        .build()
        .unwrap();
    let issuers_app = Router::new().route("/me", get(me)).layer(issuers.layer());

    // Warm-up: first fetch, allocator and runtime at their working size.
    let good =
        format!("Bearer {}", issuer().token().alg(Algorithm::ES256).claims(good_claims()).sign());
    let warm_good = good.clone();
    flood(&app, 5_000, move |rng| {
        if rng.below(2) == 0 { warm_good.clone().into_bytes() } else { garbage(rng) }
    })
    .await;
    // The first use, and one refresh for the first unknown kid among the garbage.
    let warm_up_fetches = server.fetches();
    assert!((1..=2).contains(&warm_up_fetches), "{warm_up_fetches} warm-up fetches");
    let baseline = rss();
    PEAK_RSS.store(baseline, Ordering::Relaxed);

    // 1. Garbage tokens.
    let mut phases = Vec::new();
    let phase_started = Instant::now();
    let counts = flood(&app, GARBAGE, garbage).await;
    phases.push(("garbage", phase_started.elapsed()));
    assert_only_refusals("garbage", &counts);
    let after_garbage = server.fetches();

    // 2. Random kids, well signed by a key nobody published.
    let claims = good_claims();
    let counts = flood(&app, RANDOM_KIDS, move |rng| {
        let header = json!({"alg":"EdDSA","kid": rng.text(B64URL, 1, 64)});
        let token = stranger()
            .token()
            .alg(Algorithm::EdDSA)
            .raw_header(&header.to_string())
            .claims(claims.clone())
            .sign();
        format!("Bearer {token}").into_bytes()
    })
    .await;
    phases.push(("random kids", phase_started.elapsed()));
    assert_only_refusals("random kids", &counts);
    let after_kids = server.fetches();

    // 3. Oversized Authorization headers (64 KiB to 1 MiB).
    let counts = flood(&app, OVERSIZED, |rng| {
        let len = 64 * 1024 + rng.below(960 * 1024);
        format!("Bearer {}", "A".repeat(len)).into_bytes()
    })
    .await;
    phases.push(("oversized", phase_started.elapsed()));
    assert_only_refusals("oversized", &counts);
    let after_oversized = server.fetches();

    // 4. Random issuers against a several-issuer configuration.
    let counts = flood(&issuers_app, RANDOM_ISSUERS, move |rng| {
        let mut claims = good_claims();
        claims["iss"] = json!(format!("https://{}.example", rng.text(B64URL, 12, 1)));
        let header = json!({"alg":"EdDSA","kid": rng.text(B64URL, 16, 1)});
        let token = stranger()
            .token()
            .alg(Algorithm::EdDSA)
            .raw_header(&header.to_string())
            .claims(claims)
            .sign();
        format!("Bearer {token}").into_bytes()
    })
    .await;
    phases.push(("random issuers", phase_started.elapsed()));
    assert_only_refusals("random issuers", &counts);

    // The good token still verifies, without a new fetch.
    let response = app.clone().oneshot(request_with(good.as_bytes())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a good token after the floods");

    let end = rss();
    let peak = PEAK_RSS.load(Ordering::Relaxed).max(end);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "floods: {GARBAGE} garbage, {RANDOM_KIDS} random kids, {OVERSIZED} oversized headers, \
         {RANDOM_ISSUERS} random issuers in {:.1?}; JWKS fetches: warm-up {warm_up_fetches}, garbage {}, \
         random kids {}, oversized {}, other issuer's server {}; RSS baseline {:.1} MiB, \
         peak {:.1} MiB, end {:.1} MiB; phases ended at {phases:.1?}",
        started.elapsed(),
        after_garbage - warm_up_fetches,
        after_kids - after_garbage,
        after_oversized - after_kids,
        other_server.fetches(),
        mib(baseline),
        mib(peak),
        mib(end)
    );

    // Garbage (some of it with random kids) and random kids: at most one refresh in the one
    // cooldown the key set's clock spans, the warm-up's included.
    assert!(
        after_kids - warm_up_fetches <= 1 && after_kids <= 2,
        "{} fetches for unknown kids after {warm_up_fetches} in the warm-up",
        after_kids - warm_up_fetches
    );
    assert_eq!(after_oversized, after_kids, "oversized headers caused fetches");
    assert_eq!(server.fetches(), after_oversized, "the good token after the floods fetched");
    assert_eq!(other_server.fetches(), 0, "unknown issuers caused fetches");
    assert!(
        peak.saturating_sub(baseline) < MAX_GROWTH,
        "RSS grew from {:.1} MiB to a peak of {:.1} MiB during the floods",
        mib(baseline),
        mib(peak)
    );
    assert!(
        end.saturating_sub(baseline) < MAX_GROWTH,
        "RSS grew from {:.1} MiB to {:.1} MiB after the floods",
        mib(baseline),
        mib(end)
    );
}
