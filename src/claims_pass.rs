//! One pass over the payload: the application's claims type is built while the registered
//! claims are read and checked and every object is checked for duplicate member names.
//!
//! The registered members are intercepted at the payload's own object whether or not the type
//! declares them, so they are checked whatever the type looks like. A scalar member, and each
//! string of an `aud` or `scp` array, is shown to the checks as serde_json visits it for the
//! type; `cnf` (an object) is taken as text and parsed for each. When the payload was not
//! read to its end as an object (a type that reads it as an enum, for example), or a member's
//! value was read in a way the checks could not follow, no registered claims are returned and
//! the caller must read them with [`Registered::read`].

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor,
    value,
};
use serde_json::value::RawValue;

use crate::registered::{Checker, ClaimRules, Member, MemberElement, MemberSeed, Registered};
use crate::strict_deserializer::{
    RAW_VALUE_TOKEN, Strict, Wrap, forward_deserialize, forward_visit,
};

/// What the payload's own object has given so far.
pub(crate) struct TopLevel<'r, 'de> {
    checker: Checker<'r>,
    found: RefCell<Registered<'de>>,
    /// Set when the object was read to its closing brace, so `found` is complete.
    finished: Cell<bool>,
    /// `scp` entries joined so far.
    scp: RefCell<String>,
    /// Set when the current member's value (or array element) reached the checks through
    /// the tee.
    teed: Cell<bool>,
    /// Set when some member's value did not (the type read it in a way the tee cannot
    /// follow): `found` is then incomplete and the strict pass reads the claims instead.
    unchecked: Cell<bool>,
}

impl<'t, 'de> TopLevel<'t, 'de> {
    /// Notes a member name; returns the registered member it is, if any.
    pub(crate) fn name(&self, key: &str) -> Option<Member> {
        self.checker.name(key, &mut self.found.borrow_mut())
    }

    pub(crate) fn finish(&self) {
        self.finished.set(true);
    }

    /// Reads and checks a registered member's value and hands the same value to the type.
    pub(crate) fn member_value<A: MapAccess<'de>, S: DeserializeSeed<'de>>(
        &'t self,
        member: Member,
        map: &mut A,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        if member == Member::Cnf {
            // An object cannot be shown to two readers at once: the value is taken as text
            // and parsed for each (only DPoP-bound tokens carry one).
            let raw: &'de RawValue = map.next_value()?;
            let mut text = serde_json::Deserializer::from_str(raw.get());
            self.read(member, &mut text).map_err(de::Error::custom)?;
            let mut text = serde_json::Deserializer::from_str(raw.get());
            return seed.deserialize(Strict::nested(&mut text)).map_err(de::Error::custom);
        }
        // Scalars, and the strings of `aud` and `scp` arrays, are shown to the checks on
        // their way to the type.
        self.teed.set(false);
        let value = map.next_value_seed(TeeSeed { seed, member, element: false, top: self })?;
        if !self.teed.get() {
            self.unchecked.set(true);
        }
        Ok(value)
    }

    fn read<D: Deserializer<'de>>(&self, member: Member, value: D) -> Result<(), D::Error> {
        MemberSeed { member, checker: &self.checker, found: &mut self.found.borrow_mut() }
            .deserialize(value)
    }

    fn tee<D: Deserializer<'de>>(
        &self,
        member: Member,
        element: bool,
        value: D,
    ) -> Result<(), D::Error> {
        if element {
            MemberElement {
                member,
                checker: &self.checker,
                found: &mut self.found.borrow_mut(),
                joined: &mut self.scp.borrow_mut(),
            }
            .deserialize(value)?;
        } else {
            self.read(member, value)?;
        }
        self.teed.set(true);
        Ok(())
    }

    fn start_array(&self, member: Member) {
        match member {
            Member::Aud => self.found.borrow_mut().aud_present = true,
            _ => self.scp.borrow_mut().clear(),
        }
    }

    fn end_array(&self, member: Member) {
        if member == Member::Scp {
            let joined = std::mem::take(&mut *self.scp.borrow_mut());
            // `scope` wins when both are present, in either order.
            self.found.borrow_mut().scope.get_or_insert(std::borrow::Cow::Owned(joined));
        }
        self.teed.set(true);
    }
}

