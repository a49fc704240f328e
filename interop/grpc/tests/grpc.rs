//! gRPC: a tonic server behind the layer, called by a tonic client over loopback HTTP/2. A
//! refusal reaches the client as a gRPC status (a trailers-only answer), not as an HTTP status
//! the client has to guess from, and carries no body whatever renderer the app configured.

use std::net::SocketAddr;

use axum::body::Body;
use axum::response::IntoResponse;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use jwt_layer::testing::{TestIssuer, tamper};
use jwt_layer::{AuthError, Challenge, GrpcStatus, JwtAuth, RefusedRequest, Rejection};
use serde_json::{Value, json};
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

/// Refusals as a JSON document, the way the gateway example renders them.
fn json_refusal(err: &AuthError) -> axum::response::Response {
    let body = json!({ "error": err.error_code(), "error_description": err.description() });
    axum::Json(body).into_response()
}

/// A renderer of the app's own that also states the length of its JSON body.
#[derive(Clone)]
struct JsonWithLength;

impl Rejection<Body> for JsonWithLength {
    fn render(&self, error: &AuthError, challenge: &Challenge) -> Response<Body> {
        self.render_for(error, challenge, &RefusedRequest::default())
    }

    fn render_for(
        &self,
        error: &AuthError,
        _: &Challenge,
        request: &RefusedRequest<'_>,
    ) -> Response<Body> {
        let body = json!({ "error_description": error.description(), "instance": request.path() });
        let body = body.to_string();
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap()
    }
}

/// The status, headers and whole body of `app`'s answer to a POST of this `content-type`.
async fn refusal(
    app: &axum::Router,
    content_type: &str,
    authorization: Option<&str>,
) -> (http::response::Parts, Bytes) {
    let mut request = http_request(content_type);
    if let Some(value) = authorization {
        request.headers_mut().insert(header::AUTHORIZATION, value.parse().unwrap());
    }
    let (parts, body) = app.clone().oneshot(request).await.unwrap().into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

/// gRPC over HTTP/2, "Responses": a call that fails before any message is answered
/// trailers-only. grpc-go and grpc-java read any DATA frame as a length-prefixed message, so a
/// JSON body turns UNAUTHENTICATED into INTERNAL; whatever renders the body, there is none.
#[tokio::test]
async fn a_grpc_refusal_has_no_body_whatever_the_renderer() {
    let idp = TestIssuer::new(ISSUER);
    let auth = auth(&idp);
    let scoped = |auth: &JwtAuth<Value>| {
        axum::routing::post(ok).route_layer(auth.require_all_scopes(["health"]).unwrap())
    };
    let route = "/{*path}";
    let apps = [
        (
            "with_response",
            axum::Router::new()
                .route(route, scoped(&auth))
                .layer(auth.layer().with_response(json_refusal)),
        ),
        (
            "with_response_for",
            axum::Router::new().route(route, scoped(&auth)).layer(auth.layer().with_response_for(
                |err: &AuthError, request: &RefusedRequest<'_>| {
                    let body = json!({ "title": err.description(), "instance": request.path() });
                    axum::Json(body).into_response()
                },
            )),
        ),
        (
            "with_rejection",
            axum::Router::new()
                .route(route, scoped(&auth))
                .layer(auth.layer().with_rejection(JsonWithLength)),
        ),
        (
            "route layer's own",
            axum::Router::new()
                .route(
                    route,
                    axum::routing::post(ok).route_layer(
                        auth.require_all_scopes(["health"]).unwrap().with_response(json_refusal),
                    ),
                )
                .layer(auth.layer()),
        ),
    ];
    let no_scope = format!("Bearer {}", idp.token().audience(AUDIENCE).claim("scope", "x").sign());
    for (name, app) in &apps {
        for (authorization, http_status, grpc_status) in [
            (None, StatusCode::UNAUTHORIZED, "16"),
            (Some(no_scope.as_str()), StatusCode::FORBIDDEN, "7"),
        ] {
            let (grpc, body) = refusal(app, "application/grpc+proto", authorization).await;
            assert_eq!(grpc.status, StatusCode::OK, "{name}");
            assert_eq!(grpc.headers["content-type"], "application/grpc", "{name}");
            assert_eq!(grpc.headers["grpc-status"], grpc_status, "{name}");
            assert!(grpc.headers.contains_key("grpc-message"), "{name}");
            assert!(grpc.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer "));
            let length = grpc.headers.get(header::CONTENT_LENGTH);
            assert!(length.is_none_or(|length| length == "0"), "{name}: {length:?}");
            assert!(body.is_empty(), "{name}: {body:?}");

            // The same refusal to a plain HTTP request keeps the renderer's body.
            let (http, body) = refusal(app, "application/json", authorization).await;
            assert_eq!(http.status, http_status, "{name}");
            assert!(http.headers.get("grpc-status").is_none(), "{name}");
            let rendered = *name != "route layer's own" || http_status == StatusCode::FORBIDDEN;
            if rendered {
                let document: Value = serde_json::from_slice(&body).unwrap();
                assert!(document.is_object(), "{name}: {document}");
            } else {
                assert!(body.is_empty(), "{name}: {body:?}");
            }
        }
    }
}

/// An axum app behind the layer with a JSON renderer, served over HTTP/2 without TLS (prior
/// knowledge, as gRPC clients connect) on a free loopback port.
async fn serve_json_app(auth: JwtAuth<Value>) -> SocketAddr {
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::post(ok))
        .layer(auth.layer().with_response(json_refusal));
    serve_h2(app).await
}

