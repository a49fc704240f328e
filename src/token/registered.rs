//! The registered claims: how each one is read and checked.
//!
//! The checks make the payload trustworthy: no duplicate member names at any depth,
//! `exp`/`nbf`/`iat` as JSON numbers (RFC 7519 §2 NumericDate), `iss` and `aud` as strings
//! (borrowed unless escaped), `scope`/`scp` kept for [`crate::service::RequireScope`], and
//! `acr` (a string) and `auth_time` (a NumericDate) kept for [`crate::service::RequireStepUp`].
//! [`Registered::read`] is one strict pass over the payload, run after the signature verified
//! and before the application's claims type is built; it reads and refuses, but compares
//! nothing with the configuration: the rules over what it found are [`CLAIM_CHECKS`], applied
//! in that order (`iss` and `aud` are decided there, by their own checks).

use std::borrow::Cow;
use std::sync::Arc;

use crate::check::Check;
use crate::error::AuthError;
use crate::grants::authentication::Authentication;
use crate::jose::json_reader::{JsonError, JsonReader, ValueKind};
use crate::jose::member_names::SeenKeys;
use crate::reason::{MalformedReason, RegisteredClaim};
use crate::resource::identifier::names_resource;

/// What the configuration asks of the registered claims.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    /// Accepted issuers; empty means any (an explicit opt-out in the builder).
    pub(crate) issuers: Vec<Box<str>>,
    /// Accepted audiences; empty means any (an explicit opt-out in the builder).
    pub(crate) audiences: Vec<Box<str>>,
    /// The resource identifier's canonical form (also among `audiences`), which an `aud`
    /// value names after canonicalization too (RFC 8707, [`crate::resource::identifier`]).
    pub(crate) resource: Option<Box<str>>,
    /// Further claims that must be present (by top-level member name).
    pub(crate) required: Vec<Box<str>>,
    /// Claims that must be present with exactly this string value (a tenant's own, such as
    /// Entra ID's `tid`); never a claim of [`RegisteredClaim`]. At most 64.
    pub(crate) required_values: Vec<(Box<str>, Box<str>)>,
    pub(crate) require_exp: bool,
    /// `cnf.x5t#S256` is read, to be checked against the request's client certificate
    /// (RFC 8705 §3); otherwise it is a confirmation method this crate does not check.
    pub(crate) certificate_bound: bool,
}

/// What the pass found; strings borrow from the payload where they have no escapes.
#[derive(Debug, Default, PartialEq)]
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
    /// `iss`, as received; compared in [`CLAIM_CHECKS`].
    pub(crate) iss: Option<Cow<'a, str>>,
    /// `aud`, as received; compared in [`CLAIM_CHECKS`].
    pub(crate) aud: Option<Audience<'a>>,
    /// One bit per entry of `ClaimRules::required`.
    pub(crate) required_seen: u64,
    /// One bit per entry of `ClaimRules::required_values` present with its value, and one per
    /// entry present with another value (or not a string).
    pub(crate) values_matched: u64,
    pub(crate) values_wrong: u64,
    /// `scope` (space-delimited) or `scp` (array, joined with spaces), as received.
    pub(crate) scope: Option<Cow<'a, str>>,
    /// `acr` (RFC 9470 §4), as received.
    pub(crate) acr: Option<Cow<'a, str>>,
    /// `auth_time` (RFC 9470 §4), as received.
    pub(crate) auth_time: Option<f64>,
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, PartialEq)]
pub(crate) enum Audience<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Audience<'a> {
    /// Every audience the token names.
    fn values(&self) -> &[Cow<'a, str>] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }
}

impl<'a> Registered<'a> {
    /// `acr` and `auth_time`, for the step-up route requirements; `None` when the token has
    /// neither (the common case costs no allocation).
    pub(crate) fn authentication(&self) -> Option<Arc<Authentication>> {
        if self.acr.is_none() && self.auth_time.is_none() {
            return None;
        }
        Some(Arc::new(Authentication {
            acr: self.acr.as_deref().map(Box::from),
            auth_time: self.auth_time,
        }))
    }

