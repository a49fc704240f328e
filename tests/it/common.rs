//! Test support: the issuers whose keys sign the tests' tokens (the crate's test kit,
//! `jwt_layer::testing`, made once per test binary), small request helpers, and the
//! transformations only an attacker makes (signature rewriting, non-canonical base64url).
#![allow(dead_code)]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, Response, header};
use jwt_layer::Algorithm;
use jwt_layer::testing::TestIssuer;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A key provider that counts its lookups, to show which keys were consulted (and when a
/// cached verification skipped them).
pub struct CountedKeys {
    pub keys: jwt_layer::keys::StaticKeys,
    pub lookups: Arc<AtomicUsize>,
}

impl jwt_layer::keys::KeyProvider for CountedKeys {
    fn lookup(&self, header: &jwt_layer::TokenHeader<'_>) -> jwt_layer::keys::KeyLookup {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.keys.lookup(header)
    }
}

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "jwt-layer-tests";

/// The issuer `ISSUER` of this test binary, whose keys the verifiers of these tests trust: a
/// key for every algorithm, all made at its first use (never later, inside a test's time
/// bound), once for the whole binary.
pub fn issuer() -> &'static TestIssuer {
    static ISSUER_KEYS: LazyLock<TestIssuer> = LazyLock::new(|| {
        let idp = TestIssuer::new(ISSUER);
        idp.jwks_json_with_secrets();
        idp
    });
    &ISSUER_KEYS
}

/// Another issuer, also named `ISSUER`, with keys of its own (made as they are used): a second
/// trusted issuer, or the signer of a well-made but foreign token.
pub fn stranger() -> &'static TestIssuer {
    static STRANGER_KEYS: LazyLock<TestIssuer> = LazyLock::new(|| TestIssuer::new(ISSUER));
    &STRANGER_KEYS
}

/// Base64url without padding, as JWS segments are written.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims that pass every default check.
pub fn good_claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now(),
        "exp": now() + 600,
        "scope": "read write",
    })
}

/// A GET request to `uri` with the given `Authorization` header, if any.
pub fn request(uri: &str, authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body(Body::empty()).unwrap()
}

pub fn challenge(response: &Response<Body>) -> Option<&str> {
    response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap())
}

pub async fn body_text(response: Response<Body>) -> String {
    use http_body_util::BodyExt;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// `request` sent to `app`: the status, every `WWW-Authenticate` value and the body.
pub async fn answered(
    app: &axum::Router,
    request: Request<Body>,
) -> (http::StatusCode, Vec<String>, String) {
    use tower::ServiceExt;
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenges = response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    (status, challenges, body_text(response).await)
}

// Signature and encoding tamperings shared by the attack corpus and the differential test.

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from a fixed `r || s` signature.
pub fn der_from_fixed(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    // P-521's SEQUENCE can pass 127 bytes: then the long length form.
    der_sequence(&[der_integer(r), der_integer(s)])
}

/// An Ed25519 signature with `S` replaced by `S + L` (the group order): the same point
/// equation holds, so only the RFC 8032 §5.1.7 check `S < L` refuses it (malleability).
pub fn ed25519_s_plus_l(signature: &[u8]) -> Vec<u8> {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10,
    ];
    let mut out = signature.to_vec();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = out[32 + i] as u16 + L[i] as u16 + carry;
        out[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    out
}

/// The last base64url character of a segment whose final sextet carries unused low bits, with
/// those bits set: decodes to the same bytes under a lenient decoder, refused by a strict one.
/// A segment without unused bits comes back unchanged.
pub fn non_canonical(segment: &str) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *segment.as_bytes().last().unwrap();
    let value = alphabet.iter().position(|&c| c == last).unwrap();
    let unused_bits = match segment.len() % 4 {
        2 => 4,
        3 => 2,
        _ => return segment.to_owned(),
    };
    let mut out = segment[..segment.len() - 1].to_owned();
    out.push(alphabet[value | ((1 << unused_bits) - 1)] as char);
    out
}

/// An issuer no configured verifier trusts: what an attacker signs with (its Ed25519 key).
pub fn attacker() -> &'static TestIssuer {
    static ATTACKER_KEYS: LazyLock<TestIssuer> =
        LazyLock::new(|| TestIssuer::new("https://attacker.example"));
    &ATTACKER_KEYS
}

/// The attacker's public key as a JWK (to embed in a header, CVE-2018-0114).
pub fn attacker_jwk() -> Value {
    let x = attacker().jwk(Algorithm::EdDSA)["x"].clone();
    json!({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"attacker","x": x})
}

/// `header.payload` signed with the attacker's Ed25519 key.
pub fn attacker_signed(header: &Value, claims: &Value) -> String {
    attacker()
        .token()
        .alg(Algorithm::EdDSA)
        .raw_header(&header.to_string())
        .claims(claims.clone())
        .sign()
}

/// The public key of `issuer()`'s key for `alg`, as the bytes an algorithm-confusion attack
/// takes for an HMAC secret: the DER `RSAPublicKey` (RFC 8017 A.1.1), the uncompressed EC
/// point, the Ed25519 key.
pub fn public_key_bytes(alg: Algorithm) -> Vec<u8> {
    let jwk = issuer().jwk(alg);
    let member = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    match jwk["kty"].as_str().unwrap() {
        "RSA" => {
            let der = der_sequence(&[der_integer(&member("n")), der_integer(&member("e"))]);
            // The DER the attack needs is the one the key's own library writes: it verifies.
            let input = b"public key check";
            let signature = issuer().sign(Algorithm::RS256, input);
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                &der,
            )
            .verify(input, &signature)
            .expect("the DER RSAPublicKey of the RS256 key");
            der
        }
        "EC" => [vec![4], member("x"), member("y")].concat(),
        _ => member("x"),
    }
}

/// A DER `INTEGER` of the unsigned big-endian `value`.
fn der_integer(value: &[u8]) -> Vec<u8> {
    let value = &value[value.iter().position(|&b| b != 0).unwrap_or(value.len() - 1)..];
    let pad = value[0] & 0x80 != 0;
    let body = [if pad { vec![0] } else { vec![] }, value.to_vec()].concat();
    [vec![0x02], der_length(body.len()), body].concat()
}

/// A DER `SEQUENCE` of these encoded elements.
fn der_sequence(elements: &[Vec<u8>]) -> Vec<u8> {
    let body = elements.concat();
    [vec![0x30], der_length(body.len()), body].concat()
}

fn der_length(len: usize) -> Vec<u8> {
    match len {
        short @ 0..=0x7f => vec![short as u8],
        0x80..=0xff => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}
