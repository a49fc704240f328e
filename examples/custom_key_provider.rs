//! Verification keys from your own store: a [`KeyProvider`] over an (in-memory, simulated)
//! database of per-tenant HMAC keys, looked up by the token's `kid`.
//!
//! The provider answers from its cache at once (`KeyLookup::Ready`) for a `kid` it has seen,
//! and with `KeyLookup::pending(async { ... })` for one it has not: the verifier awaits that
//! fetch, and the provider caches the key for the next token. The example verifies tokens with
//! `JwtAuth::verify` directly (as one would for WebSocket messages, gRPC metadata or queued
//! jobs); the same `JwtAuth` also works as the Tower layer.
//!
//! ```text
//! cargo run --example custom_key_provider
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use jwt_layer::keys::{KeyError, KeyLookup, KeyProvider, KeySet, VerifyingKey};
use jwt_layer::{Algorithm, AuthError, JwtAuth, TokenHeader};
use serde::{Deserialize, Serialize};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "reports-api";

/// Stands in for a database table `signing_keys(kid, secret)`.
struct Database {
    rows: HashMap<&'static str, &'static [u8]>,
    queries: AtomicUsize,
}

impl Database {
    async fn fetch_secret(&self, kid: &str) -> Option<Vec<u8>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(20)).await; // the round trip
        self.rows.get(kid).map(|secret| secret.to_vec())
    }
}

/// The key provider: a cache in front of the database. Cheap to clone (two `Arc`s), so the
/// fetch future can own a handle to both.
#[derive(Clone)]
struct DbKeys {
    cache: Arc<RwLock<HashMap<String, Arc<KeySet>>>>,
    db: Arc<Database>,
}

impl KeyProvider for DbKeys {
    fn lookup(&self, header: &TokenHeader<'_>) -> KeyLookup {
        // Every key here has a kid, so a token without one cannot be ours. An empty set makes
        // the verifier refuse it as "no key matches the token".
        let Some(kid) = header.kid() else {
            return KeyLookup::Ready(Ok(Arc::new(KeySet::default())));
        };
        // The fast path, taken by every token after the first: no I/O, a short read lock.
        // A poisoned lock only means another thread panicked mid-insert; the map is still fine.
        let cache = self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(keys) = cache.get(kid) {
            return KeyLookup::Ready(Ok(Arc::clone(keys)));
        }
        drop(cache);

        // The slow path: fetch, then cache. `kid` is untrusted input (the signature is not
        // checked yet), so a real store should rate-limit misses or cache them briefly too;
        // otherwise random kids turn into database queries.
        let kid = kid.to_owned();
        let store = self.clone();
        KeyLookup::pending(async move {
            println!("   [key store] kid {kid:?} not cached: querying the database");
            let Some(secret) = store.db.fetch_secret(&kid).await else {
                println!("   [key store] kid {kid:?} not in the database");
                return Ok(Arc::new(KeySet::default()));
            };
            // One key, one algorithm (RFC 8725 §3.1): these tenants sign with HS256 only.
            let key = VerifyingKey::hmac(&secret)?.with_algorithms([Algorithm::HS256])?;
            let keys = Arc::new(KeySet::new([key.with_kid(&kid)]));
            let mut cache = store.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            cache.insert(kid.clone(), Arc::clone(&keys));
            println!("   [key store] kid {kid:?} loaded and cached");
            Ok::<_, KeyError>(keys)
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct MyClaims {
    sub: String,
    tenant: String,
}

#[derive(Serialize)]
struct TokenClaims<'a> {
    sub: &'a str,
    tenant: &'a str,
    iss: &'a str,
    aud: &'a str,
    exp: u64,
}

/// Signs a token as the tenant's login service would.
fn mint(kid: &str, secret: &[u8], sub: &str, tenant: &str) -> Result<String, BoxError> {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 300;
    let claims = TokenClaims { sub, tenant, iss: ISSUER, aud: AUDIENCE, exp };
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    Ok(jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)?)?)
}

#[tokio::main]
async fn main() {
    // jsonwebtoken 11 picks its crypto backend from its cargo features. When feature
    // unification enables both backends (`aws_lc_rs`, which this crate uses, and `rust_crypto`,
    // wanted by some other crate in the build), it cannot choose and `encode()` panics.
    // Installing one explicitly avoids that; `Err` only means one was installed already.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();

    if let Err(err) = run().await {
        eprintln!("\ncustom_key_provider FAILED: {err}");
        std::process::exit(1);
    }
    println!("\nall steps behaved as expected");
}

async fn run() -> Result<(), BoxError> {
    let acme_secret: &'static [u8] = b"acme-tenant-secret-at-least-32-bytes!";
    let db = Arc::new(Database {
        rows: HashMap::from([
            ("acme-2026-01", acme_secret),
            ("globex-2026-01", &b"globex-tenant-secret-at-least-32-bytes"[..]),
        ]),
        queries: AtomicUsize::new(0),
    });
    let store = DbKeys { cache: Arc::default(), db: Arc::clone(&db) };

    let auth = JwtAuth::<MyClaims>::builder()
        .keys(store.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()?;

    let token = mint("acme-2026-01", acme_secret, "wile.e.coyote", "acme")?;

    println!("1. token with kid \"acme-2026-01\" (in the database, not cached yet)");
    let claims = auth.verify(&token).await?;
    println!("   -> accepted: {claims:?}");

    println!("2. the same token again");
    let claims = auth.verify(&token).await?;
    println!("   -> accepted from the cache: {claims:?}");
    let queries = db.queries.load(Ordering::Relaxed);
    if queries != 1 {
        return Err(format!("expected 1 database query so far, saw {queries}").into());
    }

    println!("3. token with kid \"intruder-1\" (in no database)");
    let forged = mint("intruder-1", b"a-secret-the-attacker-made-up-himself", "root", "acme")?;
    match auth.verify(&forged).await {
        Err(err @ AuthError::UnknownKey) => {
            println!("   -> refused: {err} (HTTP {}, {:?})", err.status(), err.description());
        }
        other => return Err(format!("expected UnknownKey, got {other:?}").into()),
    }

    println!("4. token claiming kid \"acme-2026-01\" but signed with another secret");
    let forged = mint("acme-2026-01", b"not-acme-secret-but-32-bytes-long", "root", "acme")?;
    match auth.verify(&forged).await {
        Err(err @ AuthError::InvalidSignature) => println!("   -> refused: {err}"),
        other => return Err(format!("expected InvalidSignature, got {other:?}").into()),
    }

    let cached = store.cache.read().map(|cache| cache.len()).unwrap_or_default();
    println!("\nkeys cached: {cached}, database queries: {}", db.queries.load(Ordering::Relaxed));
    Ok(())
}
