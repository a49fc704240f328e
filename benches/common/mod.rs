//! Fixtures shared by `benches/verify.rs` and `benches/allocations.rs`: one token per algorithm
//! with realistic claims (~330 bytes of JSON), the same public key in every form each contender
//! wants, and the routers compared side by side.
//!
//! Every contender is configured alike: the token's one key (pinned to its algorithm where the
//! contender allows it), issuer and audience checked, `exp` required, `nbf` checked, 60 s
//! leeway, claims deserialized into the same `BenchClaims`. jsonwebtoken has no ES512, so for
//! ES512 neither it nor the two peers built on it (jwt-authorizer, tower-oauth2-resource-server)
//! take part: see [`has_peers`].

#![allow(dead_code)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, signature::ParsedPublicKey};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use jwt_layer::introspection::Introspection;
use jwt_layer::keys::{RemoteJwks, StaticKeys, VerifyingKey};
use jwt_layer::{Algorithm, Claims, JwtAuth, TokenKinds};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceBuilder;
use tower::util::BoxCloneService;

pub const SECRET: &[u8] = b"benchmark-secret-benchmark-secret-0123";
pub const ISSUER: &str = "https://login.example.com/";
pub const AUDIENCE: &str = "https://api.example.com";
pub const KID: &str = "k";

/// The algorithms compared, in table order.
pub const ALGORITHMS: [Algorithm; 7] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::EdDSA,
];

/// Whether jsonwebtoken verifies `alg`, and so the contenders built on it: (a) itself, (e)
/// jwt-authorizer (jsonwebtoken 9) and (f) tower-oauth2-resource-server (jsonwebtoken 11).
/// Not ES512: those rows are left out, and the report prints "—".
pub fn has_peers(alg: Algorithm) -> bool {
    jsonwebtoken::Algorithm::try_from(alg).is_ok()
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
pub struct BenchClaims {
    pub sub: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub scope: String,
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of every token: 334 bytes of JSON.
pub fn claims_json() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "iat": now, "nbf": now, "exp": now + 3600, "jti": "b7c4e0f2-7d4e-4b8e-9c1a-2f3d4e5f6a7b",
        "name": "Alice Example", "email": "alice@example.com",
        "roles": ["reader", "writer"], "scope": "openid profile email read:items write:items",
    })
    .to_string()
}

/// The bare signature check, with the key prepared once: the floor under any verifier.
pub enum BareKey {
    /// Boxed, as in `VerifyingKey`: an HMAC context is over a kilobyte.
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

impl BareKey {
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            BareKey::Hmac(key) => hmac::verify(key, message, sig).is_ok(),
            BareKey::Public(key) => key.verify_sig(message, sig).is_ok(),
        }
    }
}

/// A signed token and its public key in every form a contender takes.
pub struct Fixture {
    pub alg: Algorithm,
    pub token: String,
    /// `header.payload`, and the decoded signature (for the bare check).
    pub signing_input: String,
    pub signature: Vec<u8>,
    pub bare: BareKey,
    /// jsonwebtoken 12 (the reference the differential test holds `jwt_layer` to;
    /// tower-oauth2-resource-server uses 11); `None` where it lacks the algorithm (ES512).
    pub jwt_key: Option<jsonwebtoken::DecodingKey>,
    /// This crate's key, from the JWK (so pinned to the JWK's `alg`).
    pub our_key: VerifyingKey,
    /// A JWKS document with the one key (`kid` "k", `alg` set).
    pub jwks: String,
    /// The key as jwt-authorizer reads it: the secret, or a PEM public key.
    pub pem: String,
}

