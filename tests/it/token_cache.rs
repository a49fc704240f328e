//! The opt-in verified-token cache: hits skip the key lookup, time claims are re-checked on
//! every hit, entries never outlive `exp`, and revocation is still consulted.

use crate::common;

use common::CountedKeys;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jwt_layer::store::{MemoryRevocationStore, RevocationStore};
use jwt_layer::testing::TestIssuer;
use jwt_layer::{Algorithm, AuthError, JwtAuth};
use serde_json::Value;

struct Setup {
    idp: TestIssuer,
    auth: JwtAuth<Value>,
    lookups: Arc<AtomicUsize>,
    /// How far the verifier's clock runs ahead of the real one.
    clock: Arc<Mutex<Duration>>,
    revoked: Arc<MemoryRevocationStore>,
}

fn setup(max_entries: usize) -> Setup {
    let idp = TestIssuer::new("https://idp.example.test");
    let lookups = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(Mutex::new(Duration::ZERO));
    let revoked = Arc::new(MemoryRevocationStore::default());
    let now = Arc::clone(&clock);
    let auth = JwtAuth::builder()
        .keys(CountedKeys { keys: idp.keys(), lookups: Arc::clone(&lookups) })
        .issuer(idp.issuer())
        .audience("api")
        .leeway(Duration::ZERO)
        .clock(OffsetClock(now))
        .revocation_store(revoked.clone())
        .verified_token_cache(max_entries)
        .build()
        .unwrap();
    Setup { idp, auth, lookups, clock, revoked }
}

#[tokio::test]
async fn a_hit_skips_the_signature_check() {
    let s = setup(100);
    let token = s.idp.token().audience("api").subject("alice").alg(Algorithm::ES256).sign();
    for _ in 0..5 {
        assert_eq!(s.auth.verify(&token).await.unwrap()["sub"], "alice");
    }
    assert_eq!(s.lookups.load(Ordering::SeqCst), 1);
    // A different token (one changed byte) is not a hit.
    let forged = jwt_layer::testing::tamper(&token);
    assert_eq!(s.auth.verify(&forged).await.unwrap_err(), AuthError::InvalidSignature);
    assert_eq!(s.lookups.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn entries_never_outlive_exp_and_nbf_is_rechecked() {
    let s = setup(100);
    let token =
        s.idp.token().audience("api").subject("a").expires_in(Duration::from_secs(60)).sign();
    assert!(s.auth.verify(&token).await.is_ok());
    *s.clock.lock().unwrap() += Duration::from_secs(61);
    assert_eq!(s.auth.verify(&token).await.unwrap_err(), AuthError::Expired);
    let later = s.idp.token().audience("api").subject("b").claim("nbf", now_plus(120)).sign();
    assert_eq!(s.auth.verify(&later).await.unwrap_err(), AuthError::NotYetValid);
}

#[tokio::test]
async fn revocation_is_consulted_on_every_hit() {
    let s = setup(100);
    let token = s.idp.token().audience("api").subject("a").claim("jti", "t-1").sign();
    s.auth.verify(&token).await.unwrap();
    s.revoked.revoke_token("t-1", SystemTime::now() + Duration::from_secs(600)).await.unwrap();
    assert_eq!(s.auth.verify(&token).await.unwrap_err(), AuthError::Revoked);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let s = setup(4);
    for i in 0..200 {
        let token = s
            .idp
            .token()
            .audience("api")
            .subject(&format!("user-{i}"))
            .alg(Algorithm::HS256)
            .sign();
        s.auth.verify(&token).await.unwrap();
    }
    // Every token was new: 200 lookups, and the cache held at most a few of them.
    assert_eq!(s.lookups.load(Ordering::SeqCst), 200);
}

fn now_plus(seconds: u64) -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + seconds
}

/// The system clock moved forward by a duration the test sets.
#[derive(Debug)]
struct OffsetClock(Arc<Mutex<Duration>>);

impl jwt_layer::keys::Clock for OffsetClock {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now() + *self.0.lock().unwrap()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now() + *self.0.lock().unwrap()
    }
}
