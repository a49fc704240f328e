//! Several trusted issuers: the unverified `iss` selects whose keys to try, and nothing else.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use jwt_layer::keys::StaticKeys;
use jwt_layer::{Algorithm, AuthError, BuildError, JwtAuth, TrustedIssuer};
use serde_json::{Value, json};

const OTHER_SECRET: &[u8] = b"another-secret-another-secret-another-secret!";

fn hs256(secret: &[u8], claims: &Value) -> String {
    let input = format!("{}.{}", b64(r#"{"alg":"HS256","typ":"JWT"}"#), b64(claims.to_string()));
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
        input.as_bytes(),
    );
    format!("{input}.{}", b64(tag.as_ref()))
}

fn claims(iss: &str, aud: &str) -> Value {
    json!({"iss": iss, "aud": aud, "sub": "u", "exp": now() + 600})
}

struct Setup {
    auth: JwtAuth<Value>,
    a_lookups: Arc<AtomicUsize>,
    b_lookups: Arc<AtomicUsize>,
}

fn setup() -> Setup {
    let a_lookups = Arc::new(AtomicUsize::new(0));
    let b_lookups = Arc::new(AtomicUsize::new(0));
    let a =
        CountedKeys { keys: StaticKeys::hmac(HMAC_SECRET).unwrap(), lookups: a_lookups.clone() };
    let b =
        CountedKeys { keys: StaticKeys::hmac(OTHER_SECRET).unwrap(), lookups: b_lookups.clone() };
    let auth = JwtAuth::builder()
        .trusted_issuer(TrustedIssuer::new("https://a.example/", a).audience("api-a"))
        .trusted_issuer(TrustedIssuer::new("https://b.example/", b).audience("api-b"))
        .build()
        .unwrap();
    Setup { auth, a_lookups, b_lookups }
}

#[tokio::test]
async fn each_issuer_verifies_with_its_own_keys_and_audience() {
    let s = setup();
    assert!(
        s.auth.verify(&hs256(HMAC_SECRET, &claims("https://a.example/", "api-a"))).await.is_ok()
    );
    assert!(
        s.auth.verify(&hs256(OTHER_SECRET, &claims("https://b.example/", "api-b"))).await.is_ok()
    );
    // B's audience is not A's.
    assert_eq!(
        s.auth
            .verify(&hs256(HMAC_SECRET, &claims("https://a.example/", "api-b")))
            .await
            .unwrap_err(),
        AuthError::InvalidAudience
    );
}

#[tokio::test]
async fn a_token_claiming_one_issuer_is_checked_with_that_issuers_keys_only() {
    let s = setup();
    // Signed with B's key but claiming A: A's keys are tried, and fail.
    let forged = hs256(OTHER_SECRET, &claims("https://a.example/", "api-a"));
    assert_eq!(s.auth.verify(&forged).await.unwrap_err(), AuthError::InvalidSignature);
    assert_eq!(s.a_lookups.load(Ordering::SeqCst), 1);
    assert_eq!(s.b_lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unknown_issuer_consults_no_key_provider() {
    let s = setup();
    for iss in ["https://c.example/", "https://a.example", "HTTPS://A.EXAMPLE/"] {
        let token = hs256(HMAC_SECRET, &claims(iss, "api-a"));
        assert_eq!(s.auth.verify(&token).await.unwrap_err(), AuthError::InvalidIssuer, "{iss}");
    }
    let no_iss = hs256(HMAC_SECRET, &json!({"aud": "api-a", "exp": now() + 600}));
    assert_eq!(s.auth.verify(&no_iss).await.unwrap_err(), AuthError::MissingClaim("iss".into()));
    let twice = mint_raw(
        Algorithm::HS256,
        r#"{"alg":"HS256"}"#,
        r#"{"iss":"https://c.example/","iss":"https://a.example/","aud":"api-a"}"#,
    );
    assert!(s.auth.verify(&twice).await.is_err());
    assert_eq!(s.a_lookups.load(Ordering::SeqCst) + s.b_lookups.load(Ordering::SeqCst), 0);
}

#[test]
fn mixing_the_two_styles_is_refused() {
    let keys = || StaticKeys::hmac(HMAC_SECRET).unwrap();
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
