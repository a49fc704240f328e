//! Many tenants resolved per request: nothing fetched for an issuer the resolver has not
//! approved, one resolution and one key fetch per tenant however many requests wait, live
//! tenants bounded (an evicted one comes back with one fetch), one tenant's identity provider
//! down failing only its own requests, and Entra ID's `{tenant}` template with its `tid`.
#![cfg(feature = "remote")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use jwt_layer::tenants::{Resolution, Tenant, TenantResolver, TenantTemplate, Tenants};
use jwt_layer::testing::TestIssuer;
use jwt_layer::{Algorithm, JwtAuth, Readiness};
use serde_json::Value;
use tower::ServiceExt;

const AUDIENCE: &str = "api";

/// Approves the issuers it was given (keys by their discovery documents), and counts calls.
struct Allowed {
    issuers: Vec<String>,
    calls: Arc<AtomicUsize>,
}

impl TenantResolver for Allowed {
    fn resolve<'a>(&'a self, issuer: &'a str) -> Resolution<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let approved = self.issuers.iter().any(|allowed| allowed == issuer);
        Box::pin(async move {
            match approved {
                true => Ok(Some(Tenant::discover(issuer))),
                false => Ok(None),
            }
        })
    }
}

async fn issuers(n: usize) -> Vec<TestIssuer> {
    let mut started = Vec::new();
    for _ in 0..n {
        let idp = TestIssuer::start().await.unwrap();
        // Every key made now, not while a client waits on the JWKS request.
        idp.jwks_json();
        started.push(idp);
    }
    started
}

fn app(tenants: Tenants) -> Router {
    router(&auth(tenants))
}

fn auth(tenants: Tenants) -> JwtAuth<Value> {
    JwtAuth::<Value>::builder().tenants(tenants).audience(AUDIENCE).build().unwrap()
}

fn router(auth: &JwtAuth<Value>) -> Router {
    Router::new().route("/me", get(|| async { "ok" })).layer(auth.layer())
}

fn allowed(approved: &[&TestIssuer]) -> (Allowed, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let issuers = approved.iter().map(|idp| idp.issuer().to_owned()).collect();
    (Allowed { issuers, calls: Arc::clone(&calls) }, calls)
}