/// The type's seed for a registered member's value (or an element of its array), given a
/// deserializer that shows the value to the checks as it is visited.
struct TeeSeed<'t, 'de, S> {
    seed: S,
    member: Member,
    /// An element of an `aud` or `scp` array rather than the member's value.
    element: bool,
    top: &'t TopLevel<'t, 'de>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for TeeSeed<'_, 'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(TeeDeserializer {
            de,
            member: self.member,
            element: self.element,
            top: self.top,
        })
    }
}

struct TeeDeserializer<'t, 'de, D> {
    de: D,
    member: Member,
    element: bool,
    top: &'t TopLevel<'t, 'de>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for TeeDeserializer<'_, 'de, D> {
    type Error = D::Error;

    forward_deserialize!(|self, visitor| Tee {
        visitor,
        member: self.member,
        element: self.element,
        top: self.top
    });

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if name == RAW_VALUE_TOKEN {
            // Not teed, so the strict pass reads the claims afterwards and checks this value
            // for duplicates with them: handed over as serde_json gives it.
            return self.de.deserialize_newtype_struct(name, visitor);
        }
        self.de.deserialize_newtype_struct(
            name,
            Tee { visitor, member: self.member, element: self.element, top: self.top },
        )
    }

    // Ignored by the type, still read by the checks.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(Tee {
            visitor,
            member: self.member,
            element: self.element,
            top: self.top,
        })
    }
}

/// Shows each scalar to the checks, then to the type's visitor.
struct Tee<'t, 'de, V> {
    visitor: V,
    member: Member,
    element: bool,
    top: &'t TopLevel<'t, 'de>,
}

