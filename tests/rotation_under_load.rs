//! Key rotation under load: concurrent requests through the layer, served over loopback HTTP,
//! while the identity provider's loopback JWKS server rotates keys every two seconds the way
//! RFC 7517 §4.5 and OIDC Core §10.1.1 describe: the new key is published first, used for
//! signing only after a lead time longer than the unknown-`kid` cooldown, and the old key is
//! retired once nothing signs with it.
//!
//! Promise checked: 0 valid requests refused, 0 invalid requests accepted; no request waits
//! longer than the fetch timeout (plus 1 s); the JWKS server sees a bounded number of fetches;
//! once rotation is over and the set refreshed, a retired key is refused.
//!
//! Bounded: 4 rotations of about 2 s, 16 concurrent clients, at most 200 000 requests.
#![cfg(feature = "remote")]

mod common;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use axum::Router;
use axum::routing::get;
use common::*;
use http::StatusCode;
use jwks_server::{Behaviour, JwksServer, Payload};
use jwt_layer::keys::RemoteJwks;
use jwt_layer::{Claims, JwtAuth};
use serde_json::{Value, json};

const ROTATIONS: usize = 4;
const PERIOD: Duration = Duration::from_secs(2);
/// From publication of the new key to its first use; longer than the cooldown.
const LEAD: Duration = Duration::from_millis(700);
/// From first use of the new key to retirement of the old one.
const OVERLAP: Duration = Duration::from_millis(700);
/// From the last token signed with the old key to its retirement (requests in flight land).
const RETIRE_GAP: Duration = Duration::from_millis(200);
const COOLDOWN: Duration = Duration::from_millis(500);
const MAX_AGE_SECS: u64 = 2;
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const CLIENTS: usize = 16;
const MAX_REQUESTS: u64 = 200_000;

/// A signing key of the rotation: P-256 and Ed25519 alternate.
enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

struct RotationKey {
    kid: String,
    signer: Signer,
}

impl RotationKey {
    fn generate(index: usize) -> Self {
        let kid = format!("rot-{index}");
        let signer = if index.is_multiple_of(2) {
            Signer::EdDsa(Ed25519KeyPair::generate().unwrap())
        } else {
            Signer::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
        };
        RotationKey { kid, signer }
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Es256(_) => "ES256",
            Signer::EdDsa(_) => "EdDSA",
        }
    }

    fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Es256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid": self.kid,
                       "x": b64(&point[1..33]),"y": b64(&point[33..])})
            }
            Signer::EdDsa(pair) => {
                json!({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid": self.kid,
                       "x": b64(pair.public_key().as_ref())})
            }
        }
    }

    /// A token with header `{alg, kid}` (kid overridable) over `claims`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "typ": "JWT", "kid": kid});
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = match &self.signer {
            Signer::Es256(pair) => {
                pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap().as_ref().to_vec()
            }
            Signer::EdDsa(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(signature))
    }
}

