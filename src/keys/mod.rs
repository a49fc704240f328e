//! Where verification keys come from.
//!
//! A [`KeyProvider`] answers, for each token header, with a [`KeySet`] to verify against.
//! Built in: [`StaticKeys`] (HMAC secrets, PEM/DER public keys, JWK/JWKS documents via
//! [`Jwks`]); any other source implements [`KeyProvider`] itself.

mod der;
mod error;
mod jwk;
mod key_set;
mod provider;
mod static_keys;
mod verifying_key;

pub use error::KeyError;
pub use jwk::JwkOptions;
pub use key_set::KeySet;
pub use provider::{KeyLookup, KeyProvider};
pub use static_keys::{Jwks, MAX_JWKS_BYTES, StaticKeys};
pub use verifying_key::VerifyingKey;
