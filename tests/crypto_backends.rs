//! jsonwebtoken 10+ picks its crypto provider by cargo feature and panics at run time when
//! feature unification turns on both `aws_lc_rs` and `rust_crypto` and nobody installed a
//! provider. This crate never asks jsonwebtoken for its process-wide provider: keys are
//! prepared and signatures checked through aws-lc-rs directly. This test runs in both builds
//! (`cargo test` and `cargo test --all-features`, which turns on `both-crypto-backends`).

mod common;

use common::*;
use jwt_layer::keys::Jwks;
use jwt_layer::{Algorithm, JwtAuth};
use serde_json::Value;

#[tokio::test]
async fn verification_needs_no_process_wide_provider() {
    let auth: JwtAuth<Value> = JwtAuth::builder()
        .keys(Jwks::from_json(&jwks().to_string()).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    for alg in Algorithm::ALL {
        let claims = auth.verify(&mint(alg, &good_claims())).await.unwrap();
        assert_eq!(claims["sub"], "user-1", "{alg}");
    }
}

/// Shows the hazard the crate avoids: with both backends on, jsonwebtoken's own `decode`
/// panics unless a provider was installed for the process.
#[cfg(feature = "both-crypto-backends")]
#[test]
fn jsonwebtoken_alone_panics_with_both_backends() {
    let token = mint(Algorithm::HS256, &good_claims());
    let outcome = std::panic::catch_unwind(|| {
        let key = jsonwebtoken::DecodingKey::from_secret(HMAC_SECRET);
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        jsonwebtoken::decode::<Value>(&token, &key, &validation)
    });
    assert!(outcome.is_err(), "jsonwebtoken picked a provider by itself; the hazard is gone");
}
