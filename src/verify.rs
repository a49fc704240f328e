//! The verification pipeline: token shape, header, key lookup, signature, then claims.
//!
//! Order matters (RFC 8725 §3.1, §3.11): nothing in the payload is read before the signature
//! has verified, and the header is trusted only to pick a key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::base64url;
use crate::claim_path::{ClaimPath, collect};
use crate::claims_pass;
use crate::error::AuthError;
use crate::header::TokenHeader;
use crate::header_memo;
use crate::keys::{KeyLookup, KeyProvider, KeySet};
use crate::registered::{ClaimRules, Registered};
use crate::token_cache::{TokenCache, TokenKey};

/// A custom check over the typed claims; `Err` carries the public description.
pub(crate) type Validator<C> =
    Arc<dyn Fn(&C) -> Result<(), std::borrow::Cow<'static, str>> + Send + Sync>;

/// Whether `b` may appear in a compact JWS: base64url or the separator. Written as range
/// checks rather than a table lookup so a loop over a token vectorizes.
#[inline(always)]
fn in_compact_jws(b: u8) -> bool {
    // `| 0x20` folds ASCII upper case onto lower case and maps no other byte into a..z.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'_')
        | (b == b'.')
}

/// Payload bytes decoded on the stack; typical access tokens fit.
const PAYLOAD_STACK_BYTES: usize = 2048;
/// The longest signature supported: RSA-8192.
const MAX_SIGNATURE_BYTES: usize = 1024;

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
    pub(crate) role_paths: Vec<ClaimPath>,
    pub(crate) permission_paths: Vec<ClaimPath>,
    /// The time source; `None` is the system clock.
    pub(crate) clock: Option<Clock>,
}

/// A time source for `exp` and `nbf` checks.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Where a token's keys come from and what its claims must say.
pub(crate) struct Route {
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) rules: ClaimRules,
}

/// A token that passed every check.
pub(crate) struct Verified<C> {
    /// Shared with the verified-token cache when it is on.
    pub(crate) claims: Arc<C>,
    /// `exp` and `nbf`, for the cache's re-checks.
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) scope: Option<Arc<str>>,
    /// `cnf.jkt`, when the token is bound to a DPoP key.
    pub(crate) jkt: Option<String>,
    /// `jti`, `sub` and `iat`, kept only when a revocation store will ask for them.
    pub(crate) state: Option<OwnedState>,
    /// Roles and permissions read from the configured claim paths.
    pub(crate) grants: Grants,
}

impl<C> Verified<C> {
    /// A copy sharing the claims (for the cache).
    pub(crate) fn share(&self) -> Verified<C> {
        Verified {
            claims: Arc::clone(&self.claims),
            exp: self.exp,
            nbf: self.nbf,
            scope: self.scope.clone(),
            jkt: self.jkt.clone(),
            state: self.state.clone(),
            grants: self.grants.clone(),
        }
    }
}

/// The owned parts of a token a revocation store looks at.
#[derive(Clone)]
pub(crate) struct OwnedState {
    pub(crate) jti: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) iat: Option<f64>,
}

/// Roles and permissions, when claim paths for them are configured.
#[derive(Default, Clone)]
pub(crate) struct Grants {
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) permissions: Option<Vec<String>>,
}

pub(crate) type PendingVerification<C> =
    Pin<Box<dyn Future<Output = Result<Verified<C>, AuthError>> + Send + 'static>>;

/// Either the verdict (keys were in memory) or a future that fetches keys first.
pub(crate) enum Started<C> {
    Done(Result<Verified<C>, AuthError>),
    Pending(PendingVerification<C>),
}

/// The three segments of a compact JWS, still encoded.
struct Segments<'t> {
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
    /// `header.payload`, the JWS Signing Input (RFC 7515 §5.2).
    signing_input: &'t [u8],
}

