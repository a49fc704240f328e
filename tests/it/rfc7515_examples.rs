//! The example JWS tokens of RFC 7515 Appendix A.1 (HS256) and A.2 (RS256), verified with
//! the RFC's own keys, given as the RFC's JWKs.
//!
//! Every token, key and claim value below is copied from RFC 7515 (the RFC's line breaks are
//! kept with `concat!`, the strings themselves are unchanged). These are tokens jwt-layer did
//! not mint, so they check interoperability with the specification itself.
//!
//! The RFC's JWKs carry no `alg` member. Rather than add one (which would no longer be the
//! RFC's JWK), the keys are read with `JwkOptions::default().infer_algorithm_from_key_type(true)`:
//! the `oct` key is then pinned to the HS algorithms its length allows and the RSA key to the
//! RSA family. `jwks_without_alg_are_refused_by_default` shows that this option is needed.
//!
//! The example tokens expired in 2011 (`exp` 1300819380), so the time check is relaxed by
//! moving the verifier's clock to ten seconds before `exp`, never by switching the check off.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use jwt_layer::keys::{FixedClock, JwkOptions, StaticKeys, VerifyingKey};
use jwt_layer::{Algorithm, AuthError, JwtAuth};

/// RFC 7515 A.1.1: the complete HS256 JWS in the JWS Compact Serialization.
const A1_TOKEN: &str = concat!(
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
);

/// RFC 7515 A.1.1: the HMAC key, as a JWK (no `alg`; a 64-byte secret).
const A1_JWK: &str = r#"{"kty":"oct",
 "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
}"#;

/// RFC 7515 A.2.1: the complete RS256 JWS in the JWS Compact Serialization.
const A2_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw",
);

/// RFC 7515 A.2.1: the public members (`kty`, `n`, `e`) of the RSA key's JWK. The private
/// members (`d`, `p`, `q`, `dp`, `dq`, `qi`) are left out: a verifier needs none of them.
const A2_JWK: &str = concat!(
    r#"{"kty":"RSA","#,
    r#" "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"#,
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
    r#"NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","#,
    r#" "e":"AQAB""#,
    "}",
);

/// `exp` of both example payloads.
const EXP: u64 = 1_300_819_380;

/// The example payload: `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct RfcClaims {
    iss: String,
    exp: u64,
    #[serde(rename = "http://example.com/is_root")]
    is_root: bool,
}

fn infer_alg() -> JwkOptions {
    JwkOptions::default().infer_algorithm_from_key_type(true)
}

fn a1_keys() -> StaticKeys {
    StaticKeys::from_jwks_with(A1_JWK, infer_alg()).expect("the RFC 7515 A.1 JWK loads")
}

fn a2_keys() -> StaticKeys {
    let key = VerifyingKey::from_jwk_with(A2_JWK, infer_alg()).expect("the RFC 7515 A.2 JWK loads");
    StaticKeys::new([key]).unwrap()
}

/// Ten seconds before the examples' `exp`.
fn before_exp() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EXP) - Duration::from_secs(10)
}

fn auth_with(keys: StaticKeys, issuer: &str) -> JwtAuth<RfcClaims> {
    JwtAuth::<RfcClaims>::builder()
        .keys(keys)
        .issuer(issuer)
        .dangerous_accept_any_audience() // the examples have no `aud`
        .clock(FixedClock::at(before_exp()))
        .build()
        .unwrap()
}

