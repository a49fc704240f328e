//! Tokens, keys and attack tokens minted by an independent JOSE implementation (PyJWT,
//! jwcrypto and python-cryptography; see `tests/fixtures/independent/README.md`), and ES512
//! ones made with Node.js's `node:crypto` (`tests/fixtures/es512/make_fixtures.mjs`).

use std::path::PathBuf;

use jwt_layer::keys::{FixedClock, KeyError, StaticKeys, VerifyingKey};
use jwt_layer::{AuthError, JwtAuth};
use serde::Deserialize;
use serde_json::Value;

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "jwt-layer-tests";

#[derive(Deserialize)]
struct Fixture {
    name: String,
    token: String,
    expect: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/independent")
}

fn fixtures() -> Vec<Fixture> {
    serde_json::from_str(&std::fs::read_to_string(dir().join("tokens.json")).unwrap()).unwrap()
}

fn token(name: &str) -> String {
    fixtures().into_iter().find(|f| f.name == name).unwrap().token
}

fn auth(keys: StaticKeys) -> JwtAuth<Value> {
    JwtAuth::builder().keys(keys).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

/// The verdict each attack token must get, named after the attack.
fn expected_error(name: &str) -> AuthError {
    match name {
        "alg_none" | "alg_None_mixed_case" | "alg_NONE_upper" => AuthError::UnsupportedAlgorithm,
        // kid `rs256` selects an RSA key, which is never pinned to HS256.
        "hs256_with_rsa_public_key_as_secret" => AuthError::AlgorithmNotAllowed,
        // Without kid, only HMAC keys are tried, and the PEM text is not one of them.
        "hs256_with_rsa_public_key_no_kid" => AuthError::InvalidSignature,
        // No kid; tried against the RSA keys pinned to RS256, never the embedded key.
        "embedded_jwk_cve_2018_0114" => AuthError::InvalidSignature,
        "jku_header" | "x5u_header" | "unknown_kid" | "weak_rsa1024_key" => AuthError::UnknownKey,
        "crit_header" | "b64_false" => AuthError::CriticalHeader,
        "es256_der_signature"
        | "es256_zero_signature_cve_2022_21449"
        | "stripped_signature"
        | "swapped_signature"
        | "tampered_payload"
        | "non_canonical_base64" => AuthError::InvalidSignature,
        "ps256_signed_claimed_rs256" => AuthError::InvalidSignature,
        "alg_key_mismatch_rs384_with_rs256_key" => AuthError::AlgorithmNotAllowed,
        // Both keys are skipped when the set loads, so their kids are unknown.
        "enc_key_used" | "verify_ops_missing" => AuthError::UnknownKey,
        "expired" => AuthError::Expired,
        "not_yet_valid" => AuthError::NotYetValid,
        "exp_as_string" => AuthError::InvalidClaimType(jwt_layer::reason::RegisteredClaim::Exp),
        "nbf_as_string" => AuthError::InvalidClaimType(jwt_layer::reason::RegisteredClaim::Nbf),
        "exp_missing" => AuthError::MissingClaim("exp".into()),
        "wrong_issuer" => AuthError::InvalidIssuer,
        "wrong_audience" => AuthError::InvalidAudience,
        "aud_missing" => AuthError::MissingClaim("aud".into()),
        "duplicate_claim_payload" => {
            AuthError::Malformed(jwt_layer::reason::MalformedReason::DuplicateClaim)
        }
        // The first `alg` is "none", refused as soon as it is read.
        "duplicate_header_member" => AuthError::UnsupportedAlgorithm,
        "padding_in_segment" => {
            AuthError::Malformed(jwt_layer::reason::MalformedReason::NotBase64Url)
        }
        other => panic!("no expectation for fixture {other}"),
    }
}

#[tokio::test]
async fn every_fixture_gets_its_verdict() {
    let auth = auth(StaticKeys::from_jwks_file(dir().join("jwks.json")).unwrap());
    let fixtures = fixtures();
    assert!(fixtures.len() >= 40, "fixture set is incomplete");
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let verdict = auth.verify(&fixture.token).await;
        match (fixture.expect.as_str(), verdict) {
            ("valid", Ok(claims)) => assert_eq!(claims["sub"], "user-123", "{}", fixture.name),
            ("invalid", Err(err)) if err == expected_error(&fixture.name) => {}
            (expect, verdict) => {
                failures.push(format!("{}: expected {expect}, got {verdict:?}", fixture.name))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unusable_keys_are_skipped_and_the_rest_kept() {
    let keys = StaticKeys::from_jwks_file(dir().join("jwks.json")).unwrap();
    let kids: Vec<_> = keys.key_set().keys().iter().filter_map(|k| k.kid()).collect();
    assert_eq!(kids.len(), 12, "{kids:?}");
    assert!(!kids.contains(&"enc-key") && !kids.contains(&"rs256-verifyops-missing"));
}

#[tokio::test]
async fn pem_and_der_public_keys_verify_the_same_tokens() {
    let pem = |file: &str| dir().join("pem").join(file);
    let cases = [
        ("rs256_spki.pem", "valid_rs256"),
        ("rs256_pkcs1.pem", "valid_rs256"),
        ("es256_spki.pem", "valid_es256"),
        ("es384_spki.pem", "valid_es384"),
        ("eddsa_spki.pem", "valid_eddsa"),
    ];
    for (file, name) in cases {
        let auth = auth(StaticKeys::from_pem_file(pem(file)).unwrap());
        assert!(auth.verify(&token(name)).await.is_ok(), "{file}");
        // A key of the wrong family never verifies.
        assert!(auth.verify(&token("valid_hs256")).await.is_err(), "{file}");
    }
    for (file, name) in [
        ("rs256_spki.der", "valid_rs256"),
        ("rs256_pkcs1.der", "valid_rs256"),
        ("es256_spki.der", "valid_es256"),
        ("eddsa_spki.der", "valid_eddsa"),
    ] {
        let der = std::fs::read(pem(file)).unwrap();
        let auth = auth(StaticKeys::from_der(der).unwrap());
        assert!(auth.verify(&token(name)).await.is_ok(), "{file}");
    }
}

#[test]
fn rsa_keys_under_2048_bits_are_refused_when_loaded() {
    let dir = dir().join("pem");
    let pem = std::fs::read(dir.join("rsa1024_spki.pem")).unwrap();
    assert!(matches!(VerifyingKey::from_pem(pem), Err(KeyError::WeakRsaKey { bits: 1024 })));
    let jwk = std::fs::read_to_string(dir.join("rsa1024.jwk.json")).unwrap();
    assert!(matches!(VerifyingKey::from_jwk(&jwk), Err(KeyError::WeakRsaKey { bits: 1024 })));
}

#[tokio::test]
async fn key_confusion_through_a_pem_configured_key() {
    // Only the RSA public key is configured; the attacker HMACs with its PEM text.
    let pem = dir().join("pem/rs256_spki.pem");
    let auth = auth(StaticKeys::from_pem_file(pem).unwrap());
    for name in ["hs256_with_rsa_public_key_as_secret", "hs256_with_rsa_public_key_no_kid"] {
        let err = auth.verify(&token(name)).await.unwrap_err();
        assert!(
            matches!(err, AuthError::AlgorithmNotAllowed | AuthError::UnknownKey),
            "{name}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// ES512 (P-521) from Node.js: jsonwebtoken has no ES512, so these and Wycheproof's vectors are
// what hold it to other implementations.

#[derive(Deserialize)]
struct Es512Fixtures {
    issuer: String,
    audience: String,
    now: u64,
    jwks: Value,
    spki_pem: String,
    spki_der: String,
    tokens: Vec<Fixture>,
    dpop: Es512Dpop,
}

#[derive(Deserialize)]
struct Es512Dpop {
    jkt: String,
    token: String,
    proof: String,
}

fn es512_fixtures() -> Es512Fixtures {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/es512/fixtures.json");
    let fixtures: Es512Fixtures =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!((fixtures.issuer.as_str(), fixtures.audience.as_str()), (ISSUER, AUDIENCE));
    fixtures
}

fn es512_token(fixtures: &Es512Fixtures, name: &str) -> String {
    fixtures.tokens.iter().find(|f| f.name == name).unwrap().token.clone()
}

fn es512_expected_error(name: &str) -> AuthError {
    match name {
        "es512_der_signature"
        | "es512_zero_signature_cve_2022_21449"
        | "es512_signature_truncated"
        | "es512_signature_padded"
        | "es512_payload_changed"
        | "es512_by_an_unknown_p521_key" => AuthError::InvalidSignature,
        // Each key verifies its own curve's algorithm only (RFC 7518 §3.4).
        "es512_with_the_p256_kid"
        | "es512_by_the_p256_key"
        | "es256_by_the_p521_key"
        | "es384_by_the_p521_key" => AuthError::AlgorithmNotAllowed,
        other => panic!("no expectation for ES512 fixture {other}"),
    }
}

#[tokio::test]
async fn es512_fixtures_from_node_get_their_verdicts() {
    let fixtures = es512_fixtures();
    let auth = auth(StaticKeys::from_jwks(fixtures.jwks.to_string()).unwrap());
    assert!(fixtures.tokens.len() >= 12, "ES512 fixture set is incomplete");
    let mut failures = Vec::new();
    for fixture in &fixtures.tokens {
        let verdict = auth.verify(&fixture.token).await;
        match (fixture.expect.as_str(), verdict) {
            ("valid", Ok(claims)) => assert_eq!(claims["sub"], "user-123", "{}", fixture.name),
            ("invalid", Err(err)) if err == es512_expected_error(&fixture.name) => {}
            (expect, verdict) => {
                failures.push(format!("{}: expected {expect}, got {verdict:?}", fixture.name))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn es512_spki_pem_and_der_from_node_verify_es512_only() {
    use base64::Engine;
    let fixtures = es512_fixtures();
    let der = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&fixtures.spki_der).unwrap();
    for keys in [StaticKeys::from_pem(&fixtures.spki_pem), StaticKeys::from_der(der)] {
        let keys = keys.unwrap();
        let algs: Vec<_> = keys.key_set().keys()[0].algorithms().collect();
        assert_eq!(algs, [jwt_layer::Algorithm::ES512]);
        let auth = auth(keys);
        assert!(auth.verify(&es512_token(&fixtures, "valid_es512")).await.is_ok());
        for name in ["es256_by_the_p521_key", "es384_by_the_p521_key", "es512_der_signature"] {
            assert!(auth.verify(&es512_token(&fixtures, name)).await.is_err(), "{name}");
        }
    }
}

/// A P-521 DPoP proof and a token bound to Node's RFC 7638 thumbprint of its key: accepted only
/// if the layer's own thumbprint of the proof's `jwk` is the same.
#[tokio::test]
async fn es512_dpop_proof_from_node_binds_by_its_thumbprint() {
    use axum::body::Body;
    use http::{Request, StatusCode, header};
    use tower::ServiceExt;

    let fixtures = es512_fixtures();
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(fixtures.now);
    let auth = JwtAuth::<Value>::builder()
        .keys(StaticKeys::from_jwks(fixtures.jwks.to_string()).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(FixedClock::at(now))
        .dpop(jwt_layer::Dpop::required().public_origin("http://api.example.test"))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/orders/42", axum::routing::get(|| async { "ok" }))
        .layer(auth.layer());
    let request = |proof: &str| {
        Request::get("/orders/42")
            .header(header::AUTHORIZATION, format!("DPoP {}", fixtures.dpop.token))
            .header("DPoP", proof)
            .body(Body::empty())
            .unwrap()
    };
    let response = app.clone().oneshot(request(&fixtures.dpop.proof)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let payload = fixtures.dpop.token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["cnf"]["jkt"], fixtures.dpop.jkt);
    // The same proof with its signature cut short (130 bytes) is refused.
    let (input, signature) = fixtures.dpop.proof.rsplit_once('.').unwrap();
    let short = format!("{input}.{}", &signature[..signature.len() - 2]);
    let response = app.oneshot(request(&short)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
