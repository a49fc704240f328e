//! Certificate-bound access tokens (RFC 8705 §3) through the public API: the connection's
//! client certificate as a request extension, a certificate forwarded by a trusted proxy, the
//! opt-in, tokens bound both ways, and one real mutual-TLS round trip with the example's
//! wiring.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use jwt_layer::explain::{Check, Outcome};
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{
    AuthError, BuildError, Claims, ClientCertificate, Dpop, JwtAuth, JwtAuthBuilder, PeerAddress,
};
use serde_json::{Value, json};
use tower::ServiceExt;

#[path = "../../examples/mtls.rs"]
#[allow(dead_code)]
mod mtls;

const AUDIENCE: &str = "https://api.example.test";
const PROXY: &str = "10.0.0.7";
const FORWARDED: &str = "x-client-cert";

/// The DER of the two clients' certificates: any bytes do, since only their SHA-256 counts.
const ALICE: &[u8] = b"alice's certificate, DER";
const MALLORY: &[u8] = b"mallory's certificate, DER";

fn mismatch() -> String {
    r#"Bearer realm="api", error="invalid_token", error_description="certificate binding mismatch""#
        .to_owned()
}

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

fn builder(idp: &TestIssuer) -> JwtAuthBuilder<Value> {
    JwtAuth::<Value>::builder().keys(idp.keys()).issuer(idp.issuer()).audience(AUDIENCE)
}

fn app(auth: JwtAuthBuilder<Value>) -> Router {
    Router::new().route("/me", get(me)).layer(auth.build().unwrap().layer())
}

fn thumbprint(der: &[u8]) -> String {
    ClientCertificate::from_der(der).thumbprint().to_owned()
}

/// A token for `u` whose `cnf` is `cnf`, when given.
fn token(idp: &TestIssuer, cnf: Option<Value>) -> String {
    let token = idp.token().audience(AUDIENCE).subject("u");
    match cnf {
        Some(cnf) => token.claim("cnf", cnf).sign(),
        None => token.sign(),
    }
}

fn bound_to(idp: &TestIssuer, der: &[u8]) -> String {
    token(idp, Some(json!({ "x5t#S256": thumbprint(der) })))
}

/// A request for `/me` with `token`, made on a connection with `certificate` (when given).
fn request(token: &str, certificate: Option<&[u8]>) -> Request<Body> {
    let mut request = Request::get("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    if let Some(der) = certificate {
        request.extensions_mut().insert(ClientCertificate::from_der(der));
    }
    request
}

/// The certificate as nginx's `$ssl_client_escaped_cert` forwards it: URL-encoded PEM.
fn escaped_pem(der: &[u8]) -> String {
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
    percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC).collect()
}

/// A request from the TCP peer `peer` forwarding `der` in the header.
fn forwarded(token: &str, peer: &str, der: &[u8]) -> Request<Body> {
    let mut request = request(token, None);
    request.headers_mut().insert(FORWARDED, escaped_pem(der).parse().unwrap());
    request.extensions_mut().insert(PeerAddress(peer.parse::<SocketAddr>().unwrap()));
    request
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let challenge = response.headers().get(header::WWW_AUTHENTICATE);
    (response.status(), challenge.map(|v| v.to_str().unwrap().to_owned()))
}

