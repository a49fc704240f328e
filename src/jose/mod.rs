//! The JOSE pieces every other layer reads with: the algorithms, base64url, the strict JSON
//! reader and the member-name set it refuses duplicates with, and the token header (RFC 7515).

pub(crate) mod algorithm;
pub(crate) mod base64url;
pub(crate) mod header;
pub(crate) mod json_reader;
pub(crate) mod member_names;
