//! The application's claims type and the registered claims, read in one strict pass.
//!
//! The two-pass path ([`Registered::read`], then `serde_json::from_str::<C>`) is the
//! reference; this is its fast path. serde builds `C` from the crate's strict [`JsonReader`],
//! which refuses duplicate member names in every object at any depth, and every top-level
//! member the crate reads itself (`exp`, `iss`, `aud`, ...) is first read by
//! [`read_member`], exactly as the reference reads it, then handed to `C` from the same place.
//!
//! Only what `serde_json` would produce the same way is built here: any error, and any input
//! this reader does not build itself (an externally tagged enum in object form, a struct from
//! an array, `serde_json::value::RawValue`, the bytes of an escaped string), makes
//! [`read_once`] answer `None`, and the caller runs the reference path, which then gives the
//! verdict. So a token is never refused here, and never accepted with claims other than the
//! reference's; `tests` compare the two on generated payloads.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

use crate::json_reader::{JsonError, JsonReader, Literal, Members, Number, Position, ValueKind};
use crate::member_names::SeenKeys;
use crate::registered::{ClaimRules, PayloadNames, Registered, read_member};

/// The registered claims and the claims type of an authentic payload, or `None` when the
/// reference path must decide.
pub(crate) fn read_once<'a, C: DeserializeOwned>(
    payload: &'a str,
    rules: &ClaimRules,
) -> Option<(Registered<'a>, C)> {
    if numbers_as_text() {
        return None;
    }
    let mut pass = Pass { json: JsonReader::new(payload), rules, found: None, read_ahead: None };
    let claims = C::deserialize(&mut pass).ok()?;
    pass.json.end().ok()?;
    Some((pass.found?, claims))
}

/// Whether `serde_json` was built with `arbitrary_precision` (any crate of the build can turn
/// it on): it then hands a number to `deserialize_any` as its text, which this pass, handing
/// out `u64`, `i64` or `f64`, would not match, so it steps aside for the reference path.
fn numbers_as_text() -> bool {
    static AS_TEXT: OnceLock<bool> = OnceLock::new();
    *AS_TEXT.get_or_init(|| {
        // Without it, `1e2` is the float 100; with it, the number keeps its text "1e2".
        serde_json::from_str::<serde_json::Value>("1e2").map_or(true, |value| {
            let text = value.to_string();
            text != "100.0"
        })
    })
}

/// The reader, and what the payload object's members said once it has been read to its end.
struct Pass<'a, 'r> {
    json: JsonReader<'a>,
    rules: &'r ClaimRules,
    found: Option<Registered<'a>>,
    /// Where the registered member value last read ahead starts and ends: a claims type that
    /// ignores it (most do not declare `iss`, `aud`, `exp`...) skips to its end at once.
    read_ahead: Option<(Position, Position)>,
}

/// "Let the reference path decide": the one error of this pass.
#[derive(Debug)]
struct Undecided;

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to the reference path")
    }
}

impl std::error::Error for Undecided {}

impl From<JsonError> for Undecided {
    fn from(_: JsonError) -> Self {
        Undecided
    }
}

impl de::Error for Undecided {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Undecided
    }
}

impl<'a> Pass<'a, '_> {
    /// An object: the payload itself (at depth 0, read through [`PayloadMembers`]) or any
    /// object inside it.
    fn visit_object<V: Visitor<'a>>(&mut self, visitor: V) -> Result<V::Value, Undecided> {
        let top = self.json.depth() == 0;
        let members = self.json.begin_object()?;
        let mut access = ObjectAccess {
            pass: self,
            members,
            seen: SeenKeys::default(),
            payload: top.then(PayloadMembers::default),
            ended: false,
        };
        let value = visitor.visit_map(&mut access)?;
        // After a visitor that stopped early, serde_json accepts only the end of the object.
        if !access.ended && access.pass.json.next_member(&mut access.members).ok() != Some(None) {
            return Err(Undecided);
        }
        let payload = access.payload;
        if let Some(payload) = payload {
            self.found = Some(payload.found);
        }
        Ok(value)
    }

    fn visit_array<V: Visitor<'a>>(&mut self, visitor: V) -> Result<V::Value, Undecided> {
        let elements = self.json.begin_array()?;
        let mut access = ArrayAccess { pass: self, elements, ended: false };
        let value = visitor.visit_seq(&mut access)?;
        // After a visitor that stopped early (a tuple), serde_json accepts only the end.
        match access.ended || access.pass.json.next_element(&mut access.elements) == Ok(false) {
            true => Ok(value),
            false => Err(Undecided),
        }
    }
}

