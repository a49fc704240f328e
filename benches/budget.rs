//! The performance budget's ratios, measured interleaved: `JwtAuth::verify` (b) against the
//! bare aws-lc signature check (sig) for every algorithm, for HS256 against
//! `jsonwebtoken::decode` (a), and a request through an axum router with the layer (c)
//! against the same router behind jwt-authorizer (e) and tower-oauth2-resource-server (f).
//!
//! `benches/verify.rs` measures each contender for seconds, one after the other; on a shared
//! VM the machine's speed drifts between them, and a ratio of two such medians carries that
//! drift. Here each round times a short burst of one contender and then of the other (the
//! order alternating between rounds), so both see the same machine, and the verdict is the
//! median of the per-round ratios, with its interquartile range.
//!
//! Run: `cargo bench -p jwt-layer-benches --bench budget`. Prints two tables; takes about a
//! minute. A router
//! contender's time includes building its request (the same request for all three), which
//! moves (c)/(e) and (c)/(f) towards 1: against the layer, not for it.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use jwt_layer::Algorithm;
use tower::ServiceExt;

use common::*;

/// Rounds per algorithm (odd, so the median is one round's ratio).
const ROUNDS: usize = 201;
/// How long one burst of one contender lasts, roughly.
const BURST: Duration = Duration::from_millis(5);

/// Times `iterations` calls of `op`, in nanoseconds per call.
fn burst(iterations: u32, op: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

/// The median, first and third quartile of `values`.
fn quartiles(values: &mut [f64]) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    [at(0.5), at(0.25), at(0.75)]
}

/// Per-round ratios `measured / baseline`, and each one's median time per call.
fn interleaved(measured: &mut dyn FnMut(), baseline: &mut dyn FnMut()) -> ([f64; 3], f64, f64) {
    // Warm up both, and size a burst from the slower one's speed.
    let slower = burst(50, measured).max(burst(50, baseline));
    let iterations = ((BURST.as_nanos() as f64 / slower) as u32).max(5);
    let (mut ratios, mut ours, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (m, b) = if round % 2 == 0 {
            let m = burst(iterations, measured);
            (m, burst(iterations, baseline))
        } else {
            let b = burst(iterations, baseline);
            (burst(iterations, measured), b)
        };
        ratios.push(m / b);
        ours.push(m);
        theirs.push(b);
    }
    (quartiles(&mut ratios), quartiles(&mut ours)[0], quartiles(&mut theirs)[0])
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument selects algorithms by name.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    println!(
        "Interleaved ({ROUNDS} rounds of ~{} ms bursts per pair; median [quartiles]):",
        BURST.as_millis()
    );
    println!();
    println!(
        "| alg | sig | b verify | b / sig (asym. ≤ 1.10) | a jsonwebtoken | b / a (HS256 ≤ 0.70) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut routers = Vec::new();
    for alg in ALGORITHMS {
        if !only.is_empty() && !only.iter().any(|name| name == alg.as_str()) {
            continue;
        }
        let fx = fixture(alg);
        let auth = our_auth(&fx);
        let message = fx.signing_input.as_bytes();
        let mut verify = || {
            black_box(auth.verify(black_box(&fx.token)).now_or_never().unwrap().unwrap());
        };
        let mut sig = || assert!(fx.bare.verify(black_box(message), black_box(&fx.signature)));
        let ([ratio, low, high], b, s) = interleaved(&mut verify, &mut sig);
        let verdict = match alg {
            Algorithm::HS256 => String::new(),
            _ if ratio <= 1.10 => " (met)".to_owned(),
            _ => " (MISSED)".to_owned(),
        };
        let sig_cell = format!("{ratio:.3} [{low:.3}–{high:.3}]{verdict}");
        let (a_cell, ba_cell) = match (alg, jsonwebtoken_validation(alg), &fx.jwt_key) {
            (Algorithm::HS256, Some(validation), Some(key)) => {
                let mut decode = || {
                    black_box(
                        jsonwebtoken::decode::<BenchClaims>(black_box(&fx.token), key, &validation)
                            .unwrap(),
                    );
                };
                let ([ratio, low, high], _, a) = interleaved(&mut verify, &mut decode);
                let verdict = if ratio <= 0.70 { "met" } else { "MISSED" };
                (
                    format!("{:.2} µs", a / 1000.0),
                    format!("{ratio:.3} [{low:.3}–{high:.3}] ({verdict})"),
                )
            }
            _ => ("".to_owned(), "".to_owned()),
        };
        println!(
            "| {alg} | {:.2} µs | {:.2} µs | {} | {a_cell} | {ba_cell} |",
            s / 1000.0,
            b / 1000.0,
            if alg == Algorithm::HS256 { format!("{ratio:.3}") } else { sig_cell },
        );
        if has_peers(alg) {
            routers.push(router_row(&fx, &auth));
        }
    }
    println!();
    println!("Through the router (< 1: ahead of the peer):");
    println!();
    println!(
        "| alg | c (beside e) | e jwt-authorizer | c (beside f) | f tower-oauth2 | c / e | c / f |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in routers {
        println!("{row}");
    }
}

/// (c) against (e) and (f) for one algorithm, as a table row.
fn router_row(fx: &Fixture, auth: &jwt_layer::JwtAuth<BenchClaims>) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ours = router_with_layer(auth);
    let authorizer = runtime.block_on(router_jwt_authorizer(fx)).expect("peer");
    let oauth2 = runtime.block_on(router_tower_oauth2(fx)).expect("peer");
    for router in [&ours, &authorizer, &oauth2] {
        let response = runtime.block_on(router.clone().oneshot(request(fx))).unwrap();
        assert_eq!(response.status(), 200, "a router refused the {} token", fx.alg);
    }
    let call = |router: &BenchService| {
        let response = runtime.block_on(router.clone().oneshot(request(fx))).unwrap();
        black_box(response);
    };
    let mut c = || call(&ours);
    let mut e = || call(&authorizer);
    let ([ce, ce_low, ce_high], c_time, e_time) = interleaved(&mut c, &mut e);
    let mut c = || call(&ours);
    let mut f = || call(&oauth2);
    let ([cf, cf_low, cf_high], c_time_f, f_time) = interleaved(&mut c, &mut f);
    let verdict = |ratio: f64| if ratio < 1.0 { "met" } else { "MISSED" };
    format!(
        "| {} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {ce:.3} [{ce_low:.3}–{ce_high:.3}] ({}) | {cf:.3} [{cf_low:.3}–{cf_high:.3}] ({}) |",
        fx.alg,
        c_time / 1000.0,
        e_time / 1000.0,
        c_time_f / 1000.0,
        f_time / 1000.0,
        verdict(ce),
        verdict(cf),
    )
}
