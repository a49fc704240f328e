//! Fault injection on the JWKS and discovery servers: connection refused, reset mid-body,
//! truncated body, slow loris (headers and body), 10 MB bodies (with and without
//! `Content-Length`), invalid UTF-8, wrong content type, redirect loops and chains, and DNS
//! failure of the host. Each fault has its documented outcome, checked through the layer, and
//! must end: every request runs under a hang guard, and the faults that only the fetch timeout
//! can end (slow loris) would outlast that guard by far if the timeout did not. Nothing is
//! timed: retry intervals and cooldowns run on a clock the test advances.
//!
//! Documented outcomes (README, "Remote key sets"):
//! - no key set fetched yet: 401 `invalid_token` "verification keys unavailable", after at most
//!   the fetch timeout, then without a new fetch until the next retry;
//! - a key set cached: the last good set is kept, known keys verify (200), unknown `kid`s are
//!   refused (401 "no matching key");
//! - the content type is not checked: a body that parses as a JWKS is used whatever its
//!   `Content-Type`; one that does not is a failed fetch.
//!
//! The faulty servers are raw TCP servers on 127.0.0.1 (tokio `TcpListener`), so they can break
//! HTTP in ways a framework would not. DNS failure uses a host under `.invalid` (RFC 6761 §6.4)
//! with an injected resolver that fails every lookup, so not even a DNS query leaves the
//! machine.
#![cfg(feature = "remote")]

use crate::clock;
use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use clock::ManualClock;
use common::*;
use http::StatusCode;
use jwt_layer::keys::RemoteJwks;
use jwt_layer::{Algorithm, Claims, JwtAuth};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// The fetch timeout of every provider here (real time: it ends the slow-loris fetches).
const TIMEOUT: Duration = Duration::from_millis(1000);
/// A request that takes longer than this hangs; the slow-loris servers go on for a minute.
const HANG_GUARD: Duration = Duration::from_secs(20);
const TEN_MB: usize = 10 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 server that misbehaves on demand.

