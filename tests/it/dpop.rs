//! DPoP (RFC 9449) through the layer: proofs made by the test kit, every check of §4.3, the
//! binding to `cnf.jkt`, single use, nonces, and the challenges of §7.1.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use jwt_layer::store::MemoryReplayStore;
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{Algorithm, Claims, Dpop, JwtAuth};
use serde_json::{Value, json};
use tower::ServiceExt;

const AUDIENCE: &str = "https://api.example.test";
const URL: &str = "http://api.example.test/orders/42";
/// The origin clients use, as the server is configured with it.
const ORIGIN: &str = "http://api.example.test";
const ALGS: &str = "RS256 PS256 ES256 ES384 ES512 EdDSA";

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

fn auth(idp: &TestIssuer, dpop: Dpop) -> JwtAuth<Value> {
    JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .dpop(dpop)
        .build()
        .unwrap()
}

fn app(idp: &TestIssuer, dpop: Dpop) -> Router {
    Router::new().route("/orders/42", get(me).post(me)).layer(auth(idp, dpop).layer())
}

fn request(method: &str, scheme: &str, token: &str, proofs: &[&str]) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/orders/42?expand=items")
        .header(header::HOST, "api.example.test")
        .header(header::AUTHORIZATION, format!("{scheme} {token}"));
    for proof in proofs {
        builder = builder.header("DPoP", *proof);
    }
    builder.body(Body::empty()).unwrap()
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Vec<String>, Option<String>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let challenges = response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let nonce = response.headers().get("DPoP-Nonce").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), challenges, nonce)
}

fn proof_error(description: &str) -> Vec<String> {
    vec![format!(
        r#"DPoP realm="api", algs="{ALGS}", error="invalid_dpop_proof", error_description="{description}""#
    )]
}

fn bound_token(idp: &TestIssuer, key: &DpopKey) -> String {
    idp.token().audience(AUDIENCE).subject("alice").alg(Algorithm::ES256).bound_to(key).sign()
}

