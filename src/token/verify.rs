//! The verification sequence, read top to bottom in [`Verifier::start`] and
//! [`Verifier::check`]:
//!
//! 1. size and shape ([`split`]), before any decoding;
//! 2. the JOSE header ([`parse_header`]), trusted only to pick a key;
//! 3. with several trusted issuers, the route chosen by the unverified `iss`;
//! 4. key lookup through the [`KeyProvider`] (the only step that may wait);
//! 5. the signature, with a key pinned to the header's `alg`;
//! 6. the registered claims: one strict pass ([`Registered::read`], which also refuses
//!    duplicate member names at any depth) then [`CLAIM_CHECKS`];
//! 7. the application's claims type, by `serde_json` alone ([`read_claims`]);
//! 8. the header `typ`, then the custom validators;
//! 9. roles and permissions from the configured claim paths and functions.
//!
//! Nothing in the payload is trusted before step 5 (RFC 8725 §3.1). Request-level rules (DPoP
//! proof and binding, revocation) come after, in `request`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::error::AuthError;
use crate::grants::claim_values::GrantSource;
use crate::jose::base64url;
use crate::jose::header::{DecodeBuffer, TokenHeader, parse_header};
use crate::keys::{KeyError, KeyLookup, KeyProvider, KeySet, VerifyingKey};
use crate::reason::MalformedReason;
use crate::token::registered::{CLAIM_CHECKS, ClaimRules, Moment, Registered};
use crate::token::token_cache::{TokenCache, TokenKey};
use crate::token::verified::{Grants, OwnedState, Verified};

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
    pub(crate) routes: Vec<Route>,
    pub(crate) by_issuer: bool,
    pub(crate) leeway_secs: f64,
    /// The required `typ`, lower case, without an `application/` prefix.
    pub(crate) typ: Option<Box<str>>,
    pub(crate) max_token_bytes: usize,
    pub(crate) validators: Vec<Validator<C>>,
    /// Verified tokens by hash, when the cache is on.
    pub(crate) cache: Option<TokenCache<C>>,
    /// How to copy claims out of the cache for `JwtAuth::verify` (set with the cache).
    pub(crate) clone_claims: Option<fn(&C) -> C>,
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

pub(crate) type PendingVerification<C> =
    Pin<Box<dyn Future<Output = Result<Verified<C>, AuthError>> + Send + 'static>>;

/// Either the verdict (keys were in memory) or a future that fetches keys first.
pub(crate) enum Started<C> {
    Done(Result<Verified<C>, AuthError>),
    Pending(PendingVerification<C>),
}

/// The three segments of a compact JWS, still encoded.
pub(crate) struct Segments<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
    /// `header.payload`, the JWS Signing Input (RFC 7515 §5.2).
    pub(crate) signing_input: &'t [u8],
}

impl<C: DeserializeOwned + Send + Sync + 'static> Verifier<C> {
    /// Steps 1–4; completes at once unless the key provider must fetch. `for_layer`: the
    /// verdict goes into a request, whose route layers read `scope` (`JwtAuth::verify` hands
    /// out the claims alone, so it copies no `scope` unless the cache keeps one).
    pub(crate) fn start(self: &Arc<Self>, token: &str, for_layer: bool) -> Started<C> {
        let keep_scope = for_layer || self.cache.is_some();
        // A cached token matched byte for byte and passed every check when it was verified.
        let cache_key = match &self.cache {
            Some(cache) if token.len() <= self.max_token_bytes => {
                let key = TokenCache::<C>::key(token);
                if let Some(verified) = cache.get(&key, self.moment().now, self.leeway_secs) {
                    return Started::Done(Ok(verified));
                }
                Some(key)
            }
            _ => None,
        };
        let segments = match split(token, self.max_token_bytes) {
            Ok(segments) => segments,
            Err(err) => return Started::Done(Err(err)),
        };
        let mut buffer = DecodeBuffer::default();
        let header = match parse_header(segments.header, &mut buffer) {
            Ok(header) => header,
            Err(err) => return Started::Done(Err(err)),
        };
        let (route, payload) = match self.route(&segments) {
            Ok(routed) => routed,
            Err(err) => return Started::Done(Err(err)),
        };
        match self.routes[route].keys.lookup(&header) {
            KeyLookup::Ready(keys) => {
                let result = self.check(&segments, &header, route, payload, keys, keep_scope);
                Started::Done(self.remember(cache_key, result))
            }
            KeyLookup::Pending(fetch) => {
                // The slow path owns a copy of the token; the fast path above borrows it.
                let verifier = Arc::clone(self);
                let token = token.to_owned();
                Started::Pending(Box::pin(async move {
                    let keys = fetch.await;
                    let mut buffer = DecodeBuffer::default();
                    let segments = split(&token, verifier.max_token_bytes)?;
                    let header = parse_header(segments.header, &mut buffer)?;
                    let result =
                        verifier.check(&segments, &header, route, payload, keys, keep_scope);
                    verifier.remember(cache_key, result)
                }))
            }
        }
    }

    /// Steps 5–9, once the keys are known.
    fn check(
        &self,
        segments: &Segments<'_>,
        header: &TokenHeader<'_>,
        route: usize,
        payload: Option<String>,
        keys: Result<Arc<KeySet>, KeyError>,
        keep_scope: bool,
    ) -> Result<Verified<C>, AuthError> {
        let keys = keys.map_err(keys_unavailable)?;
        verify_signature(&keys, header, segments)?;

        // From here on the payload is authentic.
        let mut stack = [0u8; PAYLOAD_STACK_BYTES];
        let mut heap = Vec::new();
        let payload = match &payload {
            Some(payload) => payload.as_str(),
            None => decode_payload(segments.payload, &mut stack, &mut heap)?,
        };
        self.judge_payload(payload, route, Some(header), keep_scope)
    }

    /// Steps 6 to 9 on an authentic payload (a verified JWS's, or an active introspection
    /// answer's): the registered claims, the claims type, `typ` when there is a header, the
    /// validators and the grants.
    pub(crate) fn judge_payload(
        &self,
        payload: &str,
        route: usize,
        header: Option<&TokenHeader<'_>>,
        keep_scope: bool,
    ) -> Result<Verified<C>, AuthError> {
        let rules = &self.routes[route].rules;
        let registered = Registered::read(payload, rules)?;
        let at = self.moment();
        for (_, check) in CLAIM_CHECKS {
            check(&registered, rules, at)?;
        }
        let claims = read_claims::<C>(payload)?;
        if let Some(header) = header {
            self.check_type(header)?;
        }
        self.run_validators(&claims)?;
        let grants = self.grants(payload, &claims)?;

        let state = self.keep_state.then(|| {
            Box::new(OwnedState {
                jti: registered.jti.as_deref().map(str::to_owned),
                sub: registered.sub.as_deref().map(str::to_owned),
                iat: registered.iat,
            })
        });
        Ok(Verified {
            claims: Arc::new(claims),
            exp: registered.exp,
            nbf: registered.nbf,
            scope: registered.scope.as_deref().filter(|_| keep_scope).map(Arc::from),
            jkt: registered.jkt.map(Cow::into_owned),
            x5t_s256: registered.x5t_s256.map(Cow::into_owned),
            state,
            grants,
        })
    }

    /// Puts a successful verification into the cache, when it is on.
    fn remember(
        &self,
        key: Option<TokenKey>,
        result: Result<Verified<C>, AuthError>,
    ) -> Result<Verified<C>, AuthError> {
        if let (Some(cache), Some(key), Ok(verified)) = (&self.cache, key, &result) {
            cache.insert(key, verified, self.moment().now, self.leeway_secs);
        }
        result
    }
}

