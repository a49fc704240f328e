//! JSON Web Keys (RFC 7517) read strictly for signature verification.
//!
//! jsonwebtoken's `DecodingKey::from_jwk` ignores `use`, `key_ops` and `alg`; here each of them
//! narrows what a key may do, and a key that may not verify signatures is skipped.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::jose::algorithm::{Algorithm, AlgorithmFamily, AlgorithmSet};
use crate::keys::{KeyError, VerifyingKey, der};

/// How JWKs without an `alg` member are treated.
///
/// EC and OKP keys name their curve, and each supported curve has exactly one algorithm
/// (P-256 → ES256, P-384 → ES384, P-521 → ES512, Ed25519 → EdDSA), so those are always pinned
/// by curve.
/// An RSA or `oct` key without `alg` could serve any algorithm of its family; by default such a
/// key is skipped (RFC 8725 §3.1: a key should be used with one algorithm).
/// [`JwkOptions::infer_algorithm_from_key_type`] pins it to its whole family instead, which
/// identity providers that omit `alg` (Microsoft Entra ID, for one) need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwkOptions {
    infer_family: bool,
}

impl JwkOptions {
    /// Lets an RSA key without `alg` verify `RS256`…`PS512` and an `oct` key without `alg`
    /// verify the `HS*` algorithms its length allows.
    pub fn infer_algorithm_from_key_type(mut self, allow: bool) -> Self {
        self.infer_family = allow;
        self
    }
}

/// Reads one JWK object into a verification key, or says why it cannot verify signatures.
pub(crate) fn from_jwk(
    jwk: &Map<String, Value>,
    options: JwkOptions,
) -> Result<VerifyingKey, KeyError> {
    let bad = |why: &str| KeyError::InvalidJwk(why.to_owned());
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(other)) => {
            return Err(KeyError::InvalidJwk(format!("use is `{other}`, not `sig`")));
        }
        Some(_) => return Err(bad("use is not a string")),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or_else(|| bad("key_ops is not an array"))?;
        if !ops.iter().any(|op| op == "verify") {
            return Err(bad("key_ops does not include `verify`"));
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(name)) => Some(Algorithm::from_name(name).ok_or_else(|| {
            KeyError::InvalidJwk(format!("alg `{name}` is not a supported signature algorithm"))
        })?),
        Some(_) => return Err(bad("alg is not a string")),
    };
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(bad("kid is not a string")),
    };
    let kty = jwk.get("kty").and_then(Value::as_str).ok_or_else(|| bad("kty is missing"))?;
    let family = match kty {
        "RSA" => AlgorithmFamily::Rsa,
        "EC" => AlgorithmFamily::Ec,
        "OKP" => AlgorithmFamily::Okp,
        "oct" => AlgorithmFamily::Hmac,
        other => {
            return Err(KeyError::InvalidJwk(format!("kty `{other}` is not supported")));
        }
    };
    if let Some(alg) = alg.filter(|alg| alg.family() != family) {
        return Err(KeyError::InvalidJwk(format!("alg {alg} does not fit kty {kty}")));
    }
    if family != AlgorithmFamily::Hmac
        && ["d", "p", "q", "dp", "dq", "qi"].iter().any(|m| jwk.contains_key(*m))
    {
        // Only the public part is used, but a published private key is a leak to fix.
        tracing::warn!(
            kid = kid.as_deref().unwrap_or(""),
            "JWK carries private key members; only its public part is used"
        );
    }
    let pinned = |family_default: AlgorithmSet| match alg {
        Some(alg) => Ok(AlgorithmSet::of([alg])),
        None if options.infer_family => Ok(family_default),
        None => Err(bad("no alg, and inferring it from the key type is not enabled")),
    };
    let key = match family {
        AlgorithmFamily::Rsa => {
            let n = member_bytes(jwk, "n")?;
            let e = member_bytes(jwk, "e")?;
            let bits = significant_bits(&n);
            let algorithms = pinned(AlgorithmSet::of(AlgorithmFamily::Rsa.algorithms()))?;
            VerifyingKey::rsa_from_der(der::rsa_public_key(&n, &e).into(), bits, Some(algorithms))?
        }
        AlgorithmFamily::Ec => {
            let (curve_alg, size) = match jwk.get("crv").and_then(Value::as_str) {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                // RFC 7518 §6.2.1.2: P-521 coordinates are 66 bytes, leading zeros kept.
                Some("P-521") => (Algorithm::ES512, 66),
                Some(other) => {
                    return Err(KeyError::InvalidJwk(format!("curve `{other}` is not supported")));
                }
                None => return Err(bad("crv is missing")),
            };
            if alg.is_some_and(|alg| alg != curve_alg) {
                return Err(bad("alg does not fit the curve"));
            }
            let (x, y) = (member_bytes(jwk, "x")?, member_bytes(jwk, "y")?);
            if x.len() != size || y.len() != size {
                return Err(bad("x or y has the wrong length for the curve"));
            }
            // SEC1 uncompressed point: 0x04 || x || y.
            let point: Vec<u8> = [&[0x04][..], &x, &y].concat();
            VerifyingKey::ec_from_point(point.into(), curve_alg)
                .map_err(|_| bad("the point is not on the curve"))?
        }
        AlgorithmFamily::Okp => {
            match jwk.get("crv").and_then(Value::as_str) {
                Some("Ed25519") => {}
                Some(other) => {
                    return Err(KeyError::InvalidJwk(format!("curve `{other}` is not supported")));
                }
                None => return Err(bad("crv is missing")),
            }
            let x = member_bytes(jwk, "x")?;
            if x.len() != 32 {
                return Err(bad("x has the wrong length for Ed25519"));
            }
            VerifyingKey::ed25519(&x)?
        }
        AlgorithmFamily::Hmac => {
            let k = member_bytes(jwk, "k")?;
            let all = VerifyingKey::hmac(&k)?;
            let algorithms = pinned(AlgorithmSet::of(all.algorithms()))?;
            VerifyingKey::hmac_with(&k, algorithms)?
        }
    };
    Ok(match kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

fn member_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyError> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| KeyError::InvalidJwk(format!("`{name}` is missing or not a string")))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyError::InvalidJwk(format!("`{name}` is not base64url without padding")))
}