impl<C: DeserializeOwned + Send + Sync + 'static> Verifier<C> {
    /// Starts verifying; completes at once unless the key provider must fetch.
    pub(crate) fn start(self: &Arc<Self>, token: &str) -> Started<C> {
        // A cached token matched byte for byte and passed every shape check when it was
        // verified, so the cache is asked before `split` scans the token.
        let cache_key = match &self.cache {
            Some(cache) if token.len() <= self.max_token_bytes => {
                let key = TokenCache::<C>::key(token);
                let now = seconds_since_epoch(self.now());
                if let Some(verified) = cache.get(&key, now, self.leeway_secs) {
                    return Started::Done(Ok(verified));
                }
                Some(key)
            }
            _ => None,
        };
        let segments = match self.split(token) {
            Ok(segments) => segments,
            Err(err) => return Started::Done(Err(err)),
        };
        header_memo::with_header(segments.header, |header| {
            let header = match header {
                Ok(header) => header,
                Err(err) => return Started::Done(Err(err)),
            };
            let (index, payload) = match self.route(&segments) {
                Ok(routed) => routed,
                Err(err) => return Started::Done(Err(err)),
            };
            let route = &self.routes[index];
            match route.keys.lookup(header) {
                KeyLookup::Ready(keys) => {
                    let result = self.finish(&segments, header, route, payload, keys);
                    Started::Done(self.remember(cache_key, result))
                }
                KeyLookup::Pending(fetch) => {
                    // The slow path owns a copy of the token; the fast path above borrows it.
                    let verifier = Arc::clone(self);
                    let token = token.to_owned();
                    Started::Pending(Box::pin(async move {
                        let keys = fetch.await;
                        let segments = verifier.split(&token)?;
                        let result = header_memo::with_header(segments.header, |header| {
                            let route = &verifier.routes[index];
                            verifier.finish(&segments, header?, route, payload, keys)
                        });
                        verifier.remember(cache_key, result)
                    }))
                }
            }
        })
    }

    /// Puts a successful verification into the cache, when it is on.
    fn remember(
        &self,
        key: Option<TokenKey>,
        result: Result<Verified<C>, AuthError>,
    ) -> Result<Verified<C>, AuthError> {
        if let (Some(cache), Some(key), Ok(verified)) = (&self.cache, key, &result) {
            cache.insert(key, verified, seconds_since_epoch(self.now()), self.leeway_secs);
        }
        result
    }

    /// Picks the route. With several trusted issuers the unverified `iss` only selects whose
    /// keys to try; an unknown issuer is refused here, before any key lookup or network call.
    fn route(&self, segments: &Segments<'_>) -> Result<(usize, Option<Vec<u8>>), AuthError> {
        if !self.by_issuer {
            return Ok((0, None));
        }
        let payload = decode_payload(segments.payload)?;
        let issuer = peek_issuer(&payload)?;
        let index = self
            .routes
            .iter()
            .position(|route| route.rules.issuers.iter().any(|trusted| **trusted == *issuer))
            .ok_or(AuthError::InvalidIssuer)?;
        Ok((index, Some(payload)))
    }

    /// Checks size and shape before any decoding.
    fn split<'t>(&self, token: &'t str) -> Result<Segments<'t>, AuthError> {
        if token.len() > self.max_token_bytes {
            return Err(AuthError::TokenTooLarge);
        }
        if token.is_empty() {
            return Err(AuthError::Malformed("empty token"));
        }
        // Every byte checked without an early exit (the loop vectorizes), then the two dots
        // found with SIMD search; a third dot (JWE has four) is refused.
        let bytes = token.as_bytes();
        if !bytes.iter().fold(true, |ok, &b| ok & in_compact_jws(b)) {
            return Err(AuthError::Malformed("token has characters outside base64url"));
        }
        let shape = || AuthError::Malformed("token is not three dot-separated segments");
        let first = memchr::memchr(b'.', bytes).ok_or_else(shape)?;
        let second = memchr::memchr(b'.', &bytes[first + 1..]).ok_or_else(shape)? + first + 1;
        if memchr::memchr(b'.', &bytes[second + 1..]).is_some() {
            return Err(shape());
        }
        let dots = [first, second];
        let header = &token[..dots[0]];
        let payload = &token[dots[0] + 1..dots[1]];
        let signature = &token[dots[1] + 1..];
        if header.is_empty() || payload.is_empty() {
            return Err(AuthError::Malformed("empty header or payload segment"));
        }
        let signing_input = &token.as_bytes()[..header.len() + 1 + payload.len()];
        Ok(Segments { header, payload, signature, signing_input })
    }

    fn finish(
        &self,
        segments: &Segments<'_>,
        header: &TokenHeader<'_>,
        route: &Route,
        payload: Option<Vec<u8>>,
        keys: Result<Arc<KeySet>, crate::keys::KeyError>,
    ) -> Result<Verified<C>, AuthError> {
        let keys = keys.map_err(|err| {
            tracing::warn!(error = %err, "key provider could not supply keys");
            AuthError::KeysUnavailable
        })?;

        let mut signature = [0u8; MAX_SIGNATURE_BYTES];
        let Some(signature) = base64url::decode_into(segments.signature, &mut signature) else {
            return Err(AuthError::InvalidSignature);
        };
        keys.verify_signature(header, segments.signing_input, signature)?;

        // From here on the payload is authentic.
        let mut stack = [0u8; PAYLOAD_STACK_BYTES];
        let mut heap = Vec::new();
        let payload: &[u8] = match &payload {
            Some(payload) => payload,
            None => base64url::decode_buffered(segments.payload, &mut stack, &mut heap)
                .ok_or(AuthError::Malformed("payload is not base64url"))?,
        };
        // One pass builds the claims and reads the registered ones. When it fails, the strict
        // pass of its own names the reason, so refusals are reported in the same order as
        // the checks below: registered claims, then `typ`, then the claims type.
        let (claims, registered) = match claims_pass::read::<C>(payload, &route.rules) {
            Ok((claims, Some(registered))) => (Ok(claims), registered),
            Ok((claims, None)) => (Ok(claims), Registered::read(payload, &route.rules)?),
            Err(err) => {
                tracing::debug!(error = %err, "claims do not fit the application's claims type");
                (Err(AuthError::InvalidClaims), Registered::read(payload, &route.rules)?)
            }
        };
        self.check_registered(&route.rules, &registered)?;
        if let Some(required) = &self.typ
            && !header.typ().is_some_and(|typ| same_media_type(typ, required))
        {
            return Err(AuthError::InvalidType);
        }
        let claims: C = claims?;
        for validator in &self.validators {
            validator(&claims).map_err(AuthError::ClaimRejected)?;
        }
        let grants = if self.role_paths.is_empty() && self.permission_paths.is_empty() {
            Grants::default()
        } else {
            // Only services that read roles pay for this second, untyped parse.
            let document: serde_json::Value =
                serde_json::from_slice(payload).map_err(|_| AuthError::InvalidClaims)?;
            Grants {
                roles: (!self.role_paths.is_empty()).then(|| collect(&document, &self.role_paths)),
                permissions: (!self.permission_paths.is_empty())
                    .then(|| collect(&document, &self.permission_paths)),
            }
        };
        let state = self.keep_state.then(|| OwnedState {
            jti: registered.jti.as_deref().map(str::to_owned),
            sub: registered.sub.as_deref().map(str::to_owned),
            iat: registered.iat,
        });
        Ok(Verified {
            claims: Arc::new(claims),
            exp: registered.exp,
            nbf: registered.nbf,
            scope: registered.scope.as_deref().map(Arc::from),
            jkt: registered.jkt.map(|jkt| jkt.into_owned()),
            state,
            grants,
        })
    }

    fn check_registered(&self, rules: &ClaimRules, found: &Registered) -> Result<(), AuthError> {
        let now =
            seconds_since_epoch(self.clock.as_ref().map_or_else(SystemTime::now, |clock| clock()));
        match found.exp {
            // RFC 7519 §4.1.4: the current time must be before `exp` (plus leeway).
            Some(exp) if now >= exp + self.leeway_secs => return Err(AuthError::Expired),
            None if rules.require_exp => return Err(AuthError::MissingClaim("exp".into())),
            _ => {}
        }
        if found.nbf.is_some_and(|nbf| nbf > now + self.leeway_secs) {
            return Err(AuthError::NotYetValid);
        }
        if !rules.issuers.is_empty() && !found.iss_matched {
            return Err(if found.iss_present {
                AuthError::InvalidIssuer
            } else {
                AuthError::MissingClaim("iss".into())
            });
        }
        // RFC 8725 §3.9: with an audience configured, a token without `aud` is refused.
        if !rules.audiences.is_empty() && !found.aud_matched {
            return Err(if found.aud_present {
                AuthError::InvalidAudience
            } else {
                AuthError::MissingClaim("aud".into())
            });
        }
        if let Some(missing) =
            (0..rules.required.len()).find(|i| found.required_seen & (1 << i) == 0)
        {
            return Err(AuthError::MissingClaim(rules.required[missing].to_string().into()));
        }
        Ok(())
    }
}

