//! Opaque tokens by introspection (RFC 7662), against a real introspection endpoint on
//! loopback: the answer is checked like a JWT's claims, cached by token hash (positive until
//! the sooner of `exp` and the TTL, negative briefly), one call per token at a time, and an
//! authorization server that cannot answer is a 503 with `Retry-After`, never a 401 or a pass.
//! Time is the verifier's injected clock; only the call timeout is real time (a server that
//! never answers), as in production.

#![cfg(feature = "remote")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, Request, StatusCode, header};
use jwt_layer::introspection::Introspection;
use jwt_layer::keys::StaticKeys;
use jwt_layer::store::{MemoryRevocationStore, RevocationStore};
use jwt_layer::testing::TestIssuer;
use jwt_layer::{BuildError, Claims, JwtAuth, JwtAuthBuilder, TokenKinds};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

const ISSUER: &str = "https://as.example.test";
const TOKEN: &str = "2YotnFZFEjr1zCsicMWpAA";
/// How long a test waits for an event before it calls it a hang.
const HANG_GUARD: Duration = Duration::from_secs(20);

#[derive(serde::Deserialize)]
struct MyClaims {
    sub: String,
    client_id: String,
}

/// What the endpoint answers.
#[derive(Clone)]
enum Reply {
    Json(Value),
    Status(StatusCode),
    Raw(&'static str),
    /// Never answers.
    Hang,
}

/// One request as the endpoint saw it.
#[derive(Clone, Debug)]
struct Seen {
    authorization: Option<String>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
}

struct Inner {
    reply: Mutex<Reply>,
    seen: Mutex<Vec<Seen>>,
    calls: AtomicUsize,
    called: Notify,
    /// Answers wait until this is `true`.
    open: watch::Sender<bool>,
    base: String,
}

#[derive(Clone)]
struct Server(Arc<Inner>);

impl Server {
    async fn start(reply: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = Server(Arc::new(Inner {
            reply: Mutex::new(reply),
            seen: Mutex::default(),
            calls: AtomicUsize::new(0),
            called: Notify::new(),
            open: watch::channel(true).0,
            base,
        }));
        let app = Router::new()
            .route("/introspect", post(introspect))
            .route("/.well-known/openid-configuration", get(metadata))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    fn endpoint(&self) -> String {
        format!("{}/introspect", self.0.base)
    }

    fn calls(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }

    fn answer(&self, reply: Reply) {
        *self.0.reply.lock().unwrap() = reply;
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.seen.lock().unwrap().clone()
    }
}

async fn introspect(State(server): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    let text = |name| headers.get(name).map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned());
    server.0.seen.lock().unwrap().push(Seen {
        authorization: text(header::AUTHORIZATION),
        content_type: text(header::CONTENT_TYPE),
        form: url::form_urlencoded::parse(&body).into_owned().collect(),
    });
    server.0.calls.fetch_add(1, Ordering::SeqCst);
    server.0.called.notify_waiters();
    let mut open = server.0.open.subscribe();
    open.wait_for(|open| *open).await.unwrap();
    let reply = server.0.reply.lock().unwrap().clone();
    match reply {
        Reply::Json(value) => axum::Json(value).into_response(),
        Reply::Status(status) => status.into_response(),
        Reply::Raw(text) => text.into_response(),
        Reply::Hang => std::future::pending().await,
    }
}

async fn metadata(State(server): State<Server>) -> Response {
    axum::Json(json!({
        "issuer": server.0.base,
        "introspection_endpoint": server.endpoint(),
    }))
    .into_response()
}

/// Seconds since the epoch of the fixed moment every test starts at.
const T0: u64 = 2_000_000_000;

/// A clock the test moves by hand.
#[derive(Clone, Debug, Default)]
struct TestClock(Arc<Mutex<u64>>);

impl jwt_layer::keys::Clock for TestClock {
    fn now(&self) -> std::time::Instant {
        // Only wall-clock time is read for claims and introspection answers.
        std::time::Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        TestClock::now(self)
    }
}

impl TestClock {
    fn advance(&self, seconds: u64) {
        *self.0.lock().unwrap() += seconds;
    }

    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T0 + *self.0.lock().unwrap())
    }
}

