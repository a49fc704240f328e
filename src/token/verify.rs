//! The checks of a token, one function each, and the configuration they read ([`Verifier`]).
//! They run in the order of the verification sequence, `crate::sequence`, which is the one
//! place that calls them: size and shape ([`split`]) before any decoding, the issuer route,
//! the signature ([`verify_signature`]), the payload ([`decode_payload`]), the claims type
//! ([`read_claims`]), `typ`, the validators and the grants.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::error::AuthError;
use crate::grants::claim_values::GrantSource;
use crate::jose::base64url;
use crate::jose::header::TokenHeader;
use crate::keys::{KeyError, KeyProvider, KeySet, VerifyingKey};
use crate::reason::MalformedReason;
use crate::token::registered::{ClaimRules, Moment};
use crate::token::token_cache::TokenCache;
use crate::token::verified::Grants;

/// A custom check over the typed claims; `Err` carries the public description.
pub(crate) type Validator<C> = Arc<dyn Fn(&C) -> Result<(), Cow<'static, str>> + Send + Sync>;

/// Payload bytes decoded on the stack; typical access tokens fit, longer ones go to the heap.
/// (Every stack buffer is zeroed per request, so they are no larger than they need to be.)
pub(crate) const PAYLOAD_STACK_BYTES: usize = 1024;
/// Signatures decoded on the stack: up to RSA-4096; RSA-8192 goes to the heap.
const SIGNATURE_STACK_BYTES: usize = 512;

/// Everything `JwtAuth` was configured with.
pub(crate) struct Verifier<C> {
    /// One route, or one per trusted issuer (chosen by the token's unverified `iss`).
    pub(crate) routes: Vec<Arc<Route>>,
    pub(crate) by_issuer: bool,
    pub(crate) leeway_secs: f64,
    /// The required `typ`, lower case, without an `application/` prefix.
    pub(crate) typ: Option<Box<str>>,
    pub(crate) max_token_bytes: usize,
    pub(crate) validators: Vec<Validator<C>>,
    /// The layer's verified tokens by hash, when the cache is on.
    pub(crate) cache: Option<TokenCache<C>>,
    /// Whether `jti`/`sub`/`iat` are kept for a revocation check after verification.
    pub(crate) keep_state: bool,
    /// Where roles and permissions are read from, if anywhere.
    pub(crate) roles: GrantSource<C>,
    pub(crate) permissions: GrantSource<C>,
    /// The time source; `None` is the system clock.
    pub(crate) clock: Option<Arc<dyn Clock>>,
}

/// Where a token's keys come from and what its claims must say.
pub(crate) struct Route {
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) rules: ClaimRules,
}

/// The three segments of a compact JWS, still encoded.
pub(crate) struct Segments<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
    /// `header.payload`, the JWS Signing Input (RFC 7515 §5.2).
    pub(crate) signing_input: &'t [u8],
}

impl<C> Verifier<C> {
    /// Step 1: the token is no longer than the cap, before anything else looks at it.
    pub(crate) fn check_size(&self, token: &str) -> Result<(), AuthError> {
        match token.len() > self.max_token_bytes {
            true => Err(AuthError::TokenTooLarge),
            false => Ok(()),
        }
    }

    /// Step 5: picks the route. With several trusted issuers the unverified `iss` only
    /// selects whose keys to try; an unknown issuer is refused here, before any key lookup or
    /// network call. The payload decoded for it is handed on, so it is decoded once. (Tenants
    /// resolved per request are routed by the sequence, from the same unverified `iss`.)
    pub(crate) fn route(
        &self,
        segments: &Segments<'_>,
    ) -> Result<(Arc<Route>, Option<String>), AuthError> {
        if !self.by_issuer {
            return Ok((Arc::clone(&self.routes[0]), None));
        }
        let payload = routing_payload(segments)?;
        let issuer = peek_issuer(&payload)?;
        let route = self
            .routes
            .iter()
            .find(|route| route.rules.issuers.iter().any(|trusted| **trusted == *issuer))
            .ok_or(AuthError::InvalidIssuer)?;
        Ok((Arc::clone(route), Some(payload)))
    }

    /// Step 10: RFC 8725 §3.11 explicit typing, when configured.
    pub(crate) fn check_type(&self, header: &TokenHeader<'_>) -> Result<(), AuthError> {
        match &self.typ {
            Some(required) if !header.typ().is_some_and(|typ| same_media_type(typ, required)) => {
                Err(AuthError::InvalidType)
            }
            _ => Ok(()),
        }
    }

