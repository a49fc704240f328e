//! End to end: the `mcp_server` example (an `rmcp` Streamable HTTP server behind the layer)
//! with a real authorization server nobody here wrote (panva's `oidc-provider`: client
//! credentials, resource indicators, JWT access tokens) and a client on the official MCP
//! TypeScript SDK, both started by `interop/mcp/tests/mcp/` scripts. The client is given only the
//! server's URL and its credentials, and finds everything else by itself: 401 → protected
//! resource metadata → authorization server metadata → token request with `resource` →
//! `initialize` → `tools/call`. The same is done by a client on the official MCP Python SDK
//! (`client.py`, in the virtual environment `interop/mcp/tests/mcp/.venv`), on both protocol
//! revisions it speaks.
//!
//! Needs Node.js and the packages of `interop/mcp/tests/mcp`, so every test here is ignored
//! (`#[ignore = "…"]`) with that reason: `./scripts/test.sh` (which installs Node.js and runs
//! `npm ci --prefix interop/mcp/tests/mcp`) runs them with `--include-ignored`. Run by hand
//! without the packages, a test FAILS with the setup instruction; it never passes silently.
//!
//! Nothing here waits for time to pass: each process says when it is ready on stdout, and the
//! waits on it are hang guards only.

// The root package's test support, one copy for both packages. Only `example_binary` is used.
#[path = "../../../tests/support/child_process.rs"]
mod child_process;
#[allow(dead_code)]
#[path = "../../../tests/support/example.rs"]
mod example;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use child_process::ChildProcess;
use serde_json::Value;

const CLIENT_ID: &str = "mcp-client";
const CLIENT_SECRET: &str = "mcp-client-secret";
/// A second client of the authorization server: another caller.
const OTHER_CLIENT_ID: &str = "mcp-other-client";
const OTHER_CLIENT_SECRET: &str = "mcp-other-client-secret";
/// A resource the authorization server knows, which is not the MCP server.
const OTHER_RESOURCE: &str = "https://other.example.test/mcp";
/// How long a process may take to say it is ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for one HTTP exchange, so a hang fails instead of stalling.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const SETUP_HINT: &str =
    "run `npm ci --prefix interop/mcp/tests/mcp` (needs Node.js and npm) before `cargo test`";

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("mcp")
}

/// Node.js, checked to run, with the fixture's packages installed.
fn node() -> std::ffi::OsString {
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{} --version` failed ({}): {}\n{SETUP_HINT}",
            node.to_string_lossy(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "Node.js is required by this test but `{}` could not be run: {e}\n{SETUP_HINT}",
            node.to_string_lossy()
        ),
    }
    for package in ["oidc-provider", "@modelcontextprotocol/sdk"] {
        let installed = fixture_dir().join("node_modules").join(package).join("package.json");
        assert!(installed.is_file(), "{} is missing; {SETUP_HINT}", installed.display());
    }
    node
}

/// The authorization server of `interop/mcp/tests/mcp/provider.mjs` and the `mcp_server` example
/// using it.
struct Setup {
    issuer: String,
    /// `http://127.0.0.1:PORT`, the MCP server's origin.
    origin: String,
    /// `{origin}/mcp`: the MCP endpoint, and the resource its tokens must name.
    mcp_url: String,
    http: reqwest::Client,
    authorization_server: ChildProcess,
    mcp_server: ChildProcess,
}