fn active(extra: Value) -> Value {
    let mut answer = json!({
        "active": true,
        "iss": ISSUER,
        "aud": "api",
        "sub": "alice",
        "client_id": "app",
        "scope": "read write",
        "exp": T0 + 600,
    });
    for (name, value) in extra.as_object().unwrap() {
        answer[name] = value.clone();
    }
    answer
}

fn builder(clock: &TestClock) -> JwtAuthBuilder<MyClaims> {
    let clock = clock.clone();
    JwtAuth::<MyClaims>::builder()
        .keys(StaticKeys::hmac([7u8; 32]).unwrap())
        .issuer(ISSUER)
        .audience("api")
        .leeway(Duration::ZERO)
        .clock(clock.clone())
}

fn auth_for(server: &Server, clock: &TestClock) -> JwtAuth<MyClaims> {
    builder(clock)
        .introspection(
            Introspection::endpoint(server.endpoint()).client_secret_basic("api", "s3cret"),
        )
        .build()
        .unwrap()
}

fn app(auth: &JwtAuth<MyClaims>) -> Router {
    async fn me(Claims(claims): Claims<MyClaims>) -> String {
        format!("{} via {}", claims.sub, claims.client_id)
    }
    Router::new()
        .route("/me", get(me))
        .route("/admin", get(me).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
        .layer(auth.layer())
}

struct Answer {
    status: StatusCode,
    challenge: String,
    retry_after: Option<String>,
    body: String,
}

async fn send(app: &Router, path: &str, token: &str) -> Answer {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = tokio::time::timeout(HANG_GUARD, app.clone().oneshot(request))
        .await
        .expect("a request hung")
        .unwrap();
    let text = |name| {
        response.headers().get(name).map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let challenge = text(header::WWW_AUTHENTICATE).unwrap_or_default();
    let retry_after = text(header::RETRY_AFTER);
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    Answer { status, challenge, retry_after, body: String::from_utf8(body.to_vec()).unwrap() }
}

#[tokio::test]
async fn an_active_token_reaches_the_handler_with_its_claims() {
    let server = Server::start(Reply::Json(active(json!({})))).await;
    let clock = TestClock::default();
    let answer = send(&app(&auth_for(&server, &clock)), "/me", TOKEN).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "alice via app");
    assert_eq!(server.calls(), 1);
}

/// One row per refusal of an answer, asserting status and challenge.
#[tokio::test]
async fn refusals_of_an_answer_are_those_of_a_jwt() {
    let cases: [(&str, Reply, &str, StatusCode, &str); 7] = [
        (
            "RFC 7662 §2.2 inactive",
            Reply::Json(json!({"active": false})),
            "/me",
            StatusCode::UNAUTHORIZED,
            r#"error="invalid_token", error_description="token not active""#,
        ),
        (
            "exp in the past",
            Reply::Json(active(json!({"exp": T0 - 1}))),
            "/me",
            StatusCode::UNAUTHORIZED,
            r#"error="invalid_token", error_description="token expired""#,
        ),
        (
            "nbf in the future",
            Reply::Json(active(json!({"nbf": T0 + 100}))),
            "/me",
            StatusCode::UNAUTHORIZED,
            r#"error_description="token not yet valid""#,
        ),
        (
            "token for another resource",
            Reply::Json(active(json!({"aud": "other-api"}))),
            "/me",
            StatusCode::UNAUTHORIZED,
            r#"error="invalid_token", error_description="invalid audience""#,
        ),
        (
            "another issuer",
            Reply::Json(active(json!({"iss": "https://evil.example"}))),
            "/me",
            StatusCode::UNAUTHORIZED,
            r#"error_description="invalid issuer""#,
        ),
        (
            "bound to a DPoP key but sent as a bearer token (RFC 9449 §7.1)",
            Reply::Json(active(
                json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
            )),
            "/me",
            StatusCode::UNAUTHORIZED,
            r#"error_description="DPoP proof required""#,
        ),
        (
            "missing scope (RFC 6750 §3.1)",
            Reply::Json(active(json!({}))),
            "/admin",
            StatusCode::FORBIDDEN,
            r#"error="insufficient_scope""#,
        ),
    ];
    for (name, reply, path, status, challenge) in cases {
        let server = Server::start(reply).await;
        let clock = TestClock::default();
        let answer = send(&app(&auth_for(&server, &clock)), path, TOKEN).await;
        assert_eq!(answer.status, status, "{name}");
        assert!(answer.challenge.contains(challenge), "{name}: {}", answer.challenge);
    }
}

#[tokio::test]
async fn missing_exp_is_refused_like_a_jwt_unless_exp_is_optional() {
    let mut without_exp = active(json!({}));
    without_exp.as_object_mut().unwrap().remove("exp");
    let server = Server::start(Reply::Json(without_exp)).await;
    let clock = TestClock::default();
    let answer = send(&app(&auth_for(&server, &clock)), "/me", TOKEN).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge.contains("missing required claim"), "{}", answer.challenge);

    let auth = builder(&clock)
        .require_exp(false)
        .introspection(Introspection::endpoint(server.endpoint()))
        .build()
        .unwrap();
    assert_eq!(send(&app(&auth), "/me", TOKEN).await.status, StatusCode::OK);
}

