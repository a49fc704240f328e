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

// From the ground up: errors and their reasons; the JOSE pieces (algorithms, base64url, the
// strict JSON reader, the header); keys; what a token grants; the resource identifier; the
// token's verification sequence; DPoP and stores; introspection; the request's rules; the
// HTTP face (layer, extractors, refusals); `JwtAuth` and its builder on top.
mod auth;
mod authenticator;
mod build_error;
mod check;
mod clock;
mod dpop;
mod error;
pub mod explain;
mod grants;
mod http;
#[cfg(feature = "remote")]
pub mod introspection;
mod jose;
pub mod keys;
#[cfg(feature = "mcp")]
pub mod mcp;
mod metric_label;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
mod metrics;
mod observe;
mod readiness;
pub mod reason;
mod request;
mod resource;
mod sequence;
#[cfg(feature = "remote")]
mod single_flight;
pub mod store;
#[cfg(feature = "remote")]
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
mod token;
mod warn_limit;

pub use auth::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, JwtAuth, JwtAuthBuilder};
pub use build_error::BuildError;
pub use dpop::{Dpop, DpopMode};
pub use error::{AuthError, Challenge, DEFAULT_REALM};
pub use grants::claim_path::ClaimPath;
pub use grants::claim_values::ClaimValues;
pub use grants::granted::{Permissions, Roles, Scopes};
pub use http::claims::Claims;
pub use http::granted_extractors::GrantRefusal;
pub use http::layer::JwtLayer;
pub use http::rejection::{GrpcStatus, RefusedRequest, Rejection};
#[cfg(feature = "remote")]
pub use introspection::{Introspection, TokenKinds};
pub use jose::algorithm::Algorithm;
pub use jose::header::TokenHeader;
pub use readiness::Readiness;
pub use request::certificate::{ClientCertificate, PeerAddress};
pub use resource::resource_metadata::ProtectedResourceMetadata;
pub use token::trusted_issuer::TrustedIssuer;

/// The Tower services, futures, renderers and marker types the layers are made of: named in
/// signatures and `impl` blocks, rarely written by hand. [`JwtAuth::layer`] and
/// [`JwtAuth::require_all_scopes`] (and its siblings) hand them out.
pub mod service {
    pub use crate::http::claims::MissingClaims;
    pub use crate::http::layer::{JwtService, ResponseFuture};
    pub use crate::http::rejection::{EmptyBody, FromLayer, WithResponse, WithResponseFor};
    pub use crate::http::require_grant::{
        GrantKind, PermissionGrant, RequireAuth, RequireGrant, RequireGrantFuture,
        RequireGrantService, RequirePermission, RequireRole, RequireScope, RequireStepUp,
        RequireStepUpService, RequirementService, RoleGrant, ScopeGrant, SignedIn,
    };
    pub use crate::resource::resource_metadata::ProtectedResourceMetadataService;
}
