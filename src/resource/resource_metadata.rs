//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells a client which
//! authorization servers issue tokens for this resource and how to present them, and the
//! Tower service that serves it at its well-known URI.
//!
//! Build it from the [`JwtAuth`](crate::JwtAuth) that guards the resource
//! ([`JwtAuth::protected_resource_metadata`](crate::JwtAuth::protected_resource_metadata)), so
//! the document and the checks cannot disagree, then add what only you know (scopes, a name,
//! documentation). Mount it beside the protected routes, outside the layer: the document is
//! public.
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_layer::{JwtAuth, keys::StaticKeys};
//!
//! #[derive(serde::Deserialize)]
//! struct MyClaims {}
//!
//! async fn tools() -> &'static str { "tools" }
//!
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::hmac([7u8; 32])?)
//!     .issuer("https://login.example")
//!     .resource("https://api.example.com/mcp")
//!     .build()?;
//! let metadata = auth
//!     .protected_resource_metadata()?
//!     .scopes_supported(["mcp:tools", "mcp:resources"])
//!     .resource_name("Example MCP server");
//! assert_eq!(metadata.well_known_path(), "/.well-known/oauth-protected-resource/mcp");
//!
//! let app: Router = Router::new()
//!     .route("/mcp", get(tools))
//!     .layer(auth.layer())
//!     // Added after `.layer(..)`, so the layer does not cover it.
//!     .route_service(metadata.well_known_path(), metadata.service());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Serialize;
use tower_service::Service;

use crate::build_error::BuildError;
use crate::jose::algorithm::Algorithm;
use crate::resource::identifier::Resource;

/// An RFC 9728 §2 protected resource metadata document.
///
/// Members left empty are left out of the JSON. Setters replace what was there; the
/// document is served as it is when [`ProtectedResourceMetadata::service`] is called.
#[derive(Clone, Serialize)]
pub struct ProtectedResourceMetadata {
    #[serde(skip)]
    location: Resource,
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resource_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dpop_bound_access_tokens_required: Option<bool>,
}

impl ProtectedResourceMetadata {
    /// A document for `resource` alone, for a resource not guarded by a
    /// [`JwtAuth`](crate::JwtAuth) of this crate; prefer
    /// [`JwtAuth::protected_resource_metadata`](crate::JwtAuth::protected_resource_metadata),
    /// which fills in what the configuration knows.
    ///
    /// `resource` is checked and put into canonical form as
    /// [`JwtAuthBuilder::resource`](crate::JwtAuthBuilder::resource) does it.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidResource`] for a value that is not an absolute `https` URL (or
    /// `http` to loopback), or that has a fragment or user info.
    pub fn new(resource: &str) -> Result<Self, BuildError> {
        let location = Resource::parse(resource)
            .map_err(|problem| BuildError::InvalidResource(resource.to_owned(), problem))?;
        Ok(Self::for_resource(location))
    }

    pub(crate) fn for_resource(location: Resource) -> Self {
        ProtectedResourceMetadata {
            resource: location.as_str().into(),
            location,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: Vec::new(),
            resource_signing_alg_values_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            resource_policy_uri: None,
            resource_tos_uri: None,
            dpop_signing_alg_values_supported: Vec::new(),
            dpop_bound_access_tokens_required: None,
        }
    }

    /// `authorization_servers`: the issuer identifiers of the authorization servers whose
    /// tokens this resource accepts.
    pub fn authorization_servers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// `scopes_supported`: the scopes a client may request to reach this resource
    /// (RFC 9728 §2). The Model Context Protocol's clients request these when a challenge
    /// names none.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// `bearer_methods_supported`: how a token may be sent (`header`, `body`, `query`).
    pub fn bearer_methods_supported<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// `resource_signing_alg_values_supported`: the algorithms this resource signs its own
    /// responses with (RFC 9728 §2), for a resource that signs them. It says nothing about
    /// the tokens the resource accepts, so it is never filled in from the configuration.
    pub fn resource_signing_alg_values_supported(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self {
        self.resource_signing_alg_values_supported =
            algorithms.into_iter().map(Algorithm::as_str).collect();
        self
    }

    /// `resource_name`: a name for people to read.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `resource_documentation`: a URL of documentation for developers.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// `resource_policy_uri`: a URL of the policy on how client data is used.
    pub fn resource_policy_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_policy_uri = Some(url.into());
        self
    }

