//! An opt-in cache of verified tokens, keyed by the SHA-256 of the whole token.
//!
//! A hit skips the signature check and claim parsing; `exp` and `nbf` are checked again on
//! every hit, an entry never outlives `exp`, and revocation (when configured) is still
//! consulted after it, as after any verification. Safe when custom validators depend on the
//! claims alone (not on time or outside state) and the key set only grows by rotation; a key
//! removed from the set still verifies tokens already cached until they expire.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use aws_lc_rs::digest;

use crate::metrics::CacheMeters;
use crate::token::verified::Verified;

/// Shards spread the lock across cores.
const SHARDS: usize = 16;

pub(crate) type TokenKey = [u8; 32];

type Entries<C> = HashMap<TokenKey, Verified<C>, BuildHasherDefault<DigestHasher>>;

/// One lock's share of the cache.
struct Shard<C> {
    entries: Entries<C>,
    /// When expired entries were last swept out (seconds since the epoch).
    swept_at: f64,
}

/// Least time between sweeps of a full shard: a sweep walks the whole shard, so a cache too
/// small for its traffic must not pay for one on every insert.
const SWEEP_INTERVAL_SECS: f64 = 1.0;

/// Keys are SHA-256 digests, already uniform, so a slice of one is the hash; SipHash over all
/// 32 bytes would add work to every hit. (Only verified tokens are inserted, so nobody can
/// fill a bucket with chosen keys.)
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Bytes 8..16: byte 0 already picks the shard, so it must not also pick the bucket.
        if let Some(word) = bytes.get(8..16) {
            self.0 = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        }
    }

    fn write_usize(&mut self, _length_prefix: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) struct TokenCache<C> {
    shards: Box<[Mutex<Shard<C>>]>,
    per_shard: usize,
    meters: CacheMeters,
}

impl<C> TokenCache<C> {
    /// A cache of about `max_entries` tokens.
    pub(crate) fn new(max_entries: usize) -> Self {
        let per_shard = max_entries.div_ceil(SHARDS).max(1);
        TokenCache {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard { entries: HashMap::default(), swept_at: 0.0 }))
                .collect(),
            per_shard,
            meters: CacheMeters::new(),
        }
    }

    /// A collision-resistant key: a token must match byte for byte to hit.
    pub(crate) fn key(token: &str) -> TokenKey {
        let digest = digest::digest(&digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    fn shard(&self, key: &TokenKey) -> MutexGuard<'_, Shard<C>> {
        let shard = &self.shards[key[0] as usize % SHARDS];
        shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached verification, if the token is still within `exp` and past `nbf` (with
    /// `leeway`); an expired entry is dropped. Counted as a hit or a miss.
    pub(crate) fn get(&self, key: &TokenKey, now: f64, leeway: f64) -> Option<Verified<C>> {
        let found = self.find(key, now, leeway);
        self.meters.lookup(found.is_some());
        found
    }

    fn find(&self, key: &TokenKey, now: f64, leeway: f64) -> Option<Verified<C>> {
        let entries = &mut self.shard(key).entries;
        let entry = entries.get(key)?;
        if entry.exp.is_none_or(|exp| now >= exp + leeway) {
            entries.remove(key);
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
        if shard.entries.len() >= self.per_shard && now - shard.swept_at >= SWEEP_INTERVAL_SECS {
            shard.swept_at = now;
            shard.entries.retain(|_, entry| entry.exp.is_some_and(|exp| now < exp + leeway));
        }
        if shard.entries.len() >= self.per_shard {
            // Still full of live entries: make room by dropping one (bounded memory matters
            // more than the hit rate under a flood of distinct valid tokens).
            if let Some(victim) = shard.entries.keys().next().copied() {
                shard.entries.remove(&victim);
            }
        }
        shard.entries.insert(key, verified.share());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn verified(exp: f64) -> Verified<u32> {
        Verified {
            claims: Arc::new(7),
            exp: Some(exp),
            nbf: None,
            scope: None,
            jkt: None,
            x5t_s256: None,
            state: None,
            grants: None,
        }
    }

    fn len(cache: &TokenCache<u32>) -> usize {
        cache.shards.iter().map(|shard| shard.lock().unwrap().entries.len()).sum()
    }

    #[test]
    fn stays_within_its_bound_under_a_flood_of_live_entries() {
        let cache = TokenCache::new(64);
        for i in 0..10_000 {
            cache.insert(TokenCache::<u32>::key(&format!("token-{i}")), &verified(1e9), 0.0, 0.0);
        }
        assert!(len(&cache) <= 64, "{} entries", len(&cache));
        let newest = TokenCache::<u32>::key("token-9999");
        assert_eq!(cache.get(&newest, 0.0, 0.0).map(|v| *v.claims), Some(7));
    }

    #[test]
    fn expired_entries_never_hit_and_make_room() {
        let cache = TokenCache::new(16);
        let keys: Vec<_> = (0..16).map(|i| TokenCache::<u32>::key(&format!("t{i}"))).collect();
        for key in &keys {
            cache.insert(*key, &verified(100.0), 10.0, 0.0);
        }
        // Later, all of them have expired: a new entry sweeps its shard, and lookups of the
        // expired ones miss.
        let fresh = TokenCache::<u32>::key("fresh");
        cache.insert(fresh, &verified(1000.0), 500.0, 0.0);
        assert!(cache.get(&fresh, 500.0, 0.0).is_some());
        assert!(keys.iter().all(|key| cache.get(key, 500.0, 0.0).is_none()));
        assert!(len(&cache) <= 16);
    }

    #[test]
    fn the_hash_is_a_slice_of_the_digest_past_the_shard_byte() {
        let key = TokenCache::<u32>::key("x");
        let mut hasher = DigestHasher::default();
        std::hash::Hash::hash(&key, &mut hasher);
        assert_eq!(hasher.finish(), u64::from_le_bytes(key[8..16].try_into().unwrap()));
    }
}