fn significant_bits(n: &[u8]) -> usize {
    match n.iter().position(|&b| b != 0) {
        Some(first) => (n.len() - first) * 8 - n[first].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A fresh P-521 key pair and its public JWK members (`x`, `y`: 66 bytes each).
    fn p521() -> (EcdsaKeyPair, Value) {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 133);
        let jwk =
            json!({"kty": "EC", "crv": "P-521", "x": b64(&point[1..67]), "y": b64(&point[67..])});
        (pair, jwk)
    }

    fn load(jwk: &Value) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_jwk(jwk.to_string())
    }

    #[test]
    fn a_p521_jwk_is_pinned_to_es512_with_or_without_alg() {
        let (pair, mut jwk) = p521();
        let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), b"input").unwrap();
        for alg in [None, Some("ES512")] {
            if let Some(alg) = alg {
                jwk["alg"] = json!(alg);
            }
            let key = load(&jwk).unwrap();
            assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::ES512]);
            assert!(key.verify(Algorithm::ES512, b"input", sig.as_ref()));
        }
    }

    #[test]
    fn crv_and_alg_must_agree() {
        let (_, jwk) = p521();
        for alg in ["ES256", "ES384"] {
            let mut wrong = jwk.clone();
            wrong["alg"] = json!(alg);
            assert!(
                matches!(load(&wrong), Err(KeyError::InvalidJwk(why)) if why.contains("curve"))
            );
        }
        // A P-256 key that says ES512.
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref();
        let p256 = json!({"kty": "EC", "crv": "P-256", "alg": "ES512",
            "x": b64(&point[1..33]), "y": b64(&point[33..])});
        assert!(matches!(load(&p256), Err(KeyError::InvalidJwk(why)) if why.contains("curve")));
        // P-521 coordinates under a P-384 name.
        let mut renamed = jwk.clone();
        renamed["crv"] = json!("P-384");
        assert!(load(&renamed).is_err());
    }

    #[test]
    fn p521_coordinates_are_exactly_66_bytes() {
        let (pair, jwk) = p521();
        let point = pair.public_key().as_ref();
        // RFC 7518 §6.2.1.2: the full length even when the leading byte is zero, so a
        // coordinate stripped of it (65 bytes) or padded (67 bytes) is refused.
        for (x, y) in [
            (&point[2..67], &point[67..]),
            (&point[1..67], &point[68..]),
            (&[&[0u8][..], &point[1..67]].concat()[..], &point[67..]),
        ] {
            let mut wrong = jwk.clone();
            wrong["x"] = json!(b64(x));
            wrong["y"] = json!(b64(y));
            assert!(
                matches!(load(&wrong), Err(KeyError::InvalidJwk(why)) if why.contains("length"))
            );
        }
        // The right length, off the curve.
        let mut off_curve = jwk;
        off_curve["y"] = json!(b64(&[0x01; 66]));
        assert!(
            matches!(load(&off_curve), Err(KeyError::InvalidJwk(why)) if why.contains("curve"))
        );
    }
}
