//! The verified-token cache, on by default for the layer: keyed by the SHA-256 of the whole
//! token, so a hit is the same token byte for byte.
//!
//! A hit skips the signature check and the claims' parsing, nothing else: `exp` and `nbf` are
//! judged again on every hit and an entry never outlives `exp`; the key that verified the
//! token must still be in the set its key source serves for that token's header (a key
//! rotated out or revoked at the identity provider ends its entries); and the request's own
//! checks (DPoP proof and binding, certificate binding, replay, revocation) run on every
//! request, as after any verification. It is bounded by entries and by bytes.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use aws_lc_rs::digest;

use crate::keys::VerifyingKey;
use crate::metrics::CacheMeters;
use crate::token::verified::Verified;

/// Shards spread the lock across cores.
const SHARDS: usize = 16;

pub(crate) type TokenKey = [u8; 32];

type Entries<C> = HashMap<TokenKey, Entry<C>, BuildHasherDefault<DigestHasher>>;

/// A verified token and the key that verified it.
pub(crate) struct Entry<C> {
    pub(crate) verified: Verified<C>,
    pub(crate) key: VerifyingKey,
    /// What the entry counts against the byte bound.
    cost: usize,
}

/// One lock's share of the cache.
struct Shard<C> {
    entries: Entries<C>,
    /// The sum of the entries' costs.
    bytes: usize,
    /// When expired entries were last swept out (seconds since the epoch).
    swept_at: f64,
}

/// What an entry counts against the byte bound beyond twice its token's length (which stands
/// for the claims decoded from it): the entry itself and the map's slot for it.
const ENTRY_OVERHEAD_BYTES: usize = 256;

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
    bytes_per_shard: usize,
    meters: CacheMeters,
}

impl<C> TokenCache<C> {
    /// A cache of at most about `max_entries` tokens and `max_bytes` bytes (each entry counts
    /// twice its token's length and a fixed overhead).
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        TokenCache {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard { entries: HashMap::default(), bytes: 0, swept_at: 0.0 }))
                .collect(),
            per_shard: max_entries.div_ceil(SHARDS).max(1),
            bytes_per_shard: max_bytes / SHARDS,
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

    /// The cached verification and the key that verified it, if the token is still within
    /// `exp` and past `nbf` (with `leeway`); an expired entry is dropped. Counted as a hit or
    /// a miss.
    pub(crate) fn get(
        &self,
        key: &TokenKey,
        now: f64,
        leeway: f64,
    ) -> Option<(Verified<C>, VerifyingKey)> {
        let found = self.find(key, now, leeway);
        self.meters.lookup(found.is_some());
        found
    }

    fn find(&self, key: &TokenKey, now: f64, leeway: f64) -> Option<(Verified<C>, VerifyingKey)> {
        let mut shard = self.shard(key);
        let entry = shard.entries.get(key)?;
        let verified = &entry.verified;
        if verified.exp.is_none_or(|exp| now >= exp + leeway) {
            shard.remove(key);
            return None;
        }
        if verified.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return None;
        }
        Some((verified.share(), entry.key.clone()))
    }

    /// Forgets a token (its key has left the key set).
    pub(crate) fn remove(&self, key: &TokenKey) {
        self.shard(key).remove(key);
    }

    /// Remembers a verification of a token `token_len` bytes long by `verifying_key`; tokens
    /// without `exp`, and tokens too large for the byte bound, are never cached.
    pub(crate) fn insert(
        &self,
        key: TokenKey,
        verified: &Verified<C>,
        verifying_key: &VerifyingKey,
        token_len: usize,
        (now, leeway): (f64, f64),
    ) {
        let cost = 2 * token_len + ENTRY_OVERHEAD_BYTES;
        if verified.exp.is_none() || cost > self.bytes_per_shard {
            return;
        }
        let mut shard = self.shard(&key);
        shard.remove(&key);
        let full = |shard: &Shard<C>| {
            shard.entries.len() >= self.per_shard || shard.bytes + cost > self.bytes_per_shard
        };
        if full(&shard) && now - shard.swept_at >= SWEEP_INTERVAL_SECS {
            shard.swept_at = now;
            let Shard { entries, bytes, .. } = &mut *shard;
            entries.retain(|_, entry| {
                let live = entry.verified.exp.is_some_and(|exp| now < exp + leeway);
                if !live {
                    *bytes -= entry.cost;
                }
                live
            });
        }
        // Still full of live entries: make room by dropping some (bounded memory matters more
        // than the hit rate under a flood of distinct valid tokens).
        while full(&shard) {
            let Some(victim) = shard.entries.keys().next().copied() else { break };
            shard.remove(&victim);
        }
        let entry = Entry { verified: verified.share(), key: verifying_key.clone(), cost };
        shard.bytes += cost;
        shard.entries.insert(key, entry);
    }
}

