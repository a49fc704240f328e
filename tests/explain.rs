//! `JwtAuth::explain`: every check reported in order, the verdict always the one `verify`
//! gives, and the payload's checks still reported when the signature fails.

use std::sync::Arc;

use jwt_layer::store::{MemoryRevocationStore, RevocationStore};
use jwt_layer::testing::{DpopKey, TestIssuer};
use jwt_layer::{AuthError, Check, JwtAuth, Outcome};
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
        assert_eq!(order.len(), 18, "every check is reported: {order:?}");
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
