//! What a request brings besides its token, and the rules over it: where the token is found
//! (RFC 6750 §2), the client certificate (RFC 8705), the URI the client called, and the
//! request-level rules (DPoP proof and binding, replay, revocation).

pub(crate) mod certificate;
pub(crate) mod extract;
pub(crate) mod original_uri;
pub(crate) mod rules;
