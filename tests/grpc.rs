//! gRPC: a tonic server behind the layer, called by a tonic client over loopback HTTP/2. A
//! refusal reaches the client as a gRPC status (a trailers-only answer), not as an HTTP status
//! the client has to guess from.

use std::net::SocketAddr;

use axum::body::Body;
use http::{Request, StatusCode};
use jwt_layer::testing::{TestIssuer, tamper};
use jwt_layer::{AuthError, GrpcStatus, JwtAuth};
use serde_json::Value;
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::{ServiceBuilder, ServiceExt};

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "health-api";
const REALM: &str = "grpc";

fn auth(idp: &TestIssuer) -> JwtAuth<Value> {
    JwtAuth::builder()
        .keys(idp.public_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .realm(REALM)
        .build()
        .unwrap()
}

/// A health service that needs the scope `health` behind the layer, on a free loopback port.
async fn serve(auth: JwtAuth<Value>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let layers = ServiceBuilder::new()
        .layer(auth.layer())
        .layer(auth.require_all_scopes(["health"]).unwrap());
    tokio::spawn(async move {
        // The reporter lives as long as the server.
        let _reporter = reporter;
        Server::builder()
            .layer(layers)
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

async fn client(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    HealthClient::new(channel)
}

/// Calls `Check` with these `authorization` values (none, one or several).
async fn check(addr: SocketAddr, authorization: &[&str]) -> Result<ServingStatus, Status> {
    let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    for value in authorization {
        let value: MetadataValue<_> = value.parse().unwrap();
        request.metadata_mut().append("authorization", value);
    }
    let response = client(addr).await.check(request).await?;
    Ok(response.into_inner().status())
}

fn challenge(status: &Status) -> &str {
    status.metadata().get("www-authenticate").unwrap().to_str().unwrap()
}

#[tokio::test]
async fn a_tonic_client_gets_grpc_statuses_with_messages_and_the_challenge() {
    let idp = TestIssuer::new(ISSUER);
    let addr = serve(auth(&idp)).await;
    let good = idp.token().audience(AUDIENCE).claim("scope", "health").sign();

    assert_eq!(check(addr, &[&format!("Bearer {good}")]).await.unwrap(), ServingStatus::Serving);

    let missing = check(addr, &[]).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert_eq!(missing.message(), "authentication required");
    assert_eq!(challenge(&missing), "Bearer realm=\"grpc\"");

    let tampered = check(addr, &[&format!("Bearer {}", tamper(&good))]).await.unwrap_err();
    assert_eq!(tampered.code(), Code::Unauthenticated);
    assert_eq!(tampered.message(), "invalid signature");
    assert_eq!(
        challenge(&tampered),
        "Bearer realm=\"grpc\", error=\"invalid_token\", error_description=\"invalid signature\""
    );

    let expired = idp.token().audience(AUDIENCE).claim("scope", "health").expired().sign();
    let expired = check(addr, &[&format!("Bearer {expired}")]).await.unwrap_err();
    assert_eq!(expired.code(), Code::Unauthenticated);
    assert_eq!(expired.message(), "token expired");

    // The route requirement beneath the layer answers the same way.
    let no_scope = idp.token().audience(AUDIENCE).claim("scope", "other").sign();
    let no_scope = check(addr, &[&format!("Bearer {no_scope}")]).await.unwrap_err();
    assert_eq!(no_scope.code(), Code::PermissionDenied);
    assert_eq!(no_scope.message(), "insufficient scope");
    assert_eq!(
        challenge(&no_scope),
        "Bearer realm=\"grpc\", error=\"insufficient_scope\", \
         error_description=\"insufficient scope\", scope=\"health\""
    );

    // Two `authorization` values: a malformed request, INVALID_ARGUMENT.
    let twice = format!("Bearer {good}");
    let twice = check(addr, &[&twice, &twice]).await.unwrap_err();
    assert_eq!(twice.code(), Code::InvalidArgument);
    assert!(challenge(&twice).contains("error=\"invalid_request\""), "{}", challenge(&twice));
}

fn http_request(content_type: &str) -> Request<Body> {
    Request::post("/grpc.health.v1.Health/Check")
        .header("content-type", content_type)
        .body(Body::empty())
        .unwrap()
}

async fn ok() -> &'static str {
    "ok"
}

#[tokio::test]
async fn grpc_requests_are_answered_trailers_only_and_others_as_http() {
    let idp = TestIssuer::new(ISSUER);
    let auth = auth(&idp);
    let app = axum::Router::new().route("/{*path}", axum::routing::post(ok)).layer(auth.layer());

    let grpc = app.clone().oneshot(http_request("application/grpc+proto")).await.unwrap();
    assert_eq!(grpc.status(), StatusCode::OK);
    assert_eq!(grpc.headers()["content-type"], "application/grpc");
    assert_eq!(grpc.headers()["grpc-status"], "16");
    assert_eq!(grpc.headers()["grpc-message"], "authentication required");
    assert_eq!(grpc.headers()["www-authenticate"], "Bearer realm=\"grpc\"");

    let http = app.oneshot(http_request("application/json")).await.unwrap();
    assert_eq!(http.status(), StatusCode::UNAUTHORIZED);
    assert!(http.headers().get("grpc-status").is_none());
}

#[tokio::test]
async fn grpc_status_answers_every_request_as_grpc_and_a_renderer_keeps_the_grpc_status() {
    let idp = TestIssuer::new(ISSUER);
    let auth = auth(&idp);

    let grpc_only = axum::Router::new()
        .route("/{*path}", axum::routing::post(ok))
        .layer(auth.layer().with_rejection(GrpcStatus));
    let response = grpc_only.oneshot(http_request("application/json")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");

    // A renderer of the app's own: a gRPC call still gets its status from the headers.
    let rendered = axum::Router::new().route("/{*path}", axum::routing::post(ok)).layer(
        auth.layer().with_response(|err: &AuthError| {
            http::Response::new(Body::from(err.description().into_owned()))
        }),
    );
    let response = rendered.oneshot(http_request("application/grpc")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()["content-type"], "application/grpc");
}