impl<C> Shard<C> {
    fn remove(&mut self, key: &TokenKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes -= entry.cost;
        }
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
            authentication: None,
        }
    }

    fn key() -> VerifyingKey {
        VerifyingKey::hmac([7u8; 32]).unwrap()
    }

    fn insert(cache: &TokenCache<u32>, token: &str, exp: f64, now: f64) {
        cache.insert(
            TokenCache::<u32>::key(token),
            &verified(exp),
            &key(),
            token.len(),
            (now, 0.0),
        );
    }

    fn len(cache: &TokenCache<u32>) -> usize {
        cache.shards.iter().map(|shard| shard.lock().unwrap().entries.len()).sum()
    }

    #[test]
    fn stays_within_its_bound_under_a_flood_of_live_entries() {
        let cache = TokenCache::new(64, usize::MAX);
        for i in 0..10_000 {
            insert(&cache, &format!("token-{i}"), 1e9, 0.0);
        }
        assert!(len(&cache) <= 64, "{} entries", len(&cache));
        let newest = TokenCache::<u32>::key("token-9999");
        assert_eq!(cache.get(&newest, 0.0, 0.0).map(|(v, _)| *v.claims), Some(7));
    }

    #[test]
    fn stays_within_its_byte_bound_and_counts_what_it_drops() {
        let max_bytes = 16 * 4096;
        let cache = TokenCache::new(100_000, max_bytes);
        for i in 0..10_000 {
            insert(&cache, &format!("{i:0>1000}"), 1e9, 0.0);
        }
        let bytes: usize = cache.shards.iter().map(|shard| shard.lock().unwrap().bytes).sum();
        assert!(bytes <= max_bytes, "{bytes} bytes");
        let counted: usize = cache
            .shards
            .iter()
            .flat_map(|shard| {
                shard.lock().unwrap().entries.values().map(|e| e.cost).collect::<Vec<_>>()
            })
            .sum();
        assert_eq!(bytes, counted);
        assert!(len(&cache) >= 16, "{} entries", len(&cache));
        // A token larger than a shard's share of the bound is never cached.
        insert(&cache, &"x".repeat(max_bytes), 1e9, 0.0);
        let huge = TokenCache::<u32>::key(&"x".repeat(max_bytes));
        assert!(cache.get(&huge, 0.0, 0.0).is_none());
    }

    #[test]
    fn expired_entries_never_hit_and_make_room() {
        let cache = TokenCache::new(16, usize::MAX);
        let keys: Vec<_> = (0..16).map(|i| TokenCache::<u32>::key(&format!("t{i}"))).collect();
        for i in 0..16 {
            insert(&cache, &format!("t{i}"), 100.0, 10.0);
        }
        // Later, all of them have expired: a new entry sweeps its shard, and lookups of the
        // expired ones miss.
        let fresh = TokenCache::<u32>::key("fresh");
        insert(&cache, "fresh", 1000.0, 500.0);
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
