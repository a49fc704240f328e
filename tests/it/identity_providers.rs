//! The claims types and configurations of `examples/identity_providers.rs` (Keycloak, Auth0,
//! Microsoft Entra ID) against tokens of each provider's shape, minted by the test kit, through
//! the layer and the `RequireRole` / `RequirePermission` / `RequireScope` route layers: roles,
//! permissions and scopes are read where each provider puts them, and requests without them
//! are refused 403 with the `insufficient_scope` challenge.

#[path = "../../examples/identity_providers.rs"]
#[allow(dead_code)]
mod example;

use axum::Router;
use axum::body::Body;
use example::{auth0, entra, keycloak};
use http::{Request, StatusCode, header};
use jwt_layer::testing::{TestIssuer, TokenBuilder};
use jwt_layer::{ClaimPath, JwtAuth};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Status, `WWW-Authenticate` (empty when absent) and body of `GET path` with `token`.
async fn call(app: &Router, path: &str, token: &str) -> (StatusCode, String, String) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenges: Vec<_> = response.headers().get_all(header::WWW_AUTHENTICATE).iter().collect();
    assert!(challenges.len() <= 1, "one challenge at most: {challenges:?}");
    let challenge = challenges.first().map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

fn ok(body: &str) -> (StatusCode, String, String) {
    (StatusCode::OK, String::new(), body.to_owned())
}

/// 403 `insufficient_scope` for a role or a permission.
fn lacks(what: &str) -> (StatusCode, String, String) {
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient {what}""#
    );
    (StatusCode::FORBIDDEN, challenge, String::new())
}

/// 403 `insufficient_scope` for a scope, naming the scope needed (RFC 6750 §3).
fn lacks_scope(scope: &str) -> (StatusCode, String, String) {
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="{scope}""#
    );
    (StatusCode::FORBIDDEN, challenge, String::new())
}

fn invalid_token(description: &str) -> (StatusCode, String) {
    let challenge =
        format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#);
    (StatusCode::UNAUTHORIZED, challenge)
}

// ---------------------------------------------------------------------------------------------
// Keycloak

const KEYCLOAK: &str = "https://keycloak.example/realms/demo";

fn keycloak_token(idp: &TestIssuer, realm: Value, clients: Value) -> TokenBuilder {
    idp.token()
        .audience(keycloak::CLIENT)
        .subject("3f1c2a9e-8d4b-4c8e-9a51-0d2b7c6e4f10")
        .claim("azp", "web-app")
        .claim("preferred_username", "alice")
        .scope("openid profile email")
        .claim("realm_access", json!({ "roles": realm }))
        .claim("resource_access", clients)
}

#[tokio::test]
async fn keycloak_realm_and_client_roles_and_scopes() {
    let idp = TestIssuer::new(KEYCLOAK);
    let app = keycloak::app(&keycloak::auth(idp.public_keys(), idp.issuer()).unwrap()).unwrap();

    let alice = keycloak_token(
        &idp,
        json!(["auditor", "offline_access"]),
        json!({"my-api": {"roles": ["editor", "auditor"]}, "other-api": {"roles": ["admin"]}}),
    )
    .sign();
    // The typed claims, and the roles of both paths merged in order without duplicates;
    // another client's roles are not this API's.
    assert_eq!(
        call(&app, "/me", &alice).await,
        ok(
            r#"alice (3f1c2a9e-8d4b-4c8e-9a51-0d2b7c6e4f10) via web-app: realm roles ["auditor", "offline_access"], my-api roles ["editor", "auditor"], roles ["auditor", "offline_access", "editor"]"#
        )
    );
    assert_eq!(call(&app, "/reports", &alice).await, ok("ok"), "realm role");
    assert_eq!(call(&app, "/edit", &alice).await, ok("ok"), "client role");
    assert_eq!(call(&app, "/profile", &alice).await, ok("ok"), "scope");

    // Another client's roles are not read. The two paths make one list: a realm role named
    // `editor` passes `/edit` as the client role would (to tell them apart, configure one path,
    // or look at the typed claims).
    let bob = keycloak_token(
        &idp,
        json!(["editor", "offline_access"]),
        json!({"other-api": {"roles": ["editor", "auditor"]}}),
    )
    .scope("openid email")
    .sign();
    assert_eq!(call(&app, "/reports", &bob).await, lacks("role"));
    assert_eq!(call(&app, "/edit", &bob).await, ok("ok"), "the realm role `editor`");
    assert_eq!(call(&app, "/profile", &bob).await, lacks_scope("profile"));

    // No `realm_access` and no `resource_access` at all: no roles, 403 rather than 401.
    let bare = idp.token().audience(keycloak::CLIENT).subject("u").claim("azp", "web-app").sign();
    assert_eq!(call(&app, "/reports", &bare).await, lacks("role"));
    assert_eq!(call(&app, "/edit", &bare).await, lacks("role"));
    assert_eq!(call(&app, "/profile", &bare).await, lacks_scope("profile"));

    // Keycloak's default audience, `account`, is not this API.
    let account = keycloak_token(&idp, json!(["auditor"]), json!({})).audience("account").sign();
    let (status, challenge, _) = call(&app, "/reports", &account).await;
    assert_eq!((status, challenge), invalid_token("invalid audience"));
}

