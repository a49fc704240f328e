//! The request-level rules, applied after a token verified: which scheme carried it, the DPoP
//! proof and its binding to the token, the client certificate a token is bound to, the proof's
//! single use, and revocation. Each rule is written once, here; the verification sequence
//! (`crate::sequence`) applies them in order.

use std::sync::Arc;
use std::time::SystemTime;

use http::Request;

use crate::dpop::{Dpop, DpopMode, Proof, ProofTarget, expected_htus};
use crate::error::{AuthError, Challenge};
use crate::metrics::{Meters, store_error};
use crate::reason::ProofReason;
use crate::request::certificate::CertificateBinding;
use crate::request::extract::{Scheme, TokenSources};
use crate::request::original_uri::original_uri;
use crate::resource::identifier::Resource;
use crate::store::{RevocationStore, TokenState};
use crate::token::verified::OwnedState;
use crate::warn_limit::WarnLimit;

/// How the layer treats requests, beside verifying tokens.
pub(crate) struct RequestRules {
    pub(crate) realm: Arc<str>,
    pub(crate) optional: bool,
    pub(crate) sources: TokenSources,
    pub(crate) dpop: Option<Dpop>,
    /// The public origins proofs' `htu` is checked against (checked by the builder; never
    /// empty when DPoP is on).
    pub(crate) dpop_origins: Vec<url::Url>,
    /// The `algs` of the `DPoP` challenge, when DPoP is on.
    pub(crate) dpop_algs: Option<Arc<str>>,
    pub(crate) revocation: Option<Arc<dyn RevocationStore>>,
    /// The resource identifier (RFC 8707), whose metadata every challenge names.
    pub(crate) resource: Option<Resource>,
    /// The scopes a 401 advertises (space-delimited), when configured.
    pub(crate) challenge_scope: Option<Arc<str>>,
    /// Certificate-bound tokens (RFC 8705 §3), when turned on.
    pub(crate) certificates: Option<CertificateBinding>,
    /// What the layer reports (nothing without the `metrics` feature).
    pub(crate) meters: Meters,
}

/// What a request brings to prove possession of the key a token is bound to.
#[derive(Default)]
pub(crate) struct Presented {
    /// The DPoP proof (RFC 9449 §4), for a DPoP request.
    pub(crate) dpop: Option<DpopInput>,
    /// The thumbprint of the TLS client certificate (RFC 8705 §3.1), when certificate-bound
    /// tokens are on and the request came with one.
    pub(crate) certificate: Option<Arc<str>>,
}

/// What a DPoP request brings besides the token (RFC 9449 §4).
pub(crate) struct DpopInput {
    proof: String,
    method: String,
    /// What the proof's `htu` may be: each public origin plus the request path.
    htus: Vec<String>,
}

impl DpopInput {
    /// The proof, as sent.
    pub(crate) fn proof(&self) -> &str {
        &self.proof
    }

    /// What the proof must name: this request, and `access_token`.
    pub(crate) fn target<'a>(&'a self, access_token: &'a str) -> ProofTarget<'a> {
        ProofTarget { method: &self.method, htus: &self.htus, access_token }
    }
}

impl RequestRules {
    /// What the request brings: its DPoP input (see [`RequestRules::dpop_input`]) and its
    /// client certificate.
    pub(crate) fn presented<B>(
        &self,
        request: &Request<B>,
        scheme: Scheme,
    ) -> Result<Presented, AuthError> {
        Ok(Presented {
            dpop: self.dpop_input(request, scheme)?,
            certificate: self.certificates.as_ref().and_then(|c| c.presented(request)),
        })
    }

    /// The challenge for a refusal of a request that used (or did not use) the DPoP scheme.
    pub(crate) fn challenge(&self, used_dpop: bool) -> Challenge {
        Challenge {
            realm: Arc::clone(&self.realm),
            dpop_algs: self.dpop_algs.clone(),
            dpop_required: self.dpop.as_ref().is_some_and(|d| d.mode == DpopMode::Required),
            used_dpop,
            resource_metadata: self.resource.as_ref().map(|r| Arc::clone(r.metadata_url())),
            scope: self.challenge_scope.clone(),
        }
    }

