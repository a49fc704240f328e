//! Verification cost per algorithm, side by side (one criterion group per algorithm):
//!
//! - `0_signature_bare`: the bare signature check with aws-lc-rs, key prepared once (the floor
//!   under any verifier);
//! - `a_jsonwebtoken_decode`: `jsonwebtoken::decode` with a pre-built key and `Validation`;
//! - `b_jwt_layer_verify`: `JwtAuth::verify`, static keys (`verify` never uses the
//!   verified-token cache);
//! - `b_remote_cache_hit`: `JwtAuth::verify` with a `RemoteJwks` (loopback server, warmed; not
//!   HS256, as a remote set serves public keys only);
//! - `c_router_with_layer`: a request through an axum `Router` with the layer (`oneshot`),
//!   the verified-token cache off: every request verified in full;
//! - `c_token_cache_hit`: (c) in the default configuration, the cache warm (a client reusing
//!   its token);
//! - `c2_layer_around_router`: the layer wrapping the router from outside (as (e) must be);
//! - `d_router_without_auth`: the same router without authentication (the floor);
//! - `e_router_jwt_authorizer`: the same with the peer jwt-authorizer 0.15;
//! - `f_router_tower_oauth2`: the same with the peer tower-oauth2-resource-server 0.12;
//!
//! For ES512, (a), (e) and (f) are absent: jsonwebtoken, and both peers built on it, have no
//! ES512.
//! a `HS256_metrics` group: (c) for HS256 as the `metrics` feature leaves it with no recorder
//! installed (`c_no_recorder`), with the facade's `NoopRecorder` (`c_noop_recorder`) and with
//! the Prometheus recorder (`c_prometheus_recorder`, with latency buckets; its upkeep timed,
//! once per 4096 requests), each installed for its contender alone;
//!
//! a `remote_unknown_kid` group: a token whose `kid` the remote set lacks, refused at once
//! within the cooldown, and with a refetch from the loopback server on every request (RS256);
//!
//! and an `introspection` group: an opaque token verified by RFC 7662 introspection against a
//! loopback endpoint whose answer carries the same claims, `BenchClaims` read from it:
//! `b_cache_hit` (`JwtAuth::verify`, the answer cached: the steady state), `b_cache_miss`
//! (cache TTL zero: every request a call to the endpoint) and `c_cache_hit` (a request through
//! the router with the layer, the answer cached).
//!
//! Run: `cargo bench -p jwt-layer-benches --bench verify`; `python3 benches/report.py` prints the
//! table of medians and ratios. Keys are made fresh each run; claims are 334 bytes of JSON.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use jwt_layer::Algorithm;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::runtime::Runtime;
use tower::ServiceExt;

use common::*;

