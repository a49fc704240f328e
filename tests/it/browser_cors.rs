//! A browser application on another origin: tower-http's `CorsLayer` outside the `JwtLayer`
//! answers preflights itself, and every refusal of the layer beneath it carries the CORS
//! headers, with `WWW-Authenticate` and `DPoP-Nonce` exposed so the page can read them. The
//! other order is shown too: a `CorsLayer` inside the `JwtLayer` never sees a preflight, which
//! is refused 401 without a CORS header. (tests/browser.rs runs the same arrangement in
//! Chromium.)

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{Algorithm, Claims, Dpop, JwtAuth};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_http::cors::CorsLayer;

use crate::common::AUDIENCE;

/// Where the API is reached, as DPoP proofs name it.
const API_ORIGIN: &str = "http://api.example.test";
/// The origin of the page allowed to call the API.
const PAGE_ORIGIN: &str = "http://app.example.test";
const OTHER_ORIGIN: &str = "http://evil.example.test";
const ME: &str = "http://api.example.test/me";

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

/// The CORS policy of the README's "Browser applications": the page's origin, the two request
/// headers a DPoP client sends, and the two response headers it must read.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin([HeaderValue::from_static(PAGE_ORIGIN)])
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, HeaderName::from_static("dpop")])
        .expose_headers([header::WWW_AUTHENTICATE, HeaderName::from_static("dpop-nonce")])
}

fn auth(idp: &TestIssuer) -> JwtAuth<Value> {
    JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .dpop(
            Dpop::allowed()
                .public_origin(API_ORIGIN)
                .require_nonce(&[9u8; 32], Duration::from_secs(300)),
        )
        .build()
        .unwrap()
}

/// The working order: the `CorsLayer` is added after (so outside) the `JwtLayer`.
fn app(idp: &TestIssuer) -> Router {
    Router::new().route("/me", get(me)).layer(auth(idp).layer()).layer(cors())
}

fn request(origin: &str) -> http::request::Builder {
    Request::builder()
        .uri("/me")
        .header(header::HOST, "api.example.test")
        .header(header::ORIGIN, origin)
}

fn preflight(origin: &str) -> Request<Body> {
    request(origin)
        .method(Method::OPTIONS)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,dpop")
        .body(Body::empty())
        .unwrap()
}

async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    app.clone().oneshot(request).await.unwrap()
}

fn get_header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

/// A comma-separated header's items, lower-cased.
fn list(response: &Response<Body>, name: &str) -> Vec<String> {
    get_header(response, name)
        .unwrap_or_default()
        .split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

fn challenges(response: &Response<Body>) -> Vec<&str> {
    response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn assert_readable_by_the_page(response: &Response<Body>) {
    assert_eq!(get_header(response, "access-control-allow-origin"), Some(PAGE_ORIGIN));
    assert_eq!(list(response, "access-control-expose-headers"), ["www-authenticate", "dpop-nonce"]);
}

#[tokio::test]
async fn a_preflight_from_the_allowed_origin_is_answered_by_the_cors_layer() {
    let app = app(crate::common::issuer());
    let response = send(&app, preflight(PAGE_ORIGIN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(challenges(&response).is_empty(), "{:?}", response.headers());
    assert_eq!(get_header(&response, "access-control-allow-origin"), Some(PAGE_ORIGIN));
    assert_eq!(list(&response, "access-control-allow-methods"), ["get", "post"]);
    assert_eq!(list(&response, "access-control-allow-headers"), ["authorization", "dpop"]);
}

#[tokio::test]
async fn inside_the_jwt_layer_the_cors_layer_never_sees_the_preflight() {
    let idp = crate::common::issuer();
    let wrong = Router::new().route("/me", get(me)).layer(cors()).layer(auth(idp).layer());
    let response = send(&wrong, preflight(PAGE_ORIGIN)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Without the header the browser reports a network error; the page learns nothing.
    assert_eq!(get_header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_with_a_challenge_the_page_can_read() {
    let app = app(crate::common::issuer());
    let response = send(&app, request(PAGE_ORIGIN).body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_readable_by_the_page(&response);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="api""#,
            r#"DPoP realm="api", algs="RS256 PS256 ES256 ES384 ES512 EdDSA""#
        ]
    );
}

#[tokio::test]
async fn a_bearer_token_from_the_allowed_origin_is_accepted() {
    let idp = crate::common::issuer();
    let app = app(idp);
    let token = idp.token().audience(AUDIENCE).subject("alice").sign();
    let request = request(PAGE_ORIGIN)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_readable_by_the_page(&response);
}

#[tokio::test]
async fn a_dpop_client_reads_the_nonce_retries_and_its_replay_is_refused() {
    let idp = crate::common::issuer();
    let app = app(idp);
    let key = DpopKey::new();
    let token =
        idp.token().audience(AUDIENCE).subject("alice").alg(Algorithm::ES256).bound_to(&key).sign();
    let dpop_request = |proof: &str| {
        request(PAGE_ORIGIN)
            .header(header::AUTHORIZATION, format!("DPoP {token}"))
            .header("DPoP", proof)
            .body(Body::empty())
            .unwrap()
    };

    // RFC 9449 §9: the first proof has no nonce; the refusal hands one over, exposed.
    let response = send(&app, dpop_request(&key.proof("GET", ME, &token))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_readable_by_the_page(&response);
    assert!(
        challenges(&response)[0].contains(r#"error="use_dpop_nonce""#),
        "{:?}",
        challenges(&response)
    );
    let nonce = get_header(&response, "dpop-nonce").expect("a DPoP-Nonce").to_owned();

    let proof = key.proof_with("GET", ME, &token, |_, claims| {
        claims.insert("nonce".into(), json!(nonce));
    });
    let response = send(&app, dpop_request(&proof)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_readable_by_the_page(&response);

    let response = send(&app, dpop_request(&proof)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_readable_by_the_page(&response);
    assert_eq!(
        challenges(&response),
        [concat!(
            r#"DPoP realm="api", algs="RS256 PS256 ES256 ES384 ES512 EdDSA", "#,
            r#"error="invalid_dpop_proof", error_description="proof already used""#
        )]
    );
}

/// tower-http still lists the methods, headers and exposed headers for any origin; without
/// `Access-Control-Allow-Origin` they grant nothing, and the browser hides the response.
#[tokio::test]
async fn another_origin_gets_no_access_control_allow_origin() {
    let idp = crate::common::issuer();
    let app = app(idp);
    let token = idp.token().audience(AUDIENCE).subject("alice").sign();
    let with_token = request(OTHER_ORIGIN)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let without = request(OTHER_ORIGIN).body(Body::empty()).unwrap();
    for (request, status) in [
        (preflight(OTHER_ORIGIN), StatusCode::OK),
        (without, StatusCode::UNAUTHORIZED),
        (with_token, StatusCode::OK),
    ] {
        let response = send(&app, request).await;
        assert_eq!(response.status(), status);
        assert_eq!(get_header(&response, "access-control-allow-origin"), None);
        assert_eq!(get_header(&response, "access-control-allow-credentials"), None);
    }
}
