//! A browser application in a real browser: headless Chromium (the system's, driven by
//! `tests/browser/run.mjs` with puppeteer-core) opens a page served from one loopback origin,
//! which calls an API on another: the layer with `Dpop::allowed()` and server nonces behind
//! tower-http's `CorsLayer`, as README's "Browser applications" arranges them, verifying
//! tokens of the OpenID provider of `tests/oidc` (panva's `oidc-provider`) through discovery.
//!
//! The page gets a Bearer token (client credentials) and calls the API (200), calls it without
//! a token (401, and reads the challenge), then signs a user in at the provider's own sign-in
//! and consent pages (authorization code with PKCE, a public client; the driver types the login
//! as a person would), makes a non-extractable P-256 key with WebCrypto, exchanges the code
//! for a DPoP-bound token with a proof signed in the page, calls the API with proofs it signs,
//! retrying with the `DPoP-Nonce` of the refusal (401, then 200), and sends a proof again
//! (401). The provider answers cross-origin requests only for clients without a secret, so the
//! client-credentials request goes through the page's own origin (`/token`, relayed as is);
//! the code exchange goes to the provider directly.
//!
//! Needs Chromium, Node.js and the packages of `tests/browser` and `tests/oidc`, so the test is
//! ignored with that reason; `./scripts/test.sh` installs them and runs it. Run by hand without
//! them, it FAILS with the setup instruction; it never passes silently.
#![cfg(feature = "remote")]

#[allow(dead_code)]
#[path = "support/child_process.rs"]
mod child_process;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use child_process::ChildProcess;
use jwt_layer::keys::Jwks;
use jwt_layer::{Claims, Dpop, JwtAuth};
use serde_json::Value;
use tokio::net::TcpListener;
use tower::util::MapRequestLayer;
use tower_http::cors::CorsLayer;

const CLIENT_ID: &str = "jwt-layer-test";
const CLIENT_SECRET: &str = "jwt-layer-secret";
/// Whom the driver signs in as, at the provider's sign-in page.
const USER: &str = "alice";
/// The resource the provider issues its tokens for.
const API: &str = "https://api.example.test/";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for the whole browser run, so a hang fails instead of stalling.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);
const SETUP_HINT: &str = "install Chromium (`apt-get install chromium`; or name one in CHROMIUM) \
    and Node.js, and run `npm ci --prefix tests/browser` and `npm ci --prefix tests/oidc` \
    before `cargo test --test browser -- --ignored`; ./scripts/test.sh does all of it";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Panics with [`SETUP_HINT`] unless `command --version` runs; returns what it printed.
fn version_of(command: &std::ffi::OsStr, what: &str) -> String {
    match Command::new(command).arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => panic!(
            "`{} --version` failed ({}): {}\n{SETUP_HINT}",
            command.to_string_lossy(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "{what} is required by this test but `{}` could not be run: {e}\n{SETUP_HINT}",
            command.to_string_lossy()
        ),
    }
}

fn assert_installed(package: &Path) {
    assert!(package.is_file(), "{} is missing: {SETUP_HINT}", package.display());
}

/// `GET /me`: whom the token was issued to (the client itself, or the user signed in).
async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

/// The page's origin: the page, and its token endpoint relayed to the provider's.
fn page_app(token_endpoint: String) -> Router {
    let page = std::fs::read_to_string(root().join("browser").join("page.html")).unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    Router::new().route("/", get(move || std::future::ready(Html(page)))).route(
        "/token",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let mut relayed = http.post(&token_endpoint).body(body);
            for name in
                [header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("dpop")]
            {
                if let Some(value) = headers.get(&name) {
                    relayed = relayed.header(name, value);
                }
            }
            let answer = relayed.send().await.expect("the provider answers");
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            let body = answer.bytes().await.unwrap();
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }),
    )
}

/// The API: the layer, the `CorsLayer` outside it, and outermost a log of the preflights
/// that reached the server.
fn api_app(auth: JwtAuth<Value>, page_origin: &str, preflights: Arc<Mutex<Vec<String>>>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin([HeaderValue::from_str(page_origin).unwrap()])
        .allow_methods([Method::GET])
        .allow_headers([header::AUTHORIZATION, HeaderName::from_static("dpop")])
        .expose_headers([header::WWW_AUTHENTICATE, HeaderName::from_static("dpop-nonce")]);
    let log = MapRequestLayer::new(move |request: Request<Body>| {
        if request.method() == Method::OPTIONS {
            let asked = request.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS);
            preflights.lock().unwrap().push(format!("{} {asked:?}", request.uri().path()));
        }
        request
    });
    Router::new().route("/me", get(me)).layer(auth.layer()).layer(cors).layer(log)
}