/// An authorization server that cannot answer: 503 with `Retry-After`, no challenge, never
/// a pass; failures are not cached, so the next request after recovery passes.
#[tokio::test]
async fn an_authorization_server_that_cannot_answer_is_a_503() {
    let cases = [
        ("500", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR)),
        ("502", Reply::Status(StatusCode::BAD_GATEWAY)),
        ("401 to our credentials", Reply::Status(StatusCode::UNAUTHORIZED)),
        ("not JSON", Reply::Raw("<html>oops</html>")),
        ("no active member", Reply::Json(json!({"sub": "alice"}))),
        ("active as a string", Reply::Json(json!({"active": "true"}))),
        ("over the size cap", Reply::Json(active(json!({"pad": "x".repeat(2000)})))),
    ];
    for (name, reply) in cases {
        let server = Server::start(reply).await;
        let clock = TestClock::default();
        let auth = builder(&clock)
            .introspection(Introspection::endpoint(server.endpoint()).max_response_bytes(1024))
            .build()
            .unwrap();
        let app = app(&auth);
        let answer = send(&app, "/me", TOKEN).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{name}");
        assert_eq!(answer.retry_after.as_deref(), Some("1"), "{name}");
        assert_eq!(answer.challenge, "", "{name}");
        server.answer(Reply::Json(active(json!({}))));
        assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK, "{name}");
        assert_eq!(server.calls(), 2, "{name}");
    }
}

