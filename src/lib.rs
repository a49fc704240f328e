//! Tower/axum middleware that authenticates HTTP requests by JWT bearer token.
//!
//! A request's `Authorization: Bearer <token>` is found (RFC 6750), its key is looked up
//! through a [`keys::KeyProvider`], the signature and claims are verified (RFC 7519,
//! RFC 8725), and the typed claims are put into the request for handlers to extract as
//! [`Claims<C>`]. Everything else is answered 400, 401 or 403 with the RFC 6750
//! `WWW-Authenticate` challenge.
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_layer::{Claims, JwtAuth, keys::StaticKeys};
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct MyClaims {
//!     sub: String,
//! }
//!
//! // `claims` is an `Arc<MyClaims>` shared with the request: `&claims.sub` borrows it,
//! // `claims.sub.clone()` copies the one field returned; the claims are never cloned.
//! async fn me(Claims(claims): Claims<MyClaims>) -> String {
//!     claims.sub.clone()
//! }
//!
//! async fn admin() -> &'static str {
//!     "admin area"
//! }
//!
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::from_jwks(r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256",
//!         "k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}"#)?)
//!     .issuer("https://login.example")
//!     .audience("my-api")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/admin", get(admin).route_layer(auth.require_all_scopes(["admin"])?))
//!     .layer(auth.layer());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Keys come from a provider value (see [`keys`] for the constructors and their naming rule).
//! A remote provider caches what it fetches, one cache per value: two `JwtAuth`s built from
//! two `Jwks::discover(..)` calls each fetch and refresh on their own, while clones of one
//! provider (or of one `JwtAuth`) share a single cache (see `keys::RemoteJwks`, feature
//! `remote`).
#![forbid(unsafe_code)]
// Feature badges on docs.rs (`doc_auto_cfg` was merged into `doc_cfg` in Rust 1.92).
#![cfg_attr(docsrs, feature(doc_cfg))]

// First, so the modules below can use its macros.
#[macro_use]
mod macros;

mod algorithm;
mod auth;
mod base64url;
mod certificate;
mod check;
mod claim_path;
mod claim_values;
mod claims;
mod dpop;
mod error;
mod explain;
mod extract;
mod grants;
mod grpc;
mod header;
#[cfg(feature = "remote")]
pub mod introspection;
mod json_reader;
pub mod keys;
mod layer;
mod member_names;
mod metric_label;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
mod metrics;
mod original_uri;
mod readiness;
mod reason;
mod registered;
mod rejection;
mod request;
mod require_grant;
mod requirements;
mod resource;
mod resource_metadata;
pub mod store;

#[cfg(feature = "testing")]
pub mod testing;
mod token_cache;
mod trusted_issuer;
mod verified;
mod verify;
mod warn_limit;

pub use algorithm::{Algorithm, AlgorithmFamily, UnknownAlgorithm};
pub use auth::{BuildError, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, JwtAuth, JwtAuthBuilder};
pub use certificate::{ClientCertificate, PeerAddress};
pub use check::Check;
pub use claim_path::ClaimPath;
pub use claim_values::ClaimValues;
pub use claims::{Claims, MissingClaims};
pub use dpop::{Dpop, DpopMode};
pub use error::{AuthError, Challenge, DEFAULT_REALM};
pub use explain::{Explanation, HeaderSummary, Outcome, Step, Times};
pub use grants::{Permissions, Roles, Scopes};
pub use header::TokenHeader;
#[cfg(feature = "remote")]
pub use introspection::{Introspection, TokenKinds};
pub use layer::{JwtLayer, JwtService, ResponseFuture};
pub use readiness::Readiness;
pub use reason::{MalformedReason, ProofReason, RequestReason};
pub use rejection::{
    EmptyBody, FromLayer, GrpcStatus, RefusedRequest, Rejection, WithResponse, WithResponseFor,
};
pub use require_grant::{
    GrantKind, PermissionGrant, RequireAuth, RequireGrant, RequireGrantFuture, RequireGrantService,
    RequirePermission, RequireRole, RequireScope, RoleGrant, ScopeGrant, SignedIn,
};
pub use resource_metadata::{ProtectedResourceMetadata, ProtectedResourceMetadataService};
pub use trusted_issuer::TrustedIssuer;