#[tokio::test]
async fn a_bound_token_is_accepted_with_its_own_certificate_only_rfc8705_3() {
    let idp = crate::common::issuer().clone();
    let app = app(builder(&idp).certificate_bound_tokens());
    let bound = bound_to(&idp, ALICE);
    assert_eq!(send(&app, request(&bound, Some(ALICE))).await, (StatusCode::OK, None));
    let refused = (StatusCode::UNAUTHORIZED, Some(mismatch()));
    assert_eq!(send(&app, request(&bound, Some(MALLORY))).await, refused);
    assert_eq!(send(&app, request(&bound, None)).await, refused);
    // A token without `cnf` stays a bearer token, with or without a certificate.
    let bearer = token(&idp, None);
    assert_eq!(send(&app, request(&bearer, None)).await.0, StatusCode::OK);
    assert_eq!(send(&app, request(&bearer, Some(MALLORY))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_thumbprint_is_compared_exactly_rfc8705_3_1() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    let idp = crate::common::issuer().clone();
    let app = app(builder(&idp).certificate_bound_tokens());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ALICE);
    for variant in
        [URL_SAFE.encode(digest), STANDARD.encode(digest), thumbprint(ALICE).to_uppercase()]
    {
        let token = token(&idp, Some(json!({ "x5t#S256": variant })));
        let answer = send(&app, request(&token, Some(ALICE))).await;
        assert_eq!(answer, (StatusCode::UNAUTHORIZED, Some(mismatch())), "{variant}");
    }
    // Not a string: the claim has the wrong type.
    let token = token(&idp, Some(json!({ "x5t#S256": 1 })));
    assert_eq!(send(&app, request(&token, Some(ALICE))).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_the_opt_in_a_bound_token_is_an_unsupported_binding() {
    let idp = crate::common::issuer().clone();
    let app = app(builder(&idp));
    let refused = (
        StatusCode::UNAUTHORIZED,
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="unsupported token binding""#
                .to_owned(),
        ),
    );
    assert_eq!(send(&app, request(&bound_to(&idp, ALICE), Some(ALICE))).await, refused);
}

#[tokio::test]
async fn other_confirmation_methods_stay_unsupported_rfc7800_3() {
    let idp = crate::common::issuer().clone();
    let app = app(builder(&idp).certificate_bound_tokens());
    let x5t = thumbprint(ALICE);
    for cnf in
        [json!({"jwk": {"kty": "EC"}}), json!({"kid": "k1"}), json!({"x5t#S256": x5t, "kid": "k1"})]
    {
        let token = token(&idp, Some(cnf.clone()));
        let (status, challenge) = send(&app, request(&token, Some(ALICE))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{cnf}");
        assert!(challenge.unwrap().contains("unsupported token binding"), "{cnf}");
    }
}

#[tokio::test]
async fn a_token_bound_to_a_dpop_key_and_a_certificate_needs_both() {
    let idp = crate::common::issuer().clone();
    let origin = "http://api.example.test";
    let app =
        app(builder(&idp).certificate_bound_tokens().dpop(Dpop::allowed().public_origin(origin)));
    let key = DpopKey::new();
    let both = json!({ "jkt": key.thumbprint(), "x5t#S256": thumbprint(ALICE) });
    let token = token(&idp, Some(both));
    let dpop = |certificate: Option<&[u8]>| {
        let mut request = request(&token, certificate);
        let proof = key.proof("GET", &format!("{origin}/me"), &token);
        let value = format!("DPoP {token}").parse().unwrap();
        request.headers_mut().insert(header::AUTHORIZATION, value);
        request.headers_mut().insert("dpop", proof.parse().unwrap());
        request
    };
    assert_eq!(send(&app, dpop(Some(ALICE))).await.0, StatusCode::OK);
    let (status, challenge) = send(&app, dpop(Some(MALLORY))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("certificate binding mismatch"));
    assert_eq!(send(&app, dpop(None)).await.0, StatusCode::UNAUTHORIZED);
    // The certificate alone, with the Bearer scheme: the DPoP binding is not met.
    let (status, challenge) = send(&app, request(&token, Some(ALICE))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("DPoP proof required"));
}

#[tokio::test]
async fn a_forwarded_certificate_counts_from_a_trusted_proxy_only() {
    let idp = crate::common::issuer().clone();
    let proxies = [PROXY.parse::<IpAddr>().unwrap()];
    let app = app(builder(&idp).trust_forwarded_certificate(FORWARDED, proxies));
    let bound = bound_to(&idp, ALICE);
    let from_proxy = format!("{PROXY}:41000");
    let refused = (StatusCode::UNAUTHORIZED, Some(mismatch()));

    assert_eq!(send(&app, forwarded(&bound, &from_proxy, ALICE)).await, (StatusCode::OK, None));
    assert_eq!(send(&app, forwarded(&bound, &from_proxy, MALLORY)).await, refused);
    // From the proxy, only the header counts: not the proxy's own TLS client certificate.
    let mut own = request(&bound, Some(ALICE));
    own.extensions_mut().insert(PeerAddress(from_proxy.parse().unwrap()));
    assert_eq!(send(&app, own).await, refused);

    // Any other peer: the header is never read; the connection's certificate counts.
    assert_eq!(send(&app, forwarded(&bound, "10.0.0.8:41000", ALICE)).await, refused);
    let mut direct = forwarded(&bound, "192.0.2.1:5000", ALICE);
    direct.extensions_mut().insert(ClientCertificate::from_der(MALLORY));
    assert_eq!(send(&app, direct).await, refused);
    // No peer address known: the header is not read either.
    let mut unknown = request(&bound, None);
    unknown.headers_mut().insert(FORWARDED, escaped_pem(ALICE).parse().unwrap());
    assert_eq!(send(&app, unknown).await, refused);
}

#[test]
fn trusting_a_forwarded_certificate_needs_a_header_name_and_a_proxy() {
    let idp = crate::common::issuer().clone();
    let proxy = [PROXY.parse::<IpAddr>().unwrap()];
    let no_proxy = builder(&idp).trust_forwarded_certificate(FORWARDED, []).build();
    assert_eq!(no_proxy.unwrap_err(), BuildError::InvalidForwardedCertificate);
    let bad_name = builder(&idp).trust_forwarded_certificate("x client cert", proxy).build();
    assert_eq!(bad_name.unwrap_err(), BuildError::InvalidForwardedCertificate);
    assert!(builder(&idp).trust_forwarded_certificate("X-Client-Cert", proxy).build().is_ok());
}

#[tokio::test]
async fn verify_and_explain_have_no_certificate_so_refuse_a_bound_token() {
    let idp = crate::common::issuer().clone();
    let auth = builder(&idp).certificate_bound_tokens().build().unwrap();
    let bound = bound_to(&idp, ALICE);
    assert_eq!(auth.verify(&bound).await.unwrap_err(), AuthError::CertificateBindingMismatch);
    let explanation = auth.explain(&bound).await;
    let binding = explanation.steps().iter().find(|step| step.check == Check::Binding).unwrap();
    assert_eq!(binding.outcome, Outcome::Failed(AuthError::CertificateBindingMismatch));
}

/// The example's wiring on loopback: rustls verifies the client certificates against a CA
/// made at startup, the acceptor hands each connection's certificate to the layer.
#[tokio::test]
async fn over_mutual_tls_on_loopback() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let pki = mtls::test_pki().unwrap();
    let addr = mtls::start(&pki).await.unwrap();
    let alice = mtls::client(&pki, Some(&pki.alice)).unwrap();
    let mallory = mtls::client(&pki, Some(&pki.mallory)).unwrap();
    let anonymous = mtls::client(&pki, None).unwrap();
    let bound = mtls::token("alice", Some(&pki.alice.certificate)).unwrap();
    let bearer = mtls::token("bob", None).unwrap();
    assert_eq!(mtls::get_me(&alice, addr, &bound).await.unwrap(), StatusCode::OK);
    assert_eq!(mtls::get_me(&mallory, addr, &bound).await.unwrap(), StatusCode::UNAUTHORIZED);
    assert_eq!(mtls::get_me(&anonymous, addr, &bound).await.unwrap(), StatusCode::UNAUTHORIZED);
    assert_eq!(mtls::get_me(&anonymous, addr, &bearer).await.unwrap(), StatusCode::OK);
}
