//! Token extraction and the whole layer, from raw request bytes.
//!
//! The input is split on `\n` (which no header value may contain): the first piece is the
//! `Authorization` header, the second a `Cookie` header, the third the query string. The app
//! reads tokens from all three places (cookie `id`, query `access_token`) and verifies them
//! against every fixture key for an audience no fixture token carries, so no input can be
//! accepted short of a forged signature.
//!
//! Invariants: the answer is 400 or 401, never 200 or 500; it carries a well-formed
//! `WWW-Authenticate: Bearer realm="api"…` challenge and an empty body; nothing panics.
#![no_main]

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Request, StatusCode, Uri, header};
use jwt_layer::Claims;
use jwt_layer_fuzz::RUNTIME;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::ServiceExt;

static APP: LazyLock<Router> = LazyLock::new(|| {
    async fn me(Claims(claims): Claims<Value>) -> String {
        claims.to_string()
    }
    let auth = jwt_layer::JwtAuth::<Value>::builder()
        .keys(jwt_layer_fuzz::KEYS.clone())
        .issuer(jwt_layer_fuzz::ISSUER)
        .audience("fuzz-api")
        .token_cookie("id")
        .dangerous_token_query_parameter("access_token")
        .build()
        .unwrap();
    Router::new().route("/me", get(me)).layer(auth.layer())
});

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.splitn(3, |&b| b == b'\n');
    let authorization = pieces.next().unwrap_or_default();
    let cookie = pieces.next();
    let query = pieces.next();

    let uri = query
        .and_then(|q| Uri::try_from(format!("/me?{}", String::from_utf8_lossy(q))).ok())
        .unwrap_or_else(|| Uri::from_static("/me"));
    let mut request = Request::get(uri).body(Body::empty()).unwrap();
    // An empty first piece followed by more means "no Authorization header at all".
    let skip_header = authorization.is_empty() && cookie.is_some();
    if let Some(value) = HeaderValue::from_bytes(authorization).ok().filter(|_| !skip_header) {
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_bytes(c).ok()) {
        request.headers_mut().insert(header::COOKIE, value);
    }

    let response = RUNTIME.block_on(APP.clone().oneshot(request)).unwrap();
    let status = response.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
        "answered {status}"
    );
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .expect("every refusal carries a challenge")
        .to_str()
        .expect("the challenge is visible ASCII");
    assert!(challenge.starts_with("Bearer realm=\"api\""), "challenge {challenge:?}");
    let error = challenge.contains("error=");
    assert_eq!(
        error,
        challenge.contains("error=\"invalid_request\"")
            || challenge.contains("error=\"invalid_token\""),
        "unexpected error code in {challenge:?}"
    );
    assert_eq!(status == StatusCode::BAD_REQUEST, challenge.contains("invalid_request"));
    let body =
        RUNTIME.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).expect("body reads");
    assert!(body.is_empty(), "refusals have an empty body");
});
