//! `JwtAuth::explain`: every check reported in order, the verdict always the one `verify`
//! gives, and the payload's checks still reported when the signature fails.

use std::sync::Arc;

use jwt_layer::explain::{Check, Outcome};
use jwt_layer::store::{MemoryRevocationStore, RevocationStore};
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{AuthError, JwtAuth};
use serde_json::Value;

const AUDIENCE: &str = "api";

fn auth(idp: &TestIssuer) -> JwtAuth<Value> {
    JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .require_claims(["sub"])
        .build()
        .unwrap()
}

fn tamper_signature(token: &str) -> String {
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    format!("{rest}.{flipped}{}", &signature[1..])
}

#[tokio::test]
async fn the_verdict_is_verify_s_and_the_first_failure_names_it() {
    let idp = TestIssuer::new("https://idp.example.test");
    let auth = auth(&idp);
    let key = DpopKey::new();
    let good = || idp.token().audience(AUDIENCE).subject("u");
    let tokens = [
        good().sign(),
        good().expired().sign(),
        good().not_yet_valid().sign(),
        idp.token().audience("other").subject("u").sign(),
        idp.token().audience(AUDIENCE).sign(),
        good().claim("iss", "https://evil.example").sign(),
        good().claim("cnf", serde_json::json!({"x5t#S256": "abc"})).sign(),
        good().bound_to(&key).sign(),
        tamper_signature(&good().sign()),
        tamper_signature(&good().expired().sign()),
        good().kid("unknown").sign(),
        good().header("crit", serde_json::json!(["exp"])).sign(),
        good().raw_payload(r#"{"sub":"u","sub":"v"}"#).sign(),
        "not-a-token".to_owned(),
        "a.b.c.d".to_owned(),
        "x".repeat(9000),
        String::new(),
    ];
    for token in &tokens {
        let verified = auth.verify(token).await.map(|_| ());
        let explanation = auth.explain(token).await;
        assert_eq!(explanation.verdict(), verified.as_ref().map(|_| ()), "{token}");
        let first = explanation.failures().next().map(|(_, err)| err);
        assert_eq!(first, verified.as_ref().err(), "{token}: {explanation:#?}");
        let order: Vec<Check> = explanation.steps().iter().map(|step| step.check).collect();
        assert_eq!(order.len(), 20, "every check is reported: {order:?}");
    }
}

#[tokio::test]
async fn a_bad_signature_still_shows_every_problem_of_the_payload() {
    let idp = TestIssuer::new("https://idp.example.test");
    let auth = auth(&idp);
    let token = tamper_signature(&idp.token().audience("other").expired().sign());
    let explanation = auth.explain(&token).await;
    assert!(!explanation.authentic());
    assert_eq!(explanation.outcome(Check::Key), Some(&Outcome::Passed));
    assert_eq!(
        explanation.outcome(Check::Signature),
        Some(&Outcome::Failed(AuthError::InvalidSignature))
    );
    assert_eq!(explanation.outcome(Check::Expiry), Some(&Outcome::Failed(AuthError::Expired)));
    assert_eq!(
        explanation.outcome(Check::Audience),
        Some(&Outcome::Failed(AuthError::InvalidAudience))
    );
    assert_eq!(
        explanation.outcome(Check::RequiredClaims),
        Some(&Outcome::Failed(AuthError::MissingClaim("sub".into())))
    );
    assert_eq!(explanation.failures().count(), 4);
    assert!(explanation.times().expires_in().unwrap() < 0.0);
    assert!(explanation.payload_json().unwrap().contains("\"aud\":\"other\""));
}

#[tokio::test]
async fn a_valid_token_names_its_key_and_times() {
    let idp = TestIssuer::new("https://idp.example.test");
    let auth = auth(&idp);
    let token = idp.token().audience(AUDIENCE).subject("u").sign();
    let explanation = auth.explain(&token).await;
    assert_eq!(explanation.verdict(), Ok(()));
    assert!(explanation.authentic());
    let header = explanation.header().unwrap();
    assert_eq!(explanation.key().unwrap().kid(), header.kid.as_deref());
    assert!(explanation.key().unwrap().allows(header.alg));
    let expires_in = explanation.times().expires_in().unwrap();
    assert!(expires_in > 0.0 && expires_in <= 3600.0, "{expires_in}");
    assert_eq!(explanation.outcome(Check::TokenType), Some(&Outcome::Skipped("no type required")));
    assert_eq!(
        explanation.outcome(Check::Revocation),
        Some(&Outcome::Skipped("no revocation store"))
    );
}

#[tokio::test]
async fn a_token_over_the_limit_is_not_decoded() {
    let idp = TestIssuer::new("https://idp.example.test");
    let explanation = auth(&idp).explain(&"e".repeat(9000)).await;
    assert_eq!(explanation.outcome(Check::Size), Some(&Outcome::Failed(AuthError::TokenTooLarge)));
    assert!(
        explanation.steps()[1..].iter().all(|step| matches!(step.outcome, Outcome::Skipped(_)))
    );
    assert!(explanation.header_json().is_none() && explanation.payload_json().is_none());
}

#[tokio::test]
async fn revocation_and_binding_are_reported() {
    let idp = TestIssuer::new("https://idp.example.test");
    let store = Arc::new(MemoryRevocationStore::default());
    let auth = JwtAuth::<Value>::builder()
        .keys(idp.keys())
        .issuer(idp.issuer())
        .audience(AUDIENCE)
        .revocation_store(store.clone())
        .build()
        .unwrap();
    let token = idp.token().audience(AUDIENCE).subject("u").claim("jti", "t-1").sign();
    assert_eq!(auth.explain(&token).await.outcome(Check::Revocation), Some(&Outcome::Passed));
    let until = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
    store.revoke_token("t-1", until).await.unwrap();
    let explanation = auth.explain(&token).await;
    assert_eq!(explanation.outcome(Check::Revocation), Some(&Outcome::Failed(AuthError::Revoked)));
    assert_eq!(explanation.verdict(), Err(&AuthError::Revoked));

    let key = DpopKey::new();
    let bound = idp.token().audience(AUDIENCE).subject("u").bound_to(&key).sign();
    let explanation = auth.explain(&bound).await;
    assert!(explanation.dpop_bound());
    assert_eq!(
        explanation.outcome(Check::Binding),
        Some(&Outcome::Failed(AuthError::DpopRequired))
    );
}

/// The corpus of `explain_and_verify_agree_on_every_corpus_token`: a loopback introspection
/// endpoint that answers by token, and a configuration with every check turned on.
#[cfg(feature = "remote")]
mod corpus {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use http::StatusCode;
    use jwt_layer::introspection::Introspection;
    use jwt_layer::store::MemoryRevocationStore;
    use jwt_layer::testing::{DpopKey, TestIssuer, strip_signature, tamper};
    use jwt_layer::{Algorithm, JwtAuth, TokenKinds};
    use serde_json::{Value, json};
    use tokio::net::TcpListener;

    pub const AUDIENCE: &str = "api";
    pub const REVOKED_JTI: &str = "revoked-jti";

    /// The application's claims: `sub` is optional here so that a refusal of the required
    /// claim comes from `require_claims`, not from the claims type.
    #[derive(serde::Deserialize, Debug)]
    pub struct MyClaims {
        #[serde(default)]
        pub sub: Option<String>,
    }

    /// What the endpoint answers for one token; any other token is inactive.
    #[derive(Clone)]
    pub enum Reply {
        Json(Value),
        Status(StatusCode),
    }

    type Replies = Arc<Mutex<HashMap<String, Reply>>>;

    /// An introspection endpoint on loopback answering each token from `replies`.
    pub async fn endpoint(replies: HashMap<String, Reply>) -> String {
        async fn introspect(State(replies): State<Replies>, body: Bytes) -> Response {
            let token = url::form_urlencoded::parse(&body)
                .find(|(name, _)| name == "token")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            let reply = replies.lock().unwrap().get(&token).cloned();
            match reply {
                Some(Reply::Json(answer)) => axum::Json(answer).into_response(),
                Some(Reply::Status(status)) => status.into_response(),
                None => axum::Json(json!({"active": false})).into_response(),
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/introspect", post(introspect))
            .with_state(Arc::new(Mutex::new(replies)));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    /// An active answer for `idp`'s tokens, changed by `extra` (a `null` removes a member).
    fn active(idp: &TestIssuer, extra: Value) -> Reply {
        let mut answer = json!({
            "active": true,
            "iss": idp.issuer(),
            "aud": AUDIENCE,
            "sub": "alice",
            "client_id": "app",
            "scope": "read",
            "roles": ["reader"],
            "exp": now() + 600,
        });
        for (name, value) in extra.as_object().unwrap() {
            match value {
                Value::Null => _ = answer.as_object_mut().unwrap().remove(name),
                value => answer[name] = value.clone(),
            }
        }
        Reply::Json(answer)
    }

    /// Every token with a name, and what the endpoint answers for each.
    pub fn tokens(idp: &TestIssuer) -> (Vec<(String, String)>, HashMap<String, Reply>) {
        let key = DpopKey::new();
        let good = || idp.token().audience(AUDIENCE).subject("alice");
        let mut jwts: Vec<(String, String)> = Algorithm::ALL
            .into_iter()
            .map(|alg| (format!("valid {}", alg.as_str()), good().alg(alg).sign()))
            .collect();
        jwts.extend(
            [
                ("expired", good().expired().sign()),
                ("nbf in the future", good().not_yet_valid().sign()),
                ("wrong iss", good().claim("iss", "https://evil.example").sign()),
                ("wrong aud", idp.token().audience("other").subject("alice").sign()),
                ("bad signature", tamper(&good().sign())),
                ("bad signature and expired", tamper(&good().expired().sign())),
                ("alg none", strip_signature(&good().header("alg", "none").sign())),
                ("HS256 header over an RS256 signature", good().header("alg", "HS256").sign()),
                ("unknown kid", good().kid("unknown").sign()),
                ("no kid", good().without_kid().sign()),
                ("crit header", good().header("crit", json!(["exp"])).sign()),
                ("duplicate claim", good().raw_payload(r#"{"sub":"a","sub":"b"}"#).sign()),
                ("payload not JSON", good().raw_payload("not json").sign()),
                ("exp as a string", good().claim("exp", "4102444800").sign()),
                ("wrong typ", good().header("typ", "at+jwt").sign()),
                ("typ null", good().header("typ", Value::Null).sign()),
                ("missing required claim", idp.token().audience(AUDIENCE).sign()),
                ("validator refuses", good().subject("blocked").sign()),
                ("claims type refuses", good().claim("sub", 7).sign()),
                ("revoked jti", good().claim("jti", REVOKED_JTI).sign()),
                ("DPoP-bound, no proof", good().bound_to(&key).sign()),
                ("certificate-bound", good().claim("cnf", json!({"x5t#S256": "abc"})).sign()),
                ("unknown cnf method", good().claim("cnf", json!({"jwk": {}})).sign()),
                ("active at the AS but expired locally", good().expired().sign()),
                ("valid locally but inactive at the AS", good().sign()),
            ]
            .map(|(name, token)| (name.to_owned(), token)),
        );
        let malformed = [
            ("empty", String::new()),
            ("two segments", "eyJh.eyJi".to_owned()),
            ("four segments", "a.b.c.d".to_owned()),
            ("empty header", ".eyJi.c2ln".to_owned()),
            ("not base64url", "eyJh.ey!i.c2ln".to_owned()),
            ("too large JWS", format!("{}.{}.c2ln", "e".repeat(5000), "e".repeat(5000))),
            ("too large opaque", "o".repeat(9000)),
        ];
        jwts.extend(malformed.map(|(name, token)| (name.to_owned(), token)));

        let mut replies = HashMap::new();
        let find = |jwts: &[(String, String)], name: &str| {
            jwts.iter().find(|(n, _)| n == name).unwrap().1.clone()
        };
        replies.insert(
            find(&jwts, "active at the AS but expired locally"),
            active(idp, json!({"sub": "alice"})),
        );
        replies.insert(find(&jwts, "valid RS256"), active(idp, json!({})));
        replies.insert(find(&jwts, "validator refuses"), active(idp, json!({"sub": "blocked"})));

        let opaque = [
            ("opaque active", active(idp, json!({}))),
            ("opaque inactive", Reply::Json(json!({"active": false}))),
            ("opaque expired by the answer", active(idp, json!({"exp": now() - 3600}))),
            ("opaque nbf in the future", active(idp, json!({"nbf": now() + 3600}))),
            ("opaque wrong aud", active(idp, json!({"aud": "other"}))),
            ("opaque wrong iss", active(idp, json!({"iss": "https://evil.example"}))),
            ("opaque no exp", active(idp, json!({"exp": null}))),
            ("opaque missing sub", active(idp, json!({"sub": null}))),
            ("opaque validator refuses", active(idp, json!({"sub": "blocked"}))),
            ("opaque claims type refuses", active(idp, json!({"sub": 7}))),
            ("opaque revoked", active(idp, json!({"jti": REVOKED_JTI}))),
            ("opaque DPoP-bound", active(idp, json!({"cnf": {"jkt": key.thumbprint()}}))),
            ("opaque refresh token", active(idp, json!({"token_type": "refresh_token"}))),
            ("opaque roles not strings", active(idp, json!({"roles": [1, {"a": 2}]}))),
            ("opaque AS fails", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR)),
            ("opaque AS refuses our credentials", Reply::Status(StatusCode::UNAUTHORIZED)),
        ];
        for (index, (name, reply)) in opaque.into_iter().enumerate() {
            let token = format!("2YotnFZFEjr1zCsicMWp{index:02}");
            replies.insert(token.clone(), reply);
            jwts.push((name.to_owned(), token));
        }
        jwts.push(("opaque unknown to the AS".to_owned(), "unknown-opaque-token".to_owned()));
        (jwts, replies)
    }

    /// The configuration: every check on, introspection for `kinds` (none for `Jwt`).
    pub fn auth(
        idp: &TestIssuer,
        kinds: TokenKinds,
        endpoint: &str,
        store: &Arc<MemoryRevocationStore>,
    ) -> JwtAuth<MyClaims> {
        let builder = JwtAuth::<MyClaims>::builder()
            .keys(idp.keys())
            .issuer(idp.issuer())
            .audience(AUDIENCE)
            .require_claims(["sub"])
            .require_type("JWT")
            .leeway(Duration::from_secs(30))
            .validate(|claims: &MyClaims| match claims.sub.as_deref() {
                Some("blocked") => Err("subject blocked".into()),
                _ => Ok(()),
            })
            .roles_claim("roles")
            .permissions(|claims: &MyClaims| claims.sub.clone())
            .revocation_store(store.clone());
        match kinds {
            TokenKinds::Jwt => builder.build().unwrap(),
            kinds => builder
                .introspection(
                    Introspection::endpoint(endpoint).client_secret_basic("api", "s3cret"),
                )
                .token_kinds(kinds)
                .build()
                .unwrap(),
        }
    }
}

/// `explain`'s verdict is `verify`'s for every token, whichever way the token is verified:
/// locally as a JWT, or by introspection (RFC 7662) as every `TokenKinds` routes it. A
/// diagnosis that disagrees with the verifier misleads whoever debugs a refusal.
#[cfg(feature = "remote")]
#[tokio::test]
async fn explain_and_verify_agree_on_every_corpus_token() {
    use jwt_layer::TokenKinds;

    let idp = TestIssuer::new("https://idp.example.test");
    let (tokens, replies) = corpus::tokens(&idp);
    let endpoint = corpus::endpoint(replies).await;
    let store = Arc::new(MemoryRevocationStore::default());
    let until = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    store.revoke_token(corpus::REVOKED_JTI, until).await.unwrap();

    let mut disagreements = Vec::new();
    let mut compared = 0;
    // Every explanation lists the same checks in the same order, whichever route it took.
    let mut first_order: Option<Vec<Check>> = None;
    for kinds in [TokenKinds::Jwt, TokenKinds::JwtAndOpaque, TokenKinds::Opaque] {
        // Explained first on one verifier and second on another, so an answer cached by the
        // first call cannot hide a difference.
        for explain_first in [true, false] {
            let auth = corpus::auth(&idp, kinds, &endpoint, &store);
            for (name, token) in &tokens {
                let (verified, explanation) = if explain_first {
                    let explanation = auth.explain(token).await;
                    (auth.verify(token).await.map(|_| ()), explanation)
                } else {
                    let verified = auth.verify(token).await.map(|_| ());
                    (verified, auth.explain(token).await)
                };
                compared += 1;
                let order: Vec<Check> = explanation.steps().iter().map(|s| s.check).collect();
                assert_eq!(order, first_order.get_or_insert_with(|| order.clone()).clone());
                match kinds {
                    TokenKinds::Jwt => assert!(!explanation.introspected(), "{name}"),
                    TokenKinds::Opaque => assert!(explanation.introspected(), "{name}"),
                    _ => {}
                }
                if explanation.verdict() != verified.as_ref().map(|_| ()) {
                    disagreements.push(format!(
                        "{kinds:?} {name}: verify {verified:?}, explain {:?}",
                        explanation.verdict()
                    ));
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {compared} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// An introspected token is reported as such: the JWS checks skipped, the authorization
/// server's verdict on `Check::Introspection`, the answer's members on the payload's checks,
/// and the grants the answer carries as a step.
#[cfg(feature = "remote")]
#[tokio::test]
async fn an_introspected_token_reports_the_answer_and_its_grants() {
    use jwt_layer::TokenKinds;

    let idp = TestIssuer::new("https://idp.example.test");
    let (tokens, replies) = corpus::tokens(&idp);
    let endpoint = corpus::endpoint(replies).await;
    let store = Arc::new(MemoryRevocationStore::default());
    let auth = corpus::auth(&idp, TokenKinds::JwtAndOpaque, &endpoint, &store);
    let token = |name: &str| tokens.iter().find(|(n, _)| n == name).unwrap().1.clone();

    let active = auth.explain(&token("opaque active")).await;
    assert!(active.introspected() && !active.authentic());
    assert_eq!(active.verdict(), Ok(()));
    assert_eq!(active.outcome(Check::Introspection), Some(&Outcome::Passed));
    assert_eq!(active.outcome(Check::Grants), Some(&Outcome::Passed));
    assert!(matches!(active.outcome(Check::Signature), Some(Outcome::Skipped(_))));
    assert!(active.times().expires_in().unwrap() > 0.0);
    assert!(active.header().is_none() && active.payload_json().is_none());

    // The server's own verdict is the introspection check's; the answer's members are judged
    // by the payload's checks, each reported on its own.
    for (name, check, refusal) in [
        ("opaque inactive", Check::Introspection, AuthError::InactiveToken),
        ("opaque AS fails", Check::Introspection, AuthError::IntrospectionUnavailable),
        ("opaque expired by the answer", Check::Expiry, AuthError::Expired),
        ("opaque wrong aud", Check::Audience, AuthError::InvalidAudience),
    ] {
        let explanation = auth.explain(&token(name)).await;
        assert_eq!(explanation.outcome(check), Some(&Outcome::Failed(refusal.clone())), "{name}");
        assert_eq!(explanation.verdict(), Err(&refusal), "{name}");
        assert_eq!(explanation.failures().count(), 1, "{name}");
        if check != Check::Introspection {
            assert_eq!(explanation.outcome(Check::Introspection), Some(&Outcome::Passed));
        }
    }

    // A JWT under the same configuration is verified locally; its grants are a step too.
    let jwt = auth.explain(&token("valid ES256")).await;
    assert!(!jwt.introspected() && jwt.authentic());
    assert_eq!(jwt.outcome(Check::Introspection), Some(&Outcome::Skipped("verified as a JWT")));
    assert_eq!(jwt.outcome(Check::Grants), Some(&Outcome::Passed));
    let plain = self::auth(&idp).explain(&token("valid ES256")).await;
    assert_eq!(
        plain.outcome(Check::Grants),
        Some(&Outcome::Skipped("no roles or permissions configured"))
    );
    assert_eq!(
        plain.outcome(Check::Introspection),
        Some(&Outcome::Skipped("no introspection configured"))
    );
}
