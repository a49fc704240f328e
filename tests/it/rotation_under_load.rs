//! Key rotation under load: concurrent requests through the layer, served over loopback HTTP,
//! while the identity provider's loopback JWKS server rotates keys the way RFC 7517 §4.5 and
//! OIDC Core §10.1.1 describe: the new key is published first, used for signing only after a
//! lead time longer than the unknown-`kid` cooldown, and the old key is retired once nothing
//! signs with it and no request carrying its tokens is still in flight.
//!
//! Promise checked: 0 valid requests refused, 0 invalid requests accepted; no request hangs;
//! the JWKS server sees a bounded number of fetches; once rotation is over and the set
//! refreshed, a retired key is refused.
//!
//! Nothing here depends on how fast the machine is: the schedule moves on when the clients have
//! completed a number of requests (not after a time), and the remote key set's lifetimes and
//! cooldowns run on a clock the schedule advances by the times a real provider would wait.
//!
//! Bounded: 4 rotations, 16 concurrent clients, 3 × 400 requests per rotation.
#![cfg(feature = "remote")]

use crate::clock;
use crate::common;
use crate::jwks_server;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use clock::ManualClock;
use common::*;
use http::StatusCode;
use jwks_server::{Behaviour, HANG_GUARD, JwksServer, Payload};
use jwt_layer::keys::RemoteJwks;
use jwt_layer::testing::TestIssuer;
use jwt_layer::{Algorithm, Claims, JwtAuth};
use serde_json::{Value, json};
use tokio::sync::watch;

const ROTATIONS: usize = 4;
/// The provider's clock time of one rotation.
const PERIOD: Duration = Duration::from_secs(2);
/// From publication of the new key to its first use; longer than the cooldown.
const LEAD: Duration = Duration::from_millis(700);
/// From first use of the new key to retirement of the old one.
const OVERLAP: Duration = Duration::from_millis(700);
const COOLDOWN: Duration = Duration::from_millis(500);
const MAX_AGE_SECS: u64 = 2;
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const CLIENTS: usize = 16;
/// Requests completed in each step of the schedule before it moves on.
const STEP: u64 = 400;

/// A signing key of the rotation, each of an issuer of its own: P-256 and Ed25519 alternate.
struct RotationKey {
    idp: TestIssuer,
    alg: Algorithm,
    kid: String,
}

impl RotationKey {
    fn generate(index: usize) -> Self {
        let idp = TestIssuer::new(ISSUER);
        let alg = if index.is_multiple_of(2) { Algorithm::EdDSA } else { Algorithm::ES256 };
        RotationKey { kid: idp.kid(alg), idp, alg }
    }

    fn jwk(&self) -> Value {
        self.idp.jwk(self.alg)
    }

    /// A token with header `{alg, typ, kid}` (kid overridable) over `claims`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        self.idp.token().alg(self.alg).kid(kid).claims(claims.clone()).sign()
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
    /// Counts the phases, so the schedule can tell when no request of an older one is left.
    generation: u64,
    valid: String,
    /// Signed by the previous key, while it is still published (None outside the overlap).
    previous: Option<String>,
    forged: String,
    expired: String,
    wrong_audience: String,
    tampered: String,
}

fn phase(
    generation: u64,
    current: &RotationKey,
    previous: Option<&RotationKey>,
    attacker: &RotationKey,
) -> Phase {
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
        generation,
        previous: previous.map(|key| key.sign(&key.kid, &good_claims())),
        forged: attacker.sign(&current.kid, &good_claims()),
        expired: current.sign(&current.kid, &expired),
        wrong_audience: current.sign(&current.kid, &wrong_audience),
        tampered,
        valid,
    }
}

