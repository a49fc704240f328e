//! Where verification keys come from.
//!
//! A [`KeyProvider`] answers, for each token header, with a [`KeySet`] to verify against.
//! Built in: [`StaticKeys`] (HMAC secrets, PEM/DER public keys, JWK/JWKS documents via
//! [`Jwks`]), `RemoteJwks` (a JWKS URL or OIDC discovery, cached and refreshed; feature
//! `remote`); any other source implements [`KeyProvider`] itself.

#[cfg(feature = "remote")]
mod clock;
mod der;
#[cfg(feature = "remote")]
mod discovery;
mod error;
#[cfg(feature = "remote")]
mod fetch;
mod jwk;
mod key_set;
mod provider;
#[cfg(feature = "remote")]
mod remote;
#[cfg(feature = "remote")]
mod remote_builder;
mod static_keys;
mod verifying_key;

#[cfg(feature = "remote")]
pub use clock::{Clock, SystemClock};
pub use error::KeyError;
pub use jwk::JwkOptions;
pub(crate) use jwk::from_jwk as jwk_from_map;
pub use key_set::KeySet;
pub use provider::{KeyLookup, KeyProvider};
#[cfg(feature = "remote")]
pub use remote::{RemoteJwks, RemoteStatus};
#[cfg(feature = "remote")]
pub use remote_builder::{
    DEFAULT_COOLDOWN, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_STALENESS, DEFAULT_MAX_TTL,
    DEFAULT_MIN_TTL, DEFAULT_TTL, RemoteJwksBuilder,
};
pub use static_keys::{Jwks, MAX_JWKS_BYTES, StaticKeys};
pub use verifying_key::VerifyingKey;