async fn serve(listener: TcpListener, app: Router) {
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

fn step<'a>(results: &'a [Value], name: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["step"] == name)
        .unwrap_or_else(|| panic!("the page recorded no step {name:?}: {results:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and tests/browser's packages; ./scripts/test.sh runs it"]
async fn a_page_on_another_origin_calls_the_api_with_bearer_and_dpop_tokens() {
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    let chromium = std::env::var_os("CHROMIUM").unwrap_or_else(|| "chromium".into());
    version_of(&node, "Node.js");
    let chromium_version = version_of(&chromium, "Chromium");
    assert_installed(&root().join("browser/node_modules/puppeteer-core/package.json"));
    assert_installed(&root().join("oidc/node_modules/oidc-provider/package.json"));

    let api_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_origin = format!("http://{}", api_listener.local_addr().unwrap());
    let page_origin = format!("http://{}", page_listener.local_addr().unwrap());

    let (_provider, line) = ChildProcess::start(
        "OpenID provider",
        SETUP_HINT,
        STARTUP_TIMEOUT,
        Command::new(&node)
            .arg(root().join("oidc/provider.mjs"))
            .current_dir(root().join("oidc"))
            .env("ACCESS_TOKEN_ALG", "ES256")
            .env("EXIT_ON_STDIN_CLOSE", "1")
            .env("PORT", "0")
            .env("BROWSER_REDIRECT_URI", format!("{page_origin}/")),
    );
    let issuer =
        serde_json::from_str::<Value>(&line).unwrap()["issuer"].as_str().unwrap().to_owned();
    let discovery: Value = reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .bytes()
        .await
        .map(|body| serde_json::from_slice(&body).unwrap())
        .unwrap();
    let endpoint = |name: &str| discovery[name].as_str().unwrap().to_owned();
    let (authorization_endpoint, token_endpoint) =
        (endpoint("authorization_endpoint"), endpoint("token_endpoint"));
    let nonce_secret: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
    let auth = JwtAuth::<Value>::builder()
        .keys(Jwks::discover(&issuer).unwrap())
        .issuer(&issuer)
        .audience(API)
        .dpop(
            Dpop::allowed()
                .public_origin(&api_origin)
                .require_nonce(&nonce_secret, Duration::from_secs(300)),
        )
        .build()
        .unwrap();
    let preflights = Arc::new(Mutex::new(Vec::new()));
    serve(api_listener, api_app(auth, &page_origin, Arc::clone(&preflights))).await;
    serve(page_listener, page_app(token_endpoint.clone())).await;

    let url = format!(
        "{page_origin}/#api={api_origin}&authorization_endpoint={authorization_endpoint}\
         &token_endpoint={token_endpoint}&resource={API}\
         &client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    let started = Instant::now();
    let driver = tokio::task::spawn_blocking(move || {
        ChildProcess::start(
            "browser driver",
            SETUP_HINT,
            BROWSER_TIMEOUT,
            Command::new(&node)
                .arg(root().join("browser/run.mjs"))
                .arg(&url)
                .current_dir(root().join("browser"))
                .env("CHROMIUM", &chromium),
        )
    });
    let (mut driver, line) = driver.await.unwrap();
    let elapsed = started.elapsed();
    let report: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| driver.fail(&format!("printed {line:?}, not JSON: {e}")));
    let results = report["results"].as_array().unwrap().clone();
    println!("{chromium_version} ({}), page run in {elapsed:?}", report["browser"]);
    println!("  visited: {}", report["visited"]);
    for result in &results {
        println!("  {result}");
    }
    let log = driver.log();
    assert!(results.iter().all(|r| r["step"] != "error"), "{results:#?}\n{log}");

    let bearer = step(&results, "bearer token");
    assert_eq!(
        (bearer["status"].as_u64(), bearer["token_type"].as_str()),
        (Some(200), Some("Bearer"))
    );
    let call = step(&results, "api with bearer");
    assert_eq!(
        (call["status"].as_u64(), call["body"].as_str()),
        (Some(200), Some(CLIENT_ID)),
        "{call}"
    );

    // The page reads the challenge: the API exposes WWW-Authenticate to it.
    let call = step(&results, "api without token");
    assert_eq!(call["status"], 401, "{call}");
    let challenge =
        call["www_authenticate"].as_str().unwrap_or_else(|| panic!("unreadable: {call}"));
    assert!(challenge.starts_with(r#"Bearer realm="api""#), "{challenge}");
    assert!(challenge.contains(r#"DPoP realm="api", algs="#), "{challenge}");

    // A person's part: the provider's sign-in page, then its consent page.
    let visited = report["visited"].as_array().unwrap();
    assert_eq!(visited, &[format!("login at {issuer}"), format!("consent at {issuer}")]);
    let signed_in = step(&results, "signed in");
    assert_eq!(signed_in["state_matches"], true, "{signed_in}");
    assert_eq!(signed_in["error"], Value::Null, "{signed_in}");

    let key = step(&results, "key");
    assert_eq!(key["extractable"], false, "{key}");
    assert_eq!(key["export_private"], "InvalidAccessError", "{key}");
    let bound = step(&results, "dpop token");
    assert_eq!((bound["status"].as_u64(), bound["token_type"].as_str()), (Some(200), Some("DPoP")));
    assert_eq!(bound["cnf_jkt"], key["thumbprint"], "bound to the page's key: {bound} {key}");
    assert_eq!(bound["sub"], USER, "{bound}");

    let call = step(&results, "api with dpop, no nonce");
    assert_eq!(call["status"], 401, "{call}");
    assert!(
        call["www_authenticate"].as_str().unwrap().contains(r#"error="use_dpop_nonce""#),
        "{call}"
    );
    assert!(call["dpop_nonce"].is_string(), "DPoP-Nonce not readable: {call}");
    let call = step(&results, "api with dpop and nonce");
    assert_eq!((call["status"].as_u64(), call["body"].as_str()), (Some(200), Some(USER)), "{call}");
    let call = step(&results, "api with replayed proof");
    assert_eq!(call["status"], 401, "{call}");
    assert!(
        call["www_authenticate"]
            .as_str()
            .unwrap()
            .ends_with(r#"error="invalid_dpop_proof", error_description="proof already used""#),
        "{call}"
    );

    // Chromium asked before each kind of credentialed call, and the CorsLayer answered.
    let preflights = preflights.lock().unwrap().clone();
    println!("  preflights: {preflights:?}");
    assert!(!preflights.is_empty(), "no preflight reached the API");
    assert!(
        preflights.iter().all(|p| p.starts_with("/me ") && p.contains("authorization")),
        "{preflights:?}"
    );
}
