//! One verification key, prepared once, pinned to the algorithms it may verify.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::{hmac, signature};

use crate::jose::algorithm::{Algorithm, AlgorithmFamily, AlgorithmSet};
use crate::keys::KeyError;

/// The smallest RSA modulus accepted (RFC 8725 §3.5).
const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus aws-lc verifies with; larger keys would fail every signature.
const MAX_RSA_BITS: usize = 8192;

/// A key that verifies signatures, pinned to the algorithms it may verify.
///
/// The key is parsed and prepared when it is built (HMAC contexts, parsed public keys), so a
/// verification does no key parsing and no allocation. A key never verifies an algorithm of
/// another family: an RSA, EC or Ed25519 key never verifies `HS*` (the HS/RS confusion of
/// CVE-2016-10555), and an HMAC secret never verifies `RS*`, `PS*`, `ES*` or `EdDSA`.
///
/// ```
/// use jwt_layer::{Algorithm, keys::VerifyingKey};
///
/// let key = VerifyingKey::hmac(b"a secret of at least thirty-two bytes!")?
///     .with_kid("2026-11")
///     .with_algorithms([Algorithm::HS256])?;
/// assert_eq!(key.kid(), Some("2026-11"));
/// assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::HS256]);
/// # Ok::<(), jwt_layer::keys::KeyError>(())
/// ```
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<Arc<str>>,
    material: Arc<Material>,
    algorithms: AlgorithmSet,
    verifiers: Arc<[(Algorithm, Verifier)]>,
}

/// What the key is made of, kept so the algorithm set can be narrowed later.
#[derive(PartialEq, Eq)]
enum Material {
    Secret(Box<[u8]>),
    /// PKCS#1 or SPKI DER.
    Rsa(Box<[u8]>),
    /// SPKI DER or an uncompressed SEC1 point.
    Ec(Box<[u8]>),
    /// A raw 32-byte key or SPKI DER.
    Ed25519(Box<[u8]>),
}

enum Verifier {
    /// Boxed: an HMAC context is over a kilobyte.
    Hmac(Box<hmac::Key>),
    Public(signature::ParsedPublicKey),
}

