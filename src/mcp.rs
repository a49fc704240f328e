//! Per-operation scopes for a Model Context Protocol server (feature `mcp`): which scopes a
//! `tools/call`, `resources/read` or `prompts/get` needs, by tool, resource and prompt name,
//! decided at the HTTP layer so the refusal is the 403 `insufficient_scope` the MCP step-up
//! flow asks for (the client gets a token with more scopes and sends the request again).
//!
//! An MCP server has one endpoint; which operation a request is for is in its JSON-RPC body,
//! and from the 2026-07-28 revision also in its `Mcp-Method` and `Mcp-Name` headers, so that
//! gateways can decide without reading the body. A header alone is never trusted: the body is
//! read (up to a cap) and a header that disagrees with it is refused 400; a request without the
//! headers (the 2025-11-25 revision) is decided from the body, every message of a batch
//! included. The body is then handed on unchanged.
//!
//! Put [`McpScopes`] under the [`crate::JwtLayer`] (`route_layer` in axum), like the route
//! requirements: it reads the scopes the layer put into the request, and answers with the
//! layer's challenge and renderer. The 403 names every scope the operation needs together with
//! the token's own (a client that replaces its scopes with the challenge's keeps what it had),
//! and never `offline_access`, which concerns the authorization server, not this resource.
//!
//! ```
//! use axum::{Router, routing::post};
//! use jwt_layer::{JwtAuth, keys::StaticKeys, mcp::McpScopes};
//!
//! # #[derive(serde::Deserialize)] struct MyClaims {}
//! # async fn mcp() -> &'static str { "" }
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::hmac([7u8; 32])?)
//!     .issuer("https://login.example")
//!     .audience("https://mcp.example/mcp")
//!     .build()?;
//! let scopes = McpScopes::builder()
//!     .every_request(["mcp:tools"])
//!     .tool("admin_echo", ["mcp:admin"])
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/mcp", post(mcp))
//!     .route_layer(scopes)
//!     .layer(auth.layer());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::build_error::BuildError;
use crate::error::{AuthError, Challenge, DEFAULT_REALM};
use crate::grants::granted::Scopes;
use crate::http::rejection::{FromLayer, RefusedRequest, respond};
use crate::jose::json_reader::JsonReader;
use crate::reason::RequestReason;

/// The largest request body read to find the operations (the MCP SDKs' own limit).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The scope a challenge never names: it asks the authorization server for a refresh token,
/// which is nothing this resource grants or checks.
const OFFLINE_ACCESS: &str = "offline_access";

/// Which scopes each MCP operation needs; a Tower layer (see the [module](self)).
#[derive(Clone)]
pub struct McpScopes {
    config: Arc<Config>,
}

struct Config {
    every_request: Vec<Box<str>>,
    /// By operation kind and name: `tools/call` by tool name, `resources/read` (and
    /// subscriptions) by URI, `prompts/get` by prompt name.
    named: HashMap<(Kind, Box<str>), Vec<Box<str>>>,
    max_body_bytes: usize,
}

/// What a named operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Tool,
    Resource,
    Prompt,
}

impl Kind {
    /// The kind a JSON-RPC method names, and the member of `params` that names it.
    fn of(method: &str) -> Option<(Kind, &'static str)> {
        match method {
            "tools/call" => Some((Kind::Tool, "name")),
            "prompts/get" => Some((Kind::Prompt, "name")),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                Some((Kind::Resource, "uri"))
            }
            _ => None,
        }
    }
}

impl McpScopes {
    /// Starts a configuration: no scope needed until one is named.
    pub fn builder() -> McpScopesBuilder {
        McpScopesBuilder {
            every_request: Vec::new(),
            named: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Every scope named, each once, in the order first named: the protected resource
    /// metadata's `scopes_supported` (RFC 9728 §2). Never `offline_access`.
    pub fn scopes_supported(&self) -> Vec<String> {
        let config = &self.config;
        let mut all: Vec<String> = Vec::new();
        let named = config.named.values().flatten();
        for scope in config.every_request.iter().chain(named) {
            if !all.iter().any(|seen| **seen == **scope) {
                all.push(scope.to_string());
            }
        }
        all
    }
}

impl fmt::Debug for McpScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpScopes")
            .field("every_request", &self.config.every_request)
            .field("named", &self.config.named.len())
            .field("max_body_bytes", &self.config.max_body_bytes)
            .finish()
    }
}

