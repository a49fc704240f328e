//! The layer through its public API: every rejection of the security checklist with its status
//! and exact `WWW-Authenticate` challenge, and the happy paths around them.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use http::{Request, StatusCode, header};
use jwt_layer::keys::{KeyError, KeyLookup, KeyProvider, KeySet, StaticKeys, VerifyingKey};
use jwt_layer::{Algorithm, AuthError, Claims, JwtAuth, TokenHeader};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;

#[derive(Debug, Deserialize, Serialize)]
struct TestClaims {
    sub: String,
}

async fn me(Claims(claims): Claims<TestClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.sub }))
}

async fn ok() -> &'static str {
    "ok"
}

fn test_keys() -> StaticKeys {
    issuer().keys()
}

fn auth() -> JwtAuth<TestClaims> {
    JwtAuth::builder().keys(test_keys()).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

fn app(auth: JwtAuth<TestClaims>) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/admin", get(ok).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
        .route("/read-or-x", get(ok).route_layer(auth.require_any_scope(["read", "x"]).unwrap()))
        .layer(auth.layer())
}

fn invalid_token(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
}

fn invalid_request(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_request", error_description="{description}""#)
}

const NO_ERROR: &str = r#"Bearer realm="api""#;

fn with_claims(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut claims = good_claims();
    edit(claims.as_object_mut().unwrap());
    claims
}