impl VerifyingKey {
    /// An HMAC secret (`HS256`, `HS384`, `HS512`).
    ///
    /// RFC 7518 §3.2 asks for a secret at least as long as the hash output, so a secret of
    /// 32 bytes verifies HS256 only, 48 bytes HS256 and HS384, 64 bytes all three. Shorter than
    /// 32 bytes is refused.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = secret.as_ref();
        let algorithms = AlgorithmSet::of(
            [(Algorithm::HS256, 32), (Algorithm::HS384, 48), (Algorithm::HS512, 64)]
                .into_iter()
                .filter(|(_, min)| secret.len() >= *min)
                .map(|(alg, _)| alg),
        );
        if algorithms.is_empty() {
            return Err(KeyError::HmacSecretTooShort { len: secret.len() });
        }
        Self::build(Material::Secret(secret.into()), algorithms)
    }

    /// A public key in PEM: `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, EC P-256/P-384/P-521 or
    /// Ed25519)
    /// or `RSA PUBLIC KEY` (PKCS#1).
    ///
    /// RSA keys verify the whole RSA family (`RS*` and `PS*`) until narrowed with
    /// [`VerifyingKey::with_algorithms`]; EC keys verify their curve's algorithm; Ed25519 keys
    /// `EdDSA`. RSA keys under 2048 bits are refused.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let block = pem::parse(pem.as_ref()).map_err(KeyError::PemSyntax)?;
        match block.tag() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Self::from_der(block.contents()),
            "CERTIFICATE" => Err(KeyError::InvalidPem(
                "certificates are not read; extract the public key (openssl x509 -pubkey)".into(),
            )),
            tag if tag.contains("PRIVATE") => Err(KeyError::InvalidPem(
                "a private key was given where a public key belongs".into(),
            )),
            tag => Err(KeyError::InvalidPem(format!("unexpected PEM block `{tag}`"))),
        }
    }

    /// A public key in DER: RSA (PKCS#1 or SubjectPublicKeyInfo), EC P-256/P-384/P-521
    /// (SubjectPublicKeyInfo) or Ed25519 (SubjectPublicKeyInfo). See [`VerifyingKey::from_pem`].
    pub fn from_der(der: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let der = der.as_ref();
        if let Ok(rsa) = aws_lc_rs::rsa::PublicKey::from_der(der) {
            return Self::rsa_from_der(der.into(), rsa.modulus_len() * 8, None);
        }
        // The SPKI names its curve, so at most one of these parses: a key is pinned to its
        // curve's algorithm and never verifies another curve's (RFC 7518 §3.4).
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512] {
            if signature::ParsedPublicKey::new(ec_params(alg), der).is_ok() {
                return Self::build(Material::Ec(der.into()), AlgorithmSet::of([alg]));
            }
        }
        if der.len() != 32 && signature::ParsedPublicKey::new(&signature::ED25519, der).is_ok() {
            return Self::ed25519(der);
        }
        Err(KeyError::InvalidKey("not an RSA, EC P-256/P-384/P-521 or Ed25519 public key"))
    }

    /// Names the key; a token whose header has this `kid` selects it.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(Arc::from(kid.into()));
        self
    }

    /// Narrows the algorithms this key verifies (RFC 8725 §3.1: one key, one algorithm).
    ///
    /// Fails if one of them does not fit the key, for example `HS256` for an RSA key.
    pub fn with_algorithms(
        self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, KeyError> {
        let wanted = AlgorithmSet::of(algorithms);
        if let Some(alg) = wanted.iter().find(|alg| !self.algorithms.contains(*alg)) {
            return Err(KeyError::AlgorithmNotForKey(alg));
        }
        if wanted.is_empty() {
            return Err(KeyError::InvalidKey("a key needs at least one algorithm"));
        }
        let rebuilt = Self::build_verifiers(&self.material, wanted)?;
        Ok(VerifyingKey { algorithms: wanted, verifiers: rebuilt, ..self })
    }

    /// The key id, if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.algorithms.iter()
    }

    /// Whether this key verifies `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(alg)
    }

    /// The key family (HMAC, RSA, EC or OKP).
    pub fn family(&self) -> AlgorithmFamily {
        match &*self.material {
            Material::Secret(_) => AlgorithmFamily::Hmac,
            Material::Rsa(_) => AlgorithmFamily::Rsa,
            Material::Ec(_) => AlgorithmFamily::Ec,
            Material::Ed25519(_) => AlgorithmFamily::Okp,
        }
    }

    /// Whether `other` is this key: the same material, `kid` and algorithms (a key fetched
    /// again is the same key).
    pub(crate) fn same_key(&self, other: &VerifyingKey) -> bool {
        self.kid == other.kid
            && self.algorithms == other.algorithms
            && (Arc::ptr_eq(&self.material, &other.material) || self.material == other.material)
    }

    /// Checks `signature` over `message` with algorithm `alg`; `false` when the key is not
    /// pinned to `alg` or the signature does not verify. HMAC tags compare in constant time.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        let Some((_, verifier)) = self.verifiers.iter().find(|(a, _)| *a == alg) else {
            return false;
        };
        match verifier {
            Verifier::Hmac(key) => hmac::verify(key, message, sig).is_ok(),
            Verifier::Public(key) => key.verify_sig(message, sig).is_ok(),
        }
    }

    pub(crate) fn rsa_from_der(
        der: Box<[u8]>,
        bits: usize,
        algorithms: Option<AlgorithmSet>,
    ) -> Result<Self, KeyError> {
        if bits < MIN_RSA_BITS {
            return Err(KeyError::WeakRsaKey { bits });
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError::InvalidKey("RSA keys over 8192 bits are not supported"));
        }
        let all = AlgorithmSet::of(AlgorithmFamily::Rsa.algorithms());
        Self::build(Material::Rsa(der), algorithms.unwrap_or(all))
    }

    pub(crate) fn ec_from_point(point: Box<[u8]>, alg: Algorithm) -> Result<Self, KeyError> {
        Self::build(Material::Ec(point), AlgorithmSet::of([alg]))
    }

    pub(crate) fn ed25519(key: &[u8]) -> Result<Self, KeyError> {
        Self::build(Material::Ed25519(key.into()), AlgorithmSet::of([Algorithm::EdDSA]))
    }

    pub(crate) fn hmac_with(secret: &[u8], algorithms: AlgorithmSet) -> Result<Self, KeyError> {
        let key = Self::hmac(secret)?;
        match algorithms.iter().find(|alg| !key.algorithms.contains(*alg)) {
            Some(_) => Err(KeyError::HmacSecretTooShort { len: secret.len() }),
            None => key.with_algorithms(algorithms.iter()),
        }
    }

    fn build(material: Material, algorithms: AlgorithmSet) -> Result<Self, KeyError> {
        let verifiers = Self::build_verifiers(&material, algorithms)?;
        Ok(VerifyingKey { kid: None, material: Arc::new(material), algorithms, verifiers })
    }

    fn build_verifiers(
        material: &Material,
        algorithms: AlgorithmSet,
    ) -> Result<Arc<[(Algorithm, Verifier)]>, KeyError> {
        algorithms
            .iter()
            .map(|alg| {
                let verifier = match material {
                    Material::Secret(secret) => {
                        Verifier::Hmac(Box::new(hmac::Key::new(hmac_algorithm(alg), secret)))
                    }
                    Material::Rsa(der) => public(rsa_params(alg), der)?,
                    Material::Ec(bytes) => public(ec_params(alg), bytes)?,
                    Material::Ed25519(bytes) => public(&signature::ED25519, bytes)?,
                };
                Ok((alg, verifier))
            })
            .collect()
    }
}

