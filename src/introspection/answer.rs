//! An active introspection answer, judged as a JWT's payload is: the same registered-claim
//! rules, the same claims type, validators and grants, so the request-level rules and route
//! requirements see no difference.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::cache::Answer;
use crate::error::AuthError;
use crate::registered::{CLAIM_CHECKS, Registered};
use crate::verified::{OwnedState, Verified};
use crate::verify::{Verifier, read_claims};

/// The verdict on an answer, at the verifier's current time (a cached answer is judged again
/// on every use, so `exp` and `nbf` are always current).
pub(crate) fn judge<C: DeserializeOwned>(
    verifier: &Verifier<C>,
    answer: &Answer,
) -> Result<Verified<C>, AuthError> {
    let body = match answer {
        Answer::Active(body) => &**body,
        Answer::Inactive => return Err(AuthError::InactiveToken),
        Answer::Unavailable => return Err(AuthError::IntrospectionUnavailable),
    };
    let route = route(verifier, body)?;
    let rules = &verifier.routes[route].rules;
    let registered = Registered::read(body, rules)?;
    let at = verifier.moment();
    for (_, check) in CLAIM_CHECKS {
        check(&registered, rules, at)?;
    }
    let claims = read_claims::<C>(body)?;
    verifier.run_validators(&claims)?;
    let grants = verifier.grants(body, &claims)?;
    let state = verifier.keep_state.then(|| {
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
        scope: registered.scope.as_deref().map(Arc::from),
        jkt: registered.jkt.map(Cow::into_owned),
        x5t_s256: registered.x5t_s256.map(Cow::into_owned),
        state,
        grants,
    })
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
