//! The HTTP face: the Tower layer, the `Claims` extractor, route requirements, and refusals
//! with their challenges (RFC 6750 §3) and gRPC status.

pub(crate) mod claims;
pub(crate) mod granted_extractors;
pub(crate) mod grpc;
pub(crate) mod layer;
pub(crate) mod rejection;
pub(crate) mod require_grant;
