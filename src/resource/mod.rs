//! The protected resource (RFC 8707, RFC 9728): its identifier in canonical form, and its
//! metadata document.

pub(crate) mod identifier;
pub(crate) mod resource_metadata;
