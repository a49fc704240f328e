//! One call per key at a time, shared by every request that waits on it: an introspection
//! call per token, a tenant resolution per issuer. The call is forgotten once it answered, or
//! once no request waits on it any more (a client that went away leaves nothing behind).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

/// The calls under way, by key.
pub(crate) struct Flights<K, V, S = RandomState> {
    calls: Mutex<HashMap<K, Arc<OnceCell<V>>, S>>,
}

impl<K, V, S: Default> Default for Flights<K, V, S> {
    fn default() -> Self {
        Flights { calls: Mutex::new(HashMap::default()) }
    }
}

impl<K: Eq + Hash + Clone, V, S: BuildHasher> Flights<K, V, S> {
    fn calls(&self) -> MutexGuard<'_, HashMap<K, Arc<OnceCell<V>>, S>> {
        self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The call for `key`: the one under way, or a new one. Landed when the handle is dropped,
    /// however the request ends.
    pub(crate) fn join(&self, key: K) -> Joined<'_, K, V, S> {
        let flight = Arc::clone(self.calls().entry(key.clone()).or_default());
        Joined { flights: self, key, flight }
    }

    /// A request leaves `flight`: forgotten once it answered, or once no other request waits
    /// on it (the map's and the leaving request's are the last two handles; joining takes the
    /// same lock, so no request can join in between).
    fn land(&self, key: &K, flight: &Arc<OnceCell<V>>) {
        let mut calls = self.calls();
        let done = |current: &Arc<OnceCell<V>>| {
            Arc::ptr_eq(current, flight)
                && (flight.initialized() || Arc::strong_count(current) <= 2)
        };
        if calls.get(key).is_some_and(done) {
            calls.remove(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.calls().len()
    }
}

/// A request's handle on a call under way.
pub(crate) struct Joined<'a, K: Eq + Hash + Clone, V, S: BuildHasher> {
    flights: &'a Flights<K, V, S>,
    key: K,
    flight: Arc<OnceCell<V>>,
}

impl<K: Eq + Hash + Clone, V, S: BuildHasher> Deref for Joined<'_, K, V, S> {
    type Target = OnceCell<V>;

    fn deref(&self) -> &OnceCell<V> {
        &self.flight
    }
}

impl<K: Eq + Hash + Clone, V, S: BuildHasher> Drop for Joined<'_, K, V, S> {
    fn drop(&mut self) {
        self.flights.land(&self.key, &self.flight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flight_is_forgotten_when_answered_or_abandoned() {
        let flights = Flights::<[u8; 32], u8>::default();
        let first = flights.join([1; 32]);
        let second = flights.join([1; 32]);
        assert!(Arc::ptr_eq(&first.flight, &second.flight));
        // One request leaves before the answer: the other still waits on the call.
        drop(second);
        assert_eq!(flights.len(), 1);
        // The last one leaves unanswered (its client went away): nothing is left behind.
        drop(first);
        assert_eq!(flights.len(), 0);

        let answered = flights.join([2; 32]);
        let waiting = flights.join([2; 32]);
        answered.set(7).unwrap();
        drop(answered);
        assert_eq!(flights.len(), 0);
        assert!(waiting.get().is_some());
    }
}