/// How the server answers.
#[derive(Clone, Debug)]
enum Mode {
    /// 200 with `body` and this content type, then close.
    Answer { content_type: &'static str, body: Vec<u8> },
    /// Refuses to exist: the listener is closed (connections are refused).
    Refused,
    /// Headers with `Content-Length`, half the body, then a TCP reset.
    ResetMidBody,
    /// Headers with `Content-Length`, half the body, then a clean close (FIN).
    TruncatedBody,
    /// Headers at once, then one body byte every 100 ms, for a minute.
    SlowLorisBody,
    /// The status line and headers one byte every 100 ms, for a minute.
    SlowLorisHeaders,
    /// A 10 MB body, announced by `Content-Length` or not (chunked).
    Huge { content_length: bool },
    /// 302 to the very same URL, forever.
    RedirectLoop,
    /// 302 through `hops` more locations, then the JWKS.
    RedirectChain { hops: usize },
    /// 302 to this location.
    RedirectTo(String),
    /// Reads the request, then closes without a byte.
    CloseWithoutAnswer,
    /// `document` (with `{BASE}` replaced by this server's `http://addr`) on
    /// `/.well-known/…` paths, the JWKS on every other path.
    Discovery { document: Vec<u8> },
}

struct FaultServer {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    async fn start(mode: Mode) -> FaultServer {
        // The issuer's keys are made before any client waits for this server.
        issuer();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Refused: the port was just bound and is closed again before anyone connects.
        let listener = if matches!(mode, Mode::Refused) {
            drop(listener);
            None
        } else {
            Some(listener)
        };
        let mode = Arc::new(Mutex::new(mode));
        let requests = Arc::new(AtomicU64::new(0));
        let (task_mode, task_requests) = (Arc::clone(&mode), Arc::clone(&requests));
        let task = tokio::spawn(async move {
            let Some(listener) = listener else { return };
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let mode = task_mode.lock().unwrap().clone();
                let requests = Arc::clone(&task_requests);
                tokio::spawn(async move {
                    let _ = serve(stream, mode, requests, addr).await;
                });
            }
        });
        FaultServer { addr, mode, requests, task }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn url(&self) -> String {
        format!("{}/jwks.json", self.base())
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

fn jwks_body() -> Vec<u8> {
    serde_json::to_vec(&issuer().jwks_json()).unwrap()
}

/// The request's path, or `None` if the client went away first.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buffer.len() > 64 * 1024 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buffer);
    Some(text.split_whitespace().nth(1).unwrap_or("/").to_owned())
}

fn head(status: &str, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nConnection: close\r\n{extra}\r\n").into_bytes()
}

async fn serve(
    mut stream: TcpStream,
    mode: Mode,
    requests: Arc<AtomicU64>,
    addr: SocketAddr,
) -> std::io::Result<()> {
    let Some(path) = read_request(&mut stream).await else { return Ok(()) };
    requests.fetch_add(1, Ordering::SeqCst);
    let body = jwks_body();
    match mode {
        Mode::Refused => {}
        Mode::Answer { content_type, body } => {
            let extra =
                format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len());
            stream.write_all(&head("200 OK", &extra)).await?;
            stream.write_all(&body).await?;
        }
        Mode::ResetMidBody | Mode::TruncatedBody => {
            let extra =
                format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
            stream.write_all(&head("200 OK", &extra)).await?;
            stream.write_all(&body[..body.len() / 2]).await?;
            stream.flush().await?;
            if matches!(mode, Mode::ResetMidBody) {
                stream.set_zero_linger()?;
            }
            drop(stream);
            return Ok(());
        }
        // The two slow lorises pace their bytes in real time: that is the fault (no read ever
        // idles long). No test waits on them; the fetch timeout ends them.
        Mode::SlowLorisBody => {
            stream
                .write_all(&head(
                    "200 OK",
                    "Content-Type: application/json\r\nContent-Length: 100000\r\n",
                ))
                .await?;
            for _ in 0..600 {
                stream.write_all(b" ").await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Mode::SlowLorisHeaders => {
            for byte in head("200 OK", "Content-Type: application/json\r\nX-Slow: ")
                .iter()
                .chain(std::iter::repeat_n(&b'x', 600))
            {
                stream.write_all(&[*byte]).await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Mode::Huge { content_length } => {
            let piece = vec![b' '; 64 * 1024];
            if content_length {
                let extra =
                    format!("Content-Type: application/json\r\nContent-Length: {TEN_MB}\r\n");
                stream.write_all(&head("200 OK", &extra)).await?;
                for _ in 0..TEN_MB / piece.len() {
                    stream.write_all(&piece).await?;
                }
            } else {
                let extra = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
                stream.write_all(&head("200 OK", extra)).await?;
                for _ in 0..TEN_MB / piece.len() {
                    stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
                    stream.write_all(&piece).await?;
                    stream.write_all(b"\r\n").await?;
                }
                stream.write_all(b"0\r\n\r\n").await?;
            }
        }
        Mode::RedirectLoop => {
            let extra = format!("Location: http://{addr}{path}\r\nContent-Length: 0\r\n");
            stream.write_all(&head("302 Found", &extra)).await?;
        }
        Mode::RedirectChain { hops } => {
            let hop: usize = path.strip_prefix("/hop/").and_then(|n| n.parse().ok()).unwrap_or(0);
            if hop < hops {
                let extra =
                    format!("Location: http://{addr}/hop/{}\r\nContent-Length: 0\r\n", hop + 1);
                stream.write_all(&head("302 Found", &extra)).await?;
            } else {
                let extra =
                    format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
                stream.write_all(&head("200 OK", &extra)).await?;
                stream.write_all(&body).await?;
            }
        }
        Mode::RedirectTo(location) => {
            let extra = format!("Location: {location}\r\nContent-Length: 0\r\n");
            stream.write_all(&head("302 Found", &extra)).await?;
        }
        Mode::CloseWithoutAnswer => return Ok(()),
        Mode::Discovery { document } => {
            let body = if path.starts_with("/.well-known/") {
                let base = format!("http://{addr}");
                let mut expanded = Vec::new();
                let mut rest = &document[..];
                while let Some(i) = rest.windows(6).position(|w| w == b"{BASE}") {
                    expanded.extend_from_slice(&rest[..i]);
                    expanded.extend_from_slice(base.as_bytes());
                    rest = &rest[i + 6..];
                }
                expanded.extend_from_slice(rest);
                expanded
            } else {
                body
            };
            let extra =
                format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
            stream.write_all(&head("200 OK", &extra)).await?;
            stream.write_all(&body).await?;
        }
    }
    stream.shutdown().await
}

// ---------------------------------------------------------------------------------------------
// The app, the tokens, the verdicts.

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

fn app(keys: RemoteJwks) -> Router {
    let auth: JwtAuth<Value> =
        JwtAuth::builder().keys(keys).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    Router::new().route("/me", get(me)).layer(auth.layer())
}

fn known_token() -> String {
    issuer().token().alg(Algorithm::ES256).claims(good_claims()).sign()
}

fn unknown_kid_token() -> String {
    let header = json!({"alg":"ES256","kid":"not-published"});
    issuer()
        .token()
        .alg(Algorithm::ES256)
        .raw_header(&header.to_string())
        .claims(good_claims())
        .sign()
}

/// The verdict of the layer for `token` (under the hang guard).
async fn call(app: &Router, token: &str) -> (StatusCode, String) {
    let response = tokio::time::timeout(
        HANG_GUARD,
        app.clone().oneshot(request("/me", Some(&format!("Bearer {token}")))),
    )
    .await
    .unwrap_or_else(|_| panic!("a request hung for {HANG_GUARD:?}"))
    .unwrap();
    let challenge = challenge(&response).unwrap_or_default().to_owned();
    (response.status(), challenge)
}

fn unavailable() -> (StatusCode, String) {
    (
        StatusCode::UNAUTHORIZED,
        r#"Bearer realm="api", error="invalid_token", error_description="verification keys unavailable""#.into(),
    )
}

fn no_matching_key() -> (StatusCode, String) {
    (
        StatusCode::UNAUTHORIZED,
        r#"Bearer realm="api", error="invalid_token", error_description="no matching key""#.into(),
    )
}

fn accepted() -> (StatusCode, String) {
    (StatusCode::OK, String::new())
}

/// The faults of the JWKS server, each with its outcome when no set was fetched yet.
fn jwks_faults() -> Vec<(&'static str, Mode, (StatusCode, String))> {
    let invalid_utf8 = {
        let mut body = jwks_body();
        // A byte that is never UTF-8, inside the first key's `kid` string.
        let at = body.windows(7).position(|w| w == br#""kid":""#).unwrap() + 8;
        body[at] = 0xff;
        body
    };
    vec![
        ("connection_refused", Mode::Refused, unavailable()),
        ("closed_without_answer", Mode::CloseWithoutAnswer, unavailable()),
        ("reset_mid_body", Mode::ResetMidBody, unavailable()),
        ("truncated_body_then_close", Mode::TruncatedBody, unavailable()),
        ("slow_loris_body", Mode::SlowLorisBody, unavailable()),
        ("slow_loris_headers", Mode::SlowLorisHeaders, unavailable()),
        ("ten_mb_body_with_content_length", Mode::Huge { content_length: true }, unavailable()),
        ("ten_mb_body_chunked", Mode::Huge { content_length: false }, unavailable()),
        (
            "invalid_utf8_in_the_jwks",
            Mode::Answer { content_type: "application/json", body: invalid_utf8 },
            unavailable(),
        ),
        (
            "html_error_page_as_json",
            Mode::Answer {
                content_type: "application/json",
                body: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            },
            unavailable(),
        ),
        (
            "valid_jwks_with_wrong_content_type_is_used",
            Mode::Answer { content_type: "text/html; charset=utf-8", body: jwks_body() },
            accepted(),
        ),
        ("redirect_loop", Mode::RedirectLoop, unavailable()),
        (
            "redirect_to_plain_http_off_loopback_not_followed",
            Mode::RedirectTo("http://jwks.invalid/jwks.json".into()),
            unavailable(),
        ),
        ("redirect_chain_of_two_is_followed", Mode::RedirectChain { hops: 2 }, accepted()),
    ]
}

fn provider(url: &str, cooldown: Duration, clock: &ManualClock) -> RemoteJwks {
    RemoteJwks::builder(url)
        .timeout(TIMEOUT)
        .cooldown(cooldown)
        .clock(clock.clone())
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// No set fetched yet: each fault gives its outcome; a second request right after is answered
/// without a new fetch (the provider's clock stands still, so the retry interval, here 5 s,
/// has not passed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_faults_without_a_cached_set() {
    let mut runs = tokio::task::JoinSet::new();
    for (name, mode, expected) in jwks_faults() {
        runs.spawn(async move {
            let server = FaultServer::start(mode).await;
            let keys = provider(&server.url(), Duration::from_secs(5), &ManualClock::new());
            let app = app(keys.clone());
            let (status, challenge) = call(&app, &known_token()).await;
            println!("{name}: {status}; last_error: {:?}", keys.status().last_error);
            let mut problems = Vec::new();
            if (status, challenge.clone()) != expected {
                problems.push(format!("got {status} {challenge:?}, expected {expected:?}"));
            }
            if expected.0 != StatusCode::OK {
                let fetches = keys.status().fetches;
                let (status, _) = call(&app, &known_token()).await;
                if status != expected.0 {
                    problems.push(format!("second request: {status}"));
                }
                if keys.status().fetches != fetches {
                    problems
                        .push("the second request fetched again within the retry interval".into());
                }
            }
            (name, problems)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (name, problems) = joined.expect("fault run panicked");
        failures.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A good set cached, then the server breaks: an explicit refresh fails, known keys keep
/// verifying, and an unknown `kid` (which triggers a refresh into the fault) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_faults_with_a_cached_set_keep_the_last_good_set() {
    let mut runs = tokio::task::JoinSet::new();
    for (name, mode, outcome) in jwks_faults() {
        if outcome.0 == StatusCode::OK {
            continue;
        }
        runs.spawn(async move {
            let good = Mode::Answer { content_type: "application/json", body: jwks_body() };
            let server = FaultServer::start(good).await;
            let clock = ManualClock::new();
            let cooldown = Duration::from_millis(100);
            let keys = provider(&server.url(), cooldown, &clock);
            let app = app(keys.clone());
            let mut problems = Vec::new();
            if call(&app, &known_token()).await.0 != StatusCode::OK {
                problems.push("the warm-up request failed".to_owned());
            }
            // Break the server (for `Refused`, by closing it: a new server on another port is
            // not the same URL, so stop accepting on this one instead).
            let server = if matches!(mode, Mode::Refused) {
                drop(server);
                None
            } else {
                server.set(mode);
                Some(server)
            };
            let refreshed = tokio::time::timeout(HANG_GUARD, keys.refresh())
                .await
                .unwrap_or_else(|_| panic!("{name}: refresh hung for {HANG_GUARD:?}"));
            if refreshed.is_ok() {
                problems.push("the refresh into the fault succeeded".into());
            }
            if keys.status().last_error.is_none() {
                problems.push("status().last_error is empty after a failed refresh".into());
            }
            let (status, challenge) = call(&app, &known_token()).await;
            if status != StatusCode::OK {
                problems.push(format!("known key: {status} {challenge:?}"));
            }
            clock.advance(cooldown + Duration::from_millis(50));
            let fetches = keys.status().fetches;
            let (status, challenge) = call(&app, &unknown_kid_token()).await;
            if (status, challenge.clone()) != no_matching_key() {
                problems.push(format!("unknown kid: {status} {challenge:?}"));
            }
            if keys.status().fetches != fetches + 1 {
                problems.push("the unknown kid past the cooldown did not try a refresh".into());
            }
            let (status, _) = call(&app, &known_token()).await;
            if status != StatusCode::OK {
                problems.push(format!("known key after the unknown kid: {status}"));
            }
            drop(server);
            (name, problems)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (name, problems) = joined.expect("fault run panicked");
        failures.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same faults on the discovery document (`/.well-known/openid-configuration` and RFC
/// 8414's location): the provider never gets keys, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_faults() {
    let mut faults: Vec<(&'static str, Mode)> = jwks_faults()
        .into_iter()
        .filter(|(_, _, outcome)| outcome.0 != StatusCode::OK)
        .map(|(name, mode, _)| (name, mode))
        .collect();
    faults.push((
        "discovery_document_with_invalid_utf8_in_issuer",
        Mode::Answer {
            content_type: "application/json",
            body: b"{\"issuer\":\"http://127.0.0.1\xff\",\"jwks_uri\":\"http://127.0.0.1/\"}"
                .to_vec(),
        },
    ));
    faults.push((
        "discovery_document_as_html",
        Mode::Answer { content_type: "text/html", body: b"<html>login</html>".to_vec() },
    ));
    let mut runs = tokio::task::JoinSet::new();
    for (name, mode) in faults {
        runs.spawn(async move {
            let server = FaultServer::start(mode).await;
            let keys = RemoteJwks::discover_builder(server.base())
                .timeout(TIMEOUT)
                .cooldown(Duration::from_secs(5))
                .build()
                .unwrap();
            let app = app(keys.clone());
            let (status, challenge) = call(&app, &known_token()).await;
            let mut problems = Vec::new();
            if (status, challenge.clone()) != unavailable() {
                problems.push(format!("got {status} {challenge:?}"));
            }
            if keys.status().last_error.is_none() {
                problems.push("status().last_error is empty".into());
            }
            (name, problems)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (name, problems) = joined.expect("fault run panicked");
        failures.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A redirect loop is cut off after a few requests, not followed until the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loops_are_cut_off_after_a_few_requests() {
    let server = FaultServer::start(Mode::RedirectLoop).await;
    let jwks_app = app(provider(&server.url(), Duration::from_secs(5), &ManualClock::new()));
    let (status, challenge) = call(&jwks_app, &known_token()).await;
    assert_eq!((status, challenge), unavailable());
    let asked = server.requests();
    assert!((1..=4).contains(&asked), "the loop was followed for {asked} requests");

    let server = FaultServer::start(Mode::RedirectLoop).await;
    let keys = RemoteJwks::discover_builder(server.base()).timeout(TIMEOUT).build().unwrap();
    let (status, _) = call(&app(keys), &known_token()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Two metadata locations, each cut off after a few requests.
    assert!((2..=8).contains(&server.requests()), "{} requests", server.requests());
}

/// README: the built-in client follows "3 redirects to https only" (http to loopback counts as
/// allowed here), and no more. (Regression test: it once stopped after 2.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_three_redirects_is_followed_and_four_are_not() {
    let server = FaultServer::start(Mode::RedirectChain { hops: 3 }).await;
    let three = app(provider(&server.url(), Duration::from_secs(5), &ManualClock::new()));
    let (status, challenge) = call(&three, &known_token()).await;
    assert_eq!((status, challenge), accepted(), "after {} requests", server.requests());
    assert_eq!(server.requests(), 4);

    let server = FaultServer::start(Mode::RedirectChain { hops: 4 }).await;
    let four = app(provider(&server.url(), Duration::from_secs(5), &ManualClock::new()));
    let (status, challenge) = call(&four, &known_token()).await;
    assert_eq!((status, challenge), unavailable(), "after {} requests", server.requests());
    assert_eq!(server.requests(), 4, "the fourth redirect was followed");
}

/// Resolves nothing, counts the lookups: DNS failure without any DNS traffic.
#[derive(Default)]
struct FailingResolver {
    lookups: AtomicU64,
}

impl reqwest::dns::Resolve for FailingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let name = name.as_str().to_owned();
        Box::pin(async move { Err(format!("{name}: no such host (injected DNS failure)").into()) })
    }
}

/// DNS failure of the JWKS host and of the issuer host: 401 after one lookup
/// that failed. `.invalid` never resolves (RFC 6761 §6.4), and the resolver is injected, so
/// nothing is sent anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failure_of_the_host() {
    let resolver = Arc::new(FailingResolver::default());
    let client =
        reqwest::Client::builder().no_proxy().dns_resolver(Arc::clone(&resolver)).build().unwrap();
    let jwks = RemoteJwks::builder("http://jwks.invalid/.well-known/jwks.json")
        .allow_http(true)
        .client(client.clone())
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let discovered = RemoteJwks::discover_builder("https://issuer.invalid")
        .client(client)
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    for (name, keys) in [("jwks", jwks), ("discovery", discovered)] {
        let before = resolver.lookups.load(Ordering::SeqCst);
        let (status, challenge) = call(&app(keys.clone()), &known_token()).await;
        assert_eq!((status, challenge), unavailable(), "{name}");
        assert!(resolver.lookups.load(Ordering::SeqCst) > before, "{name}: no lookup was made");
        let error = keys.status().last_error.unwrap_or_default();
        assert!(error.contains("invalid"), "{name}: last_error names the host: {error}");
    }
}

/// Found by the `discovery_document` fuzz target: serde_json skips members the crate does not
/// read without checking their UTF-8, so a discovery document with invalid bytes in such a
/// member is used (its `issuer` and `jwks_uri` are checked as always). Invalid bytes in `issuer`
/// fail discovery (see `discovery_faults`). This pins the documented behaviour (SECURITY.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_document_with_invalid_utf8_in_an_ignored_member_is_used() {
    let document =
        b"{\"issuer\":\"{BASE}\",\"jwks_uri\":\"{BASE}/jwks\",\"note\":\"\xe9\xff\"}".to_vec();
    let server = FaultServer::start(Mode::Discovery { document }).await;
    let keys = RemoteJwks::discover_builder(server.base()).timeout(TIMEOUT).build().unwrap();
    let (status, challenge) = call(&app(keys.clone()), &known_token()).await;
    assert_eq!((status, challenge), accepted(), "{:?}", keys.status().last_error);
    assert_eq!(server.requests(), 2, "one discovery document, one key set");
}
