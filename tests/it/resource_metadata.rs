//! The protected resource: RFC 9728 metadata (document, well-known location, CORS), the
//! challenges that link to it (`resource_metadata`, `scope`), and RFC 8707 resource-bound
//! audiences (`.resource(..)`).

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use jwt_layer::testing::TestIssuer;
use jwt_layer::{
    Algorithm, BuildError, Dpop, JwtAuth, JwtAuthBuilder, ProtectedResourceMetadata, TrustedIssuer,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const RESOURCE: &str = "https://api.example.com/mcp";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";

fn issuer() -> TestIssuer {
    TestIssuer::new("https://idp.example.test")
}

fn builder(idp: &TestIssuer) -> JwtAuthBuilder<Value> {
    JwtAuth::<Value>::builder().keys(idp.keys()).issuer(idp.issuer()).resource(RESOURCE)
}

async fn ok() -> &'static str {
    "ok"
}

/// Status, headers and body of one answer.
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
}

fn challenges(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn get_with(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

async fn document(metadata: &ProtectedResourceMetadata) -> String {
    let app = Router::new().route_service(metadata.well_known_path(), metadata.service());
    let (status, headers, body) = send(&app, get_with(metadata.well_known_path(), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    body
}

// ---------------------------------------------------------------------------------------------
// The document (RFC 9728 §2)

#[tokio::test]
async fn the_document_says_what_the_configuration_checks() {
    let idp = issuer();
    let auth = builder(&idp).build().unwrap();
    let metadata = auth.protected_resource_metadata().unwrap();
    assert_eq!(
        document(&metadata).await,
        r#"{"resource":"https://api.example.com/mcp","authorization_servers":["https://idp.example.test"],"bearer_methods_supported":["header"]}"#
    );

    // What only the application knows is added to it.
    let metadata = metadata
        .scopes_supported(["mcp:tools", "mcp:resources"])
        .resource_name("Example MCP server")
        .resource_documentation("https://docs.example.com/mcp")
        .resource_policy_uri("https://example.com/privacy")
        .resource_tos_uri("https://example.com/terms")
        .resource_signing_alg_values_supported([Algorithm::ES256]);
    assert_eq!(
        document(&metadata).await,
        concat!(
            r#"{"resource":"https://api.example.com/mcp","#,
            r#""authorization_servers":["https://idp.example.test"],"#,
            r#""scopes_supported":["mcp:tools","mcp:resources"],"#,
            r#""bearer_methods_supported":["header"],"#,
            r#""resource_signing_alg_values_supported":["ES256"],"#,
            r#""resource_name":"Example MCP server","#,
            r#""resource_documentation":"https://docs.example.com/mcp","#,
            r#""resource_policy_uri":"https://example.com/privacy","#,
            r#""resource_tos_uri":"https://example.com/terms"}"#
        )
    );
}

#[tokio::test]
async fn token_sources_dpop_and_issuers_in_the_document() {
    let idp = issuer();
    let json = |auth: JwtAuth<Value>| {
        serde_json::from_str::<Value>(&auth.protected_resource_metadata().unwrap().to_json())
            .unwrap()
    };

    // A cookie is not an RFC 6750 method; a query parameter is.
    let cookie = builder(&idp).token_cookie("session").build().unwrap();
    assert_eq!(json(cookie)["bearer_methods_supported"], json!(["header"]));
    let query = builder(&idp).dangerous_token_query_parameter("access_token").build().unwrap();
    assert_eq!(json(query)["bearer_methods_supported"], json!(["header", "query"]));

    let origin = "https://api.example.com";
    let required = Dpop::required().public_origin(origin).algorithms([Algorithm::ES256]);
    let dpop = builder(&idp).dpop(required).build().unwrap();
    assert_eq!(
        json(dpop),
        json!({
            "resource": RESOURCE,
            "authorization_servers": ["https://idp.example.test"],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256"],
            "dpop_bound_access_tokens_required": true,
        })
    );
    let allowed = Dpop::allowed().public_origin(origin).algorithms([Algorithm::EdDSA]);
    let dpop = json(builder(&idp).dpop(allowed).build().unwrap());
    assert_eq!(dpop["dpop_signing_alg_values_supported"], json!(["EdDSA"]));
    assert_eq!(dpop["dpop_bound_access_tokens_required"], json!(false));

    let other = TestIssuer::new("https://other.example.test");
    let trusted = JwtAuth::<Value>::builder()
        .trusted_issuer(TrustedIssuer::new(idp.issuer(), idp.keys()))
        .trusted_issuer(TrustedIssuer::new(other.issuer(), other.keys()))
        .resource(RESOURCE)
        .build()
        .unwrap();
    assert_eq!(
        json(trusted)["authorization_servers"],
        json!(["https://idp.example.test", "https://other.example.test"])
    );

    // An issuer given twice is named once.
    let twice = builder(&idp).issuer(idp.issuer()).build().unwrap();
    assert_eq!(json(twice)["authorization_servers"], json!(["https://idp.example.test"]));

    // Without a resource there is no document to build.
    let plain = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    assert_eq!(plain.protected_resource_metadata().unwrap_err(), BuildError::NoResource);
}

#[tokio::test]
async fn well_known_location_by_path_insertion_rfc_9728_section_3_1() {
    let cases = [
        ("https://api.example.com/mcp", "/.well-known/oauth-protected-resource/mcp"),
        ("https://api.example.com/mcp/", "/.well-known/oauth-protected-resource/mcp"),
        (
            "https://api.example.com/tenant/a/mcp",
            "/.well-known/oauth-protected-resource/tenant/a/mcp",
        ),
        ("https://api.example.com", "/.well-known/oauth-protected-resource"),
        ("https://api.example.com/", "/.well-known/oauth-protected-resource"),
        ("https://API.example.com:443", "/.well-known/oauth-protected-resource"),
    ];
    for (resource, path) in cases {
        let metadata = ProtectedResourceMetadata::new(resource).unwrap();
        assert_eq!(metadata.well_known_path(), path, "{resource}");
        assert_eq!(metadata.well_known_url(), format!("https://api.example.com{path}"));
        let body: Value = serde_json::from_str(&document(&metadata).await).unwrap();
        assert_eq!(body["resource"], metadata.resource(), "{resource}");
    }
    let port = ProtectedResourceMetadata::new("http://localhost:3000/mcp").unwrap();
    assert_eq!(
        port.well_known_url(),
        "http://localhost:3000/.well-known/oauth-protected-resource/mcp"
    );
}

#[tokio::test]
async fn served_to_browsers_without_authentication() {
    let idp = issuer();
    let auth = builder(&idp).build().unwrap();
    let metadata = auth.protected_resource_metadata().unwrap();
    let path = metadata.well_known_path();
    let app = Router::new()
        .route("/mcp", get(ok))
        .layer(auth.layer())
        .route_service(path, metadata.service());

    let (status, _, _) = send(&app, get_with("/mcp", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let request =
        Request::get(path).header(header::ORIGIN, "https://app.example").body(Body::empty());
    let (status, headers, body) = send(&app, request.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(body, metadata.to_json());

    let (status, headers, body) =
        send(&app, Request::head(path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(body, "");

    // A CORS preflight, as a browser sends it before a GET with a custom header.
    let preflight = Request::options(path)
        .header(header::ORIGIN, "https://app.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "mcp-protocol-version")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, preflight).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, HEAD, OPTIONS");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], "*");
    assert_eq!(body, "");

    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let (status, headers, _) = send(&app, request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers[header::ALLOW], "GET, HEAD, OPTIONS", "{method}");
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "{method}");
    }
}

// ---------------------------------------------------------------------------------------------
// Challenges (RFC 9728 §5.1, RFC 6750 §3)

#[tokio::test]
async fn every_challenge_names_the_metadata() {
    let idp = issuer();
    let auth = builder(&idp).build().unwrap();
    let app = Router::new()
        .route("/mcp", get(ok))
        .route("/admin", get(ok).route_layer(auth.require_all_scopes(["mcp:admin"]).unwrap()))
        .layer(auth.layer());

    let (status, headers, _) = send(&app, get_with("/mcp", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&headers),
        [format!(r#"Bearer realm="api", resource_metadata="{METADATA_URL}""#)]
    );

    let expired = idp.token().audience(RESOURCE).expired().sign();
    let (status, headers, _) = send(&app, get_with("/mcp", Some(&expired))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&headers),
        [format!(
            r#"Bearer realm="api", error="invalid_token", error_description="token expired", resource_metadata="{METADATA_URL}""#
        )]
    );

    let token = idp.token().audience(RESOURCE).scope("mcp:tools").sign();
    let (status, headers, _) = send(&app, get_with("/admin", Some(&token))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenges(&headers),
        [format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="mcp:admin", resource_metadata="{METADATA_URL}""#
        )]
    );

    // DPoP offered: both challenges of an anonymous answer name it.
    let dpop =
        Dpop::allowed().public_origin("https://api.example.com").algorithms([Algorithm::ES256]);
    let auth = builder(&idp).dpop(dpop).build().unwrap();
    let app = Router::new().route("/mcp", get(ok)).layer(auth.layer());
    let (_, headers, _) = send(&app, get_with("/mcp", None)).await;
    assert_eq!(
        challenges(&headers),
        [
            format!(r#"Bearer realm="api", resource_metadata="{METADATA_URL}""#),
            format!(r#"DPoP realm="api", algs="ES256", resource_metadata="{METADATA_URL}""#),
        ]
    );
}

#[tokio::test]
async fn a_401_advertises_the_scopes_to_ask_for() {
    let idp = issuer();
    // The layer itself refuses: it advertises the configured scopes.
    let auth = builder(&idp).challenge_scope(["mcp:tools", "mcp:resources"]).build().unwrap();
    let app = Router::new().route("/mcp", get(ok)).layer(auth.layer());
    let (status, headers, _) = send(&app, get_with("/mcp", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&headers),
        [format!(
            r#"Bearer realm="api", scope="mcp:tools mcp:resources", resource_metadata="{METADATA_URL}""#
        )]
    );
    let other = idp.token().audience("https://api.example.com/other").sign();
    let (status, headers, _) = send(&app, get_with("/mcp", Some(&other))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&headers),
        [format!(
            r#"Bearer realm="api", error="invalid_token", error_description="invalid audience", scope="mcp:tools mcp:resources", resource_metadata="{METADATA_URL}""#
        )]
    );

    // Under an optional layer, a route requirement answers an anonymous request with its own
    // scopes, for `all` and `any` alike; `RequireAuth` with the layer's.
    let auth = builder(&idp).challenge_scope(["mcp:tools"]).optional().build().unwrap();
    let app = Router::new()
        .route("/open", get(ok))
        .route("/signed-in", get(ok).route_layer(auth.require_auth()))
        .route(
            "/all",
            get(ok).route_layer(auth.require_all_scopes(["files:read", "files:write"]).unwrap()),
        )
        .route(
            "/any",
            get(ok).route_layer(auth.require_any_scope(["files:read", "files:admin"]).unwrap()),
        )
        .layer(auth.layer());
    let (status, _, _) = send(&app, get_with("/open", None)).await;
    assert_eq!(status, StatusCode::OK);
    let cases = [
        ("/signed-in", "mcp:tools"),
        ("/all", "files:read files:write"),
        ("/any", "files:read files:admin"),
    ];
    for (path, scope) in cases {
        let (status, headers, _) = send(&app, get_with(path, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            challenges(&headers),
            [format!(r#"Bearer realm="api", scope="{scope}", resource_metadata="{METADATA_URL}""#)],
            "{path}"
        );
    }

    // A token without the scopes: 403 `insufficient_scope` names what the route needs.
    let token = idp.token().audience(RESOURCE).scope("mcp:tools").sign();
    for (path, scope) in [("/all", "files:read files:write"), ("/any", "files:read files:admin")] {
        let (status, headers, _) = send(&app, get_with(path, Some(&token))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            challenges(&headers),
            [format!(
                r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="{scope}", resource_metadata="{METADATA_URL}""#
            )],
            "{path}"
        );
    }
    let token = idp.token().audience(RESOURCE).scope("files:admin").sign();
    assert_eq!(send(&app, get_with("/any", Some(&token))).await.0, StatusCode::OK);
}

#[test]
fn challenge_scopes_must_be_scope_tokens() {
    let idp = issuer();
    for scope in ["", "two words", "quote\"", "back\\slash", "caf\u{e9}"] {
        let refused = builder(&idp).challenge_scope([scope]).build().unwrap_err();
        assert_eq!(refused, BuildError::InvalidChallengeScope, "{scope:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Resource-bound audiences (RFC 8707)

#[tokio::test]
async fn audiences_compared_with_the_resource_in_canonical_form() {
    let idp = issuer();
    // Configured in a non-canonical spelling: kept as `https://api.example.com/mcp`.
    let auth = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .resource("HTTPS://API.Example.com:443/mcp/")
        .build()
        .unwrap();
    assert_eq!(auth.protected_resource_metadata().unwrap().resource(), RESOURCE);
    let app = Router::new().route("/mcp", get(ok)).layer(auth.layer());
    let invalid = |description: &str| {
        vec![format!(
            r#"Bearer realm="api", error="invalid_token", error_description="{description}", resource_metadata="{METADATA_URL}""#
        )]
    };
    let cases: [(&str, Value, StatusCode); 16] = [
        ("canonical", json!(RESOURCE), StatusCode::OK),
        ("trailing slash", json!("https://api.example.com/mcp/"), StatusCode::OK),
        ("host case", json!("https://API.EXAMPLE.COM/mcp"), StatusCode::OK),
        ("scheme case", json!("HTTPS://api.example.com/mcp"), StatusCode::OK),
        ("default port", json!("https://api.example.com:443/mcp"), StatusCode::OK),
        ("one of several", json!(["https://other.example", RESOURCE]), StatusCode::OK),
        ("path case", json!("https://api.example.com/MCP"), StatusCode::UNAUTHORIZED),
        ("two slashes", json!("https://api.example.com/mcp//"), StatusCode::UNAUTHORIZED),
        ("percent-encoded", json!("https://api.example.com/%6Dcp"), StatusCode::UNAUTHORIZED),
        ("query", json!("https://api.example.com/mcp?tenant=a"), StatusCode::UNAUTHORIZED),
        ("fragment", json!("https://api.example.com/mcp#x"), StatusCode::UNAUTHORIZED),
        ("user info", json!("https://u@api.example.com/mcp"), StatusCode::UNAUTHORIZED),
        ("other path", json!("https://api.example.com/mcp/admin"), StatusCode::UNAUTHORIZED),
        ("other host", json!("https://api.example.com.evil.example/mcp"), StatusCode::UNAUTHORIZED),
        ("plain http", json!("http://api.example.com/mcp"), StatusCode::UNAUTHORIZED),
        ("other port", json!("https://api.example.com:8443/mcp"), StatusCode::UNAUTHORIZED),
    ];
    for (name, aud, expected) in cases {
        let token = idp.token().claim("aud", aud).sign();
        let (status, headers, _) = send(&app, get_with("/mcp", Some(&token))).await;
        assert_eq!(status, expected, "{name}");
        if expected == StatusCode::UNAUTHORIZED {
            assert_eq!(challenges(&headers), invalid("invalid audience"), "{name}");
        }
    }
    // RFC 8725 §3.9: the resource makes `aud` required.
    let token = idp.token().sign();
    let (status, headers, _) = send(&app, get_with("/mcp", Some(&token))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&headers), invalid("missing required claim"));
}

#[tokio::test]
async fn the_resource_is_one_more_accepted_audience() {
    let idp = issuer();
    let auth = builder(&idp).audience("legacy-api").build().unwrap();
    let app = Router::new().route("/mcp", get(ok)).layer(auth.layer());
    for (aud, expected) in [
        (RESOURCE, StatusCode::OK),
        ("legacy-api", StatusCode::OK),
        // `.audience(..)` values stay exact: no canonicalization for them.
        ("Legacy-api", StatusCode::UNAUTHORIZED),
        ("https://api.example.com/other", StatusCode::UNAUTHORIZED),
    ] {
        let token = idp.token().audience(aud).sign();
        assert_eq!(send(&app, get_with("/mcp", Some(&token))).await.0, expected, "{aud}");
    }

    // With several issuers, the resource is accepted for each of them too.
    let other = TestIssuer::new("https://other.example.test");
    let auth = JwtAuth::<Value>::builder()
        .trusted_issuer(TrustedIssuer::new(idp.issuer(), idp.keys()))
        .trusted_issuer(TrustedIssuer::new(other.issuer(), other.keys()).audience("other-api"))
        .resource(RESOURCE)
        .build()
        .unwrap();
    let app = Router::new().route("/mcp", get(ok)).layer(auth.layer());
    for (token, expected) in [
        (idp.token().audience(RESOURCE).sign(), StatusCode::OK),
        (other.token().audience(RESOURCE).sign(), StatusCode::OK),
        (other.token().audience("other-api").sign(), StatusCode::OK),
        (idp.token().audience("other-api").sign(), StatusCode::UNAUTHORIZED),
    ] {
        assert_eq!(send(&app, get_with("/mcp", Some(&token))).await.0, expected);
    }
}

#[test]
fn resource_identifiers_refused_at_build_time() {
    let idp = issuer();
    use jwt_layer::reason::ResourceProblem;
    let cases = [
        ("https://api.example.com/mcp#section", ResourceProblem::Fragment),
        ("https://user@api.example.com/mcp", ResourceProblem::UserInfo),
        ("http://api.example.com/mcp", ResourceProblem::NotHttps),
        ("api.example.com/mcp", ResourceProblem::NotAnUrl),
        ("urn:example:mcp", ResourceProblem::NotAnUrl),
        ("https://api.example.com/m cp", ResourceProblem::NotAnUrl),
        ("https://api.example.com/../admin", ResourceProblem::DotSegment),
        ("https://api.example.com:0/mcp", ResourceProblem::PortZero),
        ("https://api.example.com/mcp?", ResourceProblem::Query),
    ];
    for (uri, reason) in cases {
        let refused = builder(&idp).resource(uri).build().unwrap_err();
        assert_eq!(refused, BuildError::InvalidResource(uri.to_owned(), reason), "{uri}");
        assert_eq!(refused.to_string(), format!("invalid resource identifier {uri:?}: {reason}"));
        assert_eq!(ProtectedResourceMetadata::new(uri).unwrap_err(), refused);
    }
    for loopback in ["http://localhost:3000/mcp", "http://127.0.0.1/mcp", "http://[::1]:8080"] {
        assert!(builder(&idp).resource(loopback).build().is_ok(), "{loopback}");
    }
    // Neither a resource nor an audience: refused as before.
    let none = JwtAuth::<Value>::builder().keys(idp.keys()).issuer(idp.issuer()).build();
    assert_eq!(none.unwrap_err(), BuildError::NoAudience);
}
