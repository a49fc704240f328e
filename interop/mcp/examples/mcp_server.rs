//! A Model Context Protocol server (the official Rust SDK, `rmcp`, over Streamable HTTP)
//! protected as the MCP authorization specification (2025-11-25) asks of a remote server:
//!
//! - every request to `/mcp` needs a bearer token from the configured authorization server,
//!   issued for this resource (RFC 8707: its `aud` names `MCP_RESOURCE_URL`) and granting
//!   `MCP_REQUIRED_SCOPE`;
//! - a request without a good token is answered 401 with `WWW-Authenticate: Bearer …,
//!   scope="mcp:tools", resource_metadata="…"`, from which a client finds the protected
//!   resource metadata (RFC 9728), served publicly at
//!   `/.well-known/oauth-protected-resource/mcp`, then the authorization server;
//! - a token without the scope is answered 403 `insufficient_scope`, naming the scope.
//!
//! Tools:
//! - `whoami`: the token's `client_id`, `sub` and scopes, read from the verified claims that
//!   the layer put into the HTTP request, which `rmcp` hands to the tool as
//!   `http::request::Parts`;
//! - `admin_echo`: echoes its `text`, and needs the further scope `mcp:admin`. A route
//!   requirement cannot tell tools apart (they all share the one endpoint), so the crate's
//!   `mcp` feature decides per operation ([`McpScopes`]): from the `Mcp-Method` and `Mcp-Name`
//!   headers of the 2026-07-28 revision, held to the JSON-RPC body, or from the body alone for
//!   an older client, batches included. A token without `mcp:admin` is refused 403
//!   `insufficient_scope` with `scope="mcp:tools mcp:admin"` before the tool runs. That is the
//!   MCP step-up authorization flow: the client asks the authorization server for a token
//!   with those scopes and sends the call again.
//!
//! A session (`Mcp-Session-Id`) belongs to the caller that opened it ([`SessionOwners`]):
//! another caller's token on that session is answered 404, as for a session that does not
//! exist (the MCP security guidance: bind a session to the user, never take a session id as
//! authorization). Every request, within a session or not, is also verified on its own token.
//!
//! Environment:
//! - `JWT_OIDC_ISSUER_URL` (required): the authorization server's issuer; keys come from its
//!   OpenID discovery document, and it is the metadata's `authorization_servers`.
//! - `BIND`: the address to listen on (default `127.0.0.1:3000`). Once it accepts
//!   connections the server prints `listening on ADDR` on stdout.
//! - `MCP_RESOURCE_URL`: the canonical URI of the MCP endpoint, the audience tokens must name
//!   and the metadata's `resource` (default `http://ADDR/mcp` of the bound address, which is
//!   accepted for a loopback address only).
//! - `MCP_REQUIRED_SCOPE`: the scope every request needs (default `mcp:tools`).
//!
//! ```text
//! JWT_OIDC_ISSUER_URL=https://login.example.com \
//! MCP_RESOURCE_URL=http://127.0.0.1:3000/mcp \
//!     cargo run -p jwt-layer-mcp --example mcp_server
//! ```

use std::collections::{HashMap, VecDeque};
use std::env;
use std::error::Error;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use jwt_layer::mcp::McpScopes;
use jwt_layer::{Claims, JwtAuth, Scopes};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use tokio::net::TcpListener;

/// The scope `admin_echo` needs besides the one every request needs.
const ADMIN_SCOPE: &str = "mcp:admin";
/// The largest JSON-RPC body read to find the operation (the MCP SDK's own limit).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The most sessions whose owner is remembered; the oldest is forgotten first (its requests
/// are then answered 404, and the client opens a new session).
const MAX_SESSIONS: usize = 10_000;

/// The claims the tools read; everything else in the token is verified and ignored.
#[derive(Debug, serde::Deserialize)]
struct McpClaims {
    sub: Option<String>,
    client_id: Option<String>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoRequest {
    /// The text to send back.
    text: String,
}

/// The MCP server: its tools.
#[derive(Clone)]
struct Tools {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Tools {
    fn new() -> Self {
        Tools { tool_router: Self::tool_router() }
    }

