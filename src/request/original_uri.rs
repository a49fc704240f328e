//! The URI a client called, before a router stripped a prefix from it.

use http::{Extensions, Uri};

/// The request URI as the client sent it: axum's `OriginalUri` where a router left one (axum's
/// `Router` does before `nest` or `nest_service` strips a prefix), the request's own URI
/// otherwise.
///
/// Under `Router::new().nest("/api", inner.layer(auth.layer()))` the layer sees `/r` for a
/// call to `/api/r`. A DPoP proof names the URL the client called (RFC 9449 §4.3), so the
/// stripped path would refuse a compliant proof and accept one made for `/r`, another
/// resource. Another Tower stack that strips prefixes keeps the original the same way, by
/// inserting `axum::extract::OriginalUri` before it strips.
pub(crate) fn original_uri<'r>(uri: &'r Uri, extensions: &'r Extensions) -> &'r Uri {
    extensions.get::<axum::extract::OriginalUri>().map_or(uri, |original| &original.0)
}
