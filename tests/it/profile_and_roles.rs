//! The RFC 9068 access token profile (`.access_token_profile()`: header `typ` and the seven
//! required claims), and roles and permissions read from the claim shapes of the common
//! providers (Keycloak, Entra ID, Auth0) and required by `RequireRole` / `RequirePermission`
//! through the layer.

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use http::{Request, StatusCode, header};
use jwt_layer::store::MemoryRevocationStore;
use jwt_layer::testing::{TestIssuer, TokenBuilder};
use jwt_layer::{Algorithm, BuildError, ClaimPath, JwtAuth, JwtAuthBuilder, Permissions, Roles};
use serde_json::{Value, json};
use tower::ServiceExt;

const AUDIENCE: &str = "https://api.example.test";

fn issuer() -> TestIssuer {
    crate::common::issuer().clone()
}

fn builder(idp: &TestIssuer) -> JwtAuthBuilder<Value> {
    JwtAuth::<Value>::builder().keys(idp.keys()).issuer(idp.issuer()).audience(AUDIENCE)
}

/// A token with every claim RFC 9068 requires, typed `at+jwt`.
fn access_token(idp: &TestIssuer) -> TokenBuilder {
    idp.token()
        .alg(Algorithm::ES256)
        .header("typ", "at+jwt")
        .audience(AUDIENCE)
        .subject("alice")
        .claim("client_id", "web-app")
}

async fn ok() -> &'static str {
    "ok"
}

async fn grants(
    roles: Option<Extension<Roles>>,
    permissions: Option<Extension<Permissions>>,
) -> String {
    let list = |values: Vec<&str>| values.join(",");
    format!(
        "roles={} permissions={}",
        roles.as_ref().map_or("-".to_owned(), |Extension(r)| list(r.iter().collect())),
        permissions.as_ref().map_or("-".to_owned(), |Extension(p)| list(p.iter().collect())),
    )
}

/// Status, `WWW-Authenticate` values and body.
async fn call(app: &Router, path: &str, token: &str) -> (StatusCode, Vec<String>, String) {
    crate::common::answered(app, crate::common::request(path, Some(&format!("Bearer {token}"))))
        .await
}

fn invalid_token(description: &str) -> Vec<String> {
    vec![format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)]
}

fn insufficient(what: &str) -> (StatusCode, Vec<String>, String) {
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient {what}""#
    );
    (StatusCode::FORBIDDEN, vec![challenge], String::new())
}

fn allowed(body: &str) -> (StatusCode, Vec<String>, String) {
    (StatusCode::OK, vec![], body.to_owned())
}

// ---------------------------------------------------------------------------------------------
// RFC 9068 profile
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_profile_requires_the_at_jwt_type() {
    let idp = issuer();
    let app = Router::new()
        .route("/me", get(ok))
        .layer(builder(&idp).access_token_profile().build().unwrap().layer());
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
        let token = access_token(&idp).header("typ", typ).sign();
        assert_eq!(call(&app, "/me", &token).await, allowed("ok"), "typ {typ}");
    }
    for typ in ["JWT", "jwt", "application/jwt", "at+jwt+extra", "dpop+jwt"] {
        let token = access_token(&idp).header("typ", typ).sign();
        let (status, challenges, _) = call(&app, "/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "typ {typ}");
        assert_eq!(challenges, invalid_token("invalid token type"), "typ {typ}");
    }
}

