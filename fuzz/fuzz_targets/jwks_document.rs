//! Key documents: JWKS / JWK parsing (both `JwkOptions`), and PEM / DER public keys.
//!
//! When a document yields a key set, one fixture token (chosen by the input's length) is
//! verified against it.
//!
//! Invariants: nothing panics; a document larger than `MAX_JWKS_BYTES` is refused; a parsed
//! set never verifies a token unless the set holds a key with the token's `kid` or a key
//! without any `kid` (keys do not appear from nowhere).
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use jwt_layer::JwtAuth;
use jwt_layer::keys::{JwkOptions, KeySet, StaticKeys, VerifyingKey};
use jwt_layer_fuzz::{AUDIENCE, ISSUER, RUNTIME, valid_fixture_tokens};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

static TOKENS: LazyLock<Vec<(String, String, String)>> = LazyLock::new(valid_fixture_tokens);

fuzz_target!(|data: &[u8]| {
    let strict = KeySet::from_jwks_with(data, JwkOptions::default());
    let inferred =
        KeySet::from_jwks_with(data, JwkOptions::default().infer_algorithm_from_key_type(true));
    if data.len() > jwt_layer::keys::MAX_JWKS_BYTES {
        assert!(strict.is_err() && inferred.is_err(), "an oversized document was read");
    }
    let _ = VerifyingKey::from_jwk(data);
    let _ = VerifyingKey::from_pem(data);
    let _ = VerifyingKey::from_der(data);

    let Ok(set) = inferred else { return };
    assert!(!set.is_empty(), "an empty set was returned as usable");
    let (name, kid, token) = &TOKENS[data.len() % TOKENS.len()];
    let keys = StaticKeys::new(set.keys().iter().cloned()).expect("a non-empty set");
    let auth = JwtAuth::<Value>::builder()
        .keys(keys)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(jwt_layer::keys::FixedClock::at(
            UNIX_EPOCH + Duration::from_secs(jwt_layer_fuzz::NOW),
        ))
        .build()
        .unwrap();
    if RUNTIME.block_on(auth.verify(token)).is_ok() {
        assert!(
            set.keys().iter().any(|key| key.kid().is_none_or(|k| k == kid)),
            "{name} verified by a set without its kid {kid}"
        );
    }
});
