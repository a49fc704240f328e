//! Shared setup of the fuzz targets: the independent fixture key set (every key kind, made by
//! a JOSE stack other than this crate's), verifiers built through the public API, and one
//! current-thread runtime.

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_layer::JwtAuth;
use jwt_layer::keys::StaticKeys;
use serde_json::Value;

/// Public JWKS with `oct`, RSA (RS*/PS*), EC P-256/P-384 and Ed25519 keys, plus an `enc` key
/// and one whose `key_ops` lacks `verify` (both must be skipped).
pub const FIXTURE_JWKS: &str = include_str!("../../tests/fixtures/independent/jwks.json");
/// The fixture tokens (valid ones expire in 2100).
pub const FIXTURE_TOKENS: &str = include_str!("../../tests/fixtures/independent/tokens.json");

pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "jwt-layer-tests";
/// The fixed "now" of every verifier here, so a run is reproducible: 2023-11-14T22:13:20Z.
pub const NOW: u64 = 1_700_000_000;
pub const LEEWAY: u64 = 60;

pub static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap());

pub static KEYS: LazyLock<StaticKeys> =
    LazyLock::new(|| StaticKeys::from_jwks(FIXTURE_JWKS).expect("fixture JWKS loads"));

/// A verifier over every fixture key, for `audience`, with the fixed clock.
pub fn auth(audience: &str) -> JwtAuth<Value> {
    JwtAuth::<Value>::builder()
        .keys(KEYS.clone())
        .issuer(ISSUER)
        .audience(audience)
        .leeway(Duration::from_secs(LEEWAY))
        .clock(jwt_layer::keys::FixedClock::at(UNIX_EPOCH + Duration::from_secs(NOW)))
        .build()
        .expect("fuzz verifier builds")
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The HMAC secret the fixture JWKS publishes under `kid`.
pub fn fixture_secret(kid: &str) -> Vec<u8> {
    let jwks: Value = serde_json::from_str(FIXTURE_JWKS).unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == kid)
        .unwrap_or_else(|| panic!("no fixture key {kid}"));
    URL_SAFE_NO_PAD.decode(key["k"].as_str().unwrap()).unwrap()
}

/// The fixture tokens tagged `valid` (name, kid, token).
pub fn valid_fixture_tokens() -> Vec<(String, String, String)> {
    let tokens: Value = serde_json::from_str(FIXTURE_TOKENS).unwrap();
    tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["expect"] == "valid")
        .map(|t| {
            let text = |name: &str| t[name].as_str().unwrap_or_default().to_owned();
            (text("name"), text("kid"), text("token"))
        })
        .collect()
}

/// Why jwt-layer and jsonwebtoken may disagree (the source file `tests/it/differential.rs`
/// uses too, so the test and the fuzz target apply one verdict rule).
#[path = "../../tests/differential/categories.rs"]
pub mod categories;

/// Whether a JSON text has an object with the same member name twice, at any depth (an
/// independent check, written without the crate's strict parser). `None` if it is not JSON.
pub use categories::has_duplicate_members;
