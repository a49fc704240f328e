//! The `gateway` example as a protected resource (RFC 8707, RFC 9728): with `JWT_RESOURCE_URL`
//! it accepts tokens issued for that resource, serves its metadata at the well-known path
//! without authentication, and names that document in every challenge. The real binary on
//! loopback, as in `tests/examples/gateway.rs`.
#![cfg(feature = "remote")]

use crate::example;
use crate::gateway_process;

use example::TempFile;
use gateway_process::Gateway;
use jwt_layer::Algorithm;
use jwt_layer::testing::TestIssuer;
use serde_json::json;

const ISSUER: &str = "https://login.example";
const RESOURCE: &str = "https://api.example.com/v1";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/v1";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource/v1";

/// A gateway for `RESOURCE` with the key set `jwks` and the extra variables `env`.
fn resource_gateway(jwks: &TempFile, env: &[(&str, &str)]) -> Gateway {
    let mut vars = vec![
        ("JWT_ISSUER", ISSUER),
        ("JWT_JWKS_FILE", jwks.path()),
        ("JWT_RESOURCE_URL", RESOURCE),
    ];
    vars.extend_from_slice(env);
    Gateway::start(&vars)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn the_metadata_is_public_json_at_the_well_known_path() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&issuer.jwks_json().to_string());
    let gateway = resource_gateway(&jwks, &[]);

    let reply = gateway.get(METADATA_PATH, &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({
            "resource": RESOURCE,
            "authorization_servers": [ISSUER],
            "scopes_supported": ["admin"],
            "bearer_methods_supported": ["header"],
        })
    );
    // Only at the path the resource's URL gives (RFC 9728 §3.1).
    assert_eq!(gateway.get("/.well-known/oauth-protected-resource", &[]).status, 404);
}

#[test]
fn scopes_supported_come_from_the_environment() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&issuer.jwks_json().to_string());
    let gateway = resource_gateway(&jwks, &[("JWT_SCOPES_SUPPORTED", "read, admin,write")]);
    let metadata = gateway.get(METADATA_PATH, &[]).json();
    assert_eq!(metadata["scopes_supported"], json!(["read", "admin", "write"]));
}

#[test]
fn challenges_point_to_the_metadata() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&issuer.jwks_json().to_string());
    let gateway = resource_gateway(&jwks, &[]);

    let missing = gateway.get("/me", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some(format!("Bearer realm=\"api\", resource_metadata=\"{METADATA_URL}\"").as_str())
    );
    assert_eq!(missing.json()["error"], "unauthorized");

    let expired = issuer.token().alg(Algorithm::ES256).audience(RESOURCE).expired().sign();
    let reply = gateway.me(&expired);
    assert_eq!(reply.status, 401);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.ends_with(&format!(", resource_metadata=\"{METADATA_URL}\"")), "{challenge}");

    // The route requirement's 403 too, rendered by the layer's JSON renderer.
    let reader = issuer.token().alg(Algorithm::ES256).audience(RESOURCE).scope("read").sign();
    let reply = gateway.get("/admin", &[("Authorization", &bearer(&reader))]);
    assert_eq!(reply.status, 403);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.contains("scope=\"admin\""), "{challenge}");
    assert!(challenge.ends_with(&format!(", resource_metadata=\"{METADATA_URL}\"")), "{challenge}");
    assert_eq!(reply.json()["error"], "insufficient_scope");
}

#[test]
fn only_tokens_for_this_resource_are_accepted() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&issuer.jwks_json().to_string());
    let gateway = resource_gateway(&jwks, &[]);
    let token = |aud: &str| issuer.token().alg(Algorithm::ES256).audience(aud).sign();

    for aud in [RESOURCE, "HTTPS://API.example.com:443/v1/"] {
        let reply = gateway.me(&token(aud));
        assert_eq!(reply.status, 200, "{aud}: {}", reply.body);
    }
    // RFC 8707: a token issued for another resource is refused here.
    for aud in ["https://api.example.com/v2", "https://api.example.com/V1", "https://other.example"]
    {
        let reply = gateway.me(&token(aud));
        assert_eq!(reply.status, 401, "{aud}");
        assert_eq!(reply.json()["error"], "invalid_token", "{aud}");
    }
    let admin = issuer.token().alg(Algorithm::ES256).audience(RESOURCE).scope("admin").sign();
    assert_eq!(gateway.get("/admin", &[("Authorization", &bearer(&admin))]).status, 200);
}

#[test]
fn with_jwt_audience_too_both_are_accepted() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&issuer.jwks_json().to_string());
    let gateway = resource_gateway(&jwks, &[("JWT_AUDIENCE", "legacy-api")]);
    let token = |aud: &str| issuer.token().alg(Algorithm::ES256).audience(aud).sign();
    assert_eq!(gateway.me(&token(RESOURCE)).status, 200);
    assert_eq!(gateway.me(&token("legacy-api")).status, 200);
    assert_eq!(gateway.me(&token("another-api")).status, 401);
}
