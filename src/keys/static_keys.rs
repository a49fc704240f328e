//! Keys known when the application starts: secrets, PEM/DER files, JWK and JWKS documents.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::jose::header::TokenHeader;
use crate::keys::jwk::{JwkOptions, from_jwk};
use crate::keys::{KeyError, KeyLookup, KeyProvider, KeySet, VerifyingKey};

/// The largest JWK or JWKS document read from a string or a file (1 MiB).
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A fixed set of keys, held in memory; every lookup is answered at once.
///
/// ```
/// use jwt_layer::keys::{StaticKeys, VerifyingKey};
///
/// let keys = StaticKeys::new([
///     VerifyingKey::hmac(b"0123456789abcdef0123456789abcdef")?.with_kid("a"),
/// ])?;
/// assert_eq!(keys.key_set().len(), 1);
/// # Ok::<(), jwt_layer::keys::KeyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StaticKeys {
    set: Arc<KeySet>,
}

impl StaticKeys {
    /// A provider over these keys; an empty list is refused.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, KeyError> {
        Self::from_key_set(KeySet::new(keys))
    }

    /// One HMAC secret (see [`VerifyingKey::hmac`]).
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::new([VerifyingKey::hmac(secret)?])
    }

    /// One public key in PEM (see [`VerifyingKey::from_pem`]).
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::new([VerifyingKey::from_pem(pem)?])
    }

    /// One public key in DER (see [`VerifyingKey::from_der`]).
    pub fn from_der(der: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::new([VerifyingKey::from_der(der)?])
    }

    /// One public key read from a PEM file.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Self::from_pem(read_bounded(path.as_ref())?)
    }

    /// The keys of a JWKS document (or of a single JWK object), with default [`JwkOptions`].
    ///
    /// A set is read key by key: a key that cannot verify signatures (`use: enc`, `key_ops`
    /// without `verify`, an unknown `kty` or curve, an RSA key under 2048 bits, an `alg` that
    /// does not fit the key) is skipped with a `tracing` warning, and the usable keys are kept.
    /// A document that is not JSON, is larger than [`MAX_JWKS_BYTES`] or holds no usable key
    /// is refused.
    ///
    /// The document is the application's own, so it may hold HMAC secrets (`oct` keys). A set
    /// fetched from the network (`RemoteJwks`, feature `remote`) never supplies them.
    ///
    /// ```
    /// use jwt_layer::keys::StaticKeys;
    ///
    /// let keys = StaticKeys::from_jwks(r#"{"keys":[
    ///   {"kty":"oct","kid":"k1","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
    ///   {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}
    /// ]}"#)?;
    /// assert_eq!(keys.key_set().len(), 1);
    /// # Ok::<(), jwt_layer::keys::KeyError>(())
    /// ```
    pub fn from_jwks(json: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::from_jwks_with(json, JwkOptions::default())
    }

    /// As [`StaticKeys::from_jwks`], with the given options.
    pub fn from_jwks_with(json: impl AsRef<[u8]>, options: JwkOptions) -> Result<Self, KeyError> {
        Self::from_key_set(KeySet::from_jwks_with(json, options)?)
    }

    /// The keys of a JWKS file (at most [`MAX_JWKS_BYTES`]), with default [`JwkOptions`]; see
    /// [`StaticKeys::from_jwks`].
    pub fn from_jwks_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Self::from_jwks_file_with(path, JwkOptions::default())
    }

    /// As [`StaticKeys::from_jwks_file`], with the given options.
    pub fn from_jwks_file_with(
        path: impl AsRef<Path>,
        options: JwkOptions,
    ) -> Result<Self, KeyError> {
        Self::from_jwks_with(read_bounded(path.as_ref())?, options)
    }

    /// A provider over a set read or built before; an empty set is refused.
    pub fn from_key_set(set: KeySet) -> Result<Self, KeyError> {
        if set.is_empty() {
            return Err(KeyError::NoUsableKeys);
        }
        Ok(StaticKeys { set: Arc::new(set) })
    }

    /// The keys.
    pub fn key_set(&self) -> &KeySet {
        &self.set
    }
}

impl KeyProvider for StaticKeys {
    fn lookup(&self, _header: &TokenHeader<'_>) -> KeyLookup {
        KeyLookup::Ready(Ok(Arc::clone(&self.set)))
    }
}

impl KeySet {
    /// Reads a JWKS document (or a single JWK object) into a set, with default
    /// [`JwkOptions`]: the keys only, for inspection or for a provider of one's own. Unusable
    /// keys are skipped as [`StaticKeys::from_jwks`] describes; a document that is not JSON,
    /// is larger than [`MAX_JWKS_BYTES`] or holds no usable key is refused.
    pub fn from_jwks(json: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::from_jwks_with(json, JwkOptions::default())
    }

    /// As [`KeySet::from_jwks`], with the given options.
    pub fn from_jwks_with(json: impl AsRef<[u8]>, options: JwkOptions) -> Result<Self, KeyError> {
        parse_document(json.as_ref(), options, Secrets::Accepted)
    }
}

