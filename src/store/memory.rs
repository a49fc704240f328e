//! In-process stores: bounded in entries, expired entries swept as they are met.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::store::{
    ReplayStore, RevocationStore, StoreError, StoreFuture, TokenState, unix_seconds,
};

/// The default bound on entries of an in-process store.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// Entries with their expiry, at most `max` of them.
struct Bounded<V> {
    entries: HashMap<String, (V, SystemTime)>,
    max: usize,
}

impl<V> Bounded<V> {
    fn new(max: usize) -> Self {
        Bounded { entries: HashMap::new(), max: max.max(1) }
    }

    fn live(&self, key: &str, now: SystemTime) -> Option<&V> {
        self.entries.get(key).filter(|(_, until)| *until > now).map(|(value, _)| value)
    }

    /// Makes room for one more entry: sweeps expired entries when full; still full means
    /// every entry is live, and the caller must refuse rather than forget one.
    fn room(&mut self, now: SystemTime) -> Result<(), StoreError> {
        if self.entries.len() >= self.max {
            self.entries.retain(|_, (_, until)| *until > now);
        }
        if self.entries.len() >= self.max { Err(StoreError::Full) } else { Ok(()) }
    }
}

impl<V> std::fmt::Debug for Bounded<V> {
    // Keys are token ids and subjects: counts only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bounded").field("len", &self.entries.len()).field("max", &self.max).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An in-process [`ReplayStore`], bounded to a number of live entries (default 100 000).
///
/// When every entry is live and the bound is reached, new values are refused (the request
/// gets 503) rather than an old one forgotten, which would let it be replayed. Filling it takes
/// that many valid, distinct, signed DPoP proofs within the proof window.
#[derive(Debug)]
pub struct MemoryReplayStore {
    seen: Mutex<Bounded<()>>,
}

impl MemoryReplayStore {
    /// A store of at most `max_entries` live entries.
    pub fn new(max_entries: usize) -> Self {
        MemoryReplayStore { seen: Mutex::new(Bounded::new(max_entries)) }
    }

    /// Live entries right now (expired ones may linger until swept).
    pub fn len(&self) -> usize {
        lock(&self.seen).entries.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(&'a self, key: &'a str, expires_at: SystemTime) -> StoreFuture<'a, bool> {
        let now = SystemTime::now();
        let mut seen = lock(&self.seen);
        let result = if seen.live(key, now).is_some() {
            Ok(false)
        } else {
            seen.room(now).map(|()| {
                seen.entries.insert(key.to_owned(), ((), expires_at));
                true
            })
        };
        Box::pin(std::future::ready(result))
    }
}

/// An in-process [`RevocationStore`], bounded to a number of live entries (default 100 000);
/// a revocation that does not fit is refused with [`StoreError::Full`], never dropped silently.
#[derive(Debug)]
pub struct MemoryRevocationStore {
    tokens: Mutex<Bounded<()>>,
    /// `sub` → the time (seconds since the epoch) before which its tokens are revoked.
    subjects: Mutex<Bounded<f64>>,
}

impl MemoryRevocationStore {
    /// A store of at most `max_entries` live token and `max_entries` live subject revocations.
    pub fn new(max_entries: usize) -> Self {
        MemoryRevocationStore {
            tokens: Mutex::new(Bounded::new(max_entries)),
            subjects: Mutex::new(Bounded::new(max_entries)),
        }
    }
}

impl Default for MemoryRevocationStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES)
    }
}

impl RevocationStore for MemoryRevocationStore {
    fn is_revoked<'a>(&'a self, token: TokenState<'a>) -> StoreFuture<'a, bool> {
        let now = SystemTime::now();
        let by_jti = token.jti.is_some_and(|jti| lock(&self.tokens).live(jti, now).is_some());
        let by_subject = token.sub.is_some_and(|sub| {
            lock(&self.subjects)
                .live(sub, now)
                .is_some_and(|before| token.iat.is_none_or(|iat| iat < *before))
        });
        Box::pin(std::future::ready(Ok(by_jti || by_subject)))
    }

