//! The introspection answer cache at its bound: what inserting one more answer costs when the
//! cache is full of live answers (every insert evicts one), against the same inserts into a
//! cache with room (no eviction).
//!
//! Only the public API: a loopback introspection endpoint answers every call, the cache is
//! filled with `bound` distinct opaque tokens (answers valid for an hour), then each measured
//! insert is a `JwtAuth::verify` of a token never seen, so one call to the endpoint plus the
//! insert. The call is the same in both contenders; their difference is the eviction. Rounds
//! alternate the two contenders (as `benches/budget.rs` does), so machine drift cancels.
//!
//! Run: `cargo bench -p jwt-layer-benches --bench introspection_cache`. Prints one table; takes a
//! few seconds.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use jwt_layer::JwtAuth;

use common::*;

/// Cache bounds measured.
const BOUNDS: [usize; 2] = [10_000, 100_000];
/// Rounds per bound (odd, so the median is one round's figure).
const ROUNDS: usize = 41;
/// Inserts per contender per round.
const BURST: usize = 100;
/// Calls in flight while filling the cache.
const FILL_CONCURRENCY: usize = 64;

fn auth(endpoint: &str, bound: usize) -> JwtAuth<BenchClaims> {
    introspection_auth_with(endpoint, |config| {
        config.cache_ttl(Duration::from_secs(3600)).max_cache_entries(bound)
    })
}

/// Distinct opaque tokens, one name space per use.
fn token(space: &str, i: usize) -> String {
    format!("{space}-{i:08}-2YotnFZFEjr1zCsicMWpAA")
}

/// Verifies `count` fresh tokens one after the other; nanoseconds per verification.
fn inserts(
    runtime: &tokio::runtime::Runtime,
    auth: &JwtAuth<BenchClaims>,
    space: &str,
    next: &mut usize,
) -> f64 {
    let start = Instant::now();
    for _ in 0..BURST {
        let token = token(space, *next);
        *next += 1;
        runtime.block_on(auth.verify(&token)).unwrap();
    }
    start.elapsed().as_nanos() as f64 / BURST as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (endpoint, calls) = start_introspection_server();
    println!(
        "| cache bound | insert into a full cache | insert with room | difference (eviction) |"
    );
    println!("|---:|---:|---:|---:|");
    for bound in BOUNDS {
        let full = auth(&endpoint, bound);
        let fill = format!("fill{bound}");
        for batch in (0..bound).collect::<Vec<_>>().chunks(FILL_CONCURRENCY) {
            let tokens: Vec<String> = batch.iter().map(|&i| token(&fill, i)).collect();
            runtime.block_on(async {
                for verified in join_all(tokens.iter().map(|token| full.verify(token))).await {
                    verified.unwrap();
                }
            });
        }
        // Full: every filled token is answered from the cache, without a call.
        let before = calls.load(Ordering::Relaxed);
        runtime.block_on(full.verify(&token(&fill, 0))).unwrap();
        runtime.block_on(full.verify(&token(&fill, bound - 1))).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), before, "the cache holds every filled token");

        let room = auth(&endpoint, bound);
        let (mut evicting, mut roomy) = (Vec::new(), Vec::new());
        let (mut next_full, mut next_room) = (0, 0);
        let (full_space, room_space) = (format!("full{bound}"), format!("room{bound}"));
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                evicting.push(inserts(&runtime, &full, &full_space, &mut next_full));
                roomy.push(inserts(&runtime, &room, &room_space, &mut next_room));
            } else {
                roomy.push(inserts(&runtime, &room, &room_space, &mut next_room));
                evicting.push(inserts(&runtime, &full, &full_space, &mut next_full));
            }
        }
        assert!(next_room < bound, "the cache with room never fills");
        let (evicting, roomy) = (median(&mut evicting), median(&mut roomy));
        println!(
            "| {bound} | {:.1} µs | {:.1} µs | {:.1} µs |",
            evicting / 1e3,
            roomy / 1e3,
            (evicting - roomy) / 1e3
        );
    }
}
