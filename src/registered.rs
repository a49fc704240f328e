//! The registered claims: how each one is read and checked.
//!
//! The checks make the payload trustworthy: no duplicate member names at any depth,
//! `exp`/`nbf`/`iat` as JSON numbers (RFC 7519 §2 NumericDate), `iss` and `aud` compared
//! against the configuration without copying them, and `scope`/`scp` kept for
//! [`crate::RequireScope`]. [`Registered::read`] is one strict pass over the payload, run
//! after the signature verified and before the application's claims type is built; the
//! rules over what it found are [`CLAIM_CHECKS`], applied in that order.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::check::Check;
use crate::error::AuthError;
use crate::reason::MalformedReason;
use crate::resource::names_resource;
use crate::strict_json::{BorrowedStr, MemberName, NoDuplicates, NumericDate, SeenKeys, skip_rest};

/// What the configuration asks of the registered claims.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    /// Accepted issuers; empty means any (an explicit opt-out in the builder).
    pub(crate) issuers: Vec<Box<str>>,
    /// Accepted audiences; empty means any (an explicit opt-out in the builder).
    pub(crate) audiences: Vec<Box<str>>,
    /// The resource identifier's canonical form (also among `audiences`), which an `aud`
    /// value names after canonicalization too (RFC 8707, [`crate::resource`]).
    pub(crate) resource: Option<Box<str>>,
    /// Further claims that must be present (by top-level member name).
    pub(crate) required: Vec<Box<str>>,
    pub(crate) require_exp: bool,
    /// `cnf.x5t#S256` is read, to be checked against the request's client certificate
    /// (RFC 8705 §3); otherwise it is a confirmation method this crate does not check.
    pub(crate) certificate_bound: bool,
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
    /// `cnf.x5t#S256`: the thumbprint of the client certificate a token is bound to (RFC 8705
    /// §3.1), read only when certificate-bound tokens are on.
    pub(crate) x5t_s256: Option<Cow<'a, str>>,
    /// `cnf` names a confirmation method other than `jkt` (for example `x5t#S256`, RFC 8705),
    /// which this crate does not check.
    pub(crate) unchecked_confirmation: bool,
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
    pub(crate) fn read(payload: &'a str, rules: &ClaimRules) -> Result<Registered<'a>, AuthError> {
        let problem = Cell::new(None);
        let checker = Checker { rules, problem: &problem };
        let mut de = serde_json::Deserializer::from_str(payload);
        let result =
            PayloadSeed(&checker).deserialize(&mut de).and_then(|found| de.end().map(|()| found));
        result.map_err(|err| {
            tracing::debug!(error = %err, "refused token payload");
            problem.take().unwrap_or(AuthError::Malformed(MalformedReason::PayloadNotJsonObject))
        })
    }
}

/// The moment a token is judged at, in seconds since the epoch, and the clock-skew allowance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    pub(crate) now: f64,
    pub(crate) leeway: f64,
}

/// One rule over the registered claims.
pub(crate) type ClaimCheck = fn(&Registered<'_>, &ClaimRules, Moment) -> Result<(), AuthError>;

/// The rules over the registered claims, in the order they are applied; verification stops at
/// the first refusal, an explanation reports each.
pub(crate) const CLAIM_CHECKS: [(Check, ClaimCheck); 6] = [
    (Check::Expiry, check_expiry),
    (Check::NotBefore, check_not_before),
    (Check::Issuer, check_issuer),
    (Check::Audience, check_audience),
    (Check::RequiredClaims, check_required),
    (Check::Confirmation, check_confirmation),
];

/// RFC 7519 §4.1.4: the current time must be before `exp` (plus leeway).
fn check_expiry(found: &Registered<'_>, rules: &ClaimRules, at: Moment) -> Result<(), AuthError> {
    match found.exp {
        Some(exp) if at.now >= exp + at.leeway => Err(AuthError::Expired),
        None if rules.require_exp => Err(AuthError::MissingClaim("exp".into())),
        _ => Ok(()),
    }
}

/// RFC 7519 §4.1.5: not before `nbf` (minus leeway).
fn check_not_before(found: &Registered<'_>, _: &ClaimRules, at: Moment) -> Result<(), AuthError> {
    match found.nbf {
        Some(nbf) if nbf > at.now + at.leeway => Err(AuthError::NotYetValid),
        _ => Ok(()),
    }
}

/// RFC 7519 §4.1.1, compared exactly; required whenever issuers are configured.
fn check_issuer(found: &Registered<'_>, rules: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    match (rules.issuers.is_empty(), found.iss_matched, found.iss_present) {
        (true, _, _) | (false, true, _) => Ok(()),
        (false, false, true) => Err(AuthError::InvalidIssuer),
        (false, false, false) => Err(AuthError::MissingClaim("iss".into())),
    }
}