impl<'de> de::Deserializer<'de> for &mut Pass<'de, '_> {
    type Error = Undecided;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.json.peek()? {
            ValueKind::Object => self.visit_object(visitor),
            ValueKind::Array => self.visit_array(visitor),
            ValueKind::String => match self.json.string()? {
                Cow::Borrowed(text) => visitor.visit_borrowed_str(text),
                Cow::Owned(text) => visitor.visit_string(text),
            },
            ValueKind::Number => match self.json.number_value()? {
                Number::U64(value) => visitor.visit_u64(value),
                Number::I64(value) => visitor.visit_i64(value),
                Number::F64(value) => visitor.visit_f64(value),
            },
            ValueKind::Literal => match self.json.literal()? {
                Literal::True => visitor.visit_bool(true),
                Literal::False => visitor.visit_bool(false),
                Literal::Null => visitor.visit_unit(),
            },
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        if self.json.peek()? == ValueKind::Literal && self.json.peek_null() {
            self.json.literal()?;
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.json.peek()? {
            ValueKind::Literal if self.json.peek_null() => {
                self.json.literal()?;
                visitor.visit_unit()
            }
            _ => Err(Undecided),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Undecided> {
        self.deserialize_unit(visitor)
    }

    // Never forwarded by name: a name that means something to one deserializer (serde_json's
    // raw value) fails here, and the reference path reads it.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Undecided> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.json.peek()? {
            ValueKind::Array => self.visit_array(visitor),
            _ => Err(Undecided),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Undecided> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Undecided> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.json.peek()? {
            ValueKind::Object => self.visit_object(visitor),
            _ => Err(Undecided),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Undecided> {
        self.deserialize_map(visitor)
    }

    /// Only a unit variant, written as a string.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Undecided> {
        match self.json.peek()? {
            ValueKind::String => {
                let name = self.json.string()?;
                visitor.visit_enum(UnitVariant(name))
            }
            _ => Err(Undecided),
        }
    }

    /// Raw string bytes when the string holds no escape (as serde_json hands them), an array's
    /// elements otherwise.
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.json.peek()? {
            ValueKind::String => match self.json.string()? {
                Cow::Borrowed(text) => visitor.visit_borrowed_bytes(text.as_bytes()),
                Cow::Owned(_) => Err(Undecided),
            },
            ValueKind::Array => self.visit_array(visitor),
            _ => Err(Undecided),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        self.deserialize_bytes(visitor)
    }

    /// Skipped, with every object inside still checked for duplicate members.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.read_ahead {
            // A registered member's value, already read (and checked) up to its end.
            Some((start, end)) if self.json.save() == start => self.json.restore(end),
            _ => self.json.skip_value()?,
        }
        visitor.visit_unit()
    }

    /// An integer only: serde_json may parse a fraction for `f32` itself (its
    /// `float_roundtrip` feature), which rounding an `f64` would not always match.
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.json.peek()? {
            ValueKind::Number => match self.json.number_value()? {
                Number::U64(value) => visitor.visit_u64(value),
                Number::I64(value) => visitor.visit_i64(value),
                Number::F64(_) => Err(Undecided),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    // serde_json hands these the same visitor calls as `deserialize_any` does for the JSON
    // types they accept, and refuses the others, as the visitor here does. 128-bit integers
    // are read exactly by serde_json, past `u64` here only as `f64`: the visitor refuses it,
    // and the reference path decides.
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f64 char str string identifier
    }
}

/// The members of one object: each name checked against the names before it.
struct ObjectAccess<'p, 'a, 'r> {
    pass: &'p mut Pass<'a, 'r>,
    members: Members,
    seen: SeenKeys<'a>,
    /// For the payload object only: its registered members, read as the reference reads them.
    payload: Option<PayloadMembers<'a>>,
    ended: bool,
}

#[derive(Default)]
struct PayloadMembers<'a> {
    found: Registered<'a>,
    names: PayloadNames<'a>,
}