    #[tool(description = "Who is calling: the access token's client_id, sub and scopes")]
    async fn whoami(
        &self,
        Extension(request): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        // The layer put the verified claims and scopes into the HTTP request; rmcp passes the
        // request's parts (without the body) to the tool.
        let claims = verified_claims(&request)?;
        let scopes = request.extensions.get::<Scopes>().cloned().unwrap_or_default();
        let text = format!(
            "client_id={} sub={} scopes={}",
            claims.client_id.as_deref().unwrap_or("-"),
            claims.sub.as_deref().unwrap_or("-"),
            scopes.iter().collect::<Vec<_>>().join(" "),
        );
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    #[tool(description = "Echoes the text back; needs the scope mcp:admin")]
    async fn admin_echo(
        &self,
        Extension(request): Extension<http::request::Parts>,
        Parameters(EchoRequest { text }): Parameters<EchoRequest>,
    ) -> Result<CallToolResult, ErrorData> {
        // `require_tool_scopes` refused the HTTP request already when the scope is missing;
        // checked again here so the tool stays safe if it is ever mounted without it.
        let scopes = request.extensions.get::<Scopes>();
        if !scopes.is_some_and(|scopes| scopes.contains(ADMIN_SCOPE)) {
            return Err(ErrorData::invalid_request("the scope mcp:admin is required", None));
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("jwt-layer-mcp-example", "0.1.0"))
            .with_instructions("whoami names the caller; admin_echo needs the scope mcp:admin")
    }
}

fn verified_claims(request: &http::request::Parts) -> Result<Claims<McpClaims>, ErrorData> {
    request.extensions.get::<Claims<McpClaims>>().cloned().ok_or_else(|| {
        ErrorData::internal_error("no verified claims: is the layer in place?", None)
    })
}

/// Who opened each session: the issuer-unique `sub` (or the `client_id` of a client acting
/// for itself) of the token that initialized it, bounded by [`MAX_SESSIONS`].
#[derive(Default)]
struct SessionOwners {
    owners: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl SessionOwners {
    /// The caller a request's verified token names.
    fn caller(request: &Request) -> Option<String> {
        let claims = request.extensions().get::<Claims<McpClaims>>()?;
        match (&claims.sub, &claims.client_id) {
            (Some(sub), _) => Some(format!("sub:{sub}")),
            (None, Some(client_id)) => Some(format!("client:{client_id}")),
            (None, None) => None,
        }
    }

    fn remember(&self, session: String, caller: String) {
        let mut guard = self.owners.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (owners, order) = &mut *guard;
        if owners.len() >= MAX_SESSIONS
            && let Some(oldest) = order.pop_front()
        {
            owners.remove(&oldest);
        }
        order.push_back(session.clone());
        owners.insert(session, caller);
    }

    /// Whether `caller` may use `session`: only its owner may, and a session this server
    /// never handed out (or forgot) is the MCP server's to answer.
    fn allows(&self, session: &str, caller: Option<&str>) -> bool {
        let guard = self.owners.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.0.get(session).is_none_or(|owner| Some(owner.as_str()) == caller)
    }
}

/// Binds each session to the caller that opened it: the session id the MCP server hands out
/// is recorded with the caller, and a request on a session another caller opened is answered
/// 404 (the session does not exist for it).
async fn bind_sessions(
    State(sessions): State<Arc<SessionOwners>>,
    request: Request,
    next: Next,
) -> Response {
    let caller = SessionOwners::caller(&request);
    if let Some(session) = request.headers().get("mcp-session-id") {
        let session = session.to_str().unwrap_or_default();
        if !sessions.allows(session, caller.as_deref()) {
            return (StatusCode::NOT_FOUND, "no such session").into_response();
        }
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if let (Some(session), Some(caller)) = (response.headers().get("mcp-session-id"), caller)
        && let Ok(session) = session.to_str()
    {
        sessions.remember(session.to_owned(), caller);
    }
    response
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,jwt_layer=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run().await {
        eprintln!("mcp_server: {error}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let issuer = env::var("JWT_OIDC_ISSUER_URL").map_err(|_| "JWT_OIDC_ISSUER_URL is required")?;
    let bind = env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let required_scope = env::var("MCP_REQUIRED_SCOPE").unwrap_or_else(|_| "mcp:tools".into());
    let listener = TcpListener::bind(&bind).await.map_err(|e| format!("BIND {bind}: {e}"))?;
    let addr = listener.local_addr()?;
    let resource = env::var("MCP_RESOURCE_URL").unwrap_or_else(|_| format!("http://{addr}/mcp"));

    let auth = JwtAuth::<McpClaims>::builder()
        .discover(&issuer) // keys by OpenID discovery; tokens must carry exactly this `iss`
        .resource(&resource) // RFC 8707: `aud` must name this MCP server
        .access_token_profile() // RFC 9068: `typ: at+jwt`, `sub`, `client_id`, `jti`, …
        .challenge_scope([required_scope.as_str()]) // 401s say which scope to ask for
        .build()?;
    // Every request needs the base scope; `admin_echo` needs `mcp:admin` besides.
    let mcp_scopes = McpScopes::builder()
        .every_request([required_scope.as_str()])
        .tool("admin_echo", [ADMIN_SCOPE])
        .max_body_bytes(MAX_BODY_BYTES)
        .build()?;
    let metadata = auth
        .protected_resource_metadata()?
        .scopes_supported(mcp_scopes.scopes_supported())
        .resource_name("jwt-layer MCP example");

    // rmcp checks the `Host` header against this list (DNS rebinding); the resource's host
    // is the name clients use.
    let host = url::Url::parse(&resource)?
        .host_str()
        .map(|host| host.trim_matches(['[', ']']).to_owned())
        .ok_or("MCP_RESOURCE_URL has no host")?;
    let mcp = StreamableHttpService::new(
        || Ok(Tools::new()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts([host])
            .with_max_request_body_bytes(MAX_BODY_BYTES),
    );

    let app = Router::new()
        .route_service("/mcp", mcp)
        .route_layer(middleware::from_fn_with_state(Arc::default(), bind_sessions))
        .route_layer(mcp_scopes)
        .layer(auth.layer())
        // After `.layer(..)`: the metadata is public.
        .route_service(metadata.well_known_path(), metadata.service());

    println!("listening on {addr}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
