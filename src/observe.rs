//! Who watches the verification sequence run: [`Silent`] for the layer and
//! [`crate::JwtAuth::verify`] (it records nothing and stops at the first refusal, so its
//! branches compile away), and `explain`'s recorder, which records every outcome and goes on
//! past a refusal wherever later checks can still run. [`Run`] is the ledger the sequence
//! writes each check's result into.

use crate::check::Check;
use crate::error::AuthError;
use crate::jose::algorithm::Algorithm;
use crate::jose::header::TokenHeader;
use crate::keys::VerifyingKey;
use crate::token::registered::Registered;
use crate::token::verify::Segments;

/// What the sequence reports to, besides its verdict. Every method but the two outcome ones
/// does nothing unless overridden: they exist to show what the checks saw.
pub(crate) trait Observer {
    /// Whether the checks go on past a refusal where later ones can still run.
    const EVERY_CHECK: bool;

    /// One check's outcome: `Ok` when it passed, the refusal otherwise.
    fn outcome(&mut self, check: Check, outcome: Result<(), &AuthError>);

    /// A check that did not run, and why.
    fn skipped(&mut self, check: Check, why: &'static str);

    /// The sequence ended here: every check not reached did not run, for this reason.
    fn stopped(&mut self, _why: &'static str) {}

    /// The token has the shape of a compact JWS: its still encoded segments.
    fn segments(&mut self, _segments: &Segments<'_>) {}

    /// The JOSE header, parsed.
    fn header(&mut self, _header: &TokenHeader<'_>) {}

    /// The key whose signature check passed.
    fn key(&mut self, _key: &VerifyingKey) {}

    /// The registered claims, read from the payload or the introspection answer.
    fn registered(&mut self, _registered: &Registered<'_>) {}

    /// The token goes to introspection rather than being verified as a JWT.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    fn introspected(&mut self) {}
}

/// The observer of the layer and `verify`: nothing recorded, the first refusal is the verdict.
pub(crate) struct Silent;

impl Observer for Silent {
    const EVERY_CHECK: bool = false;

    #[inline(always)]
    fn outcome(&mut self, _: Check, _: Result<(), &AuthError>) {}

    #[inline(always)]
    fn skipped(&mut self, _: Check, _: &'static str) {}
}

/// The layer's observer: nothing recorded but the header's `alg`, the label of the
/// verification-time metric, so the header is parsed once, by the sequence. Stops at the first
/// refusal, as [`Silent`] does.
#[derive(Default)]
pub(crate) struct AlgorithmSeen(pub(crate) Option<Algorithm>);

impl Observer for AlgorithmSeen {
    const EVERY_CHECK: bool = false;

    #[inline(always)]
    fn outcome(&mut self, _: Check, _: Result<(), &AuthError>) {}

    #[inline(always)]
    fn skipped(&mut self, _: Check, _: &'static str) {}

    #[inline(always)]
    fn header(&mut self, header: &TokenHeader<'_>) {
        self.0 = Some(header.alg());
    }
}

/// The ledger of one run of the sequence: reports each check to the observer and keeps the
/// first refusal, which is the verdict whoever observes.
pub(crate) struct Run<'o, O> {
    pub(crate) observer: &'o mut O,
    refusal: Option<AuthError>,
}

impl<'o, O: Observer> Run<'o, O> {
    pub(crate) fn new(observer: &'o mut O) -> Self {
        Run { observer, refusal: None }
    }

    /// A check that later ones can do without. Its value when it passed; after a refusal,
    /// `Err` with the first refusal for an observer that stops there, `Ok(None)` for one that
    /// goes on (the refusal is kept as the verdict).
    #[inline(always)]
    pub(crate) fn check<T>(
        &mut self,
        check: Check,
        result: Result<T, AuthError>,
    ) -> Result<Option<T>, AuthError> {
        match result {
            Ok(value) => {
                self.observer.outcome(check, Ok(()));
                Ok(Some(value))
            }
            Err(err) => {
                self.observer.outcome(check, Err(&err));
                if !O::EVERY_CHECK {
                    return Err(err);
                }
                self.refusal.get_or_insert(err);
                Ok(None)
            }
        }
    }

    /// A check that nothing after it can do without: a refusal ends the sequence for every
    /// observer, with the first refusal found; `rest` says why the checks not reached did not
    /// run.
    #[inline(always)]
    pub(crate) fn gate<T>(
        &mut self,
        check: Check,
        result: Result<T, AuthError>,
        rest: &'static str,
    ) -> Result<T, AuthError> {
        match result {
            Ok(value) => {
                self.observer.outcome(check, Ok(()));
                Ok(value)
            }
            Err(err) => {
                self.observer.outcome(check, Err(&err));
                Err(self.stop(err, rest))
            }
        }
    }

    /// Ends the sequence where an earlier check left nothing to go on with: the first refusal
    /// found (`err` if there was none before).
    pub(crate) fn stop(&mut self, err: AuthError, rest: &'static str) -> AuthError {
        self.observer.stopped(rest);
        self.refusal.take().unwrap_or(err)
    }

    /// Ends the sequence after a refusal that [`Run::check`] kept, when the checks not
    /// reached need what that check would have produced.
    pub(crate) fn stop_refused(&mut self, rest: &'static str) -> AuthError {
        self.observer.stopped(rest);
        self.refusal.take().unwrap_or(AuthError::InvalidClaims)
    }

    /// A check that passed.
    #[inline(always)]
    pub(crate) fn passed(&mut self, check: Check) {
        self.observer.outcome(check, Ok(()));
    }

    /// A check that did not run, and why.
    #[inline(always)]
    pub(crate) fn skip(&mut self, check: Check, why: &'static str) {
        self.observer.skipped(check, why);
    }

    /// The verdict once every check ran: `value`, unless a check refused.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, AuthError> {
        match self.refusal {
            Some(err) => Err(err),
            None => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::JwtAuth;
    use crate::keys::StaticKeys;
    use crate::request::rules::Presented;

    fn token(header: &str) -> String {
        use base64::Engine;
        let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        format!("{}.{}.c2ln", b64(header), b64("{}"))
    }

    #[test]
    fn the_algorithm_label_is_read_from_the_header_whatever_its_order() {
        let auth = JwtAuth::<serde_json::Value>::builder()
            .keys(StaticKeys::hmac([7u8; 32]).unwrap())
            .issuer("https://a.example")
            .audience("api")
            .build()
            .unwrap();
        let seen = |token: &str| {
            let (mut seen, presented) = (AlgorithmSeen::default(), Presented::default());
            let run = auth.inner.authenticate(token, &presented, true, &mut seen);
            assert!(run.now_or_never().expect("static keys need no fetch").is_err());
            seen.0
        };
        let cases = [
            (r#"{"alg":"HS256","typ":"JWT"}"#, Some(Algorithm::HS256)),
            (r#"{"alg":"EdDSA"}"#, Some(Algorithm::EdDSA)),
            (r#"{"typ":"JWT","alg":"ES384"}"#, Some(Algorithm::ES384)),
            (r#"{"kid":"k","alg":"RS256"}"#, Some(Algorithm::RS256)),
            (r#"{"alg":"XX999","typ":"JWT"}"#, None),
            (r#"{"alg":"none"}"#, None),
            (r#"{"alg":"hs256"}"#, None),
            (r#"{"alg":"HS2566"}"#, None),
            (r#"{"typ":"JWT"}"#, None),
        ];
        for (header, expected) in cases {
            assert_eq!(seen(&token(header)), expected, "{header}");
        }
        assert_eq!(seen("no-dots"), None);
        assert_eq!(seen("!!.e30.c2ln"), None);
    }
}
