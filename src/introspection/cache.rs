//! Introspection answers by the SHA-256 of the token, each until a deadline on the verifier's
//! clock, and the calls under way (one per token, shared by every request that waits on it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::token_cache::{DigestHasher, TokenKey};

type Map<V> = HashMap<TokenKey, V, std::hash::BuildHasherDefault<DigestHasher>>;

/// What the authorization server said of a token.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// `"active": true`: the response body, checked like a JWT's payload on every use.
    Active(Arc<str>),
    /// `"active": false`.
    Inactive,
    /// No usable answer (never cached).
    Unavailable,
}

/// Answers, bounded, each until its deadline (seconds since the epoch).
pub(crate) struct AnswerCache {
    entries: Mutex<Map<(Answer, f64)>>,
    max_entries: usize,
}

impl AnswerCache {
    pub(crate) fn new(max_entries: usize) -> Self {
        AnswerCache { entries: Mutex::new(Map::default()), max_entries }
    }

    fn lock(&self) -> MutexGuard<'_, Map<(Answer, f64)>> {
        // A panic while holding the lock leaves a consistent map (every change is one call).
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer for `key` if it is still good at `now`.
    pub(crate) fn get(&self, key: &TokenKey, now: f64) -> Option<Answer> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((answer, until)) if now < *until => Some(answer.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` until `until`; when full, expired entries go first, then an arbitrary
    /// one, so the cache never grows past its bound.
    pub(crate) fn insert(&self, key: TokenKey, answer: Answer, now: f64, until: f64) {
        if self.max_entries == 0 || until <= now || matches!(answer, Answer::Unavailable) {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= self.max_entries
                && let Some(victim) = entries.keys().next().copied()
            {
                entries.remove(&victim);
            }
        }
        entries.insert(key, (answer, until));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One call under way, awaited by every request with the same token.
pub(crate) type Flight = Arc<tokio::sync::OnceCell<Answer>>;

/// The calls under way, by token hash.
#[derive(Default)]
pub(crate) struct Flights {
    calls: Mutex<Map<Flight>>,
}

impl Flights {
    /// The call for `key`: the one under way, or a new one.
    pub(crate) fn join(&self, key: &TokenKey) -> Flight {
        let mut calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(calls.entry(*key).or_default())
    }

    /// Forgets the call for `key` once it answered (only that very call).
    pub(crate) fn land(&self, key: &TokenKey, flight: &Flight) {
        let mut calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if calls.get(key).is_some_and(|current| Arc::ptr_eq(current, flight)) {
            calls.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_the_cache_stays_bounded() {
        let cache = AnswerCache::new(2);
        cache.insert([1; 32], Answer::Inactive, 0.0, 5.0);
        assert!(cache.get(&[1; 32], 4.9).is_some());
        assert!(cache.get(&[1; 32], 5.0).is_none());
        for i in 0..10u8 {
            cache.insert([i; 32], Answer::Inactive, 10.0, 20.0);
        }
        assert_eq!(cache.len(), 2);
        cache.insert([42; 32], Answer::Unavailable, 10.0, 20.0);
        assert!(cache.get(&[42; 32], 10.0).is_none());
    }
}
