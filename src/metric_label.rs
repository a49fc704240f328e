//! The class of a refusal as a metric label: one fixed, lower-case word per
//! [`AuthError`] variant, whatever the token or a validator said.

use crate::error::AuthError;

/// The label of each refusal class in metrics, indexed by [`refusal_class`]: snake case, one
/// per [`crate::AuthError`] variant, so a metric's label values stay bounded whatever tokens
/// arrive.
pub(crate) const REFUSAL_LABELS: [&str; 35] = [
    "missing_credentials",
    "invalid_request",
    "token_too_large",
    "malformed",
    "unsupported_algorithm",
    "critical_header",
    "unknown_key",
    "algorithm_not_allowed",
    "keys_unavailable",
    "invalid_signature",
    "expired",
    "not_yet_valid",
    "missing_claim",
    "invalid_claim_type",
    "invalid_issuer",
    "invalid_audience",
    "invalid_type",
    "invalid_claims",
    "claim_rejected",
    "insufficient_scope",
    "insufficient_role",
    "insufficient_permission",
    "revoked",
    "state_unavailable",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "dpop_required",
    "misconfigured",
    "dpop_binding_mismatch",
    "unsupported_confirmation",
    "certificate_binding_mismatch",
    "inactive_token",
    "introspection_unavailable",
    "insufficient_user_authentication",
    "auth_time_in_the_future",
];

/// The index of `err`'s class in [`REFUSAL_LABELS`]. Only the variant counts, never what it
/// carries (a claim name, a validator's text, a nonce).
pub(crate) fn refusal_class(err: &AuthError) -> usize {
    match err {
        AuthError::MissingCredentials => 0,
        AuthError::InvalidRequest(_) => 1,
        AuthError::TokenTooLarge => 2,
        AuthError::Malformed(_) => 3,
        AuthError::UnsupportedAlgorithm => 4,
        AuthError::CriticalHeader => 5,
        AuthError::UnknownKey => 6,
        AuthError::AlgorithmNotAllowed => 7,
        AuthError::KeysUnavailable => 8,
        AuthError::InvalidSignature => 9,
        AuthError::Expired => 10,
        AuthError::NotYetValid => 11,
        AuthError::MissingClaim(_) => 12,
        AuthError::InvalidClaimType(_) => 13,
        AuthError::InvalidIssuer => 14,
        AuthError::InvalidAudience => 15,
        AuthError::InvalidType => 16,
        AuthError::InvalidClaims => 17,
        AuthError::ClaimRejected(_) => 18,
        AuthError::InsufficientScope { .. } => 19,
        AuthError::InsufficientRole => 20,
        AuthError::InsufficientPermission => 21,
        AuthError::Revoked => 22,
        AuthError::StateUnavailable => 23,
        AuthError::InvalidDpopProof(_) => 24,
        AuthError::UseDpopNonce(_) => 25,
        AuthError::DpopRequired => 26,
        AuthError::Misconfigured(_) => 27,
        AuthError::DpopBindingMismatch => 28,
        AuthError::UnsupportedConfirmation => 29,
        AuthError::CertificateBindingMismatch => 30,
        AuthError::InactiveToken => 31,
        AuthError::IntrospectionUnavailable => 32,
        AuthError::InsufficientUserAuthentication { .. } => 33,
        AuthError::AuthTimeInTheFuture => 34,
    }
}

impl AuthError {
    /// The refusal's class as a metric label: the variant in snake case (`"expired"`,
    /// `"invalid_signature"`, `"malformed"`), never anything the token or a validator supplied,
    /// so a label built from it has a fixed, small set of values.
    pub fn metric_label(&self) -> &'static str {
        REFUSAL_LABELS[refusal_class(self)]
    }
}

/// How a key set fetch ended; its label is the `outcome` of
/// `jwt_layer_key_set_fetches_total`.
#[cfg(feature = "remote")]
#[derive(Clone, Copy)]
pub(crate) enum FetchOutcome {
    Fetched,
    NotModified,
    Failed,
}

#[cfg(feature = "remote")]
impl FetchOutcome {
    /// The metric label of the outcome.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn label(self) -> &'static str {
        match self {
            FetchOutcome::Fetched => "fetched",
            FetchOutcome::NotModified => "not_modified",
            FetchOutcome::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::MalformedReason;

    #[test]
    fn metric_labels_are_distinct_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for label in REFUSAL_LABELS {
            assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{label}");
            assert!(seen.insert(label), "{label} twice");
        }
        assert_eq!(AuthError::Expired.metric_label(), "expired");
        let carried = AuthError::ClaimRejected("user text".into());
        assert_eq!(carried.metric_label(), "claim_rejected");
        assert_eq!(AuthError::Malformed(MalformedReason::NoAlg).metric_label(), "malformed");
    }
}