impl<'de> de::MapAccess<'de> for ObjectAccess<'_, 'de, '_> {
    type Error = Undecided;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Undecided> {
        let json = &mut self.pass.json;
        let Some(name) = json.next_member(&mut self.members)? else {
            self.ended = true;
            return Ok(None);
        };
        match &mut self.payload {
            Some(payload) => {
                let (member, fresh) =
                    payload.names.note(name.clone(), self.pass.rules, &mut payload.found);
                if !fresh {
                    return Err(Undecided);
                }
                if let Some(member) = member {
                    // Read as the reference reads it, then read again by the claims type.
                    let start = json.save();
                    // A refusal is the reference path's to name.
                    read_member(json, member, self.pass.rules, &mut payload.found)
                        .map_err(|_| Undecided)?;
                    self.pass.read_ahead = Some((start, json.save()));
                    json.restore(start);
                }
            }
            None => {
                if !self.seen.insert(name.clone()) {
                    return Err(Undecided);
                }
            }
        }
        seed.deserialize(MemberName(name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Undecided> {
        seed.deserialize(&mut *self.pass)
    }
}

struct ArrayAccess<'p, 'a, 'r> {
    pass: &'p mut Pass<'a, 'r>,
    elements: Members,
    ended: bool,
}

impl<'de> de::SeqAccess<'de> for ArrayAccess<'_, 'de, '_> {
    type Error = Undecided;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Undecided> {
        if !self.pass.json.next_element(&mut self.elements)? {
            self.ended = true;
            return Ok(None);
        }
        seed.deserialize(&mut *self.pass).map(Some)
    }
}

/// A member name, as serde_json hands it to a key's visitor.
struct MemberName<'a>(Cow<'a, str>);

impl<'de> de::Deserializer<'de> for MemberName<'de> {
    type Error = Undecided;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Undecided> {
        match self.0 {
            Cow::Borrowed(name) => visitor.visit_borrowed_str(name),
            Cow::Owned(name) => visitor.visit_string(name),
        }
    }

    // A key read as a number, a bool or an enum is parsed from the name by serde_json; here
    // its visitor refuses the string, and the reference path decides.
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// A unit variant named by a string.
struct UnitVariant<'a>(Cow<'a, str>);

