//! The member names of one JSON object seen so far, to refuse a duplicate.
//!
//! RFC 7515 §4 and RFC 7519 §4 let a parser reject duplicate member names (or keep the last),
//! and rejecting is the safe choice: when two parsers pick different copies of `alg` or
//! `sub`, an attacker chooses which one the verifier sees. serde_json keeps the last copy
//! silently, so every object of a header, payload or DPoP proof is read by the crate's
//! [`crate::jose::json_reader::JsonReader`], which keeps its names here.

use std::borrow::Cow;
use std::collections::HashSet;

/// Up to this many member names are compared linearly; past it a hash set keeps the walk
/// linear in the number of members.
const INLINE_KEYS: usize = 16;

/// The member names of one JSON object seen so far: the first few, borrowed from the input,
/// on the stack (no allocation and nothing to drop for ordinary tokens); names that held
/// escapes, and every name past the first few, in a hash set.
pub(crate) struct SeenKeys<'de> {
    inline: [&'de str; INLINE_KEYS],
    len: usize,
    spilled: Option<HashSet<Cow<'de, str>>>,
}

impl Default for SeenKeys<'_> {
    fn default() -> Self {
        SeenKeys { inline: [""; INLINE_KEYS], len: 0, spilled: None }
    }
}

impl<'de> SeenKeys<'de> {
    /// Records `key`; returns `false` if it was already there.
    pub(crate) fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.spilled {
            return set.insert(key);
        }
        match key {
            Cow::Borrowed(name) if self.len < INLINE_KEYS => {
                if self.inline[..self.len].iter().any(|seen| same_name(seen, name)) {
                    return false;
                }
                self.inline[self.len] = name;
                self.len += 1;
                true
            }
            // An unescaped copy compares equal to a borrowed name with the same text.
            key => {
                let mut set: HashSet<Cow<'de, str>> =
                    self.inline[..self.len].iter().map(|name| Cow::Borrowed(*name)).collect();
                let fresh = set.insert(key);
                self.spilled = Some(set);
                fresh
            }
        }
    }
}

/// `a == b`, with the length and the last byte compared first: most names of an object differ
/// there (`iss`, `aud`, `sub`, `exp`...), so a full comparison runs only on a likely duplicate.
#[inline(always)]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}