/// Builds [`McpScopes`]; [`McpScopesBuilder::build`] checks every scope.
#[derive(Debug)]
pub struct McpScopesBuilder {
    every_request: Vec<String>,
    named: Vec<((Kind, String), Vec<String>)>,
    max_body_bytes: usize,
}

impl McpScopesBuilder {
    /// Scopes every request needs, whatever its operation (the default for the operations
    /// named nowhere else, and added to those named).
    pub fn every_request<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.every_request.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Scopes a `tools/call` of the tool `name` needs, besides those of every request.
    pub fn tool<I, S>(self, name: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.named(Kind::Tool, name.into(), scopes)
    }

    /// Scopes a `resources/read` (or `resources/subscribe`, `resources/unsubscribe`) of the
    /// resource `uri` needs, besides those of every request. The URI is compared exactly.
    pub fn resource<I, S>(self, uri: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.named(Kind::Resource, uri.into(), scopes)
    }

    /// Scopes a `prompts/get` of the prompt `name` needs, besides those of every request.
    pub fn prompt<I, S>(self, name: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.named(Kind::Prompt, name.into(), scopes)
    }

    /// The largest request body read to find its operations (default
    /// [`DEFAULT_MAX_BODY_BYTES`]); a larger one is refused 400.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Checks the configuration: every scope non-empty, without a space, and not
    /// `offline_access` (never a resource's to require); every name non-empty and named once;
    /// a body cap of at least one byte.
    pub fn build(self) -> Result<McpScopes, BuildError> {
        let scope = |scope: String| {
            let unusable = scope.is_empty() || scope.contains(' ') || scope == OFFLINE_ACCESS;
            if unusable { Err(BuildError::InvalidRequirement) } else { Ok(scope.into_boxed_str()) }
        };
        let scopes = |scopes: Vec<String>| scopes.into_iter().map(scope).collect::<Result<_, _>>();
        let mut named = HashMap::new();
        for ((kind, name), required) in self.named {
            if name.is_empty() || named.contains_key(&(kind, name.as_str().into())) {
                return Err(BuildError::InvalidRequirement);
            }
            named.insert((kind, name.into_boxed_str()), scopes(required)?);
        }
        if self.max_body_bytes == 0 {
            return Err(BuildError::InvalidRequirement);
        }
        let config = Config {
            every_request: scopes(self.every_request)?,
            named,
            max_body_bytes: self.max_body_bytes,
        };
        Ok(McpScopes { config: Arc::new(config) })
    }

    fn named<I, S>(mut self, kind: Kind, name: String, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.named.push(((kind, name), scopes.into_iter().map(Into::into).collect()));
        self
    }
}