struct Tally {
    valid_ok: AtomicU64,
    invalid_refused: AtomicU64,
    /// (kind, status, challenge, rotation step the request was sent in)
    wrong: Mutex<Vec<(Kind, StatusCode, String, u64)>>,
    /// Requests completed so far; the schedule waits on it.
    done: watch::Sender<u64>,
    /// Per client, the phase generation of the request it sent last.
    started: Vec<AtomicU64>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            valid_ok: AtomicU64::new(0),
            invalid_refused: AtomicU64::new(0),
            wrong: Mutex::new(Vec::new()),
            done: watch::Sender::new(0),
            started: (0..CLIENTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Waits until `more` requests have completed after this call.
    async fn wait_for(&self, more: u64) {
        let target = *self.done.borrow() + more;
        self.wait_until(|_| *self.done.borrow() >= target, &format!("{more} more requests")).await;
    }

    /// Waits until every client has sent a request of phase `generation` or later: each client
    /// sends one request at a time, so none of an older phase is in flight any more.
    async fn wait_for_generation(&self, generation: u64) {
        let caught_up =
            |tally: &Tally| tally.started.iter().all(|g| g.load(Ordering::SeqCst) >= generation);
        self.wait_until(caught_up, &format!("every client in phase {generation}")).await;
    }

    async fn wait_until(&self, condition: impl Fn(&Tally) -> bool, what: &str) {
        let mut done = self.done.subscribe();
        let waited = tokio::time::timeout(HANG_GUARD, async {
            while !condition(self) {
                done.changed().await.expect("the tally lives as long as the test");
            }
        })
        .await;
        assert!(waited.is_ok(), "waited {HANG_GUARD:?} for {what}");
    }
}

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_refuses_no_valid_and_accepts_no_invalid_request() {
    let keys: Vec<RotationKey> = (0..=ROTATIONS).map(RotationKey::generate).collect();
    let attacker = RotationKey::generate(100);

    // The identity provider: key 0 published, two-second max-age.
    let server = JwksServer::start(
        Behaviour::json(jwks_of(&[&keys[0]]))
            .with_cache_control(&format!("max-age={MAX_AGE_SECS}")),
    )
    .await;
    let clock = ManualClock::new();
    let remote = RemoteJwks::builder(server.url())
        .cooldown(COOLDOWN)
        .min_ttl(Duration::ZERO)
        .timeout(FETCH_TIMEOUT)
        .clock(clock.clone())
        .build()
        .unwrap();
    let auth: JwtAuth<Value> =
        JwtAuth::builder().keys(remote.clone()).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let app = Router::new().route("/me", get(me)).layer(auth.layer());

    // The protected service, on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}/me", listener.local_addr().unwrap());
    let app_task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // A request that hangs ends as a client error, counted as a wrong answer.
    let client = reqwest::Client::builder().no_proxy().timeout(HANG_GUARD).build().unwrap();

    let mut generation = 1;
    let current = Arc::new(Mutex::new(Arc::new(phase(generation, &keys[0], None, &attacker))));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tally = Arc::new(Tally::new());
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
            while !stop.load(Ordering::SeqCst) {
                turn += 1;
                let phase = Arc::clone(&current.lock().unwrap());
                tally.started[client_index].store(phase.generation, Ordering::SeqCst);
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
                let response = client.get(&url).bearer_auth(&token).send().await;
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
                    let wrong = (kind, status, challenge, phase.generation);
                    tally.wrong.lock().unwrap().push(wrong);
                }
                tally.done.send_modify(|done| *done += 1);
            }
        });
    }

    // The rotation schedule, run by the identity provider; the provider's clock moves by the
    // time each step would take, the load by a number of requests.
    for i in 1..=ROTATIONS {
        tally.wait_for(STEP).await;
        clock.advance(PERIOD - LEAD - OVERLAP);
        // 1. Publish the new key next to the current one. A fetch already in flight may carry
        //    the set without it: let it land, so every later fetch sees the new key.
        server.set(|b| b.payload = Payload::Json(jwks_of(&[&keys[i - 1], &keys[i]])));
        remote.wait_for_fetch().await;
        tally.wait_for(STEP).await;
        clock.advance(LEAD);
        // 2. Sign with it.
        generation += 1;
        *current.lock().unwrap() =
            Arc::new(phase(generation, &keys[i], Some(&keys[i - 1]), &attacker));
        tally.wait_for(STEP).await;
        clock.advance(OVERLAP);
        // 3. Nothing signs with the old key any more (the current phase's tokens are from the
        //    new key only); once no request of an older phase is in flight, retire it.
        generation += 1;
        *current.lock().unwrap() = Arc::new(phase(generation, &keys[i], None, &attacker));
        tally.wait_for_generation(generation).await;
        server.set(|b| b.payload = Payload::Json(jwks_of(&[&keys[i]])));
    }
    tally.wait_for(STEP).await;
    stop.store(true, Ordering::SeqCst);
    while let Some(joined) = clients.join_next().await {
        joined.expect("client task panicked");
    }

    // After rotation: once the set is refreshed, the first key (retired) is refused and the
    // last one verifies.
    remote.refresh().await.expect("final refresh");
    let retired = keys[0].sign(&keys[0].kid, &good_claims());
    assert!(auth.verify(&retired).await.is_err(), "a retired key still verifies");
    let last = &keys[ROTATIONS];
    auth.verify(&last.sign(&last.kid, &good_claims())).await.expect("the last key verifies");
    app_task.abort();

    let sent = *tally.done.borrow();
    let valid_ok = tally.valid_ok.load(Ordering::Relaxed);
    let invalid_refused = tally.invalid_refused.load(Ordering::Relaxed);
    let wrong = tally.wrong.lock().unwrap().clone();
    let valid_refused: Vec<_> = wrong.iter().filter(|w| w.0.must_pass()).collect();
    let invalid_accepted: Vec<_> = wrong.iter().filter(|w| !w.0.must_pass()).collect();
    let fetches = server.fetches();
    let clock_time = PERIOD * ROTATIONS as u32;
    println!(
        "rotation under load: {ROTATIONS} rotations ({clock_time:?} of provider time), \
         {CLIENTS} clients, {sent} requests ({valid_ok} valid accepted, {invalid_refused} \
         invalid refused), {} valid refused, {} invalid accepted, {fetches} JWKS fetches",
        valid_refused.len(),
        invalid_accepted.len()
    );

    assert!(valid_ok > 1000, "too little load to mean anything: {valid_ok} valid requests");
    assert!(invalid_refused > 500, "too few invalid requests: {invalid_refused}");
    assert!(
        valid_refused.is_empty(),
        "{} valid requests refused; first ones (kind, status, challenge, phase): {:?}",
        valid_refused.len(),
        &valid_refused[..valid_refused.len().min(5)]
    );
    assert!(
        invalid_accepted.is_empty(),
        "{} invalid requests accepted or wrongly answered: {:?}",
        invalid_accepted.len(),
        &invalid_accepted[..invalid_accepted.len().min(5)]
    );
    // Background refreshes at 90 % of max-age, plus at most one unknown-kid refresh per
    // cooldown, all on the provider's clock, plus the final explicit refresh and the first
    // fetch.
    let bound = (clock_time.as_secs_f64() / COOLDOWN.as_secs_f64()
        + clock_time.as_secs_f64() / (MAX_AGE_SECS as f64 * 0.9)
        + 3.0)
        .ceil() as u64;
    assert!(fetches <= bound, "{fetches} JWKS fetches in {clock_time:?}, bound {bound}");
}