#[tokio::test]
async fn the_profile_requires_each_of_the_seven_claims() {
    let idp = issuer();
    let profile = Router::new()
        .route("/me", get(ok))
        .layer(builder(&idp).access_token_profile().build().unwrap().layer());
    // Plain mode asks for none of them beyond exp (and iss/aud, being configured).
    let plain = Router::new().route("/me", get(ok)).layer(builder(&idp).build().unwrap().layer());
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        let token = access_token(&idp).without(claim).sign();
        let (status, challenges, _) = call(&profile, "/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "without {claim}");
        assert_eq!(challenges, invalid_token("missing required claim"), "without {claim}");
        let plain_status = call(&plain, "/me", &token).await.0;
        let needed_anyway = matches!(claim, "iss" | "exp" | "aud");
        assert_eq!(plain_status == StatusCode::OK, !needed_anyway, "plain mode, without {claim}");
    }
    // Plain mode accepts a JWT-typed token without client_id, the profile does not.
    let token = access_token(&idp).header("typ", "JWT").without("client_id").sign();
    assert_eq!(call(&plain, "/me", &token).await, allowed("ok"));
    assert_eq!(call(&profile, "/me", &token).await.0, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// Roles and permissions from provider claim shapes
// ---------------------------------------------------------------------------------------------

/// Routes that require grants, and one that shows them; `/items` only when `auth` reads
/// permissions.
fn routes(auth: &JwtAuth<Value>) -> Router {
    let router = Router::new()
        .route("/grants", get(grants))
        .route("/admin", get(ok).route_layer(auth.require_any_role(["admin"]).unwrap()))
        .route(
            "/reports",
            get(ok).route_layer(auth.require_any_role(["auditor", "admin"]).unwrap()),
        )
        .route(
            "/editing",
            get(ok).route_layer(auth.require_all_roles(["editor", "user"]).unwrap()),
        );
    match auth.require_all_permissions(["read:items", "write:items"]) {
        Ok(items) => router.route("/items", get(ok).route_layer(items)),
        Err(_) => router,
    }
}

#[tokio::test]
async fn keycloak_realm_and_client_roles() {
    let idp = issuer();
    let auth = builder(&idp)
        .access_token_profile()
        .roles_claim("realm_access.roles")
        .roles_claim("resource_access.my-client.roles")
        .build()
        .unwrap();
    let app = routes(&auth).layer(auth.layer());
    let keycloak = |realm: Value, clients: Value| {
        access_token(&idp)
            .claim("realm_access", json!({ "roles": realm }))
            .claim("resource_access", clients)
            .sign()
    };

    let token = keycloak(
        json!(["user", "offline_access"]),
        json!({"my-client": {"roles": ["editor", "user"]}, "other-client": {"roles": ["admin"]}}),
    );
    // Both paths merged, in order, without duplicates; another client's roles are not ours.
    assert_eq!(
        call(&app, "/grants", &token).await,
        allowed("roles=user,offline_access,editor permissions=-")
    );
    assert_eq!(call(&app, "/editing", &token).await, allowed("ok"), "all: one from each path");
    assert_eq!(call(&app, "/admin", &token).await, insufficient("role"));
    assert_eq!(call(&app, "/reports", &token).await, insufficient("role"));
    // Permissions were not configured: a programming error, reported when the app is built.
    assert_eq!(
        auth.require_all_permissions(["read:items"]).unwrap_err(),
        BuildError::PermissionsNotConfigured,
        "permissions not configured"
    );

    let admin = keycloak(json!(["admin"]), json!({}));
    assert_eq!(call(&app, "/admin", &admin).await, allowed("ok"));
    assert_eq!(call(&app, "/reports", &admin).await, allowed("ok"), "any: one of two suffices");
    assert_eq!(call(&app, "/editing", &admin).await, insufficient("role"));

    // Only the client's roles: `all` needs both.
    let editor = keycloak(json!([]), json!({"my-client": {"roles": ["editor"]}}));
    assert_eq!(call(&app, "/grants", &editor).await, allowed("roles=editor permissions=-"));
    assert_eq!(call(&app, "/editing", &editor).await, insufficient("role"));

    // No roles claim at all: an empty list, so 403, not 401.
    let none = access_token(&idp).sign();
    assert_eq!(call(&app, "/grants", &none).await, allowed("roles= permissions=-"));
    assert_eq!(call(&app, "/admin", &none).await, insufficient("role"));
    // Role names are exact: case matters, and a role is not a prefix match.
    let near = keycloak(json!(["Admin", "admin2", "admin user"]), json!({}));
    assert_eq!(call(&app, "/admin", &near).await, insufficient("role"));
}

#[tokio::test]
async fn entra_id_roles() {
    let idp = issuer();
    let auth = builder(&idp).roles_claim("roles").build().unwrap();
    let app = routes(&auth).layer(auth.layer());
    let token = access_token(&idp).claim("roles", json!(["Reports.Read", "auditor"])).sign();
    assert_eq!(
        call(&app, "/grants", &token).await,
        allowed("roles=Reports.Read,auditor permissions=-")
    );
    assert_eq!(call(&app, "/reports", &token).await, allowed("ok"));
    assert_eq!(call(&app, "/admin", &token).await, insufficient("role"));
    // A space-delimited string is read as a list, too.
    let token = access_token(&idp).claim("roles", "admin user").sign();
    assert_eq!(call(&app, "/admin", &token).await, allowed("ok"));
    assert_eq!(call(&app, "/editing", &token).await, insufficient("role"));
}

#[tokio::test]
async fn auth0_permissions_and_namespaced_roles() {
    let idp = issuer();
    let auth = builder(&idp)
        .permissions_claim("permissions")
        .roles_claim(ClaimPath::name("https://example.com/roles"))
        .build()
        .unwrap();
    let app = routes(&auth).layer(auth.layer());
    let auth0 = |permissions: Value, roles: Value| {
        access_token(&idp)
            .claim("permissions", permissions)
            .claim("https://example.com/roles", roles)
            .sign()
    };

    let token = auth0(json!(["read:items", "write:items"]), json!(["admin"]));
    assert_eq!(
        call(&app, "/grants", &token).await,
        allowed("roles=admin permissions=read:items,write:items")
    );
    assert_eq!(call(&app, "/items", &token).await, allowed("ok"));
    assert_eq!(call(&app, "/admin", &token).await, allowed("ok"));

    let reader = auth0(json!(["read:items"]), json!([]));
    assert_eq!(call(&app, "/items", &reader).await, insufficient("permission"));
    assert_eq!(call(&app, "/admin", &reader).await, insufficient("role"));
    // Permissions are not roles, nor roles permissions.
    let crossed = auth0(json!(["admin"]), json!(["read:items", "write:items"]));
    assert_eq!(call(&app, "/items", &crossed).await, insufficient("permission"));
    assert_eq!(call(&app, "/admin", &crossed).await, insufficient("role"));

    // The same name given as a dotted path is split at its dots and finds nothing: namespaced
    // claims need `ClaimPath::name` or their dots escaped (`\.`).
    let dotted = builder(&idp).roles_claim("https://example.com/roles").build().unwrap();
    let app = routes(&dotted).layer(dotted.layer());
    assert_eq!(call(&app, "/grants", &token).await, allowed("roles= permissions=-"));
    assert_eq!(call(&app, "/admin", &token).await, insufficient("role"));
}

#[tokio::test]
async fn a_refused_token_never_reaches_the_role_check() {
    let idp = issuer();
    let auth = builder(&idp).access_token_profile().roles_claim("roles").build().unwrap();
    let app = routes(&auth).layer(auth.layer());
    // An admin token of the wrong type is 401 invalid_token, not 403 or 200.
    let token = access_token(&idp).header("typ", "JWT").claim("roles", json!(["admin"])).sign();
    let (status, challenges, _) = call(&app, "/admin", &token).await;
    assert_eq!(
        (status, challenges),
        (StatusCode::UNAUTHORIZED, invalid_token("invalid token type"))
    );
    // Without credentials: a plain challenge.
    let request = Request::get("/admin").body(axum::body::Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], r#"Bearer realm="api""#);
}

// ---------------------------------------------------------------------------------------------
// The realm of route layers
// ---------------------------------------------------------------------------------------------

/// `RequireScope`, `RequireRole` and `RequirePermission` answer with the realm of the `JwtAuth`
/// in front of them, on the path that verifies without waiting and on the one that waits (a
/// revocation store), and for an anonymous request in optional mode; a realm given to the route
/// layer itself wins.
#[tokio::test]
async fn route_layers_answer_with_the_realm_of_their_jwt_auth() {
    let idp = issuer();
    let app = |auth: JwtAuth<Value>| {
        Router::new()
            .route("/admin", get(ok).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
            .route("/role", get(ok).route_layer(auth.require_any_role(["admin"]).unwrap()))
            .route(
                "/items",
                get(ok).route_layer(auth.require_any_permission(["write:items"]).unwrap()),
            )
            .route(
                "/own",
                get(ok)
                    .route_layer(auth.require_all_scopes(["admin"]).unwrap().realm("back-office")),
            )
            .layer(auth.layer())
    };
    let shop = || builder(&idp).realm("shop").roles_claim("roles").permissions_claim("perms");
    let revocation = Arc::new(MemoryRevocationStore::new(16));
    let apps =
        [app(shop().build().unwrap()), app(shop().revocation_store(revocation).build().unwrap())];
    let token = access_token(&idp).scope("read").sign();
    let refused = |realm: &str, what: &str, scope: &str| {
        let challenge = format!(
            r#"Bearer realm="{realm}", error="insufficient_scope", error_description="insufficient {what}"{scope}"#
        );
        (StatusCode::FORBIDDEN, vec![challenge], String::new())
    };
    for app in &apps {
        assert_eq!(
            call(app, "/admin", &token).await,
            refused("shop", "scope", r#", scope="admin""#)
        );
        assert_eq!(call(app, "/role", &token).await, refused("shop", "role", ""));
        assert_eq!(call(app, "/items", &token).await, refused("shop", "permission", ""));
        assert_eq!(
            call(app, "/own", &token).await,
            refused("back-office", "scope", r#", scope="admin""#)
        );
    }

    // Optional mode: an anonymous request reaching a route layer needs credentials for "shop",
    // and the scope requirement says which scopes to ask for (RFC 6750 §3).
    let anonymous = app(shop().optional().build().unwrap());
    for (path, realm) in [("/admin", "shop"), ("/own", "back-office")] {
        let request = Request::get(path).body(axum::body::Body::empty()).unwrap();
        let response = anonymous.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            format!(r#"Bearer realm="{realm}", scope="admin""#)
        );
    }

    // Without a `JwtAuth` in front, the default realm.
    // (The requirement is made by a `JwtAuth` whose layer is not applied.)
    let unused = builder(&idp).build().unwrap();
    let bare: Router = Router::new()
        .route("/admin", get(ok).route_layer(unused.require_all_scopes(["admin"]).unwrap()));
    let request = Request::get("/admin").body(axum::body::Body::empty()).unwrap();
    let response = bare.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let expected = r#"Bearer realm="api", scope="admin""#;
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], expected);
}

// ---------------------------------------------------------------------------------------------
// Route requirements built from the JwtAuth: mistakes reported before serving
// ---------------------------------------------------------------------------------------------

/// Requiring a grant the `JwtAuth` never reads, or values no token could hold, is refused when
/// the route layer is built, before any request is served.
#[test]
fn misconfigured_route_requirements_are_reported_when_the_app_is_built() {
    let idp = issuer();
    let plain = builder(&idp).build().unwrap();
    assert_eq!(plain.require_any_role(["admin"]).unwrap_err(), BuildError::RolesNotConfigured);
    assert_eq!(plain.require_all_roles(["admin"]).unwrap_err(), BuildError::RolesNotConfigured);
    assert_eq!(
        plain.require_any_permission(["write:items"]).unwrap_err(),
        BuildError::PermissionsNotConfigured
    );
    assert_eq!(
        plain.require_all_permissions(["write:items"]).unwrap_err(),
        BuildError::PermissionsNotConfigured
    );
    // The message names the fix.
    assert!(BuildError::RolesNotConfigured.to_string().contains(".roles_claim(..)"));
    assert!(BuildError::PermissionsNotConfigured.to_string().contains(".permissions_claim(..)"));
    // Scopes are always read: only the values are checked.
    assert!(plain.require_all_scopes(["admin"]).is_ok());

    let configured = builder(&idp).roles_claim("roles").permissions_claim("permissions");
    let auth = configured.build().unwrap();
    assert!(auth.require_any_role(["admin"]).is_ok());
    assert!(auth.require_all_permissions(["read:items", "write:items"]).is_ok());
    // `any` of nothing refuses everyone, `all` of nothing lets everyone through; a value with
    // a space is never granted.
    let nothing: [&str; 0] = [];
    for result in [
        auth.require_any_role(nothing).err(),
        auth.require_all_roles(nothing).err(),
        auth.require_any_scope(nothing).err(),
        auth.require_all_permissions(nothing).err(),
        auth.require_all_roles(["admin", ""]).err(),
        auth.require_any_role(["super admin"]).err(),
        auth.require_all_scopes(["read write"]).err(),
    ] {
        assert_eq!(result, Some(BuildError::InvalidRequirement));
    }
}

// ---------------------------------------------------------------------------------------------
// Roles and permissions from the typed claims
// ---------------------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct RealmAccess {
    roles: Vec<String>,
}

/// A Keycloak-shaped claims type.
#[derive(serde::Deserialize)]
struct KeycloakClaims {
    #[serde(default)]
    realm_access: Option<RealmAccess>,
    #[serde(default)]
    scope: String,
}

fn realm_roles(claims: &KeycloakClaims) -> impl Iterator<Item = &String> + '_ {
    claims.realm_access.iter().flat_map(|access| access.roles.iter())
}

/// `.roles(..)` and `.permissions(..)` read grants with a function of the typed claims, a
/// closure or a `fn` borrowing from the claims, merged after the claim paths; the route
/// layers and the extensions see them as they see claim paths.
#[tokio::test]
async fn roles_and_permissions_from_a_function_of_the_typed_claims() {
    let idp = issuer();
    let typed = || {
        JwtAuth::<KeycloakClaims>::builder()
            .keys(idp.keys())
            .issuer(idp.issuer())
            .audience(AUDIENCE)
    };
    let app = |auth: JwtAuth<KeycloakClaims>| {
        Router::new()
            .route("/grants", get(grants))
            .route("/admin", get(ok).route_layer(auth.require_any_role(["admin"]).unwrap()))
            .route(
                "/editing",
                get(ok).route_layer(auth.require_all_roles(["editor", "user"]).unwrap()),
            )
            .route(
                "/items",
                get(ok).route_layer(auth.require_any_permission(["write:items"]).unwrap()),
            )
            .layer(auth.layer())
    };
    // Permissions from the space-delimited scope, split by a closure.
    let by_closure = typed()
        .roles(|c: &KeycloakClaims| {
            c.realm_access.as_ref().map(|a| a.roles.clone()).unwrap_or_default()
        })
        .permissions(|c: &KeycloakClaims| {
            c.scope.split(' ').map(|s| format!("{s}:items")).collect::<Vec<_>>()
        })
        .build()
        .unwrap();
    let by_fn = typed().roles(realm_roles).permissions(|c: &KeycloakClaims| {
        c.scope.split(' ').map(|s| format!("{s}:items")).collect::<Vec<_>>()
    });
    for auth in [by_closure, by_fn.build().unwrap()] {
        let app = app(auth);
        let token = |roles: Value, scope: &str| {
            access_token(&idp).claim("realm_access", json!({ "roles": roles })).scope(scope).sign()
        };
        let admin = token(json!(["admin", "user"]), "write");
        assert_eq!(
            call(&app, "/grants", &admin).await,
            allowed("roles=admin,user permissions=write:items")
        );
        assert_eq!(call(&app, "/admin", &admin).await, allowed("ok"));
        assert_eq!(call(&app, "/items", &admin).await, allowed("ok"));
        assert_eq!(call(&app, "/editing", &admin).await, insufficient("role"));
        let reader = token(json!(["editor", "user", "editor"]), "read");
        assert_eq!(
            call(&app, "/grants", &reader).await,
            allowed("roles=editor,user permissions=read:items")
        );
        assert_eq!(call(&app, "/editing", &reader).await, allowed("ok"));
        assert_eq!(call(&app, "/admin", &reader).await, insufficient("role"));
        assert_eq!(call(&app, "/items", &reader).await, insufficient("permission"));
        // No realm_access at all: no roles, so 403, not 401.
        let none = access_token(&idp).sign();
        assert_eq!(call(&app, "/admin", &none).await, insufficient("role"));
    }

    // A claim path and a function together: the path's values first, without duplicates.
    let both = typed().roles_claim("groups").roles(realm_roles).build().unwrap();
    let app = Router::new().route("/grants", get(grants)).layer(both.layer());
    let token = access_token(&idp)
        .claim("groups", json!(["user", "staff"]))
        .claim("realm_access", json!({ "roles": ["admin", "user"] }))
        .sign();
    assert_eq!(
        call(&app, "/grants", &token).await,
        allowed("roles=user,staff,admin permissions=-")
    );
}