impl Config {
    /// The scopes the request's operations need, in order, each once; refused when the body
    /// is not a strict JSON-RPC message or batch, or its headers disagree with it.
    fn required(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<&str>, AuthError> {
        let operations = operations(headers, body)?;
        let named = operations
            .iter()
            .filter_map(|(kind, name)| self.named.get(&(*kind, Box::<str>::from(name.as_str()))));
        let mut required: Vec<&str> = Vec::new();
        for scope in self.every_request.iter().chain(named.flatten()) {
            if !required.contains(&&**scope) {
                required.push(scope);
            }
        }
        Ok(required)
    }
}

/// The named operations of a POST body (a JSON-RPC message, or a batch of them), held to its
/// `Mcp-Method` and `Mcp-Name` headers when it has them.
fn operations(headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<(Kind, String)>, AuthError> {
    let malformed = || AuthError::InvalidRequest(RequestReason::MalformedMcpBody);
    let mismatch = || AuthError::InvalidRequest(RequestReason::McpHeaderMismatch);
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    // Strict first: duplicate members at any depth would let this reader and the server's
    // pick different copies of `method` or `name`.
    let mut strict = JsonReader::new(text);
    strict.skip_value().and_then(|()| strict.end()).map_err(|_| malformed())?;
    let messages = match serde_json::from_str::<Value>(text).map_err(|_| malformed())? {
        Value::Array(messages) if !messages.is_empty() => messages,
        Value::Array(_) => return Err(malformed()),
        message => vec![message],
    };
    let header = |name: &str| -> Result<Option<&str>, AuthError> {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => value.to_str().map(Some).map_err(|_| mismatch()),
            (Some(_), Some(_)) => Err(mismatch()),
        }
    };
    let (method_header, name_header) = (header("mcp-method")?, header("mcp-name")?);
    if (method_header.is_some() || name_header.is_some()) && messages.len() != 1 {
        // The headers describe one message; a batch cannot match them.
        return Err(mismatch());
    }
    let mut named = Vec::new();
    for message in &messages {
        let Value::Object(message) = message else { return Err(malformed()) };
        let method = match message.get("method") {
            Some(Value::String(method)) => Some(method.as_str()),
            // A response (to a server's request) has no method.
            None => None,
            Some(_) => return Err(malformed()),
        };
        if method_header.is_some_and(|header| Some(header) != method) {
            return Err(mismatch());
        }
        let Some((kind, member)) = method.and_then(Kind::of) else {
            if name_header.is_some() {
                return Err(mismatch());
            }
            continue;
        };
        let name = match message.get("params").and_then(|params| params.get(member)) {
            Some(Value::String(name)) => name,
            _ => return Err(malformed()),
        };
        // A client of the 2026-07-28 revision names the operation in both headers.
        match (method_header, name_header) {
            (_, Some(header)) if header != name => return Err(mismatch()),
            (Some(_), None) => return Err(mismatch()),
            _ => {}
        }
        named.push((kind, name.clone()));
    }
    Ok(named)
}

impl<S> Layer<S> for McpScopes {
    type Service = McpScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpScopesService { inner, config: Arc::clone(&self.config) }
    }
}

/// The middleware made by [`McpScopes`].
pub struct McpScopesService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: Clone> Clone for McpScopesService<S> {
    fn clone(&self) -> Self {
        McpScopesService { inner: self.inner.clone(), config: Arc::clone(&self.config) }
    }
}

impl<S: fmt::Debug> fmt::Debug for McpScopesService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpScopesService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// The response future of [`McpScopesService`].
pub type McpScopesFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for McpScopesService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = McpScopesFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was polled ready is the one called (tower's `Service` contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let Some(scopes) = request.extensions().get::<Scopes>().cloned() else {
                return Ok(refuse(&request, &AuthError::MissingCredentials));
            };
            if request.method() != Method::POST {
                let required: Vec<&str> = config.every_request.iter().map(|s| &**s).collect();
                return match missing(&scopes, &required) {
                    Some(err) => Ok(refuse(&request, &err)),
                    None => inner.call(request).await,
                };
            }
            let (parts, body) = request.into_parts();
            let body = match Limited::new(body, config.max_body_bytes).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    let request = Request::from_parts(parts, ());
                    let err = AuthError::InvalidRequest(RequestReason::MalformedMcpBody);
                    return Ok(refuse(&request, &err));
                }
            };
            let verdict = config
                .required(&parts.headers, &body)
                .and_then(|required| missing(&scopes, &required).map_or(Ok(()), Err));
            let request = Request::from_parts(parts, B::from(body));
            match verdict {
                Ok(()) => inner.call(request).await,
                Err(err) => Ok(refuse(&request, &err)),
            }
        })
    }
}

/// The 403 for a token without every `required` scope: its challenge names the token's own
/// scopes and the missing ones (never `offline_access`).
fn missing(granted: &Scopes, required: &[&str]) -> Option<AuthError> {
    if required.iter().all(|scope| granted.contains(scope)) {
        return None;
    }
    let mut named: Vec<&str> = granted.iter().filter(|scope| *scope != OFFLINE_ACCESS).collect();
    for scope in required {
        if !named.contains(scope) {
            named.push(scope);
        }
    }
    Some(AuthError::InsufficientScope { required: named.join(" ").into() })
}

