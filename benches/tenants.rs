//! Many tenants, measured (`cargo bench -p jwt-layer-benches --bench tenants`, about a minute):
//! 1 000 tenants, each its own EdDSA key served as its own JWKS by one loopback server, through
//! the layer with `.tenants(..)`, against a layer with one fixed issuer, in one run.
//!
//! Prints: the first request of each tenant (cold: one resolution and one JWKS fetch); warm
//! p50/p99 per request, interleaved with the one-issuer layer, with the verified-token cache
//! (the default) and without it; memory per live tenant (resident set growth ÷ tenants);
//! fetches per tenant under a concurrent cold start; 10 000 requests with made-up issuers
//! (fetches, resident growth); and one tenant's identity provider down (the others' error rate
//! and p99, before and during).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_layer::JwtAuth;
use jwt_layer::keys::Jwks;
use jwt_layer::tenants::{Resolution, Tenant, TenantResolver, Tenants};
use serde_json::{Value, json};
use tower::ServiceExt;

const TENANTS: usize = 1000;
const AUDIENCE: &str = "api";
/// The tenant whose identity provider goes down in the last measurement.
const DOWN: usize = 7;

struct Idps {
    keys: Vec<Ed25519KeyPair>,
    fetches: Vec<AtomicU32>,
    down: AtomicBool,
}

fn issuer(i: usize) -> String {
    format!("https://tenant-{i}.example")
}

async fn jwks(State(idps): State<Arc<Idps>>, Path(i): Path<usize>) -> axum::response::Response {
    let Some(key) = idps.keys.get(i) else { return StatusCode::NOT_FOUND.into_response() };
    idps.fetches[i].fetch_add(1, Ordering::Relaxed);
    if i == DOWN && idps.down.load(Ordering::Relaxed) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let x = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
    let body = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": format!("k{i}"),
        "alg": "EdDSA", "use": "sig"}]});
    axum::Json(body).into_response()
}

fn token(idps: &Idps, i: usize, iss: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "EdDSA", "kid": format!("k{i}")}).to_string());
    let claims = json!({"iss": iss, "aud": AUDIENCE, "sub": "u", "exp": now.as_secs() + 3600});
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = idps.keys[i].sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// Approves `https://tenant-{i}.example` for i below `TENANTS`, keys from its JWKS URL.
struct Directory {
    jwks: HashMap<String, String>,
}

impl TenantResolver for Directory {
    fn resolve<'a>(&'a self, issuer: &'a str) -> Resolution<'a> {
        let found = self.jwks.get(issuer).map(Tenant::jwks_url);
        Box::pin(async move { Ok(found) })
    }
}

fn app(auth: JwtAuth<Value>) -> Router {
    Router::new().route("/me", get(|| async { "ok" })).layer(auth.layer())
}

fn tenant_app(addr: SocketAddr, cache: bool) -> Router {
    let jwks =
        (0..TENANTS).map(|i| (issuer(i), format!("http://{addr}/t/{i}/jwks.json"))).collect();
    let tenants = Tenants::new(Directory { jwks }).max_tenants(TENANTS);
    app(JwtAuth::builder().tenants(tenants).audience(AUDIENCE).token_cache(cache).build().unwrap())
}

fn single_app(addr: SocketAddr, cache: bool) -> Router {
    let keys = Jwks::remote(format!("http://{addr}/t/0/jwks.json")).unwrap();
    let builder = JwtAuth::builder().keys(keys).issuer(issuer(0)).audience(AUDIENCE);
    app(builder.token_cache(cache).build().unwrap())
}

async fn call(app: &Router, token: &str) -> (StatusCode, f64) {
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let start = Instant::now();
    let status = app.clone().oneshot(request).await.unwrap().status();
    (status, start.elapsed().as_secs_f64() * 1e6)
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn resident_bytes() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0
}

fn fetched(idps: &Idps) -> u32 {
    idps.fetches.iter().map(|f| f.load(Ordering::Relaxed)).sum()
}