    /// Step 10: the custom validators, in the order they were added.
    pub(crate) fn run_validators(&self, claims: &C) -> Result<(), AuthError> {
        for validator in &self.validators {
            validator(claims).map_err(AuthError::ClaimRejected)?;
        }
        Ok(())
    }

    /// Step 10: roles and permissions. Only services that read them by claim path pay for a
    /// second, untyped parse.
    pub(crate) fn grants(
        &self,
        payload: &str,
        claims: &C,
    ) -> Result<Option<Box<Grants>>, AuthError> {
        let (roles, permissions) = (&self.roles, &self.permissions);
        if !roles.is_configured() && !permissions.is_configured() {
            return Ok(None);
        }
        let document: Option<serde_json::Value> =
            if roles.needs_document() || permissions.needs_document() {
                Some(serde_json::from_str(payload).map_err(|_| AuthError::InvalidClaims)?)
            } else {
                None
            };
        let grants = Grants {
            roles: roles.read(document.as_ref(), claims),
            permissions: permissions.read(document.as_ref(), claims),
        };
        Ok(Some(Box::new(grants)))
    }

    /// The current time from the configured clock.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.as_ref().map_or_else(SystemTime::now, |clock| clock.system_time())
    }

    /// The moment claims are judged at: now, with the configured leeway.
    pub(crate) fn moment(&self) -> Moment {
        Moment { now: seconds_since_epoch(self.now()), leeway: self.leeway_secs }
    }
}

/// The shape, before any decoding. Every byte is checked without an early exit (the loop
/// vectorizes), then the two dots are found with SIMD search; a third dot (JWE has four
/// segments) is refused.
pub(crate) fn split(token: &str) -> Result<Segments<'_>, AuthError> {
    if token.is_empty() {
        return Err(AuthError::Malformed(MalformedReason::EmptyToken));
    }
    let bytes = token.as_bytes();
    if !bytes.iter().fold(true, |ok, &b| ok & in_compact_jws(b)) {
        return Err(AuthError::Malformed(MalformedReason::NotBase64Url));
    }
    let shape = || AuthError::Malformed(MalformedReason::NotThreeSegments);
    let first = memchr::memchr(b'.', bytes).ok_or_else(shape)?;
    let second = memchr::memchr(b'.', &bytes[first + 1..]).ok_or_else(shape)? + first + 1;
    if memchr::memchr(b'.', &bytes[second + 1..]).is_some() {
        return Err(shape());
    }
    let header = &token[..first];
    let payload = &token[first + 1..second];
    if header.is_empty() || payload.is_empty() {
        return Err(AuthError::Malformed(MalformedReason::EmptySegment));
    }
    Ok(Segments {
        header,
        payload,
        signature: &token[second + 1..],
        signing_input: &bytes[..second],
    })
}

/// Whether `b` may appear in a compact JWS: base64url or the separator. Written as range
/// checks rather than a table lookup so a loop over a token vectorizes.
#[inline(always)]
fn in_compact_jws(b: u8) -> bool {
    // `| 0x20` folds ASCII upper case onto lower case and maps no other byte into a..z; `-`,
    // `.`, `/` and the digits are one run of ASCII, `/` excepted.
    ((b | 0x20).wrapping_sub(b'a') < 26) | ((b.wrapping_sub(b'-') < 13) & (b != b'/')) | (b == b'_')
}

/// Step 6 failed: the provider could not supply keys. Logged at WARN by the key source itself
/// (rate-limited there); here only at DEBUG, since every request waiting on it lands here.
pub(crate) fn keys_unavailable(err: KeyError) -> AuthError {
    tracing::debug!(error = %err, "key provider could not supply keys");
    AuthError::KeysUnavailable
}

/// Step 7: the signature, decoded, checked with the keys the set selects for the header;
/// returns the key that verified it.
pub(crate) fn verify_signature<'k>(
    keys: &'k KeySet,
    header: &TokenHeader<'_>,
    segments: &Segments<'_>,
) -> Result<&'k VerifyingKey, AuthError> {
    let mut stack = [0u8; SIGNATURE_STACK_BYTES];
    let mut heap = Vec::new();
    let signature = base64url::decode_buffered(segments.signature, &mut stack, &mut heap)
        .ok_or(AuthError::InvalidSignature)?;
    keys.verifying_key(header, segments.signing_input, signature)
}

