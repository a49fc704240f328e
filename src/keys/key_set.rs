//! A set of verification keys and the rule that picks keys for a token.

use crate::error::AuthError;
use crate::jose::algorithm::Algorithm;
use crate::jose::header::TokenHeader;
use crate::keys::VerifyingKey;

/// The keys a provider offers at one moment.
///
/// Selection follows RFC 7515 §4.1.4 and RFC 8725 §3.1:
/// - a token with a `kid` is tried against the keys with that `kid` (and keys that have no
///   `kid` at all, which a user configured to verify any token); an unknown `kid` is refused;
/// - a token without `kid` is tried against every key pinned to its `alg`, and no other;
/// - a key only verifies the algorithms it is pinned to, so a token whose `alg` does not fit
///   the selected key is refused before any cryptography.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// A set of the given keys.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        KeySet { keys: keys.into_iter().collect() }
    }

    /// The keys, in the order they were given.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty (it then verifies nothing).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is in the set.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid() == Some(kid))
    }

    /// Whether a token with this header has at least one candidate key (by `kid`, or by
    /// algorithm when the token has no `kid`). Remote providers use it to decide on a refresh.
    pub fn has_candidate(&self, header: &TokenHeader<'_>) -> bool {
        self.candidates(header).next().is_some()
    }

    fn candidates<'s>(
        &'s self,
        header: &'s TokenHeader<'_>,
    ) -> impl Iterator<Item = &'s VerifyingKey> {
        self.keys.iter().filter(move |key| is_candidate(key, header))
    }

    /// Verifies `signature` (decoded) over `message` (the JWS Signing Input,
    /// `header.payload` as sent) with the keys selected for `header`, and nothing else: no
    /// claim is looked at. Fails with `UnknownKey`, `AlgorithmNotAllowed` or
    /// `InvalidSignature`. Tools that inspect tokens use it; verifiers use [`crate::JwtAuth`].
    pub fn verify_signature(
        &self,
        header: &TokenHeader<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AuthError> {
        self.verifying_key(header, message, signature).map(|_| ())
    }

    /// As [`KeySet::verify_signature`], and tells which key verified the signature.
    pub fn verifying_key(
        &self,
        header: &TokenHeader<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<&VerifyingKey, AuthError> {
        let alg: Algorithm = header.alg();
        let mut selected = false;
        let mut pinned = false;
        for key in &self.keys {
            if !is_candidate(key, header) {
                continue;
            }
            selected = true;
            if !key.allows(alg) {
                continue;
            }
            pinned = true;
            if key.verify(alg, message, signature) {
                return Ok(key);
            }
        }
        match (selected, pinned) {
            (false, _) => Err(AuthError::UnknownKey),
            (true, false) => Err(AuthError::AlgorithmNotAllowed),
            (true, true) => Err(AuthError::InvalidSignature),
        }
    }
}

/// A key may verify a token with this header: same `kid` (a key without one is tried for any),
/// or, for a token without `kid`, a key pinned to its algorithm.
fn is_candidate(key: &VerifyingKey, header: &TokenHeader<'_>) -> bool {
    match (header.kid(), key.kid()) {
        (Some(wanted), Some(have)) => wanted == have,
        (Some(_), None) => true,
        (None, _) => key.allows(header.alg()),
    }
}

impl FromIterator<VerifyingKey> for KeySet {
    fn from_iter<I: IntoIterator<Item = VerifyingKey>>(iter: I) -> Self {
        KeySet::new(iter)
    }
}