/// RFC 8725 §3.9: with an audience configured, a token without `aud` is refused.
fn check_audience(found: &Registered<'_>, rules: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    match (rules.audiences.is_empty(), found.aud_matched, found.aud_present) {
        (true, _, _) | (false, true, _) => Ok(()),
        (false, false, true) => Err(AuthError::InvalidAudience),
        (false, false, false) => Err(AuthError::MissingClaim("aud".into())),
    }
}

/// Claims the configuration requires by name (`require_claims`, the RFC 9068 profile).
fn check_required(found: &Registered<'_>, rules: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    match (0..rules.required.len()).find(|i| found.required_seen & (1 << i) == 0) {
        Some(missing) => Err(AuthError::MissingClaim(rules.required[missing].to_string().into())),
        None => Ok(()),
    }
}

/// RFC 7800: a token bound by a method this crate does not check (RFC 8705 certificates, a
/// `jwk` or `kid` confirmation) is refused, never taken as a bearer token.
fn check_confirmation(found: &Registered<'_>, _: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    match found.unchecked_confirmation {
        true => Err(AuthError::UnsupportedConfirmation),
        false => Ok(()),
    }
}

/// A top-level member this crate reads itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Exp,
    Nbf,
    Iat,
    Iss,
    Aud,
    Sub,
    Jti,
    Scope,
    Scp,
    Cnf,
}

impl Member {
    /// Told apart byte by byte (a decision tree on the first letter, then the next), not by a
    /// chain of string comparisons: this runs once per top-level member of every token.
    #[inline]
    fn of(name: &str) -> Option<Member> {
        Some(match *name.as_bytes() {
            [b'e', b'x', b'p'] => Member::Exp,
            [b'n', b'b', b'f'] => Member::Nbf,
            [b'i', b'a', b't'] => Member::Iat,
            [b'i', b's', b's'] => Member::Iss,
            [b'a', b'u', b'd'] => Member::Aud,
            [b's', b'u', b'b'] => Member::Sub,
            [b'j', b't', b'i'] => Member::Jti,
            [b's', b'c', b'o', b'p', b'e'] => Member::Scope,
            [b's', b'c', b'p'] => Member::Scp,
            [b'c', b'n', b'f'] => Member::Cnf,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Member::Exp => "exp",
            Member::Nbf => "nbf",
            Member::Iat => "iat",
            Member::Iss => "iss",
            Member::Aud => "aud",
            Member::Sub => "sub",
            Member::Jti => "jti",
            Member::Scope => "scope",
            Member::Scp => "scp",
            Member::Cnf => "cnf",
        }
    }
}

/// The rules, and where the precise reason for a refusal is kept (a serde error carries only
/// text).
struct Checker<'r> {
    rules: &'r ClaimRules,
    problem: &'r Cell<Option<AuthError>>,
}