fn decode_payload(segment: &str) -> Result<Vec<u8>, AuthError> {
    base64url::decode_to_vec(segment).ok_or(AuthError::Malformed("payload is not base64url"))
}

/// The unverified `iss`, read only to choose whose keys verify the token. serde refuses a
/// duplicated `iss` here; the full strict pass runs after the signature.
fn peek_issuer(payload: &[u8]) -> Result<std::borrow::Cow<'_, str>, AuthError> {
    #[derive(serde::Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        iss: Option<std::borrow::Cow<'a, str>>,
    }
    let peek: Peek<'_> = serde_json::from_slice(payload)
        .map_err(|_| AuthError::Malformed("payload is not a JSON object"))?;
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

impl<C> Verifier<C> {
    /// The current time from the configured clock.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.as_ref().map_or_else(SystemTime::now, |clock| clock())
    }
}

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
        // A type that never reads the payload as an object: the strict pass reads the claims.
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
        assert_eq!(verify::<Loose>(&claims).unwrap_err(), AuthError::InvalidClaimType("exp"));
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
                AuthError::Malformed("duplicate claim"),
            ),
            (
                format!(r#"{{{GOOD},"exp":4102444800,"o":{{"a":1,"a":2}}}}"#),
                AuthError::Malformed("payload is not a JSON object"),
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