impl Setup {
    fn start() -> Setup {
        let node = node();
        let (mut authorization_server, line) = ChildProcess::start(
            "authorization server",
            SETUP_HINT,
            STARTUP_TIMEOUT,
            Command::new(&node)
                .arg(fixture_dir().join("provider.mjs"))
                .current_dir(fixture_dir())
                .env("EXIT_ON_STDIN_CLOSE", "1"),
        );
        let issuer = match serde_json::from_str::<Value>(&line) {
            Ok(v) if v["issuer"].is_string() => v["issuer"].as_str().unwrap().to_owned(),
            _ => authorization_server.fail(&format!("printed {line:?}, not its issuer")),
        };
        // MCP_RESOURCE_URL is left to its default, `http://ADDR/mcp` of the bound address:
        // the port is the one the server got.
        let (mut mcp_server, line) = ChildProcess::start(
            "MCP server",
            SETUP_HINT,
            STARTUP_TIMEOUT,
            Command::new(example::example_binary("mcp_server"))
                .env_clear()
                .env("BIND", "127.0.0.1:0")
                .env("JWT_OIDC_ISSUER_URL", &issuer)
                .env("RUST_LOG", "warn"),
        );
        let Some(addr) = line.strip_prefix("listening on ") else {
            mcp_server.fail(&format!("printed {line:?}, not `listening on ADDR`"))
        };
        let origin = format!("http://{addr}");
        Setup {
            issuer,
            mcp_url: format!("{origin}/mcp"),
            origin,
            http: reqwest::Client::builder().timeout(STEP_TIMEOUT).build().unwrap(),
            authorization_server,
            mcp_server,
        }
    }

    fn logs(&self) -> String {
        format!(
            "--- authorization server ---\n{}\n--- MCP server ---\n{}",
            self.authorization_server.log(),
            self.mcp_server.log()
        )
    }

    /// A token from the authorization server's token endpoint, for `resource` with `scope`.
    async fn token(&self, resource: &str, scope: &str) -> String {
        self.token_as(CLIENT_ID, CLIENT_SECRET, resource, scope).await
    }

    /// A token of another client, for the MCP server with `scope`.
    async fn token_for(&self, client_id: &str, secret: &str, scope: &str) -> String {
        self.token_as(client_id, secret, &self.mcp_url, scope).await
    }

    async fn token_as(&self, client_id: &str, secret: &str, resource: &str, scope: &str) -> String {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", scope)
            .append_pair("resource", resource)
            .finish();
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(status.is_success(), "token endpoint answered {status}: {body}\n{}", self.logs());
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// POSTs one JSON-RPC message to the MCP endpoint.
    async fn post(&self, token: Option<&str>, message: Value) -> reqwest::Response {
        self.post_with(token, &[], message).await
    }

    /// POSTs one JSON-RPC message with further headers (`Mcp-Method`, `Mcp-Name`,
    /// `Mcp-Session-Id`).
    async fn post_with(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        message: Value,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.mcp_url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(message.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST /mcp")
    }

    /// `interop/mcp/tests/mcp/client.mjs` against this server; its JSON report.
    fn run_client(&self) -> Value {
        let output = Command::new(node())
            .arg(fixture_dir().join("client.mjs"))
            .current_dir(fixture_dir())
            .env("MCP_URL", &self.mcp_url)
            .env("ISSUER", &self.issuer)
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::null())
            .output()
            .expect("the MCP client runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the MCP client failed ({}):\n{stderr}\n{}",
            output.status,
            self.logs()
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("the MCP client's report is not JSON ({e}): {:?}", output.stdout)
        })
    }
}

fn initialize() -> Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "jwt-layer-test", "version": "0.0.0"}
        }
    })
}

fn challenge(response: &reqwest::Response) -> String {
    let values: Vec<_> = response.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(values.len(), 1, "one challenge expected: {values:?}");
    values[0].to_str().unwrap().to_owned()
}

