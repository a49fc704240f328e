//! [`crate::JwtAuth::explain`]: the verification sequence of `verify` with the outcome of
//! every check reported, not only the first refusal. "Why was this token refused?" is answered
//! by the same functions that refuse it, so the explanation cannot drift from the verifier.
//! A token `verify` introspects (RFC 7662, see [`crate::TokenKinds`]) is introspected here too.
//!
//! ```
//! use jwt_layer::explain::{Check, Outcome};
//! use jwt_layer::{JwtAuth, keys::StaticKeys};
//!
//! # #[derive(serde::Deserialize)] struct MyClaims {}
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::hmac([7u8; 32])?)
//!     .issuer("https://login.example")
//!     .audience("my-api")
//!     .build()?;
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let explanation = auth.explain("not-a-token").await;
//! assert!(explanation.verdict().is_err());
//! assert!(matches!(explanation.outcome(Check::Shape), Some(Outcome::Failed(_))));
//! for step in explanation.steps() {
//!     println!("{:<16} {}", step.check, step.outcome);
//! }
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::check::Check;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::authenticator::Authenticator;
use crate::error::AuthError;
use crate::jose::algorithm::Algorithm;
use crate::jose::header::{DecodeBuffer, TokenHeader, parse_header};
use crate::keys::{KeyLookup, VerifyingKey};
use crate::request::certificate::check_certificate;
use crate::request::rules::{check_binding, check_revocation};
use crate::token::registered::{CLAIM_CHECKS, Registered};
use crate::token::verified::OwnedState;
#[cfg(feature = "remote")]
use crate::token::verified::Verified;
#[cfg(feature = "remote")]
use crate::token::verify::Started;
use crate::token::verify::{
    PAYLOAD_STACK_BYTES, decode_payload, keys_unavailable, read_claims, split, verify_signature,
};

/// What happened at one check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The check passed.
    Passed,
    /// The check refused the token, with the refusal [`crate::JwtAuth::verify`] would give for it.
    Failed(AuthError),
    /// The check could not run; the text says why (an earlier step left nothing to check, or
    /// the configuration does not ask for it).
    Skipped(&'static str),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.pad("passed"),
            Outcome::Failed(err) => f.pad(&format!("FAILED: {err}")),
            Outcome::Skipped(why) => f.pad(&format!("skipped: {why}")),
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Step {
    /// Which check.
    pub check: Check,
    /// What happened.
    pub outcome: Outcome,
}

/// The members of the JOSE header that choose a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderSummary {
    /// `alg`.
    pub alg: Algorithm,
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `typ`, if any.
    pub typ: Option<String>,
}

/// The time claims of a token and the moment it was judged at, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Times {
    /// When the token was judged (the verifier's clock).
    pub now: f64,
    /// `exp`, if the payload could be read.
    pub exp: Option<f64>,
    /// `nbf`, if the payload could be read.
    pub nbf: Option<f64>,
    /// `iat`, if the payload could be read.
    pub iat: Option<f64>,
    /// The configured clock-skew allowance.
    pub leeway: f64,
}

impl Times {
    /// Seconds until `exp` (negative once past).
    pub fn expires_in(&self) -> Option<f64> {
        self.exp.map(|exp| exp - self.now)
    }

    /// Seconds until `nbf` (negative once past).
    pub fn valid_in(&self) -> Option<f64> {
        self.nbf.map(|nbf| nbf - self.now)
    }

    /// Seconds since `iat` (negative for a token issued in the future).
    pub fn age(&self) -> Option<f64> {
        self.iat.map(|iat| self.now - iat)
    }
}

/// Every check of a token's verification, in order, with what it found.
///
/// Made by [`crate::JwtAuth::explain`]. Unlike [`crate::JwtAuth::verify`], which stops at the first
/// refusal, the checks of the payload still run when the signature fails (on claims that are
/// then not authentic), so one look shows every problem.
#[derive(Debug, Clone)]
pub struct Explanation {
    steps: Vec<Step>,
    header: Option<HeaderSummary>,
    header_json: Option<String>,
    payload_json: Option<String>,
    key: Option<VerifyingKey>,
    authentic: bool,
    introspected: bool,
    times: Times,
    dpop_bound: bool,
}