#[tokio::test]
async fn no_server_at_all_is_a_503() {
    // A port that was just free: nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let clock = TestClock::default();
    let auth = builder(&clock)
        .introspection(Introspection::endpoint(format!("http://{address}/introspect")))
        .build()
        .unwrap();
    let answer = send(&app(&auth), "/me", TOKEN).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_503_after_the_timeout() {
    let server = Server::start(Reply::Hang).await;
    let clock = TestClock::default();
    let auth = builder(&clock)
        .introspection(
            Introspection::endpoint(server.endpoint()).timeout(Duration::from_millis(300)),
        )
        .build()
        .unwrap();
    let answer = send(&app(&auth), "/me", TOKEN).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
}

#[tokio::test]
async fn an_active_answer_is_reused_until_the_sooner_of_exp_and_the_ttl() {
    let server = Server::start(Reply::Json(active(json!({"exp": T0 + 100})))).await;
    let clock = TestClock::default();
    let auth = builder(&clock)
        .introspection(
            Introspection::endpoint(server.endpoint()).cache_ttl(Duration::from_secs(30)),
        )
        .build()
        .unwrap();
    let app = app(&auth);
    assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);
    assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);
    assert_eq!(server.calls(), 1, "the second request is a cache hit");
    // Another token is another entry.
    assert_eq!(send(&app, "/me", "another-opaque-token").await.status, StatusCode::OK);
    assert_eq!(server.calls(), 2);

    // The TTL (30 s) is sooner than exp (100 s): asked again after it.
    clock.advance(30);
    assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);
    assert_eq!(server.calls(), 3);

    // exp is sooner than the TTL now: the answer is not reused past it, and the token expired.
    clock.advance(71);
    let answer = send(&app, "/me", TOKEN).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge.contains("token expired"));
    assert_eq!(server.calls(), 4);

    // JwtAuth::verify goes the same way (and hits the same cache).
    let clock = TestClock::default();
    let server = Server::start(Reply::Json(active(json!({})))).await;
    let direct = auth_for(&server, &clock);
    assert_eq!(direct.verify(TOKEN).await.unwrap().sub, "alice");
    assert_eq!(direct.verify(TOKEN).await.unwrap().sub, "alice");
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn an_inactive_answer_is_reused_briefly() {
    let server = Server::start(Reply::Json(json!({"active": false}))).await;
    let clock = TestClock::default();
    let auth = builder(&clock)
        .introspection(
            Introspection::endpoint(server.endpoint()).negative_ttl(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let app = app(&auth);
    for _ in 0..3 {
        assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(server.calls(), 1);
    clock.advance(5);
    server.answer(Reply::Json(active(json!({}))));
    assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_token_share_one_call() {
    let server = Server::start(Reply::Json(active(json!({})))).await;
    server.0.open.send_replace(false);
    let clock = TestClock::default();
    let auth = builder(&clock)
        .introspection(Introspection::endpoint(server.endpoint()).cache_ttl(Duration::ZERO))
        .build()
        .unwrap();
    let app = app(&auth);
    // The answer is held until the first call arrived; by then every request has been polled
    // (join_all polls each once before any completes) and waits on that call.
    let release = {
        let server = server.clone();
        tokio::spawn(async move {
            let called = server.0.called.notified();
            if server.calls() == 0 {
                called.await;
            }
            server.0.open.send_replace(true);
        })
    };
    let requests = (0..16).map(|_| send(&app, "/me", TOKEN));
    let answers = futures_util::future::join_all(requests).await;
    release.await.unwrap();
    assert!(answers.iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(server.calls(), 1, "16 concurrent requests, one call");
    // With a zero TTL nothing is cached: the next request asks again.
    assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn client_credentials_are_sent_as_configured() {
    let server = Server::start(Reply::Json(active(json!({})))).await;
    let clock = TestClock::default();
    let basic = builder(&clock)
        .introspection(
            Introspection::endpoint(server.endpoint()).client_secret_basic("my api", "s3:cret"),
        )
        .build()
        .unwrap();
    assert_eq!(send(&app(&basic), "/me", TOKEN).await.status, StatusCode::OK);
    let post = builder(&clock)
        .introspection(
            Introspection::endpoint(server.endpoint()).client_secret_post("my api", "s3:cret"),
        )
        .build()
        .unwrap();
    assert_eq!(send(&app(&post), "/me", TOKEN).await.status, StatusCode::OK);

    let seen = server.seen();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    // client_secret_basic: RFC 6749 §2.3.1, "my+api:s3%3Acret" in base64.
    assert_eq!(seen[0].authorization.as_deref(), Some("Basic bXkrYXBpOnMzJTNBY3JldA=="));
    assert_eq!(seen[0].content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(seen[0].form, [pair("token", TOKEN), pair("token_type_hint", "access_token")]);
    // client_secret_post: the credentials in the body, no Authorization header.
    assert_eq!(seen[1].authorization, None);
    assert_eq!(
        seen[1].form,
        [
            pair("token", TOKEN),
            pair("token_type_hint", "access_token"),
            pair("client_id", "my api"),
            pair("client_secret", "s3:cret"),
        ]
    );
}

#[tokio::test]
async fn tokens_are_routed_by_shape_and_by_configuration() {
    let idp = TestIssuer::new(ISSUER);
    let jwt = idp.token().audience("api").subject("bob").claim("client_id", "cli").sign();
    let server = Server::start(Reply::Json(active(json!({})))).await;
    let clock = TestClock::default();

    // Default (JWT only): an opaque token is malformed, nobody is asked.
    let jwt_only = JwtAuth::<MyClaims>::builder()
        .keys(idp.keys())
        .issuer(ISSUER)
        .audience("api")
        .build()
        .unwrap();
    let answer = send(&app(&jwt_only), "/me", TOKEN).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge.contains("malformed token"));

    // Both: the JWT is verified locally, the opaque token introspected.
    let both = JwtAuth::<MyClaims>::builder()
        .keys(idp.keys())
        .issuer(ISSUER)
        .audience("api")
        .introspection(Introspection::endpoint(server.endpoint()))
        .token_kinds(TokenKinds::JwtAndOpaque)
        .build()
        .unwrap();
    assert_eq!(send(&app(&both), "/me", &jwt).await.body, "bob via cli");
    assert_eq!(server.calls(), 0);
    assert_eq!(send(&app(&both), "/me", TOKEN).await.body, "alice via app");
    assert_eq!(server.calls(), 1);

    // Opaque only: no keys needed, and even a JWS-shaped token is introspected.
    let opaque = JwtAuth::<MyClaims>::builder()
        .issuer(ISSUER)
        .audience("api")
        .clock(clock.clone())
        .introspection(Introspection::endpoint(server.endpoint()))
        .token_kinds(TokenKinds::Opaque)
        .build()
        .unwrap();
    assert_eq!(send(&app(&opaque), "/me", &jwt).await.body, "alice via app");
    assert_eq!(server.seen().last().unwrap().form[0].1, jwt);
}

#[tokio::test]
async fn the_endpoint_can_come_from_the_authorization_server_metadata() {
    let server = Server::start(Reply::Json(json!({}))).await;
    let issuer = server.0.base.clone();
    server.answer(Reply::Json(active(json!({"iss": issuer}))));
    let auth = JwtAuth::<MyClaims>::builder()
        .keys(StaticKeys::hmac([7u8; 32]).unwrap())
        .issuer(&issuer)
        .audience("api")
        .introspection(Introspection::discover(&issuer).client_secret_basic("api", "s3cret"))
        .build()
        .unwrap();
    assert_eq!(send(&app(&auth), "/me", TOKEN).await.body, "alice via app");
    assert_eq!(send(&app(&auth), "/me", "second-token").await.body, "alice via app");
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn revocation_is_consulted_for_introspected_tokens_too() {
    let server = Server::start(Reply::Json(active(json!({"jti": "t-1"})))).await;
    let clock = TestClock::default();
    let revoked = Arc::new(MemoryRevocationStore::default());
    let auth = builder(&clock)
        .revocation_store(revoked.clone())
        .introspection(Introspection::endpoint(server.endpoint()))
        .build()
        .unwrap();
    let app = app(&auth);
    assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);
    // The store keeps wall-clock time.
    revoked.revoke_token("t-1", SystemTime::now() + Duration::from_secs(3600)).await.unwrap();
    let answer = send(&app, "/me", TOKEN).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge.contains("token revoked"));
}

#[test]
fn unusable_configurations_are_refused_at_build_time() {
    use jwt_layer::reason::IntrospectionProblem as Problem;
    let clock = TestClock::default();
    let refused = |result: Result<JwtAuth<MyClaims>, BuildError>| match result {
        Err(BuildError::InvalidIntrospection(problem)) => Some(problem),
        _ => None,
    };
    let opaque = refused(builder(&clock).token_kinds(TokenKinds::JwtAndOpaque).build());
    assert_eq!(opaque, Some(Problem::OpaqueWithoutIntrospection));
    let opaque_only = refused(builder(&clock).token_kinds(TokenKinds::Opaque).build());
    assert_eq!(opaque_only, Some(Problem::OpaqueWithoutIntrospection));
    let endpoint = || Introspection::endpoint("https://as.example.test/introspect");
    assert_eq!(
        refused(builder(&clock).introspection(endpoint()).token_kinds(TokenKinds::Jwt).build()),
        Some(Problem::IntrospectionWithJwtOnly)
    );
    assert_eq!(
        refused(builder(&clock).introspection(endpoint().timeout(Duration::ZERO)).build()),
        Some(Problem::ZeroTimeout)
    );
    let plain = Introspection::endpoint("http://as.example.test/introspect");
    assert_eq!(
        refused(builder(&clock).introspection(plain.clone()).build()),
        Some(Problem::EndpointNotHttps)
    );
    assert!(builder(&clock).introspection(plain.dangerous_allow_http()).build().is_ok());
    assert_eq!(
        refused(builder(&clock).introspection(Introspection::endpoint("not a url")).build()),
        Some(Problem::EndpointNotUrl)
    );
    // Without opaque-only, keys are still required.
    let no_keys = JwtAuth::<MyClaims>::builder()
        .issuer(ISSUER)
        .audience("api")
        .introspection(endpoint())
        .build();
    assert!(matches!(no_keys, Err(BuildError::NoKeyProvider)));
}

/// `private_key_jwt` (RFC 7523 §2.2): the assertion the endpoint receives verifies with the
/// client's public key, names the client as `iss` and `sub` and the endpoint as `aud`, and is
/// made afresh for every call.
#[tokio::test]
async fn private_key_jwt_sends_a_fresh_signed_assertion() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    };
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jwt_layer::Algorithm;

    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let rng = SystemRandom::new();
    let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed_public = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap().public_key().as_ref().to_vec();
    let ec = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec_public = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec.as_ref())
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let keys = [
        (
            Algorithm::EdDSA,
            ed.as_ref().to_vec(),
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&ed_public), "alg": "EdDSA"}),
        ),
        (
            Algorithm::ES256,
            ec.as_ref().to_vec(),
            json!({"kty": "EC", "crv": "P-256", "x": b64(&ec_public[1..33]),
                   "y": b64(&ec_public[33..]), "alg": "ES256"}),
        ),
    ];
    for (alg, private, public) in keys {
        let server = Server::start(Reply::Json(active(json!({})))).await;
        let clock = TestClock::default();
        let auth = builder(&clock)
            .introspection(
                Introspection::endpoint(server.endpoint())
                    .private_key_jwt("my-client", &private, alg, Some("k1".into()))
                    .cache_ttl(Duration::ZERO),
            )
            .build()
            .unwrap();
        let app = app(&auth);
        assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);
        assert_eq!(send(&app, "/me", TOKEN).await.status, StatusCode::OK);

        // The endpoint's side: the crate's own verifier over the client's public key.
        let client_keys = json!({"keys": [public]}).to_string();
        let verifier = JwtAuth::<Value>::builder()
            .keys(StaticKeys::from_jwks(client_keys).unwrap())
            .issuer("my-client")
            .audience(server.endpoint())
            .build()
            .unwrap();
        let seen = server.seen();
        let mut jtis = Vec::new();
        for request in &seen {
            let form: std::collections::HashMap<_, _> = request.form.iter().cloned().collect();
            assert_eq!(request.authorization, None);
            assert_eq!(form["token"], TOKEN);
            assert_eq!(form["client_id"], "my-client");
            assert_eq!(
                form["client_assertion_type"],
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            );
            let claims =
                verifier.verify(&form["client_assertion"]).await.expect("a valid assertion");
            assert_eq!(claims["sub"], "my-client", "{claims}");
            let header = form["client_assertion"].split('.').next().unwrap();
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
            assert_eq!(header["kid"], "k1");
            assert_eq!(header["alg"], alg.as_str());
            jtis.push(claims["jti"].clone());
        }
        assert_eq!(seen.len(), 2, "{alg:?}");
        assert_ne!(jtis[0], jtis[1], "a fresh assertion per call");
    }

    // A key that is not a private key for the algorithm is refused when the app is built.
    let clock = TestClock::default();
    let wrong = builder(&clock)
        .introspection(
            Introspection::endpoint("https://as.example.test/introspect").private_key_jwt(
                "my-client",
                ed.as_ref(),
                Algorithm::RS256,
                None,
            ),
        )
        .build();
    assert!(matches!(
        wrong,
        Err(BuildError::InvalidIntrospection(
            jwt_layer::reason::IntrospectionProblem::UnusableClientKey
        ))
    ));
}