macro_rules! tee_visit {
    ($($method:ident: $ty:ty => $deserializer:ident),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.top.tee(self.member, self.element, value::$deserializer::<E>::new(v))?;
            self.visitor.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Tee<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    // What serde_json visits for a JSON scalar.
    tee_visit!(
        visit_bool: bool => BoolDeserializer, visit_i64: i64 => I64Deserializer,
        visit_u64: u64 => U64Deserializer, visit_f64: f64 => F64Deserializer,
        visit_borrowed_str: &'de str => BorrowedStrDeserializer,
        visit_str: &str => StrDeserializer
    );

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.top.tee(self.member, self.element, value::StrDeserializer::<E>::new(&v))?;
        self.visitor.visit_string(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.top.tee(self.member, self.element, value::UnitDeserializer::<E>::new())?;
        self.visitor.visit_unit()
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.top.tee(self.member, self.element, value::UnitDeserializer::<E>::new())?;
        self.visitor.visit_none()
    }

    // Not teed (serde_json does not visit these for JSON text, or the value is not a
    // scalar): the strict pass reads the claims.
    forward_visit!(
        visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i128: i128, visit_u8: u8,
        visit_u16: u16, visit_u32: u32, visit_u128: u128, visit_f32: f32, visit_char: char,
        visit_bytes: &[u8], visit_borrowed_bytes: &'de [u8], visit_byte_buf: Vec<u8>
    );

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        if self.element || !matches!(self.member, Member::Aud | Member::Scp) {
            return Wrap { visitor: self.visitor, top: None }.visit_seq(seq);
        }
        self.top.start_array(self.member);
        self.visitor.visit_seq(TeeSeq { seq, member: self.member, top: self.top })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        Wrap { visitor: self.visitor, top: None }.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        Wrap { visitor: self.visitor, top: None }.visit_enum(data)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(TeeDeserializer {
            de,
            member: self.member,
            element: self.element,
            top: self.top,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(TeeDeserializer {
            de,
            member: self.member,
            element: self.element,
            top: self.top,
        })
    }
}

/// An `aud` or `scp` array: each element is shown to the checks on its way to the type; the
/// member counts as read once the array was read to its end.
struct TeeSeq<'t, 'de, A> {
    seq: A,
    member: Member,
    top: &'t TopLevel<'t, 'de>,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for TeeSeq<'_, 'de, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let top = self.top;
        top.teed.set(false);
        let element = self.seq.next_element_seed(TeeSeed {
            seed,
            member: self.member,
            element: true,
            top,
        })?;
        match element {
            Some(_) if !top.teed.get() => top.unchecked.set(true),
            Some(_) => top.teed.set(false),
            None => top.end_array(self.member),
        }
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

/// Builds `C` from `payload` (decoded JSON), reading the registered claims on the way.
///
/// `Ok((claims, None))` means the registered claims could not all be read on the way and
/// still have to be. Any error leaves the precise reason to [`Registered::read`].
pub(crate) fn read<'de, C: Deserialize<'de>>(
    payload: &'de [u8],
    rules: &ClaimRules,
) -> Result<(C, Option<Registered<'de>>), serde_json::Error> {
    let problem = Cell::new(None);
    let top = TopLevel {
        checker: Checker { rules, problem: &problem },
        found: RefCell::default(),
        finished: Cell::new(false),
        scp: RefCell::default(),
        teed: Cell::new(false),
        unchecked: Cell::new(false),
    };
    let mut de = serde_json::Deserializer::from_slice(payload);
    let claims = C::deserialize(Strict::top(&mut de, &top))?;
    de.end()?;
    let TopLevel { found, finished, unchecked, .. } = top;
    let complete = finished.get() && !unchecked.get();
    Ok((claims, complete.then(|| found.into_inner())))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::HashMap;

    use proptest::prelude::*;
    use serde::Deserialize;
    use serde::de::{DeserializeOwned, IgnoredAny};
    use serde_json::Value;

    use super::*;
    use crate::error::AuthError;

    fn rules() -> ClaimRules {
        crate::registered::test_rules()
    }

    /// As verification takes it: when the pass leaves the registered claims to the strict
    /// pass, that pass decides.
    fn accepted<C: DeserializeOwned>(json: &str) -> bool {
        match read::<C>(json.as_bytes(), &rules()) {
            Ok((_, Some(_))) => true,
            Ok((_, None)) => Registered::read(json.as_bytes(), &rules()).is_ok(),
            Err(_) => false,
        }
    }

    #[derive(Deserialize)]
    struct App {
        #[allow(dead_code)]
        sub: String,
    }

    #[derive(Deserialize)]
    struct Flat {
        #[allow(dead_code)]
        #[serde(flatten)]
        rest: HashMap<String, Value>,
    }

    #[derive(Deserialize)]
    struct NumericKeys {
        #[allow(dead_code)]
        m: HashMap<String, HashMap<u64, String>>,
    }

    #[derive(Deserialize)]
    struct WithRaw {
        #[allow(dead_code)]
        o: Option<Box<RawValue>>,
    }

    /// Every way of taking the payload refuses what it refuses and accepts what it accepts.
    fn same_verdict(json: &str, expected: bool) {
        let verdicts = [
            ("struct", accepted::<App>(json)),
            ("Value", accepted::<Value>(json)),
            ("HashMap", accepted::<HashMap<String, Value>>(json)),
            ("flatten", accepted::<Flat>(json)),
            ("IgnoredAny", accepted::<IgnoredAny>(json)),
            ("Option", accepted::<Option<App>>(json)),
            ("RawValue", accepted::<WithRaw>(json)),
        ];
        for (name, verdict) in verdicts {
            assert_eq!(verdict, expected, "{name}: {json}");
        }
    }

    #[test]
    fn duplicates_are_refused_at_every_depth_whatever_the_type() {
        // Each duplicate next to the same payload without it.
        let cases = [
            (r#"{"sub":"a","x":1,"x":2}"#, r#"{"sub":"a","x":1,"y":2}"#),
            (r#"{"sub":"a","sub":"a"}"#, r#"{"sub":"a"}"#),
            (r#"{"sub":"a","o":{"k":1,"k":2}}"#, r#"{"sub":"a","o":{"k":1,"l":2}}"#),
            (
                r#"{"sub":"a","o":{"p":{"q":{"k":1,"k":2}}}}"#,
                r#"{"sub":"a","o":{"p":{"q":{"k":1,"l":2}}}}"#,
            ),
            (r#"{"sub":"a","o":[1,[{"k":1,"k":2}]]}"#, r#"{"sub":"a","o":[1,[{"k":1,"l":2}]]}"#),
            (r#"{"sub":"a","cnf":{"jkt":"t","jkt":"u"}}"#, r#"{"sub":"a","cnf":{"jkt":"t"}}"#),
            (
                r#"{"sub":"a","cnf":{"x":{"k":1,"k":2}}}"#,
                r#"{"sub":"a","cnf":{"x":{"k":1,"l":2}}}"#,
            ),
            (r#"{"sub":"a","aud":"api","aud":"api"}"#, r#"{"sub":"a","aud":["api","api"]}"#),
            // The same name escaped differently is the same name.
            (r#"{"sub":"a","\u0073ub":"b"}"#, r#"{"sub":"a","\u0073ubject":"b"}"#),
            (r#"{"sub":"a","o":{"a":1,"\u0061":2}}"#, r#"{"sub":"a","o":{"a":1,"\u0062":2}}"#),
        ];
        for (duplicated, clean) in cases {
            same_verdict(duplicated, false);
            same_verdict(clean, true);
        }
    }

    #[test]
    fn numeric_keys_still_parse_and_are_compared() {
        assert!(accepted::<NumericKeys>(r#"{"m":{"x":{"1":"a","2":"b"}}}"#));
        assert!(!accepted::<NumericKeys>(r#"{"m":{"x":{"1":"a","1":"b"}}}"#));
        assert!(!accepted::<NumericKeys>(r#"{"m":{"x":{"1":"a"},"x":{}}}"#));
        let (claims, _) =
            read::<HashMap<String, HashMap<u64, String>>>(br#"{"m":{"7":"a"}}"#, &rules()).unwrap();
        assert_eq!(claims["m"][&7], "a");
    }

    #[test]
    fn registered_claims_are_read_whatever_the_type() {
        let json = br#"{"iss":"https://a.example","aud":["x","api"],"exp":10,"nbf":1.5,"sub":"u","scp":["a","b"],"cnf":{"jkt":"t"},"other":{"exp":"not this one"}}"#;
        fn check(found: Option<Registered<'_>>) {
            let found = found.expect("the payload was read as an object");
            assert!(found.iss_matched && found.aud_matched);
            assert_eq!((found.exp, found.nbf), (Some(10.0), Some(1.5)));
            assert_eq!(found.required_seen, 1);
            assert_eq!(found.scope.as_deref(), Some("a b"));
            assert_eq!(found.jkt.as_deref(), Some("t"));
            // Strings without escapes borrow from the payload.
            assert!(matches!(found.sub, Some(Cow::Borrowed("u"))));
        }
        check(read::<App>(json, &rules()).unwrap().1);
        check(read::<Value>(json, &rules()).unwrap().1);
        check(read::<HashMap<String, Value>>(json, &rules()).unwrap().1);
        check(read::<Flat>(json, &rules()).unwrap().1);
        check(read::<IgnoredAny>(json, &rules()).unwrap().1);
        check(read::<Option<App>>(json, &rules()).unwrap().1);
    }

    #[test]
    fn registered_claims_the_type_declares_reach_it() {
        #[derive(Deserialize)]
        struct Declares {
            exp: u64,
            aud: Vec<String>,
            iss: String,
            scope: Cow<'static, str>,
            cnf: HashMap<String, String>,
        }
        let (claims, found) = read::<Declares>(
            br#"{"exp":10,"aud":["x","api"],"iss":"https://a.example","scope":"a b","cnf":{"jkt":"t"}}"#,
            &rules(),
        )
        .unwrap();
        assert_eq!(claims.exp, 10);
        assert_eq!(claims.aud, ["x", "api"]);
        assert_eq!(claims.iss, "https://a.example");
        assert_eq!(claims.scope, "a b");
        assert_eq!(claims.cnf["jkt"], "t");
        let found = found.unwrap();
        assert_eq!(found.exp, Some(10.0));
        assert!(found.iss_matched && found.aud_matched);

        let (flat, _) = read::<Flat>(br#"{"exp":10,"x":[1]}"#, &rules()).unwrap();
        assert_eq!(flat.rest["exp"], 10);
        assert_eq!(flat.rest["x"], serde_json::json!([1]));
    }

    #[test]
    fn scalar_members_reach_the_checks_however_the_type_reads_them() {
        #[derive(Deserialize)]
        struct Scalars<'a> {
            exp: Option<u64>,
            iat: f64,
            #[serde(borrow)]
            sub: Cow<'a, str>,
            jti: Option<Value>,
        }
        let json = br#"{"exp":10,"iat":1.5,"sub":"u","jti":"j"}"#;
        let (claims, found) = read::<Scalars<'_>>(json, &rules()).unwrap();
        assert_eq!((claims.exp, claims.iat), (Some(10), 1.5));
        assert!(matches!(claims.sub, Cow::Borrowed("u")));
        assert_eq!(claims.jti, Some(Value::from("j")));
        let found = found.unwrap();
        assert_eq!((found.exp, found.iat), (Some(10.0), Some(1.5)));
        assert_eq!((found.sub.as_deref(), found.jti.as_deref()), (Some("u"), Some("j")));

        // Read in a way the checks cannot follow: built, but the strict pass must read the
        // registered claims.
        #[derive(Deserialize)]
        struct Raw {
            exp: Box<RawValue>,
        }
        let (claims, found) = read::<Raw>(br#"{"exp":10}"#, &rules()).unwrap();
        assert_eq!(claims.exp.get(), "10");
        assert!(found.is_none());
        #[derive(Deserialize)]
        enum Scope {
            #[serde(rename = "a b")]
            Ab,
        }
        #[derive(Deserialize)]
        struct Enum {
            #[allow(dead_code)]
            scope: Scope,
        }
        assert!(read::<Enum>(br#"{"scope":"a b"}"#, &rules()).unwrap().1.is_none());

        // The wrong JSON type fails whatever the type would accept.
        #[derive(Deserialize)]
        struct Loose {
            #[allow(dead_code)]
            exp: Option<Value>,
        }
        assert!(!accepted::<Loose>(r#"{"exp":null}"#));
        assert!(!accepted::<Loose>(r#"{"exp":{"a":1}}"#));
        assert!(!accepted::<Loose>(r#"{"exp":[1]}"#));
        assert!(!accepted::<Loose>(r#"{"exp":true}"#));
    }

    #[test]
    fn registered_claims_of_the_wrong_type_fail_even_when_the_type_would_take_them() {
        #[derive(Deserialize)]
        struct Loose {
            #[allow(dead_code)]
            exp: Value,
        }
        assert!(!accepted::<Loose>(r#"{"exp":"10"}"#));
        assert!(!accepted::<App>(r#"{"sub":"a","exp":"10"}"#));
        assert!(!accepted::<Value>(r#"{"aud":["api",1]}"#));
        assert!(!accepted::<Value>(r#"{"aud":["api",["api"]]}"#));
        assert!(!accepted::<Value>(r#"{"scp":["a",{"b":1}]}"#));
        assert!(!accepted::<IgnoredAny>(r#"{"scp":["a",null]}"#));
        assert!(accepted::<Value>(r#"{"aud":[],"scp":[]}"#));
        assert!(!accepted::<IgnoredAny>(r#"{"iss":null}"#));
        assert!(accepted::<Loose>(r#"{"exp":10}"#));
    }

    #[test]
    fn a_payload_not_read_as_an_object_leaves_the_registered_claims_to_the_strict_pass() {
        #[derive(Deserialize)]
        enum Tagged {
            #[allow(dead_code)]
            Claims(Value),
        }
        let (_, found) = read::<Tagged>(br#"{"Claims":{"exp":"10"}}"#, &rules()).unwrap();
        assert!(found.is_none());
        let (_, found) = read::<Box<RawValue>>(br#"{"exp":10}"#, &rules()).unwrap();
        assert!(found.is_none());
        assert!(read::<IgnoredAny>(b"[1]", &rules()).unwrap().1.is_none());
        // Still strict about duplicates.
        assert!(read::<Tagged>(br#"{"Claims":{"a":1,"a":1}}"#, &rules()).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let json = format!(r#"{{"sub":"a","o":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        same_verdict(&json, false);
        let json = format!(r#"{{"sub":"a","o":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        same_verdict(&json, true);
    }

    /// The old order of work: the strict pass, then serde_json on its own.
    fn two_passes<C: DeserializeOwned>(json: &[u8]) -> Result<(C, String), AuthError> {
        let found = Registered::read(json, &rules())?;
        let claims = serde_json::from_slice(json).map_err(|_| AuthError::InvalidClaims)?;
        Ok((claims, format!("{found:?}")))
    }

    /// This pass, with the fallback verification uses.
    fn one_pass<C: DeserializeOwned>(json: &[u8]) -> Result<(C, String), AuthError> {
        match read::<C>(json, &rules()) {
            Ok((claims, Some(found))) => Ok((claims, format!("{found:?}"))),
            Ok((claims, None)) => Ok((claims, format!("{:?}", Registered::read(json, &rules())?))),
            Err(_) => {
                Registered::read(json, &rules())?;
                Err(AuthError::InvalidClaims)
            }
        }
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Typed {
        exp: Option<u64>,
        nbf: Option<f64>,
        aud: Option<Value>,
        sub: Option<String>,
        scope: Option<String>,
        cnf: Option<HashMap<String, Value>>,
        a: Option<Value>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct FlatTyped {
        exp: Option<u64>,
        #[serde(flatten)]
        rest: HashMap<String, Value>,
    }

    fn json_text() -> impl Strategy<Value = String> {
        // Member names: the registered ones, others, and escaped spellings of both.
        const NAMES: [&str; 15] = [
            "exp",
            "nbf",
            "iat",
            "iss",
            "aud",
            "sub",
            "jti",
            "scope",
            "scp",
            "cnf",
            "a",
            "b",
            "\\u0061",
            "s\\u0075b",
            "jkt",
        ];
        let key = prop::sample::select(NAMES.to_vec());
        let leaf = prop_oneof![
            Just("null".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<u32>().prop_map(|n| n.to_string()),
            any::<i32>().prop_map(|n| n.to_string()),
            (0.0f64..1e10).prop_map(|f| format!("{f:e}")),
            prop::sample::select(vec![
                "\"api\"",
                "\"https://a.example\"",
                "\"x\"",
                "\"a\\u0062\"",
                "\"\"",
            ])
            .prop_map(str::to_owned),
        ];
        let value = leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key.clone(), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> =
                        members.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        });
        // `jkt` only inside `cnf`, where it means something.
        let top_key = prop::sample::select(NAMES[..14].to_vec());
        prop::collection::vec((top_key, value), 0..7).prop_map(|members| {
            let members: Vec<String> =
                members.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", members.join(","))
        })
    }

    proptest::proptest! {
        /// Same verdict, same registered claims and same claims as the two passes it replaces.
        #[test]
        fn agrees_with_the_two_passes(json in json_text()) {
            let json = json.as_bytes();
            proptest::prop_assert_eq!(one_pass::<Value>(json), two_passes::<Value>(json));
            proptest::prop_assert_eq!(one_pass::<Typed>(json), two_passes::<Typed>(json));
            proptest::prop_assert_eq!(
                one_pass::<HashMap<String, Value>>(json),
                two_passes::<HashMap<String, Value>>(json)
            );
            proptest::prop_assert_eq!(one_pass::<FlatTyped>(json), two_passes::<FlatTyped>(json));
            proptest::prop_assert_eq!(
                one_pass::<Option<Typed>>(json),
                two_passes::<Option<Typed>>(json)
            );
            proptest::prop_assert_eq!(
                one_pass::<IgnoredAny>(json).map(|(_, found)| found),
                two_passes::<IgnoredAny>(json).map(|(_, found)| found)
            );
        }
    }
}