    /// `resource_tos_uri`: a URL of the terms of service.
    pub fn resource_tos_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_tos_uri = Some(url.into());
        self
    }

    /// `dpop_signing_alg_values_supported`: the algorithms DPoP proofs may be signed with
    /// (RFC 9449 §5.1).
    pub fn dpop_signing_alg_values_supported(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self {
        self.dpop_signing_alg_values_supported =
            algorithms.into_iter().map(Algorithm::as_str).collect();
        self
    }

    /// `dpop_bound_access_tokens_required`: whether only DPoP-bound tokens are accepted
    /// (RFC 9449 §5.2).
    pub fn dpop_bound_access_tokens_required(mut self, required: bool) -> Self {
        self.dpop_bound_access_tokens_required = Some(required);
        self
    }

    /// The resource identifier, in canonical form.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path to serve the document at, in the resource's origin: the well-known suffix
    /// inserted before the resource's path (RFC 9728 §3.1). `https://api.example.com/mcp`
    /// gives `/.well-known/oauth-protected-resource/mcp`, `https://api.example.com` gives
    /// `/.well-known/oauth-protected-resource`.
    pub fn well_known_path(&self) -> &str {
        self.location.well_known_path()
    }

    /// The document's absolute URL, as the challenges' `resource_metadata` names it
    /// (RFC 9728 §5.1). A resource with a query keeps it here, after the path.
    pub fn well_known_url(&self) -> &str {
        self.location.metadata_url()
    }

    /// The document as JSON.
    pub fn to_json(&self) -> String {
        // Strings, lists of strings and a bool: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A Tower service that serves the document, for
    /// `Router::route_service(metadata.well_known_path(), metadata.service())`.
    ///
    /// It answers every request itself, without authentication, whatever its path (routing
    /// is the router's job):
    ///
    /// - `GET` and `HEAD`: 200, `Content-Type: application/json`, and
    ///   `Access-Control-Allow-Origin: *` so a client running in a browser can read it;
    /// - `OPTIONS` (a CORS preflight): 204, allowing any origin and request header, for
    ///   `GET`, `HEAD` and `OPTIONS`;
    /// - anything else: 405 with `Allow: GET, HEAD, OPTIONS`.
    ///
    /// The JSON is serialized once, here; later changes to `self` do not reach the service.
    pub fn service(&self) -> ProtectedResourceMetadataService {
        ProtectedResourceMetadataService { json: self.to_json().into() }
    }
}

impl fmt::Debug for ProtectedResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Serves a [`ProtectedResourceMetadata`] document; see
/// [`ProtectedResourceMetadata::service`].
#[derive(Clone)]
pub struct ProtectedResourceMetadataService {
    json: Arc<str>,
}

impl fmt::Debug for ProtectedResourceMetadataService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResourceMetadataService").field("json", &self.json).finish()
    }
}

/// The methods the service answers.
fn allow() -> HeaderValue {
    HeaderValue::from_static("GET, HEAD, OPTIONS")
}

impl ProtectedResourceMetadataService {
    fn answer(&self, method: &Method) -> Response<Body> {
        let (status, body) = match *method {
            Method::GET => (StatusCode::OK, Body::from(String::from(&*self.json))),
            Method::HEAD => (StatusCode::OK, Body::empty()),
            Method::OPTIONS => (StatusCode::NO_CONTENT, Body::empty()),
            _ => (StatusCode::METHOD_NOT_ALLOWED, Body::empty()),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        match status {
            StatusCode::OK => {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
            StatusCode::NO_CONTENT => {
                headers.insert(header::ALLOW, allow());
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, allow());
                // Clients send their own headers (`MCP-Protocol-Version`, for one); the
                // document is public and no credentials are involved, so any is fine.
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
                headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
            }
            _ => {
                headers.insert(header::ALLOW, allow());
            }
        }
        response
    }
}

impl<B> Service<Request<B>> for ProtectedResourceMetadataService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.answer(request.method())))
    }
}
