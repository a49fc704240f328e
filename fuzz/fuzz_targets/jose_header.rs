//! JOSE header parsing and key selection over every key kind, with signatures that cannot
//! verify.
//!
//! Input: `header JSON` `\0` `signature bytes` (no `\0` means an empty signature). The token is
//! `b64(header).b64(payload).b64(signature)` with a fixed payload that is expired and for
//! another audience, and is verified against every fixture key (HMAC, RSA, EC, Ed25519).
//!
//! Invariants: the token is refused; the reason is a header, key or signature reason, never a
//! claim reason (nothing in the payload may be read before the signature verifies, RFC 8725
//! §3.1); nothing panics.
#![no_main]

use std::sync::LazyLock;

use jwt_layer::reason::MalformedReason;
use jwt_layer::{AuthError, JwtAuth};
use jwt_layer_fuzz::{RUNTIME, auth, b64};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

static AUTH: LazyLock<JwtAuth<Value>> = LazyLock::new(|| auth(jwt_layer_fuzz::AUDIENCE));

/// Expired long before the fixed clock, for another issuer and audience, with a duplicated
/// member: any claim check that ran would refuse it.
static PAYLOAD: LazyLock<String> = LazyLock::new(|| {
    b64(
        r#"{"iss":"https://evil.example","aud":"other","exp":1000,"nbf":4102444800,"sub":"a","sub":"b"}"#,
    )
});

fuzz_target!(|data: &[u8]| {
    let (header, signature) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let token = format!("{}.{}.{}", b64(header), *PAYLOAD, b64(signature));
    let result = RUNTIME.block_on(AUTH.verify(&token));
    match result {
        Ok(claims) => panic!("accepted a token with an unverifiable signature: {claims}"),
        Err(AuthError::Malformed(why)) => {
            // Shape checks on the payload segment are fine; parsing its JSON is not.
            assert!(
                !matches!(
                    why,
                    MalformedReason::PayloadNotJsonObject | MalformedReason::DuplicateClaim
                ),
                "the payload was read before the signature: {why}"
            );
        }
        Err(
            AuthError::TokenTooLarge
            | AuthError::UnsupportedAlgorithm
            | AuthError::CriticalHeader
            | AuthError::UnknownKey
            | AuthError::AlgorithmNotAllowed
            | AuthError::InvalidSignature,
        ) => {}
        Err(other) => panic!("refused for a reason found after the signature: {other:?}"),
    }
});
