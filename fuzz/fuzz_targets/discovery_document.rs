//! OpenID Connect discovery documents, through the public API: a loopback server (127.0.0.1,
//! its own thread) answers `/.well-known/openid-configuration` (and RFC 8414's location) with
//! the fuzz input, in which `{BASE}` stands for the server's own `http://127.0.0.1:PORT`, and
//! `/jwks` with the fixture JWKS; `RemoteJwks::discover_builder(BASE).refresh()` runs once per
//! input. The client's only proxy is that server, so nothing leaves the machine whatever a
//! mutated document names. Discovery parsing is internal to the crate, so this is the only way in; each input
//! costs two or three loopback HTTP requests, which bounds the rate (see the figures in docs/testing.md).
//!
//! Invariants: nothing panics; `refresh` ends within the fetch timeout (plus slack); when it
//! succeeds, the document is a JSON object (UTF-8 aside, see below) whose `issuer` is exactly BASE and whose
//! `jwks_uri` is the URL the provider reports, on loopback.
#![no_main]

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{StatusCode, Uri, header};
use jwt_layer::keys::RemoteJwks;
use jwt_layer_fuzz::{FIXTURE_JWKS, RUNTIME};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(2);

struct Server {
    base: String,
    document: Arc<Mutex<Vec<u8>>>,
}

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let document = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = Arc::clone(&document);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new().fallback(answer).with_state(shared);
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Server { base: format!("http://{addr}"), document }
});

async fn answer(State(document): State<Arc<Mutex<Vec<u8>>>>, uri: Uri) -> impl IntoResponse {
    let json = [(header::CONTENT_TYPE, "application/json")];
    match uri.path() {
        "/jwks" => (StatusCode::OK, json, FIXTURE_JWKS.as_bytes().to_vec()),
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => {
            (StatusCode::OK, json, document.lock().unwrap().clone())
        }
        _ => (StatusCode::NOT_FOUND, json, Vec::new()),
    }
}

/// Every connection goes to the loopback server, whatever the URL names: it is the client's
/// only proxy, so a mutated `jwks_uri` can never send traffic off the machine (no DNS lookup
/// either: the proxy is an IP literal).
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::all(&SERVER.base).unwrap())
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
});

/// Replaces every `{BASE}` in the input with the server's address.
fn expand(data: &[u8], base: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    let mut rest = data;
    while let Some(i) = rest.windows(6).position(|w| w == b"{BASE}") {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(base.as_bytes());
        rest = &rest[i + 6..];
    }
    out.extend_from_slice(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let server = &*SERVER;
    let document = expand(data, &server.base);
    *server.document.lock().unwrap() = document.clone();

    let remote = RemoteJwks::discover_builder(&server.base)
        .client(CLIENT.clone())
        .timeout(TIMEOUT)
        .build()
        .expect("loopback http is allowed");
    let started = Instant::now();
    let result = RUNTIME.block_on(remote.refresh());
    let elapsed = started.elapsed();
    assert!(elapsed < TIMEOUT + Duration::from_secs(1), "refresh took {elapsed:?}");

    if result.is_ok() {
        // serde_json does not check UTF-8 inside members it skips, so a document with bad
        // bytes in a member the crate ignores is accepted; the members it reads are checked.
        let text = String::from_utf8_lossy(&document);
        let value: Value =
            serde_json::from_str(&text).expect("accepted a document that is not JSON");
        assert_eq!(
            value.get("issuer").and_then(Value::as_str),
            Some(server.base.as_str()),
            "accepted a document for another issuer"
        );
        let jwks_uri = value.get("jwks_uri").and_then(Value::as_str).expect("no jwks_uri");
        let status = remote.status();
        let used = status.jwks_url.expect("a jwks url after success");
        let parsed = reqwest::Url::parse(jwks_uri).expect("accepted a jwks_uri that is no URL");
        assert_eq!(used, parsed.as_str(), "fetched another URL than the document's");
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => {
                let name = name.to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
            None => false,
        };
        assert!(parsed.scheme() == "https" || loopback, "plain http off loopback: {used}");
    }
});