#[tokio::test]
async fn a_bound_token_with_a_fresh_proof_is_accepted_once() {
    let idp = crate::common::issuer().clone();
    let app = app(&idp, Dpop::allowed().public_origin(ORIGIN));
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    let proof = key.proof("GET", URL, &token);
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!((status, challenges), (StatusCode::OK, vec![]));
    // RFC 9449 §11.1: the same proof again is a replay.
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges, proof_error("proof already used"));
    // The scheme is case-insensitive, like Bearer.
    let proof = key.proof("GET", URL, &token);
    assert_eq!(send(&app, request("GET", "dpop", &token, &[&proof])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_proof_check_of_rfc_9449_section_4_3() {
    let idp = crate::common::issuer().clone();
    let app = app(&idp, Dpop::allowed().public_origin(ORIGIN));
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    let now =
        || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    type Edit =
        Box<dyn Fn(&mut serde_json::Map<String, Value>, &mut serde_json::Map<String, Value>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "typ_not_dpop_jwt",
            Box::new(|h, _| {
                h.insert("typ".into(), json!("JWT"));
            }),
            "proof typ is not dpop+jwt",
        ),
        (
            "alg_none",
            Box::new(|h, _| {
                h.insert("alg".into(), json!("none"));
            }),
            "proof algorithm not allowed",
        ),
        (
            "alg_hs256",
            Box::new(|h, _| {
                h.insert("alg".into(), json!("HS256"));
            }),
            "proof algorithm not allowed",
        ),
        (
            "no_jwk",
            Box::new(|h, _| {
                h.remove("jwk");
            }),
            "proof has no jwk",
        ),
        (
            "private_key_in_jwk",
            Box::new(|h, _| {
                h["jwk"]["d"] = json!("AAAA");
            }),
            "proof jwk is not a public key",
        ),
        (
            "crit",
            Box::new(|h, _| {
                h.insert("crit".into(), json!(["exp"]));
            }),
            "unsupported critical header",
        ),
        (
            "htm_mismatch",
            Box::new(|_, c| {
                c.insert("htm".into(), json!("POST"));
            }),
            "proof htm does not match",
        ),
        (
            "htu_other_path",
            Box::new(|_, c| {
                c.insert("htu".into(), json!("http://api.example.test/orders/43"));
            }),
            "proof htu does not match",
        ),
        (
            "htu_other_host",
            Box::new(|_, c| {
                c.insert("htu".into(), json!("http://evil.example/orders/42"));
            }),
            "proof htu does not match",
        ),
        (
            "htu_https_vs_http",
            Box::new(|_, c| {
                c.insert("htu".into(), json!("https://api.example.test/orders/42"));
            }),
            "proof htu does not match",
        ),
        (
            "iat_too_old",
            Box::new(move |_, c| {
                c.insert("iat".into(), json!(now() - 3600));
            }),
            "proof too old",
        ),
        (
            "iat_in_future",
            Box::new(move |_, c| {
                c.insert("iat".into(), json!(now() + 3600));
            }),
            "proof issued in the future",
        ),
        (
            "iat_missing",
            Box::new(|_, c| {
                c.remove("iat");
            }),
            "proof iat missing",
        ),
        (
            "jti_missing",
            Box::new(|_, c| {
                c.remove("jti");
            }),
            "proof jti missing",
        ),
        (
            "ath_of_another_token",
            Box::new(|_, c| {
                c.insert("ath".into(), json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
            }),
            "proof ath does not match the token",
        ),
        (
            "ath_missing",
            Box::new(|_, c| {
                c.remove("ath");
            }),
            "proof ath does not match the token",
        ),
    ];
    for (name, edit, description) in cases {
        let proof = key.proof_with("GET", URL, &token, |h, c| edit(h, c));
        let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(challenges, proof_error(description), "{name}");
    }
    // Query and fragment do not count; case and default port are normalised.
    let proof = key.proof("GET", "HTTP://API.EXAMPLE.TEST:80/orders/42?other=1#x", &token);
    assert_eq!(send(&app, request("GET", "DPoP", &token, &[&proof])).await.0, StatusCode::OK);
    // A forged signature.
    let proof = key.proof("GET", URL, &token);
    let forged = jwt_layer::testing::tamper(&proof);
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&forged])).await;
    assert_eq!(
        (status, challenges),
        (StatusCode::UNAUTHORIZED, proof_error("proof signature invalid"))
    );
    // No proof, or two.
    let (_, challenges, _) = send(&app, request("GET", "DPoP", &token, &[])).await;
    assert_eq!(challenges, proof_error("missing DPoP proof"));
    let (_, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof, &proof])).await;
    assert_eq!(challenges, proof_error("more than one DPoP proof"));
}