/// The payload, decoded into `stack` when it fits. JSON is UTF-8 (RFC 8259 §8.1; RFC 7519
/// §7.2): checked once here, so the two JSON passes need not check every string again.
pub(crate) fn decode_payload<'b>(
    segment: &str,
    stack: &'b mut [u8; PAYLOAD_STACK_BYTES],
    heap: &'b mut Vec<u8>,
) -> Result<&'b str, AuthError> {
    let bytes = base64url::decode_buffered(segment, stack, heap)
        .ok_or(AuthError::Malformed(MalformedReason::PayloadNotBase64Url))?;
    std::str::from_utf8(bytes)
        .map_err(|_| AuthError::Malformed(MalformedReason::PayloadNotJsonObject))
}

/// Step 9: the application's claims type, by serde_json alone. The strict pass of step 8 has
/// already refused duplicate members at every depth, so serde_json's "last one wins" never
/// gets to choose.
pub(crate) fn read_claims<C: DeserializeOwned>(payload: &str) -> Result<C, AuthError> {
    serde_json::from_str(payload).map_err(|err| {
        tracing::debug!(error = %err, "claims do not fit the application's claims type");
        AuthError::InvalidClaims
    })
}

/// The payload decoded, still unverified, to read the `iss` that chooses a route.
pub(crate) fn routing_payload(segments: &Segments<'_>) -> Result<String, AuthError> {
    let payload = base64url::decode_to_vec(segments.payload)
        .ok_or(AuthError::Malformed(MalformedReason::PayloadNotBase64Url))?;
    String::from_utf8(payload)
        .map_err(|_| AuthError::Malformed(MalformedReason::PayloadNotJsonObject))
}

/// The unverified `iss`, read only to choose whose keys verify the token. serde refuses a
/// duplicated `iss` here; the full strict pass runs after the signature.
pub(crate) fn peek_issuer(payload: &str) -> Result<Cow<'_, str>, AuthError> {
    #[derive(serde::Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        iss: Option<Cow<'a, str>>,
    }
    let peek: Peek<'_> = serde_json::from_str(payload)
        .map_err(|_| AuthError::Malformed(MalformedReason::PayloadNotJsonObject))?;
    peek.iss.ok_or(AuthError::MissingClaim("iss".into()))
}

/// RFC 7515 §4.1.9 and RFC 8725 §3.11: `typ` compares case-insensitively, and the
/// `application/` prefix may be omitted.
pub(crate) fn same_media_type(typ: &str, normalized_required: &str) -> bool {
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    typ.eq_ignore_ascii_case(normalized_required)
}

