//! Verification cost per algorithm, side by side:
//! (a) raw `jsonwebtoken::decode` with a pre-built key and `Validation`,
//! (b) `JwtAuth::verify`,
//! (c) a request through an axum `Router` with the layer (`oneshot`, in process),
//! (d) the same router without authentication (the floor).
//!
//! Run: `cargo bench --bench verify`. Keys are made fresh each run; claims are ~300 bytes.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::Request;
use jwt_layer::keys::{StaticKeys, VerifyingKey};
use jwt_layer::{Algorithm, Claims, JwtAuth};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceExt;

const SECRET: &[u8] = b"benchmark-secret-benchmark-secret-0123";
const ISSUER: &str = "https://login.example.com/";
const AUDIENCE: &str = "https://api.example.com";

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct BenchClaims {
    sub: String,
    name: String,
    email: String,
    roles: Vec<String>,
    scope: String,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signed token plus the jsonwebtoken key and our key for the same public key.
struct Fixture {
    alg: Algorithm,
    token: String,
    jwt_key: jsonwebtoken::DecodingKey,
    our_key: VerifyingKey,
}

fn claims() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "iat": now, "nbf": now, "exp": now + 3600, "jti": "b7c4e0f2-7d4e-4b8e-9c1a-2f3d4e5f6a7b",
        "name": "Alice Example", "email": "alice@example.com",
        "roles": ["reader", "writer"], "scope": "openid profile email read:items write:items",
    })
    .to_string()
}

fn fixture(alg: Algorithm) -> Fixture {
    let rng = SystemRandom::new();
    let input =
        format!("{}.{}", b64(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k"}}"#)), b64(claims()));
    let msg = input.as_bytes();
    let (sig, jwt_key, our_key) = match alg {
        Algorithm::HS256 => (
            aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET),
                msg,
            )
            .as_ref()
            .to_vec(),
            jsonwebtoken::DecodingKey::from_secret(SECRET),
            VerifyingKey::hmac(SECRET).unwrap(),
        ),
        Algorithm::RS256 | Algorithm::PS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
            let mut sig = vec![0; pair.public_modulus_len()];
            let encoding: &'static dyn signature::RsaEncoding = if alg == Algorithm::RS256 {
                &signature::RSA_PKCS1_SHA256
            } else {
                &signature::RSA_PSS_SHA256
            };
            pair.sign(encoding, &rng, msg, &mut sig).unwrap();
            let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            (
                sig,
                jsonwebtoken::DecodingKey::from_rsa_raw_components(&public.n, &public.e),
                VerifyingKey::from_der(pair.public_key().as_ref())
                    .unwrap()
                    .with_algorithms([alg])
                    .unwrap(),
            )
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let signing = if alg == Algorithm::ES256 {
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let pair = EcdsaKeyPair::generate(signing).unwrap();
            let point = pair.public_key().as_ref();
            let half = (point.len() - 1) / 2;
            let jwk = json!({"kty":"EC","crv": if half == 32 {"P-256"} else {"P-384"},
                "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..])});
            (
                pair.sign(&rng, msg).unwrap().as_ref().to_vec(),
                jsonwebtoken::DecodingKey::from_ec_components(
                    jwk["x"].as_str().unwrap(),
                    jwk["y"].as_str().unwrap(),
                )
                .unwrap(),
                VerifyingKey::from_jwk(&jwk.to_string()).unwrap(),
            )
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::generate().unwrap();
            let x = b64(pair.public_key().as_ref());
            (
                pair.sign(msg).as_ref().to_vec(),
                jsonwebtoken::DecodingKey::from_ed_components(&x).unwrap(),
                VerifyingKey::from_jwk(&json!({"kty":"OKP","crv":"Ed25519","x": x}).to_string())
                    .unwrap(),
            )
        }
        other => unreachable!("{other} is not benchmarked"),
    };
    Fixture { alg, token: format!("{input}.{}", b64(sig)), jwt_key, our_key: our_key.with_kid("k") }
}

async fn me(Claims(claims): Claims<BenchClaims>) -> &'static str {
    black_box(&claims.sub);
    "ok"
}

async fn open() -> &'static str {
    "ok"
}

fn bench(c: &mut Criterion) {
    // Benchmarks call jsonwebtoken::decode, which needs a process-wide provider when both of
    // its backends are compiled in.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let fx = fixture(alg);
        let mut group = c.benchmark_group(alg.as_str());

        let mut validation = jsonwebtoken::Validation::new(fx.alg.into());
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        group.bench_function("a_jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<BenchClaims>(black_box(&fx.token), &fx.jwt_key, &validation)
                    .unwrap()
            })
        });

        let auth = JwtAuth::<BenchClaims>::builder()
            .keys(StaticKeys::new([fx.our_key.clone()]).unwrap())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        group.bench_function("b_jwt_layer_verify", |b| {
            b.iter(|| auth.verify(black_box(&fx.token)).now_or_never().unwrap().unwrap())
        });

        let with_auth = Router::new().route("/me", get(me)).layer(auth.layer());
        let without_auth = Router::new().route("/me", get(open));
        let request = || {
            Request::get("/me")
                .header("authorization", format!("Bearer {}", fx.token))
                .body(Body::empty())
                .unwrap()
        };
        group.bench_function("c_router_with_layer", |b| {
            b.iter_batched(
                request,
                |req| runtime.block_on(with_auth.clone().oneshot(req)).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
        group.bench_function("d_router_without_auth", |b| {
            b.iter_batched(
                request,
                |req| runtime.block_on(without_auth.clone().oneshot(req)).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
