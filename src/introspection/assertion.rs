//! `private_key_jwt` client authentication (OpenID Connect Core §9, RFC 7523 §2.2): a short
//! JWT signed with the client's private key, sent as `client_assertion`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::jose::algorithm::Algorithm;

/// How long an assertion is valid: long enough for one call, short enough to be useless if
/// captured (RFC 7523 §3: `exp` is required).
const LIFETIME_SECS: u64 = 60;

/// The `client_assertion_type` of RFC 7523 §2.2.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's private signing key.
pub(crate) struct ClientKey {
    alg: Algorithm,
    kid: Option<String>,
    pair: Pair,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey").field("alg", &self.alg).field("kid", &self.kid).finish()
    }
}

impl ClientKey {
    /// A PKCS#8 private key (PEM `PRIVATE KEY`, or DER) for `alg`: RS256/384/512, PS256/384/512,
    /// ES256/384 or EdDSA (Ed25519).
    pub(crate) fn parse(key: &[u8], alg: Algorithm, kid: Option<String>) -> Result<Self, String> {
        let der = match pem::parse(key) {
            Ok(block) if block.tag() == "PRIVATE KEY" => block.into_contents(),
            Ok(block) => return Err(format!("a PEM {} is not a PKCS#8 private key", block.tag())),
            Err(_) => key.to_vec(),
        };
        let unusable = |_| format!("the private key is not a PKCS#8 key for {}", alg.as_str());
        let pair = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(unusable)?),
            Algorithm::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(unusable)?,
            ),
            Algorithm::ES384 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &der)
                    .map_err(unusable)?,
            ),
            Algorithm::EdDSA => {
                Pair::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(unusable)?)
            }
            other => return Err(format!("{} cannot sign a client assertion", other.as_str())),
        };
        Ok(ClientKey { alg, kid, pair })
    }

    /// A fresh assertion for `client_id` to present at `audience` (the endpoint's URL).
    pub(crate) fn assertion(&self, client_id: &str, audience: &str) -> Result<String, String> {
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| "no randomness for the assertion".to_owned())?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut header = serde_json::json!({ "alg": self.alg.as_str(), "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = kid.as_str().into();
        }
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "iat": now,
            "exp": now + LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string().as_bytes()),
            URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes())
        );
        let failed = |_| "signing the assertion failed".to_owned();
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, input.as_bytes(), &mut out).map_err(failed)?;
                out
            }
            Pair::Ec(pair) => pair.sign(&rng, input.as_bytes()).map_err(failed)?.as_ref().to_vec(),
            Pair::Ed25519(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature)))
    }
}
