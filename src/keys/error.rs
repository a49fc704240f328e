//! Why a key, a key set or a key source could not be used.

#[cfg(feature = "remote")]
use std::sync::Arc;
use std::time::Duration;

/// Why a key, a key set or a key source could not be used.
///
/// Configuration mistakes (a bad URL, settings out of order) are reported by `build()` once;
/// failures of a key source at run time (`KeyError::Fetch` with the `remote` feature,
/// [`KeyError::Unavailable`]) make requests fail closed. Where an underlying error exists (the HTTP client's, the JSON
/// parser's, the file system's), it is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A PEM block of a kind that holds no public key (a certificate, a private key).
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// PEM text that does not parse.
    #[error("PEM text does not parse")]
    PemSyntax(#[source] pem::PemError),
    /// Key bytes that are not a supported public key (RSA, EC P-256/P-384/P-521, Ed25519).
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
    AlgorithmNotForKey(crate::jose::algorithm::Algorithm),
    /// A JWK or JWKS document that cannot be used for signature verification; the text says
    /// why.
    #[error("unusable JWK: {0}")]
    InvalidJwk(String),
    /// A JWK or JWKS document that is not JSON.
    #[error("the JWK or JWKS document is not JSON")]
    Json(#[source] serde_json::Error),
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
    /// A key source URL (a JWKS URL, an issuer) that does not parse.
    #[error("`{url}` is not a URL")]
    InvalidUrl {
        /// The text given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// A key source URL that is neither `https` nor plain `http` to a loopback host (plain
    /// `http` elsewhere needs `allow_http`): a key set fetched over plain HTTP can be replaced
    /// by anyone on the path.
    #[error("`{url}` is not https (plain http is allowed to loopback hosts, or with allow_http)")]
    InsecureUrl {
        /// The URL given.
        url: String,
    },
    /// A key set's lifetime bounds in the wrong order: `min_ttl` larger than `max_ttl`.
    #[error("min_ttl ({min_ttl:?}) is larger than max_ttl ({max_ttl:?})")]
    TtlBoundsReversed {
        /// The lower bound given.
        min_ttl: Duration,
        /// The upper bound given.
        max_ttl: Duration,
    },
    /// A fetch timeout of zero: no fetch could ever succeed.
    #[error("the fetch timeout must be positive")]
    ZeroTimeout,
    /// A response size limit of zero: no key set could ever be read.
    #[error("max_response_bytes must be positive")]
    ZeroResponseLimit,
    /// The default HTTP client could not be built (its TLS backend failed to start, say).
    #[cfg(feature = "remote")]
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// A remote key set could not be fetched, or what was fetched is unusable, and no good set
    /// is at hand. The source says why (the HTTP client's error, a status, a timeout, the key
    /// set's own error, a discovery document naming another issuer).
    #[cfg(feature = "remote")]
    #[error("cannot fetch the key set from {url}")]
    Fetch {
        /// The URL fetched last: the JWKS URL, or the discovery document's.
        url: String,
        /// Why the fetch failed; shared by every request that waited on that fetch.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A key source could not supply keys right now (a user's store that is down, say).
    #[error("keys unavailable: {0}")]
    Unavailable(String),
}

/// `err` and its causes, joined by `": "`, for logs, `RemoteStatus::last_error` and a
/// `BuildError` that shows why a key source could not be set up.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
