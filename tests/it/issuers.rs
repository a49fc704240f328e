//! Several trusted issuers: the unverified `iss` selects whose keys to try, and nothing else.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use jwt_layer::testing::TestIssuer;
use jwt_layer::{Algorithm, AuthError, BuildError, JwtAuth, TrustedIssuer};
use serde_json::{Value, json};

const A: &str = "https://a.example/";
const B: &str = "https://b.example/";

/// An HS256 token without `kid` from `idp`, claiming `iss` and `aud`: only the issuer's keys
/// can tell whose it is.
fn hs256(idp: &TestIssuer, iss: &str, aud: &str) -> String {
    idp.token()
        .alg(Algorithm::HS256)
        .without_kid()
        .claims(json!({"iss": iss, "aud": aud, "sub": "u", "exp": now() + 600}))
        .sign()
}

struct Setup {
    auth: JwtAuth<Value>,
    a_lookups: Arc<AtomicUsize>,
    b_lookups: Arc<AtomicUsize>,
}

fn setup() -> Setup {
    let a_lookups = Arc::new(AtomicUsize::new(0));
    let b_lookups = Arc::new(AtomicUsize::new(0));
    // A's keys are `issuer()`'s, B's `stranger()`'s.
    let a = CountedKeys { keys: issuer().keys(), lookups: a_lookups.clone() };
    let b = CountedKeys { keys: stranger().keys(), lookups: b_lookups.clone() };
    let auth = JwtAuth::builder()
        .trusted_issuer(TrustedIssuer::new(A, a).audience("api-a"))
        .trusted_issuer(TrustedIssuer::new(B, b).audience("api-b"))
        .build()
        .unwrap();
    Setup { auth, a_lookups, b_lookups }
}

#[tokio::test]
async fn each_issuer_verifies_with_its_own_keys_and_audience() {
    let s = setup();
    assert!(s.auth.verify(&hs256(issuer(), A, "api-a")).await.is_ok());
    assert!(s.auth.verify(&hs256(stranger(), B, "api-b")).await.is_ok());
    // B's audience is not A's.
    assert_eq!(
        s.auth.verify(&hs256(issuer(), A, "api-b")).await.unwrap_err(),
        AuthError::InvalidAudience
    );
}

#[tokio::test]
async fn a_token_claiming_one_issuer_is_checked_with_that_issuers_keys_only() {
    let s = setup();
    // Signed with B's key but claiming A: A's keys are tried, and fail.
    let forged = hs256(stranger(), A, "api-a");
    assert_eq!(s.auth.verify(&forged).await.unwrap_err(), AuthError::InvalidSignature);
    assert_eq!(s.a_lookups.load(Ordering::SeqCst), 1);
    assert_eq!(s.b_lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unknown_issuer_consults_no_key_provider() {
    let s = setup();
    for iss in ["https://c.example/", "https://a.example", "HTTPS://A.EXAMPLE/"] {
        let token = hs256(issuer(), iss, "api-a");
        assert_eq!(s.auth.verify(&token).await.unwrap_err(), AuthError::InvalidIssuer, "{iss}");
    }
    let no_iss = issuer()
        .token()
        .alg(Algorithm::HS256)
        .without_kid()
        .claims(json!({"aud": "api-a", "exp": now() + 600}))
        .sign();
    assert_eq!(s.auth.verify(&no_iss).await.unwrap_err(), AuthError::MissingClaim("iss".into()));
    let twice = issuer()
        .token()
        .alg(Algorithm::HS256)
        .raw_header(r#"{"alg":"HS256"}"#)
        .raw_payload(r#"{"iss":"https://c.example/","iss":"https://a.example/","aud":"api-a"}"#)
        .sign();
    assert!(s.auth.verify(&twice).await.is_err());
    assert_eq!(s.a_lookups.load(Ordering::SeqCst) + s.b_lookups.load(Ordering::SeqCst), 0);
}

#[test]
fn mixing_the_two_styles_is_refused() {
    let keys = || issuer().keys();
    let mixed = JwtAuth::<Value>::builder()
        .keys(keys())
        .issuer("https://a.example/")
        .trusted_issuer(TrustedIssuer::new("https://b.example/", keys()))
        .audience("x")
        .build();
    assert_eq!(mixed.unwrap_err(), BuildError::MixedIssuerConfiguration);
    let twice = JwtAuth::<Value>::builder()
        .trusted_issuer(TrustedIssuer::new("https://a.example/", keys()))
        .trusted_issuer(TrustedIssuer::new("https://a.example/", keys()))
        .audience("x")
        .build();
    assert_eq!(twice.unwrap_err(), BuildError::DuplicateIssuer);
    let no_audience = JwtAuth::<Value>::builder()
        .trusted_issuer(TrustedIssuer::new("https://a.example/", keys()).audience("x"))
        .trusted_issuer(TrustedIssuer::new("https://b.example/", keys()))
        .build();
    assert_eq!(no_audience.unwrap_err(), BuildError::NoAudience);
}

#[test]
#[cfg(feature = "remote")]
fn discovery_issuer_must_be_https() {
    let err = JwtAuth::<Value>::builder().discover("http://idp.example/").audience("x").build();
    assert!(matches!(err, Err(BuildError::KeySource(_))));
    // The text says why, not only that the key source could not be set up.
    let text = err.unwrap_err().to_string();
    assert!(text.starts_with("the key source could not be set up: "), "{text}");
    assert!(text.len() > "the key source could not be set up: ".len() + 8, "{text}");
}
