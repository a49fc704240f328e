//! Introspection answers by the SHA-256 of the token, each until a deadline on the verifier's
//! clock, and the calls under way (one per token, shared by every request that waits on it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::token_cache::{DigestHasher, TokenKey};

type Map<V> = HashMap<TokenKey, V, std::hash::BuildHasherDefault<DigestHasher>>;

/// What the authorization server said of a token.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// `"active": true`: the response body, checked like a JWT's payload on every use, and
    /// what its `token_type` names.
    Active(Arc<str>, TokenType),
    /// `"active": false`.
    Inactive,
    /// No usable answer (never cached).
    Unavailable,
}

/// The kind of token an active answer's `token_type` names (RFC 7662 §2.2), read once when
/// the answer arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenType {
    /// Absent, `Bearer` or a type the application accepts: an access token, a bearer one
    /// unless its `cnf` binds it.
    Bearer,
    /// `DPoP` (RFC 9449 §5): an access token bound to a key, which `cnf.jkt` must name.
    Dpop,
    /// A string naming another kind of token (a refresh token, an ID token).
    Other,
    /// Not a string.
    NotAString,
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

    /// Called by each request leaving `flight`: forgets it once it answered, or once no other
    /// request waits on it (the map's and the caller's are the last two handles; joining
    /// takes the same lock, so no request can join in between).
    pub(crate) fn land(&self, key: &TokenKey, flight: &Flight) {
        let mut calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let done = |current: &Flight| {
            Arc::ptr_eq(current, flight)
                && (flight.initialized() || Arc::strong_count(current) <= 2)
        };
        if calls.get(key).is_some_and(done) {
            calls.remove(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.calls.lock().unwrap().len()
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

    #[test]
    fn a_flight_is_forgotten_when_answered_or_abandoned() {
        let flights = Flights::default();
        let first = flights.join(&[1; 32]);
        let second = flights.join(&[1; 32]);
        assert!(Arc::ptr_eq(&first, &second));
        // One request leaves before the answer: the other still waits on the call.
        flights.land(&[1; 32], &second);
        drop(second);
        assert_eq!(flights.len(), 1);
        // The last one leaves unanswered (its client went away): nothing is left behind.
        flights.land(&[1; 32], &first);
        assert_eq!(flights.len(), 0);

        let answered = flights.join(&[2; 32]);
        let waiting = flights.join(&[2; 32]);
        answered.set(Answer::Inactive).unwrap();
        flights.land(&[2; 32], &answered);
        assert_eq!(flights.len(), 0);
        assert!(waiting.get().is_some());
    }
}
