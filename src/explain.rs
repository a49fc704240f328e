//! [`crate::JwtAuth::explain`]: the verification sequence of `verify` with the outcome of
//! every check reported, not only the first refusal. "Why was this token refused?" is answered
//! by the same run of the same sequence that refuses it, so the explanation cannot drift from
//! the verifier.
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
use crate::jose::header::TokenHeader;
use crate::keys::VerifyingKey;
use crate::observe::Observer;
use crate::request::rules::Presented;
use crate::token::registered::Registered;
use crate::token::verify::{PAYLOAD_STACK_BYTES, Segments, decode_payload};

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
    verdict: Result<(), AuthError>,
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

    /// What [`crate::JwtAuth::verify`] answers for this token: `Ok` when it accepts it, the
    /// first refusal the sequence met otherwise (the same run of the same checks).
    pub fn verdict(&self) -> Result<(), &AuthError> {
        self.verdict.as_ref().copied()
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

/// `explain`'s observer: each check's outcome in its slot (a check that refused keeps its
/// first refusal), and what the checks saw.
struct Recorder {
    outcomes: [Option<Outcome>; Check::ALL.len()],
    explanation: Explanation,
}

impl Observer for Recorder {
    const EVERY_CHECK: bool = true;

    fn outcome(&mut self, check: Check, outcome: Result<(), &AuthError>) {
        let slot = &mut self.outcomes[check as usize];
        match outcome {
            Err(err) if !matches!(slot, Some(Outcome::Failed(_))) => {
                *slot = Some(Outcome::Failed(err.clone()));
            }
            Err(_) => {}
            Ok(()) => _ = slot.get_or_insert(Outcome::Passed),
        }
    }

    fn skipped(&mut self, check: Check, why: &'static str) {
        self.outcomes[check as usize].get_or_insert(Outcome::Skipped(why));
    }

    fn stopped(&mut self, why: &'static str) {
        for slot in &mut self.outcomes {
            slot.get_or_insert(Outcome::Skipped(why));
        }
    }

    fn segments(&mut self, segments: &Segments<'_>) {
        self.explanation.header_json = decoded_text(segments.header);
        self.explanation.payload_json = decoded_text(segments.payload);
    }

    fn header(&mut self, header: &TokenHeader<'_>) {
        self.explanation.header = Some(HeaderSummary {
            alg: header.alg(),
            kid: header.kid().map(str::to_owned),
            typ: header.typ().map(str::to_owned),
        });
    }

    fn key(&mut self, key: &VerifyingKey) {
        self.explanation.key = Some(key.clone());
        self.explanation.authentic = true;
    }

    fn registered(&mut self, registered: &Registered<'_>) {
        let times = &mut self.explanation.times;
        (times.exp, times.nbf, times.iat) = (registered.exp, registered.nbf, registered.iat);
        self.explanation.dpop_bound = registered.jkt.is_some();
    }

    fn introspected(&mut self) {
        self.explanation.introspected = true;
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> Authenticator<C> {
    /// [`crate::JwtAuth::explain`]: `token` through the verification sequence `verify` runs,
    /// with no DPoP proof and no client certificate (`verify` has none either), every outcome
    /// recorded.
    pub(crate) async fn explain(&self, token: &str) -> Explanation {
        let at = self.verifier.moment();
        let mut recorder = Recorder {
            outcomes: Default::default(),
            explanation: Explanation {
                steps: Vec::new(),
                verdict: Ok(()),
                header: None,
                header_json: None,
                payload_json: None,
                key: None,
                authentic: false,
                introspected: false,
                times: Times { now: at.now, exp: None, nbf: None, iat: None, leeway: at.leeway },
                dpop_bound: false,
            },
        };
        let verdict = self.authenticate(token, &Presented::default(), false, &mut recorder).await;
        let Recorder { outcomes, mut explanation } = recorder;
        explanation.steps = Check::ALL
            .into_iter()
            .zip(outcomes)
            .map(|(check, outcome)| Step {
                check,
                outcome: outcome.unwrap_or(Outcome::Skipped("not reached")),
            })
            .collect();
        explanation.verdict = verdict.map(drop);
        explanation
    }
}

/// A segment's decoded text, when it is strict base64url and UTF-8 (for showing; the checks
/// decode it into their own buffers).
fn decoded_text(segment: &str) -> Option<String> {
    let mut stack = [0u8; PAYLOAD_STACK_BYTES];
    let mut heap = Vec::new();
    decode_payload(segment, &mut stack, &mut heap).ok().map(str::to_owned)
}
