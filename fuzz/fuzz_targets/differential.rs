//! Differential verdicts on fuzzer-made tokens: jwt-layer against jsonwebtoken 12, with the
//! verdict rule of `tests/it/differential.rs` and its categories (shared source file).
//!
//! Input: one mode byte, then the rest.
//! - mode & 2 == 0: `header JSON` `\0` `payload JSON`, signed here with the verifier's key
//!   whatever the header says, so every header and claim check is reached;
//! - mode & 2 == 2: the whole token, as text.
//!
//! mode & 1 picks the verifier: HS256 (the fixture `oct` key `hs256`) or ES256 (a P-256 key
//! made at start, kid `es256`). Each is one key configured alike in both libraries: algorithm,
//! issuer, audience, 60 s leeway, `exp`, `iss` and `aud` required, `nbf` checked, the system
//! clock (jsonwebtoken has no other).
//!
//! Oracle: the verdicts agree, or the token falls in a category of
//! `tests/differential/categories.rs` for that direction. Anything else panics with the token.
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use jwt_layer_fuzz::categories::{self, Alike};
use jwt_layer_fuzz::{AUDIENCE, ISSUER, RUNTIME, b64, fixture_secret};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

enum Signer {
    Hmac(hmac::Key),
    Ecdsa(EcdsaKeyPair),
}

struct Pair {
    kid: &'static str,
    alike: Alike,
    signer: Signer,
}

impl Pair {
    fn new(alg: jwt_layer::Algorithm, kid: &'static str, jwk: Value, signer: Signer) -> Pair {
        Pair { kid, alike: Alike::new(alg, jwk, ISSUER, AUDIENCE), signer }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Hmac(key) => hmac::sign(key, input).as_ref().to_vec(),
            Signer::Ecdsa(pair) => {
                pair.sign(&SystemRandom::new(), input).unwrap().as_ref().to_vec()
            }
        }
    }
}

static PAIRS: LazyLock<[Pair; 2]> = LazyLock::new(|| {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let secret = fixture_secret("hs256");
    let hs256 = Pair::new(
        jwt_layer::Algorithm::HS256,
        "hs256",
        json!({"kty": "oct", "kid": "hs256", "alg": "HS256", "k": b64(&secret)}),
        Signer::Hmac(hmac::Key::new(hmac::HMAC_SHA256, &secret)),
    );
    let p256 =
        EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    let point = p256.public_key().as_ref().to_vec();
    let es256 = Pair::new(
        jwt_layer::Algorithm::ES256,
        "es256",
        json!({"kty": "EC", "kid": "es256", "crv": "P-256",
               "x": b64(&point[1..33]), "y": b64(&point[33..])}),
        Signer::Ecdsa(p256),
    );
    [hs256, es256]
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let pair = &PAIRS[usize::from(mode & 1)];
    let token = if mode & 2 == 0 {
        let Some(split) = rest.iter().position(|&b| b == 0) else { return };
        let input = format!("{}.{}", b64(&rest[..split]), b64(&rest[split + 1..]));
        let signature = pair.sign(input.as_bytes());
        format!("{input}.{}", b64(signature))
    } else {
        match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        }
    };

    let Alike { layer, key, validation } = &pair.alike;
    let layer = RUNTIME.block_on(layer.verify(&token)).is_ok();
    let reference = jsonwebtoken::decode::<Value>(&token, key, validation).is_ok();
    if layer == reference {
        return;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let input = categories::Input::new(&token, pair.kid, now);
    if categories::explain(layer, &input).is_none() {
        let verdict = |ok: bool| if ok { "accepts" } else { "refuses" };
        panic!(
            "unexplained divergence: jwt-layer {}, jsonwebtoken {}: {token}",
            verdict(layer),
            verdict(reference)
        );
    }
});