    /// Reads `payload` (decoded JSON) against `rules`.
    pub(crate) fn read(payload: &'a str, rules: &ClaimRules) -> Result<Registered<'a>, AuthError> {
        let mut json = JsonReader::new(payload);
        let found = read_payload(&mut json, rules).and_then(|found| {
            json.end().map_err(refusal)?;
            Ok(found)
        });
        if let Err(err) = &found {
            tracing::debug!(error = %err, offset = json.offset(), "refused token payload");
        }
        found
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

/// RFC 7519 §4.1.1, required whenever issuers are configured. A StringOrURI is compared
/// exactly: no case folding or trailing-slash normalisation.
fn check_issuer(found: &Registered<'_>, rules: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    if rules.issuers.is_empty() {
        return Ok(());
    }
    match &found.iss {
        Some(iss) if rules.issuers.iter().any(|trusted| **trusted == **iss) => Ok(()),
        Some(_) => Err(AuthError::InvalidIssuer),
        None => Err(AuthError::MissingClaim("iss".into())),
    }
}

/// RFC 7519 §4.1.3: one of the token's audiences must be configured (or name the configured
/// resource); RFC 8725 §3.9: with an audience configured, a token without `aud` is refused.
fn check_audience(found: &Registered<'_>, rules: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    if rules.audiences.is_empty() {
        return Ok(());
    }
    match &found.aud {
        Some(aud) if aud.values().iter().any(|aud| accepts_audience(rules, aud)) => Ok(()),
        Some(_) => Err(AuthError::InvalidAudience),
        None => Err(AuthError::MissingClaim("aud".into())),
    }
}

/// Claims the configuration requires by name (`require_claims`, the RFC 9068 profile).
fn check_required(found: &Registered<'_>, rules: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    if let Some(missing) = (0..rules.required.len()).find(|i| found.required_seen & (1 << i) == 0) {
        return Err(AuthError::MissingClaim(rules.required[missing].to_string().into()));
    }
    // Claims a tenant requires with a value (`tid` of Entra ID).
    for (i, (name, _)) in rules.required_values.iter().enumerate() {
        if found.values_wrong & (1 << i) != 0 {
            return Err(AuthError::ClaimRejected(format!("{name} does not match").into()));
        }
        if found.values_matched & (1 << i) == 0 {
            return Err(AuthError::MissingClaim(name.to_string().into()));
        }
    }
    Ok(())
}

/// RFC 7800: a token bound by a method this crate does not check (RFC 8705 certificates, a
/// `jwk` or `kid` confirmation) is refused, never taken as a bearer token.
fn check_confirmation(found: &Registered<'_>, _: &ClaimRules, _: Moment) -> Result<(), AuthError> {
    match found.unchecked_confirmation {
        true => Err(AuthError::UnsupportedConfirmation),
        false => Ok(()),
    }
}

impl RegisteredClaim {
    /// Told apart byte by byte (a decision tree on the first letter, then the next), not by a
    /// chain of string comparisons: this runs once per top-level member of every token.
    #[inline]
    fn of(name: &str) -> Option<RegisteredClaim> {
        Some(match *name.as_bytes() {
            [b'e', b'x', b'p'] => RegisteredClaim::Exp,
            [b'n', b'b', b'f'] => RegisteredClaim::Nbf,
            [b'i', b'a', b't'] => RegisteredClaim::Iat,
            [b'i', b's', b's'] => RegisteredClaim::Iss,
            [b'a', b'u', b'd'] => RegisteredClaim::Aud,
            [b's', b'u', b'b'] => RegisteredClaim::Sub,
            [b'j', b't', b'i'] => RegisteredClaim::Jti,
            [b's', b'c', b'o', b'p', b'e'] => RegisteredClaim::Scope,
            [b's', b'c', b'p'] => RegisteredClaim::Scp,
            [b'c', b'n', b'f'] => RegisteredClaim::Cnf,
            [b'a', b'c', b'r'] => RegisteredClaim::Acr,
            [b'a', b'u', b't', b'h', b'_', b't', b'i', b'm', b'e'] => RegisteredClaim::AuthTime,
            _ => return None,
        })
    }
}

/// A refusal of the JSON itself.
fn refusal(err: JsonError) -> AuthError {
    AuthError::Malformed(match err {
        JsonError::Syntax => MalformedReason::PayloadNotJsonObject,
        JsonError::DuplicateMember => MalformedReason::DuplicateClaim,
    })
}

/// Whether `aud` is one of the configured audiences, or names the configured resource.
fn accepts_audience(rules: &ClaimRules, aud: &str) -> bool {
    rules.audiences.iter().any(|a| **a == *aud)
        || rules.resource.as_deref().is_some_and(|r| names_resource(r, aud))
}

