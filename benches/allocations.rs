//! Heap allocations per verification and per request, per algorithm, counted by a global
//! allocator that wraps the system one (`stats_alloc`; this crate forbids `unsafe`, so the
//! counting allocator comes from there).
//!
//! Run: `cargo bench -p jwt-layer-benches --bench allocations`. Prints one table: allocations (and
//! bytes allocated) per operation, averaged over many operations after a warm-up, for the same
//! contenders as `benches/verify.rs`. `c − d` is what the layer adds to a request (token
//! extraction, verification, claims and scopes into the extensions, the handler's `Claims`).
//! For ES512 the jsonwebtoken, jwt-authorizer and tower-oauth2 cells are "—": none of them has
//! ES512. A second table counts an opaque token verified by introspection (RFC 7662) against
//! a loopback endpoint, the answer cached: `verify`, and a request through the layer.

mod common;

use std::alloc::System;
use std::fmt::Write as _;
use std::time::Duration;

use futures_util::FutureExt;
use jwt_layer::Algorithm;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

use common::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WARM_UP: usize = 50;
const OPERATIONS: usize = 500;

/// Allocations and bytes allocated per operation (reallocations count as allocations).
#[derive(Clone, Copy)]
struct PerOp {
    allocations: f64,
    bytes: f64,
}

impl std::fmt::Display for PerOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>5.1} / {:>5.0} B", self.allocations, self.bytes)
    }
}

/// Runs `op` over each input (made beforehand, outside the counted region).
fn count<I>(mut make: impl FnMut() -> I, mut op: impl FnMut(I)) -> PerOp {
    for _ in 0..WARM_UP {
        op(make());
    }
    let inputs: Vec<I> = (0..OPERATIONS).map(|_| make()).collect();
    let region = Region::new(GLOBAL);
    for input in inputs {
        op(input);
    }
    let change = region.change();
    let n = OPERATIONS as f64;
    PerOp {
        allocations: (change.allocations + change.reallocations) as f64 / n,
        bytes: (change.bytes_allocated as f64 + change.bytes_reallocated.max(0) as f64) / n,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, so stay quick.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fixtures: Vec<Fixture> = ALGORITHMS.iter().map(|alg| fixture(*alg)).collect();
    let jwks_base =
        start_jwks_server(fixtures.iter().map(|fx| (fx.alg, fx.jwks.clone())).collect());

    let columns = [
        "a jsonwebtoken",
        "b verify",
        "b remote",
        "c layer",
        "c token-cache hit",
        "c2 layer(router)",
        "d floor",
        "c − d",
        "e jwt-authorizer",
        "f tower-oauth2",
    ];
    let mut table = String::new();
    writeln!(table, "allocations / bytes allocated, per operation ({OPERATIONS} operations)")
        .unwrap();
    writeln!(table, "| alg | {} |", columns.join(" | ")).unwrap();
    writeln!(table, "|---|{}", "---|".repeat(columns.len())).unwrap();
    for fx in &fixtures {
        let a =
            jsonwebtoken_validation(fx.alg).zip(fx.jwt_key.as_ref()).map(|(validation, key)| {
                count(
                    || (),
                    |()| {
                        jsonwebtoken::decode::<BenchClaims>(&fx.token, key, &validation).unwrap();
                    },
                )
            });
        let auth = our_auth(fx);
        let b = count(
            || (),
            |()| {
                auth.verify(&fx.token).now_or_never().unwrap().unwrap();
            },
        );
        // A remote set serves public keys only: its `oct` keys are skipped (no HS256 cell).
        let b_remote = (fx.alg != Algorithm::HS256).then(|| {
            let url = format!("{jwks_base}/{}/jwks.json", fx.alg);
            let (remote, keys) = remote_auth(&url, Duration::from_secs(30));
            runtime.block_on(keys.refresh()).unwrap();
            count(
                || (),
                |()| {
                    remote.verify(&fx.token).now_or_never().unwrap().unwrap();
                },
            )
        });
        let through = |router: BenchService| {
            count(
                || request(fx),
                |req| {
                    let response = runtime.block_on(router.clone().oneshot(req)).unwrap();
                    assert_eq!(response.status(), 200);
                },
            )
        };
        let c = through(router_with_layer(&auth));
        // The default configuration, its verified-token cache warmed by one request.
        let cached = router_with_layer(&cached_auth(fx));
        runtime.block_on(cached.clone().oneshot(request(fx))).unwrap();
        let c_hit = through(cached);
        let c2 = through(layer_around_router(&auth));
        let d = through(router_without_auth());
        let e = runtime.block_on(router_jwt_authorizer(fx)).map(through);
        let f = runtime.block_on(router_tower_oauth2(fx)).map(through);
        let layer = PerOp { allocations: c.allocations - d.allocations, bytes: c.bytes - d.bytes };
        // Absent: no remote HS256, and no jsonwebtoken or peer for ES512.
        let cell = |op: Option<PerOp>| op.map_or_else(|| "—".to_owned(), |op| op.to_string());
        let cells = [
            cell(a),
            b.to_string(),
            cell(b_remote),
            c.to_string(),
            c_hit.to_string(),
            c2.to_string(),
            d.to_string(),
            layer.to_string(),
            cell(e),
            cell(f),
        ];
        writeln!(table, "| {} | {} |", fx.alg, cells.join(" | ")).unwrap();
    }
    println!("{table}");
    println!("{}", introspection_table(&runtime));
}

/// The introspection hit path: the same claims, from an answer cached after one call.
fn introspection_table(runtime: &tokio::runtime::Runtime) -> String {
    let (endpoint, _) = start_introspection_server();
    let auth = introspection_auth(&endpoint, Duration::from_secs(3600));
    runtime.block_on(auth.verify(OPAQUE_TOKEN)).unwrap();
    let b_hit = count(
        || (),
        |()| {
            auth.verify(OPAQUE_TOKEN).now_or_never().unwrap().unwrap();
        },
    );
    let through = |router: BenchService| {
        count(
            || request_with(OPAQUE_TOKEN),
            |req| {
                let response = runtime.block_on(router.clone().oneshot(req)).unwrap();
                assert_eq!(response.status(), 200);
            },
        )
    };
    let c_hit = through(router_with_layer(&auth));
    let d = through(router_without_auth());
    let layer =
        PerOp { allocations: c_hit.allocations - d.allocations, bytes: c_hit.bytes - d.bytes };
    let mut table = String::new();
    writeln!(table, "introspection, answer cached ({OPERATIONS} operations)").unwrap();
    writeln!(table, "| b verify | c layer | d floor | c − d |").unwrap();
    writeln!(table, "|---|---|---|---|").unwrap();
    writeln!(table, "| {b_hit} | {c_hit} | {d} | {layer} |").unwrap();
    table
}