pub fn fixture(alg: Algorithm) -> Fixture {
    let rng = SystemRandom::new();
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{KID}"}}"#);
    let signing_input = format!("{}.{}", b64(header), b64(claims_json()));
    let msg = signing_input.as_bytes();
    let pem_of = |tag: &str, der: &[u8]| pem::encode(&pem::Pem::new(tag, der.to_vec()));
    let (signature, jwt_key, jwk, bare, pem): (Vec<u8>, _, _, _, String) = match alg {
        Algorithm::HS256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
            (
                hmac::sign(&key, msg).as_ref().to_vec(),
                Some(jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap()),
                json!({"kty": "oct", "k": b64(SECRET)}),
                BareKey::Hmac(Box::new(key)),
                String::from_utf8(SECRET.to_vec()).unwrap(),
            )
        }
        Algorithm::RS256 | Algorithm::PS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
            let mut sig = vec![0; pair.public_modulus_len()];
            let (encoding, params): (&'static dyn signature::RsaEncoding, _) =
                if alg == Algorithm::RS256 {
                    (&signature::RSA_PKCS1_SHA256, &signature::RSA_PKCS1_2048_8192_SHA256)
                } else {
                    (&signature::RSA_PSS_SHA256, &signature::RSA_PSS_2048_8192_SHA256)
                };
            pair.sign(encoding, &rng, msg, &mut sig).unwrap();
            let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            let pkcs1 = pair.public_key().as_ref();
            (
                sig,
                Some(jsonwebtoken::DecodingKey::from_rsa_raw_components(&public.n, &public.e)),
                json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)}),
                BareKey::Public(ParsedPublicKey::new(params, pkcs1).unwrap()),
                pem_of("RSA PUBLIC KEY", pkcs1),
            )
        }
        Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => {
            let (signing, verifying, crv) = match alg {
                Algorithm::ES256 => (
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &signature::ECDSA_P256_SHA256_FIXED,
                    "P-256",
                ),
                Algorithm::ES384 => (
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    &signature::ECDSA_P384_SHA384_FIXED,
                    "P-384",
                ),
                _ => (
                    &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
                    &signature::ECDSA_P521_SHA512_FIXED,
                    "P-521",
                ),
            };
            let pair = EcdsaKeyPair::generate(signing).unwrap();
            let point = pair.public_key().as_ref();
            let half = (point.len() - 1) / 2;
            let (x, y) = (b64(&point[1..1 + half]), b64(&point[1 + half..]));
            let spki: PublicKeyX509Der<'_> = pair.public_key().as_der().unwrap();
            (
                pair.sign(&rng, msg).unwrap().as_ref().to_vec(),
                has_peers(alg)
                    .then(|| jsonwebtoken::DecodingKey::from_ec_components(&x, &y).unwrap()),
                json!({"kty": "EC", "crv": crv, "x": x, "y": y}),
                BareKey::Public(ParsedPublicKey::new(verifying, point).unwrap()),
                pem_of("PUBLIC KEY", spki.as_ref()),
            )
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::generate().unwrap();
            let raw = pair.public_key().as_ref();
            let x = b64(raw);
            let spki: PublicKeyX509Der<'_> = pair.public_key().as_der().unwrap();
            (
                pair.sign(msg).as_ref().to_vec(),
                Some(jsonwebtoken::DecodingKey::from_ed_components(&x).unwrap()),
                json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                BareKey::Public(ParsedPublicKey::new(&signature::ED25519, raw).unwrap()),
                pem_of("PUBLIC KEY", spki.as_ref()),
            )
        }
        other => unreachable!("{other} is not benchmarked"),
    };
    let mut jwk = jwk;
    jwk["kid"] = json!(KID);
    jwk["alg"] = json!(alg.as_str());
    jwk["use"] = json!("sig");
    let our_key = VerifyingKey::from_jwk(jwk.to_string()).unwrap();
    assert!(our_key.kid() == Some(KID) && our_key.algorithms().eq([alg]));
    let token = format!("{signing_input}.{}", b64(&signature));
    assert!(bare.verify(msg, &signature));
    Fixture {
        alg,
        token,
        signing_input,
        signature,
        bare,
        jwt_key,
        our_key,
        jwks: json!({ "keys": [jwk] }).to_string(),
        pem,
    }
}