fn bench(c: &mut Criterion) {
    // jsonwebtoken::decode needs a process-wide provider when both of its backends are
    // compiled in (`--all-features`).
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fixtures: Vec<Fixture> = ALGORITHMS.iter().map(|alg| fixture(*alg)).collect();
    let jwks_base =
        start_jwks_server(fixtures.iter().map(|fx| (fx.alg, fx.jwks.clone())).collect());

    for fx in &fixtures {
        let mut group = c.benchmark_group(fx.alg.as_str());
        group.sample_size(30).warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));

        let message = fx.signing_input.as_bytes();
        group.bench_function("0_signature_bare", |b| {
            b.iter(|| assert!(fx.bare.verify(black_box(message), black_box(&fx.signature))))
        });

        if let (Some(validation), Some(key)) = (jsonwebtoken_validation(fx.alg), &fx.jwt_key) {
            group.bench_function("a_jsonwebtoken_decode", |b| {
                b.iter(|| {
                    jsonwebtoken::decode::<BenchClaims>(black_box(&fx.token), key, &validation)
                        .unwrap()
                })
            });
        }

        let auth = our_auth(fx);
        group.bench_function("b_jwt_layer_verify", |b| {
            b.iter(|| auth.verify(black_box(&fx.token)).now_or_never().unwrap().unwrap())
        });

        // A remote set serves public keys only: its `oct` keys are skipped, so HS256 has no
        // remote contender.
        if fx.alg != Algorithm::HS256 {
            let url = format!("{jwks_base}/{}/jwks.json", fx.alg);
            let (remote_auth, remote) = remote_auth(&url, Duration::from_secs(30));
            runtime.block_on(remote.refresh()).unwrap();
            group.bench_function("b_remote_cache_hit", |b| {
                b.iter(|| remote_auth.verify(black_box(&fx.token)).now_or_never().unwrap().unwrap())
            });
        }

        let routers = [
            ("c_router_with_layer", Some(router_with_layer(&auth))),
            ("c2_layer_around_router", Some(layer_around_router(&auth))),
            ("c_token_cache_hit", Some(router_with_layer(&cached_auth(fx)))),
            ("d_router_without_auth", Some(router_without_auth())),
            ("e_router_jwt_authorizer", runtime.block_on(router_jwt_authorizer(fx))),
            ("f_router_tower_oauth2", runtime.block_on(router_tower_oauth2(fx))),
        ];
        // The peers are absent only where jsonwebtoken lacks the algorithm (ES512).
        for (name, router) in routers {
            let Some(router) = router else {
                assert!(!has_peers(fx.alg), "{name} is missing for {}", fx.alg);
                continue;
            };
            // Every contender must let the request through, or the comparison is void.
            let response = runtime.block_on(router.clone().oneshot(request(fx))).unwrap();
            assert_eq!(response.status(), 200, "{name} refused the {} token", fx.alg);
            group.bench_function(name, |b| {
                b.iter_batched(
                    || request(fx),
                    |req| runtime.block_on(router.clone().oneshot(req)).unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }

    bench_metrics(c, &runtime, &fixtures[0]);

    // The unknown-kid path of the remote provider (RS256 token, kid absent from the set).
    let fx = &fixtures[1];
    let unknown = token_with_unknown_kid(fx);
    let url = format!("{jwks_base}/{}/jwks.json", fx.alg);
    let mut group = c.benchmark_group("remote_unknown_kid");
    group.sample_size(30).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    // Within the cooldown: refused at once, no fetch (a flood of random kids).
    let (auth, remote) = remote_auth(&url, Duration::from_secs(3600));
    runtime.block_on(remote.refresh()).unwrap();
    runtime.block_on(auth.verify(&unknown)).unwrap_err(); // spends this cooldown's refresh
    let fetches = remote.status().fetches;
    group.bench_function("refused_within_cooldown", |b| {
        b.iter(|| runtime.block_on(auth.verify(black_box(&unknown))).unwrap_err())
    });
    assert_eq!(remote.status().fetches, fetches, "no fetch within the cooldown");
    // No cooldown: every such token refetches the set from the loopback server.
    let (auth, remote) = remote_auth(&url, Duration::ZERO);
    runtime.block_on(remote.refresh()).unwrap();
    group.bench_function("refetch_every_request", |b| {
        let before = remote.status().fetches;
        b.iter(|| runtime.block_on(auth.verify(black_box(&unknown))).unwrap_err());
        assert!(remote.status().fetches > before, "every request fetched");
    });
    group.finish();

    bench_introspection(c, &runtime);
}

/// An opaque token verified by introspection at a loopback endpoint. The answer is the same
/// JSON as the JWT contenders' claims plus `"active": true`, so the rows compare with (b) and
/// (c) of the algorithm groups: what differs is where the claims come from.
fn bench_introspection(c: &mut Criterion, runtime: &Runtime) {
    let (endpoint, calls) = start_introspection_server();
    let mut group = c.benchmark_group("introspection");
    group.sample_size(30).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    // Hit: one call warms the cache, then every verification finds the answer and completes
    // without awaiting (`now_or_never`); no call is made while measuring. The TTL is an hour
    // (the answer's `exp`) rather than the default 60 s, so that a slow run of the group cannot
    // outlive the answer before (c) below.
    let hit = introspection_auth(&endpoint, Duration::from_secs(3600));
    runtime.block_on(hit.verify(OPAQUE_TOKEN)).unwrap();
    let before = calls.load(Ordering::Relaxed);
    group.bench_function("b_cache_hit", |b| {
        b.iter(|| hit.verify(black_box(OPAQUE_TOKEN)).now_or_never().unwrap().unwrap())
    });
    assert_eq!(calls.load(Ordering::Relaxed), before, "a cache hit makes no call");

    // Miss: cache TTL zero, the configuration that asks on every request (the cache is looked
    // up and the answer is not kept). This, rather than a fresh token per iteration, keeps the
    // cache at its size: a pool of distinct tokens would fill it to its bound and measure the
    // eviction of a full cache on top of the call. Each iteration is one HTTP round trip over
    // a pooled loopback connection (reqwest, `client_secret_basic`), the answer parsed and
    // checked like a JWT's claims; the bench counts the calls to prove it.
    let miss = introspection_auth(&endpoint, Duration::ZERO);
    runtime.block_on(miss.verify(OPAQUE_TOKEN)).unwrap();
    group.bench_function("b_cache_miss", |b| {
        b.iter_custom(|iters| {
            let before = calls.load(Ordering::Relaxed);
            let start = Instant::now();
            for _ in 0..iters {
                black_box(runtime.block_on(miss.verify(black_box(OPAQUE_TOKEN))).unwrap());
            }
            let elapsed = start.elapsed();
            let made = calls.load(Ordering::Relaxed) - before;
            assert_eq!(made as u64, iters, "every iteration a call to the endpoint");
            elapsed
        })
    });

    // (c) for the hit: the layer on the router, the answer cached (warmed by the hit above).
    let router = router_with_layer(&hit);
    let response = runtime.block_on(router.clone().oneshot(request_with(OPAQUE_TOKEN))).unwrap();
    assert_eq!(response.status(), 200, "the layer refused the opaque token");
    let before = calls.load(Ordering::Relaxed);
    group.bench_function("c_cache_hit", |b| {
        b.iter_batched(
            || request_with(OPAQUE_TOKEN),
            |req| runtime.block_on(router.clone().oneshot(req)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    assert_eq!(calls.load(Ordering::Relaxed), before, "a cache hit makes no call");
    group.finish();
}

/// What the metrics hooks cost on an HS256 request through the router. Each contender gets a
/// `JwtAuth` of its own, first used under its recorder, since the layer keeps the handles it
/// registered on first use.
fn bench_metrics(c: &mut Criterion, runtime: &Runtime, fx: &Fixture) {
    assert_eq!(fx.alg, Algorithm::HS256);
    let mut group = c.benchmark_group("HS256_metrics");
    group.sample_size(30).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let noop = metrics::NoopRecorder;
    // Buckets, as a Prometheus deployment sets them (without, every sample feeds a summary).
    let buckets = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1, 1.0];
    let prometheus = PrometheusBuilder::new().set_buckets(&buckets).unwrap().build_recorder();
    let handle = prometheus.handle();
    let contenders: [(&str, Option<&dyn metrics::Recorder>); 3] = [
        ("c_no_recorder", None),
        ("c_noop_recorder", Some(&noop)),
        ("c_prometheus_recorder", Some(&prometheus)),
    ];
    for (name, recorder) in contenders {
        let mut run = || {
            let router = router_with_layer(&our_auth(fx));
            let response = runtime.block_on(router.clone().oneshot(request(fx))).unwrap();
            assert_eq!(response.status(), 200, "{name} refused the token");
            // Upkeep drains the histogram's samples, as an exporter does between scrapes; timed,
            // once per 4096 requests.
            let served = Cell::new(0u32);
            group.bench_function(name, |b| {
                b.iter_batched(
                    || request(fx),
                    |req| {
                        served.set(served.get().wrapping_add(1));
                        if served.get().is_multiple_of(4096) {
                            handle.run_upkeep();
                        }
                        runtime.block_on(router.clone().oneshot(req)).unwrap()
                    },
                    BatchSize::SmallInput,
                )
            });
        };
        match recorder {
            Some(recorder) => metrics::with_local_recorder(recorder, run),
            None => run(),
        }
    }
    group.finish();
    let rendered = handle.render();
    assert!(rendered.contains(r#"jwt_layer_requests_total{outcome="accepted"}"#), "{rendered}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
