//! DPoP proofs (RFC 9449) through the layer, with signatures that DO verify.
//!
//! Input: `proof header JSON` `\0` `proof claims JSON`. The target signs them with a fixed
//! Ed25519 proof key (the seeds embed its public `jwk`), and sends `GET /me` with
//! `Authorization: DPoP <token>` and `DPoP: <proof>`, where the token is valid and bound to
//! that key (`cnf.jkt`). The app allows DPoP with origin `https://api.example` and the fixed
//! clock of the other targets.
//!
//! Oracle: the answer is 200, 400, 401 or 503, never 500; whenever it is 200, an independent
//! check agrees the proof was good: neither JSON text has a duplicate member; the header has
//! `typ` `dpop+jwt`, `alg` `EdDSA`, no `crit`, and a `jwk` that is exactly the proof key's
//! public members; the claims have a non-empty string `jti` not accepted within the replay
//! window before, `htm` `GET`, an `htu` naming `https://api.example/me` (query and fragment
//! aside), a numeric `iat` within the window, and `ath` the SHA-256 of the token. Nothing
//! panics.
#![no_main]

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Request, StatusCode, header};
use jwt_layer::{Claims, Dpop, JwtAuth};
use jwt_layer_fuzz::{
    AUDIENCE, ISSUER, KEYS, NOW, RUNTIME, b64, fixture_secret, has_duplicate_members,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;

const ORIGIN: &str = "https://api.example";

struct Setup {
    key: Ed25519KeyPair,
    x: String,
    token: String,
    ath: String,
    app: Router,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let key = Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap();
    let x = b64(key.public_key().as_ref());
    let canonical = json!({"crv": "Ed25519", "kty": "OKP", "x": x}).to_string();
    let jkt = b64(digest::digest(&digest::SHA256, canonical.as_bytes()));
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "exp": 4102444800u64,
                        "cnf": {"jkt": jkt}});
    let input = format!("{}.{}", b64(r#"{"alg":"HS256","kid":"hs256"}"#), b64(claims.to_string()));
    let tag =
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &fixture_secret("hs256")), input.as_bytes());
    let token = format!("{input}.{}", b64(tag.as_ref()));
    let ath = b64(digest::digest(&digest::SHA256, token.as_bytes()));
    async fn me(Claims(claims): Claims<Value>) -> String {
        claims.to_string()
    }
    let auth = JwtAuth::<Value>::builder()
        .keys(KEYS.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(jwt_layer::keys::FixedClock::at(UNIX_EPOCH + Duration::from_secs(NOW)))
        .dpop(Dpop::allowed().public_origin(ORIGIN))
        .build()
        .unwrap();
    let app = Router::new().route("/me", get(me)).layer(auth.layer());
    Setup { key, x, token, ath, app }
});

/// `JWT_LAYER_FUZZ_DEBUG=1` prints each answer (to check what the seeds reach).
static DEBUG: LazyLock<bool> = LazyLock::new(|| std::env::var_os("JWT_LAYER_FUZZ_DEBUG").is_some());

/// When each accepted `jti` was first accepted (wall clock).
static ACCEPTED_JTIS: LazyLock<Mutex<HashMap<String, Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The crate remembers a proof's `jti` for `proof_max_age + 2 * leeway` (70 s) of wall-clock
/// time. The verifier's clock is pinned here, so a proof stays fresh forever and may be
/// accepted again once that memory expires: only a reuse within the window is a replay.
const REPLAY_WINDOW: Duration = Duration::from_secs(69);

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let (header, claims) = (&data[..split], &data[split + 1..]);
    let setup = &*SETUP;
    let input = format!("{}.{}", b64(header), b64(claims));
    let proof = format!("{input}.{}", b64(setup.key.sign(input.as_bytes()).as_ref()));
    let Ok(proof_value) = HeaderValue::from_str(&proof) else { return };
    let request = Request::get("/me")
        .header(header::AUTHORIZATION, format!("DPoP {}", setup.token))
        .header("dpop", proof_value)
        .body(Body::empty())
        .unwrap();
    let response = RUNTIME.block_on(setup.app.clone().oneshot(request)).unwrap();
    let status = response.status();
    if *DEBUG {
        eprintln!("{status} {:?}", response.headers().get(header::WWW_AUTHENTICATE));
    }
    assert!(matches!(status.as_u16(), 200 | 400 | 401 | 503), "answered {status}");
    if status != StatusCode::OK {
        return;
    }

    // Accepted: check independently that it should have been.
    assert_eq!(has_duplicate_members(header), Some(false), "duplicate proof header members");
    assert_eq!(has_duplicate_members(claims), Some(false), "duplicate proof claims");
    let header: Value = serde_json::from_slice(header).expect("accepted a header that is not JSON");
    let claims: Value = serde_json::from_slice(claims).expect("accepted claims that are not JSON");
    assert_eq!(header["typ"], "dpop+jwt", "typ");
    assert_eq!(header["alg"], "EdDSA", "alg");
    assert!(header.get("crit").is_none(), "crit");
    let jwk = header["jwk"].as_object().expect("jwk");
    assert_eq!(jwk.get("kty").and_then(Value::as_str), Some("OKP"), "jwk kty");
    assert_eq!(jwk.get("crv").and_then(Value::as_str), Some("Ed25519"), "jwk crv");
    assert_eq!(jwk.get("x").and_then(Value::as_str), Some(setup.x.as_str()), "jwk x");
    assert!(!jwk.contains_key("d"), "private jwk");

    let jti = claims["jti"].as_str().expect("jti");
    assert!(!jti.is_empty(), "empty jti");
    let mut accepted = ACCEPTED_JTIS.lock().unwrap();
    if let Some(last) = accepted.get(jti) {
        assert!(
            last.elapsed() >= REPLAY_WINDOW,
            "replayed proof accepted {:?} after its last use: {jti}",
            last.elapsed()
        );
    }
    accepted.insert(jti.to_owned(), Instant::now());
    drop(accepted);
    assert_eq!(claims["htm"], "GET", "htm");
    let htu = url::Url::parse(claims["htu"].as_str().expect("htu")).expect("htu is a URL");
    assert_eq!(htu.scheme(), "https", "htu scheme");
    assert_eq!(htu.host_str(), Some("api.example"), "htu host");
    assert_eq!(htu.port_or_known_default(), Some(443), "htu port");
    assert_eq!(percent_decoded(htu.path()), "/me", "htu path");
    let iat = claims["iat"].as_f64().expect("iat");
    let now = NOW as f64;
    assert!(iat <= now + 5.0 && iat >= now - 60.0 - 5.0, "iat {iat} outside the window");
    assert_eq!(claims["ath"], setup.ath.as_str(), "ath");
});

/// The path with every `%XX` escape decoded (RFC 3986 §6.2.2.2 normalises the unreserved ones).
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = path.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
