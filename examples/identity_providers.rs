//! Access tokens of three identity providers, as typed claims, and where each keeps roles,
//! permissions and scopes: Keycloak, Auth0 and Microsoft Entra ID.
//!
//! | provider | roles | permissions | scopes | the calling client |
//! |---|---|---|---|---|
//! | Keycloak | `realm_access.roles`, `resource_access.<client>.roles` | — | `scope` | `azp` |
//! | Auth0 | a namespaced custom claim (`https://example.com/roles`, set by an Action) | `permissions` (RBAC) | `scope` | `azp` |
//! | Entra ID | `roles` (app roles) | — | `scp` (delegated) | `azp` (v2.0), `appid` (v1.0) |
//!
//! Each provider is a module with its claims type, its `JwtAuth` and a router whose routes
//! require roles, permissions or scopes. `main` mints tokens of each shape with the test kit
//! (no network, no account anywhere) and prints what each route answers. In production the
//! keys come from the provider's discovery document instead (see each module).
//!
//! ```text
//! cargo run --example identity_providers
//! ```

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jwt_layer::testing::TestIssuer;
use serde_json::json;
use tower::ServiceExt;

/// Keycloak: realm roles in `realm_access.roles`, roles of each client in
/// `resource_access.<client-id>.roles`, the client the token was issued to in `azp`.
///
/// Issuer `https://{host}/realms/{realm}`; keys through
/// `Jwks::discover("https://keycloak.example/realms/demo")` (Keycloak's JWKS pins `alg`; its
/// encryption key, `use: enc`, is skipped). An access token's `aud` is `account` unless the
/// client has an audience mapper adding the API: add one rather than accepting any audience.
pub mod keycloak {
    use std::collections::HashMap;

    use axum::routing::get;
    use axum::{Extension, Router};
    use jwt_layer::keys::KeyProvider;
    use jwt_layer::{BuildError, Claims, JwtAuth, Roles};
    use serde::Deserialize;

    /// The API's client id: its roles are `resource_access.my-api.roles`.
    pub const CLIENT: &str = "my-api";

    /// The members of a Keycloak access token this API reads.
    #[derive(Debug, Deserialize)]
    pub struct KeycloakClaims {
        /// The user's id (a UUID).
        pub sub: String,
        /// The client the token was issued to (the authorized party).
        pub azp: String,
        /// Space-delimited scopes; `RequireScope` reads them itself.
        #[serde(default)]
        pub scope: String,
        /// The login name, with the `profile` scope.
        pub preferred_username: Option<String>,
        /// Realm roles.
        #[serde(default)]
        pub realm_access: Access,
        /// Client roles, by client id.
        #[serde(default)]
        pub resource_access: HashMap<String, Access>,
    }

    /// A `roles` list, as Keycloak nests them.
    #[derive(Debug, Default, Deserialize)]
    pub struct Access {
        /// The role names.
        #[serde(default)]
        pub roles: Vec<String>,
    }

    /// A verifier for `issuer`'s tokens meant for this API; roles are the realm's and this
    /// client's (another client's roles are not ours).
    pub fn auth(
        keys: impl KeyProvider,
        issuer: &str,
    ) -> Result<JwtAuth<KeycloakClaims>, BuildError> {
        JwtAuth::builder()
            .keys(keys)
            .issuer(issuer)
            .audience(CLIENT)
            .roles_claim("realm_access.roles")
            .roles_claim("resource_access.my-api.roles")
            .build()
    }

    /// `/me` for everyone verified; `/reports` needs the realm role `auditor`, `/edit` the
    /// client role `editor`, `/profile` the scope `profile`.
    pub fn app(auth: &JwtAuth<KeycloakClaims>) -> Result<Router, BuildError> {
        Ok(Router::new()
            .route("/me", get(me))
            .route("/reports", get(ok).route_layer(auth.require_any_role(["auditor"])?))
            .route("/edit", get(ok).route_layer(auth.require_all_roles(["editor"])?))
            .route("/profile", get(ok).route_layer(auth.require_all_scopes(["profile"])?))
            .layer(auth.layer()))
    }

