//! One strict pass over the payload that reads and checks the registered claims.
//!
//! The application's claims type is parsed afterwards by serde; this pass is what makes the
//! payload trustworthy first: no duplicate member names at any depth, `exp`/`nbf`/`iat` as JSON
//! numbers (RFC 7519 §2 NumericDate), `iss` and `aud` compared against the configuration
//! without copying them, and `scope`/`scp` kept for [`crate::RequireScope`].

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::error::AuthError;
use crate::strict_json::{BorrowedStr, MemberName, NoDuplicates, NumericDate, SeenKeys, skip_rest};

/// What the configuration asks of the registered claims.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    /// Accepted issuers; empty means any (an explicit opt-out in the builder).
    pub(crate) issuers: Vec<Box<str>>,
    /// Accepted audiences; empty means any (an explicit opt-out in the builder).
    pub(crate) audiences: Vec<Box<str>>,
    /// Further claims that must be present (by top-level member name).
    pub(crate) required: Vec<Box<str>>,
    pub(crate) require_exp: bool,
}

/// What the pass found; strings borrow from the payload where they have no escapes.
#[derive(Debug, Default)]
pub(crate) struct Registered<'a> {
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) jti: Option<Cow<'a, str>>,
    pub(crate) sub: Option<Cow<'a, str>>,
    /// `cnf.jkt`: the RFC 7638 thumbprint of the key a DPoP-bound token is bound to (RFC 9449
    /// §6.1).
    pub(crate) jkt: Option<Cow<'a, str>>,
    pub(crate) iss_matched: bool,
    pub(crate) iss_present: bool,
    pub(crate) aud_matched: bool,
    pub(crate) aud_present: bool,
    /// One bit per entry of `ClaimRules::required`.
    pub(crate) required_seen: u64,
    /// `scope` (space-delimited) or `scp` (array, joined with spaces), as received.
    pub(crate) scope: Option<Cow<'a, str>>,
}

impl<'a> Registered<'a> {
    /// Reads `payload` (decoded JSON) against `rules`.
    pub(crate) fn read(payload: &'a [u8], rules: &ClaimRules) -> Result<Registered<'a>, AuthError> {
        let problem = Cell::new(None);
        let mut de = serde_json::Deserializer::from_slice(payload);
        let result = PayloadSeed { rules, problem: &problem }
            .deserialize(&mut de)
            .and_then(|found| de.end().map(|()| found));
        result.map_err(|err| {
            tracing::debug!(error = %err, "refused token payload");
            problem.take().unwrap_or(AuthError::Malformed("payload is not a JSON object"))
        })
    }
}

struct PayloadSeed<'r> {
    rules: &'r ClaimRules,
    problem: &'r Cell<Option<AuthError>>,
}

impl PayloadSeed<'_> {
    fn fail<E: de::Error>(&self, problem: AuthError) -> E {
        let text = problem.to_string();
        self.problem.set(Some(problem));
        E::custom(text)
    }
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Registered<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Registered<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed<'_> {
    type Value = Registered<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Registered<'de>, A::Error> {
        let rules = self.rules;
        let mut found = Registered::default();
        let mut seen = SeenKeys::default();
        while let Some(key) = map.next_key_seed(MemberName)? {
            if let Some(i) = rules.required.iter().position(|name| **name == *key) {
                found.required_seen |= 1 << i;
            }
            match key.as_ref() {
                "exp" | "nbf" | "iat" => {
                    let name: &'static str = match key.as_ref() {
                        "exp" => "exp",
                        "nbf" => "nbf",
                        _ => "iat",
                    };
                    let value = map
                        .next_value_seed(NumericDate)?
                        .ok_or_else(|| self.fail(AuthError::InvalidClaimType(name)))?;
                    match name {
                        "exp" => found.exp = Some(value),
                        "nbf" => found.nbf = Some(value),
                        _ => found.iat = Some(value),
                    }
                }
                "iss" => {
                    let iss = map
                        .next_value_seed(BorrowedStr)?
                        .ok_or_else(|| self.fail(AuthError::InvalidClaimType("iss")))?;
                    found.iss_present = true;
                    // RFC 7519 §4.1.1: StringOrURI compared exactly, no case folding or
                    // trailing-slash normalisation.
                    found.iss_matched = rules.issuers.iter().any(|i| **i == *iss);
                }
                "aud" => {
                    found.aud_present = true;
                    found.aud_matched =
                        map.next_value_seed(AudienceSeed { rules, parent: &self })?;
                }
                "scope" => {
                    let scope = map
                        .next_value_seed(BorrowedStr)?
                        .ok_or_else(|| self.fail(AuthError::InvalidClaimType("scope")))?;
                    found.scope = Some(scope);
                }
                "scp" => {
                    let scp = map.next_value_seed(ScpSeed { parent: &self })?;
                    found.scope.get_or_insert(Cow::Owned(scp));
                }
                "jti" | "sub" => {
                    let name = if key == "jti" { "jti" } else { "sub" };
                    let value = map
                        .next_value_seed(BorrowedStr)?
                        .ok_or_else(|| self.fail(AuthError::InvalidClaimType(name)))?;
                    match name {
                        "jti" => found.jti = Some(value),
                        _ => found.sub = Some(value),
                    }
                }
                "cnf" => {
                    found.jkt = map.next_value_seed(ConfirmationSeed { parent: &self })?;
                }
                _ => map.next_value_seed(NoDuplicates)?,
            }
            if !seen.insert(key) {
                return Err(self.fail(AuthError::Malformed("duplicate claim")));
            }
        }
        Ok(found)
    }
}