/// The exact challenge of a refused answer.
fn refused(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
}

/// RFC 7662 §2.2 `token_type`: an active answer passes only for an access token (absent,
/// `Bearer` or `DPoP` in any case, RFC 6749 §5.1). A refresh token or an ID token the
/// authorization server calls active is not a credential for this API.
#[tokio::test]
async fn only_access_token_types_are_accepted_rfc7662_2_2() {
    let type_refused = refused("invalid token type");
    let cases = [
        ("absent", json!({}), StatusCode::OK, String::new()),
        ("Bearer", json!({"token_type": "Bearer"}), StatusCode::OK, String::new()),
        ("bearer, any case", json!({"token_type": "bEARER"}), StatusCode::OK, String::new()),
        (
            "a refresh token",
            json!({"token_type": "refresh_token"}),
            StatusCode::UNAUTHORIZED,
            type_refused.clone(),
        ),
        (
            "a refresh token, RFC 8693 §3 URI",
            json!({"token_type": "urn:ietf:params:oauth:token-type:refresh_token"}),
            StatusCode::UNAUTHORIZED,
            type_refused.clone(),
        ),
        (
            "an ID token",
            json!({"token_type": "id_token"}),
            StatusCode::UNAUTHORIZED,
            type_refused.clone(),
        ),
        (
            "an empty type",
            json!({"token_type": ""}),
            StatusCode::UNAUTHORIZED,
            type_refused.clone(),
        ),
        (
            "a number",
            json!({"token_type": 1}),
            StatusCode::UNAUTHORIZED,
            refused("invalid claim type"),
        ),
        (
            "null",
            json!({"token_type": null}),
            StatusCode::UNAUTHORIZED,
            refused("invalid claim type"),
        ),
    ];
    for (name, extra, status, challenge) in cases {
        let server = Server::start(Reply::Json(active(extra))).await;
        let clock = TestClock::default();
        let answer = send(&app(&auth_for(&server, &clock)), "/me", TOKEN).await;
        assert_eq!((answer.status, answer.challenge), (status, challenge), "{name}");
    }
}

