//! The JWS signature algorithms this crate verifies (RFC 7518 §3, RFC 8037 §3.1).

use std::fmt;

/// A JWS signature algorithm.
///
/// Parsing is exact and case-sensitive (RFC 7515 §4.1.1: `alg` values are case-sensitive), so
/// `"none"`, `"None"` and `"hs256"` are all refused. `none` has no variant at all: an unsigned
/// token can never be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// EdDSA with Ed25519 (RFC 8037).
    EdDSA,
}

/// The kind of key an algorithm needs; a key only ever verifies algorithms of its own family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlgorithmFamily {
    /// Shared secrets (`kty: oct`).
    Hmac,
    /// RSA public keys (`kty: RSA`), PKCS#1 v1.5 and PSS.
    Rsa,
    /// Elliptic-curve public keys (`kty: EC`).
    Ec,
    /// Edwards-curve public keys (`kty: OKP`).
    Okp,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// The registered name, as it appears in a JOSE header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses a registered name exactly (case-sensitive); `None` for anything else,
    /// `"none"` included.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// The key family this algorithm belongs to.
    pub const fn family(self) -> AlgorithmFamily {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => AlgorithmFamily::Rsa,
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => AlgorithmFamily::Ec,
            Algorithm::EdDSA => AlgorithmFamily::Okp,
        }
    }

    pub(crate) const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl AlgorithmFamily {
    /// The algorithms of this family.
    pub fn algorithms(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL.into_iter().filter(move |alg| alg.family() == self)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or(UnknownAlgorithm)
    }
}

/// The error of parsing an [`Algorithm`] name that is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unsupported or unknown JWS algorithm")]
pub struct UnknownAlgorithm;

/// The same algorithm as a `jsonwebtoken::Algorithm`, for applications that issue tokens with
/// jsonwebtoken; [`UnknownAlgorithm`] for `ES512`, which jsonwebtoken does not have.
#[cfg(feature = "jsonwebtoken")]
impl TryFrom<Algorithm> for jsonwebtoken::Algorithm {
    type Error = UnknownAlgorithm;

    fn try_from(alg: Algorithm) -> Result<Self, Self::Error> {
        Ok(match alg {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
            Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::RS384 => jsonwebtoken::Algorithm::RS384,
            Algorithm::RS512 => jsonwebtoken::Algorithm::RS512,
            Algorithm::PS256 => jsonwebtoken::Algorithm::PS256,
            Algorithm::PS384 => jsonwebtoken::Algorithm::PS384,
            Algorithm::PS512 => jsonwebtoken::Algorithm::PS512,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::ES384 => jsonwebtoken::Algorithm::ES384,
            Algorithm::ES512 => return Err(UnknownAlgorithm),
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        })
    }
}

/// The same algorithm as a `jsonwebtoken::Algorithm`, if this crate verifies it. jsonwebtoken's
/// enum is `#[non_exhaustive]`: an algorithm it adds later is [`UnknownAlgorithm`] here until
/// this crate supports it.
#[cfg(feature = "jsonwebtoken")]
impl TryFrom<jsonwebtoken::Algorithm> for Algorithm {
    type Error = UnknownAlgorithm;

    fn try_from(alg: jsonwebtoken::Algorithm) -> Result<Self, Self::Error> {
        // The reverse of the table above, so the two directions cannot disagree.
        Algorithm::ALL
            .into_iter()
            .find(|ours| jsonwebtoken::Algorithm::try_from(*ours) == Ok(alg))
            .ok_or(UnknownAlgorithm)
    }
}

/// A small set of algorithms, one bit each.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AlgorithmSet(u16);

impl AlgorithmSet {
    pub(crate) fn of(algs: impl IntoIterator<Item = Algorithm>) -> Self {
        AlgorithmSet(algs.into_iter().fold(0, |bits, alg| bits | alg.bit()))
    }

    pub(crate) fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL.into_iter().filter(move |alg| self.contains(*alg))
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.as_str()), Some(alg));
        }
        for bad in ["none", "None", "NONE", "hs256", "Rs256", "", "es512", "ES521"] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn sets_hold_what_was_put_in() {
        let set = AlgorithmSet::of([Algorithm::RS256, Algorithm::ES384]);
        assert!(set.contains(Algorithm::RS256) && set.contains(Algorithm::ES384));
        assert!(!set.contains(Algorithm::HS256));
        assert_eq!(set.iter().count(), 2);
    }

    #[cfg(feature = "jsonwebtoken")]
    #[test]
    fn jsonwebtoken_names_the_same_algorithms() {
        for alg in Algorithm::ALL {
            let Ok(theirs) = jsonwebtoken::Algorithm::try_from(alg) else {
                assert_eq!(alg, Algorithm::ES512, "only ES512 is missing from jsonwebtoken");
                continue;
            };
            assert_eq!(format!("{theirs:?}"), alg.as_str());
            assert_eq!(Algorithm::try_from(theirs), Ok(alg));
        }
    }
}