impl Explanation {
    /// The checks in the order they run, each with its outcome.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The outcome of one check, if the sequence has it.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.steps.iter().find(|step| step.check == check).map(|step| &step.outcome)
    }

    /// The refusals found, in order.
    pub fn failures(&self) -> impl Iterator<Item = (Check, &AuthError)> {
        self.steps.iter().filter_map(|step| match &step.outcome {
            Outcome::Failed(err) => Some((step.check, err)),
            _ => None,
        })
    }

    /// What [`crate::JwtAuth::verify`] answers for this token: `Ok` when it accepts it. The checks
    /// run in `verify`'s order, so this is the first refusal found.
    pub fn verdict(&self) -> Result<(), &AuthError> {
        match self.failures().next() {
            Some((_, err)) => Err(err),
            None => Ok(()),
        }
    }

    /// The header's `alg`, `kid` and `typ`, when the header could be parsed.
    pub fn header(&self) -> Option<&HeaderSummary> {
        self.header.as_ref()
    }

    /// The decoded header JSON, as sent, when it is base64url.
    pub fn header_json(&self) -> Option<&str> {
        self.header_json.as_deref()
    }

    /// The decoded payload JSON, as sent, when it is base64url. Not authentic unless
    /// [`Explanation::authentic`].
    pub fn payload_json(&self) -> Option<&str> {
        self.payload_json.as_deref()
    }

    /// The key whose signature check passed.
    pub fn key(&self) -> Option<&VerifyingKey> {
        self.key.as_ref()
    }

    /// Whether the signature verified, so the payload is what the issuer signed.
    pub fn authentic(&self) -> bool {
        self.authentic
    }

    /// Whether the token was introspected (RFC 7662) rather than verified as a JWT: then
    /// there is no header, payload text or key, and [`Check::Introspection`] carries the
    /// verdict on the authorization server's answer.
    pub fn introspected(&self) -> bool {
        self.introspected
    }

    /// `exp`, `nbf`, `iat` and the moment of judgement.
    pub fn times(&self) -> &Times {
        &self.times
    }

    /// Whether the token is bound to a DPoP key (`cnf.jkt`): usable only with a proof.
    pub fn dpop_bound(&self) -> bool {
        self.dpop_bound
    }
}

/// Collects steps in order.
struct Steps(Vec<Step>);

impl Steps {
    fn push(&mut self, check: Check, outcome: Outcome) {
        self.0.push(Step { check, outcome });
    }

    fn result(&mut self, check: Check, result: Result<(), AuthError>) -> bool {
        let passed = result.is_ok();
        self.push(check, result.map_or_else(Outcome::Failed, |()| Outcome::Passed));
        passed
    }

    fn skip(&mut self, checks: &[Check], why: &'static str) {
        for &check in checks {
            self.push(check, Outcome::Skipped(why));
        }
    }
}

/// The checks of a compact JWS before its payload, in order: a token introspected instead
/// goes through none of them.
const JWS_ONLY: [Check; 5] =
    [Check::Shape, Check::Header, Check::IssuerRoute, Check::Key, Check::Signature];

/// The checks after the signature, in order.
const CLAIMS_ONWARD: [Check; 13] = [
    Check::Payload,
    Check::Expiry,
    Check::NotBefore,
    Check::Issuer,
    Check::Audience,
    Check::RequiredClaims,
    Check::Confirmation,
    Check::ClaimsType,
    Check::TokenType,
    Check::Validators,
    Check::Grants,
    Check::Binding,
    Check::Revocation,
];

/// Why a check did not run on a token that was introspected.
#[cfg(feature = "remote")]
const NOT_A_JWS: &str = "introspected, not verified as a JWT";