impl Checker<'_> {
    fn fail<E: de::Error>(&self, problem: AuthError) -> E {
        let text = problem.to_string();
        self.problem.set(Some(problem));
        E::custom(text)
    }

    fn accepts_audience(&self, aud: &str) -> bool {
        self.rules.audiences.iter().any(|a| **a == *aud)
            || self.rules.resource.as_deref().is_some_and(|r| names_resource(r, aud))
    }

    /// Notes a top-level member name for the required claims; returns the member this crate
    /// reads, if it is one.
    #[inline]
    fn name(&self, key: &str, found: &mut Registered<'_>) -> Option<Member> {
        if let Some(i) = self.rules.required.iter().position(|name| **name == *key) {
            found.required_seen |= 1 << i;
        }
        Member::of(key)
    }
}

/// The whole payload: every member name checked, registered members read.
struct PayloadSeed<'c, 'r>(&'c Checker<'r>);

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_, '_> {
    type Value = Registered<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Registered<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed<'_, '_> {
    type Value = Registered<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Registered<'de>, A::Error> {
        let checker = self.0;
        let mut found = Registered::default();
        // The members this crate reads are told apart by one bit each, the others by name.
        let mut members_seen = 0u16;
        let mut seen = SeenKeys::default();
        while let Some(key) = map.next_key_seed(MemberName)? {
            let fresh = match checker.name(&key, &mut found) {
                Some(member) => {
                    map.next_value_seed(MemberSeed { member, checker, found: &mut found })?;
                    let bit = 1 << member as u16;
                    let fresh = members_seen & bit == 0;
                    members_seen |= bit;
                    fresh
                }
                None => {
                    map.next_value_seed(NoDuplicates)?;
                    seen.insert(key)
                }
            };
            if !fresh {
                return Err(checker.fail(AuthError::Malformed(MalformedReason::DuplicateClaim)));
            }
        }
        Ok(found)
    }
}

/// `scp` entries are joined with spaces, as `scope` carries them. An entry that is not one
/// RFC 6749 §3.3 scope-token is ignored: joined with the others, `"read admin"` would come back
/// as two grants, `read` and `admin`.
fn push_scope(joined: &mut String, scope: &str) {
    if !is_scope_token(scope) {
        tracing::debug!("ignored an scp entry that is not one scope-token (RFC 6749 §3.3)");
        return;
    }
    if !joined.is_empty() {
        joined.push(' ');
    }
    joined.push_str(scope);
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: visible ASCII without a
/// space, `"` or `\`, and not empty.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty() && scope.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Reads the value of one registered member into `found`.
struct MemberSeed<'c, 'r, 'f, 'de> {
    member: Member,
    checker: &'c Checker<'r>,
    found: &'f mut Registered<'de>,
}

impl<'de> DeserializeSeed<'de> for MemberSeed<'_, '_, '_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let MemberSeed { member, checker, found } = self;
        let wrong_type = || checker.fail(AuthError::InvalidClaimType(member.name()));
        match member {
            Member::Exp | Member::Nbf | Member::Iat => {
                let value = NumericDate.deserialize(deserializer)?.ok_or_else(wrong_type)?;
                match member {
                    Member::Exp => found.exp = Some(value),
                    Member::Nbf => found.nbf = Some(value),
                    _ => found.iat = Some(value),
                }
            }
            Member::Iss => {
                let iss = BorrowedStr.deserialize(deserializer)?.ok_or_else(wrong_type)?;
                found.iss_present = true;
                // RFC 7519 §4.1.1: StringOrURI compared exactly, no case folding or
                // trailing-slash normalisation.
                found.iss_matched = checker.rules.issuers.iter().any(|i| **i == *iss);
            }
            Member::Aud => {
                found.aud_present = true;
                found.aud_matched = AudienceSeed { checker }.deserialize(deserializer)?;
            }
            Member::Scope => {
                found.scope = Some(BorrowedStr.deserialize(deserializer)?.ok_or_else(wrong_type)?);
            }
            Member::Scp => {
                let scp = ScpSeed { checker }.deserialize(deserializer)?;
                // `scope` wins when both are present, in either order.
                found.scope.get_or_insert(Cow::Owned(scp));
            }
            Member::Jti => {
                found.jti = Some(BorrowedStr.deserialize(deserializer)?.ok_or_else(wrong_type)?);
            }
            Member::Sub => {
                found.sub = Some(BorrowedStr.deserialize(deserializer)?.ok_or_else(wrong_type)?);
            }
            Member::Cnf => {
                let confirmation = ConfirmationSeed { checker }.deserialize(deserializer)?;
                found.jkt = confirmation.jkt;
                found.x5t_s256 = confirmation.x5t_s256;
                found.unchecked_confirmation = confirmation.unchecked;
            }
        }
        Ok(())
    }
}