impl<'de> de::EnumAccess<'de> for UnitVariant<'de> {
    type Error = Undecided;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Undecided> {
        let name = MemberName(self.0.clone());
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'de> {
    type Error = Undecided;

    fn unit_variant(self) -> Result<(), Undecided> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, Undecided> {
        Err(Undecided)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Undecided> {
        Err(Undecided)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Undecided> {
        Err(Undecided)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;
    use crate::registered::test_rules;

    /// What the reference path reads: the registered claims, then the claims type.
    fn reference<C: DeserializeOwned>(payload: &str) -> Option<(Registered<'_>, C)> {
        let registered = Registered::read(payload, &test_rules()).ok()?;
        Some((registered, serde_json::from_str(payload).ok()?))
    }

    /// Where the fast path decides, it decides as the reference does.
    fn agrees<C: DeserializeOwned + PartialEq + fmt::Debug>(payload: &str) -> bool {
        let fast = read_once::<C>(payload, &test_rules());
        if let Some(fast) = &fast {
            assert_eq!(Some(fast), reference::<C>(payload).as_ref(), "{payload}");
        }
        fast.is_some()
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Typical {
        sub: String,
        exp: Option<f64>,
        iat: Option<u64>,
        aud: Option<Value>,
        roles: Option<Vec<String>>,
        n: Option<i64>,
        flag: Option<bool>,
        kind: Option<Kind>,
        #[serde(default)]
        nested: HashMap<String, Value>,
        pair: Option<(u8, String)>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        User,
        Service,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Flattened {
        iss: Option<String>,
        #[serde(flatten)]
        rest: HashMap<String, Value>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Borrowing {
        sub: String,
        #[serde(default, with = "serde_bytes_like")]
        blob: Vec<u8>,
    }

    /// `deserialize_bytes`, as a claims type might ask for it.
    mod serde_bytes_like {
        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            struct Bytes;
            impl<'de> serde::de::Visitor<'de> for Bytes {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Vec<u8>, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element()? {
                        out.push(b);
                    }
                    Ok(out)
                }
            }
            d.deserialize_bytes(Bytes)
        }
    }

    const GOOD: &str = r#"{"iss":"https://a.example","aud":["x","api"],"sub":"u","exp":1700000000,"iat":1600000000,"nbf":1.5,"jti":"j","scope":"a b","roles":["r1","r2"],"n":-3,"flag":true,"kind":"user","nested":{"a":[1,2.5,{"b":null}]},"pair":[7,"seven"]}"#;

    #[test]
    fn the_fast_path_decides_ordinary_payloads_as_the_reference_does() {
        assert!(agrees::<Typical>(GOOD));
        assert!(agrees::<Value>(GOOD));
        assert!(agrees::<Flattened>(GOOD));
        assert!(agrees::<HashMap<String, Value>>(GOOD));
        assert!(agrees::<Borrowing>(r#"{"sub":"u","blob":"abc"}"#));
        assert!(agrees::<Borrowing>(r#"{"sub":"u","blob":[1,2,3]}"#));
        // Escapes in names and values, whitespace, numbers of every kind.
        assert!(agrees::<Value>(
            r#" { "s\u0075b" : "\u00e9\n" , "big" : 18446744073709551616 , "neg" : -9223372036854775808 , "z" : -0 , "f" : 1e-3 } "#
        ));
    }

    #[test]
    fn what_the_fast_path_does_not_build_goes_to_the_reference() {
        for payload in [
            // Refusals are always the reference's to name.
            r#"{"sub":"u","sub":"v"}"#,
            r#"{"sub":"u","x":{"a":1,"a":2}}"#,
            r#"{"sub":"u","exp":"soon"}"#,
            r#"{"sub":"u"} x"#,
            r#"["sub"]"#,
        ] {
            assert!(!agrees::<Typical>(payload), "{payload}");
        }
        assert!(!agrees::<Borrowing>(r#"{"sub":"u","blob":"a\nb"}"#));
        // A unit variant written as an object is one of them; ignored, it is read here.
        assert!(!agrees::<Typical>(r#"{"sub":"u","kind":{"user":null}}"#));
        assert!(agrees::<Borrowing>(r#"{"sub":"u","kind":{"user":null}}"#));
        // A raw value is serde_json's own type.
        assert!(read_once::<Box<serde_json::value::RawValue>>(GOOD, &test_rules()).is_none());
        // A fraction read as `f32` is serde_json's to round.
        assert!(read_once::<HashMap<String, f32>>(r#"{"x":0.1}"#, &test_rules()).is_none());
        assert!(agrees::<HashMap<String, f32>>(r#"{"x":7}"#));
        // A claims type that reads nothing leaves the payload unread: the reference decides.
        assert!(read_once::<serde::de::IgnoredAny>(GOOD, &test_rules()).is_none());
        // This build's serde_json has no `arbitrary_precision`, so the one pass is on.
        assert!(!numbers_as_text());
    }

    /// A member name, sometimes escaped, sometimes one the crate reads itself.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "iss", "aud", "sub", "exp", "nbf", "iat", "jti", "scope", "scp", "cnf", "roles",
                "n", "flag", "kind", "nested", "pair", "x",
            ])
            .prop_map(str::to_owned),
            "[a-z]{1,3}",
        ]
        .prop_flat_map(|name| {
            let escaped: String = name.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
            prop_oneof![4 => Just(name), 1 => Just(escaped)]
        })
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (-1e20f64..1e20).prop_map(|f| f.to_string()),
            Just("1700000000.5".to_owned()),
            Just("1e400".to_owned()),
            Just("-0".to_owned()),
            "[a-z \\\\\"é]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just(r#""https://a.example""#.to_owned()),
            Just(r#""api""#.to_owned()),
            Just(r#""user""#.to_owned()),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((name(), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> =
                        members.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    fn payload() -> impl Strategy<Value = String> {
        prop::collection::vec((name(), value()), 0..10).prop_map(|members| {
            let mut members: Vec<String> =
                members.into_iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
            members.insert(0, r#""sub":"u""#.to_owned());
            format!("{{{}}}", members.join(","))
        })
    }

    #[test]
    fn the_fast_path_never_disagrees_with_the_reference() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut decided = [0usize; 3];
        for _ in 0..3000 {
            let payload = payload().new_tree(&mut runner).unwrap().current();
            decided[0] += usize::from(agrees::<Value>(&payload));
            decided[1] += usize::from(agrees::<Typical>(&payload));
            decided[2] += usize::from(agrees::<Flattened>(&payload));
        }
        eprintln!("the fast path decided {decided:?} of 3000 payloads");
        // Not vacuous: the fast path decided a good share of them, for each claims type.
        assert!(decided.iter().all(|&n| n >= 300), "decided {decided:?} of 3000");
    }
}