/// A type the application names is accepted too, compared case-insensitively; unnamed, it
/// is refused.
#[tokio::test]
async fn a_configured_token_type_is_accepted() {
    let custom = "urn:ietf:params:oauth:token-type:access_token";
    let server = Server::start(Reply::Json(active(json!({"token_type": custom})))).await;
    let clock = TestClock::default();
    let answer = send(&app(&auth_for(&server, &clock)), "/me", TOKEN).await;
    assert_eq!(
        (answer.status, answer.challenge),
        (StatusCode::UNAUTHORIZED, refused("invalid token type"))
    );

    let auth = builder(&clock)
        .introspection(
            Introspection::endpoint(server.endpoint())
                .accept_token_types(["URN:IETF:params:oauth:token-type:access_token"]),
        )
        .build()
        .unwrap();
    let answer = send(&app(&auth), "/me", TOKEN).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice via app"));
    // A configured list adds to the access-token types, it does not open the door to others.
    server.answer(Reply::Json(active(json!({"token_type": "refresh_token"}))));
    let auth = builder(&clock)
        .introspection(Introspection::endpoint(server.endpoint()).accept_token_types([custom]))
        .build()
        .unwrap();
    assert_eq!(send(&app(&auth), "/me", TOKEN).await.status, StatusCode::UNAUTHORIZED);

    // An empty name would accept `"token_type": ""`: refused when the app is built.
    let empty = builder(&clock)
        .introspection(Introspection::endpoint(server.endpoint()).accept_token_types([""]))
        .build();
    assert!(matches!(
        empty,
        Err(BuildError::InvalidIntrospection(
            jwt_layer::reason::IntrospectionProblem::EmptyTokenType
        ))
    ));
}

