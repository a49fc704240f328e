//! Whether an introspection answer is active for an access token. Its members then go through
//! the verification sequence as a JWT's payload does: the same registered-claim rules, claims
//! type, validators and grants, so the request-level rules and route requirements see no
//! difference.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;

use super::cache::{Answer, TokenType};
use crate::error::AuthError;
use crate::token::verify::{Route, Verifier};

/// An active answer for an access token: what the verification sequence judges as a payload.
pub(crate) struct Active<'a> {
    /// The answer's members.
    pub(crate) body: &'a str,
    /// Whose rules apply (with several trusted issuers, chosen by the answer's `iss`).
    pub(crate) route: Arc<Route>,
    /// `token_type` is `DPoP`: the answer must name the key the token is bound to.
    pub(crate) dpop: bool,
}

/// Whether `answer` is active for an access token. Its members are judged by the
/// verification sequence like a JWT's payload, at the verifier's current time (a cached answer
/// is judged again on every use, so `exp` and `nbf` are always current).
pub(crate) fn active<'a, C>(
    verifier: &Verifier<C>,
    answer: &'a Answer,
) -> Result<Active<'a>, AuthError> {
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
    // RFC 9449 §6: a DPoP token without `cnf.jkt` is refused by the sequence's `cnf` check;
    // with it, the request's proof is held to that key as for a bound JWT.
    Ok(Active { body, route: route(verifier, body)?, dpop: token_type == TokenType::Dpop })
}

/// With several trusted issuers, the answer's `iss` picks whose rules apply (the answer comes
/// from the authorization server over an authenticated channel, so it is trusted already).
fn route<C>(verifier: &Verifier<C>, body: &str) -> Result<Arc<Route>, AuthError> {
    if !verifier.by_issuer {
        return Ok(Arc::clone(&verifier.routes[0]));
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
        .find(|route| route.rules.issuers.iter().any(|trusted| **trusted == *issuer))
        .cloned()
        .ok_or(AuthError::InvalidIssuer)
}