// ---------------------------------------------------------------------------------------------
// Auth0

const AUTH0: &str = "https://example.eu.auth0.com/";

fn auth0_token(idp: &TestIssuer, permissions: Value, roles: Value) -> TokenBuilder {
    idp.token()
        .claim("aud", json!([auth0::API, format!("{AUTH0}userinfo")]))
        .subject("auth0|64b7f0c2e1a9d3f5a7b8c9d0")
        .claim("azp", "spa-client")
        .scope("openid profile read:contacts")
        .claim("permissions", permissions)
        .claim("https://example.com/roles", roles)
}

#[tokio::test]
async fn auth0_permissions_namespaced_roles_and_scopes() {
    let idp = TestIssuer::new(AUTH0);
    let app = auth0::app(&auth0::auth(idp.public_keys(), idp.issuer()).unwrap()).unwrap();

    let carol = auth0_token(&idp, json!(["read:items", "write:items"]), json!(["admin"])).sign();
    assert_eq!(
        call(&app, "/me", &carol).await,
        ok(
            r#"auth0|64b7f0c2e1a9d3f5a7b8c9d0 via spa-client: permissions ["read:items", "write:items"], roles ["admin"], as read ["read:items", "write:items"] ["admin"]"#
        )
    );
    for path in ["/items", "/items/new", "/admin", "/contacts"] {
        assert_eq!(call(&app, path, &carol).await, ok("ok"), "{path}");
    }

    // A machine-to-machine token: one permission, no roles claim, no `aud` array.
    let robot = idp
        .token()
        .audience(auth0::API)
        .subject("m2m-client@clients")
        .claim("azp", "m2m-client")
        .scope("read:items")
        .claim("permissions", json!(["read:items"]))
        .sign();
    assert_eq!(call(&app, "/items", &robot).await, ok("ok"));
    assert_eq!(call(&app, "/items/new", &robot).await, lacks("permission"));
    assert_eq!(call(&app, "/admin", &robot).await, lacks("role"));
    assert_eq!(call(&app, "/contacts", &robot).await, lacks_scope("read:contacts"));

    // Permissions are not roles, roles not permissions, and scopes neither.
    let crossed = auth0_token(&idp, json!(["admin"]), json!(["read:items", "write:items"]))
        .scope("read:items write:items admin")
        .sign();
    assert_eq!(call(&app, "/items", &crossed).await, lacks("permission"));
    assert_eq!(call(&app, "/admin", &crossed).await, lacks("role"));

    // A role under a claim of the same name without the namespace is not read.
    let plain = auth0_token(&idp, json!([]), json!([])).claim("roles", json!(["admin"])).sign();
    assert_eq!(call(&app, "/admin", &plain).await, lacks("role"));
}

