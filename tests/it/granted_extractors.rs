//! `Scopes`, `Roles` and `Permissions` as extractors: behind the layer they are the token's
//! grants, and a check inside the handler refuses exactly as the route requirement would (the
//! same status, challenge and rendered body); without them in the request, the answer is the
//! `Claims` extractor's (401 for an anonymous request, 500 without the layer).

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use jwt_layer::{AuthError, GrantRefusal, JwtAuth, Permissions, RefusedRequest, Roles, Scopes};
use serde_json::Value;

const AUDIENCE: &str = "https://api.example.test";

async fn answer(
    app: &Router,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Vec<String>, String) {
    let authorization = token.map(|token| format!("Bearer {token}"));
    crate::common::answered(app, crate::common::request(path, authorization.as_deref())).await
}

/// A renderer that names the refusal and the path, so the body shows which renderer answered.
fn problem(err: &AuthError, request: &RefusedRequest<'_>) -> Response {
    format!("{} at {}", err.description(), request.path()).into_response()
}

async fn write_in_handler(scopes: Scopes) -> Result<&'static str, GrantRefusal> {
    scopes.require_all(["orders:write"])?;
    Ok("written")
}

async fn admin_in_handler(roles: Roles) -> Result<&'static str, GrantRefusal> {
    roles.require_any(["admin", "owner"])?;
    Ok("admin")
}

async fn delete_in_handler(permissions: Permissions) -> Result<&'static str, GrantRefusal> {
    permissions.require_all(["orders:delete"])?;
    Ok("deleted")
}

async fn listed(scopes: Scopes) -> String {
    scopes.iter().collect::<Vec<_>>().join(",")
}

async fn ok() -> &'static str {
    "ok"
}

fn app(auth: &JwtAuth<Value>) -> Router {
    Router::new()
        .route("/handler/write", get(write_in_handler))
        .route(
            "/layer/write",
            get(ok).route_layer(auth.require_all_scopes(["orders:write"]).unwrap()),
        )
        .route("/handler/admin", get(admin_in_handler))
        .route(
            "/layer/admin",
            get(ok).route_layer(auth.require_any_role(["admin", "owner"]).unwrap()),
        )
        .route("/handler/delete", get(delete_in_handler))
        .route(
            "/layer/delete",
            get(ok).route_layer(auth.require_all_permissions(["orders:delete"]).unwrap()),
        )
        .route("/scopes", get(listed))
        .layer(auth.layer().with_response_for(problem))
}

/// The check in a handler answers as the route requirement does: same status, same challenge,
/// and the body of the layer's renderer, with the path the client called.
#[tokio::test]
async fn a_check_in_the_handler_refuses_as_the_route_requirement_would() {
    let idp = crate::common::issuer().clone();
    let auth = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .realm("shop")
        .roles_claim("roles")
        .permissions_claim("permissions")
        .build()
        .unwrap();
    let app = app(&auth);
    let reader = idp
        .token()
        .audience(AUDIENCE)
        .scope("orders:read")
        .claim("roles", serde_json::json!(["user"]))
        .claim("permissions", serde_json::json!(["orders:read"]))
        .sign();
    for what in ["write", "admin", "delete"] {
        let (status, challenges, body) =
            answer(&app, &format!("/handler/{what}"), Some(&reader)).await;
        let (layer_status, layer_challenges, layer_body) =
            answer(&app, &format!("/layer/{what}"), Some(&reader)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!((status, &challenges), (layer_status, &layer_challenges), "{what}");
        assert_eq!(body.replace("/handler/", "/layer/"), layer_body, "{what}");
    }
    let (_, challenges, body) = answer(&app, "/handler/write", Some(&reader)).await;
    assert_eq!(
        challenges,
        [
            r#"Bearer realm="shop", error="insufficient_scope", error_description="insufficient scope", scope="orders:write""#
        ]
    );
    assert_eq!(body, "insufficient scope at /handler/write");

    let writer = idp
        .token()
        .audience(AUDIENCE)
        .scope("orders:read orders:write")
        .claim("roles", serde_json::json!(["owner"]))
        .claim("permissions", serde_json::json!(["orders:delete"]))
        .sign();
    assert_eq!(answer(&app, "/handler/write", Some(&writer)).await.2, "written");
    assert_eq!(answer(&app, "/handler/admin", Some(&writer)).await.2, "admin");
    assert_eq!(answer(&app, "/handler/delete", Some(&writer)).await.2, "deleted");
    assert_eq!(answer(&app, "/scopes", Some(&writer)).await.2, "orders:read,orders:write");
}

/// Without grants in the request, the extractors answer as `Claims` does: 401 with the
/// layer's challenge for an anonymous request under an optional layer, 500 (logged) where no
/// layer ran or the layer reads no roles, never a pass.
#[tokio::test]
async fn without_grants_in_the_request_the_extractors_answer_as_claims_does() {
    let idp = crate::common::issuer().clone();
    let optional = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .optional()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/scopes", get(listed))
        .route("/admin", get(admin_in_handler))
        .layer(optional.layer());
    assert_eq!(
        answer(&app, "/scopes", None).await,
        (StatusCode::UNAUTHORIZED, vec![r#"Bearer realm="api""#.to_owned()], String::new())
    );
    // Roles are not read by this `JwtAuth`: a programming error, not a pass.
    let token = idp.token().audience(AUDIENCE).scope("a").sign();
    assert_eq!(answer(&app, "/admin", Some(&token)).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    // No layer at all.
    let bare = Router::new().route("/scopes", get(listed));
    assert_eq!(answer(&bare, "/scopes", Some(&token)).await.0, StatusCode::INTERNAL_SERVER_ERROR);
}