async fn status(app: &Router, token: &str) -> StatusCode {
    let request = Request::get("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

fn token(idp: &TestIssuer) -> String {
    idp.token().audience(AUDIENCE).subject("u").sign()
}

#[tokio::test]
async fn approved_tenants_are_verified_with_their_own_keys_and_nothing_else_is_fetched() {
    let [a, b, stranger]: [TestIssuer; 3] = issuers(3).await.try_into().unwrap();
    let (resolver, calls) = allowed(&[&a, &b]);
    let app = app(Tenants::new(resolver));
    assert_eq!(status(&app, &token(&a)).await, StatusCode::OK);
    assert_eq!(status(&app, &token(&b)).await, StatusCode::OK);
    // A running identity provider the resolver did not approve: refused, never fetched, and
    // the "no" is remembered.
    for _ in 0..3 {
        assert_eq!(status(&app, &token(&stranger)).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(stranger.jwks_fetches(), 0);
    assert_eq!((a.jwks_fetches(), b.jwks_fetches()), (1, 1));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // A token naming B's issuer signed with A's key: verified with B's keys alone.
    let forged = a.token().audience(AUDIENCE).claim("iss", b.issuer()).sign();
    assert_eq!(status(&app, &forged).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_flood_of_made_up_issuers_costs_no_fetch() {
    let [a]: [TestIssuer; 1] = issuers(1).await.try_into().unwrap();
    let (resolver, calls) = allowed(&[&a]);
    let app = app(Tenants::new(resolver).max_refusals(100));
    for i in 0..2_000 {
        let iss = format!("https://t{i}.example");
        let made_up = a.token().alg(Algorithm::HS256).audience(AUDIENCE).claim("iss", iss).sign();
        assert_eq!(status(&app, &made_up).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(a.jwks_fetches(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 2_000);
    // The real tenant is unaffected.
    assert_eq!(status(&app, &token(&a)).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_share_one_resolution_and_one_fetch() {
    let [a]: [TestIssuer; 1] = issuers(1).await.try_into().unwrap();
    let (resolver, calls) = allowed(&[&a]);
    let app = app(Tenants::new(resolver));
    let token = token(&a);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (app, token) = (app.clone(), token.clone());
        requests.spawn(async move { status(&app, &token).await });
    }
    while let Some(answered) = requests.join_next().await {
        assert_eq!(answered.unwrap(), StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(a.jwks_fetches(), 1);
}

#[tokio::test]
async fn live_tenants_are_bounded_and_an_evicted_one_comes_back_with_one_fetch() {
    let started = issuers(3).await;
    let (resolver, calls) = allowed(&started.iter().collect::<Vec<_>>());
    let app = app(Tenants::new(resolver).max_tenants(2));
    let tokens: Vec<String> = started.iter().map(token).collect();
    for token in &tokens {
        assert_eq!(status(&app, token).await, StatusCode::OK);
    }
    // The first tenant made room for the third: it comes back with one resolution and one
    // fetch; the third is still live.
    assert_eq!(status(&app, &tokens[0]).await, StatusCode::OK);
    assert_eq!(started[0].jwks_fetches(), 2);
    assert_eq!(status(&app, &tokens[2]).await, StatusCode::OK);
    assert_eq!(started[2].jwks_fetches(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn one_tenants_identity_provider_down_fails_only_its_own_requests() {
    let [up, down]: [TestIssuer; 2] = issuers(2).await.try_into().unwrap();
    let (resolver, _) = allowed(&[&up, &down]);
    let auth = auth(Tenants::new(resolver));
    let app = router(&auth);
    let down_token = token(&down);
    let down_issuer = down.issuer().to_owned();
    // Its server stops: discovery and JWKS are no longer answered.
    drop(down);
    let refused = status(&app, &down_token).await;
    assert!(
        refused == StatusCode::SERVICE_UNAVAILABLE || refused == StatusCode::UNAUTHORIZED,
        "{refused}"
    );
    for _ in 0..5 {
        assert_eq!(status(&app, &token(&up)).await, StatusCode::OK);
    }
    // Readiness per tenant: the service as a whole stays ready.
    assert_eq!(auth.tenant_readiness(up.issuer()), Some(Readiness::Ready));
    assert!(auth.tenant_readiness(&down_issuer).is_some_and(|r| !r.is_ready()));
    assert_eq!(auth.tenant_readiness("https://never-resolved.example"), None);
    assert!(auth.readiness().is_ready());
}

/// Entra ID, multi-tenant: the issuer template with the tenants allowed, each token's `tid`
/// equal to its issuer's tenant.
#[tokio::test]
async fn entra_ids_tenant_template_binds_tid_to_the_issuer() {
    let tenants = ["9188040d-6c67-4c5b-b112-36a304b66dad", "72f988bf-86f1-41af-91ab-2d7cd011db47"];
    let idps: HashMap<String, TestIssuer> = tenants
        .iter()
        .map(|tid| {
            let issuer = format!("https://login.microsoftonline.com/{tid}/v2.0");
            (issuer.clone(), TestIssuer::new(issuer))
        })
        .collect();
    let keys: HashMap<String, _> =
        idps.iter().map(|(issuer, idp)| (issuer.clone(), idp.public_keys())).collect();
    let template = TenantTemplate::new("https://login.microsoftonline.com/{tenant}/v2.0")
        .unwrap()
        .allow(tenants)
        .tenant_claim("tid")
        .keys_from(move |issuer| Ok(Tenant::new(keys[issuer].clone())));
    let app = app(Tenants::new(template));
    let (issuer, idp) = idps.iter().next().unwrap();
    let tid = issuer.split('/').nth(3).unwrap();
    let other_tid = tenants.iter().find(|t| **t != tid).unwrap();

    let good = idp.token().audience(AUDIENCE).claim("tid", tid).sign();
    assert_eq!(status(&app, &good).await, StatusCode::OK);
    // A token of this tenant's issuer naming another tenant, or none.
    let crossed = idp.token().audience(AUDIENCE).claim("tid", *other_tid).sign();
    assert_eq!(status(&app, &crossed).await, StatusCode::UNAUTHORIZED);
    let without = idp.token().audience(AUDIENCE).sign();
    assert_eq!(status(&app, &without).await, StatusCode::UNAUTHORIZED);
    // A tenant not allowed, though the template matches.
    let outsider = TestIssuer::new("https://login.microsoftonline.com/common-x/v2.0");
    let stranger = outsider.token().audience(AUDIENCE).claim("tid", "common-x").sign();
    assert_eq!(status(&app, &stranger).await, StatusCode::UNAUTHORIZED);
}

#[test]
fn tenants_cannot_be_mixed_with_fixed_issuers() {
    let (resolver, _) = (Allowed { issuers: Vec::new(), calls: Arc::default() }, ());
    let built = JwtAuth::<Value>::builder()
        .tenants(Tenants::new(resolver))
        .issuer("https://fixed.example")
        .audience(AUDIENCE)
        .build();
    assert!(matches!(built, Err(jwt_layer::BuildError::MixedTenantConfiguration)));
}