/// Seconds since the Unix epoch (0 for a clock set before it).
fn seconds_since_epoch(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_lc_rs::hmac;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use futures_util::FutureExt;
    use serde::de::IgnoredAny;
    use serde_json::Value;

    use super::*;
    use crate::JwtAuth;
    use crate::keys::StaticKeys;

    const SECRET: &[u8] = &[7; 32];

    /// An HS256 token over `claims` exactly as written (duplicates and all).
    fn token(claims: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn verify<C: DeserializeOwned + Send + Sync + 'static>(claims: &str) -> Result<C, AuthError> {
        let auth = JwtAuth::<C>::builder()
            .keys(StaticKeys::hmac(SECRET).unwrap())
            .issuer("https://a.example")
            .audience("api")
            .build()
            .unwrap();
        auth.verify(&token(claims)).now_or_never().expect("static keys need no fetch")
    }

    const GOOD: &str = r#""iss":"https://a.example","aud":"api","sub":"u""#;

    #[derive(serde::Deserialize, Debug)]
    struct NoExp {
        #[allow(dead_code)]
        sub: String,
    }

    #[derive(serde::Deserialize, Debug)]
    enum ReadsExpAsAVariant {
        #[serde(rename = "exp")]
        #[allow(dead_code)]
        Exp(Value),
    }

    #[test]
    fn registered_claims_are_checked_whatever_the_claims_type() {
        let expired = format!(r#"{{{GOOD},"exp":1000}}"#);
        assert_eq!(verify::<NoExp>(&expired).unwrap_err(), AuthError::Expired);
        assert_eq!(verify::<Value>(&expired).unwrap_err(), AuthError::Expired);
        assert_eq!(verify::<IgnoredAny>(&expired).unwrap_err(), AuthError::Expired);
        assert_eq!(verify::<Option<NoExp>>(&expired).unwrap_err(), AuthError::Expired);
        assert_eq!(verify::<HashMap<String, Value>>(&expired).unwrap_err(), AuthError::Expired);
        // A type that never reads the payload as an object: the strict pass still reads it.
        assert_eq!(
            verify::<ReadsExpAsAVariant>(r#"{"exp":1000}"#).unwrap_err(),
            AuthError::Expired
        );

        let future = format!(r#"{{{GOOD},"exp":4102444800,"nbf":4102444000}}"#);
        assert_eq!(verify::<IgnoredAny>(&future).unwrap_err(), AuthError::NotYetValid);
        let wrong_issuer = r#"{"iss":"https://b.example","aud":"api","exp":4102444800}"#;
        assert_eq!(verify::<NoExp>(wrong_issuer).unwrap_err(), AuthError::InvalidIssuer);
    }

    #[test]
    fn the_payload_as_raw_json_is_still_checked_strictly() {
        type Raw = Box<serde_json::value::RawValue>;
        let good = format!(r#"{{{GOOD},"exp":4102444800,"o":{{"a":[1,{{"b":2}}]}}}}"#);
        assert_eq!(verify::<Raw>(&good).unwrap().get(), good);
        let expired = format!(r#"{{{GOOD},"exp":1000}}"#);
        assert_eq!(verify::<Raw>(&expired).unwrap_err(), AuthError::Expired);
        for duplicated in [
            format!(r#"{{{GOOD},"exp":4102444800,"exp":4102444800}}"#),
            format!(r#"{{{GOOD},"exp":4102444800,"o":{{"a":[1,{{"b":2,"b":3}}]}}}}"#),
        ] {
            assert!(verify::<Raw>(&duplicated).is_err(), "{duplicated}");
        }
    }

    #[test]
    fn a_registered_claim_of_the_wrong_type_is_named_even_when_the_type_would_take_it() {
        #[derive(serde::Deserialize, Debug)]
        struct Loose {
            #[allow(dead_code)]
            exp: Value,
        }
        let claims = format!(r#"{{{GOOD},"exp":"4102444800"}}"#);
        assert_eq!(
            verify::<Loose>(&claims).unwrap_err(),
            AuthError::InvalidClaimType(crate::reason::RegisteredClaim::Exp)
        );
        let claims = format!(r#"{{{GOOD},"exp":4102444800}}"#);
        assert!(verify::<Loose>(&claims).is_ok());
    }

    #[test]
    fn refusals_are_named_as_before() {
        let good = format!(r#"{{{GOOD},"exp":4102444800}}"#);
        assert!(verify::<NoExp>(&good).is_ok());
        let cases = [
            (
                format!(r#"{{{GOOD},"exp":4102444800,"sub":"v"}}"#),
                AuthError::Malformed(MalformedReason::DuplicateClaim),
            ),
            (
                format!(r#"{{{GOOD},"exp":4102444800,"o":{{"a":1,"a":2}}}}"#),
                AuthError::Malformed(MalformedReason::DuplicateClaim),
            ),
            // The claims type does not fit: reported after the registered claims.
            (
                r#"{"iss":"https://a.example","aud":"api","exp":4102444800}"#.to_owned(),
                AuthError::InvalidClaims,
            ),
            (
                r#"{"iss":"https://a.example","exp":4102444800}"#.to_owned(),
                AuthError::MissingClaim("aud".into()),
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(verify::<NoExp>(&claims).unwrap_err(), expected, "{claims}");
        }
    }

    #[test]
    fn media_types_compare_like_rfc_8725_says() {
        assert!(same_media_type("at+jwt", "at+jwt"));
        assert!(same_media_type("application/AT+JWT", "at+jwt"));
        assert!(same_media_type("At+Jwt", "at+jwt"));
        assert!(!same_media_type("JWT", "at+jwt"));
        assert!(!same_media_type("application/", "at+jwt"));
    }

    #[test]
    fn the_compact_jws_alphabet_is_base64url_and_the_dot() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
            assert_eq!(in_compact_jws(b), expected, "byte {b:#04x}");
        }
    }
}