/// The whole payload: every member name checked, registered members read.
fn read_payload<'a>(
    json: &mut JsonReader<'a>,
    rules: &ClaimRules,
) -> Result<Registered<'a>, AuthError> {
    if json.peek().map_err(refusal)? != ValueKind::Object {
        return Err(refusal(JsonError::Syntax));
    }
    let mut members = json.begin_object().map_err(refusal)?;
    let mut found = Registered::default();
    let mut names = PayloadNames::default();
    while let Some(name) = json.next_member(&mut members).map_err(refusal)? {
        let valued = rules.required_values.iter().position(|(required, _)| **required == *name);
        let (member, fresh) = names.note(name, rules, &mut found);
        match (member, valued) {
            (Some(member), _) => read_member(json, member, rules, &mut found)?,
            (None, Some(i)) => {
                let expected = &*rules.required_values[i].1;
                let matched = match json.peek().map_err(refusal)? {
                    ValueKind::String => json.string().map_err(refusal)? == expected,
                    _ => {
                        json.skip_value().map_err(refusal)?;
                        false
                    }
                };
                match matched {
                    true => found.values_matched |= 1 << i,
                    false => found.values_wrong |= 1 << i,
                }
            }
            (None, None) => json.skip_value().map_err(refusal)?,
        }
        if !fresh {
            return Err(refusal(JsonError::DuplicateMember));
        }
    }
    Ok(found)
}

/// The top-level member names of a payload seen so far: the members this crate reads told
/// apart by one bit each, the others by name.
#[derive(Default)]
struct PayloadNames<'a> {
    members: u16,
    others: SeenKeys<'a>,
}

impl<'a> PayloadNames<'a> {
    /// Notes `name`, and in `found` whether it is a required claim. Returns the member this
    /// crate reads, if it is one, and whether the name is new in this payload.
    fn note(
        &mut self,
        name: Cow<'a, str>,
        rules: &ClaimRules,
        found: &mut Registered<'a>,
    ) -> (Option<RegisteredClaim>, bool) {
        if let Some(i) = rules.required.iter().position(|required| **required == *name) {
            found.required_seen |= 1 << i;
        }
        let member = RegisteredClaim::of(&name);
        let fresh = match member {
            Some(member) => {
                let bit = 1 << member as u16;
                let fresh = self.members & bit == 0;
                self.members |= bit;
                fresh
            }
            None => self.others.insert(name),
        };
        (member, fresh)
    }
}

/// Reads the value of one registered member into `found`.
fn read_member<'a>(
    json: &mut JsonReader<'a>,
    member: RegisteredClaim,
    rules: &ClaimRules,
    found: &mut Registered<'a>,
) -> Result<(), AuthError> {
    let kind = json.peek().map_err(refusal)?;
    let wrong_type = AuthError::InvalidClaimType(member);
    match (member, kind) {
        (
            RegisteredClaim::Exp
            | RegisteredClaim::Nbf
            | RegisteredClaim::Iat
            | RegisteredClaim::AuthTime,
            ValueKind::Number,
        ) => {
            let value = Some(json.number().map_err(refusal)?);
            match member {
                RegisteredClaim::Exp => found.exp = value,
                RegisteredClaim::Nbf => found.nbf = value,
                RegisteredClaim::AuthTime => found.auth_time = value,
                _ => found.iat = value,
            }
        }
        (RegisteredClaim::Acr, ValueKind::String) => {
            found.acr = Some(json.string().map_err(refusal)?);
        }
        (RegisteredClaim::Iss, ValueKind::String) => {
            found.iss = Some(json.string().map_err(refusal)?)
        }
        // RFC 7519 §4.1.3: a string or an array of strings.
        (RegisteredClaim::Aud, ValueKind::String) => {
            found.aud = Some(Audience::One(json.string().map_err(refusal)?));
        }
        (RegisteredClaim::Aud, ValueKind::Array) => {
            let mut audiences = Vec::new();
            let mut elements = json.begin_array().map_err(refusal)?;
            while json.next_element(&mut elements).map_err(refusal)? {
                if json.peek().map_err(refusal)? != ValueKind::String {
                    return Err(wrong_type);
                }
                audiences.push(json.string().map_err(refusal)?);
            }
            found.aud = Some(Audience::Many(audiences));
        }
        (RegisteredClaim::Scope, ValueKind::String) => {
            found.scope = Some(json.string().map_err(refusal)?);
        }
        // `scp`: an array of strings (or, from some providers, one space-delimited string).
        // `scope` wins when both are present, in either order.
        (RegisteredClaim::Scp, ValueKind::String) => {
            let scp = json.string().map_err(refusal)?;
            found.scope.get_or_insert(scp);
        }
        (RegisteredClaim::Scp, ValueKind::Array) => {
            let mut joined = String::new();
            let mut elements = json.begin_array().map_err(refusal)?;
            while json.next_element(&mut elements).map_err(refusal)? {
                if json.peek().map_err(refusal)? != ValueKind::String {
                    return Err(wrong_type);
                }
                push_scope(&mut joined, &json.string().map_err(refusal)?);
            }
            found.scope.get_or_insert(Cow::Owned(joined));
        }
        (RegisteredClaim::Jti, ValueKind::String) => {
            found.jti = Some(json.string().map_err(refusal)?)
        }
        (RegisteredClaim::Sub, ValueKind::String) => {
            found.sub = Some(json.string().map_err(refusal)?)
        }
        (RegisteredClaim::Cnf, ValueKind::Object) => read_confirmation(json, rules, found)?,
        _ => return Err(wrong_type),
    }
    Ok(())
}

