//! Why a key or key set could not be loaded.

/// Why a key, a key set or a key source could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// PEM text that does not parse, or a PEM block of a kind that holds no public key.
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// Key bytes that are not a supported public key (RSA, EC P-256/P-384, Ed25519).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// An RSA key shorter than 2048 bits (RFC 8725 §3.5, NIST SP 800-131A).
    #[error("RSA key of {bits} bits refused: at least 2048 bits are required")]
    WeakRsaKey {
        /// The modulus length in bits.
        bits: usize,
    },
    /// An HMAC secret shorter than the hash output of every HS algorithm it could serve
    /// (RFC 7518 §3.2: at least 32 bytes for HS256).
    #[error("HMAC secret of {len} bytes refused: HS256 needs at least 32 bytes")]
    HmacSecretTooShort {
        /// The secret's length in bytes.
        len: usize,
    },
    /// The requested algorithms do not fit the key (an RSA key asked to verify HS256, say).
    #[error("algorithm {0} cannot be used with this key")]
    AlgorithmNotForKey(crate::Algorithm),
    /// A JWK that cannot be used for signature verification; the text says why.
    #[error("unusable JWK: {0}")]
    InvalidJwk(String),
    /// A key set in which no key can verify signatures.
    #[error("the key set holds no usable verification key")]
    NoUsableKeys,
    /// A key file could not be read.
    #[error("cannot read key file {path}")]
    Io {
        /// The file's path as given.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key source URL or its settings are not acceptable (not https, not a URL, bounds out of
    /// order).
    #[error("invalid key source: {0}")]
    InvalidUrl(String),
    /// A key source could not supply keys right now (a remote key set that was never fetched,
    /// a user store that is down).
    #[error("keys unavailable: {0}")]
    Unavailable(String),
}
