//! The names of the checks a token goes through, in the order [`crate::JwtAuth::verify`] runs
//! them. [`crate::JwtAuth::explain`] reports an outcome for each.

use std::fmt;

/// One check of the verification sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The token is no longer than the configured cap.
    Size,
    /// With introspection (RFC 7662), for a token [`crate::TokenKinds`] sends to the
    /// authorization server instead of verifying it as a JWT: an answer came, it is
    /// `"active": true`, its `token_type` names an access token and its `iss` one of the
    /// trusted issuers. Its members then go through the checks of a JWT's payload, each
    /// reported on its own check.
    Introspection,
    /// Three base64url segments separated by dots, nothing else (RFC 7515 §7.1).
    Shape,
    /// The JOSE header: base64url JSON, no duplicate members, a supported `alg`, no `crit`.
    Header,
    /// With several trusted issuers: the unverified `iss` names one of them.
    IssuerRoute,
    /// A key for the header's `kid` and `alg`, pinned to that algorithm.
    Key,
    /// The signature verifies with that key.
    Signature,
    /// The payload: base64url JSON, no duplicate members, registered claims of the right type.
    Payload,
    /// `exp` is in the future (with leeway), and present unless `require_exp(false)`.
    Expiry,
    /// `nbf`, when present, is not in the future (with leeway).
    NotBefore,
    /// `iss` is one of the configured issuers.
    Issuer,
    /// `aud` holds one of the configured audiences.
    Audience,
    /// Every claim named by `require_claims` (or the RFC 9068 profile) is present.
    RequiredClaims,
    /// `cnf` names no confirmation method this crate cannot check.
    Confirmation,
    /// The claims fit the application's claims type.
    ClaimsType,
    /// The header `typ` is the required one.
    TokenType,
    /// The custom validators accept the claims.
    Validators,
    /// Roles and permissions are read from the configured claim paths and functions.
    Grants,
    /// A token bound to a DPoP key (`cnf.jkt`) comes with a proof signed by that key, and one
    /// bound to a client certificate (`cnf.x5t#S256`, RFC 8705) comes with that certificate.
    Binding,
    /// The revocation store, when one is configured, does not know the token as revoked.
    Revocation,
}

impl Check {
    /// Every check, in the order the sequence runs them.
    pub(crate) const ALL: [Check; 20] = [
        Check::Size,
        Check::Introspection,
        Check::Shape,
        Check::Header,
        Check::IssuerRoute,
        Check::Key,
        Check::Signature,
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

    /// A short lower-case name, as shown by tools.
    pub fn name(self) -> &'static str {
        match self {
            Check::Size => "size",
            Check::Introspection => "introspection",
            Check::Shape => "shape",
            Check::Header => "header",
            Check::IssuerRoute => "issuer route",
            Check::Key => "key",
            Check::Signature => "signature",
            Check::Payload => "payload",
            Check::Expiry => "exp",
            Check::NotBefore => "nbf",
            Check::Issuer => "iss",
            Check::Audience => "aud",
            Check::RequiredClaims => "required claims",
            Check::Confirmation => "cnf",
            Check::ClaimsType => "claims type",
            Check::TokenType => "typ",
            Check::Validators => "validators",
            Check::Grants => "grants",
            Check::Binding => "binding",
            Check::Revocation => "revocation",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}