    async fn me(
        Claims(claims): Claims<KeycloakClaims>,
        Extension(roles): Extension<Roles>,
    ) -> String {
        let client_roles =
            claims.resource_access.get(CLIENT).map_or(&[][..], |access| &access.roles[..]);
        format!(
            "{} ({}) via {}: realm roles {:?}, {CLIENT} roles {:?}, roles {:?}",
            claims.preferred_username.as_deref().unwrap_or("-"),
            claims.sub,
            claims.azp,
            claims.realm_access.roles,
            client_roles,
            roles.iter().collect::<Vec<_>>(),
        )
    }

    async fn ok() -> &'static str {
        "ok"
    }
}

/// Auth0: RBAC permissions in `permissions` (with "Add Permissions in the Access Token"),
/// roles only where an Action puts them, under a namespaced claim such as
/// `https://example.com/roles`.
///
/// Issuer `https://{tenant}.{region}.auth0.com/`, trailing slash included; keys through
/// `Jwks::discover("https://example.eu.auth0.com/")`. `aud` is the API identifier, and an
/// array with the `/userinfo` URL too when the `openid` scope was asked for: one match is
/// enough. A machine-to-machine token's `sub` is `{client-id}@clients`.
///
/// The claim name `https://example.com/roles` holds dots: as a path string they are escaped,
/// `r"https://example\.com/roles"`, or the name is given whole with `ClaimPath::name`.
pub mod auth0 {
    use axum::routing::get;
    use axum::{Extension, Router};
    use jwt_layer::keys::KeyProvider;
    use jwt_layer::{BuildError, Claims, JwtAuth, Permissions, Roles};
    use serde::Deserialize;

    /// The API identifier (the `audience` a client asks a token for).
    pub const API: &str = "https://api.example.com";

    /// The members of an Auth0 access token this API reads.
    #[derive(Debug, Deserialize)]
    pub struct Auth0Claims {
        /// `auth0|…`, `google-oauth2|…`, or `{client-id}@clients` for machine-to-machine.
        pub sub: String,
        /// The client the token was issued to.
        pub azp: Option<String>,
        /// Space-delimited scopes; `RequireScope` reads them itself.
        #[serde(default)]
        pub scope: String,
        /// RBAC permissions of the API.
        #[serde(default)]
        pub permissions: Vec<String>,
        /// Roles, added by an Action under a namespace of one's own.
        #[serde(rename = "https://example.com/roles", default)]
        pub roles: Vec<String>,
    }

    /// A verifier for `issuer`'s tokens for [`API`], with permissions and namespaced roles.
    pub fn auth(keys: impl KeyProvider, issuer: &str) -> Result<JwtAuth<Auth0Claims>, BuildError> {
        JwtAuth::builder()
            .keys(keys)
            .issuer(issuer)
            .audience(API)
            .permissions_claim("permissions")
            .roles_claim(r"https://example\.com/roles")
            .build()
    }

    /// `/me` for everyone verified; `/items` needs the permission `read:items`, `/items/new`
    /// `write:items`, `/admin` the role `admin`, `/contacts` the scope `read:contacts`.
    pub fn app(auth: &JwtAuth<Auth0Claims>) -> Result<Router, BuildError> {
        Ok(Router::new()
            .route("/me", get(me))
            .route("/items", get(ok).route_layer(auth.require_all_permissions(["read:items"])?))
            .route(
                "/items/new",
                get(ok).route_layer(auth.require_all_permissions(["write:items"])?),
            )
            .route("/admin", get(ok).route_layer(auth.require_any_role(["admin"])?))
            .route("/contacts", get(ok).route_layer(auth.require_all_scopes(["read:contacts"])?))
            .layer(auth.layer()))
    }

    async fn me(
        Claims(claims): Claims<Auth0Claims>,
        Extension(roles): Extension<Roles>,
        Extension(permissions): Extension<Permissions>,
    ) -> String {
        format!(
            "{} via {}: permissions {:?}, roles {:?}, as read {:?} {:?}",
            claims.sub,
            claims.azp.as_deref().unwrap_or("-"),
            claims.permissions,
            claims.roles,
            permissions.iter().collect::<Vec<_>>(),
            roles.iter().collect::<Vec<_>>(),
        )
    }

    async fn ok() -> &'static str {
        "ok"
    }
}

