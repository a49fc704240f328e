//! The attack corpus: every attack class of the security checklist
//! (`shared/SECURITY-CHECKLIST.md`) as one table, organised by the checklist's sections, one row
//! per attack, named after the attack and its CVE or RFC section where one exists.
//!
//! Each row is one HTTP request sent with `tower::ServiceExt::oneshot` through an axum `Router`
//! carrying `auth.layer()`; the row states the status and the exact `WWW-Authenticate` answer
//! (so the `error=` code and `error_description` too). Rows against a remote key set also state
//! how many fetches they may cause on the identity provider's loopback JWKS server, and the
//! attacker's loopback server (named by `jku` / `x5u` / discovery) must never be asked anything.
//!
//! Checks over the whole table ("Always" in the checklist): no answer is a 500; refusals have an
//! empty body; no answer echoes the token or a key id the server does not publish; the
//! `tracing` output of the whole run (every level) never holds a token or a secret.
//!
//! Everything runs on one current-thread runtime; every server is on 127.0.0.1.
#![cfg(feature = "remote")]

use crate::common;
use crate::jwks_server;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{HeaderValue, Request, StatusCode, header};
use jwks_server::{Behaviour, JwksServer};
use jwt_layer::keys::{KeyError, RemoteJwks, StaticKeys, VerifyingKey};
use jwt_layer::{Algorithm, Claims, ClientCertificate, JwtAuth, TrustedIssuer};
use serde_json::{Value, json};
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// The apps under attack.

/// Which configuration a row is sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Every test key (HMAC, RSA, P-256, P-384, P-521, Ed25519) from a static JWKS.
    Static,
    /// `Static` with `dangerous_token_query_parameter("access_token")`.
    StaticWithQuery,
    /// One RSA key, published with `alg: RS256`.
    PinnedRs256,
    /// `Static` with `require_type("at+jwt")`.
    TypeAtJwt,
    /// A remote JWKS (the IdP's loopback server): every test key plus an `enc`-only RSA key.
    Remote,
    /// Two trusted issuers: `ISSUER` with a remote JWKS (its own loopback server),
    /// `OTHER_ISSUER` with a static HMAC secret.
    Issuers,
    /// A remote JWKS whose server refuses connections: no key set was ever fetched.
    NeverFetched,
    /// OIDC discovery whose document names another issuer.
    DiscoveryMismatch,
    /// `Static` with `certificate_bound_tokens()` (RFC 8705 §3).
    CertificateBound,
}

const OTHER_ISSUER: &str = "https://other-issuer.test";

struct Apps {
    routers: Vec<(Target, Router)>,
    /// The identity provider's JWKS server behind `Target::Remote`.
    idp: JwksServer,
    /// The JWKS server of the `Issuers` target's first issuer.
    issuer_idp: JwksServer,
    /// Serves a discovery document that names another issuer.
    discovery: JwksServer,
    /// The attacker's server: named by `jku`, `x5u`, `jwk` URLs; must never be asked.
    attacker: JwksServer,
}

impl Apps {
    fn router(&self, target: Target) -> Router {
        self.routers.iter().find(|(t, _)| *t == target).unwrap().1.clone()
    }

    /// Fetches made so far by the crate to every identity-provider server.
    fn idp_fetches(&self) -> u64 {
        self.idp.fetches() + self.issuer_idp.fetches() + self.discovery.fetches()
    }
}

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

async fn ok() -> &'static str {
    "ok"
}

fn router(auth: JwtAuth<Value>) -> Router {
    Router::new()
        .route("/me", get(me).post(me))
        .route("/admin", get(ok).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
        .layer(auth.layer())
}

fn builder() -> jwt_layer::JwtAuthBuilder<Value> {
    JwtAuth::builder().issuer(ISSUER).audience(AUDIENCE)
}

/// The RS256 test key as a JWK with `use: enc` (kid `enc-rsa`): published, never for
/// signatures.
fn enc_only_rsa_jwk() -> Value {
    let mut jwk = rs256_only_jwk();
    jwk["kid"] = json!("enc-rsa");
    jwk["use"] = json!("enc");
    jwk
}

fn rs256_only_jwk() -> Value {
    issuer().jwk(Algorithm::RS256)
}

/// The second issuer's only key: its HS256 secret, under no `kid`.
fn other_issuer_keys() -> StaticKeys {
    StaticKeys::hmac(base64_decode(stranger().jwk(Algorithm::HS256)["k"].as_str().unwrap()))
        .unwrap()
}

async fn apps() -> Apps {
    // Every test key, the HMAC secrets included (`oct` keys, which a remote set skips).
    let mut idp_document = issuer().jwks_json_with_secrets();
    idp_document["keys"].as_array_mut().unwrap().push(enc_only_rsa_jwk());
    let idp = JwksServer::start(Behaviour::json(idp_document)).await;
    let issuer_idp = JwksServer::start(Behaviour::json(issuer().jwks_json_with_secrets())).await;
    let attacker = JwksServer::start(Behaviour::json(json!({"keys": [attacker_jwk()]}))).await;
    let discovery = JwksServer::start(Behaviour::json(Value::Null)).await;
    // The document names another issuer, with a jwks_uri that would work.
    discovery.set(|b| {
        b.payload = jwks_server::Payload::Json(
            json!({"issuer": "https://evil.example", "jwks_uri": issuer_idp.url()}),
        )
    });
    // A port that was just free: bound, then released.
    let dead_url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };

    let static_keys = || issuer().keys();
    let remote = |url: &str| {
        RemoteJwks::builder(url)
            .cooldown(Duration::from_secs(60))
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    };

    let idp_keys = remote(&idp.url());
    idp_keys.refresh().await.expect("warm-up fetch of the IdP's key set");
    let issuer_keys = remote(&issuer_idp.url());
    issuer_keys.refresh().await.expect("warm-up fetch of the first issuer's key set");

    let discovery_keys = RemoteJwks::discover_builder(format!("http://{}", discovery.addr()))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();

    let routers = vec![
        (Target::Static, router(builder().keys(static_keys()).build().unwrap())),
        (
            Target::StaticWithQuery,
            router(
                builder()
                    .keys(static_keys())
                    .dangerous_token_query_parameter("access_token")
                    .build()
                    .unwrap(),
            ),
        ),
        (
            Target::PinnedRs256,
            router(
                builder()
                    .keys(
                        StaticKeys::new([
                            VerifyingKey::from_jwk(rs256_only_jwk().to_string()).unwrap()
                        ])
                        .unwrap(),
                    )
                    .build()
                    .unwrap(),
            ),
        ),
        (
            Target::TypeAtJwt,
            router(builder().keys(static_keys()).require_type("at+jwt").build().unwrap()),
        ),
        (Target::Remote, router(builder().keys(idp_keys).build().unwrap())),
        (
            Target::Issuers,
            router(
                JwtAuth::builder()
                    .trusted_issuer(TrustedIssuer::new(ISSUER, issuer_keys).audience(AUDIENCE))
                    .trusted_issuer(
                        TrustedIssuer::new(OTHER_ISSUER, other_issuer_keys()).audience(AUDIENCE),
                    )
                    .build()
                    .unwrap(),
            ),
        ),
        (Target::NeverFetched, router(builder().keys(remote(&dead_url)).build().unwrap())),
        (Target::DiscoveryMismatch, router(builder().keys(discovery_keys).build().unwrap())),
        (
            Target::CertificateBound,
            router(builder().keys(static_keys()).certificate_bound_tokens().build().unwrap()),
        ),
    ];
    Apps { routers, idp, issuer_idp, discovery, attacker }
}

// ---------------------------------------------------------------------------------------------
// Tokens.

/// `header.payload` with an HMAC-SHA256 tag made with `secret`.
fn hs256_with(secret: &[u8], header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// header.payload.signature from raw parts (the signature segment as given).
fn unsigned(header: &str, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(claims.to_string()), signature)
}

fn claims_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut claims = good_claims();
    edit(claims.as_object_mut().unwrap());
    claims
}

/// A token signed by the test key of `alg`, with header `{alg, kid}` plus `extra` members.
fn signed(alg: Algorithm, kid: Option<&str>, extra: Value, claims: &Value) -> String {
    let mut header = json!({"alg": alg.as_str()});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    for (name, value) in extra.as_object().unwrap() {
        header[name] = value.clone();
    }
    issuer().token().alg(alg).raw_header(&header.to_string()).claims(claims.clone()).sign()
}

fn good(alg: Algorithm) -> String {
    issuer().token().alg(alg).claims(good_claims()).sign()
}

fn replace_segment(token: &str, index: usize, segment: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = segment;
    parts.join(".")
}

