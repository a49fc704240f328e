//! An opt-in cache of verified tokens, keyed by the SHA-256 of the whole token.
//!
//! A hit skips the signature check and claim parsing; `exp` and `nbf` are checked again on
//! every hit, an entry never outlives `exp`, and revocation (when configured) is still
//! consulted after it, as after any verification. Safe when custom validators depend on the
//! claims alone (not on time or outside state) and the key set only grows by rotation; a key
//! removed from the set still verifies tokens already cached until they expire.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use aws_lc_rs::digest;

use crate::verify::Verified;

/// Shards spread the lock across cores.
const SHARDS: usize = 16;

pub(crate) type TokenKey = [u8; 32];

type Shard<C> = Mutex<HashMap<TokenKey, Verified<C>>>;

pub(crate) struct TokenCache<C> {
    shards: Box<[Shard<C>]>,
    per_shard: usize,
}

impl<C> TokenCache<C> {
    /// A cache of about `max_entries` tokens.
    pub(crate) fn new(max_entries: usize) -> Self {
        let per_shard = max_entries.div_ceil(SHARDS).max(1);
        TokenCache { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), per_shard }
    }

    /// A collision-resistant key: a token must match byte for byte to hit.
    pub(crate) fn key(token: &str) -> TokenKey {
        let digest = digest::digest(&digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    fn shard(&self, key: &TokenKey) -> MutexGuard<'_, HashMap<TokenKey, Verified<C>>> {
        let shard = &self.shards[key[0] as usize % SHARDS];
        shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached verification, if the token is still within `exp` and past `nbf` (with
    /// `leeway`); an expired entry is dropped.
    pub(crate) fn get(&self, key: &TokenKey, now: f64, leeway: f64) -> Option<Verified<C>> {
        let mut shard = self.shard(key);
        let entry = shard.get(key)?;
        if entry.exp.is_none_or(|exp| now >= exp + leeway) {
            shard.remove(key);
            return None;
        }
        if entry.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return None;
        }
        Some(entry.share())
    }

    /// Remembers a verification; tokens without `exp` are never cached.
    pub(crate) fn insert(&self, key: TokenKey, verified: &Verified<C>, now: f64, leeway: f64) {
        if verified.exp.is_none() {
            return;
        }
        let mut shard = self.shard(&key);
        if shard.len() >= self.per_shard {
            shard.retain(|_, entry| entry.exp.is_some_and(|exp| now < exp + leeway));
            if shard.len() >= self.per_shard {
                // Still full of live entries: make room by dropping one (bounded memory
                // matters more than the hit rate under a flood of distinct valid tokens).
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(key, verified.share());
    }
}
