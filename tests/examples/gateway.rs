//! The `gateway` example end to end: the real binary, configured by environment variables,
//! answering real HTTP on loopback. Covers each route, the refusal statuses and challenges,
//! the JSON bodies, a JWKS file and a PEM key as key sources, roles, configuration errors
//! (exit code 2) and a graceful stop.
//!
//! The binary is the one cargo built beside this test (`tests/support/example.rs`).
#![cfg(feature = "remote")]

use crate::example;
use crate::gateway_process;

use std::process::Command;
use std::time::Duration;

use example::TempFile;
use gateway_process::Gateway;
use jwt_layer::Algorithm;
use jwt_layer::testing::TestIssuer;
use serde_json::{Value, json};

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "gateway-tests";
const SECRET: &str = "a-gateway-test-secret-of-32-bytes+";

fn hs256_gateway() -> Gateway {
    Gateway::start(&[
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_HS256_SECRET", SECRET),
    ])
}

/// An HS256 token over `claims`, signed with the gateway's secret.
fn hs256(claims: &Value) -> String {
    hs256_raw(&claims.to_string())
}

/// An HS256 token whose payload is exactly `payload`, signed with the gateway's secret.
fn hs256_raw(payload: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let input = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims(extra: Value) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now(), "exp": now() + 600,
        "name": "Alice \u{e9}", "roles": ["reader"],
    });
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    claims
}

#[test]
fn health_is_public_and_me_echoes_the_verified_claims() {
    let gateway = hs256_gateway();
    let health = gateway.get("/health", &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    let sent = claims(json!({ "nested": { "a": [1, 2.5, null, true] } }));
    let reply = gateway.me(&hs256(&sent));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), sent);
}

#[test]
fn me_answers_the_claims_byte_for_byte_with_or_without_roles() {
    // Members out of order, a number with a trailing zero and one in exponent form, an escape:
    // anything re-encoded would change one of them.
    let payload = format!(
        r#"{{"sub":"alice","zzz":1.50,"aud":"{AUDIENCE}","iss":"{ISSUER}","exp":{},"n":1e2,"s":"\u00e9","roles":["reader"]}}"#,
        now() + 600
    );
    let token = hs256_raw(&payload);
    let plain = hs256_gateway().me(&token);
    assert_eq!((plain.status, plain.body.as_str()), (200, payload.as_str()));

    let with_roles = Gateway::start(&[
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_HS256_SECRET", SECRET),
        ("JWT_ROLES_CLAIM", "roles"),
    ]);
    let reply = with_roles.me(&token);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, format!(r#"{{"claims":{payload},"roles":["reader"]}}"#));
}

#[test]
fn refusals_carry_status_challenge_and_a_json_reason() {
    let gateway = hs256_gateway();

    let missing = gateway.get("/me", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer realm=\"api\""));
    assert_eq!(missing.json()["error"], "unauthorized");

    let expired = gateway.me(&hs256(&claims(json!({ "exp": now() - 3600 }))));
    assert_eq!(expired.status, 401);
    let challenge = expired.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""), "{challenge}");
    assert_eq!(expired.json()["error"], "invalid_token");

    for (name, claims) in [
        ("wrong audience", claims(json!({ "aud": "someone-else" }))),
        ("wrong issuer", claims(json!({ "iss": "https://evil.example" }))),
        ("no exp", {
            let mut c = claims(json!({}));
            c.as_object_mut().unwrap().remove("exp");
            c
        }),
    ] {
        let reply = gateway.me(&hs256(&claims));
        assert_eq!(reply.status, 401, "{name}");
        assert_eq!(reply.json()["error"], "invalid_token", "{name}");
    }

    let token = hs256(&claims(json!({})));
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(gateway.me(&tampered).status, 401);

    let empty = gateway.get("/me", &[("Authorization", "Bearer")]);
    assert_eq!(empty.status, 400);
    assert!(empty.header("www-authenticate").unwrap().contains("invalid_request"));
    assert_eq!(empty.json()["error"], "invalid_request");

    // Another scheme is not ours to judge: no credentials, no error code.
    let basic = gateway.get("/me", &[("Authorization", "Basic YTpi")]);
    assert_eq!(
        (basic.status, basic.header("www-authenticate")),
        (401, Some("Bearer realm=\"api\""))
    );

    // Tokens in the URL are ignored unless configured (RFC 6750 §2.3).
    assert_eq!(gateway.get(&format!("/me?access_token={token}"), &[]).status, 401);
}