fn jwks_of(keys: &[&RotationKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// What a request carries, and whether it must be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Signed by the current signing key, good claims.
    Valid,
    /// Signed by the previous key during the overlap (still published): valid too.
    ValidPrevious,
    /// The current key's `kid`, signed by a key never published.
    ForgedWithCurrentKid,
    /// A `kid` never published (each one new: a random-kid flood during rotation).
    UnknownKid,
    /// Current key, `exp` an hour ago.
    Expired,
    /// Current key, another audience.
    WrongAudience,
    /// Current key's token with a changed payload.
    Tampered,
}

impl Kind {
    fn must_pass(self) -> bool {
        matches!(self, Kind::Valid | Kind::ValidPrevious)
    }
}

const MIX: [Kind; 10] = [
    Kind::Valid,
    Kind::Valid,
    Kind::Valid,
    Kind::ValidPrevious,
    Kind::Valid,
    Kind::ForgedWithCurrentKid,
    Kind::UnknownKid,
    Kind::Expired,
    Kind::WrongAudience,
    Kind::Tampered,
];

/// Tokens of the current phase; replaced at each switch of the signing key.
struct Phase {
    valid: String,
    /// Signed by the previous key, while it is still published (None outside the overlap).
    previous: Option<String>,
    forged: String,
    expired: String,
    wrong_audience: String,
    tampered: String,
}

fn phase(current: &RotationKey, previous: Option<&RotationKey>, attacker: &RotationKey) -> Phase {
    let valid = current.sign(&current.kid, &good_claims());
    let mut tampered_claims = good_claims();
    tampered_claims["scope"] = json!("admin");
    let (input, signature) = valid.rsplit_once('.').unwrap();
    let header = input.split('.').next().unwrap();
    let tampered = format!("{header}.{}.{signature}", b64(tampered_claims.to_string()));
    let mut expired = good_claims();
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = good_claims();
    wrong_audience["aud"] = json!("another-api");
    Phase {
        previous: previous.map(|key| key.sign(&key.kid, &good_claims())),
        forged: attacker.sign(&current.kid, &good_claims()),
        expired: current.sign(&current.kid, &expired),
        wrong_audience: current.sign(&current.kid, &wrong_audience),
        tampered,
        valid,
    }
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    valid_ok: AtomicU64,
    invalid_refused: AtomicU64,
    /// (kind, status, challenge, seconds since start)
    wrong: Mutex<Vec<(Kind, StatusCode, String, f64)>>,
    slowest_ms: AtomicU64,
}

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_refuses_no_valid_and_accepts_no_invalid_request() {
    let test_started = Instant::now();
    let keys: Vec<RotationKey> = (0..=ROTATIONS).map(RotationKey::generate).collect();
    let attacker = RotationKey::generate(100);

    // The identity provider: key 0 published, two-second max-age.
    let server = JwksServer::start(
        Behaviour::json(jwks_of(&[&keys[0]]))
            .with_cache_control(&format!("max-age={MAX_AGE_SECS}")),
    )
    .await;
    let remote = RemoteJwks::builder(server.url())
        .cooldown(COOLDOWN)
        .min_ttl(Duration::ZERO)
        .timeout(FETCH_TIMEOUT)
        .build()
        .unwrap();
    let auth: JwtAuth<Value> =
        JwtAuth::builder().keys(remote.clone()).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let app = Router::new().route("/me", get(me)).layer(auth.layer());

    // The protected service, on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}/me", listener.local_addr().unwrap());
    let app_task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let current = Arc::new(Mutex::new(Arc::new(phase(&keys[0], None, &attacker))));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let unknown_counter = Arc::new(AtomicUsize::new(0));

    let mut clients = tokio::task::JoinSet::new();
    for client_index in 0..CLIENTS {
        let (client, url, current, stop, tally, unknown_counter) = (
            client.clone(),
            app_url.clone(),
            Arc::clone(&current),
            Arc::clone(&stop),
            Arc::clone(&tally),
            Arc::clone(&unknown_counter),
        );
        let attacker_unknown = RotationKey::generate(200 + client_index);
        clients.spawn(async move {
            let mut turn = client_index;
            while !stop.load(Ordering::Relaxed) {
                if tally.sent.fetch_add(1, Ordering::Relaxed) >= MAX_REQUESTS {
                    break;
                }
                turn += 1;
                let phase = Arc::clone(&current.lock().unwrap());
                let mut kind = MIX[turn % MIX.len()];
                let token = match kind {
                    Kind::Valid => phase.valid.clone(),
                    Kind::ValidPrevious => match &phase.previous {
                        Some(token) => token.clone(),
                        None => {
                            kind = Kind::Valid;
                            phase.valid.clone()
                        }
                    },
                    Kind::ForgedWithCurrentKid => phase.forged.clone(),
                    Kind::UnknownKid => {
                        let n = unknown_counter.fetch_add(1, Ordering::Relaxed);
                        attacker_unknown.sign(&format!("unknown-{n}"), &good_claims())
                    }
                    Kind::Expired => phase.expired.clone(),
                    Kind::WrongAudience => phase.wrong_audience.clone(),
                    Kind::Tampered => phase.tampered.clone(),
                };
                let sent_at = Instant::now();
                let response = client.get(&url).bearer_auth(&token).send().await;
                let waited = sent_at.elapsed();
                tally.slowest_ms.fetch_max(waited.as_millis() as u64, Ordering::Relaxed);
                let (status, challenge) = match response {
                    Ok(response) => (
                        response.status(),
                        response
                            .headers()
                            .get(http::header::WWW_AUTHENTICATE)
                            .map(|v| v.to_str().unwrap_or_default().to_owned())
                            .unwrap_or_default(),
                    ),
                    Err(err) => (StatusCode::BAD_GATEWAY, format!("client error: {err}")),
                };
                let right = if kind.must_pass() {
                    status == StatusCode::OK
                } else {
                    status == StatusCode::UNAUTHORIZED
                        && challenge.contains(r#"error="invalid_token""#)
                };
                if right {
                    let counter =
                        if kind.must_pass() { &tally.valid_ok } else { &tally.invalid_refused };
                    counter.fetch_add(1, Ordering::Relaxed);
                } else {
                    let at = sent_at.duration_since(test_started).as_secs_f64();
                    tally.wrong.lock().unwrap().push((kind, status, challenge, at));
                }
            }
        });
    }

    // The rotation schedule, run by the identity provider.
    let mut schedule = Vec::new();
    for i in 1..=ROTATIONS {
        tokio::time::sleep(PERIOD - LEAD - OVERLAP).await;
        // 1. Publish the new key next to the current one.
        server.set(|b| b.payload = Payload::Json(jwks_of(&[&keys[i - 1], &keys[i]])));
        let published = test_started.elapsed();
        tokio::time::sleep(LEAD).await;
        // 2. Sign with it.
        *current.lock().unwrap() = Arc::new(phase(&keys[i], Some(&keys[i - 1]), &attacker));
        let used = test_started.elapsed();
        tokio::time::sleep(OVERLAP).await;
        // 3. Nothing signs with the old key any more (the current phase's tokens are from the
        //    new key only); retire it.
        *current.lock().unwrap() = Arc::new(phase(&keys[i], None, &attacker));
        tokio::time::sleep(RETIRE_GAP).await;
        server.set(|b| b.payload = Payload::Json(jwks_of(&[&keys[i]])));
        schedule.push((published, used, test_started.elapsed()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = clients.join_next().await {
        joined.expect("client task panicked");
    }
    let load_time = test_started.elapsed();

    // After rotation: once the set is refreshed, the first key (retired) is refused and the
    // last one verifies.
    remote.refresh().await.expect("final refresh");
    let retired = keys[0].sign(&keys[0].kid, &good_claims());
    assert!(auth.verify(&retired).await.is_err(), "a retired key still verifies");
    let last = &keys[ROTATIONS];
    auth.verify(&last.sign(&last.kid, &good_claims())).await.expect("the last key verifies");
    app_task.abort();

    let sent = tally.sent.load(Ordering::Relaxed).min(MAX_REQUESTS);
    let valid_ok = tally.valid_ok.load(Ordering::Relaxed);
    let invalid_refused = tally.invalid_refused.load(Ordering::Relaxed);
    let wrong = tally.wrong.lock().unwrap().clone();
    let valid_refused: Vec<_> = wrong.iter().filter(|w| w.0.must_pass()).collect();
    let invalid_accepted: Vec<_> = wrong.iter().filter(|w| !w.0.must_pass()).collect();
    let slowest = Duration::from_millis(tally.slowest_ms.load(Ordering::Relaxed));
    let fetches = server.fetches();
    println!(
        "rotation under load: {ROTATIONS} rotations in {load_time:.1?}, {CLIENTS} clients, \
         {sent} requests ({valid_ok} valid accepted, {invalid_refused} invalid refused), \
         {} valid refused, {} invalid accepted, slowest {slowest:?}, {fetches} JWKS fetches; \
         schedule (published, used, retired) {schedule:.2?}",
        valid_refused.len(),
        invalid_accepted.len()
    );

    assert!(valid_ok > 1000, "too little load to mean anything: {valid_ok} valid requests");
    assert!(invalid_refused > 500, "too few invalid requests: {invalid_refused}");
    assert!(
        valid_refused.is_empty(),
        "{} valid requests refused; first ones (kind, status, challenge, at s): {:?}; \
         schedule (published, used, retired): {schedule:.2?}",
        valid_refused.len(),
        &valid_refused[..valid_refused.len().min(5)]
    );
    assert!(
        invalid_accepted.is_empty(),
        "{} invalid requests accepted or wrongly answered: {:?}",
        invalid_accepted.len(),
        &invalid_accepted[..invalid_accepted.len().min(5)]
    );
    assert!(
        slowest < FETCH_TIMEOUT + Duration::from_secs(1),
        "a request waited {slowest:?}, longer than the fetch timeout + 1 s"
    );
    // Background refreshes at 90 % of max-age, plus at most one unknown-kid refresh per
    // cooldown, plus the final explicit refresh and the first fetch.
    let bound = (load_time.as_secs_f64() / COOLDOWN.as_secs_f64()
        + load_time.as_secs_f64() / (MAX_AGE_SECS as f64 * 0.9)
        + 3.0)
        .ceil() as u64;
    assert!(fetches <= bound, "{fetches} JWKS fetches in {load_time:?}, bound {bound}");
}
