//! Token state shared across requests (and, with Redis, across servers): which DPoP proofs
//! were already used, and which tokens were revoked.
//!
//! Both are traits with a bounded in-process default ([`MemoryReplayStore`],
//! [`MemoryRevocationStore`]) and a Redis implementation behind the `redis` feature, so a fleet
//! of servers shares one view. When a store cannot answer, the request is refused with 503
//! (fail closed): a replay or a revoked token is never let through because a store is down.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

mod memory;
#[cfg(feature = "redis")]
mod redis_store;

pub use memory::{DEFAULT_MAX_ENTRIES, MemoryReplayStore, MemoryRevocationStore};
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;

/// The future a store answers with.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is full of live entries; nothing was recorded.
    #[error("store is full")]
    Full,
    /// The store could not be reached or answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Remembers single-use values (DPoP proof `jti`s) until they expire.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` until `expires_at`. `Ok(true)` on its first use, `Ok(false)` when it was
    /// already recorded (a replay). Must be atomic: of two concurrent calls with the same key,
    /// exactly one sees `true`.
    fn first_use<'a>(&'a self, key: &'a str, expires_at: SystemTime) -> StoreFuture<'a, bool>;
}

/// What a revocation check looks at: the token's `jti`, `sub` and `iat`.
#[derive(Debug, Clone, Copy)]
pub struct TokenState<'a> {
    /// The `jti` claim.
    pub jti: Option<&'a str>,
    /// The `sub` claim.
    pub sub: Option<&'a str>,
    /// The `iat` claim, in seconds since the epoch.
    pub iat: Option<f64>,
}

/// Knows which tokens were revoked: by `jti`, and "every token of this subject issued before
/// a time" (for a logout everywhere, or a compromised account).
pub trait RevocationStore: Send + Sync + 'static {
    /// Whether the token is revoked. A token without `iat` counts as issued before any subject
    /// revocation of its `sub`.
    fn is_revoked<'a>(&'a self, token: TokenState<'a>) -> StoreFuture<'a, bool>;

    /// Revokes the token with this `jti`, remembering it until `until` (its `exp`).
    fn revoke_token<'a>(&'a self, jti: &'a str, until: SystemTime) -> StoreFuture<'a, ()>;

    /// Revokes every token of `sub` issued before `issued_before`, remembering it until
    /// `until` (the longest a token lives past `issued_before`). A later call with an earlier
    /// time never shortens an existing revocation.
    fn revoke_subject<'a>(
        &'a self,
        sub: &'a str,
        issued_before: SystemTime,
        until: SystemTime,
    ) -> StoreFuture<'a, ()>;
}

pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