#[test]
fn admin_needs_the_admin_scope() {
    let gateway = hs256_gateway();
    let reader = gateway.get(
        "/admin",
        &[("Authorization", &format!("Bearer {}", hs256(&claims(json!({ "scope": "read" })))))],
    );
    assert_eq!(reader.status, 403);
    let challenge = reader.header("www-authenticate").unwrap();
    assert!(challenge.contains("insufficient_scope") && challenge.contains("scope=\"admin\""));
    assert_eq!(reader.json()["error"], "insufficient_scope");

    let admin = gateway.get(
        "/admin",
        &[(
            "Authorization",
            &format!("Bearer {}", hs256(&claims(json!({ "scope": "read admin" })))),
        )],
    );
    assert_eq!(admin.status, 200, "{}", admin.body);
    assert_eq!(admin.json(), json!({ "admin": true, "sub": "alice", "scopes": ["read", "admin"] }));
}

/// RFC 9470 on every protected route: `JWT_REQUIRE_ACR` and `JWT_MAX_AUTH_AGE_SECS` in one
/// challenge, with the gateway's JSON body.
#[test]
fn step_up_from_the_environment_guards_every_protected_route() {
    let gateway = Gateway::start(&valid(&[
        ("JWT_REQUIRE_ACR", "phr, urn:mace:incommon:iap:silver"),
        ("JWT_MAX_AUTH_AGE_SECS", "300"),
    ]));
    let fresh = now() - 10;
    let strong = hs256(&claims(json!({ "acr": "phr", "auth_time": fresh, "scope": "admin" })));
    assert_eq!(gateway.me(&strong).status, 200);
    let bearer = format!("Bearer {strong}");
    assert_eq!(gateway.get("/admin", &[("Authorization", &bearer)]).status, 200);

    let expected = "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
        error_description=\"stronger or more recent authentication is required\", \
        acr_values=\"phr urn:mace:incommon:iap:silver\", max_age=\"300\"";
    for (name, extra) in [
        ("no acr, no auth_time", json!({ "scope": "admin" })),
        ("weak acr", json!({ "acr": "1", "auth_time": fresh, "scope": "admin" })),
        ("an hour ago", json!({ "acr": "phr", "auth_time": now() - 3600, "scope": "admin" })),
    ] {
        let bearer = format!("Bearer {}", hs256(&claims(extra)));
        for path in ["/me", "/admin"] {
            let reply = gateway.get(path, &[("Authorization", &bearer)]);
            assert_eq!(reply.status, 401, "{name} on {path}");
            assert_eq!(reply.header("www-authenticate"), Some(expected), "{name} on {path}");
            assert_eq!(
                reply.json(),
                json!({
                    "error": "insufficient_user_authentication",
                    "error_description": "stronger or more recent authentication is required",
                }),
                "{name} on {path}"
            );
        }
    }
    // Public routes take no token at all.
    assert_eq!(gateway.get("/health", &[]).status, 200);
}

#[test]
fn a_jwks_file_with_asymmetric_keys_and_roles_from_a_claim_path() {
    let issuer = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&issuer.jwks_json().to_string());
    let gateway = Gateway::start(&[
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_JWKS_FILE", jwks.path()),
        ("JWT_ROLES_CLAIM", "realm_access.roles"),
    ]);
    for alg in
        [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES512, Algorithm::EdDSA]
    {
        let token = issuer
            .token()
            .alg(alg)
            .audience(AUDIENCE)
            .subject("bob")
            .claim("realm_access", json!({ "roles": ["admin", "auditor"] }))
            .sign();
        let reply = gateway.me(&token);
        assert_eq!(reply.status, 200, "{alg:?}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["roles"], json!(["admin", "auditor"]), "{alg:?}");
        assert_eq!(body["claims"]["sub"], "bob", "{alg:?}");
    }
    // An HMAC token cannot use a public key as its secret (RFC 8725 §3.1).
    assert_eq!(gateway.me(&hs256(&claims(json!({})))).status, 401);
}