/// RFC 9449 §6.2 and RFC 7662 §2.2: an answer typed `DPoP` names a sender-constrained token.
/// Without `cnf.jkt` the binding cannot be checked, so it is refused rather than taken as a
/// bearer token; with it, the token goes through the DPoP binding check of a bound JWT: the
/// `Bearer` scheme is refused (§7.1), a proof by the bound key passes.
#[tokio::test]
async fn a_dpop_typed_answer_needs_its_binding_checked_rfc9449() {
    use jwt_layer::Dpop;
    use jwt_layer::testing::DpopKey;
    const ORIGIN: &str = "https://api.example.test";

    let key = DpopKey::new();
    let clock = TestClock::default();
    let dpop_app = |server: &Server| {
        let auth = builder(&clock)
            .dpop(Dpop::allowed().public_origin(ORIGIN))
            .introspection(Introspection::endpoint(server.endpoint()))
            .build()
            .unwrap();
        app(&auth)
    };
    let with_proof = |scheme: &str, key: &DpopKey| {
        // The proof is issued at the verifier's (injected) time.
        let proof = key.proof_with("GET", &format!("{ORIGIN}/me"), TOKEN, |_, claims| {
            claims.insert("iat".into(), json!(T0));
        });
        Request::get("/me")
            .header(header::AUTHORIZATION, format!("{scheme} {TOKEN}"))
            .header("DPoP", proof)
            .body(Body::empty())
            .unwrap()
    };
    let first_challenge = |response: &Response| {
        response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned())
    };

    // No `cnf.jkt`: refused with the Bearer scheme, and with the DPoP scheme and a proof.
    let server = Server::start(Reply::Json(active(json!({"token_type": "DPoP"})))).await;
    let answer = send(&app(&auth_for(&server, &clock)), "/me", TOKEN).await;
    assert_eq!(
        (answer.status, answer.challenge),
        (StatusCode::UNAUTHORIZED, refused("unsupported token binding"))
    );
    let response = dpop_app(&server).oneshot(with_proof("DPoP", &key)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .any(|challenge| challenge.to_str().unwrap().ends_with(
                r#"error="invalid_token", error_description="unsupported token binding""#
            )),
        "{:?}",
        first_challenge(&response)
    );

    // Bound to the key (`dpop` in lower case: the type is case-insensitive).
    let bound = active(json!({"token_type": "dpop", "cnf": {"jkt": key.thumbprint()}}));
    let server = Server::start(Reply::Json(bound)).await;
    let answer = send(&app(&auth_for(&server, &clock)), "/me", TOKEN).await;
    assert_eq!(
        (answer.status, answer.challenge),
        (StatusCode::UNAUTHORIZED, refused("DPoP proof required"))
    );
    let response = dpop_app(&server).oneshot(with_proof("DPoP", &key)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", first_challenge(&response));
    // A proof by another key does not match the binding.
    let response = dpop_app(&server).oneshot(with_proof("DPoP", &DpopKey::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// At its bound the cache makes room with the answer nearest its deadline: under a flood of
/// unknown tokens their brief inactive answers go, not the active ones; an evicted token is
/// asked about again.
#[tokio::test]
async fn a_full_cache_makes_room_with_the_answer_nearest_its_deadline() {
    let server = Server::start(Reply::Json(active(json!({})))).await;
    let clock = TestClock::default();
    let auth = builder(&clock)
        .introspection(Introspection::endpoint(server.endpoint()).max_cache_entries(2))
        .build()
        .unwrap();
    let app = app(&auth);
    assert_eq!(send(&app, "/me", "active-token").await.status, StatusCode::OK);
    server.answer(Reply::Json(json!({"active": false})));
    assert_eq!(send(&app, "/me", "unknown-token").await.status, StatusCode::UNAUTHORIZED);
    server.answer(Reply::Json(active(json!({}))));
    assert_eq!(send(&app, "/me", "another-active-token").await.status, StatusCode::OK);
    assert_eq!(server.calls(), 3);

    // Both active answers are still cached; the inactive one (5 s) made room.
    assert_eq!(send(&app, "/me", "active-token").await.status, StatusCode::OK);
    assert_eq!(send(&app, "/me", "another-active-token").await.status, StatusCode::OK);
    assert_eq!(server.calls(), 3);
    assert_eq!(send(&app, "/me", "unknown-token").await.status, StatusCode::OK);
    assert_eq!(server.calls(), 4, "the evicted token is asked about again");
}