fn expected_claims() -> RfcClaims {
    RfcClaims { iss: "joe".into(), exp: EXP, is_root: true }
}

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Replaces every character of every segment, in turn, with each of the 63 other base64url
/// characters, and checks that every such token is refused. Payload and signature changes
/// must be refused as `InvalidSignature` (the signature is checked before the payload is
/// read); header changes may also fail earlier (malformed header, unknown algorithm, ...).
///
/// That includes the last character of the signature segment, where some replacements only
/// change the unused low bits of the final base64 quantum: the strict base64url decoder must
/// refuse those rather than decode them to the same signature.
async fn every_single_character_change_is_refused(auth: &JwtAuth<RfcClaims>, token: &str) {
    let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
    assert_eq!(dots.len(), 2);
    let segment_of = |i: usize| match i {
        i if i < dots[0] => "header",
        i if i < dots[1] => "payload",
        _ => "signature",
    };
    let mut tried = 0;
    let mut accepted = Vec::new();
    for (i, original) in token.bytes().enumerate() {
        if original == b'.' {
            continue;
        }
        for &replacement in BASE64URL.iter().filter(|&&c| c != original) {
            let mut bytes = token.as_bytes().to_vec();
            bytes[i] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            tried += 1;
            match auth.verify(&changed).await {
                Ok(_) => accepted.push((segment_of(i), i, original as char, replacement as char)),
                Err(err) => {
                    if segment_of(i) != "header" {
                        assert_eq!(
                            err,
                            AuthError::InvalidSignature,
                            "{} position {i}: {:?} -> {:?}",
                            segment_of(i),
                            original as char,
                            replacement as char
                        );
                    }
                }
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "{} of {tried} single-character changes were accepted (segment, index, from, to): {accepted:?}",
        accepted.len()
    );
    assert_eq!(tried, (token.len() - 2) * 63);

    // The sweep did include changes that only touch the unused low bits of the signature's
    // last character (a lenient decoder would read them as the very same signature).
    let lenient = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    let signature = &token[dots[1] + 1..];
    let decoded = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let last = signature.len() - 1;
    let same_under_lenient_decoding = BASE64URL
        .iter()
        .filter(|&&c| c != signature.as_bytes()[last])
        .filter(|&&c| {
            let mut changed = signature.as_bytes().to_vec();
            changed[last] = c;
            lenient.decode(&changed).is_ok_and(|bytes| bytes == decoded)
        })
        .count();
    let unused_bits = 6 * signature.len() % 8;
    assert_eq!(same_under_lenient_decoding, (1 << unused_bits) - 1);
}

#[tokio::test]
async fn a1_hs256_example_verifies() {
    let auth = auth_with(a1_keys(), "joe");
    assert_eq!(auth.verify(A1_TOKEN).await.unwrap(), expected_claims());
}

#[tokio::test]
async fn a1_secret_is_64_bytes_and_serves_every_hs_algorithm() {
    let k =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    assert_eq!(URL_SAFE_NO_PAD.decode(k).unwrap().len(), 64);
    let keys = a1_keys();
    let key = &keys.key_set().keys()[0];
    assert_eq!(
        key.algorithms().collect::<Vec<_>>(),
        [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
    );
}

#[tokio::test]
async fn a2_rs256_example_verifies() {
    let auth = auth_with(a2_keys(), "joe");
    assert_eq!(auth.verify(A2_TOKEN).await.unwrap(), expected_claims());
}

#[tokio::test]
async fn a1_every_single_character_change_is_refused() {
    every_single_character_change_is_refused(&auth_with(a1_keys(), "joe"), A1_TOKEN).await;
}

#[tokio::test]
async fn a2_every_single_character_change_is_refused() {
    every_single_character_change_is_refused(&auth_with(a2_keys(), "joe"), A2_TOKEN).await;
}

#[tokio::test]
async fn with_the_real_clock_the_examples_have_expired() {
    for (keys, token) in [(a1_keys(), A1_TOKEN), (a2_keys(), A2_TOKEN)] {
        let auth = JwtAuth::<RfcClaims>::builder()
            .keys(keys)
            .issuer("joe")
            .dangerous_accept_any_audience()
            .build()
            .unwrap();
        assert_eq!(auth.verify(token).await.unwrap_err(), AuthError::Expired);
    }
}

#[tokio::test]
async fn past_exp_plus_leeway_the_moved_clock_also_expires_them() {
    for (keys, token) in [(a1_keys(), A1_TOKEN), (a2_keys(), A2_TOKEN)] {
        let auth = JwtAuth::<RfcClaims>::builder()
            .keys(keys)
            .issuer("joe")
            .dangerous_accept_any_audience()
            .leeway(Duration::from_secs(5))
            .clock(FixedClock::at(UNIX_EPOCH + Duration::from_secs(EXP + 5)))
            .build()
            .unwrap();
        assert_eq!(auth.verify(token).await.unwrap_err(), AuthError::Expired);
    }
}

#[tokio::test]
async fn another_issuer_is_refused() {
    for (keys, token) in [(a1_keys(), A1_TOKEN), (a2_keys(), A2_TOKEN)] {
        // `iss` is compared exactly (RFC 7519 §4.1.1): no case folding.
        for issuer in ["https://joe.example", "Joe", "joe "] {
            let auth = auth_with(keys.clone(), issuer);
            assert_eq!(auth.verify(token).await.unwrap_err(), AuthError::InvalidIssuer, "{issuer}");
        }
    }
}

#[tokio::test]
async fn jwks_without_alg_are_refused_by_default() {
    assert!(StaticKeys::from_jwks(A1_JWK).is_err());
    assert!(VerifyingKey::from_jwk(A2_JWK).is_err());
}
