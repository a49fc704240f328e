//! Introspection answers by the SHA-256 of the token, each until a deadline on the verifier's
//! clock, bounded (the answer nearest its deadline makes room), and the calls under way (one
//! per token, shared by every request that waits on it).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::token::token_cache::{DigestHasher, TokenKey};

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
///
/// When full, the answer nearest its deadline makes room: an expired one if there is one,
/// otherwise the one that would have been dropped soonest anyway (so under a flood of unknown
/// tokens, their short-lived inactive answers go before the active ones). A heap of deadlines
/// finds it in O(log n); scanning the map for a victim would cost O(n) per insert, under the
/// lock every request takes.
pub(crate) struct AnswerCache {
    entries: Mutex<Entries>,
    max_entries: usize,
}

struct Entries {
    map: Map<Entry>,
    /// One deadline per entry of `map`, soonest first. A deadline whose `seq` is not its
    /// entry's (the entry was replaced or removed) is stale: skipped when reached, dropped when
    /// the heap is rebuilt, so the heap stays within twice the bound.
    deadlines: BinaryHeap<Reverse<Deadline>>,
    next_seq: u64,
}

struct Entry {
    answer: Answer,
    until: f64,
    seq: u64,
}

/// When an entry expires; `seq` tells this entry from a later one under the same key and
/// breaks ties (the older goes first).
struct Deadline {
    until: f64,
    seq: u64,
    key: TokenKey,
}

impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> Ordering {
        self.until.total_cmp(&other.until).then(self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Deadline {}

impl Entries {
    /// Whether `deadline` is its entry's current one.
    fn is_current(&self, deadline: &Deadline) -> bool {
        self.map.get(&deadline.key).is_some_and(|entry| entry.seq == deadline.seq)
    }

    /// Drops the entries whose deadline is past at `now`, and stale deadlines met on the way.
    fn drop_expired(&mut self, now: f64) {
        while let Some(Reverse(soonest)) = self.deadlines.peek()
            && soonest.until <= now
        {
            if let Some(Reverse(expired)) = self.deadlines.pop()
                && self.is_current(&expired)
            {
                self.map.remove(&expired.key);
            }
        }
    }

    /// Drops the entry nearest its deadline.
    fn evict_soonest(&mut self) {
        while let Some(Reverse(soonest)) = self.deadlines.pop() {
            if self.is_current(&soonest) {
                self.map.remove(&soonest.key);
                return;
            }
        }
    }

    /// Rebuilds the heap from the entries once stale deadlines outnumber them: O(n) after at
    /// least n inserts, so O(1) per insert.
    fn compact(&mut self) {
        if self.deadlines.len() <= 2 * self.map.len() + 16 {
            return;
        }
        let current = self.map.iter().map(|(key, entry)| {
            Reverse(Deadline { until: entry.until, seq: entry.seq, key: *key })
        });
        self.deadlines = current.collect();
    }
}

impl AnswerCache {
    pub(crate) fn new(max_entries: usize) -> Self {
        let entries = Entries { map: Map::default(), deadlines: BinaryHeap::new(), next_seq: 0 };
        AnswerCache { entries: Mutex::new(entries), max_entries }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves usable entries: a deadline is pushed before
        // its entry is inserted, and a deadline without its entry is skipped.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer for `key` if it is still good at `now`.
    pub(crate) fn get(&self, key: &TokenKey, now: f64) -> Option<Answer> {
        let mut entries = self.lock();
        match entries.map.get(key) {
            Some(entry) if now < entry.until => Some(entry.answer.clone()),
            Some(_) => {
                entries.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` until `until`. Expired entries are dropped first; when the cache is
    /// still full, the entry nearest its deadline goes, so it never grows past its bound.
    pub(crate) fn insert(&self, key: TokenKey, answer: Answer, now: f64, until: f64) {
        if self.max_entries == 0 || until <= now || matches!(answer, Answer::Unavailable) {
            return;
        }
        let mut entries = self.lock();
        entries.drop_expired(now);
        if entries.map.len() >= self.max_entries && !entries.map.contains_key(&key) {
            entries.evict_soonest();
        }
        let seq = entries.next_seq;
        entries.next_seq += 1;
        entries.deadlines.push(Reverse(Deadline { until, seq, key }));
        entries.map.insert(key, Entry { answer, until, seq });
        entries.compact();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    #[cfg(test)]
    fn deadlines(&self) -> usize {
        self.lock().deadlines.len()
    }
}

/// The calls under way, one per token hash, awaited by every request with the same token.
pub(crate) type Flights =
    crate::single_flight::Flights<TokenKey, Answer, std::hash::BuildHasherDefault<DigestHasher>>;

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

    fn key(i: u32) -> TokenKey {
        let mut key = [0; 32];
        key[8..12].copy_from_slice(&i.to_le_bytes());
        key
    }

    #[test]
    fn a_full_cache_never_grows_past_its_bound() {
        let cache = AnswerCache::new(100);
        for i in 0..10_000 {
            cache.insert(key(i), Answer::Inactive, 0.0, 10.0 + f64::from(i % 7));
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.len(), 100);
        // The last one in is kept.
        assert!(cache.get(&key(9_999), 1.0).is_some());
    }

    #[test]
    fn expired_answers_make_room_first_then_the_one_nearest_its_deadline() {
        let cache = AnswerCache::new(3);
        cache.insert(key(1), Answer::Inactive, 0.0, 10.0);
        cache.insert(key(2), Answer::Inactive, 0.0, 50.0);
        cache.insert(key(3), Answer::Inactive, 0.0, 30.0);
        // At 20 the first has expired: it makes room, the others stay.
        cache.insert(key(4), Answer::Inactive, 20.0, 100.0);
        assert_eq!(cache.len(), 3);
        for live in [2, 3, 4] {
            assert!(cache.get(&key(live), 20.0).is_some(), "{live}");
        }
        // None expired: the one nearest its deadline goes (a short-lived inactive answer
        // before a long-lived active one).
        cache.insert(key(5), Answer::Inactive, 20.0, 100.0);
        assert!(cache.get(&key(3), 20.0).is_none());
        for live in [2, 4, 5] {
            assert!(cache.get(&key(live), 20.0).is_some(), "{live}");
        }
        // Equal deadlines: the older goes first.
        cache.insert(key(6), Answer::Inactive, 20.0, 100.0);
        assert!(cache.get(&key(2), 20.0).is_none());
        cache.insert(key(7), Answer::Inactive, 20.0, 100.0);
        assert!(cache.get(&key(4), 20.0).is_none());
        for live in [5, 6, 7] {
            assert!(cache.get(&key(live), 20.0).is_some(), "{live}");
        }
    }

    #[test]
    fn an_entry_is_never_served_past_its_deadline() {
        let cache = AnswerCache::new(2);
        cache.insert(key(1), Answer::Inactive, 0.0, 5.0);
        cache.insert(key(1), Answer::Inactive, 0.0, 3.0);
        // The later answer replaces the earlier one, deadline included.
        assert!(cache.get(&key(1), 2.9).is_some());
        assert!(cache.get(&key(1), 3.0).is_none());
        // A stale deadline of a replaced entry never evicts its successor.
        cache.insert(key(2), Answer::Inactive, 0.0, 1.0);
        cache.insert(key(2), Answer::Inactive, 0.0, 9.0);
        cache.insert(key(3), Answer::Inactive, 0.0, 8.0);
        cache.insert(key(4), Answer::Inactive, 0.0, 9.5);
        assert!(cache.get(&key(2), 0.5).is_some());
        assert!(cache.get(&key(3), 0.5).is_none());
        assert!(cache.get(&key(4), 0.5).is_some());
    }

    #[test]
    fn stale_deadlines_do_not_pile_up() {
        let cache = AnswerCache::new(4);
        // The same token answered again and again (each time before its answer expired).
        for i in 0..10_000 {
            cache.insert(key(1), Answer::Inactive, 0.0, 100.0 + f64::from(i));
            assert!(cache.deadlines() <= 2 * 4 + 16 + 1);
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&key(1), 10_098.0).is_some());
        assert!(cache.get(&key(1), 10_099.0).is_none());
    }
}