/// The official MCP client, given only the server's URL and its client credentials, finds the
/// authorization server by itself, gets a token for this resource, and calls `whoami`, whose
/// text names the token's `client_id` and `sub`. A tool needing a further scope is refused
/// 403 `insufficient_scope`; a client configured with that scope reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn the_official_client_discovers_authorization_and_calls_whoami() {
    let setup = Setup::start();
    let report = tokio::task::block_in_place(|| setup.run_client());
    let context = || format!("{report:#}\n{}", setup.logs());

    // client_credentials tokens from oidc-provider have `sub` = `client_id`.
    let whoami = report["whoami"].as_str().unwrap_or_default();
    assert!(whoami.contains(&format!("client_id={CLIENT_ID}")), "{}", context());
    assert!(whoami.contains(&format!("sub={CLIENT_ID}")), "{}", context());
    assert!(whoami.contains("scopes=mcp:tools"), "{}", context());
    assert_eq!(report["tools"], serde_json::json!(["admin_echo", "whoami"]), "{}", context());

    // The discovery, in order: the 401 with its challenge, the protected resource metadata it
    // names, the authorization server's metadata, the token request with `resource`, then
    // the MCP exchange.
    let requests = report["requests"].as_array().expect("requests");
    let seen: Vec<(String, String, u64)> = requests
        .iter()
        .map(|r| {
            let (method, url) = (r["method"].as_str().unwrap(), r["url"].as_str().unwrap());
            (method.to_owned(), url.to_owned(), r["status"].as_u64().unwrap())
        })
        .collect();
    let well_known = format!("{}/.well-known/oauth-protected-resource/mcp", setup.origin);
    assert!(seen.len() >= 5, "{}", context());
    assert_eq!(seen[0], ("POST".into(), setup.mcp_url.clone(), 401), "{}", context());
    assert_eq!(seen[1], ("GET".into(), well_known, 200), "{}", context());
    assert_eq!(seen[2].0, "GET", "{}", context());
    assert!(seen[2].1.starts_with(&format!("{}/.well-known/", setup.issuer)), "{}", context());
    assert_eq!(seen[2].2, 200, "{}", context());
    assert_eq!(seen[3], ("POST".into(), format!("{}/token", setup.issuer), 200), "{}", context());
    assert_eq!(requests[3]["form"]["grant_type"], "client_credentials", "{}", context());
    assert_eq!(requests[3]["form"]["resource"], setup.mcp_url.as_str(), "{}", context());
    assert_eq!(requests[3]["form"]["scope"], "mcp:tools", "{}", context());
    assert_eq!(seen[4], ("POST".into(), setup.mcp_url.clone(), 200), "{}", context());
    // Once authorized, nothing on /mcp is refused again.
    assert!(
        seen[4..].iter().all(|(_, url, status)| !url.starts_with(&setup.mcp_url)
            || (200..300).contains(&(*status as u16))),
        "{}",
        context()
    );

    // admin_echo without mcp:admin: refused on the HTTP request, before the tool runs; the
    // client tries once more with a fresh token of its configured scope, then gives up.
    let denied = &report["adminWithoutScope"];
    assert_eq!(denied["code"], 403, "{}", context());
    assert_eq!(denied["requests"][0]["status"], 403, "{}", context());
    assert_eq!(report["adminWithScope"], "hello admin", "{}", context());
}