fn header_json(alg: &str, kid: Option<&str>, extra: &str) -> String {
    let kid = kid.map(|k| format!(r#","kid":"{k}""#)).unwrap_or_default();
    format!(r#"{{"alg":"{alg}","typ":"JWT"{kid}{extra}}}"#)
}

/// header.payload with an arbitrary signature segment.
fn unsigned(header: &str, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(claims.to_string()), signature)
}

fn flip_char(token: &str, index: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = challenge(&response).map(str::to_owned);
    (status, challenge, body_text(response).await)
}

struct Case {
    name: &'static str,
    authorization: Option<String>,
    status: StatusCode,
    challenge: Option<String>,
}

fn case(
    name: &'static str,
    authorization: Option<String>,
    status: StatusCode,
    challenge: Option<String>,
) -> Case {
    Case { name, authorization, status, challenge }
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

#[tokio::test]
async fn rejection_matrix() {
    let app = app(auth());
    let good = issuer().token().alg(Algorithm::RS256).claims(good_claims()).sign();
    let other = issuer()
        .token()
        .alg(Algorithm::RS256)
        .claims(with_claims(|c| {
            c.insert("sub".into(), json!("someone-else"));
        }))
        .sign();
    let (good_input, _) = good.rsplit_once('.').unwrap();
    let (_, other_sig) = other.rsplit_once('.').unwrap();
    let rsa_pem = { issuer().jwk(Algorithm::RS256).to_string() };
    let payload_start = good.find('.').unwrap() + 1;
    let past = now() - 3600;
    let unauthorized = StatusCode::UNAUTHORIZED;

    let cases = vec![
        // RFC 6750 §2.1, §3.1: finding the token.
        case("no_authorization_header_rfc6750_3_1", None, unauthorized, Some(NO_ERROR.into())),
        case(
            "basic_scheme_is_no_bearer_credentials",
            Some("Basic dXNlcjpwdw==".into()),
            unauthorized,
            Some(NO_ERROR.into()),
        ),
        case("scheme_lowercase_rfc7235_2_1", Some(format!("bearer {good}")), StatusCode::OK, None),
        case("scheme_uppercase_rfc7235_2_1", Some(format!("BEARER {good}")), StatusCode::OK, None),
        case(
            "bearer_without_token_rfc6750_3_1",
            Some("Bearer".into()),
            StatusCode::BAD_REQUEST,
            Some(invalid_request("bearer scheme without a token")),
        ),
        case(
            "bearer_with_blank_token",
            Some("Bearer    ".into()),
            StatusCode::BAD_REQUEST,
            Some(invalid_request("bearer scheme without a token")),
        ),
        case(
            "bearer_two_tokens",
            Some(format!("Bearer {good} {good}")),
            StatusCode::BAD_REQUEST,
            Some(invalid_request("malformed bearer credentials")),
        ),
        case(
            "token_outside_b64token_charset_rfc6750_2_1",
            Some("Bearer abc$def.ghi".into()),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        case(
            "token_over_8_kib_cap",
            bearer(&"a".repeat(9000)),
            unauthorized,
            Some(invalid_token("token too large")),
        ),
        case(
            "not_three_segments",
            bearer("abc.def"),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        case(
            "jwe_five_segments_out_of_scope",
            bearer("a.b.c.d.e"),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        case(
            "header_not_json",
            bearer(&format!("{}.{}.{}", b64("nope"), b64("{}"), "c2ln")),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        // RFC 8725 §3.1: algorithms.
        case(
            "alg_none_rfc8725_3_1",
            bearer(&unsigned(&header_json("none", Some(issuer().kid(Algorithm::RS256).as_str()), ""), &good_claims(), "")),
            unauthorized,
            Some(invalid_token("unsupported algorithm")),
        ),
        case(
            "alg_none_with_signature",
            bearer(&unsigned(&header_json("none", None, ""), &good_claims(), "c2ln")),
            unauthorized,
            Some(invalid_token("unsupported algorithm")),
        ),
        case(
            "alg_None_mixed_case",
            bearer(&unsigned(&header_json("None", None, ""), &good_claims(), "")),
            unauthorized,
            Some(invalid_token("unsupported algorithm")),
        ),
        case(
            "alg_NONE_upper",
            bearer(&unsigned(&header_json("NONE", None, ""), &good_claims(), "")),
            unauthorized,
            Some(invalid_token("unsupported algorithm")),
        ),
        case(
            "alg_lowercase_hs256_is_not_HS256",
            bearer(&issuer().token().alg(Algorithm::HS256).raw_header(&header_json("hs256", Some(issuer().kid(Algorithm::HS256).as_str()), "")).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("unsupported algorithm")),
        ),
        case(
            "hs256_with_rsa_jwk_as_secret_cve_2016_10555",
            bearer(&{
                let input = format!(
                    "{}.{}",
                    b64(header_json("HS256", Some(issuer().kid(Algorithm::RS256).as_str()), "")),
                    b64(good_claims().to_string())
                );
                let tag = aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, rsa_pem.as_bytes()),
                    input.as_bytes(),
                );
                format!("{input}.{}", b64(tag.as_ref()))
            }),
            unauthorized,
            Some(invalid_token("algorithm not allowed")),
        ),
        case(
            "hs256_with_rsa_key_no_kid_tries_hmac_keys_only",
            bearer(&{
                let input = format!(
                    "{}.{}",
                    b64(header_json("HS256", None, "")),
                    b64(good_claims().to_string())
                );
                let tag = aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, rsa_pem.as_bytes()),
                    input.as_bytes(),
                );
                format!("{input}.{}", b64(tag.as_ref()))
            }),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "rs256_token_with_ec_kid",
            bearer(&issuer().token().alg(Algorithm::RS256).raw_header(&header_json("RS256", Some(issuer().kid(Algorithm::ES256).as_str()), "")).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("algorithm not allowed")),
        ),
        case(
            "es256_token_with_hmac_kid",
            bearer(&issuer().token().alg(Algorithm::ES256).raw_header(&header_json("ES256", Some(issuer().kid(Algorithm::HS256).as_str()), "")).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("algorithm not allowed")),
        ),
        // RFC 7515 §4.1.3, CVE-2018-0114: keys in the header are never used.
        case(
            "embedded_jwk_cve_2018_0114",
            bearer(&unsigned(
                &header_json("HS256", None, r#","jwk":{"kty":"oct","k":"YXR0YWNrZXI"}"#),
                &good_claims(),
                &b64([1u8; 32]),
            )),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "jku_header_is_not_fetched",
            bearer(&unsigned(
                &header_json(
                    "RS256",
                    Some("attacker"),
                    r#","jku":"https://attacker.example/jwks""#,
                ),
                &good_claims(),
                &b64([1u8; 256]),
            )),
            unauthorized,
            Some(invalid_token("no matching key")),
        ),
        case(
            "x5u_header_is_not_fetched",
            bearer(&unsigned(
                &header_json(
                    "RS256",
                    Some("attacker"),
                    r#","x5u":"https://attacker.example/cert""#,
                ),
                &good_claims(),
                &b64([1u8; 256]),
            )),
            unauthorized,
            Some(invalid_token("no matching key")),
        ),
        case(
            "kid_is_only_a_lookup_key",
            bearer(&issuer().token().alg(Algorithm::RS256).raw_header(&header_json("RS256", Some("../../etc/passwd"), "")).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("no matching key")),
        ),
        // RFC 7515 §4.1.11, RFC 7797.
        case(
            "crit_header_rfc7515_4_1_11",
            bearer(&issuer().token().alg(Algorithm::RS256).raw_header(&header_json("RS256", Some(issuer().kid(Algorithm::RS256).as_str()), r#","crit":["exp"]"#)).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("unsupported critical header")),
        ),
        case(
            "b64_false_rfc7797",
            bearer(&issuer().token().alg(Algorithm::HS256).raw_header(&header_json("HS256", Some(issuer().kid(Algorithm::HS256).as_str()), r#","b64":false,"crit":["b64"]"#)).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("unsupported critical header")),
        ),
        case(
            "duplicate_header_member_rfc8725_3_2",
            bearer(&issuer().token().alg(Algorithm::HS256).raw_header(&format!(r#"{{"alg":"HS512","kid":"{}","alg":"HS256"}}"#, issuer().kid(Algorithm::HS256))).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        case(
            "unknown_kid",
            bearer(&issuer().token().alg(Algorithm::RS256).raw_header(&header_json("RS256", Some("nope"), "")).claims(good_claims()).sign()),
            unauthorized,
            Some(invalid_token("no matching key")),
        ),
        // Signatures.
        case(
            "stripped_signature",
            bearer(&format!("{good_input}.")),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "swapped_signature",
            bearer(&format!("{good_input}.{other_sig}")),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "changed_payload_byte",
            bearer(&flip_char(&good, payload_start + 3)),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "changed_signature_byte",
            bearer(&flip_char(&good, good.len() - 10)),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "es256_zero_signature_cve_2022_21449",
            bearer(&unsigned(
                &header_json("ES256", Some(issuer().kid(Algorithm::ES256).as_str()), ""),
                &good_claims(),
                &b64([0u8; 64]),
            )),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "es256_der_signature",
            bearer(&{
                let input = format!(
                    "{}.{}",
                    b64(header_json("ES256", Some(issuer().kid(Algorithm::ES256).as_str()), "")),
                    b64(good_claims().to_string())
                );
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let der_key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
                        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                        &rng,
                    )
                    .unwrap()
                    .as_ref(),
                )
                .unwrap();
                let _ = der_key; // a DER signature by any key is refused by shape before the key matters
                let fixed = issuer().sign(Algorithm::ES256, input.as_bytes());
                let der = der_from_fixed(&fixed);
                format!("{input}.{}", b64(der))
            }),
            unauthorized,
            Some(invalid_token("invalid signature")),
        ),
        case(
            "signature_with_padding",
            bearer(&format!("{good}=")),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        // RFC 7519 §4.1, RFC 8725 §3.9: claims.
        case(
            "expired_beyond_leeway",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("exp".into(), json!(now() - 61));
                })).sign()),
            unauthorized,
            Some(invalid_token("token expired")),
        ),
        case(
            "expired_within_leeway",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("exp".into(), json!(now() - 30));
                })).sign()),
            StatusCode::OK,
            None,
        ),
        case(
            "not_yet_valid_beyond_leeway",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("nbf".into(), json!(now() + 120));
                })).sign()),
            unauthorized,
            Some(invalid_token("token not yet valid")),
        ),
        case(
            "not_yet_valid_within_leeway",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("nbf".into(), json!(now() + 30));
                })).sign()),
            StatusCode::OK,
            None,
        ),
        case(
            "exp_as_string_rfc7519_2",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("exp".into(), json!("4102444800"));
                })).sign()),
            unauthorized,
            Some(invalid_token("invalid claim type")),
        ),
        case(
            "nbf_as_string",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("nbf".into(), json!(past.to_string()));
                })).sign()),
            unauthorized,
            Some(invalid_token("invalid claim type")),
        ),
        case(
            "exp_missing_required_by_default",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.remove("exp");
                })).sign()),
            unauthorized,
            Some(invalid_token("missing required claim")),
        ),
        case(
            "fractional_exp_is_a_number",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("exp".into(), json!(now() as f64 + 600.5));
                })).sign()),
            StatusCode::OK,
            None,
        ),
        case(
            "issuer_with_trailing_slash_differs",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("iss".into(), json!(format!("{ISSUER}/")));
                })).sign()),
            unauthorized,
            Some(invalid_token("invalid issuer")),
        ),
        case(
            "issuer_case_differs",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("iss".into(), json!(ISSUER.to_uppercase()));
                })).sign()),
            unauthorized,
            Some(invalid_token("invalid issuer")),
        ),
        case(
            "issuer_missing",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.remove("iss");
                })).sign()),
            unauthorized,
            Some(invalid_token("missing required claim")),
        ),
        case(
            "audience_array_with_match",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("aud".into(), json!(["other", AUDIENCE]));
                })).sign()),
            StatusCode::OK,
            None,
        ),
        case(
            "audience_mismatch_rfc8725_3_9",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("aud".into(), json!(["other"]));
                })).sign()),
            unauthorized,
            Some(invalid_token("invalid audience")),
        ),
        case(
            "audience_missing_rfc8725_3_9",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.remove("aud");
                })).sign()),
            unauthorized,
            Some(invalid_token("missing required claim")),
        ),
        case(
            "duplicate_claim_rfc7519_4",
            bearer(&issuer().token().alg(Algorithm::RS256).raw_header(&header_json("RS256", Some(issuer().kid(Algorithm::RS256).as_str()), "")).raw_payload(&format!(
                    r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"sub":"alice","sub":"admin"}}"#,
                    now() + 600
                )).sign()),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        case(
            "deeply_nested_claims",
            bearer(&issuer().token().alg(Algorithm::HS256).raw_header(&header_json("HS256", Some(issuer().kid(Algorithm::HS256).as_str()), "")).raw_payload(&format!(
                    r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"sub":"a","x":{}{}}}"#,
                    now() + 600,
                    "[".repeat(200),
                    "]".repeat(200)
                )).sign()),
            unauthorized,
            Some(invalid_token("malformed token")),
        ),
        case(
            "claims_do_not_fit_the_type",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.remove("sub");
                })).sign()),
            unauthorized,
            Some(invalid_token("invalid claims")),
        ),
        case(
            "sub_is_not_a_string_rfc7519_4_1_2",
            bearer(&issuer().token().alg(Algorithm::RS256).claims(with_claims(|c| {
                    c.insert("sub".into(), json!(42));
                })).sign()),
            unauthorized,
            Some(invalid_token("invalid claim type")),
        ),
    ];

    let mut failures = Vec::new();
    for case in &cases {
        let req = request("/me", case.authorization.as_deref());
        let (status, challenge, _) = call(&app, req).await;
        if status != case.status || challenge != case.challenge {
            failures.push(format!(
                "{}: got {status} {challenge:?}, expected {} {:?}",
                case.name, case.status, case.challenge
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_algorithm_verifies_with_its_own_key() {
    let app = app(auth());
    for alg in Algorithm::ALL {
        let (status, challenge, body) = call(
            &app,
            request(
                "/me",
                bearer(&issuer().token().alg(alg).claims(good_claims()).sign()).as_deref(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{alg}: {challenge:?}");
        assert_eq!(body, r#"{"sub":"user-1"}"#);
    }
}

#[tokio::test]
async fn a_key_pinned_to_rs256_refuses_rs384_and_ps256() {
    let pinned = keys_pinned_to_rs256();
    let auth: JwtAuth<TestClaims> =
        JwtAuth::builder().keys(pinned).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let app = app(auth);
    for (alg, expected) in [
        (Algorithm::RS256, StatusCode::OK),
        (Algorithm::RS384, StatusCode::UNAUTHORIZED),
        (Algorithm::PS256, StatusCode::UNAUTHORIZED),
    ] {
        // Each names the pinned key.
        let token =
            issuer().token().alg(alg).kid(issuer().kid(Algorithm::RS256)).claims(good_claims());
        let (status, challenge, _) =
            call(&app, request("/me", bearer(&token.sign()).as_deref())).await;
        assert_eq!(status, expected, "{alg}");
        if expected != StatusCode::OK {
            assert_eq!(challenge.unwrap(), invalid_token("algorithm not allowed"));
        }
    }
}

fn keys_pinned_to_rs256() -> StaticKeys {
    let rsa = issuer().jwk(Algorithm::RS256);
    StaticKeys::new([VerifyingKey::from_jwk(rsa.to_string()).unwrap()]).unwrap()
}

#[tokio::test]
async fn scopes_answer_403_with_the_missing_scope() {
    let app = app(auth());
    let with_scope = |scope: Value| {
        issuer()
            .token()
            .alg(Algorithm::HS256)
            .claims(with_claims(|c| {
                c.remove("scope");
                c.insert(scope_name(&scope).into(), scope);
            }))
            .sign()
    };
    fn scope_name(value: &Value) -> &'static str {
        if value.is_array() { "scp" } else { "scope" }
    }
    let cases = [
        ("/admin", json!("read write"), StatusCode::FORBIDDEN),
        ("/admin", json!("read admin"), StatusCode::OK),
        ("/admin", json!(["admin"]), StatusCode::OK),
        ("/admin", json!("administrator"), StatusCode::FORBIDDEN),
        ("/read-or-x", json!("read"), StatusCode::OK),
        ("/read-or-x", json!(["x", "y"]), StatusCode::OK),
        ("/read-or-x", json!("write"), StatusCode::FORBIDDEN),
    ];
    for (path, scope, expected) in cases {
        let (status, challenge, _) =
            call(&app, request(path, bearer(&with_scope(scope.clone())).as_deref())).await;
        assert_eq!(status, expected, "{path} {scope}");
        if expected == StatusCode::FORBIDDEN {
            let wanted = if path == "/admin" { "admin" } else { "read x" };
            assert_eq!(
                challenge.unwrap(),
                format!(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="{wanted}""#
                )
            );
        }
    }
    // No scope claim at all.
    let (status, _, _) = call(
        &app,
        request(
            "/admin",
            bearer(
                &issuer()
                    .token()
                    .alg(Algorithm::HS256)
                    .claims(with_claims(|c| {
                        c.remove("scope");
                    }))
                    .sign(),
            )
            .as_deref(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn several_authorization_headers_are_a_bad_request() {
    let token = issuer().token().alg(Algorithm::HS256).claims(good_claims()).sign();
    let request = Request::get("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, challenge, _) = call(&app(auth()), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(challenge.unwrap(), invalid_request("more than one authorization header"));
}

#[tokio::test]
async fn query_tokens_are_ignored_unless_enabled() {
    let token = issuer().token().alg(Algorithm::HS256).claims(good_claims()).sign();
    let uri = format!("/me?access_token={token}");
    let (status, challenge, _) = call(&app(auth()), request(&uri, None)).await;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(NO_ERROR)));

    let enabled = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .dangerous_token_query_parameter("access_token")
        .build()
        .unwrap();
    let (status, _, _) = call(&app(enabled), request(&uri, None)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn cookie_source_for_browser_apps() {
    let auth = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .token_cookie("id")
        .build()
        .unwrap();
    let token = issuer().token().alg(Algorithm::ES256).claims(good_claims()).sign();
    let request = Request::get("/me")
        .header(header::COOKIE, format!("theme=dark; id={token}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&app(auth), request).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"sub":"user-1"}"#));
}

#[tokio::test]
async fn optional_mode_lets_anonymous_requests_through_but_not_bad_tokens() {
    async fn maybe(claims: Option<Claims<TestClaims>>) -> String {
        claims.map_or_else(|| "anonymous".to_owned(), |c| c.sub.clone())
    }
    let auth: JwtAuth<TestClaims> = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .optional()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/maybe", get(maybe))
        .route("/admin", get(ok).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
        .layer(auth.layer());
    assert_eq!(call(&app, request("/maybe", None)).await.2, "anonymous");
    assert_eq!(call(&app, request("/maybe", Some("Basic abc"))).await.2, "anonymous");
    let good = issuer().token().alg(Algorithm::EdDSA).claims(good_claims()).sign();
    assert_eq!(call(&app, request("/maybe", bearer(&good).as_deref())).await.2, "user-1");
    let (status, challenge, _) =
        call(&app, request("/maybe", bearer(&flip_char(&good, 20)).as_deref())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("invalid_token"));
    // A scoped route still needs credentials, and says which scopes to ask for (RFC 6750 §3).
    let (status, challenge, _) = call(&app, request("/admin", None)).await;
    let expected = r#"Bearer realm="api", scope="admin""#;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(expected)));
}

#[tokio::test]
async fn claims_without_the_layer_are_a_500_not_a_pass() {
    let app = Router::new().route("/me", get(me));
    let (status, _, body) = call(
        &app,
        request(
            "/me",
            bearer(&issuer().token().alg(Algorithm::HS256).claims(good_claims()).sign()).as_deref(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "authentication is misconfigured");
}

#[tokio::test]
async fn custom_body_keeps_status_and_challenge() {
    use axum::response::{IntoResponse, Response};
    let layer = auth().layer().with_response(|err: &AuthError| -> Response {
        // A body that tries to set its own status is overridden.
        (
            StatusCode::IM_A_TEAPOT,
            Json(json!({ "error": err.error_code(), "detail": err.description() })),
        )
            .into_response()
    });
    let app = Router::new().route("/me", get(me)).layer(layer);
    let expired = issuer()
        .token()
        .alg(Algorithm::HS256)
        .claims(with_claims(|c| {
            c.insert("exp".into(), json!(now() - 3600));
        }))
        .sign();
    let response = app.oneshot(request("/me", bearer(&expired).as_deref())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response).unwrap(), invalid_token("token expired"));
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(body_text(response).await, r#"{"detail":"token expired","error":"invalid_token"}"#);
}

#[tokio::test]
async fn typ_check_for_access_tokens_rfc8725_3_11() {
    let auth: JwtAuth<TestClaims> = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_type("at+jwt")
        .build()
        .unwrap();
    let claims = good_claims().to_string();
    let kid = issuer().kid(Algorithm::ES384);
    for (typ, ok) in
        [("at+jwt", true), ("application/at+jwt", true), ("AT+JWT", true), ("JWT", false)]
    {
        let token = issuer()
            .token()
            .alg(Algorithm::ES384)
            .raw_header(&format!(r#"{{"alg":"ES384","kid":"{kid}","typ":"{typ}"}}"#))
            .raw_payload(&claims)
            .sign();
        assert_eq!(auth.verify(&token).await.is_ok(), ok, "{typ}");
    }
    let untyped = issuer()
        .token()
        .alg(Algorithm::ES384)
        .raw_header(&format!(r#"{{"alg":"ES384","kid":"{}"}}"#, issuer().kid(Algorithm::ES384)))
        .raw_payload(&claims)
        .sign();
    assert_eq!(auth.verify(&untyped).await.unwrap_err(), AuthError::InvalidType);
}

#[tokio::test]
async fn required_claims_and_custom_validators() {
    let auth: JwtAuth<Value> = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_claims(["jti"])
        .validate(
            |c: &Value| {
                if c["sub"] == "banned" { Err("subject is blocked".into()) } else { Ok(()) }
            },
        )
        .build()
        .unwrap();
    let without_jti = issuer().token().alg(Algorithm::HS256).claims(good_claims()).sign();
    assert_eq!(auth.verify(&without_jti).await.unwrap_err(), AuthError::MissingClaim("jti".into()));
    let banned = issuer()
        .token()
        .alg(Algorithm::HS256)
        .claims(with_claims(|c| {
            c.insert("jti".into(), json!("1"));
            c.insert("sub".into(), json!("banned"));
        }))
        .sign();
    let err = auth.verify(&banned).await.unwrap_err();
    assert_eq!(err.www_authenticate("api"), invalid_token("subject is blocked").as_str());
    let fine = issuer()
        .token()
        .alg(Algorithm::HS256)
        .claims(with_claims(|c| {
            c.insert("jti".into(), json!("1"));
        }))
        .sign();
    assert_eq!(auth.verify(&fine).await.unwrap()["sub"], "user-1");
}

#[tokio::test]
async fn several_issuers_and_audiences() {
    let auth: JwtAuth<Value> = JwtAuth::builder()
        .keys(test_keys())
        .issuer("https://a.example")
        .issuer(ISSUER)
        .audience("x")
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert!(
        auth.verify(&issuer().token().alg(Algorithm::HS256).claims(good_claims()).sign())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn leeway_is_configurable() {
    let strict: JwtAuth<Value> = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let just_expired = issuer()
        .token()
        .alg(Algorithm::HS256)
        .claims(with_claims(|c| {
            c.insert("exp".into(), json!(now() - 2));
        }))
        .sign();
    assert_eq!(strict.verify(&just_expired).await.unwrap_err(), AuthError::Expired);
    assert!(auth().verify(&just_expired).await.is_ok());
}

#[test]
fn build_refuses_an_incomplete_configuration() {
    use jwt_layer::BuildError;
    let keys = || issuer().keys();
    let err = |b: jwt_layer::JwtAuthBuilder<Value>| b.build().unwrap_err();
    assert_eq!(err(JwtAuth::builder().issuer("i").audience("a")), BuildError::NoKeyProvider);
    assert_eq!(err(JwtAuth::builder().keys(keys()).audience("a")), BuildError::NoIssuer);
    assert_eq!(err(JwtAuth::builder().keys(keys()).issuer("i")), BuildError::NoAudience);
    assert_eq!(
        err(JwtAuth::builder().keys(keys()).issuer("").audience("a")),
        BuildError::EmptyValue
    );
    assert_eq!(
        err(JwtAuth::builder().keys(keys()).issuer("i").audience("a").realm("a\"b")),
        BuildError::InvalidRealm
    );
    assert_eq!(
        err(JwtAuth::builder()
            .keys(keys())
            .issuer("i")
            .audience("a")
            .leeway(Duration::from_secs(3600))),
        BuildError::LeewayTooLarge
    );
    assert!(
        JwtAuth::<Value>::builder()
            .keys(keys())
            .dangerous_accept_any_issuer()
            .dangerous_accept_any_audience()
            .build()
            .is_ok()
    );
}

/// A provider that answers only after an await, like a remote source.
struct SlowKeys {
    set: Option<Arc<KeySet>>,
}

impl KeyProvider for SlowKeys {
    fn lookup(&self, _header: &TokenHeader<'_>) -> KeyLookup {
        let set = self.set.clone();
        KeyLookup::pending(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            set.ok_or_else(|| KeyError::Unavailable("store is down".into()))
        })
    }
}

#[tokio::test]
async fn asynchronous_key_providers_work_through_the_layer() {
    let set = Arc::new(test_keys().key_set().clone());
    let up: JwtAuth<TestClaims> = JwtAuth::builder()
        .keys(SlowKeys { set: Some(set) })
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let token = issuer().token().alg(Algorithm::PS384).claims(good_claims()).sign();
    let (status, _, body) = call(&app(up.clone()), request("/me", bearer(&token).as_deref())).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"sub":"user-1"}"#));
    let (status, _, _) =
        call(&app(up), request("/me", bearer(&flip_char(&token, token.len() - 5)).as_deref()))
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let down: JwtAuth<TestClaims> = JwtAuth::builder()
        .keys(SlowKeys { set: None })
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let (status, challenge, _) = call(&app(down), request("/me", bearer(&token).as_deref())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.unwrap(), invalid_token("verification keys unavailable"));
}

#[tokio::test]
async fn verify_works_without_the_layer() {
    let auth = auth();
    let claims = auth
        .verify(&issuer().token().alg(Algorithm::RS512).claims(good_claims()).sign())
        .await
        .unwrap();
    assert_eq!(claims.sub, "user-1");
    assert_eq!(
        auth.verify("garbage").await.unwrap_err(),
        AuthError::Malformed(jwt_layer::reason::MalformedReason::NotThreeSegments)
    );
}

// ---------------------------------------------------------------------------------------------
// Required and optional routes under one JwtAuth; one renderer for every refusal
// ---------------------------------------------------------------------------------------------

/// Every `WWW-Authenticate` value of a response.
fn challenges(response: &axum::response::Response) -> Vec<String> {
    let values = response.headers().get_all(header::WWW_AUTHENTICATE);
    values.iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// Under an optional layer, `Claims<C>` answers a request without credentials 401 with exactly
/// the challenge the same `JwtAuth` sends without `optional` (realm included, and the DPoP
/// challenge beside the Bearer one when DPoP is allowed), never the 500 of a route without
/// the layer.
#[tokio::test]
async fn claims_under_an_optional_layer_answer_an_anonymous_request_401() {
    let builder = || {
        JwtAuth::<TestClaims>::builder()
            .keys(test_keys())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .realm("shop")
    };
    let dpop = || jwt_layer::Dpop::allowed().public_origin("https://api.example");
    for with_dpop in [false, true] {
        let configured = || if with_dpop { builder().dpop(dpop()) } else { builder() };
        let required =
            Router::new().route("/me", get(me)).layer(configured().build().unwrap().layer());
        let optional = Router::new()
            .route("/me", get(me))
            .layer(configured().optional().build().unwrap().layer());
        let from_required = required.oneshot(request("/me", None)).await.unwrap();
        let from_optional = optional.clone().oneshot(request("/me", None)).await.unwrap();
        assert_eq!(from_optional.status(), StatusCode::UNAUTHORIZED);
        let expected = challenges(&from_required);
        assert_eq!(expected[0], r#"Bearer realm="shop""#);
        assert_eq!(expected.len(), if with_dpop { 2 } else { 1 });
        if with_dpop {
            assert!(expected[1].starts_with(r#"DPoP realm="shop", algs=""#), "{expected:?}");
        }
        assert_eq!(challenges(&from_optional), expected);
        assert_eq!(body_text(from_optional).await, "");
        // Another scheme carries no bearer credentials either.
        let basic = optional.clone().oneshot(request("/me", Some("Basic abc"))).await.unwrap();
        assert_eq!((basic.status(), challenges(&basic)), (StatusCode::UNAUTHORIZED, expected));
        // A signed-in request gets its claims.
        let good = issuer().token().alg(Algorithm::EdDSA).claims(good_claims()).sign();
        let (status, _, body) = call(&optional, request("/me", bearer(&good).as_deref())).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"sub":"user-1"}"#));
    }
}

fn post(uri: &str, authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(uri);
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body(Body::empty()).unwrap()
}

fn with_roles(roles: Value) -> String {
    issuer()
        .token()
        .alg(Algorithm::EdDSA)
        .claims(with_claims(|c| {
            c.insert("roles".into(), roles);
        }))
        .sign()
}

const INSUFFICIENT_ROLE: &str =
    r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient role""#;

/// The app of the README: one optional `JwtAuth` (one key cache) serving a signed-in `/me`, an
/// open `/public` that greets a signed-in caller, `/orders` behind `RequireAuth`, and
/// `POST /admin/items` for the role `admin`.
fn mixed_app(auth: &JwtAuth<TestClaims>) -> Router {
    async fn public(claims: Option<Claims<TestClaims>>) -> String {
        claims.map_or_else(|| "hello stranger".to_owned(), |c| format!("hello {}", c.sub))
    }
    Router::new()
        .route("/me", get(me))
        .route("/public", get(public))
        .route("/orders", get(ok).route_layer(auth.require_auth()))
        .route(
            "/admin/items",
            axum::routing::post(ok).route_layer(auth.require_any_role(["admin"]).unwrap()),
        )
}

#[tokio::test]
async fn required_and_optional_routes_under_one_jwt_auth() {
    let auth: JwtAuth<TestClaims> = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .roles_claim("roles")
        .optional()
        .build()
        .unwrap();
    let app = mixed_app(&auth).layer(auth.layer());
    let unauthorized = (StatusCode::UNAUTHORIZED, Some(NO_ERROR.to_owned()), String::new());

    // Anonymous: the open route answers, every other one asks for credentials (401, not 500).
    assert_eq!(call(&app, request("/public", None)).await.2, "hello stranger");
    assert_eq!(call(&app, request("/me", None)).await, unauthorized);
    assert_eq!(call(&app, request("/orders", None)).await, unauthorized);
    assert_eq!(call(&app, post("/admin/items", None)).await, unauthorized);

    // A bad token is refused everywhere, the open route included.
    let good = with_roles(json!(["user"]));
    let tampered = flip_char(&good, 20);
    let (status, challenge, _) = call(&app, request("/public", bearer(&tampered).as_deref())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("invalid_token"));

    // Signed in without the role.
    let user = bearer(&good);
    assert_eq!(call(&app, request("/public", user.as_deref())).await.2, "hello user-1");
    let (status, _, body) = call(&app, request("/me", user.as_deref())).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"sub":"user-1"}"#));
    assert_eq!(call(&app, request("/orders", user.as_deref())).await.0, StatusCode::OK);
    assert_eq!(
        call(&app, post("/admin/items", user.as_deref())).await,
        (StatusCode::FORBIDDEN, Some(INSUFFICIENT_ROLE.to_owned()), String::new())
    );

    // Signed in with the role.
    let admin = bearer(&with_roles(json!(["admin"])));
    assert_eq!(call(&app, post("/admin/items", admin.as_deref())).await.0, StatusCode::OK);

    // The same routes under a required layer: anonymous is refused by the layer itself.
    let required: JwtAuth<TestClaims> = JwtAuth::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .roles_claim("roles")
        .build()
        .unwrap();
    let app = mixed_app(&required).layer(required.layer());
    assert_eq!(call(&app, request("/public", None)).await, unauthorized);
    assert_eq!(call(&app, request("/orders", admin.as_deref())).await.0, StatusCode::OK);
}

/// The renderer given to the layer renders every refusal beneath it: its own, the route
/// layers' (unless one has its own) and the extractor's 401, on the path that verifies at once
/// and on the one that waits for a store; the status and challenge stay the error's, and the
/// renderer sees the request's method and path.
#[tokio::test]
async fn the_layers_renderer_renders_the_route_layers_refusals() {
    use axum::response::{IntoResponse, Response};
    use jwt_layer::RefusedRequest;
    use jwt_layer::store::MemoryRevocationStore;

    let render = |err: &AuthError, req: &RefusedRequest<'_>| -> Response {
        let body = json!({
            "error": err.error_code(),
            "detail": err.description(),
            "method": req.method(),
            "instance": req.path(),
        });
        // A status of its own is overridden.
        (StatusCode::IM_A_TEAPOT, Json(body)).into_response()
    };
    let builder = || {
        JwtAuth::<TestClaims>::builder()
            .keys(test_keys())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .roles_claim("roles")
            .optional()
    };
    let store = Arc::new(MemoryRevocationStore::new(16));
    for auth in [builder().build().unwrap(), builder().revocation_store(store).build().unwrap()] {
        let own = auth
            .require_any_role(["owner"])
            .unwrap()
            .with_response(|_: &AuthError| -> Response { "own body".into_response() });
        let app = mixed_app(&auth)
            .route("/own", get(ok).route_layer(own))
            .layer(auth.layer().with_response_for(render));
        let user = bearer(&with_roles(json!(["user"])));

        let response = app.clone().oneshot(post("/admin/items", user.as_deref())).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(challenge(&response), Some(INSUFFICIENT_ROLE));
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            body_text(response).await,
            r#"{"detail":"insufficient role","error":"insufficient_scope","instance":"/admin/items","method":"POST"}"#
        );

        // The 401 of the extractor and of `RequireAuth` for an anonymous request.
        for path in ["/me", "/orders"] {
            let (status, challenge, body) = call(&app, request(path, None)).await;
            assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(NO_ERROR)));
            let expected = format!(
                r#"{{"detail":"authentication required","error":null,"instance":"{path}","method":"GET"}}"#
            );
            assert_eq!(body, expected);
        }

        // The layer's own refusal, with the path but never the query.
        let tampered = bearer(&flip_char(&with_roles(json!(["user"])), 20));
        let (status, challenge, body) =
            call(&app, request("/public?x=1", tampered.as_deref())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.unwrap(), invalid_token("malformed token"));
        assert!(body.contains(r#""instance":"/public","method":"GET""#), "{body}");

        // A route layer with its own renderer keeps it.
        let (status, challenge, body) = call(&app, request("/own", user.as_deref())).await;
        assert_eq!(
            (status, challenge.as_deref(), body.as_str()),
            (StatusCode::FORBIDDEN, Some(INSUFFICIENT_ROLE), "own body")
        );
    }

    // The closure form without the request keeps working for the route layers too.
    let auth = builder().build().unwrap();
    let app = mixed_app(&auth).layer(auth.layer().with_response(|err: &AuthError| -> Response {
        format!("refused: {}", err.description()).into_response()
    }));
    let user = bearer(&with_roles(json!(["user"])));
    let (status, challenge, body) = call(&app, post("/admin/items", user.as_deref())).await;
    assert_eq!(
        (status, challenge.as_deref(), body.as_str()),
        (StatusCode::FORBIDDEN, Some(INSUFFICIENT_ROLE), "refused: insufficient role")
    );
}

/// Under `Router::nest` the renderer sees the path the client called, not the one left after
/// the prefix was stripped, wherever the layer sits: a problem document's `instance` names the
/// resource the client asked for.
#[tokio::test]
async fn the_renderer_sees_the_path_the_client_called_under_router_nest() {
    use axum::response::{IntoResponse, Response};
    use jwt_layer::RefusedRequest;

    let auth = JwtAuth::<TestClaims>::builder()
        .keys(test_keys())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let layer = || {
        auth.layer().with_response_for(|_: &AuthError, req: &RefusedRequest<'_>| -> Response {
            req.path().to_owned().into_response()
        })
    };
    let inner = || Router::new().route("/me", get(ok));
    for app in [
        Router::new().nest("/api", inner().layer(layer())),
        Router::new().nest("/api", inner()).layer(layer()),
    ] {
        let (status, _, body) = call(&app, request("/api/me?x=1", None)).await;
        assert_eq!((status, body.as_str()), (StatusCode::UNAUTHORIZED, "/api/me"));
    }
}
