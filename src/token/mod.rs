//! A token's verification sequence over its parts: the registered claims, the sequence itself,
//! what it yields, the verified-token cache, and the issuers it trusts.

pub(crate) mod registered;
pub(crate) mod token_cache;
pub(crate) mod trusted_issuer;
pub(crate) mod verified;
pub(crate) mod verify;
