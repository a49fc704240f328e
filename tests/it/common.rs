//! Test support: keys made at test time, tokens minted with aws-lc-rs directly (never through
//! jsonwebtoken's process-wide provider), and small request helpers.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, Response, header};
use jwt_layer::Algorithm;
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
pub const HMAC_SECRET: &[u8] = b"test-secret-test-secret-test-secret-test-secret-test-secret-0123";

/// One private key of each supported kind, made once per test binary.
pub struct Keys {
    pub rsa: RsaKeyPair,
    pub p256: EcdsaKeyPair,
    pub p384: EcdsaKeyPair,
    pub p521: EcdsaKeyPair,
    pub ed25519: Ed25519KeyPair,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
        p256: EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        p384: EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
        p521: EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_FIXED_SIGNING).unwrap(),
        ed25519: Ed25519KeyPair::generate().unwrap(),
    })
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The kid under which each algorithm's key is published by [`jwks`].
pub fn kid_for(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "hmac",
        Algorithm::ES256 => "p256",
        Algorithm::ES384 => "p384",
        Algorithm::ES512 => "p521",
        Algorithm::EdDSA => "ed25519",
        _ => "rsa",
    }
}

/// Signs `signing_input` with this crate's test key for `alg`.
pub fn sign(alg: Algorithm, signing_input: &[u8]) -> Vec<u8> {
    let keys = keys();
    let rng = SystemRandom::new();
    let rsa = |encoding: &'static dyn signature::RsaEncoding| {
        let mut sig = vec![0; keys.rsa.public_modulus_len()];
        keys.rsa.sign(encoding, &rng, signing_input, &mut sig).unwrap();
        sig
    };
    let hmac = |alg| hmac::sign(&hmac::Key::new(alg, HMAC_SECRET), signing_input).as_ref().to_vec();
    match alg {
        Algorithm::HS256 => hmac(hmac::HMAC_SHA256),
        Algorithm::HS384 => hmac(hmac::HMAC_SHA384),
        Algorithm::HS512 => hmac(hmac::HMAC_SHA512),
        Algorithm::RS256 => rsa(&signature::RSA_PKCS1_SHA256),
        Algorithm::RS384 => rsa(&signature::RSA_PKCS1_SHA384),
        Algorithm::RS512 => rsa(&signature::RSA_PKCS1_SHA512),
        Algorithm::PS256 => rsa(&signature::RSA_PSS_SHA256),
        Algorithm::PS384 => rsa(&signature::RSA_PSS_SHA384),
        Algorithm::PS512 => rsa(&signature::RSA_PSS_SHA512),
        Algorithm::ES256 => keys.p256.sign(&rng, signing_input).unwrap().as_ref().to_vec(),
        Algorithm::ES384 => keys.p384.sign(&rng, signing_input).unwrap().as_ref().to_vec(),
        Algorithm::ES512 => keys.p521.sign(&rng, signing_input).unwrap().as_ref().to_vec(),
        Algorithm::EdDSA => keys.ed25519.sign(signing_input).as_ref().to_vec(),
        _ => unreachable!("no test key for {alg}"),
    }
}

/// A token from raw header and payload JSON text, signed with `alg`'s test key.
pub fn mint_raw(alg: Algorithm, header_json: &str, payload_json: &str) -> String {
    let signing_input = format!("{}.{}", b64(header_json), b64(payload_json));
    let sig = sign(alg, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(sig))
}

/// A token with header `{alg, typ: JWT, kid}` and these claims.
pub fn mint(alg: Algorithm, claims: &Value) -> String {
    let header = json!({"alg": alg.as_str(), "typ": "JWT", "kid": kid_for(alg)});
    mint_raw(alg, &header.to_string(), &claims.to_string())
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

/// The public half of every test key as a JWKS document, each pinned to its algorithm(s).
pub fn jwks() -> Value {
    let keys = keys();
    let rsa_public = PublicKeyComponents::<Vec<u8>>::from(keys.rsa.public_key());
    let point = |pair: &EcdsaKeyPair| pair.public_key().as_ref().to_vec();
    let (p256, p384, p521) = (point(&keys.p256), point(&keys.p384), point(&keys.p521));
    let mut entries = vec![
        json!({"kty":"oct","kid":"hmac","alg":"HS256","k": b64(HMAC_SECRET)}),
        json!({"kty":"oct","kid":"hmac","alg":"HS384","k": b64(HMAC_SECRET)}),
        json!({"kty":"oct","kid":"hmac","alg":"HS512","k": b64(HMAC_SECRET)}),
        json!({"kty":"EC","kid":"p256","crv":"P-256","x": b64(&p256[1..33]),"y": b64(&p256[33..])}),
        json!({"kty":"EC","kid":"p384","crv":"P-384","x": b64(&p384[1..49]),"y": b64(&p384[49..])}),
        json!({"kty":"EC","kid":"p521","crv":"P-521","x": b64(&p521[1..67]),"y": b64(&p521[67..])}),
        json!({"kty":"OKP","kid":"ed25519","crv":"Ed25519","x": b64(keys.ed25519.public_key().as_ref())}),
    ];
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        entries.push(json!({"kty":"RSA","kid":"rsa","alg":alg,"use":"sig",
            "n": b64(&rsa_public.n),"e": b64(&rsa_public.e)}));
    }
    json!({ "keys": entries })
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
    let int = |v: &[u8]| {
        let v = &v[v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1)..];
        let pad = v[0] & 0x80 != 0;
        let mut out = vec![0x02, (v.len() + pad as usize) as u8];
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let body = [int(r), int(s)].concat();
    // P-521's SEQUENCE can pass 127 bytes: then the long length form.
    let len = match body.len() {
        short @ 0..=0x7f => vec![short as u8],
        long => vec![0x81, long as u8],
    };
    [vec![0x30], len, body].concat()
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

/// A key no configured verifier knows: what an attacker signs with.
pub fn attacker_key() -> &'static Ed25519KeyPair {
    static KEY: std::sync::OnceLock<Ed25519KeyPair> = std::sync::OnceLock::new();
    KEY.get_or_init(|| Ed25519KeyPair::generate().unwrap())
}

/// The attacker's public key as a JWK (to embed in a header, CVE-2018-0114).
pub fn attacker_jwk() -> Value {
    json!({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"attacker",
           "x": b64(attacker_key().public_key().as_ref())})
}

/// `header.payload` signed with the attacker's Ed25519 key.
pub fn attacker_signed(header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    format!("{input}.{}", b64(attacker_key().sign(input.as_bytes()).as_ref()))
}