/// Shortcuts to providers over a JSON Web Key Set (RFC 7517 §5).
///
/// With feature `remote`: `Jwks::remote(url)` for a JWKS URL and `Jwks::discover(issuer)` for
/// an OpenID Connect issuer, both `RemoteJwks` with default settings. A JWKS document held locally is
/// [`StaticKeys::from_jwks`] / [`StaticKeys::from_jwks_file`] (see the naming rule in
/// [`crate::keys`]).
#[derive(Debug, Clone, Copy)]
pub struct Jwks;

/// Whether a JWKS document may supply symmetric (`oct`) keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrets {
    /// The application's own document (a string, a file): HMAC secrets are its to give.
    Accepted,
    /// A published document (a remote JWKS, a discovery `jwks_uri`): an `oct` key in it is a
    /// secret everyone who can fetch the set knows, so anyone could mint tokens with it
    /// (OpenID Connect Discovery 1.0 §3: the set "MUST NOT contain private or symmetric key
    /// values"). Such keys are skipped, with one warning per document.
    Refused,
}

/// Parses a JWKS document (or a single JWK object), skipping unusable keys and, when
/// `secrets` is [`Secrets::Refused`], every `oct` key.
pub(crate) fn parse_document(
    json: &[u8],
    options: JwkOptions,
    secrets: Secrets,
) -> Result<KeySet, KeyError> {
    if json.len() > MAX_JWKS_BYTES {
        return Err(KeyError::InvalidJwk(format!("document larger than {MAX_JWKS_BYTES} bytes")));
    }
    let document: Value = serde_json::from_slice(json).map_err(KeyError::Json)?;
    let single;
    let entries: &[Value] = match &document {
        Value::Object(map) => match map.get("keys") {
            Some(Value::Array(keys)) => keys,
            Some(_) => return Err(KeyError::InvalidJwk("`keys` is not an array".into())),
            None if map.contains_key("kty") => {
                single = [document.clone()];
                &single
            }
            None => return Err(KeyError::InvalidJwk("no `keys` member".into())),
        },
        _ => return Err(KeyError::InvalidJwk("not a JSON object".into())),
    };
    let mut keys = Vec::with_capacity(entries.len());
    let mut published_secrets = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("");
        if secrets == Secrets::Refused && entry.get("kty").and_then(Value::as_str) == Some("oct") {
            published_secrets.push(kid);
            continue;
        }
        let result = match entry {
            Value::Object(jwk) => from_jwk(jwk, options),
            _ => Err(KeyError::InvalidJwk("not a JSON object".into())),
        };
        match result {
            Ok(key) => keys.push(key),
            Err(err) => tracing::warn!(index, kid, error = %err, "skipping unusable JWK"),
        }
    }
    if !published_secrets.is_empty() {
        tracing::warn!(
            count = published_secrets.len(),
            kids = ?published_secrets,
            "skipping symmetric (oct) keys in a published key set: a secret fetched over the \
             network is known to everyone who can fetch it"
        );
    }
    if keys.is_empty() {
        return Err(KeyError::NoUsableKeys);
    }
    Ok(KeySet::new(keys))
}

impl VerifyingKey {
    /// One JWK object (RFC 7517 §4), with `use`, `key_ops` and `alg` honoured (see
    /// [`StaticKeys::from_jwks`]); a key that cannot verify signatures is refused.
    pub fn from_jwk(json: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::from_jwk_with(json, JwkOptions::default())
    }

    /// As [`VerifyingKey::from_jwk`], with the given options.
    pub fn from_jwk_with(json: impl AsRef<[u8]>, options: JwkOptions) -> Result<Self, KeyError> {
        match serde_json::from_slice(json.as_ref()).map_err(KeyError::Json)? {
            Value::Object(jwk) => from_jwk(&jwk, options),
            _ => Err(KeyError::InvalidJwk("not a JSON object".into())),
        }
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io_error = |source| KeyError::Io { path: path.display().to_string(), source };
    let len = std::fs::metadata(path).map_err(io_error)?.len();
    if len > MAX_JWKS_BYTES as u64 {
        return Err(KeyError::InvalidJwk(format!("file larger than {MAX_JWKS_BYTES} bytes")));
    }
    std::fs::read(path).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = r#"{"keys":[
        {"kty":"oct","kid":"k1","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
        {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}
    ]}"#;

    #[test]
    fn a_document_reads_as_data_or_as_a_provider_over_the_same_keys() {
        let set = KeySet::from_jwks(JWKS).unwrap();
        let provider = StaticKeys::from_jwks(JWKS.as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains_kid("k1"));
        assert_eq!(provider.key_set().len(), 1);
        assert!(provider.key_set().contains_kid("k1"));
        assert!(matches!(StaticKeys::from_key_set(KeySet::default()), Err(KeyError::NoUsableKeys)));
    }
}