fn flip_last_char(segment: &str) -> String {
    let mut bytes = segment.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Requests.

fn bearer(token: &str) -> Request<Body> {
    request("/me", Some(&format!("Bearer {token}")))
}

fn authorization(value: &str) -> Request<Body> {
    request("/me", Some(value))
}

fn authorization_bytes(value: &[u8]) -> Request<Body> {
    Request::get("/me")
        .header(header::AUTHORIZATION, HeaderValue::from_bytes(value).unwrap())
        .body(Body::empty())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The table.

struct Row {
    section: &'static str,
    name: &'static str,
    target: Target,
    request: Request<Body>,
    status: StatusCode,
    /// The exact `WWW-Authenticate` value, or `None` when there must be none.
    challenge: Option<String>,
    /// The fetches this row causes on the identity providers' servers, exactly.
    fetches: u64,
}

struct Table {
    section: &'static str,
    rows: Vec<Row>,
}

impl Table {
    fn section(&mut self, name: &'static str) {
        self.section = name;
    }

    fn row(
        &mut self,
        name: &'static str,
        target: Target,
        request: Request<Body>,
        expected: (StatusCode, Option<String>),
    ) {
        self.row_fetching(name, target, request, expected, 0);
    }

    fn row_fetching(
        &mut self,
        name: &'static str,
        target: Target,
        request: Request<Body>,
        (status, challenge): (StatusCode, Option<String>),
        fetches: u64,
    ) {
        assert!(!self.rows.iter().any(|r| r.name == name), "duplicate row name {name}");
        self.rows.push(Row {
            section: self.section,
            name,
            target,
            request,
            status,
            challenge,
            fetches,
        });
    }
}

const OK: (StatusCode, Option<String>) = (StatusCode::OK, None);

fn no_credentials() -> (StatusCode, Option<String>) {
    (StatusCode::UNAUTHORIZED, Some(r#"Bearer realm="api""#.to_owned()))
}

fn invalid_token(description: &str) -> (StatusCode, Option<String>) {
    (
        StatusCode::UNAUTHORIZED,
        Some(format!(
            r#"Bearer realm="api", error="invalid_token", error_description="{description}""#
        )),
    )
}

fn invalid_request(description: &str) -> (StatusCode, Option<String>) {
    (
        StatusCode::BAD_REQUEST,
        Some(format!(
            r#"Bearer realm="api", error="invalid_request", error_description="{description}""#
        )),
    )
}

fn insufficient_scope(scope: &str) -> (StatusCode, Option<String>) {
    (
        StatusCode::FORBIDDEN,
        Some(format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="{scope}""#
        )),
    )
}

#[allow(clippy::too_many_lines)]
fn table(apps: &Apps) -> Table {
    use Target::*;
    let mut t = Table { section: "", rows: Vec::new() };
    let now = now();
    let rs256 = good(Algorithm::RS256);
    let hs256 = good(Algorithm::HS256);
    let rsa_public_der = public_key_bytes(Algorithm::RS256);
    let p256_point = public_key_bytes(Algorithm::ES256);
    let ed25519_public = public_key_bytes(Algorithm::EdDSA);

    // =========================================================================================
    t.section("Finding the token (RFC 6750, RFC 7235)");
    t.row("scheme_lowercase_rfc7235_2_1", Static, authorization(&format!("bearer {hs256}")), OK);
    t.row("scheme_uppercase_rfc7235_2_1", Static, authorization(&format!("BEARER {hs256}")), OK);
    t.row("no_authorization_header_rfc6750_3_1", Static, request("/me", None), no_credentials());
    t.row(
        "basic_scheme_is_no_bearer_credentials_rfc6750_3_1",
        Static,
        authorization("Basic dXNlcjpwYXNzd29yZA=="),
        no_credentials(),
    );
    t.row(
        "token_under_another_scheme_is_not_read",
        Static,
        authorization(&format!("Token {hs256}")),
        no_credentials(),
    );
    t.row(
        "bearer_without_token_rfc6750_3_1",
        Static,
        authorization("Bearer"),
        invalid_request("bearer scheme without a token"),
    );
    t.row(
        "bearer_with_blank_token_rfc6750_3_1",
        Static,
        authorization("Bearer  \t "),
        invalid_request("bearer scheme without a token"),
    );
    t.row(
        "several_authorization_headers_rfc6750_2",
        Static,
        {
            let mut r = bearer(&hs256);
            r.headers_mut()
                .append(header::AUTHORIZATION, format!("Bearer {rs256}").parse().unwrap());
            r
        },
        invalid_request("more than one authorization header"),
    );
    t.row(
        "two_tokens_in_one_header",
        Static,
        authorization(&format!("Bearer {hs256} {rs256}")),
        invalid_request("malformed bearer credentials"),
    );
    t.row(
        "auth_param_smuggled_after_token_rfc7235_2_1",
        Static,
        authorization(&format!(r#"Bearer {hs256}, error="none""#)),
        invalid_request("malformed bearer credentials"),
    );
    t.row(
        "token_outside_b64token_charset_rfc6750_2_1",
        Static,
        authorization("Bearer eyJh$bGci.e30.c2ln"),
        invalid_token("malformed token"),
    );
    t.row(
        "quote_in_token_rfc6750_2_1",
        Static,
        authorization(r#"Bearer eyJh"bGci.e30.c2ln"#),
        invalid_token("malformed token"),
    );
    t.row(
        "obs_text_bytes_in_header_rfc9110_5_5",
        Static,
        authorization_bytes(b"Bearer eyJ\xfc\xff.e30.c2ln"),
        invalid_request("authorization header is not visible ASCII"),
    );
    t.row(
        "b64token_but_not_base64url_chars",
        Static,
        authorization("Bearer ab+c/d~e.e30.c2ln"),
        invalid_token("malformed token"),
    );
    t.row(
        "token_over_the_8_kib_cap_before_decoding",
        Static,
        bearer(&format!("{}.{}.{}", "A".repeat(4000), "A".repeat(4000), "A".repeat(400))),
        invalid_token("token too large"),
    );
    t.row(
        "authorization_header_over_the_cap_refused_before_scanning",
        Static,
        authorization(&format!("Bearer {}", "a".repeat(20_000))),
        invalid_token("token too large"),
    );
    t.row(
        "query_token_ignored_by_default_rfc6750_2_3_rfc9700_4_3_2",
        Static,
        request(&format!("/me?access_token={hs256}"), None),
        no_credentials(),
    );
    t.row(
        "query_token_read_only_when_enabled_rfc6750_2_3",
        StaticWithQuery,
        request(&format!("/me?access_token={hs256}"), None),
        OK,
    );
    t.row(
        "token_in_header_and_query_rfc6750_2",
        StaticWithQuery,
        request(&format!("/me?access_token={hs256}"), Some(&format!("Bearer {hs256}"))),
        invalid_request("token sent in more than one place"),
    );
    t.row(
        "token_twice_in_query",
        StaticWithQuery,
        request(&format!("/me?access_token={hs256}&access_token={rs256}"), None),
        invalid_request("token parameter given more than once"),
    );
    t.row(
        "form_body_token_not_read_rfc6750_2_2",
        Static,
        Request::post("/me")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("access_token={hs256}")))
            .unwrap(),
        no_credentials(),
    );
    t.row(
        "error_description_names_no_unpublished_kid",
        Static,
        bearer(&signed(
            Algorithm::HS256,
            Some("secret-internal-kid-42"),
            json!({}),
            &good_claims(),
        )),
        invalid_token("no matching key"),
    );
    t.row(
        "scope_missing_is_403_insufficient_scope_rfc6750_3_1",
        Static,
        {
            let mut r = bearer(&hs256);
            *r.uri_mut() = "/admin".parse().unwrap();
            r
        },
        insufficient_scope("admin"),
    );

    // =========================================================================================
    t.section("The JOSE header (RFC 7515, RFC 8725)");
    for (name, alg) in [
        ("alg_none_rfc8725_3_1", "none"),
        ("alg_None_mixed_case_rfc8725_3_1", "None"),
        ("alg_NONE_upper_case_rfc8725_3_1", "NONE"),
        ("alg_nOnE_any_casing_rfc8725_3_1", "nOnE"),
    ] {
        t.row(
            name,
            Static,
            bearer(&unsigned(
                &json!({"alg": alg, "kid": issuer().kid(Algorithm::HS256)}).to_string(),
                &good_claims(),
                "",
            )),
            invalid_token("unsupported algorithm"),
        );
    }
    t.row(
        "alg_none_with_a_signature_rfc8725_3_1",
        Static,
        bearer(&replace_segment(
            &hs256,
            0,
            &b64(format!(r#"{{"alg":"none","kid":"{}"}}"#, issuer().kid(Algorithm::HS256))),
        )),
        invalid_token("unsupported algorithm"),
    );
    t.row(
        "alg_empty_string",
        Static,
        bearer(&unsigned(
            &format!(r#"{{"alg":"","kid":"{}"}}"#, issuer().kid(Algorithm::HS256)),
            &good_claims(),
            "",
        )),
        invalid_token("unsupported algorithm"),
    );
    t.row(
        "alg_missing_rfc7515_4_1_1",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(r#"{{"kid":"{}"}}"#, issuer().kid(Algorithm::HS256)))
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row(
        "alg_lowercase_hs256_is_not_HS256_rfc7515_4_1_1",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"hs256","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("unsupported algorithm"),
    );
    t.row(
        "hs256_with_rsa_public_key_as_secret_cve_2016_10555",
        Static,
        bearer(&hs256_with(
            &rsa_public_der,
            &format!(r#"{{"alg":"HS256","kid":"{}"}}"#, issuer().kid(Algorithm::RS256)),
            &good_claims().to_string(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "hs256_with_rsa_jwk_as_secret_without_kid_cve_2016_10555",
        Static,
        bearer(&hs256_with(
            rs256_only_jwk().to_string().as_bytes(),
            r#"{"alg":"HS256"}"#,
            &good_claims().to_string(),
        )),
        invalid_token("invalid signature"),
    );
    t.row(
        "hs256_with_ec_public_key_as_secret_cve_2022_29217",
        Static,
        bearer(&hs256_with(
            &p256_point,
            &format!(r#"{{"alg":"HS256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256)),
            &good_claims().to_string(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "hs256_with_ed25519_public_key_as_secret_cve_2022_29217",
        Static,
        bearer(&hs256_with(
            &ed25519_public,
            &format!(r#"{{"alg":"HS256","kid":"{}"}}"#, issuer().kid(Algorithm::EdDSA)),
            &good_claims().to_string(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "hs256_with_rsa_key_as_secret_against_a_pinned_rsa_key_cve_2016_10555",
        PinnedRs256,
        bearer(&hs256_with(&rsa_public_der, r#"{"alg":"HS256"}"#, &good_claims().to_string())),
        invalid_token("no matching key"),
    );
    t.row(
        "oct_key_never_verifies_rs256_rfc8725_3_1",
        Static,
        bearer(&signed(
            Algorithm::RS256,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "oct_key_never_verifies_es256_rfc8725_3_1",
        Static,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "oct_key_never_verifies_eddsa_rfc8725_3_1",
        Static,
        bearer(&signed(
            Algorithm::EdDSA,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "rsa_key_never_verifies_es256_rfc8725_3_1",
        Static,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::RS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "p256_key_never_verifies_es384_rfc7518_3_4",
        Static,
        bearer(&signed(
            Algorithm::ES384,
            Some(issuer().kid(Algorithm::ES256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "es512_signed_by_p521_key_accepted",
        Static,
        bearer(&signed(
            Algorithm::ES512,
            Some(issuer().kid(Algorithm::ES512).as_str()),
            json!({}),
            &good_claims(),
        )),
        OK,
    );
    t.row(
        "p256_key_never_verifies_es512_rfc7518_3_4",
        Static,
        bearer(&signed(
            Algorithm::ES512,
            Some(issuer().kid(Algorithm::ES256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "p384_key_never_verifies_es512_rfc7518_3_4",
        Static,
        bearer(&signed(
            Algorithm::ES512,
            Some(issuer().kid(Algorithm::ES384).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "p521_key_never_verifies_es256_rfc7518_3_4",
        Static,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::ES512).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "p521_key_never_verifies_es384_rfc7518_3_4",
        Static,
        bearer(&signed(
            Algorithm::ES384,
            Some(issuer().kid(Algorithm::ES512).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "es512_header_over_an_es256_signature_rfc7518_3_4",
        Static,
        {
            let input = format!(
                "{}.{}",
                b64(format!(r#"{{"alg":"ES512","kid":"{}"}}"#, issuer().kid(Algorithm::ES512))),
                b64(good_claims().to_string())
            );
            bearer(&format!("{input}.{}", b64(issuer().sign(Algorithm::ES256, input.as_bytes()))))
        },
        invalid_token("invalid signature"),
    );
    t.row(
        "jwk_pinned_to_rs256_refuses_rs384_rfc8725_2_1",
        PinnedRs256,
        bearer(&signed(
            Algorithm::RS384,
            Some(issuer().kid(Algorithm::RS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "jwk_pinned_to_rs256_refuses_ps256_rfc8725_2_1",
        PinnedRs256,
        bearer(&signed(
            Algorithm::PS256,
            Some(issuer().kid(Algorithm::RS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("algorithm not allowed"),
    );
    t.row(
        "jwk_pinned_to_rs256_accepts_rs256",
        PinnedRs256,
        bearer(&signed(
            Algorithm::RS256,
            Some(issuer().kid(Algorithm::RS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        OK,
    );
    t.row_fetching(
        "unknown_kid_refreshes_once_rfc7517_4_5",
        Remote,
        bearer(&signed(Algorithm::EdDSA, Some("rotated-in-later"), json!({}), &good_claims())),
        invalid_token("no matching key"),
        1,
    );
    t.row_fetching(
        "unknown_kid_again_within_the_cooldown_fetches_nothing",
        Remote,
        bearer(&signed(Algorithm::EdDSA, Some("another-unknown"), json!({}), &good_claims())),
        invalid_token("no matching key"),
        0,
    );
    t.row_fetching(
        "embedded_jwk_cve_2018_0114",
        Remote,
        bearer(&attacker_signed(&json!({"alg":"EdDSA","jwk": attacker_jwk()}), &good_claims())),
        invalid_token("invalid signature"),
        0,
    );
    t.row_fetching(
        "embedded_jwk_with_its_own_kid_cve_2018_0114",
        Remote,
        bearer(&attacker_signed(
            &json!({"alg":"EdDSA","kid":"attacker","jwk": attacker_jwk()}),
            &good_claims(),
        )),
        invalid_token("no matching key"),
        0,
    );
    t.row_fetching(
        "jku_to_attacker_server_never_fetched_ssrf",
        Remote,
        bearer(&attacker_signed(
            &json!({"alg":"EdDSA","kid":"attacker","jku": apps.attacker.url()}),
            &good_claims(),
        )),
        invalid_token("no matching key"),
        0,
    );
    t.row_fetching(
        "jku_with_a_published_kid_never_fetched",
        Remote,
        bearer(&attacker_signed(
            &json!({"alg":"EdDSA","kid":issuer().kid(Algorithm::EdDSA),"jku": apps.attacker.url()}),
            &good_claims(),
        )),
        invalid_token("invalid signature"),
        0,
    );
    t.row_fetching(
        "x5u_to_attacker_server_never_fetched_ssrf",
        Remote,
        bearer(&attacker_signed(
            &json!({"alg":"EdDSA","kid":"attacker","x5u": apps.attacker.url()}),
            &good_claims(),
        )),
        invalid_token("no matching key"),
        0,
    );
    t.row_fetching(
        "x5c_attacker_certificate_never_used_rfc7515_4_1_6",
        Remote,
        bearer(&attacker_signed(
            &json!({"alg":"EdDSA","x5c":[attacker_jwk()["x"].clone()]}),
            &good_claims(),
        )),
        invalid_token("invalid signature"),
        0,
    );
    t.row(
        "crit_rfc7515_4_1_11",
        Static,
        bearer(&signed(
            Algorithm::HS256,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({"crit":["exp"],"exp":1}),
            &good_claims(),
        )),
        invalid_token("unsupported critical header"),
    );
    t.row(
        "crit_empty_array_rfc7515_4_1_11",
        Static,
        bearer(&signed(
            Algorithm::HS256,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({"crit":[]}),
            &good_claims(),
        )),
        invalid_token("unsupported critical header"),
    );
    t.row(
        "b64_false_unencoded_payload_rfc7797_3",
        Static,
        bearer(&signed(
            Algorithm::HS256,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({"b64":false,"crit":["b64"]}),
            &good_claims(),
        )),
        invalid_token("unsupported critical header"),
    );
    t.row(
        "b64_false_without_crit_rfc7797_6",
        Static,
        bearer(&signed(
            Algorithm::HS256,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({"b64":false}),
            &good_claims(),
        )),
        invalid_token("unsupported critical header"),
    );
    for (name, kid) in [
        ("kid_path_traversal_is_only_a_lookup_key", "../../../../../../dev/null"),
        ("kid_sql_injection_is_only_a_lookup_key", "' UNION SELECT 'secret' --"),
        ("kid_shell_injection_is_only_a_lookup_key", "$(curl attacker.example)|id;`id`"),
        ("kid_url_is_only_a_lookup_key", "https://attacker.example/jwks.json"),
        ("kid_nul_byte_is_only_a_lookup_key", "hmac\u{0}"),
    ] {
        t.row(
            name,
            Static,
            bearer(&signed(Algorithm::HS256, Some(kid), json!({}), &good_claims())),
            invalid_token("no matching key"),
        );
    }
    t.row(
        "kid_very_long_is_only_a_lookup_key",
        Static,
        bearer(&signed(Algorithm::HS256, Some(&"k".repeat(3000)), json!({}), &good_claims())),
        invalid_token("no matching key"),
    );
    t.row(
        "kid_not_a_string",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(r#"{"alg":"HS256","kid":{"$ne":null}}"#)
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row_fetching(
        "kid_url_against_a_remote_set_fetches_nothing_from_it",
        Remote,
        bearer(&signed(Algorithm::EdDSA, Some(&apps.attacker.url()), json!({}), &good_claims())),
        invalid_token("no matching key"),
        0,
    );
    t.row(
        "typ_jwt_when_at_jwt_required_rfc8725_3_11_rfc9068_4",
        TypeAtJwt,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::ES256).as_str()),
            json!({"typ":"JWT"}),
            &good_claims(),
        )),
        invalid_token("invalid token type"),
    );
    t.row(
        "typ_missing_when_at_jwt_required_rfc8725_3_11",
        TypeAtJwt,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::ES256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("invalid token type"),
    );
    t.row(
        "typ_with_trailing_space_rfc8725_3_11",
        TypeAtJwt,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::ES256).as_str()),
            json!({"typ":"at+jwt "}),
            &good_claims(),
        )),
        invalid_token("invalid token type"),
    );
    t.row(
        "typ_application_jwt_is_not_at_jwt",
        TypeAtJwt,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::ES256).as_str()),
            json!({"typ":"application/jwt"}),
            &good_claims(),
        )),
        invalid_token("invalid token type"),
    );
    t.row(
        "typ_any_case_with_application_prefix_rfc7515_4_1_9",
        TypeAtJwt,
        bearer(&signed(
            Algorithm::ES256,
            Some(issuer().kid(Algorithm::ES256).as_str()),
            json!({"typ":"Application/AT+JWT"}),
            &good_claims(),
        )),
        OK,
    );
    t.row(
        "duplicate_alg_valid_first_then_none_rfc7515_4_rfc8725_3_2",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}","alg":"none"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row(
        "duplicate_alg_none_first_then_valid_rfc7515_4_rfc8725_3_2",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"none","kid":"{}","alg":"HS256"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("unsupported algorithm"),
    );
    t.row(
        "duplicate_kid_in_header_rfc7515_4",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"nope","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row(
        "duplicate_member_nested_in_header_rfc8725_3_2",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}","x":{{"a":1,"a":2}}}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row(
        "header_is_a_json_array",
        Static,
        bearer(&unsigned(r#"["HS256"]"#, &good_claims(), "c2ln")),
        invalid_token("malformed token"),
    );
    t.row(
        "header_with_trailing_bytes",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}"}}x"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(good_claims())
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row(
        "jwe_five_segments_out_of_scope",
        Static,
        bearer("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"),
        invalid_token("malformed token"),
    );

    // =========================================================================================
    t.section("Signature (RFC 7515 §5.2, RFC 8725 §3.4, §3.5)");
    t.row(
        "header_changed_after_signing",
        Static,
        bearer(&replace_segment(
            &hs256,
            0,
            &b64(format!(
                r#"{{"alg":"HS256","kid":"{}","typ":"at+jwt"}}"#,
                issuer().kid(Algorithm::HS256)
            )),
        )),
        invalid_token("invalid signature"),
    );
    t.row(
        "claims_changed_after_signing_privilege_escalation",
        Static,
        bearer(&replace_segment(
            &rs256,
            1,
            &b64(claims_with(|c| {
                c.insert("scope".into(), json!("admin"));
            })
            .to_string()),
        )),
        invalid_token("invalid signature"),
    );
    t.row(
        "signature_byte_changed",
        Static,
        bearer(&replace_segment(&rs256, 2, &flip_last_char(rs256.split('.').nth(2).unwrap()))),
        invalid_token("invalid signature"),
    );
    t.row(
        "stripped_signature_rs256",
        Static,
        bearer(&replace_segment(&rs256, 2, "")),
        invalid_token("invalid signature"),
    );
    t.row(
        "stripped_signature_hs256",
        Static,
        bearer(&replace_segment(&hs256, 2, "")),
        invalid_token("invalid signature"),
    );
    t.row(
        "signature_swapped_from_another_token",
        Static,
        {
            let other = issuer()
                .token()
                .alg(Algorithm::RS256)
                .claims(claims_with(|c| {
                    c.insert("sub".into(), json!("x"));
                }))
                .sign();
            bearer(&replace_segment(&rs256, 2, other.split('.').nth(2).unwrap()))
        },
        invalid_token("invalid signature"),
    );
    t.row(
        "hs384_tag_on_an_hs256_header",
        Static,
        bearer(&replace_segment(&hs256, 2, good(Algorithm::HS384).split('.').nth(2).unwrap())),
        invalid_token("invalid signature"),
    );
    t.row(
        "psychic_signature_es256_cve_2022_21449",
        Static,
        bearer(&unsigned(
            &format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256)),
            &good_claims(),
            &b64([0u8; 64]),
        )),
        invalid_token("invalid signature"),
    );
    t.row(
        "psychic_signature_es384_cve_2022_21449",
        Static,
        bearer(&unsigned(
            &format!(r#"{{"alg":"ES384","kid":"{}"}}"#, issuer().kid(Algorithm::ES384)),
            &good_claims(),
            &b64([0u8; 96]),
        )),
        invalid_token("invalid signature"),
    );
    t.row(
        "ecdsa_der_signature_rfc7518_3_4",
        Static,
        {
            let input = format!(
                "{}.{}",
                b64(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256))),
                b64(good_claims().to_string())
            );
            let der = der_from_fixed(&issuer().sign(Algorithm::ES256, input.as_bytes()));
            bearer(&format!("{input}.{}", b64(der)))
        },
        invalid_token("invalid signature"),
    );
    t.row(
        "psychic_signature_es512_cve_2022_21449",
        Static,
        bearer(&unsigned(
            &format!(r#"{{"alg":"ES512","kid":"{}"}}"#, issuer().kid(Algorithm::ES512)),
            &good_claims(),
            &b64([0u8; 132]),
        )),
        invalid_token("invalid signature"),
    );
    t.row(
        "es512_der_signature_rfc7518_3_4",
        Static,
        {
            let input = format!(
                "{}.{}",
                b64(format!(r#"{{"alg":"ES512","kid":"{}"}}"#, issuer().kid(Algorithm::ES512))),
                b64(good_claims().to_string())
            );
            let der = der_from_fixed(&issuer().sign(Algorithm::ES512, input.as_bytes()));
            bearer(&format!("{input}.{}", b64(der)))
        },
        invalid_token("invalid signature"),
    );
    // RFC 7518 §3.4: an ES512 signature is exactly 132 bytes (66-byte r and s).
    let es512 = good(Algorithm::ES512);
    let es512_signature = base64_decode(es512.split('.').nth(2).unwrap());
    let (r, s) = es512_signature.split_at(66);
    for (name, signature) in [
        ("es512_signature_one_byte_short", es512_signature[..131].to_vec()),
        ("es512_signature_one_byte_long", [&es512_signature[..], &[0]].concat()),
        // A signer that trims the top byte of each half (at most one bit of it is used).
        ("es512_signature_r_and_s_of_65_bytes", [&r[1..], &s[1..]].concat()),
    ] {
        t.row(
            name,
            Static,
            bearer(&replace_segment(&es512, 2, &b64(signature))),
            invalid_token("invalid signature"),
        );
    }
    t.row(
        "ed25519_malleable_signature_s_plus_l_rfc8032_5_1_7",
        Static,
        {
            let token = good(Algorithm::EdDSA);
            let signature = base64_decode(token.split('.').nth(2).unwrap());
            bearer(&replace_segment(&token, 2, &b64(ed25519_s_plus_l(&signature))))
        },
        invalid_token("invalid signature"),
    );
    t.row(
        "rsa_signature_truncated",
        Static,
        {
            let signature = base64_decode(rs256.split('.').nth(2).unwrap());
            bearer(&replace_segment(&rs256, 2, &b64(&signature[..255])))
        },
        invalid_token("invalid signature"),
    );
    t.row(
        "signature_oversized",
        Static,
        bearer(&replace_segment(&rs256, 2, &b64([7u8; 2048]))),
        invalid_token("invalid signature"),
    );
    t.row(
        "signature_with_base64_padding_rfc7515_2",
        Static,
        bearer(&format!("{rs256}==")),
        invalid_token("malformed token"),
    );
    t.row(
        "signature_non_canonical_base64_rfc4648_3_5",
        Static,
        bearer(&replace_segment(&hs256, 2, &non_canonical(hs256.split('.').nth(2).unwrap()))),
        invalid_token("invalid signature"),
    );
    t.row(
        "header_non_canonical_base64_rfc4648_3_5",
        Static,
        {
            // Re-signed over the altered header, so only the strict decoding can refuse it.
            let header = non_canonical(&b64(format!(
                r#"{{"alg":"HS256","kid":"{}"}}"#,
                issuer().kid(Algorithm::HS256)
            )));
            let input = format!("{header}.{}", b64(good_claims().to_string()));
            bearer(&format!("{input}.{}", b64(issuer().sign(Algorithm::HS256, input.as_bytes()))))
        },
        invalid_token("malformed token"),
    );

    // =========================================================================================
    t.section("Claims (RFC 7519, RFC 8725, RFC 9068)");
    let with = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        bearer(&issuer().token().alg(Algorithm::ES256).claims(claims_with(|c| edit(c))).sign())
    };
    t.row(
        "expired_beyond_leeway_rfc7519_4_1_4",
        Static,
        with(&|c| {
            c.insert("exp".into(), json!(now - 61));
        }),
        invalid_token("token expired"),
    );
    t.row(
        "expired_within_leeway_rfc7519_4_1_4",
        Static,
        with(&|c| {
            c.insert("exp".into(), json!(now - 30));
        }),
        OK,
    );
    t.row(
        "not_yet_valid_beyond_leeway_rfc7519_4_1_5",
        Static,
        with(&|c| {
            c.insert("nbf".into(), json!(now + 120));
        }),
        invalid_token("token not yet valid"),
    );
    t.row(
        "exp_missing_required_by_default_rfc8725_3_10",
        Static,
        with(&|c| {
            c.remove("exp");
        }),
        invalid_token("missing required claim"),
    );
    t.row(
        "exp_as_string_rfc7519_2_numericdate",
        Static,
        with(&|c| {
            c.insert("exp".into(), json!("4102444800"));
        }),
        invalid_token("invalid claim type"),
    );
    t.row(
        "exp_as_null_rfc7519_2_numericdate",
        Static,
        with(&|c| {
            c.insert("exp".into(), Value::Null);
        }),
        invalid_token("invalid claim type"),
    );
    t.row(
        "exp_as_array_rfc7519_2_numericdate",
        Static,
        with(&|c| {
            c.insert("exp".into(), json!([4102444800u64]));
        }),
        invalid_token("invalid claim type"),
    );
    t.row(
        "nbf_as_string_rfc7519_2_numericdate",
        Static,
        with(&|c| {
            c.insert("nbf".into(), json!(now.to_string()));
        }),
        invalid_token("invalid claim type"),
    );
    t.row(
        "iat_as_string_rfc7519_2_numericdate",
        Static,
        with(&|c| {
            c.insert("iat".into(), json!("yesterday"));
        }),
        invalid_token("invalid claim type"),
    );
    t.row(
        "iss_prefix_of_trusted_issuer_rfc7519_4_1_1",
        Static,
        with(&|c| {
            c.insert("iss".into(), json!(format!("{ISSUER}.attacker.example")));
        }),
        invalid_token("invalid issuer"),
    );
    t.row(
        "iss_trailing_slash_rfc7519_4_1_1",
        Static,
        with(&|c| {
            c.insert("iss".into(), json!(format!("{ISSUER}/")));
        }),
        invalid_token("invalid issuer"),
    );
    t.row(
        "iss_case_folded_rfc7519_4_1_1",
        Static,
        with(&|c| {
            c.insert("iss".into(), json!(ISSUER.to_uppercase()));
        }),
        invalid_token("invalid issuer"),
    );
    t.row(
        "iss_missing_rfc7519_4_1_1",
        Static,
        with(&|c| {
            c.remove("iss");
        }),
        invalid_token("missing required claim"),
    );
    t.row(
        "iss_as_array_rfc7519_4_1_1",
        Static,
        with(&|c| {
            c.insert("iss".into(), json!([ISSUER]));
        }),
        invalid_token("invalid claim type"),
    );
    t.row(
        "iss_json_escapes_are_the_same_string_rfc8259_7",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .raw_payload(&good_claims().to_string().replace("https://", r"https:\/\/"))
                .sign(),
        ),
        OK,
    );
    t.row(
        "aud_array_with_one_match_rfc7519_4_1_3",
        Static,
        with(&|c| {
            c.insert("aud".into(), json!(["other-api", AUDIENCE]));
        }),
        OK,
    );
    t.row(
        "aud_mismatch_rfc8725_3_9",
        Static,
        with(&|c| {
            c.insert("aud".into(), json!("other-api"));
        }),
        invalid_token("invalid audience"),
    );
    t.row(
        "aud_prefix_rfc8725_3_9",
        Static,
        with(&|c| {
            c.insert("aud".into(), json!(format!("{AUDIENCE}-evil")));
        }),
        invalid_token("invalid audience"),
    );
    t.row(
        "aud_empty_array_rfc8725_3_9",
        Static,
        with(&|c| {
            c.insert("aud".into(), json!([]));
        }),
        invalid_token("invalid audience"),
    );
    t.row(
        "aud_missing_rfc8725_3_9",
        Static,
        with(&|c| {
            c.remove("aud");
        }),
        invalid_token("missing required claim"),
    );
    t.row(
        "aud_as_number",
        Static,
        with(&|c| {
            c.insert("aud".into(), json!(7));
        }),
        invalid_token("invalid claim type"),
    );
    t.row(
        "duplicate_exp_first_past_then_future_rfc7519_4",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::ES256)
                .raw_header(&format!(
                    r#"{{"alg":"ES256","kid":"{}"}}"#,
                    issuer().kid(Algorithm::ES256)
                ))
                .raw_payload(&format!(
                    r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"u","exp":1,"exp":{}}}"#,
                    now + 600
                ))
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row(
        "duplicate_sub_rfc7519_4",
        Static,
        bearer(&issuer().token().alg(Algorithm::ES256).raw_header(&format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256))).raw_payload(&format!(
                r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","sub":"admin","exp":{}}}"#,
                now + 600
            )).sign()),
        invalid_token("malformed token"),
    );
    t.row("duplicate_scope_privilege_escalation_rfc7519_4", Static,
        bearer(&issuer().token().alg(Algorithm::ES256).raw_header(&format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256))).raw_payload(&format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","scope":"read","exp":{},"scope":"admin"}}"#, now + 600)).sign()),
        invalid_token("malformed token"));
    t.row("duplicate_member_nested_in_claims_rfc7519_4", Static,
        bearer(&issuer().token().alg(Algorithm::ES256).raw_header(&format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256))).raw_payload(&format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"u","exp":{},"org":{{"role":"user","role":"admin"}}}}"#, now + 600)).sign()),
        invalid_token("malformed token"));
    t.row(
        "deeply_nested_claims_refused_cheaply",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .raw_payload(&format!(
                    r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"x":{}{}}}"#,
                    now + 600,
                    "[".repeat(1000),
                    "]".repeat(1000)
                ))
                .sign(),
        ),
        invalid_token("malformed token"),
    );
    t.row(
        "very_large_claims_refused_by_the_size_cap_first",
        Static,
        with(&|c| {
            c.insert("blob".into(), json!("x".repeat(20_000)));
        }),
        invalid_token("token too large"),
    );
    t.row(
        "sub_not_a_string_rfc7519_4_1_2",
        Static,
        with(&|c| {
            c.insert("sub".into(), json!(7));
        }),
        invalid_token("invalid claim type"),
    );
    // Several issuers: the unverified `iss` only picks whose keys to try.
    let issuer_b = |claims: &Value| {
        stranger()
            .token()
            .alg(Algorithm::HS256)
            .raw_header(r#"{"alg":"HS256"}"#)
            .claims(claims.clone())
            .sign()
    };
    let from_b = claims_with(|c| {
        c.insert("iss".into(), json!(OTHER_ISSUER));
    });
    t.row("several_issuers_first_issuer_accepted", Issuers, bearer(&good(Algorithm::ES256)), OK);
    t.row("several_issuers_second_issuer_accepted", Issuers, bearer(&issuer_b(&from_b)), OK);
    t.row_fetching(
        "several_issuers_unknown_iss_never_fetches",
        Issuers,
        bearer(&signed(
            Algorithm::EdDSA,
            Some("unknown-kid"),
            json!({}),
            &claims_with(|c| {
                c.insert("iss".into(), json!("https://attacker.example"));
            }),
        )),
        invalid_token("invalid issuer"),
        0,
    );
    t.row_fetching(
        "several_issuers_iss_missing_never_fetches",
        Issuers,
        bearer(&signed(
            Algorithm::EdDSA,
            Some("unknown-kid"),
            json!({}),
            &claims_with(|c| {
                c.remove("iss");
            }),
        )),
        invalid_token("missing required claim"),
        0,
    );
    t.row_fetching(
        "several_issuers_iss_not_a_string_never_fetches",
        Issuers,
        bearer(&signed(
            Algorithm::EdDSA,
            Some("unknown-kid"),
            json!({}),
            &claims_with(|c| {
                c.insert("iss".into(), json!({"$gt": ""}));
            }),
        )),
        invalid_token("malformed token"),
        0,
    );
    t.row_fetching(
        "several_issuers_duplicate_iss_to_pick_keys_rfc7519_4",
        Issuers,
        bearer(
            &stranger()
                .token()
                .alg(Algorithm::HS256)
                .raw_header(r#"{"alg":"HS256"}"#)
                .raw_payload(&format!(
                    r#"{{"iss":"{OTHER_ISSUER}","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}}"#,
                    now + 600
                ))
                .sign(),
        ),
        invalid_token("malformed token"),
        0,
    );
    // The first issuer's set is remote, so the `oct` key it publishes is skipped: the second
    // issuer's HMAC token finds no key there (one unknown-`kid` refresh).
    t.row_fetching(
        "several_issuers_second_issuers_token_claiming_the_first",
        Issuers,
        bearer(&issuer_b(&good_claims())),
        invalid_token("no matching key"),
        1,
    );
    t.row(
        "several_issuers_first_issuers_token_claiming_the_second",
        Issuers,
        bearer(&issuer().token().alg(Algorithm::ES256).claims(from_b.clone()).sign()),
        invalid_token("algorithm not allowed"),
    );

    // =========================================================================================
    t.section("Key sources (RFC 7517, OpenID Connect Discovery)");
    t.row_fetching(
        "never_fetched_key_set_fails_closed",
        NeverFetched,
        bearer(&rs256),
        invalid_token("verification keys unavailable"),
        0,
    );
    t.row_fetching(
        "enc_key_never_verifies_signatures_rfc7517_4_2",
        Remote,
        bearer(&signed(Algorithm::RS256, Some("enc-rsa"), json!({}), &good_claims())),
        invalid_token("no matching key"),
        0,
    );
    t.row_fetching(
        "discovery_document_for_another_issuer_oidc_discovery_4_3",
        DiscoveryMismatch,
        bearer(&rs256),
        invalid_token("verification keys unavailable"),
        1,
    );
    t.row_fetching("remote_set_known_key_verifies_without_a_fetch", Remote, bearer(&rs256), OK, 0);
    // The IdP's remote set publishes an `oct` key (`kid` "hmac"): a secret anyone who can read
    // the set knows. It is skipped, so a token HMAC-signed with it finds no key (the refresh
    // for the unknown `kid` was spent earlier in this cooldown).
    t.row_fetching(
        "remote_set_oct_key_never_verifies_rfc8725_3_1",
        Remote,
        bearer(&signed(
            Algorithm::HS256,
            Some(issuer().kid(Algorithm::HS256).as_str()),
            json!({}),
            &good_claims(),
        )),
        invalid_token("no matching key"),
        0,
    );

    // =========================================================================================
    t.section("Sender-constrained tokens (RFC 9449, DPoP)");
    // DPoP was not implemented when this table was written; it landed since, with its own
    // tests (tests/it/dpop.rs: every proof check of RFC 9449 §4.3, binding, nonces, replay). The
    // proof rows below are not yet in this table:
    // - dpop_proof_typ_not_dpop_jwt_rfc9449_4_3
    // - dpop_proof_symmetric_or_none_alg_rfc9449_4_3
    // - dpop_proof_jwk_is_private_or_signature_fails_rfc9449_4_3
    // - dpop_proof_htm_or_htu_mismatch_rfc9449_4_3
    // - dpop_proof_iat_outside_window_rfc9449_11_1
    // - dpop_proof_jti_replayed_rfc9449_11_1
    // - dpop_proof_ath_mismatch_rfc9449_4_3
    // - dpop_cnf_jkt_mismatch_rfc9449_6_1
    // The one row that needs no proof: without any DPoP configuration, a bound token sent with
    // the Bearer scheme is still refused.
    t.row(
        "dpop_bound_token_sent_as_bearer_rfc9449_7_1",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::ES256)
                .claims(claims_with(|c| {
                    c.insert(
                        "cnf".into(),
                        json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
                    );
                }))
                .sign(),
        ),
        invalid_token("DPoP proof required"),
    );
    // A binding the layer does not check (RFC 8705 certificate thumbprint, without
    // `certificate_bound_tokens()`) must not pass as a bearer token.
    t.row(
        "cnf_x5t_s256_without_certificate_check_rfc8705_3",
        Static,
        bearer(
            &issuer()
                .token()
                .alg(Algorithm::ES256)
                .claims(claims_with(|c| {
                    c.insert(
                        "cnf".into(),
                        json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
                    );
                }))
                .sign(),
        ),
        invalid_token("unsupported token binding"),
    );

    // =========================================================================================
    t.section("Certificate-bound tokens (RFC 8705)");
    // A certificate whose thumbprint holds `-` or `_`, so the standard alphabet differs.
    let der = (0..)
        .map(|i| format!("client certificate {i}").into_bytes())
        .find(|der| ClientCertificate::from_der(der).thumbprint().contains(['-', '_']))
        .unwrap();
    let thumbprint = ClientCertificate::from_der(&der).thumbprint().to_owned();
    let bound = |x5t: &str| {
        let cnf = json!({ "x5t#S256": x5t });
        issuer()
            .token()
            .alg(Algorithm::ES256)
            .claims(claims_with(|c| _ = c.insert("cnf".into(), cnf)))
            .sign()
    };
    let with_certificate = |token: &str, der: &[u8]| {
        let mut request = bearer(token);
        request.extensions_mut().insert(ClientCertificate::from_der(der));
        request
    };
    let mismatch = || invalid_token("certificate binding mismatch");
    t.row(
        "x5t_s256_with_its_certificate_rfc8705_3",
        CertificateBound,
        with_certificate(&bound(&thumbprint), &der),
        OK,
    );
    t.row(
        "x5t_s256_with_another_certificate_rfc8705_3",
        CertificateBound,
        with_certificate(&bound(&thumbprint), b"another client certificate"),
        mismatch(),
    );
    t.row(
        "x5t_s256_without_certificate_rfc8705_3",
        CertificateBound,
        bearer(&bound(&thumbprint)),
        mismatch(),
    );
    t.row(
        "x5t_s256_padded_rfc8705_3_1",
        CertificateBound,
        with_certificate(&bound(&format!("{thumbprint}=")), &der),
        mismatch(),
    );
    let standard = thumbprint.replace('-', "+").replace('_', "/");
    t.row(
        "x5t_s256_standard_base64_alphabet_rfc8705_3_1",
        CertificateBound,
        with_certificate(&bound(&standard), &der),
        mismatch(),
    );
    // A client-written header never stands for the connection's certificate.
    let mut forged = bearer(&bound(&thumbprint));
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
    let escaped: String =
        percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC).collect();
    forged.headers_mut().insert("x-client-cert", escaped.parse().unwrap());
    t.row(
        "x5t_s256_certificate_in_a_client_header_rfc8705_3",
        CertificateBound,
        forged,
        mismatch(),
    );

    t
}

fn base64_decode(segment: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).unwrap()
}

/// RFC 9449 §4.3 and §11.1: a proof is bound to one resource, and the `Host` header (the
/// client's to choose) never chooses it. Each request below carries a fresh proof, so only
/// `htu` can refuse it.
#[tokio::test]
async fn dpop_htu_never_comes_from_the_host_header_rfc9449_11_1() {
    use jwt_layer::Dpop;
    use jwt_layer::testing::{DpopKey, TestIssuer};

    let idp = TestIssuer::new("https://idp.example.test");
    let auth = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience("api")
        .dpop(Dpop::allowed().public_origin("https://api.example.com"))
        .build()
        .unwrap();
    let app = Router::new().route("/me", get(me)).route("/admin", get(me)).layer(auth.layer());
    let key = DpopKey::new();
    let token = idp.token().audience("api").subject("u").bound_to(&key).sign();
    let send = |path: &'static str, host: &'static str, htu: &str| {
        let proof = key.proof("GET", htu, &token);
        let request = Request::builder()
            .uri(path)
            .header(header::HOST, host)
            .header(header::AUTHORIZATION, format!("DPoP {token}"))
            .header("DPoP", proof)
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status() }
    };
    let moved = StatusCode::UNAUTHORIZED;
    // The finding: a proof for /me accepted on /admin through `Host: …/me?`, and the reverse.
    assert_eq!(send("/admin", "127.0.0.1:8080/me?", "http://127.0.0.1:8080/me").await, moved);
    assert_eq!(send("/me", "127.0.0.1:8080/admin#", "http://127.0.0.1:8080/admin").await, moved);
    // A proof minted for another host, with that host in the `Host` header.
    assert_eq!(send("/me", "evil.example", "http://evil.example/me").await, moved);
    // The request's own absolute URI is the client's too.
    assert_eq!(
        send("http://evil.example/me", "evil.example", "http://evil.example/me").await,
        moved
    );
    // Through the configured origin and the request path, the same proof shape passes.
    assert_eq!(send("/me", "evil.example", "https://api.example.com/me").await, StatusCode::OK);
    assert_eq!(send("/admin", "x", "https://api.example.com/admin").await, StatusCode::OK);
    assert_eq!(send("/admin", "x", "https://api.example.com/me").await, moved);
}

// ---------------------------------------------------------------------------------------------
// Log capture, for "secrets and tokens never appear in logs".

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn attack_corpus() {
    let started = Instant::now();
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites another test's thread met first, with no subscriber, must not stay silenced.
    tracing::callsite::rebuild_interest_cache();

    let apps = apps().await;
    let rows = table(&apps).rows;
    let mut sections: Vec<(&str, usize)> = Vec::new();
    for row in &rows {
        match sections.last_mut() {
            Some((name, n)) if *name == row.section => *n += 1,
            _ => sections.push((row.section, 1)),
        }
    }
    println!("attack corpus: {} rows: {sections:?}", rows.len());
    let fetches_before = apps.idp_fetches();

    let mut failures = Vec::new();
    let mut tokens_seen = Vec::new();
    for row in rows {
        let section = row.section;
        let token_text = row
            .request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let token = token_text.split_whitespace().nth(1).unwrap_or_default().to_owned();
        if token.len() > 40 {
            tokens_seen.push(token.clone());
        }
        let before = apps.idp_fetches();
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            apps.router(row.target).oneshot(row.request),
        )
        .await
        .unwrap_or_else(|_| panic!("{}: no answer within 10 s", row.name))
        .unwrap();
        let fetched = apps.idp_fetches() - before;
        let status = response.status();
        let challenge = challenge(&response).map(str::to_owned);
        let body = body_text(response).await;

        let mut wrong = Vec::new();
        if status != row.status || challenge != row.challenge {
            wrong.push(format!(
                "got {status} {challenge:?}, expected {} {:?}",
                row.status, row.challenge
            ));
        }
        if fetched != row.fetches {
            wrong.push(format!("{fetched} fetches, {} expected", row.fetches));
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            wrong.push("answered 500".into());
        }
        if status != StatusCode::OK && !body.is_empty() {
            wrong.push(format!("refusal with a body: {body:?}"));
        }
        let echoed = challenge.as_deref().unwrap_or_default();
        if token.len() > 8 && (echoed.contains(&token) || body.contains(&token)) {
            wrong.push("the answer echoes the token".into());
        }
        for unpublished in ["secret-internal-kid-42", "attacker", "rotated-in-later", "enc-rsa"] {
            if echoed.contains(unpublished) {
                wrong.push(format!("the challenge names kid {unpublished}"));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!("[{section}] {}: {}", row.name, wrong.join("; ")));
        }
    }

    // One unknown-kid refresh on the IdP within its cooldown, one on the first trusted
    // issuer's set (whose published `oct` key is skipped), and the discovery document.
    let total_fetches = apps.idp_fetches() - fetches_before;
    if total_fetches != 3 {
        failures.push(format!("the table made {total_fetches} fetches, 3 expected"));
    }
    if apps.attacker.fetches() != 0 {
        failures.push(format!(
            "the attacker's server was asked {} times: {:?}",
            apps.attacker.fetches(),
            apps.attacker.requests().iter().map(|r| r.path.clone()).collect::<Vec<_>>()
        ));
    }

    // Always: tokens and secrets never appear in logs.
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("jwt_layer"), "the log capture saw nothing from the crate");
    for token in &tokens_seen {
        let signature = token.rsplit('.').next().unwrap_or_default();
        if signature.len() > 20 && logs.contains(signature) {
            failures.push(format!("a token's signature appears in the logs: {signature}"));
        }
        if logs.contains(token.as_str()) {
            failures.push("a token appears in the logs".into());
        }
    }
    let secrets = issuer().jwks_json_with_secrets()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&stranger().jwk(Algorithm::HS256)])
        .filter_map(|jwk| jwk["k"].as_str().map(str::to_owned))
        .collect::<Vec<_>>();
    let raw = secrets.iter().map(|k| String::from_utf8_lossy(&base64_decode(k)).into_owned());
    for secret in secrets.clone().into_iter().chain(raw) {
        if logs.contains(&secret) {
            failures.push("a secret appears in the logs".into());
        }
    }

    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn key_loading_refuses_weak_and_unsafe_keys() {
    // RFC 8725 §3.5 / RFC 7518 §3.3: RSA keys under 2048 bits are refused when loaded.
    let weak = std::fs::read_to_string("tests/fixtures/independent/pem/rsa1024.jwk.json").unwrap();
    assert!(matches!(VerifyingKey::from_jwk(&weak), Err(KeyError::WeakRsaKey { bits: 1024 })));
    let weak_pem = std::fs::read("tests/fixtures/independent/pem/rsa1024_spki.pem").unwrap();
    assert!(matches!(StaticKeys::from_pem(weak_pem), Err(KeyError::WeakRsaKey { bits: 1024 })));
    let set = format!(r#"{{"keys":[{weak}]}}"#);
    assert!(matches!(StaticKeys::from_jwks(&set), Err(KeyError::NoUsableKeys)));

    // RFC 7518 §3.2: an HMAC secret shorter than the hash output.
    assert!(matches!(StaticKeys::hmac([7u8; 31]), Err(KeyError::HmacSecretTooShort { len: 31 })));
    assert!(StaticKeys::hmac([7u8; 32]).is_ok());

    // Remote key sets: https only, plain http to loopback; no other scheme.
    for url in ["http://idp.example/jwks", "ftp://127.0.0.1/jwks", "file:///etc/passwd"] {
        assert!(RemoteJwks::builder(url).build().is_err(), "{url} must be refused");
    }
    assert!(RemoteJwks::builder("https://idp.example/jwks").build().is_ok());

    // A `use: enc` key alone is no usable set.
    let enc = json!({"keys": [enc_only_rsa_jwk()]}).to_string();
    assert!(matches!(StaticKeys::from_jwks(&enc), Err(KeyError::NoUsableKeys)));
}

// ---------------------------------------------------------------------------------------------
// Regression tests for the findings of the "trust the core" review, one test per finding, each
// through the public API (`oneshot` on a router behind the layer), asserting the status and the
// exact `WWW-Authenticate` answer.

/// `Static` keys with the token cookie `session` and, when `query`, the query parameter
/// `access_token` turned on as well.
fn app_with_sources(query: bool) -> Router {
    let mut builder = builder().keys(issuer().keys());
    builder = builder.token_cookie("session");
    if query {
        builder = builder.dangerous_token_query_parameter("access_token");
    }
    router(builder.build().unwrap())
}

/// `GET uri` with the token in any of the three places.
fn sent(uri: &str, authorization: Option<&str>, cookie: Option<&str>) -> Request<Body> {
    let mut request = request(uri, authorization);
    if let Some(token) = cookie {
        let value = HeaderValue::from_str(&format!("theme=dark; session={token}")).unwrap();
        request.headers_mut().insert(header::COOKIE, value);
    }
    request
}

async fn answer(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>) {
    let response = app.clone().oneshot(request).await.unwrap();
    (response.status(), challenge(&response).map(str::to_owned))
}

/// A token with the claims of a valid one, signed by a key nobody trusts.
fn forged() -> String {
    attacker_signed(
        &json!({"alg": "EdDSA", "kid": issuer().kid(Algorithm::EdDSA)}),
        &claims_with(|c| {
            c.insert("sub".into(), json!("attacker"));
        }),
    )
}

fn two_places() -> (StatusCode, Option<String>) {
    invalid_request("token sent in more than one place")
}

#[tokio::test]
async fn token_in_header_and_cookie_is_invalid_request_rfc6750_2() {
    let (valid, forged) = (good(Algorithm::ES256), forged());
    for app in [app_with_sources(false), app_with_sources(true)] {
        for (in_header, in_cookie) in [(&valid, &forged), (&forged, &valid), (&valid, &valid)] {
            let request = sent("/me", Some(&format!("Bearer {in_header}")), Some(in_cookie));
            assert_eq!(answer(&app, request).await, two_places());
        }
    }
}

#[tokio::test]
async fn token_in_query_and_cookie_is_invalid_request_rfc6750_2() {
    let (valid, forged) = (good(Algorithm::ES256), forged());
    let app = app_with_sources(true);
    for (in_query, in_cookie) in [(&valid, &forged), (&forged, &valid), (&valid, &valid)] {
        let request = sent(&format!("/me?access_token={in_query}"), None, Some(in_cookie));
        assert_eq!(answer(&app, request).await, two_places());
    }
}

#[tokio::test]
async fn token_in_header_and_query_is_invalid_request_rfc6750_2() {
    let (valid, forged) = (good(Algorithm::ES256), forged());
    let app = app_with_sources(true);
    for (in_header, in_query) in [(&valid, &forged), (&forged, &valid), (&valid, &valid)] {
        let uri = format!("/me?access_token={in_query}");
        let request = sent(&uri, Some(&format!("Bearer {in_header}")), None);
        assert_eq!(answer(&app, request).await, two_places());
    }
}

#[tokio::test]
async fn token_in_header_cookie_and_query_is_invalid_request_rfc6750_2() {
    let (valid, forged) = (good(Algorithm::ES256), forged());
    let app = app_with_sources(true);
    for [in_header, in_cookie, in_query] in
        [[&valid, &forged, &forged], [&forged, &valid, &forged], [&forged, &forged, &valid]]
    {
        let uri = format!("/me?access_token={in_query}");
        let request = sent(&uri, Some(&format!("Bearer {in_header}")), Some(in_cookie));
        assert_eq!(answer(&app, request).await, two_places());
    }
}

/// Each place alone still works, and `Authorization: Basic` is no token: a browser may send
/// `Basic` credentials meant for another layer (a proxy) along with its session cookie, and the
/// cookie is then the one token of the request.
#[tokio::test]
async fn token_in_one_place_or_basic_with_cookie_is_read_rfc6750_2() {
    let (valid, forged) = (good(Algorithm::ES256), forged());
    let app = app_with_sources(true);
    let basic = Some("Basic dXNlcjpwYXNz");
    let one_place = [
        sent("/me", Some(&format!("Bearer {valid}")), None),
        sent("/me", None, Some(&valid)),
        sent(&format!("/me?access_token={valid}"), None, None),
        sent("/me", basic, Some(&valid)),
    ];
    for request in one_place {
        assert_eq!(answer(&app, request).await, OK);
    }
    assert_eq!(
        answer(&app, sent("/me", basic, Some(&forged))).await,
        invalid_token("invalid signature")
    );
    assert_eq!(answer(&app, sent("/me", basic, None)).await, no_credentials());
    // `Basic` with a token elsewhere as well is still two places.
    let uri = format!("/me?access_token={valid}");
    assert_eq!(answer(&app, sent(&uri, basic, Some(&valid))).await, two_places());
}

#[tokio::test]
async fn scp_entry_with_space_grants_nothing_rfc6749_3_3() {
    async fn scopes(axum::Extension(scopes): axum::Extension<jwt_layer::Scopes>) -> String {
        scopes.iter().collect::<Vec<_>>().join(",")
    }
    let auth = builder().keys(issuer().keys()).build().unwrap();
    let app = Router::new()
        .route("/scopes", get(scopes))
        .route("/admin", get(ok).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
        .route("/read", get(ok).route_layer(auth.require_all_scopes(["read"]).unwrap()))
        .layer(auth.layer());
    // Entries that are not one scope-token: a space, a quote, a backslash, a control character.
    let token = token_with_scp(json!(["read admin", "write", "a\"b", "c\\d", "tab\tx", ""]));
    let get = |path: &str| sent(path, Some(&format!("Bearer {token}")), None);
    assert_eq!(answer(&app, get("/admin")).await, insufficient_scope("admin"));
    assert_eq!(answer(&app, get("/read")).await, insufficient_scope("read"));
    let response = app.clone().oneshot(get("/scopes")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "write");

    // A space-delimited string is split as ever: in `scope`, and in `scp` from some providers.
    let split = token_with_scp(json!("read admin"));
    assert_eq!(answer(&app, sent("/admin", Some(&format!("Bearer {split}")), None)).await, OK);
}

/// A valid token whose grants come from `scp` alone.
fn token_with_scp(scp: Value) -> String {
    issuer()
        .token()
        .alg(Algorithm::ES256)
        .claims(claims_with(|c| {
            c.remove("scope");
            c.insert("scp".into(), scp);
        }))
        .sign()
}

// ---------------------------------------------------------------------------------------------
// Regression tests for the findings of the second review, one test per finding, through the
// public API, asserting the status and the exact `WWW-Authenticate` answer.

/// A Cookie header made of raw bytes (obs-text is valid on the wire, and hyper accepts it).
fn with_cookie_bytes(mut request: Request<Body>, value: &[u8]) -> Request<Body> {
    request.headers_mut().append(header::COOKIE, HeaderValue::from_bytes(value).unwrap());
    request
}

/// One byte that is not ASCII in a Cookie header hid the whole header: a forged token cookie
/// beside a good `Authorization` header got 200, and two token cookies got through. The header
/// is now read as bytes, and names as Go's and Node's parsers read them (`session =x`).
#[tokio::test]
async fn a_token_cookie_behind_one_non_ascii_byte_is_seen_rfc6750_2() {
    let (valid, forged) = (good(Algorithm::ES256), forged());
    let app = app_with_sources(false);
    let hidden = [&b"lang=fr\xE9; session="[..], forged.as_bytes()].concat();
    let beside_header =
        with_cookie_bytes(request("/me", Some(&format!("Bearer {valid}"))), &hidden);
    assert_eq!(answer(&app, beside_header).await, two_places());
    let repeated = invalid_request("token cookie given more than once");
    let two_cookies = with_cookie_bytes(sent("/me", None, Some(&valid)), &hidden);
    assert_eq!(answer(&app, two_cookies).await, repeated);
    let spaced = format!("session ={forged}; session={valid}");
    let spaced = with_cookie_bytes(request("/me", None), spaced.as_bytes());
    assert_eq!(answer(&app, spaced).await, repeated);
    // A token cookie whose own value is not ASCII has no one reading: refused.
    let garbled = [b"session=", valid.as_bytes(), b"\xE9"].concat();
    assert_eq!(
        answer(&app, with_cookie_bytes(request("/me", None), &garbled)).await,
        invalid_request("malformed token cookie")
    );
    // The obs-text byte alone harms nothing: the one token cookie is read.
    let alone = [&b"lang=fr\xE9; session="[..], valid.as_bytes()].concat();
    assert_eq!(answer(&app, with_cookie_bytes(request("/me", None), &alone)).await, OK);
}

/// `?access_token=<good>&access%5Ftoken=<forged>` got 200 where two plain parameters get 400:
/// names are now form-decoded before the repeated check. And a percent escape is exactly two
/// hex digits (`%+1` was read as 0x01).
#[tokio::test]
async fn query_parameter_names_are_decoded_before_the_repeated_check_rfc6750_2_3() {
    let (valid, forged) = (good(Algorithm::ES256), forged());
    let app = app_with_sources(true);
    let repeated = invalid_request("token parameter given more than once");
    for uri in [
        format!("/me?access_token={valid}&access%5Ftoken={forged}"),
        format!("/me?access%5ftoken={forged}&access_token={valid}"),
        format!("/me?access_token={valid}&%61ccess_token={forged}"),
    ] {
        assert_eq!(answer(&app, request(&uri, None)).await, repeated, "{uri}");
    }
    assert_eq!(
        answer(&app, request(&format!("/me?access_token={valid}%+1"), None)).await,
        invalid_request("malformed token parameter")
    );
    let escaped_name = format!("/me?access%5Ftoken={valid}");
    assert_eq!(answer(&app, request(&escaped_name, None)).await, OK);
}

/// RFC 9449 §4.3: under `Router::nest` with the layer on the nested router, the expected `htu`
/// was built from the stripped path: the compliant proof for `/api/me` was refused and a proof
/// for `/me` (another resource) accepted at `/api/me`. A proof `htu` with user info was accepted
/// too. Both layouts (layer inside and outside the nest) now use the path the client called.
#[tokio::test]
async fn dpop_htu_under_router_nest_is_the_path_the_client_called_rfc9449_4_3() {
    use jwt_layer::Dpop;
    use jwt_layer::testing::{DpopKey, TestIssuer};

    let idp = TestIssuer::new("https://idp.example.test");
    let auth = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience("api")
        .dpop(Dpop::required().public_origin("https://api.example.com"))
        .build()
        .unwrap();
    let inner = || Router::new().route("/me", get(me));
    let key = DpopKey::new();
    let token = idp.token().audience("api").subject("u").bound_to(&key).sign();
    let htu_mismatch = format!(
        r#"DPoP realm="api", algs="{}", error="invalid_dpop_proof", error_description="proof htu does not match""#,
        "RS256 PS256 ES256 ES384 ES512 EdDSA"
    );
    for app in [
        Router::new().nest("/api", inner().layer(auth.layer())),
        Router::new().nest("/api", inner()).layer(auth.layer()),
    ] {
        let send = |htu: &str| {
            let request = Request::builder()
                .uri("/api/me")
                .header(header::AUTHORIZATION, format!("DPoP {token}"))
                .header("DPoP", key.proof("GET", htu, &token))
                .body(Body::empty())
                .unwrap();
            answer(&app, request)
        };
        assert_eq!(send("https://api.example.com/api/me").await, OK);
        let refused = (StatusCode::UNAUTHORIZED, Some(htu_mismatch.clone()));
        assert_eq!(send("https://api.example.com/me").await, refused);
        assert_eq!(send("https://user@api.example.com/api/me").await, refused);
        assert_eq!(send("https://@api.example.com/api/me").await, refused);
    }
}

/// Configuration that read one way and meant another: a resource identifier whose metadata
/// URL resolves elsewhere (`/../admin`, `%2e%2e`, `/./`), port 0, a query (even an empty `?`)
/// were accepted; `build` now refuses each with `BuildError::InvalidResource`.
#[test]
fn resource_identifiers_that_resolve_elsewhere_are_refused_at_build_rfc8707_2() {
    for resource in [
        "https://api.example.com/../admin",
        "https://api.example.com/a/./b",
        "https://api.example.com/a/%2e%2e/admin",
        "https://api.example.com:0/mcp",
        "https://api.example.com/mcp?tenant=a",
        "https://api.example.com/mcp?",
    ] {
        let built = builder().keys(issuer().keys()).resource(resource).build();
        assert!(
            matches!(built, Err(jwt_layer::BuildError::InvalidResource(..))),
            "{resource}: {:?}",
            built.err()
        );
    }
}

/// The forwarded-certificate header accepted junk before the PEM block and spaces in place of
/// line breaks, and the docs said "the first CERTIFICATE block" where the code read the first
/// block of any kind. Exactly one `CERTIFICATE` block is now read, nothing else: anything more
/// or less is no certificate, and a bound token is refused.
#[tokio::test]
async fn a_forwarded_certificate_is_exactly_one_certificate_block_rfc8705_3() {
    use jwt_layer::PeerAddress;

    let der = b"the client's certificate, as bytes to hash".to_vec();
    let thumbprint = ClientCertificate::from_der(&der).thumbprint().to_owned();
    let auth = builder()
        .keys(issuer().keys())
        .trust_forwarded_certificate("x-client-cert", ["10.0.0.1".parse().unwrap()])
        .build()
        .unwrap();
    let app = router(auth);
    let token = issuer()
        .token()
        .alg(Algorithm::ES256)
        .claims(claims_with(|c| {
            c.insert("cnf".into(), json!({"x5t#S256": thumbprint}));
        }))
        .sign();
    let block = pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
    let key = pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()));
    let send = |pem_text: String| {
        let escaped: String =
            percent_encoding::utf8_percent_encode(&pem_text, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        let mut request = bearer(&token);
        request.headers_mut().insert("x-client-cert", HeaderValue::from_str(&escaped).unwrap());
        request.extensions_mut().insert(PeerAddress("10.0.0.1:443".parse().unwrap()));
        answer(&app, request)
    };
    assert_eq!(send(block.clone()).await, OK);
    let mismatch = invalid_token("certificate binding mismatch");
    for text in [
        format!("junk{block}"),
        format!("{block}junk"),
        block.replace("\r\n", " "),
        format!("{block}{block}"),
        format!("{key}{block}"),
    ] {
        assert_eq!(send(text.clone()).await, mismatch, "{text:?}");
    }
}

/// gRPC over HTTP/2, "Responses": a refused call is trailers-only. A JSON body under
/// `application/grpc` is read by grpc-go and grpc-java as a length-prefixed message, turning
/// UNAUTHENTICATED into INTERNAL; so there is no body, whatever the renderer.
#[tokio::test]
async fn grpc_refusal_is_trailers_only_whatever_the_renderer() {
    use axum::response::IntoResponse;
    let auth = builder().keys(issuer().keys()).build().unwrap();
    let json_refusal = |err: &jwt_layer::AuthError| {
        axum::Json(json!({ "error_description": err.description() })).into_response()
    };
    let app = Router::new()
        .route("/{*path}", axum::routing::post(ok))
        .layer(auth.layer().with_response(json_refusal));
    let call = |content_type: &str, authorization: Option<&str>| {
        let mut request = sent("/grpc.health.v1.Health/Check", authorization, None);
        *request.method_mut() = http::Method::POST;
        request.headers_mut().insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        request
    };
    let (forged, bad) = (format!("Bearer {}", forged()), "invalid signature");
    // `grpc-message` and the renderer's body name the refusal, even without credentials.
    for (authorization, (_, www_authenticate), message, description) in [
        (None, no_credentials(), "authentication required", "authentication required"),
        (Some(forged.as_str()), invalid_token(bad), bad, bad),
    ] {
        let response = app.clone().oneshot(call("application/grpc", authorization)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/grpc");
        assert_eq!(response.headers()["grpc-status"], "16");
        assert_eq!(response.headers()["grpc-message"], message);
        assert_eq!(challenge(&response), www_authenticate.as_deref());
        assert_eq!(body_text(response).await, "");

        // Over HTTP the renderer's body stays.
        let response = app.clone().oneshot(call("application/json", authorization)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&response), www_authenticate.as_deref());
        let body = json!({ "error_description": description }).to_string();
        assert_eq!(body_text(response).await, body);
    }
}

/// RFC 7662 and `JwtAuth::explain`: the diagnosis takes the verifier's route. With
/// introspection on, an active opaque token `verify` accepts is not "not three segments" to
/// `explain`; in opaque-only mode, a JWT the authorization server calls inactive is not passed
/// by a local check in `explain` while `verify` refuses it.
#[tokio::test]
async fn explain_agrees_with_verify_on_opaque_tokens() {
    use jwt_layer::explain::{Check, Outcome};
    use jwt_layer::introspection::Introspection;
    use jwt_layer::{AuthError, TokenKinds};
    const OPAQUE: &str = "2YotnFZFEjr1zCsicMWpAA";
    async fn introspect(body: axum::body::Bytes) -> axum::Json<Value> {
        let mut form = url::form_urlencoded::parse(&body);
        let active = form.any(|(name, value)| name == "token" && value == OPAQUE);
        axum::Json(match active {
            true => json!({"active": true, "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1",
                           "exp": now() + 600}),
            false => json!({"active": false}),
        })
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/introspect", listener.local_addr().unwrap());
    let introspection = Router::new().route("/introspect", axum::routing::post(introspect));
    tokio::spawn(async move { axum::serve(listener, introspection).await.unwrap() });

    let jwt = good(Algorithm::RS256);
    let cases = [
        (TokenKinds::JwtAndOpaque, OPAQUE, Ok(())),
        (TokenKinds::Opaque, jwt.as_str(), Err(AuthError::InactiveToken)),
    ];
    for (kinds, token, expected) in cases {
        let auth = builder()
            .keys(issuer().keys())
            .introspection(Introspection::endpoint(&endpoint))
            .token_kinds(kinds)
            .build()
            .unwrap();
        let verified = auth.verify(token).await.map(|_| ());
        assert_eq!(verified, expected, "{kinds:?}");
        let explanation = auth.explain(token).await;
        assert_eq!(explanation.verdict(), expected.as_ref().map(|_| ()), "{kinds:?}");
        assert!(explanation.introspected(), "{kinds:?}");
        assert!(matches!(explanation.outcome(Check::Signature), Some(Outcome::Skipped(_))));
    }
}

/// RFC 7662 §2.2: an authorization server may call a refresh token active; presented as an
/// access token it is refused, as is a `DPoP`-typed answer without the `cnf.jkt` its proof
/// would be held to (RFC 9449 §6), never taken as a bearer token.
#[tokio::test]
async fn introspected_refresh_token_is_refused_rfc7662_2_2() {
    use jwt_layer::TokenKinds;
    use jwt_layer::introspection::Introspection;
    async fn introspect(body: axum::body::Bytes) -> axum::Json<Value> {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let token = form.iter().find(|(name, _)| name == "token").map(|(_, v)| v.as_str());
        let token_type = match token {
            Some("refresh-token") => json!("refresh_token"),
            Some("dpop-unbound") => json!("DPoP"),
            _ => json!("Bearer"),
        };
        axum::Json(json!({"active": true, "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1",
                          "exp": now() + 600, "token_type": token_type}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/introspect", listener.local_addr().unwrap());
    let introspection = Router::new().route("/introspect", axum::routing::post(introspect));
    tokio::spawn(async move { axum::serve(listener, introspection).await.unwrap() });

    let auth = builder()
        .introspection(Introspection::endpoint(&endpoint))
        .token_kinds(TokenKinds::Opaque)
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { "ok" })).layer(auth.layer());
    let refused = |description: &str| {
        format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
    };
    let cases = [
        ("access-token", StatusCode::OK, None),
        ("refresh-token", StatusCode::UNAUTHORIZED, Some(refused("invalid token type"))),
        ("dpop-unbound", StatusCode::UNAUTHORIZED, Some(refused("unsupported token binding"))),
    ];
    for (token, status, www_authenticate) in cases {
        let request = Request::get("/")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status, "{token}");
        let challenge = response.headers().get(header::WWW_AUTHENTICATE);
        assert_eq!(challenge.map(|v| v.to_str().unwrap().to_owned()), www_authenticate, "{token}");
    }
}