/// Microsoft Entra ID (v2.0 access tokens): app roles in `roles` (roles assigned to the user,
/// or application permissions of an app-only token), delegated permissions in `scp` (one
/// space-delimited string, absent from app-only tokens), tenant in `tid`, the stable id of
/// the user or service principal in `oid` (`sub` is pairwise, different for each app), the
/// calling client in `azp` (v1.0 tokens: `appid`).
///
/// Issuer `https://login.microsoftonline.com/{tenant-id}/v2.0` (set
/// `accessTokenAcceptedVersion: 2` in the API's app manifest, or tokens are v1.0 from
/// `https://sts.windows.net/{tenant-id}/`). One issuer per tenant: a token of another tenant is
/// refused by the issuer check. Entra's JWKS gives no `alg`, so keys come through
///
/// ```text
/// RemoteJwks::discover_builder("https://login.microsoftonline.com/{tenant-id}/v2.0")
///     .jwk_options(JwkOptions::default().infer_algorithm_from_key_type(true))
///     .build()?
/// ```
pub mod entra {
    use axum::routing::get;
    use axum::{Extension, Router};
    use jwt_layer::keys::KeyProvider;
    use jwt_layer::{BuildError, Claims, JwtAuth, Roles, Scopes};
    use serde::Deserialize;

    /// The API's application (client) id: the `aud` of v2.0 tokens for it.
    pub const API: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

    /// The issuer of a tenant's v2.0 tokens.
    pub fn issuer(tenant_id: &str) -> String {
        format!("https://login.microsoftonline.com/{tenant_id}/v2.0")
    }

    /// The members of an Entra ID access token this API reads.
    #[derive(Debug, Deserialize)]
    pub struct EntraClaims {
        /// The tenant.
        pub tid: String,
        /// The user or service principal, the same for every app of the tenant.
        pub oid: String,
        /// App roles.
        #[serde(default)]
        pub roles: Vec<String>,
        /// Delegated permissions, space-delimited; `RequireScope` reads them itself.
        pub scp: Option<String>,
        /// The calling client (v2.0).
        pub azp: Option<String>,
        /// The calling client (v1.0).
        pub appid: Option<String>,
        /// `2.0` (or `1.0`).
        pub ver: String,
    }

    impl EntraClaims {
        /// The calling client, from `azp` or, in v1.0 tokens, `appid`.
        pub fn client_id(&self) -> Option<&str> {
            self.azp.as_deref().or(self.appid.as_deref())
        }
    }

    /// A verifier for the v2.0 tokens of one tenant for [`API`], with app roles.
    pub fn auth(
        keys: impl KeyProvider,
        tenant_id: &str,
    ) -> Result<JwtAuth<EntraClaims>, BuildError> {
        JwtAuth::builder()
            .keys(keys)
            .issuer(issuer(tenant_id))
            .audience(API)
            .roles_claim("roles")
            .build()
    }

    /// `/me` for everyone verified; `/tasks` needs the delegated scope `Tasks.Read`,
    /// `/admin` the app role `Tasks.Admin`.
    pub fn app(auth: &JwtAuth<EntraClaims>) -> Result<Router, BuildError> {
        Ok(Router::new()
            .route("/me", get(me))
            .route("/tasks", get(ok).route_layer(auth.require_all_scopes(["Tasks.Read"])?))
            .route("/admin", get(ok).route_layer(auth.require_any_role(["Tasks.Admin"])?))
            .layer(auth.layer()))
    }

    async fn me(
        Claims(claims): Claims<EntraClaims>,
        Extension(roles): Extension<Roles>,
        scopes: Option<Extension<Scopes>>,
    ) -> String {
        let scopes = scopes.map_or_else(Vec::new, |Extension(scopes)| {
            scopes.iter().map(str::to_owned).collect::<Vec<_>>()
        });
        format!(
            "{} in {} via {} (v{}): roles {:?}, scopes {:?}",
            claims.oid,
            claims.tid,
            claims.client_id().unwrap_or("-"),
            claims.ver,
            roles.iter().collect::<Vec<_>>(),
            scopes,
        )
    }

    async fn ok() -> &'static str {
        "ok"
    }
}