#[test]
fn a_pem_public_key() {
    let keys = ed25519_pem_key();
    let pem = TempFile::new(&keys.public_pem);
    let gateway = Gateway::start(&[
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_PUBLIC_KEY_FILE", pem.path()),
    ]);
    assert_eq!(gateway.me(&keys.sign(&claims(json!({})))).status, 200);
    assert_eq!(gateway.me(&hs256(&claims(json!({})))).status, 401);
}

/// An Ed25519 key pair with its public key as PEM.
struct PemKey {
    pair: aws_lc_rs::signature::Ed25519KeyPair,
    public_pem: String,
}

impl PemKey {
    fn sign(&self, claims: &Value) -> String {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let signature = self.pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

fn ed25519_pem_key() -> PemKey {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let pair = Ed25519KeyPair::generate().unwrap();
    // SubjectPublicKeyInfo for Ed25519 (RFC 8410 §4): a fixed prefix, then the 32-byte key.
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(pair.public_key().as_ref());
    let public_pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(spki)
    );
    PemKey { pair, public_pem }
}

#[test]
fn configuration_errors_exit_with_code_2_and_say_what_is_wrong() {
    for (env, expected) in [
        (vec![("JWT_AUDIENCE", AUDIENCE), ("JWT_HS256_SECRET", SECRET)], "JWT_ISSUER"),
        (vec![("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)], "exactly one key source"),
        (
            vec![("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE), ("JWT_HS256_SECRET", "short")],
            "JWT_HS256_SECRET",
        ),
        (
            vec![
                ("JWT_ISSUER", ISSUER),
                ("JWT_AUDIENCE", AUDIENCE),
                ("JWT_JWKS_FILE", "/nonexistent/jwks.json"),
            ],
            "JWT_JWKS_FILE",
        ),
        (
            vec![
                ("JWT_ISSUER", ISSUER),
                ("JWT_AUDIENCE", AUDIENCE),
                ("JWT_JWKS_URL", "http://login.example/jwks.json"),
            ],
            "JWT_JWKS_URL: `http://login.example/jwks.json` is not https (plain http only to a loopback host)",
        ),
        (
            vec![
                ("JWT_ISSUER", ISSUER),
                ("JWT_AUDIENCE", AUDIENCE),
                ("JWT_HS256_SECRET", SECRET),
                ("JWT_LEEWAY_SECS", "100000"),
            ],
            "JWT_LEEWAY_SECS",
        ),
        (redis(&[("JWT_REDIS_URL", "http://127.0.0.1:6379/")]), "JWT_REDIS_URL"),
        (redis(&[("JWT_REDIS_URL", "not a url")]), "JWT_REDIS_URL"),
        (redis(&[("JWT_REDIS_PREFIX", "my-api:")]), "only apply with JWT_REDIS_URL"),
        (redis(&[("JWT_REDIS_TIMEOUT_MS", "250")]), "only apply with JWT_REDIS_URL"),
        (
            redis(&[("JWT_REDIS_URL", "redis://127.0.0.1:6379/"), ("JWT_REDIS_TIMEOUT_MS", "0")]),
            "JWT_REDIS_TIMEOUT_MS",
        ),
        (
            redis(&[("JWT_REDIS_URL", "redis://127.0.0.1:6379/"), ("JWT_REDIS_TIMEOUT_MS", "x")]),
            "JWT_REDIS_TIMEOUT_MS",
        ),
        (
            redis(&[("JWT_REDIS_URL", "redis://127.0.0.1:7000/,redis://127.0.0.1:7001/")]),
            "JWT_REDIS_CLUSTER=1",
        ),
        (
            redis(&[("JWT_REDIS_URL", "redis://127.0.0.1:6379/"), ("JWT_REDIS_PREFIX", "{a}:")]),
            "JWT_REDIS_PREFIX",
        ),
        // The message names the variable, never the URL: it may carry a password.
        (redis(&[("JWT_REDIS_URL", "redis://:hunter2@127.0.0.1:port/")]), "JWT_REDIS_URL"),
        (valid(&[("JWT_RESOURCE_URL", "ftp://api.example.com")]), "JWT_RESOURCE_URL"),
        (valid(&[("JWT_RESOURCE_URL", "https://api.example.com/#top")]), "JWT_RESOURCE_URL"),
        (valid(&[("JWT_RESOURCE_URL", "https://api.example.com/:id")]), "JWT_RESOURCE_URL"),
        (
            vec![
                ("JWT_ISSUER", ISSUER),
                ("JWT_ALLOW_ANY_AUDIENCE", "1"),
                ("JWT_HS256_SECRET", SECRET),
                ("JWT_RESOURCE_URL", "https://api.example.com"),
            ],
            "JWT_ALLOW_ANY_AUDIENCE",
        ),
        (valid(&[("JWT_SCOPES_SUPPORTED", "admin")]), "only applies with JWT_RESOURCE_URL"),
        (
            valid(&[
                ("JWT_RESOURCE_URL", "https://api.example.com"),
                ("JWT_SCOPES_SUPPORTED", "read,,admin"),
            ]),
            "JWT_SCOPES_SUPPORTED",
        ),
        (
            valid(&[
                ("JWT_INTROSPECTION_URL", "https://login.example/introspect"),
                ("JWT_INTROSPECTION_CLIENT_SECRET", "hunter2"),
            ]),
            "JWT_INTROSPECTION_CLIENT_ID",
        ),
        (
            valid(&[
                ("JWT_INTROSPECTION_URL", "https://login.example/introspect"),
                ("JWT_INTROSPECTION_CLIENT_ID", "gateway"),
            ]),
            "JWT_INTROSPECTION_CLIENT_SECRET",
        ),
        (
            valid(&[("JWT_INTROSPECTION_CLIENT_ID", "gateway")]),
            "only apply with JWT_INTROSPECTION_URL",
        ),
        (
            valid(&introspection(&[("JWT_INTROSPECTION_AUTH", "private_key_jwt")])),
            "JWT_INTROSPECTION_AUTH",
        ),
        (
            valid(&introspection(&[("JWT_INTROSPECTION_URL", "http://login.example/introspect")])),
            "JWT_INTROSPECTION_URL",
        ),
        (valid(&[("JWT_REQUIRE_ACR", "phr,,silver")]), "JWT_REQUIRE_ACR"),
        (valid(&[("JWT_REQUIRE_ACR", "two words")]), "JWT_REQUIRE_ACR"),
        (valid(&[("JWT_MAX_AUTH_AGE_SECS", "5m")]), "JWT_MAX_AUTH_AGE_SECS"),
        (valid(&[("JWT_MAX_AUTH_AGE_SECS", "-1")]), "JWT_MAX_AUTH_AGE_SECS"),
        // Introspection may stand in for the key source, not beside two of them.
        (
            introspection(&[
                ("JWT_ISSUER", ISSUER),
                ("JWT_AUDIENCE", AUDIENCE),
                ("JWT_HS256_SECRET", SECRET),
                ("JWT_JWKS_FILE", "/nonexistent/jwks.json"),
            ]),
            "exactly one key source",
        ),
    ] {
        gateway_process::assert_misconfigured(&env, expected);
    }
}

/// A valid configuration plus the `JWT_REDIS_*` variables given (Redis is never contacted:
/// the gateway stops on the configuration error first).
fn redis<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    valid(vars)
}

/// A valid configuration plus the variables given.
fn valid<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env =
        vec![("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE), ("JWT_HS256_SECRET", SECRET)];
    env.extend_from_slice(vars);
    env
}

/// Complete `JWT_INTROSPECTION_*` variables (the endpoint is never contacted), overridden by
/// and followed by `vars`.
fn introspection<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("JWT_INTROSPECTION_URL", "https://login.example/introspect"),
        ("JWT_INTROSPECTION_CLIENT_ID", "gateway"),
        ("JWT_INTROSPECTION_CLIENT_SECRET", "hunter2"),
    ];
    env.retain(|(name, _)| !vars.iter().any(|(given, _)| given == name));
    env.extend_from_slice(vars);
    env
}

#[cfg(unix)]
#[test]
fn sigterm_stops_it_gracefully() {
    let mut gateway = hs256_gateway();
    assert_eq!(gateway.get("/health", &[]).status, 200);
    let pid = gateway.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the gateway did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}