    /// What the request brings for DPoP (RFC 9449 §4.3, §7.1): `None` for a bearer request
    /// where that is allowed; the proof and the URLs it may name for a DPoP request.
    pub(crate) fn dpop_input<B>(
        &self,
        request: &Request<B>,
        scheme: Scheme,
    ) -> Result<Option<DpopInput>, AuthError> {
        let Some(dpop) = &self.dpop else { return Ok(None) };
        if scheme == Scheme::Bearer {
            // RFC 9449 §7.2: where DPoP is required, a bearer token is not enough.
            return match dpop.mode {
                DpopMode::Required => Err(AuthError::DpopRequired),
                DpopMode::Allowed => Ok(None),
            };
        }
        let mut proofs = request.headers().get_all("dpop").iter();
        let proof = match (proofs.next(), proofs.next()) {
            (Some(proof), None) => proof,
            (None, _) => return Err(AuthError::InvalidDpopProof(ProofReason::Missing)),
            (Some(_), Some(_)) => {
                return Err(AuthError::InvalidDpopProof(ProofReason::Several));
            }
        };
        let proof =
            proof.to_str().map_err(|_| AuthError::InvalidDpopProof(ProofReason::Malformed))?;
        // The origin is configuration, never the `Host` header or the request's authority
        // (RFC 9449 §11.1); only the path comes from the request, as the client called it.
        let path = original_uri(request.uri(), request.extensions()).path();
        let htus = expected_htus(&self.dpop_origins, path)
            .ok_or(AuthError::InvalidDpopProof(ProofReason::UnknownRequestUrl))?;
        Ok(Some(DpopInput {
            proof: proof.to_owned(),
            method: request.method().as_str().to_owned(),
            htus,
        }))
    }
}

/// RFC 9449 §7.1 and §6.1: a token bound to a key (`cnf.jkt`) is accepted only with a proof
/// signed by that very key, and a proof only comes with a token bound to its key.
pub(crate) fn check_binding(
    jkt: Option<&str>,
    proof_thumbprint: Option<&str>,
) -> Result<(), AuthError> {
    match (jkt, proof_thumbprint) {
        (Some(_), None) => Err(AuthError::DpopRequired),
        (jkt, Some(thumbprint)) if jkt != Some(thumbprint) => Err(AuthError::DpopBindingMismatch),
        _ => Ok(()),
    }
}

/// RFC 9449 §11.1: a proof is accepted once. Its `jti` is remembered for the whole window in
/// real time: the verifier's clock may be pinned (tests, recorded traffic), the store's expiry
/// is wall-clock.
pub(crate) async fn first_use(config: &Dpop, proof: &Proof) -> Result<(), AuthError> {
    let expires = SystemTime::now() + config.max_age + config.leeway * 2;
    let key = format!("dpop:{}:{}", proof.thumbprint, proof.jti);
    match config.replay.first_use(&key, expires).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(AuthError::InvalidDpopProof(ProofReason::Replayed)),
        Err(err) => {
            static WARNING: WarnLimit = WarnLimit::new();
            store_failed(&WARNING, "DPoP replay store", "replay", &err);
            Err(AuthError::StateUnavailable)
        }
    }
}

/// Revocation by `jti`, or by `sub` and `iat`; a store that cannot answer refuses (fail
/// closed, 503).
pub(crate) async fn check_revocation(
    store: &dyn RevocationStore,
    state: Option<&OwnedState>,
) -> Result<(), AuthError> {
    let query = TokenState {
        jti: state.and_then(|s| s.jti.as_deref()),
        sub: state.and_then(|s| s.sub.as_deref()),
        iat: state.and_then(|s| s.iat),
    };
    match store.is_revoked(query).await {
        Ok(false) => Ok(()),
        Ok(true) => Err(AuthError::Revoked),
        Err(err) => {
            static WARNING: WarnLimit = WarnLimit::new();
            store_failed(&WARNING, "revocation store", "revocation", &err);
            Err(AuthError::StateUnavailable)
        }
    }
}

/// A store that cannot answer refuses the request (503); the failure is logged at WARN once a
/// minute, at DEBUG otherwise, so an outage under load is a few lines, not one per request.
/// `label` names the store in metrics.
fn store_failed(
    warning: &WarnLimit,
    store: &str,
    label: &'static str,
    err: &dyn std::fmt::Display,
) {
    store_error(label);
    if warning.allow() {
        tracing::warn!(store, error = %err, "token state store failed: refusing requests");
    } else {
        tracing::debug!(store, error = %err, "token state store failed: refusing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_token_needs_a_proof_by_its_own_key() {
        assert_eq!(check_binding(None, None), Ok(()));
        assert_eq!(check_binding(Some("k"), None), Err(AuthError::DpopRequired));
        assert_eq!(check_binding(Some("k"), Some("k")), Ok(()));
        assert_eq!(check_binding(Some("k"), Some("j")), Err(AuthError::DpopBindingMismatch));
        assert_eq!(check_binding(None, Some("j")), Err(AuthError::DpopBindingMismatch));
    }
}
