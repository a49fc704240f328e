//! The gateway's many tenants: `JWT_ISSUER_TEMPLATE` with the tenants allowed, each tenant's
//! keys by its own discovery document, the live tenants bounded by `JWT_MAX_TENANTS`, an issuer
//! not allowed refused without a fetch, and a bad tenant configuration stopping the gateway
//! with exit code 2.
#![cfg(feature = "remote")]

use crate::gateway_process::{Gateway, assert_misconfigured};

use jwt_layer::testing::TestIssuer;

const AUDIENCE: &str = "gateway-tests";

/// The tenant id of a loopback issuer `http://127.0.0.1:PORT`: its port.
fn tenant(idp: &TestIssuer) -> &str {
    idp.issuer().rsplit(':').next().unwrap()
}

fn bearer(idp: &TestIssuer) -> String {
    format!("Bearer {}", idp.token().audience(AUDIENCE).subject("u").sign())
}

#[test]
fn tenants_from_an_issuer_template() {
    // The issuers serve on this runtime's threads while the test talks to the gateway.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let [a, b, stranger] = runtime.block_on(async {
        let mut started = Vec::new();
        for _ in 0..3 {
            let idp = TestIssuer::start().await.unwrap();
            idp.jwks_json();
            started.push(idp);
        }
        <[TestIssuer; 3]>::try_from(started).unwrap()
    });
    let tenants = format!("{},{}", tenant(&a), tenant(&b));
    let gateway = Gateway::start(&[
        ("JWT_ISSUER_TEMPLATE", "http://127.0.0.1:{tenant}"),
        ("JWT_TENANTS", &tenants),
        ("JWT_MAX_TENANTS", "1"),
        ("JWT_AUDIENCE", AUDIENCE),
    ]);
    let status = |idp: &TestIssuer| gateway.get("/me", &[("Authorization", &bearer(idp))]).status;
    assert_eq!(status(&a), 200);
    assert_eq!(status(&b), 200);
    // One live tenant at a time: A made room for B, and comes back with one more fetch.
    assert_eq!(status(&a), 200);
    assert_eq!((a.jwks_fetches(), b.jwks_fetches()), (2, 1));
    // A running issuer that is not an allowed tenant: refused, never fetched.
    assert_eq!(status(&stranger), 401);
    assert_eq!(stranger.jwks_fetches(), 0);
}

#[test]
fn a_bad_tenant_configuration_exits_2_and_says_what_is_wrong() {
    let template = ("JWT_ISSUER_TEMPLATE", "https://login.example/{tenant}/v2.0");
    for (env, expected) in [
        (vec![template], "JWT_TENANTS"),
        (
            vec![("JWT_ISSUER_TEMPLATE", "https://login.example/v2.0"), ("JWT_TENANTS", "t1")],
            "{tenant}",
        ),
        (vec![template, ("JWT_TENANTS", "t1,bad/id")], "not a tenant id"),
        (vec![template, ("JWT_TENANTS", "t1"), ("JWT_MAX_TENANTS", "0")], "JWT_MAX_TENANTS"),
        (vec![template, ("JWT_TENANTS", "t1"), ("JWT_TENANTS_FILE", "/nonexistent")], "not both"),
        (vec![template, ("JWT_TENANTS_FILE", "/nonexistent/tenants")], "JWT_TENANTS_FILE"),
        (
            vec![
                template,
                ("JWT_TENANTS", "t1"),
                ("JWT_HS256_SECRET", "hunter2-hunter2-hunter2-hunter2-x"),
            ],
            "no key source",
        ),
        (
            vec![template, ("JWT_TENANTS", "t1"), ("JWT_ISSUER", "https://login.example")],
            "JWT_ISSUER",
        ),
        (
            vec![("JWT_TENANTS", "t1"), ("JWT_ISSUER", "https://login.example")],
            "only apply with JWT_ISSUER_TEMPLATE",
        ),
        (
            vec![
                ("JWT_ISSUER_TEMPLATE", "http://login.example/{tenant}"),
                ("JWT_TENANTS", "t1"),
                ("JWT_AUDIENCE", AUDIENCE),
            ],
            "JWT_ISSUER_TEMPLATE",
        ),
    ] {
        let mut env = env;
        env.push(("JWT_AUDIENCE", AUDIENCE));
        assert_misconfigured(&env, expected);
    }
}
