//! The `gateway` example with `JWT_INTROSPECTION_URL`: opaque tokens verified by asking an
//! RFC 7662 introspection endpoint of the test's own (an axum server on loopback), JWTs still
//! verified locally when a key source is set, and an endpoint that cannot answer refused 503
//! (fail closed). The real binary, as in `tests/examples/gateway.rs`.
#![cfg(feature = "remote")]

use crate::example;
use crate::gateway_process;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use example::TempFile;
use gateway_process::Gateway;
use jwt_layer::Algorithm;
use jwt_layer::testing::TestIssuer;
use serde_json::{Value, json};

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "gateway-tests";
const CLIENT_ID: &str = "gateway";
const CLIENT_SECRET: &str = "s3cret";

/// One introspection request as the endpoint saw it.
#[derive(Clone, Debug)]
struct Seen {
    authorization: Option<String>,
    form: Vec<(String, String)>,
}

#[derive(Default)]
struct Endpoint {
    /// The answer for each known token; any other token is `{"active": false}`.
    answers: HashMap<String, Value>,
    seen: Mutex<Vec<Seen>>,
}

/// An introspection endpoint on loopback, served by its own runtime for as long as it lives.
struct IntrospectionServer {
    url: String,
    endpoint: Arc<Endpoint>,
    _runtime: tokio::runtime::Runtime,
}

impl IntrospectionServer {
    fn start(answers: &[(&str, Value)]) -> IntrospectionServer {
        let endpoint = Arc::new(Endpoint {
            answers: answers
                .iter()
                .map(|(token, answer)| ((*token).to_owned(), answer.clone()))
                .collect(),
            seen: Mutex::default(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let app = Router::new().route("/introspect", post(introspect)).with_state(endpoint.clone());
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        IntrospectionServer { url, endpoint, _runtime: runtime }
    }

    fn seen(&self) -> Vec<Seen> {
        self.endpoint.seen.lock().unwrap().clone()
    }
}

async fn introspect(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let authorization =
        headers.get("authorization").map(|value| value.to_str().unwrap().to_owned());
    endpoint.seen.lock().unwrap().push(Seen { authorization, form: form.clone() });
    let token = form.iter().find(|(name, _)| name == "token").map(|(_, value)| value.as_str());
    let answer = token.and_then(|token| endpoint.answers.get(token));
    axum::Json(answer.cloned().unwrap_or_else(|| json!({ "active": false })))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// An active answer for `sub` granting `scope`, meant for this gateway.
fn active(sub: &str, scope: &str) -> Value {
    json!({
        "active": true, "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope,
        "client_id": "app", "exp": now() + 600, "iat": now(),
    })
}

/// A gateway introspecting at `url`, with the extra variables `env`.
fn introspecting_gateway(url: &str, env: &[(&str, &str)]) -> Gateway {
    let mut vars = vec![
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_INTROSPECTION_URL", url),
        ("JWT_INTROSPECTION_CLIENT_ID", CLIENT_ID),
        ("JWT_INTROSPECTION_CLIENT_SECRET", CLIENT_SECRET),
    ];
    vars.extend_from_slice(env);
    Gateway::start(&vars)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn opaque_tokens_are_introspected_and_me_shows_the_answer() {
    let answer = active("alice", "read admin");
    let server = IntrospectionServer::start(&[("active-token", answer.clone())]);
    let gateway = introspecting_gateway(&server.url, &[]);

    let reply = gateway.me("active-token");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), answer);

    let admin = gateway.get("/admin", &[("Authorization", &bearer("active-token"))]);
    assert_eq!(admin.status, 200, "{}", admin.body);
    assert_eq!(admin.json(), json!({ "admin": true, "sub": "alice", "scopes": ["read", "admin"] }));

    // RFC 7662 §2.1: the gateway authenticates with client_secret_basic.
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let seen = server.seen();
    assert!(!seen.is_empty());
    for request in &seen {
        assert_eq!(request.authorization.as_deref(), Some(format!("Basic {basic}").as_str()));
        assert!(request.form.contains(&("token".to_owned(), "active-token".to_owned())));
    }
}

#[test]
fn client_secret_post_sends_the_credentials_in_the_form() {
    let server = IntrospectionServer::start(&[("active-token", active("alice", "read"))]);
    let gateway = introspecting_gateway(&server.url, &[("JWT_INTROSPECTION_AUTH", "post")]);
    assert_eq!(gateway.me("active-token").status, 200);
    let seen = server.seen();
    assert_eq!(seen[0].authorization, None);
    assert!(seen[0].form.contains(&("client_id".to_owned(), CLIENT_ID.to_owned())));
    assert!(seen[0].form.contains(&("client_secret".to_owned(), CLIENT_SECRET.to_owned())));
}

#[test]
fn inactive_and_unacceptable_answers_are_refused() {
    let wrong_audience = {
        let mut answer = active("alice", "read");
        answer["aud"] = json!("another-api");
        answer
    };
    let server = IntrospectionServer::start(&[
        ("reader-token", active("alice", "read")),
        ("other-api-token", wrong_audience),
    ]);
    let gateway = introspecting_gateway(&server.url, &[]);

    let inactive = gateway.me("unknown-token");
    assert_eq!(inactive.status, 401);
    let challenge = inactive.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""), "{challenge}");
    assert_eq!(inactive.json()["error"], "invalid_token");

    // The answer is checked as a JWT's claims are.
    let reply = gateway.me("other-api-token");
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error_description"], "invalid audience");

    let reader = gateway.get("/admin", &[("Authorization", &bearer("reader-token"))]);
    assert_eq!(reader.status, 403);
    assert_eq!(reader.json()["error"], "insufficient_scope");
}

#[test]
fn an_endpoint_that_cannot_answer_is_a_503_never_a_pass() {
    // A port nobody listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/introspect", closed.local_addr().unwrap());
    drop(closed);
    let gateway = introspecting_gateway(&url, &[]);

    let reply = gateway.me("some-opaque-token");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(
        reply.json(),
        json!({
            "error": "temporarily_unavailable",
            "error_description": "token introspection unavailable, retry later",
        })
    );
    assert_eq!(gateway.get("/health", &[]).status, 200);
}

#[test]
fn with_a_key_source_jwts_are_still_verified_locally() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&issuer.jwks_json().to_string());
    let server = IntrospectionServer::start(&[("opaque-token", active("carol", "read"))]);
    let gateway = introspecting_gateway(&server.url, &[("JWT_JWKS_FILE", jwks.path())]);

    let jwt = issuer.token().alg(Algorithm::ES256).audience(AUDIENCE).subject("bob").sign();
    let reply = gateway.me(&jwt);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["sub"], "bob");
    let expired = issuer.token().alg(Algorithm::ES256).audience(AUDIENCE).expired().sign();
    assert_eq!(gateway.me(&expired).status, 401);
    assert!(server.seen().is_empty(), "a JWT was sent to the endpoint");

    let reply = gateway.me("opaque-token");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["sub"], "carol");
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn without_a_key_source_every_token_is_introspected() {
    let issuer = TestIssuer::new(ISSUER);
    let jwt = issuer.token().alg(Algorithm::ES256).audience(AUDIENCE).sign();
    let server = IntrospectionServer::start(&[]);
    let gateway = introspecting_gateway(&server.url, &[]);
    // JWS-shaped, but nothing here could verify it: the endpoint decides, and says inactive.
    assert_eq!(gateway.me(&jwt).status, 401);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].form.contains(&("token".to_owned(), jwt)));
}