#[tokio::test]
async fn binding_between_token_and_proof_key() {
    let idp = crate::common::issuer().clone();
    let app = app(&idp, Dpop::allowed().public_origin(ORIGIN));
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    let mismatch = vec![format!(
        r#"DPoP realm="api", algs="{ALGS}", error="invalid_token", error_description="invalid DPoP key binding""#
    )];
    // A proof by another key.
    let thief = DpopKey::new();
    let proof = thief.proof("GET", URL, &token);
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!((status, challenges), (StatusCode::UNAUTHORIZED, mismatch.clone()));
    // An unbound token with the DPoP scheme.
    let unbound = idp.token().audience(AUDIENCE).subject("bob").alg(Algorithm::ES256).sign();
    let proof = key.proof("GET", URL, &unbound);
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &unbound, &[&proof])).await;
    assert_eq!((status, challenges), (StatusCode::UNAUTHORIZED, mismatch));
    // A bound token sent as Bearer (RFC 9449 §7.1).
    let (status, challenges, _) = send(&app, request("GET", "Bearer", &token, &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        [format!(
            r#"DPoP realm="api", algs="{ALGS}", error="invalid_token", error_description="DPoP proof required""#
        )]
    );
    // Unbound bearer tokens still work where DPoP is only allowed.
    assert_eq!(send(&app, request("GET", "Bearer", &unbound, &[])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn p521_proof_keys_sign_es512_proofs_and_nothing_else() {
    let idp = crate::common::issuer().clone();
    let app = app(&idp, Dpop::allowed().public_origin(ORIGIN));
    let key = DpopKey::ecdsa(Algorithm::ES512);
    assert_eq!(key.jwk()["crv"], "P-521");
    let token =
        idp.token().audience(AUDIENCE).subject("alice").alg(Algorithm::ES512).bound_to(&key).sign();
    let proof = key.proof("GET", URL, &token);
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!((status, challenges), (StatusCode::OK, vec![]));

    // The proof's `alg` must be its key's curve's: a P-521 key never signs ES256 or ES384.
    for alg in ["ES256", "ES384"] {
        let proof = key.proof_with("GET", URL, &token, |h, _| {
            h.insert("alg".into(), json!(alg));
        });
        let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
        assert_eq!(
            (status, challenges),
            (StatusCode::UNAUTHORIZED, proof_error("proof jwk unusable"))
        );
    }
    // Nor does a P-256 key sign ES512.
    let p256 = DpopKey::new();
    let token = bound_token(&idp, &p256);
    let proof = p256.proof_with("GET", URL, &token, |h, _| {
        h.insert("alg".into(), json!("ES512"));
    });
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!((status, challenges), (StatusCode::UNAUTHORIZED, proof_error("proof jwk unusable")));

    // A server that lists its proof algorithms without ES512 refuses P-521 proofs.
    let narrow = Dpop::allowed().public_origin(ORIGIN).algorithms([Algorithm::ES256]);
    let app = self::app(&idp, narrow);
    let token =
        idp.token().audience(AUDIENCE).subject("alice").alg(Algorithm::ES512).bound_to(&key).sign();
    let proof = key.proof("GET", URL, &token);
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        [
            r#"DPoP realm="api", algs="ES256", error="invalid_dpop_proof", error_description="proof algorithm not allowed""#
        ]
    );
}

#[tokio::test]
async fn challenges_when_dpop_is_allowed_or_required() {
    let idp = crate::common::issuer().clone();
    let anonymous = Request::get("/orders/42").body(Body::empty()).unwrap();
    let (status, challenges, _) =
        send(&app(&idp, Dpop::allowed().public_origin(ORIGIN)), anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        [r#"Bearer realm="api""#.to_owned(), format!(r#"DPoP realm="api", algs="{ALGS}""#)]
    );

    let required = app(
        &idp,
        Dpop::required().public_origin(ORIGIN).algorithms([Algorithm::ES256, Algorithm::EdDSA]),
    );
    let unbound = idp.token().audience(AUDIENCE).subject("bob").sign();
    let (status, challenges, _) = send(&required, request("GET", "Bearer", &unbound, &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        [
            r#"DPoP realm="api", algs="ES256 EdDSA", error="invalid_token", error_description="DPoP proof required""#
        ]
    );
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    let proof = key.proof("POST", URL, &token);
    assert_eq!(send(&required, request("POST", "DPoP", &token, &[&proof])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn server_nonces_rfc_9449_section_9() {
    let idp = crate::common::issuer().clone();
    let app = app(
        &idp,
        Dpop::allowed().public_origin(ORIGIN).require_nonce(&[7u8; 32], Duration::from_secs(300)),
    );
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    let proof = key.proof("GET", URL, &token);
    let (status, challenges, nonce) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        [format!(
            r#"DPoP realm="api", algs="{ALGS}", error="use_dpop_nonce", error_description="nonce required""#
        )]
    );
    let nonce = nonce.expect("a fresh nonce");
    let proof = key.proof_with("GET", URL, &token, |_, c| {
        c.insert("nonce".into(), json!(nonce));
    });
    assert_eq!(send(&app, request("GET", "DPoP", &token, &[&proof])).await.0, StatusCode::OK);
    let forged = key.proof_with("GET", URL, &token, |_, c| {
        c.insert("nonce".into(), json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    });
    assert_eq!(
        send(&app, request("GET", "DPoP", &token, &[&forged])).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn public_origin_for_servers_behind_a_proxy() {
    let idp = crate::common::issuer().clone();
    let app = app(&idp, Dpop::allowed().public_origin("https://api.example.com/"));
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    let proof = key.proof("GET", "https://api.example.com/orders/42", &token);
    assert_eq!(send(&app, request("GET", "DPoP", &token, &[&proof])).await.0, StatusCode::OK);
    let proof = key.proof("GET", URL, &token);
    assert_eq!(
        send(&app, request("GET", "DPoP", &token, &[&proof])).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_full_replay_store_fails_closed() {
    let idp = crate::common::issuer().clone();
    let app = app(
        &idp,
        Dpop::allowed().public_origin(ORIGIN).replay_store(Arc::new(MemoryReplayStore::new(1))),
    );
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    let first = key.proof("GET", URL, &token);
    assert_eq!(send(&app, request("GET", "DPoP", &token, &[&first])).await.0, StatusCode::OK);
    let second = key.proof("GET", URL, &token);
    let response = app.clone().oneshot(request("GET", "DPoP", &token, &[&second])).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn scope_refusals_of_dpop_requests_use_the_dpop_scheme() {
    let idp = crate::common::issuer().clone();
    let auth = auth(&idp, Dpop::allowed().public_origin(ORIGIN));
    let app = Router::new()
        .route("/orders/42", get(me).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
        .layer(auth.layer());
    let key = DpopKey::new();
    let token = idp.token().audience(AUDIENCE).subject("a").scope("read").bound_to(&key).sign();
    let proof = key.proof("GET", URL, &token);
    let (status, challenges, _) = send(&app, request("GET", "DPoP", &token, &[&proof])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenges,
        [format!(
            r#"DPoP realm="api", algs="{ALGS}", error="insufficient_scope", error_description="insufficient scope", scope="admin""#
        )]
    );
}

#[test]
fn configuration_errors_are_refused_at_build_time() {
    let idp = crate::common::issuer().clone();
    let build = |dpop: Dpop| {
        JwtAuth::<Value>::builder()
            .keys(idp.keys())
            .issuer(idp.issuer())
            .audience(AUDIENCE)
            .dpop(dpop)
            .build()
            .map(|_| ())
    };
    assert_eq!(
        build(
            Dpop::allowed().public_origin(ORIGIN).require_nonce(b"short", Duration::from_secs(60))
        ),
        Err(jwt_layer::BuildError::WeakNonceSecret)
    );
    assert_eq!(
        build(Dpop::allowed().public_origin(ORIGIN).algorithms([Algorithm::HS256])),
        Err(jwt_layer::BuildError::NoDpopAlgorithms)
    );
    // RFC 9449 §11.1: without the server's own origin, `htu` would come from the client.
    assert_eq!(build(Dpop::allowed()), Err(jwt_layer::BuildError::DpopWithoutPublicOrigin));
    assert_eq!(build(Dpop::required()), Err(jwt_layer::BuildError::DpopWithoutPublicOrigin));
    for origin in [
        "api.example.test",
        "ftp://api.example.test",
        "https://api.example.test/base",
        "https://u:p@api.example.test",
        "https://api.example.test/?q",
    ] {
        assert_eq!(
            build(Dpop::allowed().public_origin(origin)),
            Err(jwt_layer::BuildError::InvalidPublicOrigin(origin.to_owned())),
            "{origin}"
        );
    }
}

/// RFC 9449 §4.3: `htu` names the URL the client called. Under `Router::nest` the inner router
/// sees the path with its prefix stripped; the layer takes the original URI (axum's
/// `OriginalUri`), so the proof for `/api/orders/42` is the one accepted, whether the layer is
/// on the outer router or on the nested one, and a proof for `/orders/42` (another resource
/// of the origin) is refused at `/api/orders/42`.
#[tokio::test]
async fn htu_is_the_path_the_client_called_under_router_nest() {
    let idp = crate::common::issuer().clone();
    let auth = auth(&idp, Dpop::allowed().public_origin(ORIGIN));
    let inner = || Router::new().route("/orders/42", get(me));
    let layouts = [
        ("layer on the nested router", Router::new().nest("/api", inner().layer(auth.layer()))),
        ("layer on the outer router", Router::new().nest("/api", inner()).layer(auth.layer())),
    ];
    let key = DpopKey::new();
    let token = bound_token(&idp, &key);
    for (layout, app) in layouts {
        let sent = |proof: &str| {
            Request::builder()
                .uri("/api/orders/42")
                .header(header::AUTHORIZATION, format!("DPoP {token}"))
                .header("DPoP", proof)
                .body(Body::empty())
                .unwrap()
        };
        let called = key.proof("GET", &format!("{ORIGIN}/api/orders/42"), &token);
        assert_eq!(send(&app, sent(&called)).await.0, StatusCode::OK, "{layout}");
        let stripped = key.proof("GET", &format!("{ORIGIN}/orders/42"), &token);
        let (status, challenges, _) = send(&app, sent(&stripped)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{layout}");
        assert_eq!(challenges, proof_error("proof htu does not match"), "{layout}");
    }
}
