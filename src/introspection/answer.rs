//! An active introspection answer, judged as a JWT's payload is: the same registered-claim
//! rules, the same claims type, validators and grants, so the request-level rules and route
//! requirements see no difference.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::cache::{Answer, TokenType};
use crate::error::AuthError;
use crate::token::verified::Verified;
use crate::token::verify::Verifier;

/// The verdict on an answer, at the verifier's current time (a cached answer is judged again
/// on every use, so `exp` and `nbf` are always current).
pub(crate) fn judge<C: DeserializeOwned + Send + Sync + 'static>(
    verifier: &Verifier<C>,
    answer: &Answer,
) -> Result<Verified<C>, AuthError> {
    let (body, token_type) = match answer {
        Answer::Active(body, token_type) => (&**body, *token_type),
        Answer::Inactive => return Err(AuthError::InactiveToken),
        Answer::Unavailable => return Err(AuthError::IntrospectionUnavailable),
    };
    // RFC 7662 §2.2: the server may call a refresh token or an ID token active too; only an
    // access token is a credential for this resource.
    match token_type {
        TokenType::Bearer | TokenType::Dpop => {}
        TokenType::Other => return Err(AuthError::InvalidType),
        TokenType::NotAString => {
            return Err(AuthError::InvalidClaimType(crate::reason::RegisteredClaim::TokenType));
        }
    }
    let verified = verifier.judge_payload(body, route(verifier, body)?, None, true)?;
    // RFC 9449 §6: a DPoP token is bound to a key. Without `cnf.jkt` no proof can be held to
    // it, so it is refused rather than taken as a bearer token; with it, the request rules
    // check the binding as for a bound JWT (no `Bearer` scheme, a proof by that key).
    if token_type == TokenType::Dpop && verified.jkt.is_none() {
        return Err(AuthError::UnsupportedConfirmation);
    }
    Ok(verified)
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
