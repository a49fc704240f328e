//! What a verified token grants: claim paths, the values read from them, and the scopes, roles
//! and permissions handlers and route requirements see, and how the user signed in.

pub(crate) mod authentication;
pub(crate) mod claim_path;
pub(crate) mod claim_values;
pub(crate) mod granted;