/// The refusal, with the challenge and renderer of the layer in front.
fn refuse<B, ResBody: Default + 'static>(
    request: &Request<B>,
    err: &AuthError,
) -> Response<ResBody> {
    tracing::debug!(status = err.status().as_u16(), reason = %err, "MCP request refused");
    let challenge = request
        .extensions()
        .get::<Challenge>()
        .cloned()
        .unwrap_or_else(|| Challenge::bearer(DEFAULT_REALM));
    respond(&FromLayer, err, &challenge, &RefusedRequest::new(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
    }

    fn call(name: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}"}}}}"#)
    }

    #[test]
    fn operations_come_from_the_body_and_headers_must_agree() {
        let ok = |h: &[(&str, &str)], body: &str| operations(&headers(h), body.as_bytes());
        let tool = |name: &str| vec![(Kind::Tool, name.to_owned())];
        assert_eq!(ok(&[], &call("a")).unwrap(), tool("a"));
        let both = [("mcp-method", "tools/call"), ("mcp-name", "a")];
        assert_eq!(ok(&both, &call("a")).unwrap(), tool("a"));
        let mismatch = Err(AuthError::InvalidRequest(RequestReason::McpHeaderMismatch));
        let lying = [("mcp-method", "tools/call"), ("mcp-name", "whoami")];
        assert_eq!(ok(&lying, &call("admin_echo")), mismatch);
        assert_eq!(ok(&[("mcp-method", "tools/list")], &call("a")), mismatch);
        assert_eq!(ok(&[("mcp-method", "tools/call")], &call("a")), mismatch);
        let batch = format!("[{},{}]", call("a"), call("b"));
        assert_eq!(ok(&[], &batch).unwrap(), [tool("a"), tool("b")].concat());
        assert_eq!(ok(&[("mcp-method", "tools/call"), ("mcp-name", "a")], &batch), mismatch);
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert_eq!(ok(&[("mcp-method", "tools/list")], list).unwrap(), vec![]);
        let read =
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///x"}}"#;
        let named = [("mcp-method", "resources/read"), ("mcp-name", "file:///x")];
        assert_eq!(ok(&named, read).unwrap(), vec![(Kind::Resource, "file:///x".to_owned())]);
    }

    #[test]
    fn a_body_that_two_parsers_could_read_differently_is_refused() {
        let malformed = Err(AuthError::InvalidRequest(RequestReason::MalformedMcpBody));
        let ok = |body: &str| operations(&http::HeaderMap::new(), body.as_bytes());
        let duplicated =
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#;
        assert_eq!(ok(duplicated), malformed);
        assert_eq!(ok("not json"), malformed);
        assert_eq!(ok("[]"), malformed);
        assert_eq!(ok(r#"{"method":"tools/call","params":{"name":7}}"#), malformed);
        assert_eq!(ok(r#"{"method":"tools/call"}"#), malformed);
    }

    #[test]
    fn the_challenge_names_the_tokens_scopes_and_the_missing_ones_never_offline_access() {
        let granted = Scopes::new(Some(Arc::from("offline_access mcp:tools")));
        assert_eq!(missing(&granted, &["mcp:tools"]), None);
        assert_eq!(
            missing(&granted, &["mcp:tools", "mcp:admin"]),
            Some(AuthError::InsufficientScope { required: "mcp:tools mcp:admin".into() })
        );
    }

    #[test]
    fn offline_access_and_repeated_names_are_refused_at_build() {
        let build = |b: McpScopesBuilder| b.build().map(|_| ());
        let refused = Err(BuildError::InvalidRequirement);
        assert_eq!(build(McpScopes::builder().every_request(["offline_access"])), refused);
        assert_eq!(build(McpScopes::builder().tool("a", ["x"]).tool("a", ["y"])), refused);
        assert_eq!(build(McpScopes::builder().tool("", ["x"])), refused);
        assert_eq!(build(McpScopes::builder().tool("a", ["x y"])), refused);
        let scopes = McpScopes::builder()
            .every_request(["mcp:tools"])
            .tool("a", ["mcp:admin", "mcp:tools"])
            .build()
            .unwrap();
        assert_eq!(scopes.scopes_supported(), ["mcp:tools", "mcp:admin"]);
    }
}
