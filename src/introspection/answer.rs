//! An active introspection answer, judged as a JWT's payload is: the same registered-claim
//! rules, the same claims type, validators and grants, so the request-level rules and route
//! requirements see no difference.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::cache::Answer;
use crate::error::AuthError;
use crate::verified::Verified;
use crate::verify::Verifier;

/// The verdict on an answer, at the verifier's current time (a cached answer is judged again
/// on every use, so `exp` and `nbf` are always current).
pub(crate) fn judge<C: DeserializeOwned + Send + Sync + 'static>(
    verifier: &Verifier<C>,
    answer: &Answer,
) -> Result<Verified<C>, AuthError> {
    let body = match answer {
        Answer::Active(body) => &**body,
        Answer::Inactive => return Err(AuthError::InactiveToken),
        Answer::Unavailable => return Err(AuthError::IntrospectionUnavailable),
    };
    verifier.judge_payload(body, route(verifier, body)?, None, true)
}

/// With several trusted issuers, the answer's `iss` picks whose rules apply (the answer comes
/// from the authorization server over an authenticated channel, so it is trusted already).
fn route<C>(verifier: &Verifier<C>, body: &str) -> Result<usize, AuthError> {
    if !verifier.by_issuer {
        return Ok(0);
    }
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        iss: Option<Cow<'a, str>>,
    }
    let peek: Peek<'_> = serde_json::from_str(body).map_err(|_| AuthError::InvalidClaims)?;
    let issuer = peek.iss.ok_or(AuthError::MissingClaim("iss".into()))?;
    verifier
        .routes
        .iter()
        .position(|route| route.rules.issuers.iter().any(|trusted| **trusted == *issuer))
        .ok_or(AuthError::InvalidIssuer)
}
