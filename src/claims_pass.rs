//! One pass over the payload: the application's claims type is built while the registered
//! claims are read and checked and every object is checked for duplicate member names.
//!
//! The registered members are intercepted at the payload's own object whether or not the type
//! declares them, so they are checked whatever the type looks like. When the payload's object
//! was not walked to its end as an object (a type that reads it as an enum, for example),
//! no registered claims are returned and the caller must read them with
//! [`Registered::read`].

use std::cell::{Cell, RefCell};

use serde::de::{self, Deserialize, DeserializeSeed, MapAccess};
use serde_json::value::RawValue;

use crate::registered::{Checker, ClaimRules, Member, MemberSeed, Registered};
use crate::strict_deserializer::Strict;

/// What the payload's own object has given so far.
pub(crate) struct TopLevel<'r, 'de> {
    checker: Checker<'r>,
    found: RefCell<Registered<'de>>,
    /// Set when the object was read to its closing brace, so `found` is complete.
    finished: Cell<bool>,
}

impl<'de> TopLevel<'_, 'de> {
    /// Notes a member name; returns the registered member it is, if any.
    pub(crate) fn name(&self, key: &str) -> Option<Member> {
        self.checker.name(key, &mut self.found.borrow_mut())
    }

    pub(crate) fn finish(&self) {
        self.finished.set(true);
    }

    /// Reads and checks a registered member's value, then hands the same value to the type.
    pub(crate) fn member_value<A: MapAccess<'de>, S: DeserializeSeed<'de>>(
        &self,
        member: Member,
        map: &mut A,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        // The value is read twice, so it is taken as text; registered values are short.
        let raw: &'de RawValue = map.next_value()?;
        let mut value = serde_json::Deserializer::from_str(raw.get());
        MemberSeed { member, checker: &self.checker, found: &mut self.found.borrow_mut() }
            .deserialize(&mut value)
            .map_err(de::Error::custom)?;
        let mut value = serde_json::Deserializer::from_str(raw.get());
        seed.deserialize(Strict::nested(&mut value)).map_err(de::Error::custom)
    }
}

/// Builds `C` from `payload` (decoded JSON), reading the registered claims on the way.
///
/// `Ok((claims, None))` means the type did not read the payload as an object: the registered
/// claims still have to be read. Any error leaves the precise reason to [`Registered::read`].
pub(crate) fn read<'de, C: Deserialize<'de>>(
    payload: &'de [u8],
    rules: &ClaimRules,
) -> Result<(C, Option<Registered<'de>>), serde_json::Error> {
    let problem = Cell::new(None);
    let top = TopLevel {
        checker: Checker { rules, problem: &problem },
        found: RefCell::default(),
        finished: Cell::new(false),
    };
    let mut de = serde_json::Deserializer::from_slice(payload);
    let claims = C::deserialize(Strict::top(&mut de, &top))?;
    de.end()?;
    let TopLevel { found, finished, .. } = top;
    Ok((claims, finished.get().then(|| found.into_inner())))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::HashMap;

    use serde::Deserialize;
    use serde::de::{DeserializeOwned, IgnoredAny};
    use serde_json::Value;

    use super::*;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuers: vec!["https://a.example".into()],
            audiences: vec!["api".into()],
            required: vec!["sub".into()],
            require_exp: true,
        }
    }

    fn accepted<C: DeserializeOwned>(json: &str) -> bool {
        read::<C>(json.as_bytes(), &rules()).is_ok()
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
    fn registered_claims_of_the_wrong_type_fail_even_when_the_type_would_take_them() {
        #[derive(Deserialize)]
        struct Loose {
            #[allow(dead_code)]
            exp: Value,
        }
        assert!(!accepted::<Loose>(r#"{"exp":"10"}"#));
        assert!(!accepted::<App>(r#"{"sub":"a","exp":"10"}"#));
        assert!(!accepted::<Value>(r#"{"aud":["api",1]}"#));
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
}