/// The namespaced claim `https://example.com/roles`: with its dots escaped in the path
/// string, or given whole, it is read; unescaped, its dots split it into `https://example`
/// and `com/roles`, which finds nothing.
#[tokio::test]
async fn a_claim_name_with_dots_in_a_claim_path() {
    let idp = TestIssuer::new(AUTH0);
    let token = auth0_token(&idp, json!([]), json!(["admin"])).sign();
    let nested = idp
        .token()
        .audience(auth0::API)
        .claim("https://example", json!({ "com/roles": ["admin"] }))
        .sign();
    let app = |path: ClaimPath| {
        let auth = JwtAuth::<Value>::builder()
            .keys(idp.public_keys())
            .issuer(AUTH0)
            .audience(auth0::API)
            .roles_claim(path)
            .build()
            .unwrap();
        Router::new()
            .route(
                "/admin",
                axum::routing::get(|| async { "ok" })
                    .route_layer(auth.require_any_role(["admin"]).unwrap()),
            )
            .layer(auth.layer())
    };
    for path in [
        ClaimPath::from(r"https://example\.com/roles"),
        ClaimPath::name("https://example.com/roles"),
        ClaimPath::segments(["https://example.com/roles"]),
    ] {
        let app = app(path.clone());
        assert_eq!(call(&app, "/admin", &token).await, ok("ok"), "{path:?}");
        assert_eq!(call(&app, "/admin", &nested).await, lacks("role"), "{path:?}");
    }
    let unescaped = app(ClaimPath::from("https://example.com/roles"));
    assert_eq!(call(&unescaped, "/admin", &token).await, lacks("role"));
    assert_eq!(call(&unescaped, "/admin", &nested).await, ok("ok"), "the nested reading");
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra ID

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT: &str = "0b5f5c4e-1111-2222-3333-444455556666";

fn entra_token(idp: &TestIssuer) -> TokenBuilder {
    idp.token()
        .audience(entra::API)
        .claim("tid", TENANT)
        .claim("ver", "2.0")
        .subject("pairwise-subject-for-this-app")
}

#[tokio::test]
async fn entra_delegated_scopes_and_app_roles() {
    let idp = TestIssuer::new(entra::issuer(TENANT));
    assert_eq!(idp.issuer(), format!("https://login.microsoftonline.com/{TENANT}/v2.0"));
    let app = entra::app(&entra::auth(idp.public_keys(), TENANT).unwrap()).unwrap();

    // Delegated: `scp` is one space-delimited string; no app role.
    let dave = entra_token(&idp)
        .claim("oid", "00000000-0000-0000-0000-00000000da7e")
        .claim("azp", "spa-client-id")
        .claim("scp", "Tasks.Read User.Read")
        .sign();
    assert_eq!(
        call(&app, "/me", &dave).await,
        ok(&format!(
            r#"00000000-0000-0000-0000-00000000da7e in {TENANT} via spa-client-id (v2.0): roles [], scopes ["Tasks.Read", "User.Read"]"#
        ))
    );
    assert_eq!(call(&app, "/tasks", &dave).await, ok("ok"));
    assert_eq!(call(&app, "/admin", &dave).await, lacks("role"));

    // App-only: application permissions arrive as `roles`, and there is no `scp`.
    let daemon = entra_token(&idp)
        .claim("oid", "00000000-0000-0000-0000-0000000da3a0")
        .claim("azp", "daemon-client-id")
        .claim("roles", json!(["Tasks.Admin"]))
        .sign();
    assert_eq!(call(&app, "/admin", &daemon).await, ok("ok"));
    assert_eq!(call(&app, "/tasks", &daemon).await, lacks_scope("Tasks.Read"));
    // An app role of the same name as the scope is not the scope.
    let confused = entra_token(&idp)
        .claim("oid", "x")
        .claim("roles", json!(["Tasks.Read"]))
        .claim("scp", "Tasks.Admin")
        .sign();
    assert_eq!(call(&app, "/tasks", &confused).await, lacks_scope("Tasks.Read"));
    assert_eq!(call(&app, "/admin", &confused).await, lacks("role"));

    // Entra signs every tenant's tokens with the same keys: another tenant's token verifies
    // by signature and is refused by the issuer check alone. So is a v1.0 token.
    for issuer in [entra::issuer(OTHER_TENANT), format!("https://sts.windows.net/{TENANT}/")] {
        let token = entra_token(&idp)
            .claim("iss", issuer.as_str())
            .claim("oid", "x")
            .claim("roles", json!(["Tasks.Admin"]))
            .sign();
        let (status, challenge, _) = call(&app, "/admin", &token).await;
        assert_eq!((status, challenge), invalid_token("invalid issuer"), "{issuer}");
    }
}

#[test]
fn entra_client_id_is_azp_or_v1_appid() {
    let claims = |extra: Value| -> entra::EntraClaims {
        let mut claims = json!({"tid": TENANT, "oid": "o", "ver": "2.0"});
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(claims).unwrap()
    };
    assert_eq!(claims(json!({"azp": "v2-client"})).client_id(), Some("v2-client"));
    assert_eq!(claims(json!({"appid": "v1-client", "ver": "1.0"})).client_id(), Some("v1-client"));
    assert_eq!(claims(json!({})).client_id(), None);
    assert!(claims(json!({})).roles.is_empty());
}