fn public(
    params: &'static dyn signature::VerificationAlgorithm,
    bytes: &[u8],
) -> Result<Verifier, KeyError> {
    signature::ParsedPublicKey::new(params, bytes)
        .map(Verifier::Public)
        .map_err(|_| KeyError::InvalidKey("public key does not parse"))
}

fn hmac_algorithm(alg: Algorithm) -> hmac::Algorithm {
    match alg {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

fn rsa_params(alg: Algorithm) -> &'static signature::RsaParameters {
    match alg {
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

/// The `FIXED` variants take only the JOSE `r || s` form (RFC 7518 §3.4), so DER-encoded
/// signatures are refused; aws-lc refuses zero `r`/`s` (CVE-2022-21449).
fn ec_params(alg: Algorithm) -> &'static signature::EcdsaVerificationAlgorithm {
    match alg {
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        _ => &signature::ECDSA_P256_SHA256_FIXED,
    }
}

impl fmt::Debug for VerifyingKey {
    // Key material stays out of logs, even public keys: they identify deployments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family())
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_secret_length_decides_the_algorithms() {
        assert!(matches!(
            VerifyingKey::hmac([7u8; 31]),
            Err(KeyError::HmacSecretTooShort { len: 31 })
        ));
        let algs =
            |n: usize| VerifyingKey::hmac(vec![1u8; n]).unwrap().algorithms().collect::<Vec<_>>();
        assert_eq!(algs(32), [Algorithm::HS256]);
        assert_eq!(algs(48), [Algorithm::HS256, Algorithm::HS384]);
        assert_eq!(algs(64), [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
    }

    #[test]
    fn a_key_cannot_be_widened_to_another_family() {
        let key = VerifyingKey::hmac([1u8; 64]).unwrap();
        assert!(matches!(
            key.with_algorithms([Algorithm::RS256]),
            Err(KeyError::AlgorithmNotForKey(Algorithm::RS256))
        ));
    }

    #[test]
    fn debug_output_holds_no_key_material() {
        let key = VerifyingKey::hmac(b"super-secret-super-secret-super-secret").unwrap();
        let text = format!("{key:?}");
        assert!(!text.contains("super-secret"), "{text}");
    }

    /// A fresh P-521 key pair, and its public key as SubjectPublicKeyInfo DER.
    fn p521() -> (signature::EcdsaKeyPair, Vec<u8>) {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        let pair =
            signature::EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_FIXED_SIGNING).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        (pair, spki)
    }

    #[test]
    fn a_p521_key_verifies_es512_and_nothing_else() {
        let (pair, spki) = p521();
        let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki.clone()));
        for key in [VerifyingKey::from_der(&spki).unwrap(), VerifyingKey::from_pem(pem).unwrap()] {
            assert_eq!(key.family(), AlgorithmFamily::Ec);
            assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::ES512]);
            let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), b"input").unwrap();
            assert_eq!(sig.as_ref().len(), 132, "RFC 7518 §3.4: 66-byte r and s");
            assert!(key.verify(Algorithm::ES512, b"input", sig.as_ref()));
            assert!(!key.verify(Algorithm::ES384, b"input", sig.as_ref()));
            assert!(!key.verify(Algorithm::ES256, b"input", sig.as_ref()));
            for other in [Algorithm::ES256, Algorithm::ES384, Algorithm::HS512] {
                assert!(matches!(
                    key.clone().with_algorithms([other]),
                    Err(KeyError::AlgorithmNotForKey(alg)) if alg == other
                ));
            }
        }
    }

    #[test]
    fn p256_and_p384_keys_never_verify_es512() {
        for signing in [
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        ] {
            use aws_lc_rs::encoding::AsDer;
            use aws_lc_rs::signature::KeyPair;
            let pair = signature::EcdsaKeyPair::generate(signing).unwrap();
            let key = VerifyingKey::from_der(pair.public_key().as_der().unwrap().as_ref()).unwrap();
            assert!(!key.allows(Algorithm::ES512));
            assert!(matches!(
                key.with_algorithms([Algorithm::ES512]),
                Err(KeyError::AlgorithmNotForKey(Algorithm::ES512))
            ));
        }
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(VerifyingKey::from_der([0u8; 40]).is_err());
        assert!(VerifyingKey::from_pem("not pem").is_err());
    }
}
