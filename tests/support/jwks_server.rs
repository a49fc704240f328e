//! A real JWKS endpoint on loopback for the remote key set tests: an axum app bound to
//! 127.0.0.1:0 whose answers the test programs (document, status, garbage, oversized or
//! endless bodies, `Cache-Control`, `ETag` with `If-None-Match` → 304), which counts every
//! request it sees (a test can await the n-th), and which can hold its answers until the test
//! releases them (to show that a request does not wait for a refresh, without timing it).
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How long a test waits for an event before it calls it a hang (never reached when the
/// code under test is right, however busy the machine).
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// The path the server answers on (any path is answered the same way).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// What the body of an answer is.
#[derive(Clone, Debug)]
pub enum Payload {
    /// A JSON document, with `Content-Type: application/json` and a `Content-Length`.
    Json(Value),
    /// These bytes as they are, with a `Content-Length`.
    Raw(Vec<u8>),
    /// `body` in pieces of `chunk_size` bytes, streamed without `Content-Length` (chunked
    /// encoding).
    Streamed { body: Vec<u8>, chunk_size: usize },
    /// `chunk` again and again, forever, one every `every`; no `Content-Length`.
    Endless { chunk: Vec<u8>, every: Duration },
    /// `prefix`, then nothing more: the body never ends.
    Stalled { prefix: Vec<u8> },
}

/// How the server answers the next requests.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub payload: Payload,
    pub status: StatusCode,
    pub cache_control: Option<String>,
    pub etag: Option<String>,
    /// Answer 304 with no body when `If-None-Match` names the current `etag`.
    pub honour_if_none_match: bool,
}

impl Behaviour {
    /// 200 with this JSON document, no caching headers, no delay.
    pub fn json(document: Value) -> Self {
        Behaviour {
            payload: Payload::Json(document),
            status: StatusCode::OK,
            cache_control: None,
            etag: None,
            honour_if_none_match: false,
        }
    }

    pub fn with_payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_cache_control(mut self, value: &str) -> Self {
        self.cache_control = Some(value.to_owned());
        self
    }

    pub fn with_etag(mut self, etag: &str) -> Self {
        self.etag = Some(etag.to_owned());
        self.honour_if_none_match = true;
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub at: Instant,
    pub path: String,
    pub if_none_match: Option<String>,
    pub headers: HeaderMap,
    /// The status the server answered with.
    pub status: StatusCode,
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    fetches: AtomicU64,
    requests: Mutex<Vec<SeenRequest>>,
    /// The number of requests seen, for tests that await the n-th.
    seen: watch::Sender<u64>,
    /// While true, answers wait (after the request is counted).
    held: watch::Sender<bool>,
}

/// A running JWKS server; stopped when dropped.
pub struct JwksServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl JwksServer {
    /// Binds 127.0.0.1:0 and starts answering with `behaviour`.
    pub async fn start(behaviour: Behaviour) -> Self {
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            fetches: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            seen: watch::Sender::new(0),
            held: watch::Sender::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(answer).with_state(Arc::clone(&shared));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("JWKS test server failed");
        });
        JwksServer { addr, shared, shutdown: Some(tx), task: Some(task) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/.well-known/jwks.json`
    pub fn url(&self) -> String {
        format!("http://{}{JWKS_PATH}", self.addr)
    }

    /// Requests seen so far (every status, 304s included).
    pub fn fetches(&self) -> u64 {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until the server has seen `n` requests in all (panics after [`HANG_GUARD`]).
    pub async fn wait_for_fetches(&self, n: u64) {
        let mut seen = self.shared.seen.subscribe();
        let waited = tokio::time::timeout(HANG_GUARD, seen.wait_for(|&count| count >= n)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the server never saw {n} requests (saw {})",
            self.fetches()
        );
    }

    /// Holds every answer (requests are still counted) until [`JwksServer::release`].
    pub fn hold(&self) {
        self.shared.held.send_replace(true);
    }

    /// Lets held and later answers go.
    pub fn release(&self) {
        self.shared.held.send_replace(false);
    }

    /// Changes how the next requests are answered.
    pub fn set(&self, edit: impl FnOnce(&mut Behaviour)) {
        edit(&mut self.shared.behaviour.lock().unwrap());
    }

    /// Stops accepting connections (later connects are refused) and closes idle ones.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate == etag || candidate.strip_prefix("W/") == Some(etag)
    })
}

async fn answer(State(shared): State<Arc<Shared>>, request: http::Request<Body>) -> Response {
    let arrived = Instant::now();
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let behaviour = shared.behaviour.lock().unwrap().clone();
    let headers = request.headers().clone();
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());

    let not_modified = behaviour.honour_if_none_match
        && behaviour.status == StatusCode::OK
        && matches!((&if_none_match, &behaviour.etag), (Some(inm), Some(etag)) if etag_matches(inm, etag));
    let status = if not_modified { StatusCode::NOT_MODIFIED } else { behaviour.status };
    shared.requests.lock().unwrap().push(SeenRequest {
        at: arrived,
        path: request.uri().path().to_owned(),
        if_none_match,
        headers,
        status,
    });
    shared.seen.send_modify(|count| *count += 1);
    let _ = shared.held.subscribe().wait_for(|held| !held).await;

    let mut builder = Response::builder().status(status);
    if let Some(cache_control) = &behaviour.cache_control {
        builder = builder.header(header::CACHE_CONTROL, cache_control);
    }
    if let Some(etag) = &behaviour.etag {
        builder = builder.header(header::ETAG, etag);
    }
    if not_modified {
        return builder.body(Body::empty()).unwrap();
    }
    let body = match behaviour.payload {
        Payload::Json(document) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(&document).unwrap())
        }
        Payload::Raw(bytes) => Body::from(bytes),
        Payload::Streamed { body, chunk_size } => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            let pieces: Vec<Result<Bytes, Infallible>> = body
                .chunks(chunk_size.max(1))
                .map(|piece| Ok(Bytes::copy_from_slice(piece)))
                .collect();
            Body::from_stream(futures_util::stream::iter(pieces))
        }
        Payload::Endless { chunk, every } => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            let chunk = Bytes::from(chunk);
            // Paced in real time: that is the fault (a trickle). No test waits on it.
            Body::from_stream(futures_util::stream::unfold(chunk, move |chunk| async move {
                tokio::time::sleep(every).await;
                Some((Ok::<_, Infallible>(chunk.clone()), chunk))
            }))
        }
        Payload::Stalled { prefix } => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from_stream(
                futures_util::stream::iter([Ok::<_, Infallible>(Bytes::from(prefix))])
                    .chain(futures_util::stream::pending()),
            )
        }
    };
    builder.body(body).unwrap()
}
