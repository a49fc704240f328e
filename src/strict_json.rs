//! Strict JSON walking: duplicate member names are an error at every depth.
//!
//! RFC 7515 §4 and RFC 7519 §4 let a parser reject duplicate member names (or keep the last),
//! and rejecting is the safe choice: when two parsers pick different copies of `alg` or
//! `sub`, an attacker chooses which one the verifier sees. serde_json keeps the last copy silently, so every object of a
//! header or payload is walked once by [`NoDuplicates`] (or a visitor built on [`SeenKeys`]).
//! Nesting depth is bounded by serde_json's own recursion limit (128).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

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

/// Walks any JSON value, failing on a duplicate member name in any object inside it.
pub(crate) struct NoDuplicates;

impl<'de> DeserializeSeed<'de> for NoDuplicates {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicates)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = SeenKeys::default();
        while let Some(key) = map.next_key_seed(MemberName)? {
            if !seen.insert(key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            map.next_value_seed(NoDuplicates)?;
        }
        Ok(())
    }
}

/// Reads an object member name, borrowing it from the input when it has no escapes (serde's
/// own `Cow<str>` always copies).
pub(crate) struct MemberName;

impl<'de> DeserializeSeed<'de> for MemberName {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for MemberName {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Reads a JSON string member, borrowing when the text has no escapes.
pub(crate) struct BorrowedStr;

impl<'de> DeserializeSeed<'de> for BorrowedStr {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BorrowedStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    // Any other JSON type is reported as `None` so the caller can name the claim.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        NoDuplicates.visit_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        NoDuplicates.visit_map(map).map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> bool {
        let mut de = serde_json::Deserializer::from_str(json);
        NoDuplicates.deserialize(&mut de).and_then(|()| de.end()).is_ok()
    }

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert!(check(r#"{"a":1,"b":{"c":[{"d":1,"e":2}]}}"#));
        assert!(!check(r#"{"a":1,"a":2}"#));
        assert!(!check(r#"{"a":{"x":1,"x":1}}"#));
        assert!(!check(r#"[{"y":1,"y":1}]"#));
        // The same name escaped differently is still the same name.
        assert!(!check(r#"{"sub":1,"s\u0075b":2}"#));
        assert!(!check(r#"{"s\u0075b":1,"sub":2}"#));
        assert!(check(r#"{"s\u0075b":1,"sup":2,"x":{"sub":3}}"#));
    }

    #[test]
    fn many_members_spill_to_a_set() {
        let members: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        let json = format!("{{{}}}", members.join(","));
        assert!(check(&json));
        let json = format!("{{{},\"k7\":0}}", members.join(","));
        assert!(!check(&json));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let json = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(!check(&json));
    }
}