/// (b): this crate, the fixture's key as `StaticKeys`.
pub fn our_auth(fx: &Fixture) -> JwtAuth<BenchClaims> {
    JwtAuth::<BenchClaims>::builder()
        .keys(StaticKeys::new([fx.our_key.clone()]).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        // Every request verified in full, as the peers verify it: the cost of a token the
        // layer has not seen before.
        .token_cache(false)
        .build()
        .unwrap()
}

/// (c, cache hit): the default configuration, whose verified-token cache serves a token the
/// layer has seen before (warm it through the layer before measuring).
pub fn cached_auth(fx: &Fixture) -> JwtAuth<BenchClaims> {
    JwtAuth::<BenchClaims>::builder()
        .keys(StaticKeys::new([fx.our_key.clone()]).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

/// (b, remote): the same, keys from a `RemoteJwks` (call `refresh` before measuring).
pub fn remote_auth(url: &str, cooldown: Duration) -> (JwtAuth<BenchClaims>, RemoteJwks) {
    let remote = RemoteJwks::builder(url).cooldown(cooldown).build().unwrap();
    let auth = JwtAuth::<BenchClaims>::builder()
        .keys(remote.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    (auth, remote)
}

/// (a): `jsonwebtoken::decode`'s `Validation`, configured like the others; `None` where
/// jsonwebtoken lacks the algorithm (ES512).
pub fn jsonwebtoken_validation(alg: Algorithm) -> Option<jsonwebtoken::Validation> {
    let mut validation = jsonwebtoken::Validation::new(alg.try_into().ok()?);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;
    Some(validation)
}

/// The request every router gets.
pub fn request(fx: &Fixture) -> Request {
    request_with(&fx.token)
}

/// The same request with another bearer token.
pub fn request_with(token: &str) -> Request {
    http::Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// The type every router is boxed to, so the benches drive them alike (one boxed future per
/// request in every contender, the floor included).
pub type BenchService = BoxCloneService<Request, Response, std::convert::Infallible>;

async fn me(Claims(claims): Claims<BenchClaims>) -> &'static str {
    black_box(&claims.sub);
    "ok"
}

async fn open() -> &'static str {
    "ok"
}

/// (c): the layer on an axum `Router`, as the README shows it.
pub fn router_with_layer(auth: &JwtAuth<BenchClaims>) -> BenchService {
    BoxCloneService::new(Router::new().route("/me", get(me)).layer(auth.layer()))
}

/// (c2): the layer around the router, from outside (how (e) has to be mounted).
pub fn layer_around_router(auth: &JwtAuth<BenchClaims>) -> BenchService {
    let service =
        ServiceBuilder::new().layer(auth.layer()).service(Router::new().route("/me", get(me)));
    BoxCloneService::new(service)
}

/// (d): the same router without authentication: the floor.
pub fn router_without_auth() -> BenchService {
    BoxCloneService::new(Router::new().route("/me", get(open)))
}

/// The handlers of the peers read their claims by reference from the request's extensions
/// (no clone), the cheapest way each peer offers.
async fn me_jwt_authorizer(request: Request) -> &'static str {
    let data = request.extensions().get::<jsonwebtoken9::TokenData<BenchClaims>>().unwrap();
    black_box(&data.claims.sub);
    "ok"
}

async fn me_tower_oauth2(request: Request) -> &'static str {
    let claims = request.extensions().get::<BenchClaims>().unwrap();
    black_box(&claims.sub);
    "ok"
}

/// jwt-authorizer 0.15 is built on axum 0.7: its service wants an inner response type that
/// converts from its `AuthError`, which axum 0.8's `Response` does not. This newtype (a
/// zero-cost wrapper, mapped in and out) lets the layer wrap the axum 0.8 router from outside.
pub struct PeerResponse(Response);

impl From<jwt_authorizer::AuthError> for PeerResponse {
    fn from(_: jwt_authorizer::AuthError) -> Self {
        PeerResponse(StatusCode::UNAUTHORIZED.into_response())
    }
}

fn jsonwebtoken9_alg(alg: Algorithm) -> jsonwebtoken9::Algorithm {
    alg.as_str().parse().unwrap()
}

/// (e): jwt-authorizer, static key (secret or PEM), the token's algorithm only, issuer,
/// audience, `exp` and `nbf` checked, 60 s leeway (its default); `None` for ES512.
pub async fn router_jwt_authorizer(fx: &Fixture) -> Option<BenchService> {
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, Validation};
    if !has_peers(fx.alg) {
        return None;
    }
    let builder: JwtAuthorizer<BenchClaims> = match fx.alg {
        Algorithm::HS256 => JwtAuthorizer::from_secret(&fx.pem),
        Algorithm::RS256 | Algorithm::PS256 => JwtAuthorizer::from_rsa_pem_text(&fx.pem),
        Algorithm::ES256 | Algorithm::ES384 => JwtAuthorizer::from_ec_pem_text(&fx.pem),
        _ => JwtAuthorizer::from_ed_pem_text(&fx.pem),
    };
    let validation = Validation::new()
        .iss(&[ISSUER])
        .aud(&[AUDIENCE])
        .exp(true)
        .nbf(true)
        .leeway(60)
        .algs(vec![jsonwebtoken9_alg(fx.alg)]);
    let authorizer = builder.validation(validation).build().await.unwrap();
    let service = ServiceBuilder::new()
        .map_response(|response: PeerResponse| response.0)
        .layer(authorizer.into_layer())
        .map_response(PeerResponse)
        .service(Router::new().route("/me", get(me_jwt_authorizer)));
    Some(BoxCloneService::new(service))
}