/// `cnf` (RFC 7800 §3.1): an object; `jkt` is read if present, every member checked for
/// duplicates.
struct ConfirmationSeed<'r, 'p> {
    parent: &'p PayloadSeed<'r>,
}

impl<'de> DeserializeSeed<'de> for ConfirmationSeed<'_, '_> {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ConfirmationSeed<'_, '_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a confirmation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = SeenKeys::default();
        let mut jkt = None;
        while let Some(key) = map.next_key_seed(MemberName)? {
            if key == "jkt" {
                jkt = Some(
                    map.next_value_seed(BorrowedStr)?
                        .ok_or_else(|| self.parent.fail(AuthError::InvalidClaimType("cnf")))?,
                );
            } else {
                map.next_value_seed(NoDuplicates)?;
            }
            if !seen.insert(key) {
                return Err(self.parent.fail(AuthError::Malformed("duplicate claim")));
            }
        }
        Ok(jkt)
    }
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3); true when one value is accepted.
struct AudienceSeed<'r, 'p> {
    rules: &'r ClaimRules,
    parent: &'p PayloadSeed<'r>,
}

impl<'de> DeserializeSeed<'de> for AudienceSeed<'_, '_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AudienceSeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, aud: &str) -> Result<bool, E> {
        Ok(self.rules.audiences.iter().any(|a| **a == *aud))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut matched = false;
        while let Some(aud) = seq.next_element_seed(BorrowedStr)? {
            let aud = aud.ok_or_else(|| self.parent.fail(AuthError::InvalidClaimType("aud")))?;
            matched |= self.rules.audiences.iter().any(|a| **a == *aud);
        }
        Ok(matched)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<bool, A::Error> {
        Err(self.parent.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("aud")))
    }
}

/// `scp`: an array of strings (or, from some providers, one space-delimited string).
struct ScpSeed<'r, 'p> {
    parent: &'p PayloadSeed<'r>,
}

impl<'de> DeserializeSeed<'de> for ScpSeed<'_, '_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScpSeed<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, scp: &str) -> Result<String, E> {
        Ok(scp.to_owned())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        let mut joined = String::new();
        while let Some(scope) = seq.next_element_seed(BorrowedStr)? {
            let Some(scope) = scope else {
                skip_rest(&mut seq)?;
                return Err(self.parent.fail(AuthError::InvalidClaimType("scp")));
            };
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(&scope);
        }
        Ok(joined)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.parent.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.parent.fail(AuthError::InvalidClaimType("scp")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuers: vec!["https://a.example".into()],
            audiences: vec!["api".into()],
            required: vec!["sub".into()],
            require_exp: true,
        }
    }

    #[test]
    fn reads_the_registered_claims() {
        let found = Registered::read(
            br#"{"iss":"https://a.example","aud":["x","api"],"exp":10,"nbf":1.5,"sub":"u","scp":["a","b"]}"#,
            &rules(),
        )
        .unwrap();
        assert!(found.iss_matched && found.aud_matched);
        assert_eq!((found.exp, found.nbf), (Some(10.0), Some(1.5)));
        assert_eq!(found.required_seen, 1);
        assert_eq!(found.scope.as_deref(), Some("a b"));
    }

    #[test]
    fn issuer_is_compared_exactly() {
        let found = Registered::read(br#"{"iss":"https://a.example/"}"#, &rules()).unwrap();
        assert!(found.iss_present && !found.iss_matched);
    }

    #[test]
    fn refuses_wrong_types_and_duplicates() {
        let cases: [(&[u8], AuthError); 7] = [
            (br#"{"exp":"10"}"#, AuthError::InvalidClaimType("exp")),
            (br#"{"nbf":null}"#, AuthError::InvalidClaimType("nbf")),
            (br#"{"iat":true}"#, AuthError::InvalidClaimType("iat")),
            (br#"{"aud":{"a":1}}"#, AuthError::InvalidClaimType("aud")),
            (br#"{"aud":["api",1]}"#, AuthError::InvalidClaimType("aud")),
            (br#"{"sub":"a","sub":"b"}"#, AuthError::Malformed("duplicate claim")),
            (br#"[1]"#, AuthError::Malformed("payload is not a JSON object")),
        ];
        for (json, expected) in cases {
            assert_eq!(Registered::read(json, &rules()).unwrap_err(), expected);
        }
    }
}