#[tokio::main]
async fn main() {
    let idps = Arc::new(Idps {
        keys: (0..TENANTS).map(|_| Ed25519KeyPair::generate().unwrap()).collect(),
        fetches: (0..TENANTS).map(|_| AtomicU32::new(0)).collect(),
        down: AtomicBool::new(false),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Router::new().route("/t/{i}/jwks.json", get(jwks)).with_state(Arc::clone(&idps));
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });
    let tokens: Vec<String> = (0..TENANTS).map(|i| token(&idps, i, &issuer(i))).collect();

    // Cold: the first request of each tenant, one after the other.
    let before = resident_bytes();
    let tenants = tenant_app(addr, true);
    let mut cold = Vec::with_capacity(TENANTS);
    for token in &tokens {
        let (status, micros) = call(&tenants, token).await;
        assert_eq!(status, StatusCode::OK);
        cold.push(micros);
    }
    let per_tenant = (resident_bytes() - before) / TENANTS as f64;
    println!(
        "cold first request per tenant: p50 {:.0} µs, p99 {:.0} µs ({} fetches for {TENANTS} tenants)",
        percentile(&mut cold, 0.5),
        percentile(&mut cold, 0.99),
        fetched(&idps)
    );
    println!(
        "memory per live tenant (resident growth ÷ {TENANTS}): {:.1} KiB",
        per_tenant / 1024.0
    );

    // Warm, interleaved with one fixed issuer: tokens reused (cache hits) and without cache.
    for cache in [true, false] {
        let (tenants, single) = (tenant_app(addr, cache), single_app(addr, cache));
        for token in &tokens {
            call(&tenants, token).await;
        }
        call(&single, &tokens[0]).await;
        let (mut many, mut one) = (Vec::new(), Vec::new());
        for round in 0..20_000 {
            let token = &tokens[round % TENANTS];
            let (status, micros) = call(&tenants, token).await;
            assert_eq!(status, StatusCode::OK);
            many.push(micros);
            one.push(call(&single, &tokens[0]).await.1);
        }
        let (m50, o50) = (percentile(&mut many, 0.5), percentile(&mut one, 0.5));
        let (m99, o99) = (percentile(&mut many, 0.99), percentile(&mut one, 0.99));
        println!(
            "warm through the layer, {}: {TENANTS} tenants p50 {m50:.1} µs p99 {m99:.1} µs; one issuer p50 {o50:.1} µs p99 {o99:.1} µs; ratio p50 {:.3}, p99 {:.3}",
            if cache { "token reused (cache on, the default)" } else { "cache off" },
            m50 / o50,
            m99 / o99
        );
    }

    // A concurrent cold start: 20 requests at once for each of 100 tenants.
    let tenants = tenant_app(addr, true);
    let fetches_before: Vec<u32> = idps.fetches.iter().map(|f| f.load(Ordering::Relaxed)).collect();
    let mut requests = tokio::task::JoinSet::new();
    for token in tokens.iter().take(100) {
        for _ in 0..20 {
            let (app, token) = (tenants.clone(), token.clone());
            requests.spawn(async move { call(&app, &token).await.0 });
        }
    }
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let most = (0..100)
        .map(|i| idps.fetches[i].load(Ordering::Relaxed) - fetches_before[i])
        .max()
        .unwrap();
    println!(
        "concurrent cold start, 20 requests at once for each of 100 tenants: at most {most} fetch per tenant"
    );

    // Made-up issuers.
    let fetches = fetched(&idps);
    let before = resident_bytes();
    for i in 0..10_000 {
        let made_up = token(&idps, 0, &format!("https://made-up-{i}.example"));
        assert_eq!(call(&tenants, &made_up).await.0, StatusCode::UNAUTHORIZED);
    }
    println!(
        "10 000 requests with made-up issuers: {} fetches, resident growth {:.0} KiB (refusals cached: at most 10 000)",
        fetched(&idps) - fetches,
        (resident_bytes() - before) / 1024.0
    );

    // One tenant's identity provider down: the others, before and during.
    let tenants = tenant_app(addr, false);
    let others: Vec<usize> = (0..TENANTS).filter(|i| *i != DOWN).take(200).collect();
    for i in &others {
        call(&tenants, &tokens[*i]).await;
    }
    let measure = |label: &'static str, with_down: bool| {
        let (tenants, tokens, others) = (tenants.clone(), tokens.clone(), others.clone());
        async move {
            let (mut latencies, mut errors, mut down_refused) = (Vec::new(), 0, 0);
            for round in 0..5_000 {
                let (status, micros) = call(&tenants, &tokens[others[round % others.len()]]).await;
                latencies.push(micros);
                errors += usize::from(status != StatusCode::OK);
                if with_down && round % 10 == 0 {
                    down_refused +=
                        usize::from(call(&tenants, &tokens[DOWN]).await.0 != StatusCode::OK);
                }
            }
            println!(
                "{label}: other tenants' errors {errors}/5000, p50 {:.1} µs, p99 {:.1} µs{}",
                percentile(&mut latencies, 0.5),
                percentile(&mut latencies, 0.99),
                if with_down {
                    format!("; the down tenant refused {down_refused}/500")
                } else {
                    String::new()
                }
            );
        }
    };
    measure("IdP of one tenant up", false).await;
    idps.down.store(true, Ordering::Relaxed);
    measure("IdP of one tenant down", true).await;
}