    fn revoke_token<'a>(&'a self, jti: &'a str, until: SystemTime) -> StoreFuture<'a, ()> {
        let now = SystemTime::now();
        let mut tokens = lock(&self.tokens);
        let result = if let Some((_, expiry)) =
            tokens.entries.get_mut(jti).filter(|(_, expiry)| *expiry > now)
        {
            // A second revocation never shortens the first.
            *expiry = (*expiry).max(until);
            Ok(())
        } else {
            tokens.room(now).map(|()| {
                tokens.entries.insert(jti.to_owned(), ((), until));
            })
        };
        Box::pin(std::future::ready(result))
    }

    fn revoke_subject<'a>(
        &'a self,
        sub: &'a str,
        issued_before: SystemTime,
        until: SystemTime,
    ) -> StoreFuture<'a, ()> {
        let now = SystemTime::now();
        let before = unix_seconds(issued_before);
        let mut subjects = lock(&self.subjects);
        let result = match subjects.entries.get_mut(sub).filter(|(_, expiry)| *expiry > now) {
            Some((existing, expiry)) => {
                *existing = existing.max(before);
                *expiry = (*expiry).max(until);
                Ok(())
            }
            None => subjects.room(now).map(|()| {
                subjects.entries.insert(sub.to_owned(), (before, until));
            }),
        };
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::time::Duration;

    fn now_or_never<T>(future: StoreFuture<'_, T>) -> Result<T, StoreError> {
        future.now_or_never().expect("in-process stores answer at once")
    }

    #[test]
    fn replay_is_detected_and_expires() {
        let store = MemoryReplayStore::new(10);
        let soon = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(now_or_never(store.first_use("a", soon)), Ok(true));
        assert_eq!(now_or_never(store.first_use("a", soon)), Ok(false));
        let past = SystemTime::now() - Duration::from_secs(1);
        assert_eq!(now_or_never(store.first_use("b", past)), Ok(true));
        assert_eq!(
            now_or_never(store.first_use("b", soon)),
            Ok(true),
            "expired entries are forgotten"
        );
    }

    #[test]
    fn a_full_replay_store_refuses_instead_of_forgetting() {
        let store = MemoryReplayStore::new(2);
        let soon = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(now_or_never(store.first_use("a", soon)), Ok(true));
        assert_eq!(now_or_never(store.first_use("b", soon)), Ok(true));
        assert_eq!(now_or_never(store.first_use("c", soon)), Err(StoreError::Full));
        assert_eq!(now_or_never(store.first_use("a", soon)), Ok(false), "nothing was forgotten");
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn revocation_by_jti_and_by_subject() {
        let store = MemoryRevocationStore::default();
        let later = SystemTime::now() + Duration::from_secs(3600);
        let state = |jti, sub, iat| TokenState { jti: Some(jti), sub: Some(sub), iat };
        now_or_never(store.revoke_token("t1", later)).unwrap();
        assert!(now_or_never(store.is_revoked(state("t1", "alice", Some(1.0)))).unwrap());
        assert!(!now_or_never(store.is_revoked(state("t2", "alice", Some(1.0)))).unwrap());
        let cutoff = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        now_or_never(store.revoke_subject("alice", cutoff, later)).unwrap();
        assert!(now_or_never(store.is_revoked(state("t2", "alice", Some(999.0)))).unwrap());
        assert!(!now_or_never(store.is_revoked(state("t3", "alice", Some(1000.0)))).unwrap());
        assert!(now_or_never(store.is_revoked(state("t4", "alice", None))).unwrap());
        // An earlier cut-off never shortens the revocation.
        now_or_never(store.revoke_subject("alice", SystemTime::UNIX_EPOCH, later)).unwrap();
        assert!(now_or_never(store.is_revoked(state("t2", "alice", Some(999.0)))).unwrap());
    }
}