/// `cnf` (RFC 7800 §3.1): an object; `jkt` is read if present, `x5t#S256` too when
/// certificate-bound tokens are on, and any other member is noted as a confirmation method
/// this crate cannot check. Every member is checked for duplicates.
struct ConfirmationSeed<'c, 'r> {
    checker: &'c Checker<'r>,
}

/// What `cnf` holds.
struct Confirmation<'a> {
    jkt: Option<Cow<'a, str>>,
    x5t_s256: Option<Cow<'a, str>>,
    unchecked: bool,
}

impl<'de> DeserializeSeed<'de> for ConfirmationSeed<'_, '_> {
    type Value = Confirmation<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ConfirmationSeed<'_, '_> {
    type Value = Confirmation<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a confirmation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = SeenKeys::default();
        let mut found = Confirmation { jkt: None, x5t_s256: None, unchecked: false };
        let string = |value: Option<Cow<'de, str>>| {
            value.ok_or_else(|| self.checker.fail(AuthError::InvalidClaimType("cnf")))
        };
        while let Some(key) = map.next_key_seed(MemberName)? {
            if key == "jkt" {
                found.jkt = Some(string(map.next_value_seed(BorrowedStr)?)?);
            } else if key == "x5t#S256" && self.checker.rules.certificate_bound {
                found.x5t_s256 = Some(string(map.next_value_seed(BorrowedStr)?)?);
            } else {
                // `x5t#S256` (RFC 8705), `jwk`, `kid`, `jku`, `jwe` (RFC 7800): a binding this
                // crate does not verify, so the token must not pass as a bearer token.
                found.unchecked = true;
                map.next_value_seed(NoDuplicates)?;
            }
            if !seen.insert(key) {
                return Err(self
                    .checker
                    .fail(AuthError::Malformed(MalformedReason::DuplicateClaim)));
            }
        }
        Ok(found)
    }
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3); true when one value is accepted.
struct AudienceSeed<'c, 'r> {
    checker: &'c Checker<'r>,
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
        Ok(self.checker.accepts_audience(aud))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut matched = false;
        while let Some(aud) = seq.next_element_seed(BorrowedStr)? {
            let aud = aud.ok_or_else(|| self.checker.fail(AuthError::InvalidClaimType("aud")))?;
            matched |= self.checker.accepts_audience(&aud);
        }
        Ok(matched)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<bool, A::Error> {
        Err(self.checker.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("aud")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("aud")))
    }
}

/// `scp`: an array of strings (or, from some providers, one space-delimited string).
struct ScpSeed<'c, 'r> {
    checker: &'c Checker<'r>,
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
                return Err(self.checker.fail(AuthError::InvalidClaimType("scp")));
            };
            push_scope(&mut joined, &scope);
        }
        Ok(joined)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.checker.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("scp")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.checker.fail(AuthError::InvalidClaimType("scp")))
    }
}