impl<C: DeserializeOwned + Send + Sync + 'static> Authenticator<C> {
    /// [`crate::JwtAuth::explain`]: the steps of `token` through the sequence `verify` runs.
    pub(crate) async fn explain(&self, token: &str) -> Explanation {
        let at = self.verifier.moment();
        let explanation = Explanation {
            steps: Vec::new(),
            header: None,
            header_json: None,
            payload_json: None,
            key: None,
            authentic: false,
            introspected: false,
            times: Times { now: at.now, exp: None, nbf: None, iat: None, leeway: at.leeway },
            dpop_bound: false,
        };
        // The same choice `verify` makes (`Authenticator::start`).
        #[cfg(feature = "remote")]
        if let Some(introspector) = self.introspector_for(token) {
            let started = crate::introspection::start(introspector, &self.verifier, token);
            let verified = match started {
                Started::Done(result) => result,
                Started::Pending(future) => future.await,
            };
            return self.explain_introspected(verified, explanation).await;
        }
        self.explain_jws(token, explanation).await
    }

    /// The introspection's verdict as steps. The answer's members are judged by the
    /// verifier's own payload checks inside the introspection; only their verdict comes out,
    /// so a refusal is reported on [`Check::Introspection`].
    #[cfg(feature = "remote")]
    async fn explain_introspected(
        &self,
        verified: Result<Verified<C>, AuthError>,
        mut explanation: Explanation,
    ) -> Explanation {
        let mut steps = Steps(Vec::with_capacity(20));
        explanation.introspected = true;
        let verified = match verified {
            Err(err @ AuthError::TokenTooLarge) => {
                steps.result(Check::Size, Err(err));
                steps.skip(&[Check::Introspection], "the token is over the size limit");
                steps.skip(&JWS_ONLY, NOT_A_JWS);
                steps.skip(&CLAIMS_ONWARD, "the token is over the size limit");
                explanation.steps = steps.0;
                return explanation;
            }
            verified => {
                steps.push(Check::Size, Outcome::Passed);
                verified
            }
        };
        let verified = match verified {
            Ok(verified) => verified,
            Err(err) => {
                let why = match err {
                    AuthError::InactiveToken | AuthError::IntrospectionUnavailable => {
                        "no active answer"
                    }
                    _ => "the answer was refused",
                };
                steps.result(Check::Introspection, Err(err));
                steps.skip(&JWS_ONLY, NOT_A_JWS);
                steps.skip(&CLAIMS_ONWARD, why);
                explanation.steps = steps.0;
                return explanation;
            }
        };
        steps.push(Check::Introspection, Outcome::Passed);
        steps.skip(&JWS_ONLY, NOT_A_JWS);
        for check in CLAIMS_ONWARD {
            match check {
                Check::TokenType => steps.push(check, Outcome::Skipped("no header")),
                Check::Validators if self.verifier.validators.is_empty() => {
                    steps.push(check, Outcome::Skipped("no validators"));
                }
                Check::Grants if verified.grants.is_none() => {
                    steps.push(check, Outcome::Skipped("no roles or permissions configured"));
                }
                Check::Binding | Check::Revocation => {}
                _ => steps.push(check, Outcome::Passed),
            }
        }
        explanation.times.exp = verified.exp;
        explanation.times.nbf = verified.nbf;
        explanation.times.iat = verified.state.as_ref().and_then(|state| state.iat);
        explanation.dpop_bound = verified.jkt.is_some();
        let bindings = (verified.jkt.as_deref(), verified.x5t_s256.as_deref());
        self.request_rules(&mut steps, bindings, verified.state.as_deref()).await;
        explanation.steps = steps.0;
        explanation
    }

    /// The steps of a token verified as a compact JWS.
    async fn explain_jws(&self, token: &str, mut explanation: Explanation) -> Explanation {
        let verifier = &self.verifier;
        let at = verifier.moment();
        let mut steps = Steps(Vec::with_capacity(20));
        let introspection_skipped =
            if self.introspects() { "verified as a JWT" } else { "no introspection configured" };
        let segments = match split(token, verifier.max_token_bytes) {
            Ok(segments) => {
                steps.push(Check::Size, Outcome::Passed);
                steps.push(Check::Introspection, Outcome::Skipped(introspection_skipped));
                steps.push(Check::Shape, Outcome::Passed);
                segments
            }
            Err(err @ AuthError::TokenTooLarge) => {
                steps.result(Check::Size, Err(err));
                steps.push(Check::Introspection, Outcome::Skipped(introspection_skipped));
                steps.skip(&[Check::Shape, Check::Header], "the token is over the size limit");
                steps.skip(&[Check::IssuerRoute, Check::Key, Check::Signature], "no header");
                steps.skip(&CLAIMS_ONWARD, "the token is over the size limit");
                explanation.steps = steps.0;
                return explanation;
            }
            Err(err) => {
                steps.push(Check::Size, Outcome::Passed);
                steps.push(Check::Introspection, Outcome::Skipped(introspection_skipped));
                steps.result(Check::Shape, Err(err));
                steps.skip(&JWS_ONLY[1..], "not a compact JWS");
                steps.skip(&CLAIMS_ONWARD, "not a compact JWS");
                explanation.steps = steps.0;
                return explanation;
            }
        };
        explanation.header_json = decoded_text(segments.header);
        let mut stack = [0u8; PAYLOAD_STACK_BYTES];
        let mut heap = Vec::new();
        let payload = decode_payload(segments.payload, &mut stack, &mut heap);
        explanation.payload_json = payload.as_ref().ok().map(|payload| payload.to_string());

        let mut buffer = DecodeBuffer::default();
        let header = parse_header(segments.header, &mut buffer);
        if let Ok(header) = &header {
            explanation.header = Some(summary(header));
        }
        steps.result(Check::Header, header.as_ref().map(|_| ()).map_err(Clone::clone));

        let route = verifier.route(&segments).map(|(route, _)| route);
        match (&route, verifier.by_issuer) {
            (_, false) => steps.push(Check::IssuerRoute, Outcome::Skipped("one issuer")),
            (Ok(_), true) => steps.push(Check::IssuerRoute, Outcome::Passed),
            (Err(err), true) => steps.push(Check::IssuerRoute, Outcome::Failed(err.clone())),
        }

        match (&header, &route) {
            (Ok(header), Ok(route)) => {
                let keys = match verifier.routes[*route].keys.lookup(header) {
                    KeyLookup::Ready(keys) => keys,
                    KeyLookup::Pending(fetch) => fetch.await,
                };
                match keys.map_err(keys_unavailable) {
                    Err(err) => {
                        steps.result(Check::Key, Err(err));
                        steps.skip(&[Check::Signature], "no key");
                    }
                    Ok(keys) => match verify_signature(&keys, header, &segments) {
                        Ok(key) => {
                            steps.push(Check::Key, Outcome::Passed);
                            steps.push(Check::Signature, Outcome::Passed);
                            explanation.key = Some(key.clone());
                            explanation.authentic = true;
                        }
                        Err(err @ AuthError::InvalidSignature) => {
                            steps.push(Check::Key, Outcome::Passed);
                            steps.result(Check::Signature, Err(err));
                        }
                        Err(err) => {
                            steps.result(Check::Key, Err(err));
                            steps.skip(&[Check::Signature], "no key");
                        }
                    },
                }
            }
            (Err(_), _) => steps.skip(&[Check::Key, Check::Signature], "no header"),
            (_, Err(_)) => steps.skip(&[Check::Key, Check::Signature], "no trusted issuer"),
        }

        // The payload's checks run even when the signature failed: its claims are then not
        // authentic, but every problem shows at once.
        let Ok(route) = route else {
            steps.skip(&CLAIMS_ONWARD, "no trusted issuer");
            explanation.steps = steps.0;
            return explanation;
        };
        let rules = &verifier.routes[route].rules;
        let registered =
            payload.and_then(|payload| Ok((payload, Registered::read(payload, rules)?)));
        let (payload, registered) = match registered {
            Ok(read) => {
                steps.push(Check::Payload, Outcome::Passed);
                read
            }
            Err(err) => {
                steps.result(Check::Payload, Err(err));
                steps.skip(&CLAIMS_ONWARD[1..], "the payload could not be read");
                explanation.steps = steps.0;
                return explanation;
            }
        };
        explanation.times.exp = registered.exp;
        explanation.times.nbf = registered.nbf;
        explanation.times.iat = registered.iat;
        explanation.dpop_bound = registered.jkt.is_some();
        for (check, rule) in CLAIM_CHECKS {
            match check {
                Check::Issuer if rules.issuers.is_empty() => {
                    steps.push(check, Outcome::Skipped("any issuer accepted"));
                }
                Check::Audience if rules.audiences.is_empty() => {
                    steps.push(check, Outcome::Skipped("any audience accepted"));
                }
                _ => _ = steps.result(check, rule(&registered, rules, at)),
            }
        }
        let claims = read_claims::<C>(payload);
        steps.result(Check::ClaimsType, claims.as_ref().map(|_| ()).map_err(Clone::clone));
        match &header {
            Ok(header) if verifier.typ.is_some() => {
                steps.result(Check::TokenType, verifier.check_type(header));
            }
            Ok(_) => steps.push(Check::TokenType, Outcome::Skipped("no type required")),
            Err(_) => steps.push(Check::TokenType, Outcome::Skipped("no header")),
        }
        match (&claims, verifier.validators.is_empty()) {
            (_, true) => steps.push(Check::Validators, Outcome::Skipped("no validators")),
            (Ok(claims), false) => {
                steps.result(Check::Validators, verifier.run_validators(claims));
            }
            (Err(_), false) => steps.push(Check::Validators, Outcome::Skipped("no claims")),
        }
        match &claims {
            Ok(claims) => match verifier.grants(payload, claims) {
                Ok(None) => {
                    steps.push(
                        Check::Grants,
                        Outcome::Skipped("no roles or permissions configured"),
                    );
                }
                Ok(Some(_)) => steps.push(Check::Grants, Outcome::Passed),
                Err(err) => _ = steps.result(Check::Grants, Err(err)),
            },
            Err(_) => steps.push(Check::Grants, Outcome::Skipped("no claims")),
        }
        let state = OwnedState {
            jti: registered.jti.as_deref().map(str::to_owned),
            sub: registered.sub.as_deref().map(str::to_owned),
            iat: registered.iat,
        };
        let bindings = (registered.jkt.as_deref(), registered.x5t_s256.as_deref());
        self.request_rules(&mut steps, bindings, Some(&state)).await;
        explanation.steps = steps.0;
        explanation
    }

    /// The request-level rules `verify` applies after the token (`request::accept`): the
    /// bindings to a DPoP key and to a client certificate, then revocation. `explain` has no
    /// DPoP proof and no client certificate, as `verify` has none.
    async fn request_rules(
        &self,
        steps: &mut Steps,
        (jkt, x5t_s256): (Option<&str>, Option<&str>),
        state: Option<&OwnedState>,
    ) {
        let binding = check_binding(jkt, None).and_then(|()| check_certificate(x5t_s256, None));
        steps.result(Check::Binding, binding);
        match &self.request.revocation {
            None => steps.push(Check::Revocation, Outcome::Skipped("no revocation store")),
            Some(store) => {
                steps.result(Check::Revocation, check_revocation(store.as_ref(), state).await);
            }
        }
    }

    /// Whether any token may be introspected.
    fn introspects(&self) -> bool {
        #[cfg(feature = "remote")]
        return self.introspection.is_some();
        #[cfg(not(feature = "remote"))]
        false
    }
}

fn summary(header: &TokenHeader<'_>) -> HeaderSummary {
    HeaderSummary {
        alg: header.alg(),
        kid: header.kid().map(str::to_owned),
        typ: header.typ().map(str::to_owned),
    }
}

/// The header's decoded text, when it is strict base64url and UTF-8 (for showing; the header
/// check decodes it into its own buffer).
fn decoded_text(segment: &str) -> Option<String> {
    let mut stack = [0u8; PAYLOAD_STACK_BYTES];
    let mut heap = Vec::new();
    decode_payload(segment, &mut stack, &mut heap).ok().map(str::to_owned)
}