/// `cnf` (RFC 7800 §3.1), an object: `jkt` is read if present, `x5t#S256` too when
/// certificate-bound tokens are on, and any other member is noted as a confirmation method
/// this crate cannot check. Every member is checked for duplicates.
fn read_confirmation<'a>(
    json: &mut JsonReader<'a>,
    rules: &ClaimRules,
    found: &mut Registered<'a>,
) -> Result<(), AuthError> {
    let mut members = json.begin_object().map_err(refusal)?;
    let mut seen = SeenKeys::default();
    while let Some(name) = json.next_member(&mut members).map_err(refusal)? {
        let thumbprint = if name == "jkt" {
            Some(&mut found.jkt)
        } else if name == "x5t#S256" && rules.certificate_bound {
            Some(&mut found.x5t_s256)
        } else {
            None
        };
        match thumbprint {
            Some(slot) => {
                if json.peek().map_err(refusal)? != ValueKind::String {
                    return Err(AuthError::InvalidClaimType(RegisteredClaim::Cnf));
                }
                *slot = Some(json.string().map_err(refusal)?);
            }
            None => {
                // `x5t#S256` (RFC 8705), `jwk`, `kid`, `jku`, `jwe` (RFC 7800): a binding
                // this crate does not verify, so the token must not pass as a bearer token.
                found.unchecked_confirmation = true;
                json.skip_value().map_err(refusal)?;
            }
        }
        if !seen.insert(name) {
            return Err(refusal(JsonError::DuplicateMember));
        }
    }
    Ok(())
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
/// space, `"` or `\`, and not empty. Also what a challenge can list of other values, space
/// separated inside a quoted string (RFC 9470's `acr_values`).
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty() && scope.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Moment = Moment { now: 0.0, leeway: 0.0 };

    fn rules() -> ClaimRules {
        ClaimRules {
            issuers: vec!["https://a.example".into()],
            audiences: vec!["api".into()],
            resource: None,
            required: vec!["sub".into()],
            required_values: Vec::new(),
            require_exp: true,
            certificate_bound: false,
        }
    }

    #[test]
    fn a_claim_required_with_a_value_must_have_it() {
        let rules = ClaimRules { required_values: vec![("tid".into(), "t-1".into())], ..rules() };
        let judge = |payload: &str| {
            let found = Registered::read(payload, &rules)?;
            check_required(&found, &rules, Moment { now: 0.0, leeway: 0.0 })
        };
        assert_eq!(judge(r#"{"sub":"u","tid":"t-1"}"#), Ok(()));
        let wrong = Err(AuthError::ClaimRejected("tid does not match".into()));
        assert_eq!(judge(r#"{"sub":"u","tid":"t-2"}"#), wrong);
        assert_eq!(judge(r#"{"sub":"u","tid":["t-1"]}"#), wrong);
        assert_eq!(judge(r#"{"sub":"u"}"#), Err(AuthError::MissingClaim("tid".into())));
        assert!(judge(r#"{"sub":"u","tid":"t-1","tid":"t-1"}"#).is_err());
    }

    #[test]
    fn reads_the_registered_claims() {
        let found = Registered::read(
            r#"{"iss":"https://a.example","aud":["x","api"],"exp":10,"nbf":1.5,"sub":"u","scp":["a","b"]}"#,
            &rules(),
        )
        .unwrap();
        assert_eq!(found.iss.as_deref(), Some("https://a.example"));
        assert_eq!(found.aud, Some(Audience::Many(vec!["x".into(), "api".into()])));
        assert_eq!(check_issuer(&found, &rules(), AT), Ok(()));
        assert_eq!(check_audience(&found, &rules(), AT), Ok(()));
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
        assert_eq!(check_issuer(&found, &rules(), AT), Err(AuthError::InvalidIssuer));
        let escaped = Registered::read(r#"{"iss":"https:\/\/a.example"}"#, &rules()).unwrap();
        assert_eq!(check_issuer(&escaped, &rules(), AT), Ok(()));
    }

    #[test]
    fn issuer_and_audience_are_decided_by_their_checks() {
        let read = |json| Registered::read(json, &rules()).unwrap();
        let cases = [
            (r#"{"iss":"https://a.example","aud":"api"}"#, Ok(()), Ok(())),
            (
                r#"{"iss":"https://b.example","aud":"web"}"#,
                Err(AuthError::InvalidIssuer),
                Err(AuthError::InvalidAudience),
            ),
            (
                r#"{"aud":[]}"#,
                Err(AuthError::MissingClaim("iss".into())),
                Err(AuthError::InvalidAudience),
            ),
            (r#"{"aud":["web","api"]}"#, Err(AuthError::MissingClaim("iss".into())), Ok(())),
            (
                r#"{}"#,
                Err(AuthError::MissingClaim("iss".into())),
                Err(AuthError::MissingClaim("aud".into())),
            ),
        ];
        for (json, issuer, audience) in cases {
            let found = read(json);
            assert_eq!(check_issuer(&found, &rules(), AT), issuer, "{json}");
            assert_eq!(check_audience(&found, &rules(), AT), audience, "{json}");
        }
        // Without configured issuers or audiences, any (or none) is accepted.
        let open = ClaimRules { issuers: vec![], audiences: vec![], ..rules() };
        let found = Registered::read(r#"{"iss":"x","aud":"y"}"#, &open).unwrap();
        assert_eq!(check_issuer(&found, &open, AT), Ok(()));
        assert_eq!(check_audience(&Registered::default(), &open, AT), Ok(()));
    }

    #[test]
    fn refuses_wrong_types_and_duplicates() {
        let cases: [(&str, AuthError); 10] = [
            (r#"{"exp":"10"}"#, AuthError::InvalidClaimType(RegisteredClaim::Exp)),
            (r#"{"nbf":null}"#, AuthError::InvalidClaimType(RegisteredClaim::Nbf)),
            (r#"{"iat":true}"#, AuthError::InvalidClaimType(RegisteredClaim::Iat)),
            (r#"{"aud":{"a":1}}"#, AuthError::InvalidClaimType(RegisteredClaim::Aud)),
            (r#"{"aud":["api",1]}"#, AuthError::InvalidClaimType(RegisteredClaim::Aud)),
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
    fn acr_and_auth_time_are_read_strictly() {
        let found = Registered::read(r#"{"acr":"urn:a\/b","auth_time":1700000000}"#, &rules());
        let found = found.unwrap();
        assert_eq!(found.acr.as_deref(), Some("urn:a/b"));
        assert_eq!(found.auth_time, Some(1_700_000_000.0));
        let kept = found.authentication().unwrap();
        assert_eq!((kept.acr.as_deref(), kept.auth_time), (Some("urn:a/b"), Some(1.7e9)));
        assert!(Registered::read(r#"{"sub":"u"}"#, &rules()).unwrap().authentication().is_none());
        let cases = [
            (r#"{"auth_time":"1700000000"}"#, RegisteredClaim::AuthTime),
            (r#"{"auth_time":null}"#, RegisteredClaim::AuthTime),
            (r#"{"acr":1}"#, RegisteredClaim::Acr),
            (r#"{"acr":["phr"]}"#, RegisteredClaim::Acr),
        ];
        for (json, claim) in cases {
            let refused = Registered::read(json, &rules()).unwrap_err();
            assert_eq!(refused, AuthError::InvalidClaimType(claim), "{json}");
        }
        let twice = Registered::read(r#"{"acr":"a","a\u0063r":"b"}"#, &rules()).unwrap_err();
        assert_eq!(twice, AuthError::Malformed(MalformedReason::DuplicateClaim));
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
        assert_eq!(wrong, AuthError::InvalidClaimType(RegisteredClaim::Cnf));
        let other = Registered::read(r#"{"cnf":{"x5t#S256":"a","jwk":{}}}"#, &on_rules).unwrap();
        assert!(other.unchecked_confirmation);
    }
}
