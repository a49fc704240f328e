//! Where verification keys come from.
//!
//! A [`KeyProvider`] answers, for each token header, with a [`KeySet`] to verify against.
//! Built in: [`StaticKeys`] (HMAC secrets, PEM/DER public keys, JWK/JWKS documents),
//! `RemoteJwks` (a JWKS URL or OIDC discovery, cached and refreshed; feature `remote`); any
//! other source implements [`KeyProvider`] itself.
//!
//! # Naming: reading a document, making a provider
//!
//! Every `new` and `from_*` returns the type it is called on, and the type says what you get:
//!
//! - **Data.** [`VerifyingKey`] (one key) and [`KeySet`] (several) are keys read from a
//!   document: `VerifyingKey::from_jwk`, `from_pem`, `from_der`, `hmac`;
//!   `KeySet::from_jwks`. Nothing is fetched and nothing is cached; use them to inspect keys
//!   or to feed a provider of your own.
//! - **Providers**, what [`JwtAuthBuilder::keys`](crate::JwtAuthBuilder::keys) takes:
//!   [`StaticKeys`] (`new`, `hmac`, `from_pem`, `from_pem_file`, `from_der`, `from_jwks`,
//!   `from_jwks_file`, `from_key_set`) and `RemoteJwks` (`RemoteJwks::builder(url)`,
//!   `RemoteJwks::discover_builder(issuer)`). The same document gives data or a provider
//!   depending on the type named: `KeySet::from_jwks(json)` reads,
//!   `StaticKeys::from_jwks(json)` makes a provider over the same keys.
//! - **Shortcuts.** [`Jwks`] only names where a remote set is and returns a provider:
//!   `Jwks::remote(url)` and `Jwks::discover(issuer)` are `RemoteJwks` with default settings.
//!
//! Inputs: documents are taken as `impl AsRef<[u8]>` (a `&str`, `String`, `&[u8]` or
//! `Vec<u8>`); `_file` reads a file of at most [`MAX_JWKS_BYTES`]; `_with` takes
//! [`JwkOptions`].
//!
//! ```
//! use jwt_layer::keys::{KeySet, StaticKeys};
//!
//! let jwks = r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256",
//!     "k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}"#;
//! let set: KeySet = KeySet::from_jwks(jwks)?;            // data: look at it
//! assert!(set.contains_kid("k1"));
//! let provider: StaticKeys = StaticKeys::from_jwks(jwks)?; // a provider: give it to `.keys(..)`
//! assert_eq!(provider.key_set().len(), 1);
//! # Ok::<(), jwt_layer::keys::KeyError>(())
//! ```

mod der;
#[cfg(feature = "remote")]
pub(crate) mod discovery;
pub(crate) mod error;
#[cfg(feature = "remote")]
pub(crate) mod fetch;
mod jwk;
mod key_set;
mod provider;
#[cfg(feature = "remote")]
mod remote;
#[cfg(feature = "remote")]
mod remote_builder;
mod static_keys;
mod verifying_key;

pub use crate::clock::{Clock, FixedClock, SystemClock};
pub use crate::jose::algorithm::{AlgorithmFamily, UnknownAlgorithm};
pub use error::KeyError;
pub use jwk::JwkOptions;
pub(crate) use jwk::from_jwk as jwk_from_map;
pub use key_set::KeySet;
pub use provider::{KeyLookup, KeyProvider};
#[cfg(feature = "remote")]
pub use remote::{RemoteJwks, RemoteStatus};
#[cfg(feature = "remote")]
pub(crate) use remote_builder::default_http_client;
#[cfg(feature = "remote")]
pub use remote_builder::{
    DEFAULT_COOLDOWN, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_STALENESS, DEFAULT_MAX_TTL,
    DEFAULT_MIN_TTL, DEFAULT_TTL, RemoteJwksBuilder,
};
pub use static_keys::{Jwks, MAX_JWKS_BYTES, StaticKeys};
pub use verifying_key::VerifyingKey;