/// Status, challenge (if any) and body of `GET path` with `token`.
async fn call(app: &axum::Router, path: &str, token: &str) -> (StatusCode, String, String) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request");
    let response = app.clone().oneshot(request).await.expect("the router never fails");
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap_or("?").to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap_or_default();
    (status, challenge, String::from_utf8_lossy(&body).into_owned())
}

async fn show(app: &axum::Router, who: &str, path: &str, token: &str) {
    let (status, challenge, body) = call(app, path, token).await;
    let answer = if challenge.is_empty() { body } else { challenge };
    println!("  {who:<10} GET {path:<11} {} {answer}", status.as_u16());
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("Keycloak");
    let idp = TestIssuer::new("https://keycloak.example/realms/demo");
    let app = keycloak::app(&keycloak::auth(idp.public_keys(), idp.issuer())?)?;
    let token = |realm: serde_json::Value, client: serde_json::Value| {
        idp.token()
            .audience(keycloak::CLIENT)
            .subject("3f1c2a9e-8d4b-4c8e-9a51-0d2b7c6e4f10")
            .claim("azp", "web-app")
            .claim("preferred_username", "alice")
            .scope("openid profile email")
            .claim("realm_access", json!({ "roles": realm }))
            .claim("resource_access", json!({ keycloak::CLIENT: { "roles": client } }))
            .sign()
    };
    let alice = token(json!(["auditor", "offline_access"]), json!(["editor"]));
    let bob = token(json!(["offline_access"]), json!([]));
    for path in ["/me", "/reports", "/edit", "/profile"] {
        show(&app, "alice", path, &alice).await;
    }
    show(&app, "bob", "/reports", &bob).await;

    println!("Auth0");
    let idp = TestIssuer::new("https://example.eu.auth0.com/");
    let app = auth0::app(&auth0::auth(idp.public_keys(), idp.issuer())?)?;
    let userinfo = format!("{}userinfo", idp.issuer());
    let carol = idp
        .token()
        .claim("aud", json!([auth0::API, userinfo]))
        .subject("auth0|64b7f0c2e1a9d3f5a7b8c9d0")
        .claim("azp", "spa-client")
        .scope("openid profile read:contacts")
        .claim("permissions", json!(["read:items", "write:items"]))
        .claim("https://example.com/roles", json!(["admin"]))
        .sign();
    let robot = idp
        .token()
        .audience(auth0::API)
        .subject("m2m-client@clients")
        .claim("azp", "m2m-client")
        .scope("read:items")
        .claim("permissions", json!(["read:items"]))
        .sign();
    for path in ["/me", "/items", "/items/new", "/admin", "/contacts"] {
        show(&app, "carol", path, &carol).await;
    }
    for path in ["/items", "/items/new", "/admin"] {
        show(&app, "m2m", path, &robot).await;
    }

    println!("Entra ID");
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let idp = TestIssuer::new(entra::issuer(tenant));
    let app = entra::app(&entra::auth(idp.public_keys(), tenant)?)?;
    let base = || {
        idp.token()
            .audience(entra::API)
            .claim("tid", tenant)
            .claim("ver", "2.0")
            .subject("pairwise-subject-for-this-app")
    };
    let dave = base()
        .claim("oid", "00000000-0000-0000-0000-00000000da7e")
        .claim("azp", "spa-client-id")
        .claim("scp", "Tasks.Read User.Read")
        .sign();
    let daemon = base()
        .claim("oid", "00000000-0000-0000-0000-0000000da3a0")
        .claim("azp", "daemon-client-id")
        .claim("roles", json!(["Tasks.Admin"]))
        .sign();
    // Entra signs every tenant's tokens with the same keys: only the issuer tells them apart.
    let other = "0b5f5c4e-1111-2222-3333-444455556666";
    let stranger = base()
        .claim("iss", entra::issuer(other))
        .claim("tid", other)
        .claim("oid", "00000000-0000-0000-0000-0000005a1e00")
        .claim("roles", json!(["Tasks.Admin"]))
        .sign();
    for path in ["/me", "/tasks", "/admin"] {
        show(&app, "dave", path, &dave).await;
    }
    for path in ["/me", "/tasks", "/admin"] {
        show(&app, "daemon", path, &daemon).await;
    }
    show(&app, "stranger", "/admin", &stranger).await;
    Ok(())
}
