//! The gateway's `JWT_CORS_ALLOWED_ORIGINS`: unset, no CORS header anywhere and a preflight is
//! refused like any request without a token; set, the listed origins' preflights are answered
//! and every answer to them (refusals included) carries the CORS headers, with the challenge
//! and `DPoP-Nonce` exposed; a malformed origin stops the gateway with exit code 2.
#![cfg(feature = "remote")]

use crate::example::example_binary;
use crate::gateway_process::{Gateway, Reply};

use std::process::Command;

const PAGE: &str = "http://app.example.test";
const SECRET: &str = "a-gateway-test-secret-of-32-bytes+";

fn gateway(origins: Option<&str>) -> Gateway {
    let mut env = vec![
        ("JWT_ISSUER", "https://login.example"),
        ("JWT_AUDIENCE", "gateway-tests"),
        ("JWT_HS256_SECRET", SECRET),
    ];
    env.extend(origins.map(|origins| ("JWT_CORS_ALLOWED_ORIGINS", origins)));
    Gateway::start(&env)
}

fn send(gateway: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    gateway.send(method, path, headers)
}

fn preflight(gateway: &Gateway, origin: &str) -> Reply {
    send(
        gateway,
        "OPTIONS",
        "/me",
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization,dpop"),
        ],
    )
}

fn cors_headers(reply: &Reply) -> Vec<&str> {
    reply
        .headers
        .iter()
        .filter(|(name, _)| name.starts_with("access-control-"))
        .map(|(name, _)| name.as_str())
        .collect()
}

#[test]
fn without_the_variable_there_is_no_cors_and_a_preflight_needs_a_token() {
    let gateway = gateway(None);
    let reply = preflight(&gateway, PAGE);
    assert_eq!(reply.status, 401);
    assert!(reply.header("www-authenticate").is_some());
    assert_eq!(cors_headers(&reply), Vec::<&str>::new());
    let reply = send(&gateway, "GET", "/me", &[("Origin", PAGE)]);
    assert_eq!(reply.status, 401);
    assert_eq!(cors_headers(&reply), Vec::<&str>::new());
}

#[test]
fn the_listed_origins_are_answered_and_read_the_refusals() {
    let gateway = gateway(Some(" http://app.example.test/ , https://other.example.test:8443"));
    for origin in [PAGE, "https://other.example.test:8443"] {
        let reply = preflight(&gateway, origin);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("www-authenticate"), None);
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        assert_eq!(reply.header("access-control-allow-methods"), Some("GET"));
        assert_eq!(reply.header("access-control-allow-headers"), Some("authorization,dpop"));
    }

    let reply = send(&gateway, "GET", "/me", &[("Origin", PAGE)]);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="api""#));
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    assert_eq!(reply.header("access-control-expose-headers"), Some("www-authenticate,dpop-nonce"));
    let reply = send(&gateway, "GET", "/health", &[("Origin", PAGE)]);
    assert_eq!((reply.status, reply.header("access-control-allow-origin")), (200, Some(PAGE)));

    // Another origin, or one differing by scheme or port, is not allowed.
    for origin in
        ["http://evil.example.test", "https://app.example.test", "http://app.example.test:81"]
    {
        let reply = preflight(&gateway, origin);
        assert_eq!(reply.header("access-control-allow-origin"), None, "{origin}");
        let reply = send(&gateway, "GET", "/me", &[("Origin", origin)]);
        assert_eq!((reply.status, reply.header("access-control-allow-origin")), (401, None));
    }
}

#[test]
fn a_malformed_origin_exits_with_code_2() {
    for origins in [
        "*",
        "null",
        "app.example.test",
        "https://app.example.test/app",
        "https://app.example.test?x=1",
        "ftp://app.example.test",
        "https://user@app.example.test",
        "https://app.example.test,,https://other.example.test",
    ] {
        let output = Command::new(example_binary("gateway"))
            .env_clear()
            .env("BIND", "127.0.0.1:0")
            .env("JWT_ISSUER", "https://login.example")
            .env("JWT_AUDIENCE", "gateway-tests")
            .env("JWT_HS256_SECRET", SECRET)
            .env("JWT_CORS_ALLOWED_ORIGINS", origins)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{origins:?}: {stderr}");
        assert!(
            stderr.contains("JWT_CORS_ALLOWED_ORIGINS") && stderr.contains("is not an origin"),
            "{origins:?}: {stderr}"
        );
    }
}