/// `app` over HTTP/2 without TLS on a free loopback port.
async fn serve_h2(app: axum::Router) -> SocketAddr {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// On the wire: the refusal's HEADERS frame ends the stream (no DATA frame, no trailers
/// frame), as a client reading the status from end-of-stream needs; and tonic, behind the
/// same JSON renderer, reports UNAUTHENTICATED rather than INTERNAL.
#[tokio::test]
async fn a_grpc_refusal_ends_the_stream_on_its_headers_frame() {
    let idp = TestIssuer::new(ISSUER);
    let addr = serve_json_app(auth(&idp)).await;

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let request = Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    // One empty `HealthCheckRequest`: the compressed flag and a zero length.
    send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true).unwrap();
    let (parts, mut body) = response.await.unwrap().into_parts();
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers["content-type"], "application/grpc");
    assert_eq!(parts.headers["grpc-status"], "16");
    assert_eq!(parts.headers["grpc-message"], "authentication required");
    assert_eq!(parts.headers["www-authenticate"], "Bearer realm=\"grpc\"");
    assert!(body.is_end_stream(), "the HEADERS frame did not end the stream");
    assert!(body.data().await.is_none());
    assert!(body.trailers().await.unwrap().is_none());
    let length = parts.headers.get(header::CONTENT_LENGTH);
    assert!(length.is_none_or(|length| length == "0"), "{length:?}");

    let refused = check(addr, &[]).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "authentication required");
    assert_eq!(challenge(&refused), "Bearer realm=\"grpc\"");
    let tampered = idp.token().audience(AUDIENCE).sign();
    let tampered = check(addr, &[&format!("Bearer {}", tamper(&tampered))]).await.unwrap_err();
    assert_eq!(tampered.code(), Code::Unauthenticated);
    assert_eq!(tampered.message(), "invalid signature");
}

/// One renderer for gRPC and HTTP: a renderer returns the body type of the service the layer
/// wraps (axum's `Body` for a router, tonic's for a tonic server), so a JSON renderer written
/// for axum does not fit a tonic `Server` directly. Put the tonic services into the axum router
/// (`Routes::into_axum_router`) and the layer on the router: the same renderer then answers the
/// HTTP routes with its body and the gRPC calls trailers-only.
#[tokio::test]
async fn tonic_inside_axum_shares_one_renderer_with_the_http_routes() {
    let idp = TestIssuer::new(ISSUER);
    let auth = auth(&idp);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let app = tonic::service::Routes::new(health)
        .into_axum_router()
        .route("/me", axum::routing::get(ok))
        .layer(auth.layer().with_response(json_refusal));

    // HTTP: the renderer's JSON body.
    let request = Request::get("/me").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["error_description"], "authentication required");

    // gRPC, from a tonic client over HTTP/2: a status, and a good token gets through.
    let addr = serve_h2(app).await;
    let refused = check(addr, &[]).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(challenge(&refused), "Bearer realm=\"grpc\"");
    let good = idp.token().audience(AUDIENCE).sign();
    assert_eq!(check(addr, &[&format!("Bearer {good}")]).await.unwrap(), ServingStatus::Serving);
}