impl<C> Verifier<C> {
    /// Step 3: picks the route. With several trusted issuers the unverified `iss` only
    /// selects whose keys to try; an unknown issuer is refused here, before any key lookup or
    /// network call. The payload decoded for it is handed on, so it is decoded once.
    pub(crate) fn route(
        &self,
        segments: &Segments<'_>,
    ) -> Result<(usize, Option<String>), AuthError> {
        if !self.by_issuer {
            return Ok((0, None));
        }
        let payload = base64url::decode_to_vec(segments.payload)
            .ok_or(AuthError::Malformed(MalformedReason::PayloadNotBase64Url))?;
        let payload = String::from_utf8(payload)
            .map_err(|_| AuthError::Malformed(MalformedReason::PayloadNotJsonObject))?;
        let issuer = peek_issuer(&payload)?;
        let index = self
            .routes
            .iter()
            .position(|route| route.rules.issuers.iter().any(|trusted| **trusted == *issuer))
            .ok_or(AuthError::InvalidIssuer)?;
        Ok((index, Some(payload)))
    }

    /// Step 8, first half: RFC 8725 §3.11 explicit typing, when configured.
    pub(crate) fn check_type(&self, header: &TokenHeader<'_>) -> Result<(), AuthError> {
        match &self.typ {
            Some(required) if !header.typ().is_some_and(|typ| same_media_type(typ, required)) => {
                Err(AuthError::InvalidType)
            }
            _ => Ok(()),
        }
    }

    /// Step 8, second half: the custom validators, in the order they were added.
    pub(crate) fn run_validators(&self, claims: &C) -> Result<(), AuthError> {
        for validator in &self.validators {
            validator(claims).map_err(AuthError::ClaimRejected)?;
        }
        Ok(())
    }

    /// Step 9: roles and permissions. Only services that read them by claim path pay for a
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

/// Steps 1 and 2: size, then shape, before any decoding. Every byte is checked without an
/// early exit (the loop vectorizes), then the two dots are found with SIMD search; a third dot
/// (JWE has four segments) is refused.
pub(crate) fn split(token: &str, max_token_bytes: usize) -> Result<Segments<'_>, AuthError> {
    if token.len() > max_token_bytes {
        return Err(AuthError::TokenTooLarge);
    }
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

/// Step 4 failed: the provider could not supply keys. Logged at WARN by the key source itself
/// (rate-limited there); here only at DEBUG, since every request waiting on it lands here.
pub(crate) fn keys_unavailable(err: KeyError) -> AuthError {
    tracing::debug!(error = %err, "key provider could not supply keys");
    AuthError::KeysUnavailable
}

/// Step 5: the signature, decoded, checked with the keys the set selects for the header;
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

/// Step 7: the application's claims type, by serde_json alone. The strict pass of step 6 has
/// already refused duplicate members at every depth, so serde_json's "last one wins" never
/// gets to choose.
pub(crate) fn read_claims<C: DeserializeOwned>(payload: &str) -> Result<C, AuthError> {
    serde_json::from_str(payload).map_err(|err| {
        tracing::debug!(error = %err, "claims do not fit the application's claims type");
        AuthError::InvalidClaims
    })
}

/// The unverified `iss`, read only to choose whose keys verify the token. serde refuses a
/// duplicated `iss` here; the full strict pass runs after the signature.
fn peek_issuer(payload: &str) -> Result<Cow<'_, str>, AuthError> {
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
