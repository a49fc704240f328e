//! The whole verify path with signatures that DO verify: the fuzzer writes the header and the
//! claims, the target signs them with the fixture HMAC key the header asks for, so every claim
//! check (strict JSON, `exp`/`nbf`/`iat`, `iss`, `aud`, duplicates, nesting) is reached.
//!
//! Input: `header JSON` `\0` `payload JSON`. The signing key is the fixture `oct` key of the
//! header's `alg` when that is HS256/HS384/HS512, otherwise the HS256 one.
//!
//! Oracle: whenever the crate accepts, an independent check over `serde_json::Value` agrees
//! that it should have: neither JSON text has a duplicate member at any depth; the header is an object whose `alg` is the signing algorithm, without
//! `crit`, with `b64` absent or `true`, and a `kid` (if any) naming the key pinned to that
//! `alg`; the payload is an object with numeric `exp` not past (fixed clock, 60 s leeway),
//! `nbf` and `iat` numeric when present, `nbf` not in the future, `iss` exactly the issuer and
//! `aud` the audience or an array holding it; the returned claims are that payload. Nothing
//! panics.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::hmac;
use jwt_layer::JwtAuth;
use jwt_layer_fuzz::{
    AUDIENCE, ISSUER, LEEWAY, NOW, RUNTIME, auth, b64, fixture_secret, has_duplicate_members,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

static AUTH: LazyLock<JwtAuth<Value>> = LazyLock::new(|| auth(AUDIENCE));

struct HmacKey {
    alg: &'static str,
    kid: &'static str,
    key: hmac::Key,
}

static KEYS: LazyLock<[HmacKey; 3]> = LazyLock::new(|| {
    [
        ("HS256", "hs256", hmac::HMAC_SHA256),
        ("HS384", "hs384", hmac::HMAC_SHA384),
        ("HS512", "hs512", hmac::HMAC_SHA512),
    ]
    .map(|(alg, kid, algorithm)| HmacKey {
        alg,
        kid,
        key: hmac::Key::new(algorithm, &fixture_secret(kid)),
    })
});

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let (header_bytes, payload) = (&data[..split], &data[split + 1..]);
    let header = header_bytes;
    let header_value: Option<Value> = serde_json::from_slice(header).ok();
    let claimed_alg = header_value.as_ref().and_then(|h| h.get("alg")).and_then(Value::as_str);
    let signer = KEYS.iter().find(|k| Some(k.alg) == claimed_alg).unwrap_or(&KEYS[0]);

    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let tag = hmac::sign(&signer.key, signing_input.as_bytes());
    let token = format!("{signing_input}.{}", b64(tag.as_ref()));

    let Ok(claims) = RUNTIME.block_on(AUTH.verify(&token)) else { return };

    // The crate accepted: check independently that it was right to.
    let header = header_value.expect("accepted a header that is not JSON");
    let header = header.as_object().expect("accepted a header that is not an object");
    assert_eq!(header.get("alg").and_then(Value::as_str), Some(signer.alg), "alg");
    assert!(!header.contains_key("crit"), "accepted crit");
    assert!(header.get("b64").is_none_or(|b| *b == Value::Bool(true)), "accepted b64");
    if let Some(kid) = header.get("kid") {
        assert_eq!(kid.as_str(), Some(signer.kid), "accepted a kid of another key");
    }

    assert_eq!(
        has_duplicate_members(header_bytes),
        Some(false),
        "accepted duplicate header members"
    );
    assert_eq!(has_duplicate_members(payload), Some(false), "accepted duplicate claims");
    let payload: Value =
        serde_json::from_slice(payload).expect("accepted a payload that is not JSON");
    let object = payload.as_object().expect("accepted a payload that is not an object");
    let now = NOW as f64;
    let leeway = LEEWAY as f64;
    let number = |name: &str| {
        object
            .get(name)
            .map(|v| v.as_f64().unwrap_or_else(|| panic!("accepted a non-numeric {name}: {v}")))
    };
    let exp = number("exp").expect("accepted a token without exp");
    assert!(now < exp + leeway, "accepted an expired token: exp {exp}");
    if let Some(nbf) = number("nbf") {
        assert!(nbf <= now + leeway, "accepted a token not yet valid: nbf {nbf}");
    }
    let _ = number("iat");
    assert_eq!(object.get("iss").and_then(Value::as_str), Some(ISSUER), "iss");
    let audience_ok = match object.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => auds.iter().any(|aud| aud == AUDIENCE),
        _ => false,
    };
    assert!(audience_ok, "accepted aud {:?}", object.get("aud"));
    assert_eq!(claims, payload, "the claims returned are not the payload signed");
});