/// (f): tower-oauth2-resource-server, static JWKS (its `static_builder`), the token's
/// algorithm only, issuer, audience, `exp` and `nbf` checked; mounted with `Router::layer`;
/// `None` for ES512.
pub async fn router_tower_oauth2(fx: &Fixture) -> Option<BenchService> {
    use tower_oauth2_resource_server::server::OAuth2ResourceServer;
    use tower_oauth2_resource_server::tenant::TenantConfiguration;
    use tower_oauth2_resource_server::validation::ClaimsValidationSpec;
    let spec =
        ClaimsValidationSpec::new().iss(ISSUER).aud(&vec![AUDIENCE.to_owned()]).exp(true).nbf(true);
    let tenant = TenantConfiguration::static_builder(fx.jwks.clone())
        .claims_validation(spec)
        // Its own jsonwebtoken (11), not the one `jwt_layer::Algorithm` converts to; ES512 is
        // not a name it knows.
        .allowed_algorithms(&[fx.alg.as_str().parse().ok()?])
        .build()
        .unwrap();
    let server =
        OAuth2ResourceServer::<BenchClaims>::builder().add_tenant(tenant).build().await.unwrap();
    Some(BoxCloneService::new(
        Router::new().route("/me", get(me_tower_oauth2)).layer(server.into_layer()),
    ))
}

/// A loopback JWKS server on its own thread and runtime: `GET /{alg}/jwks.json` serves that
/// fixture's JWKS. Returns the base URL; the server lives as long as the process.
pub fn start_jwks_server(sets: Vec<(Algorithm, String)>) -> String {
    let mut app = Router::new();
    for (alg, jwks) in sets {
        app = app.route(
            &format!("/{alg}/jwks.json"),
            get(move || {
                let body = jwks.clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        );
    }
    format!("http://{}", serve_on_loopback(app))
}

/// Serves `app` on a free loopback port from its own thread and runtime, for as long as the
/// process lives; returns the address.
fn serve_on_loopback(app: Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// A token for `fx`'s key whose `kid` no key set has (the unknown-kid path).
pub fn token_with_unknown_kid(fx: &Fixture) -> String {
    let header = format!(r#"{{"alg":"{}","typ":"JWT","kid":"rotated-away"}}"#, fx.alg);
    let (_, rest) = fx.token.split_once('.').unwrap();
    format!("{}.{rest}", b64(header))
}

/// The opaque token of the introspection contenders (the example access token of RFC 6749
/// §4.1.4).
pub const OPAQUE_TOKEN: &str = "2YotnFZFEjr1zCsicMWpAA";

/// A loopback introspection endpoint (RFC 7662) on its own thread and runtime:
/// `POST /introspect` answers every call with an active token carrying the claims of every
/// other contender (`claims_json` plus `"active": true`), and counts the calls. Returns the
/// endpoint's URL and the count; the server lives as long as the process.
pub fn start_introspection_server() -> (String, Arc<AtomicUsize>) {
    let mut answer: serde_json::Value = serde_json::from_str(&claims_json()).unwrap();
    answer["active"] = json!(true);
    let answer = answer.to_string();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = Router::new().route(
        "/introspect",
        post(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            let body = answer.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    (format!("http://{}/introspect", serve_on_loopback(app)), calls)
}

/// (b, introspection): opaque tokens only, introspected at `endpoint` with
/// `client_secret_basic`, answers reused for `cache_ttl` (`Duration::ZERO`: a call on every
/// request); issuer and audience checked as for the JWT contenders.
pub fn introspection_auth(endpoint: &str, cache_ttl: Duration) -> JwtAuth<BenchClaims> {
    introspection_auth_with(endpoint, |config| config.cache_ttl(cache_ttl))
}

/// The same, with the introspection configuration changed by `configure` (a cache bound, say).
pub fn introspection_auth_with(
    endpoint: &str,
    configure: impl FnOnce(Introspection) -> Introspection,
) -> JwtAuth<BenchClaims> {
    let config = Introspection::endpoint(endpoint).client_secret_basic("api", "s3cret");
    JwtAuth::<BenchClaims>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .introspection(configure(config))
        .token_kinds(TokenKinds::Opaque)
        .build()
        .unwrap()
}