/// The rules the unit tests of the claim readers share.
#[cfg(test)]
fn test_rules() -> ClaimRules {
    ClaimRules {
        issuers: vec!["https://a.example".into()],
        audiences: vec!["api".into()],
        resource: None,
        required: vec!["sub".into()],
        require_exp: true,
        certificate_bound: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ClaimRules {
        test_rules()
    }

    #[test]
    fn reads_the_registered_claims() {
        let found = Registered::read(
            r#"{"iss":"https://a.example","aud":["x","api"],"exp":10,"nbf":1.5,"sub":"u","scp":["a","b"]}"#,
            &rules(),
        )
        .unwrap();
        assert!(found.iss_matched && found.aud_matched);
        assert_eq!((found.exp, found.nbf), (Some(10.0), Some(1.5)));
        assert_eq!(found.required_seen, 1);
        assert_eq!(found.scope.as_deref(), Some("a b"));
    }

    #[test]
    fn scp_entries_that_are_not_one_scope_token_are_ignored_rfc6749_3_3() {
        let found = Registered::read(
            r#"{"scp":["read admin","ok","","a\"b","a\\b","tab\there","\u00e9","x\u0000","~!#"]}"#,
            &rules(),
        )
        .unwrap();
        assert_eq!(found.scope.as_deref(), Some("ok ~!#"));
        // A space-delimited `scope` (or `scp` string) is split on spaces as ever.
        let found = Registered::read(r#"{"scp":"read admin"}"#, &rules()).unwrap();
        assert_eq!(found.scope.as_deref(), Some("read admin"));
        for byte in 0..0x80u8 {
            let expected = matches!(byte, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
            let text = char::from(byte).to_string();
            assert_eq!(is_scope_token(&text), expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn issuer_is_compared_exactly() {
        let found = Registered::read(r#"{"iss":"https://a.example/"}"#, &rules()).unwrap();
        assert!(found.iss_present && !found.iss_matched);
    }

    #[test]
    fn refuses_wrong_types_and_duplicates() {
        let cases: [(&str, AuthError); 10] = [
            (r#"{"exp":"10"}"#, AuthError::InvalidClaimType("exp")),
            (r#"{"nbf":null}"#, AuthError::InvalidClaimType("nbf")),
            (r#"{"iat":true}"#, AuthError::InvalidClaimType("iat")),
            (r#"{"aud":{"a":1}}"#, AuthError::InvalidClaimType("aud")),
            (r#"{"aud":["api",1]}"#, AuthError::InvalidClaimType("aud")),
            (r#"{"sub":"a","sub":"b"}"#, AuthError::Malformed(MalformedReason::DuplicateClaim)),
            // The same member escaped otherwise is still the same member.
            (
                r#"{"sub":"a","s\u0075b":"b"}"#,
                AuthError::Malformed(MalformedReason::DuplicateClaim),
            ),
            (r#"{"exp":1,"e\u0078p":1}"#, AuthError::Malformed(MalformedReason::DuplicateClaim)),
            (
                r#"{"n":1,"sub":"a","\u006e":2}"#,
                AuthError::Malformed(MalformedReason::DuplicateClaim),
            ),
            (r#"[1]"#, AuthError::Malformed(MalformedReason::PayloadNotJsonObject)),
        ];
        for (json, expected) in cases {
            assert_eq!(Registered::read(json, &rules()).unwrap_err(), expected);
        }
    }

    #[test]
    fn x5t_s256_is_read_only_when_certificate_bound_tokens_are_on() {
        let payload = r#"{"cnf":{"x5t#S256":"abc"}}"#;
        let off = Registered::read(payload, &rules()).unwrap();
        assert!(off.unchecked_confirmation && off.x5t_s256.is_none());
        let on_rules = ClaimRules { certificate_bound: true, ..rules() };
        let on = Registered::read(payload, &on_rules).unwrap();
        assert!(!on.unchecked_confirmation);
        assert_eq!(on.x5t_s256.as_deref(), Some("abc"));
        let wrong = Registered::read(r#"{"cnf":{"x5t#S256":1}}"#, &on_rules).unwrap_err();
        assert_eq!(wrong, AuthError::InvalidClaimType("cnf"));
        let other = Registered::read(r#"{"cnf":{"x5t#S256":"a","jwk":{}}}"#, &on_rules).unwrap();
        assert!(other.unchecked_confirmation);
    }
}
