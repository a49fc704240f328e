//! The bookkeeping of `interop/wycheproof/tests/wycheproof.rs`: a key loaded through several
//! public routes, each
//! vector's verdict held to Wycheproof's, and the counts printed per set and per family.

use std::fmt::Debug;
use std::ops::AddAssign;

use jwt_layer::keys::{KeyError, KeySet, VerifyingKey};
use jwt_layer::{Algorithm, AuthError, TokenHeader};
use wycheproof::TestResult;

/// One vector: a message, its signature (or tag) and Wycheproof's verdict.
pub struct Case<'a> {
    pub tc_id: usize,
    pub result: TestResult,
    pub msg: &'a [u8],
    pub sig: &'a [u8],
}

/// A key as each public route loaded it.
pub type Keys = Vec<(&'static str, Result<VerifyingKey, KeyError>)>;

/// The same key through each route, pinned to one algorithm, each in a `KeySet` of its own.
pub struct Routes {
    alg: Algorithm,
    sets: Vec<(&'static str, KeySet)>,
}

impl Routes {
    /// Each route's verdict: accepted, or refused for the signature. Any other refusal would
    /// mean the key was not selected, a fault of the test rather than a verdict on the vector.
    fn verdicts(&self, case: &Case<'_>) -> Result<Vec<(&'static str, bool)>, String> {
        let header = TokenHeader::new(self.alg, None);
        let verdict = |(route, keys): &(&'static str, KeySet)| match keys
            .verify_signature(&header, case.msg, case.sig)
        {
            Ok(()) => Ok((*route, true)),
            Err(AuthError::InvalidSignature) => Ok((*route, false)),
            Err(other) => Err(format!("{route} refused before the signature: {other}")),
        };
        self.sets.iter().map(verdict).collect()
    }
}

/// What one test set, or a whole family, came to.
#[derive(Default)]
pub struct Tally {
    pub sets: usize,
    pub groups: usize,
    pub groups_skipped: usize,
    pub vectors: usize,
    pub valid_verified: usize,
    pub invalid_refused: usize,
    pub acceptable_accepted: usize,
    pub acceptable_refused: usize,
    /// Vectors whose key the crate refuses to load (RSA under 2048 bits, short HMAC key).
    pub refused_at_load: usize,
    /// Vectors in a form JWS does not use (truncated tag, DER, other PSS parameters).
    pub refused_for_form: usize,
    pub disagreements: Vec<String>,
}

impl Tally {
    pub fn disagree(&mut self, set: impl Debug, tc_id: usize, why: impl Into<String>) {
        self.disagreements.push(format!("{set:?} tcId {tc_id}: {}", why.into()));
    }

    /// Pins each route's key to `alg`. Every key of an applicable group must load, so a route
    /// that refuses one is a disagreement.
    pub fn routes(
        &mut self,
        set: impl Debug,
        tc_id: usize,
        alg: Algorithm,
        keys: Keys,
    ) -> Option<Routes> {
        let mut sets = Vec::with_capacity(keys.len());
        for (route, key) in keys {
            match key.and_then(|key| key.with_algorithms([alg])) {
                Ok(key) => sets.push((route, KeySet::new([key]))),
                Err(err) => {
                    self.disagree(set, tc_id, format!("{alg} key refused by {route}: {err}"));
                    return None;
                }
            }
        }
        Some(Routes { alg, sets })
    }

    /// Holds every route's verdict to Wycheproof's.
    pub fn check(&mut self, set: impl Debug, routes: &Routes, case: Case<'_>) {
        self.vectors += 1;
        let verdicts = match routes.verdicts(&case) {
            Ok(verdicts) => verdicts,
            Err(why) => return self.disagree(set, case.tc_id, why),
        };
        let accepted = verdicts[0].1;
        if verdicts.iter().any(|(_, verdict)| *verdict != accepted) {
            return self.disagree(set, case.tc_id, format!("routes disagree: {verdicts:?}"));
        }
        match (case.result, accepted) {
            (TestResult::Valid, true) => self.valid_verified += 1,
            (TestResult::Invalid, false) => self.invalid_refused += 1,
            (TestResult::Acceptable, true) => self.acceptable_accepted += 1,
            (TestResult::Acceptable, false) => self.acceptable_refused += 1,
            (TestResult::Valid, false) => self.disagree(set, case.tc_id, "valid, refused"),
            (TestResult::Invalid, true) => self.disagree(set, case.tc_id, "invalid, accepted"),
        }
    }

    /// A vector in a form JWS never produces: every route refuses it, whatever Wycheproof says
    /// of it under its own parameters.
    pub fn check_refused(&mut self, set: impl Debug, routes: &Routes, case: Case<'_>) {
        self.vectors += 1;
        match routes.verdicts(&case) {
            Ok(verdicts) if verdicts.iter().all(|(_, accepted)| !accepted) => {
                self.refused_for_form += 1;
            }
            Ok(verdicts) => self.disagree(set, case.tc_id, format!("accepted: {verdicts:?}")),
            Err(why) => self.disagree(set, case.tc_id, why),
        }
    }

    /// Adds one set's tally to the family's, printing it if any group applied.
    pub fn add_set(&mut self, name: impl Debug, mut set: Tally) {
        if set.groups > 0 {
            set.sets = 1;
            set.print(&format!("{name:?}"));
        }
        *self += set;
    }

    pub fn print(&self, name: &str) {
        eprintln!(
            "{name:<34} {:>2} sets {:>3} groups ({:>3} skipped) {:>4} vectors: {:>3} valid \
             verified, {:>4} invalid refused, acceptable {}/{} accepted/refused, {:>2} refused \
             at load, {:>3} refused for their form, {} disagreements",
            self.sets,
            self.groups,
            self.groups_skipped,
            self.vectors,
            self.valid_verified,
            self.invalid_refused,
            self.acceptable_accepted,
            self.acceptable_refused,
            self.refused_at_load,
            self.refused_for_form,
            self.disagreements.len(),
        );
    }

    /// Prints the family's total and fails on any disagreement.
    pub fn finish(self, family: &str) {
        self.print(&format!("= {family}"));
        for line in &self.disagreements {
            eprintln!("  DISAGREES {line}");
        }
        assert!(self.disagreements.is_empty(), "{family}: disagrees with Wycheproof, see above");
        assert!(self.vectors > 0, "{family}: no vector applied");
    }
}

impl AddAssign<Tally> for Tally {
    fn add_assign(&mut self, set: Tally) {
        self.sets += set.sets;
        self.groups += set.groups;
        self.groups_skipped += set.groups_skipped;
        self.vectors += set.vectors;
        self.valid_verified += set.valid_verified;
        self.invalid_refused += set.invalid_refused;
        self.acceptable_accepted += set.acceptable_accepted;
        self.acceptable_refused += set.acceptable_refused;
        self.refused_at_load += set.refused_at_load;
        self.refused_for_form += set.refused_for_form;
        self.disagreements.extend(set.disagreements);
    }
}
