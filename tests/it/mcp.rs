//! Per-operation scopes of an MCP server (feature `mcp`), through the public API: the MCP
//! step-up flow's 403 naming every scope an operation needs, headers held to the body, batches
//! looked through, and the body handed on unchanged.
#![cfg(feature = "mcp")]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use http::{Request, StatusCode, header};
use jwt_layer::JwtAuth;
use jwt_layer::mcp::McpScopes;
use serde_json::Value;

use crate::common::{self, answered};

const RESOURCE: &str = "https://mcp.example/mcp";

fn app() -> Router {
    let idp = common::issuer();
    let auth = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .resource(RESOURCE)
        .build()
        .unwrap();
    let scopes = McpScopes::builder()
        .every_request(["mcp:tools"])
        .tool("admin_echo", ["mcp:admin"])
        .resource("file:///secrets", ["files:read"])
        .prompt("incident", ["mcp:admin"])
        .max_body_bytes(4096)
        .build()
        .unwrap();
    // The MCP server stand-in answers with the body it was handed.
    Router::new()
        .route("/mcp", post(|body: Bytes| async move { body }))
        .route_layer(scopes)
        .layer(auth.layer())
}

fn token(scope: &str) -> String {
    common::issuer().token().audience(RESOURCE).subject("u").scope(scope).sign()
}

fn call(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#)
}

fn tool(name: &str) -> String {
    call("tools/call", &format!(r#"{{"name":"{name}","arguments":{{}}}}"#))
}

fn post_mcp(token: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn a_tool_needing_more_scopes_is_refused_with_every_scope_it_needs() {
    let app = app();
    let tools = token("mcp:tools");
    let body = tool("whoami");
    let (status, _, echoed) = answered(&app, post_mcp(&tools, &[], &body)).await;
    assert_eq!((status, echoed), (StatusCode::OK, body), "handed on unchanged");

    let (status, challenges, _) = answered(&app, post_mcp(&tools, &[], &tool("admin_echo"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = &challenges[0];
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    assert!(challenge.contains(r#"scope="mcp:tools mcp:admin""#), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");

    // After the step-up: a token with both scopes.
    let both = token("mcp:tools mcp:admin");
    let (status, _, _) = answered(&app, post_mcp(&both, &[], &tool("admin_echo"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_challenge_keeps_the_tokens_scopes_and_never_names_offline_access() {
    let app = app();
    let held = token("offline_access profile mcp:tools");
    let (status, challenges, _) = answered(&app, post_mcp(&held, &[], &tool("admin_echo"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenges[0].contains(r#"scope="profile mcp:tools mcp:admin""#), "{challenges:?}");
    assert!(!challenges[0].contains("offline_access"), "{challenges:?}");
}

#[tokio::test]
async fn headers_are_held_to_the_body() {
    let app = app();
    let both = token("mcp:tools mcp:admin");
    let tools = token("mcp:tools");
    // 2026-07-28: both headers, agreeing with the body.
    let named = [("mcp-method", "tools/call"), ("mcp-name", "whoami")];
    let (status, _, _) = answered(&app, post_mcp(&tools, &named, &tool("whoami"))).await;
    assert_eq!(status, StatusCode::OK);
    // A lying `Mcp-Name` (the body calls the admin tool): refused whatever the token holds.
    for token in [&tools, &both] {
        let (status, challenges, _) =
            answered(&app, post_mcp(token, &named, &tool("admin_echo"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(challenges[0].contains(r#"error="invalid_request""#), "{challenges:?}");
    }
    // A method header that is not the body's, and a name header missing.
    let other = [("mcp-method", "tools/list")];
    let (status, _, _) = answered(&app, post_mcp(&both, &other, &tool("whoami"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unnamed = [("mcp-method", "tools/call")];
    let (status, _, _) = answered(&app, post_mcp(&both, &unnamed, &tool("whoami"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_batch_cannot_hide_a_call_that_needs_more() {
    let app = app();
    let tools = token("mcp:tools");
    let batch = format!("[{},{}]", tool("whoami"), tool("admin_echo"));
    let (status, challenges, _) = answered(&app, post_mcp(&tools, &[], &batch)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenges[0].contains(r#"scope="mcp:tools mcp:admin""#), "{challenges:?}");
    // Duplicate members would let two parsers see two different tools.
    let twice = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":"admin_echo"}}"#;
    let (status, _, _) = answered(&app, post_mcp(&tools, &[], twice)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn resources_and_prompts_are_named_by_uri_and_name() {
    let app = app();
    let tools = token("mcp:tools");
    let read = call("resources/read", r#"{"uri":"file:///secrets"}"#);
    let (status, challenges, _) = answered(&app, post_mcp(&tools, &[], &read)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenges[0].contains(r#"scope="mcp:tools files:read""#), "{challenges:?}");
    let public = call("resources/read", r#"{"uri":"file:///readme"}"#);
    assert_eq!(answered(&app, post_mcp(&tools, &[], &public)).await.0, StatusCode::OK);
    let prompt = call("prompts/get", r#"{"name":"incident"}"#);
    assert_eq!(answered(&app, post_mcp(&tools, &[], &prompt)).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_request_needs_the_base_scope_and_the_body_is_capped() {
    let app = app();
    let (status, challenges, _) =
        answered(&app, post_mcp(&token("profile"), &[], &tool("whoami"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenges[0].contains(r#"scope="profile mcp:tools""#), "{challenges:?}");
    let huge = tool(&"x".repeat(5000));
    let (status, _, _) = answered(&app, post_mcp(&token("mcp:tools"), &[], &huge)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Without a token the layer in front answers 401, as on any route.
    let anonymous = Request::post("/mcp").body(Body::from(tool("whoami"))).unwrap();
    assert_eq!(answered(&app, anonymous).await.0, StatusCode::UNAUTHORIZED);
}