/// The refusals a client sees, over plain HTTP with tokens from the authorization server's
/// token endpoint: each carries `resource_metadata`, and the scope to ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn refusals_name_the_metadata_and_the_scope() {
    let setup = Setup::start();
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", setup.origin);
    let resource_metadata = format!(r#"resource_metadata="{metadata_url}""#);

    // The metadata document, public.
    let response = setup.http.get(&metadata_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let metadata: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(metadata["resource"], setup.mcp_url.as_str(), "{metadata}");
    assert_eq!(metadata["authorization_servers"], serde_json::json!([setup.issuer]), "{metadata}");
    assert_eq!(metadata["scopes_supported"], serde_json::json!(["mcp:tools", "mcp:admin"]));

    // No token: 401 without an error, with the scope to ask for and where to look.
    let response = setup.post(None, initialize()).await;
    assert_eq!(response.status(), 401);
    let header = challenge(&response);
    assert!(!header.contains("error="), "{header}");
    assert!(header.contains(r#"scope="mcp:tools""#), "{header}");
    assert!(header.contains(&resource_metadata), "{header}");

    // A genuine token of the same authorization server, for another resource (RFC 8707).
    let other = setup.token(OTHER_RESOURCE, "mcp:tools").await;
    let response = setup.post(Some(&other), initialize()).await;
    assert_eq!(response.status(), 401, "{}", setup.logs());
    let header = challenge(&response);
    assert!(header.contains(r#"error="invalid_token""#), "{header}");
    assert!(header.contains(&resource_metadata), "{header}");

    // A token for this resource without the scope every request needs: the challenge names
    // the token's own scope and the missing one, so a client asking for exactly these keeps
    // what it had.
    let admin_only = setup.token(&setup.mcp_url, "mcp:admin").await;
    let response = setup.post(Some(&admin_only), initialize()).await;
    assert_eq!(response.status(), 403, "{}", setup.logs());
    let header = challenge(&response);
    assert!(header.contains(r#"error="insufficient_scope""#), "{header}");
    assert!(header.contains(r#"scope="mcp:admin mcp:tools""#), "{header}");
    assert!(header.contains(&resource_metadata), "{header}");

    // The right token: the MCP server answers.
    let tools = setup.token(&setup.mcp_url, "mcp:tools").await;
    let response = setup.post(Some(&tools), initialize()).await;
    assert_eq!(response.status(), 200, "{}", setup.logs());
    let body = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    assert!(body.contains("jwt-layer-mcp-example"), "{body}");

    // A tool needing a further scope: 403 on that one call, naming every scope it needs.
    let call = serde_json::json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "admin_echo", "arguments": {"text": "hi"}}
    });
    let response = setup.post(Some(&tools), call.clone()).await;
    assert_eq!(response.status(), 403, "{}", setup.logs());
    let header = challenge(&response);
    assert!(header.contains(r#"error="insufficient_scope""#), "{header}");
    assert!(header.contains(r#"scope="mcp:tools mcp:admin""#), "{header}");
    assert!(header.contains(&resource_metadata), "{header}");

    // Hidden in a JSON-RPC batch behind an allowed call: refused all the same.
    let whoami = serde_json::json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}
    });
    let response = setup.post(Some(&tools), serde_json::json!([whoami, call])).await;
    assert_eq!(response.status(), 403, "{}", setup.logs());
    assert!(challenge(&response).contains(r#"scope="mcp:tools mcp:admin""#));
}

/// The 2026-07-28 revision's `Mcp-Method` and `Mcp-Name` headers are held to the body (a lying
/// name is refused 400 whatever the token holds), and a session belongs to the caller that
/// opened it (another client's token on it is answered 404).
#[tokio::test]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn headers_are_held_to_the_body_and_sessions_to_their_caller() {
    let setup = Setup::start();
    let tools = setup.token(&setup.mcp_url, "mcp:tools").await;
    let admin = setup.token(&setup.mcp_url, "mcp:tools mcp:admin").await;

    let response =
        setup.post_with(Some(&tools), &[("mcp-method", "initialize")], initialize()).await;
    assert_eq!(response.status(), 200, "{}", setup.logs());
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let in_session = |method: &'static str, name: Option<&'static str>| {
        let mut headers = vec![("mcp-session-id", session.clone()), ("mcp-method", method.into())];
        headers.extend(name.map(|name| ("mcp-name", name.to_owned())));
        headers
    };
    let send = |token: String, headers: Vec<(&'static str, String)>, message: Value| {
        let setup = &setup;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            setup.post_with(Some(&token), &headers, message).await
        }
    };
    let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response =
        send(tools.clone(), in_session("notifications/initialized", None), initialized).await;
    assert_eq!(response.status(), 202, "{}", setup.logs());

    let whoami = serde_json::json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}
    });
    let admin_echo = serde_json::json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "admin_echo", "arguments": {"text": "hi"}}
    });
    // Honest headers: the call goes through.
    let headers = in_session("tools/call", Some("whoami"));
    let response = send(tools.clone(), headers.clone(), whoami).await;
    assert_eq!(response.status(), 200, "{}", setup.logs());
    let body = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    assert!(body.contains("client_id=mcp-client"), "{body}");

    // `Mcp-Name: whoami` on a call of `admin_echo`: refused, even for a token that could call
    // it, so no gateway that trusts the header can be led past the body.
    for token in [&tools, &admin] {
        let response = send(token.clone(), headers.clone(), admin_echo.clone()).await;
        assert_eq!(response.status(), 400, "{}", setup.logs());
        assert!(challenge(&response).contains(r#"error="invalid_request""#));
    }

    // Another client's token on this session: no such session for it.
    let other = setup.token_for(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, "mcp:tools").await;
    let whoami_again = serde_json::json!({
        "jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}
    });
    let response = send(other, headers, whoami_again).await;
    assert_eq!(response.status(), 404, "{}", setup.logs());
}

const PYTHON_SETUP_HINT: &str = "run `python3 -m venv interop/mcp/tests/mcp/.venv && \
     interop/mcp/tests/mcp/.venv/bin/pip install -r interop/mcp/tests/mcp/requirements.txt` \
     (needs Python 3.10 or newer with venv) before `cargo test`";

/// The Python of `interop/mcp/tests/mcp/.venv`, checked to import the MCP SDK.
fn python() -> PathBuf {
    let python = fixture_dir().join(".venv").join("bin").join("python");
    assert!(python.is_file(), "{} is missing; {PYTHON_SETUP_HINT}", python.display());
    match Command::new(&python).args(["-c", "import mcp.client.auth"]).output() {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "the MCP Python SDK is not installed in {} ({}): {}\n{PYTHON_SETUP_HINT}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("{} could not be run: {e}\n{PYTHON_SETUP_HINT}", python.display()),
    }
}

/// `interop/mcp/tests/mcp/client.py` against this server; its JSON report.
fn run_python_client(setup: &Setup, python: &std::path::Path) -> Value {
    let output = Command::new(python)
        .arg(fixture_dir().join("client.py"))
        .current_dir(fixture_dir())
        .env("MCP_URL", &setup.mcp_url)
        .env("ISSUER", &setup.issuer)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the Python MCP client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Python MCP client failed ({}):\n{stderr}\n{}",
        output.status,
        setup.logs()
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("the Python MCP client's report is not JSON ({e}): {:?}", output.stdout)
    })
}

/// The official MCP Python SDK's client, on both protocol revisions (2026-07-28, which its
/// default negotiates by `server/discover`, and the 2025-11-25 `initialize` handshake), given
/// only the server's URL and its client credentials: it discovers authorization from the 401,
/// calls `whoami`, and on the 403 of `admin_echo` asks for a token with the challenge's scopes
/// and sends the call again (step-up). On 2026-07-28 every request carries `Mcp-Method` (and
/// `Mcp-Name` for a tool call) matching its body, which the layer holds it to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python and the MCP SDK; ./scripts/test.sh runs it"]
async fn the_python_sdk_discovers_authorization_and_steps_up_on_both_revisions() {
    let python = python();
    let setup = Setup::start();
    let report = tokio::task::block_in_place(|| run_python_client(&setup, &python));
    let context = || format!("{report:#}\n{}", setup.logs());
    let well_known = format!("{}/.well-known/oauth-protected-resource/mcp", setup.origin);
    let token_url = format!("{}/token", setup.issuer);

    for (revision, handshake) in [("2026-07-28", "server/discover"), ("2025-11-25", "initialize")] {
        let run = &report["runs"][revision];
        let context = || format!("run {revision}: {}", context());
        assert_eq!(run["protocolVersion"], revision, "{}", context());
        assert_eq!(run["tools"], serde_json::json!(["admin_echo", "whoami"]), "{}", context());
        let whoami = run["whoami"].as_str().unwrap_or_default();
        assert!(whoami.contains(&format!("client_id={CLIENT_ID}")), "{}", context());
        assert!(whoami.contains(&format!("sub={CLIENT_ID}")), "{}", context());
        assert!(whoami.contains("scopes=mcp:tools"), "{}", context());

        // The discovery, in order: the handshake refused 401 with its challenge, the protected
        // resource metadata it names, the authorization server's metadata, the token request
        // with `resource` and the challenge's scope, the handshake again, accepted.
        let requests = run["requests"].as_array().expect("requests");
        let at = |i: usize| -> (&str, &str, u64) {
            let r = &requests[i];
            (
                r["method"].as_str().unwrap(),
                r["url"].as_str().unwrap(),
                r["status"].as_u64().unwrap(),
            )
        };
        assert!(requests.len() >= 7, "{}", context());
        assert_eq!(at(0), ("POST", setup.mcp_url.as_str(), 401), "{}", context());
        assert_eq!(requests[0]["rpc"], handshake, "{}", context());
        let challenge = requests[0]["challenge"].as_str().unwrap_or_default();
        assert!(challenge.contains(r#"scope="mcp:tools""#), "{}", context());
        assert!(challenge.contains(&format!(r#"resource_metadata="{well_known}""#)));
        assert_eq!(at(1), ("GET", well_known.as_str(), 200), "{}", context());
        assert_eq!(at(2).0, "GET", "{}", context());
        assert!(at(2).1.starts_with(&format!("{}/.well-known/", setup.issuer)), "{}", context());
        assert_eq!(at(2).2, 200, "{}", context());
        assert_eq!(at(3), ("POST", token_url.as_str(), 200), "{}", context());
        assert_eq!(requests[3]["form"]["grant_type"], "client_credentials", "{}", context());
        assert_eq!(requests[3]["form"]["resource"], setup.mcp_url.as_str(), "{}", context());
        assert_eq!(requests[3]["form"]["scope"], "mcp:tools", "{}", context());
        assert_eq!(at(4), ("POST", setup.mcp_url.as_str(), 200), "{}", context());
        assert_eq!(requests[4]["rpc"], handshake, "{}", context());
        // Once authorized, nothing on /mcp is refused until admin_echo.
        assert!(
            requests[4..].iter().all(|r| r["url"] != setup.mcp_url.as_str()
                || (200..300).contains(&r["status"].as_u64().unwrap())),
            "{}",
            context()
        );
        let rpcs: Vec<&str> = requests.iter().filter_map(|r| r["rpc"].as_str()).collect();
        assert!(rpcs.contains(&"tools/list"), "{}", context());
        assert!(rpcs.contains(&"tools/call whoami"), "{}", context());

        // admin_echo with only mcp:tools: refused 403 before the tool runs, naming both
        // scopes; the SDK asks for a token with them (the union of what it had and what the
        // challenge names) and sends the call again, which goes through.
        let denied = &run["adminWithoutScope"];
        let steps = denied["requests"].as_array().expect("requests");
        assert_eq!(steps.len(), 3, "{}", context());
        assert_eq!(steps[0]["status"], 403, "{}", context());
        assert_eq!(steps[0]["rpc"], "tools/call admin_echo", "{}", context());
        let challenge = steps[0]["challenge"].as_str().unwrap_or_default();
        assert!(challenge.contains(r#"error="insufficient_scope""#), "{}", context());
        assert!(challenge.contains(r#"scope="mcp:tools mcp:admin""#), "{}", context());
        assert_eq!(steps[1]["url"], token_url.as_str(), "{}", context());
        assert_eq!(steps[1]["form"]["scope"], "mcp:tools mcp:admin", "{}", context());
        assert_eq!(steps[1]["form"]["resource"], setup.mcp_url.as_str(), "{}", context());
        assert_eq!(steps[2]["status"], 200, "{}", context());
        assert_eq!(steps[2]["rpc"], "tools/call admin_echo", "{}", context());
        assert_eq!(denied["result"], "hello", "{}", context());

        // A client configured for both scopes reaches the tool. Its first token request asks
        // for the 401's scope, not its configured one: the 403 leads it to the admin scope.
        let admin = &run["adminWithScope"];
        assert_eq!(admin["result"], "hello admin", "{}", context());
        let scopes: Vec<&str> = admin["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .filter(|r| r["url"] == token_url.as_str())
            .map(|r| r["form"]["scope"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(scopes, ["mcp:tools", "mcp:tools mcp:admin"], "{}", context());

        // The 2026-07-28 headers: on every POST of that revision, naming the body's method and
        // tool; never on the older one.
        let posts = requests
            .iter()
            .chain(steps)
            .chain(admin["requests"].as_array().unwrap())
            .filter(|r| r["method"] == "POST" && r["url"] == setup.mcp_url.as_str());
        for post in posts {
            let rpc = post["rpc"].as_str().unwrap_or_default();
            if revision == "2026-07-28" {
                let (method, name) = rpc.split_once(' ').map_or((rpc, None), |(m, n)| (m, Some(n)));
                assert_eq!(post["mcp-method"], method, "{post}\n{}", context());
                assert_eq!(post["mcp-name"].as_str(), name, "{post}\n{}", context());
                assert_eq!(post["mcp-protocol-version"], revision, "{post}\n{}", context());
            } else {
                assert!(post["mcp-method"].is_null(), "{post}\n{}", context());
                assert!(post["mcp-name"].is_null(), "{post}\n{}", context());
            }
        }
    }
}
