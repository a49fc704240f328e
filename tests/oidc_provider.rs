//! End to end against a real OpenID provider nobody here wrote: panva's `oidc-provider` (npm),
//! started on loopback by `tests/oidc/provider.mjs`. Its access tokens (client credentials, JWT
//! format, `typ: at+jwt`) are verified through OIDC discovery and its remote JWKS, including a
//! key rotation on the provider side; its opaque tokens are checked by introspection; and
//! step-up authentication (RFC 9470) with tokens from its authorization code flow, which carry
//! the user's `acr` and `auth_time`.
//!
//! Needs Node.js and the provider's packages, so every test here is ignored (`#[ignore = "…"]`) with that
//! reason: plain `cargo test` lists them as ignored, and `./scripts/test.sh` (which installs
//! Node.js and runs `npm ci --prefix tests/oidc`) runs them with `--include-ignored`. Run by
//! hand without the packages, a test FAILS with the setup instruction; it never passes
//! silently. Built with the `remote` feature (on by default), which provides the remote key
//! sets under test.
//!
//! The remote key sets' cooldowns run on a clock the tests advance; nothing here waits for
//! time to pass. (Startup of the provider and each exchange run under generous hang guards.)
#![cfg(feature = "remote")]

// Only `log` goes unused here.
#[allow(dead_code)]
#[path = "support/child_process.rs"]
mod child_process;
#[path = "support/clock.rs"]
mod clock;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use child_process::ChildProcess;
use clock::ManualClock;
use http::{Request, StatusCode, header};
use jwt_layer::keys::{Jwks, RemoteJwks};
use jwt_layer::{AuthError, JwtAuth};
use serde_json::{Value, json};
use tower::ServiceExt;

const CLIENT_ID: &str = "jwt-layer-test";
const CLIENT_SECRET: &str = "jwt-layer-secret";
const API: &str = "https://api.example.test/";
const OTHER_API: &str = "https://other.example.test/";
/// The resource server whose tokens the provider issues opaque, for introspection.
const OPAQUE_API: &str = "https://opaque.example.test/";
/// How long the provider may take to print its issuer line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for any one verification or HTTP exchange, so a hang fails instead of stalling.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const SETUP_HINT: &str =
    "run `npm ci --prefix tests/oidc` (needs Node.js and npm) before `cargo test`";

// ---------------------------------------------------------------------------------------------
// The provider process
// ---------------------------------------------------------------------------------------------

/// A running `tests/oidc/provider.mjs`, killed (and reaped) when dropped.
struct OidcProvider {
    issuer: String,
    token_endpoint: String,
    http: reqwest::Client,
    /// Run with `EXIT_ON_STDIN_CLOSE=1`, so it also exits if this test process dies without
    /// running destructors.
    process: ChildProcess,
}

impl OidcProvider {
    /// Starts the provider with `ACCESS_TOKEN_ALG=alg` and reads its discovery document.
    async fn start(alg: &str) -> OidcProvider {
        Self::start_on(alg, 0).await
    }

    /// Like [`OidcProvider::start`], on a given port (0: any free one).
    async fn start_on(alg: &str, port: u16) -> OidcProvider {
        Self::start_with(alg, port, &[]).await
    }

    /// Like [`OidcProvider::start_on`], with more of `provider.mjs`'s environment variables.
    async fn start_with(alg: &str, port: u16, env: &[(&str, &str)]) -> OidcProvider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("oidc");
        let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());

        match Command::new(&node).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`{} --version` failed ({}): {}\n{SETUP_HINT}",
                node.to_string_lossy(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!(
                "Node.js is required by this test but `{}` could not be run: {e}\n{SETUP_HINT}",
                node.to_string_lossy()
            ),
        }
        let installed = dir.join("node_modules").join("oidc-provider").join("package.json");
        assert!(
            installed.is_file(),
            "{} is missing: the OpenID provider's packages are not installed; {SETUP_HINT}",
            installed.display()
        );

        let (process, line) = ChildProcess::start(
            "OpenID provider",
            SETUP_HINT,
            STARTUP_TIMEOUT,
            Command::new(&node)
                .arg(dir.join("provider.mjs"))
                .current_dir(&dir)
                .env("ACCESS_TOKEN_ALG", alg)
                .env("EXIT_ON_STDIN_CLOSE", "1")
                .env("PORT", port.to_string())
                .envs(env.iter().copied()),
        );
        // The one stdout line: {"issuer":"http://127.0.0.1:PORT"}.
        let mut provider = OidcProvider {
            issuer: String::new(),
            token_endpoint: String::new(),
            http: reqwest::Client::builder().timeout(STEP_TIMEOUT).build().unwrap(),
            process,
        };
        let issuer = match serde_json::from_str::<Value>(&line) {
            Ok(v) if v["issuer"].is_string() => v["issuer"].as_str().unwrap().to_owned(),
            _ => {
                provider.fail(&format!("unexpected first stdout line from the provider: {line:?}"))
            }
        };
        assert!(issuer.starts_with("http://127.0.0.1:"), "issuer not on loopback: {issuer}");
        provider.issuer = issuer;

        let discovery = provider.get_json("/.well-known/openid-configuration").await;
        assert_eq!(discovery["issuer"], provider.issuer, "discovery document: {discovery}");
        provider.token_endpoint = discovery["token_endpoint"]
            .as_str()
            .unwrap_or_else(|| panic!("no token_endpoint in {discovery}"))
            .to_owned();
        provider
    }

    /// Kills the provider (it stops answering; its port is closed).
    fn stop(&mut self) {
        self.process.stop();
    }

    /// Kills the provider and panics with `what` and everything it logged.
    fn fail(&mut self, what: &str) -> ! {
        self.process.fail(what)
    }

    async fn get_json(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.issuer);
        let response =
            self.http.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "GET {url}: {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
    }

    /// An access token from the token endpoint: client credentials, HTTP Basic client auth.
    async fn token(&self, resource: &str, scope: &str) -> String {
        let body = format!(
            "grant_type=client_credentials&resource={}&scope={}",
            form_encode(resource),
            form_encode(scope)
        );
        let response = self
            .http
            .post(&self.token_endpoint)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {}: {e}", self.token_endpoint));
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, reqwest::StatusCode::OK, "token request refused: {text}");
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["token_type"], "Bearer", "{json}");
        json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {json}"))
            .to_owned()
    }

    /// Swaps in a new provider instance with freshly generated keys (new kids).
    async fn rotate(&self) {
        let url = format!("{}/__test/rotate", self.issuer);
        let response = self.http.post(&url).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT, "POST {url}");
    }

    /// How many JWKS documents the provider has served.
    async fn jwks_fetches(&self) -> u64 {
        self.get_json("/__test/stats").await["jwks"].as_u64().unwrap()
    }

    /// How many discovery documents the provider has served.
    async fn discovery_fetches(&self) -> u64 {
        self.get_json("/__test/stats").await["discovery"].as_u64().unwrap()
    }
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers on tokens and the verifier
// ---------------------------------------------------------------------------------------------

fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    segment(token, 0)
}

fn payload_of(token: &str) -> Value {
    segment(token, 1)
}

/// `token` with one segment replaced by the base64url encoding of `value`; the rest kept as is.
fn with_segment(token: &str, index: usize, value: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[index] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    parts.join(".")
}

fn verifier(keys: RemoteJwks, issuer: &str) -> JwtAuth<Value> {
    JwtAuth::<Value>::builder()
        .keys(keys)
        .issuer(issuer)
        .audience(API)
        .require_type("at+jwt")
        .build()
        .unwrap()
}

async fn verify(auth: &JwtAuth<Value>, token: &str) -> Result<Value, AuthError> {
    tokio::time::timeout(STEP_TIMEOUT, auth.verify(token))
        .await
        .unwrap_or_else(|_| panic!("verification did not finish within {STEP_TIMEOUT:?}"))
}

async fn ok() -> &'static str {
    "ok"
}

fn app(auth: &JwtAuth<Value>) -> Router {
    Router::new()
        .route("/admin", get(ok).route_layer(auth.require_all_scopes(["admin"]).unwrap()))
        .route("/write", get(ok).route_layer(auth.require_all_scopes(["write"]).unwrap()))
        .layer(auth.layer())
}

async fn call(app: &Router, path: &str, token: Option<&str>) -> http::Response<Body> {
    let mut request = Request::builder().uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    tokio::time::timeout(STEP_TIMEOUT, app.clone().oneshot(request.body(Body::empty()).unwrap()))
        .await
        .expect("request through the layer timed out")
        .unwrap()
}

/// Checks the claims oidc-provider puts into a client-credentials JWT access token.
fn assert_provider_claims(claims: &Value, issuer: &str, scope: &str) {
    assert_eq!(claims["client_id"], CLIENT_ID, "{claims}");
    assert_eq!(claims["iss"], issuer, "{claims}");
    assert_eq!(claims["aud"], API, "{claims}");
    assert_eq!(claims["scope"], scope, "{claims}");
    assert!(claims["jti"].is_string(), "{claims}");
    assert!(claims["exp"].is_u64() && claims["iat"].is_u64(), "{claims}");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// RS256 tokens through `Jwks::discover`: verification, the layer with scopes, audience
/// confusion and tampering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn rs256_tokens_verify_through_discovery_and_the_layer() {
    let op = OidcProvider::start("RS256").await;
    let discovery_before = op.discovery_fetches().await;

    let keys = Jwks::discover(&op.issuer).expect("Jwks::discover");
    let auth = verifier(keys, &op.issuer);
    // Lazy: nothing is fetched before the first token needs keys.
    assert_eq!(
        op.discovery_fetches().await,
        discovery_before,
        "discovery fetched before first use"
    );
    assert_eq!(op.jwks_fetches().await, 0, "JWKS fetched before first use");

    let token = op.token(API, "read admin").await;
    let header = header_of(&token);
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert!(header["kid"].as_str().is_some_and(|k| k.starts_with("rs256-")), "{header}");

    let claims = verify(&auth, &token).await.expect("a fresh RS256 token verifies");
    assert_provider_claims(&claims, &op.issuer, "read admin");
    assert_eq!(claims, payload_of(&token));
    assert_eq!(op.discovery_fetches().await, discovery_before + 1);
    assert_eq!(op.jwks_fetches().await, 1);

    // Through the layer: scopes from the provider's `scope` claim.
    let app = app(&auth);
    let response = call(&app, "/admin", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = call(&app, "/write", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    let response = call(&app, "/admin", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A second token with fewer scopes: verifies, but is not admin.
    let reader = op.token(API, "read").await;
    assert_eq!(verify(&auth, &reader).await.unwrap()["scope"], "read");
    assert_eq!(call(&app, "/admin", Some(&reader)).await.status(), StatusCode::FORBIDDEN);

    // A genuine token of the same provider, minted for another resource server.
    let other = op.token(OTHER_API, "read admin").await;
    assert_eq!(payload_of(&other)["aud"], OTHER_API);
    assert_eq!(verify(&auth, &other).await.unwrap_err(), AuthError::InvalidAudience);
    assert_eq!(call(&app, "/admin", Some(&other)).await.status(), StatusCode::UNAUTHORIZED);

    // All of the above from the one cached key set.
    assert_eq!(op.jwks_fetches().await, 1, "known kids must not refetch the JWKS");

    // Tampering: payload changed (signature kept), signature changed, signature dropped.
    let mut claims = payload_of(&token);
    claims["scope"] = json!("read admin write");
    let forged = with_segment(&token, 1, &claims);
    assert_eq!(verify(&auth, &forged).await.unwrap_err(), AuthError::InvalidSignature);
    assert_eq!(call(&app, "/write", Some(&forged)).await.status(), StatusCode::UNAUTHORIZED);

    let mut parts: Vec<&str> = token.split('.').collect();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[17] ^= 0x01;
    let signature = URL_SAFE_NO_PAD.encode(signature);
    parts[2] = &signature;
    let flipped = parts.join(".");
    assert_eq!(verify(&auth, &flipped).await.unwrap_err(), AuthError::InvalidSignature);

    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    assert!(verify(&auth, &unsigned).await.is_err(), "a token without signature verified");

    // The provider's own kid with the alg switched to HS256 (key-confusion attempt).
    let mut confused = header_of(&token);
    confused["alg"] = json!("HS256");
    let confused = with_segment(&token, 0, &confused);
    assert!(verify(&auth, &confused).await.is_err(), "alg switched to HS256 verified");

    // A kid the provider never had.
    let mut unknown = header_of(&token);
    unknown["kid"] = json!("no-such-kid");
    let unknown = with_segment(&token, 0, &unknown);
    assert_eq!(verify(&auth, &unknown).await.unwrap_err(), AuthError::UnknownKey);

    // And the original still verifies.
    verify(&auth, &token).await.expect("the untouched token still verifies");

    // The JWKS URL directly, without discovery.
    let direct = verifier(Jwks::remote(format!("{}/jwks", op.issuer)).unwrap(), &op.issuer);
    verify(&direct, &token).await.expect("verifies through Jwks::remote");

    // Discovery insists on the exact issuer: the document says `http://127.0.0.1:PORT`, so an
    // issuer configured with a trailing slash finds no keys (no issuer mix-up).
    let slashed = format!("{}/", op.issuer);
    let mismatched = RemoteJwks::discover_builder(&slashed).build().unwrap();
    let auth_slashed = verifier(mismatched.clone(), &slashed);
    assert_eq!(verify(&auth_slashed, &token).await.unwrap_err(), AuthError::KeysUnavailable);
    let status = mismatched.status();
    assert!(
        status.last_error.as_deref().is_some_and(|e| e.contains("issuer")),
        "the failure should name the issuer mismatch: {status:?}"
    );
}

/// ES256 tokens (P-256 key) from the same provider software.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn es256_tokens_verify_through_discovery_and_the_layer() {
    let op = OidcProvider::start("ES256").await;
    let auth = verifier(Jwks::discover(&op.issuer).expect("Jwks::discover"), &op.issuer);

    let token = op.token(API, "read admin").await;
    let header = header_of(&token);
    assert_eq!(header["alg"], "ES256", "{header}");
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert!(header["kid"].as_str().is_some_and(|k| k.starts_with("es256-")), "{header}");

    // Concurrent first requests share one discovery and one JWKS fetch.
    let discovery_before = op.discovery_fetches().await;
    let results = futures_util::future::join_all((0..16).map(|_| verify(&auth, &token))).await;
    for result in results {
        let claims = result.expect("a fresh ES256 token verifies");
        assert_provider_claims(&claims, &op.issuer, "read admin");
    }
    assert_eq!(op.discovery_fetches().await, discovery_before + 1);
    assert_eq!(op.jwks_fetches().await, 1, "concurrent first uses must share one fetch");

    let app = app(&auth);
    assert_eq!(call(&app, "/admin", Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(call(&app, "/write", Some(&token)).await.status(), StatusCode::FORBIDDEN);

    let other = op.token(OTHER_API, "read").await;
    assert_eq!(verify(&auth, &other).await.unwrap_err(), AuthError::InvalidAudience);

    let mut claims = payload_of(&token);
    claims["client_id"] = json!("someone-else");
    let forged = with_segment(&token, 1, &claims);
    assert_eq!(verify(&auth, &forged).await.unwrap_err(), AuthError::InvalidSignature);

    // The RSA key of the same set must not verify an ES256 token relabelled as RS256.
    let mut relabelled = header_of(&token);
    relabelled["alg"] = json!("RS256");
    let relabelled = with_segment(&token, 0, &relabelled);
    assert!(verify(&auth, &relabelled).await.is_err(), "ES256 token relabelled RS256 verified");

    assert_eq!(op.jwks_fetches().await, 1);
}

/// ES512 tokens (P-521 key) from the same provider software: jsonwebtoken has no ES512, so this
/// and Wycheproof are what hold it to other implementations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn es512_tokens_verify_through_discovery_and_the_layer() {
    let op = OidcProvider::start("ES512").await;
    let auth = verifier(Jwks::discover(&op.issuer).expect("Jwks::discover"), &op.issuer);

    let token = op.token(API, "read admin").await;
    let header = header_of(&token);
    assert_eq!(header["alg"], "ES512", "{header}");
    assert!(header["kid"].as_str().is_some_and(|k| k.starts_with("es512-")), "{header}");
    let signature = URL_SAFE_NO_PAD.decode(token.rsplit('.').next().unwrap()).unwrap();
    assert_eq!(signature.len(), 132, "RFC 7518 §3.4: r || s, 66 bytes each");

    let claims = verify(&auth, &token).await.expect("a fresh ES512 token verifies");
    assert_provider_claims(&claims, &op.issuer, "read admin");
    let app = app(&auth);
    assert_eq!(call(&app, "/admin", Some(&token)).await.status(), StatusCode::OK);

    let mut claims = payload_of(&token);
    claims["client_id"] = json!("someone-else");
    let forged = with_segment(&token, 1, &claims);
    assert_eq!(verify(&auth, &forged).await.unwrap_err(), AuthError::InvalidSignature);

    // The P-521 key verifies ES512 only; relabelled, the token is refused.
    for alg in ["ES256", "ES384"] {
        let mut relabelled = header_of(&token);
        relabelled["alg"] = json!(alg);
        let relabelled = with_segment(&token, 0, &relabelled);
        assert_eq!(
            verify(&auth, &relabelled).await.unwrap_err(),
            AuthError::AlgorithmNotAllowed,
            "ES512 token relabelled {alg}"
        );
    }
    assert_eq!(op.jwks_fetches().await, 1);
}

/// Key rotation at the provider: a token with a new kid verifies on first use (the unknown kid
/// triggers a refresh), a token whose key was rotated out is refused as `UnknownKey`, and
/// unknown kids cannot make the verifier refetch faster than the cooldown allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn rotation_is_picked_up_and_rotated_out_keys_are_refused() {
    const COOLDOWN: Duration = Duration::from_millis(200);
    const PAST_COOLDOWN: Duration = Duration::from_millis(350);

    let mut op = OidcProvider::start("RS256").await;
    let clock = ManualClock::new();
    let remote = RemoteJwks::discover_builder(&op.issuer)
        .cooldown(COOLDOWN)
        .clock(clock.clone())
        .build()
        .expect("RemoteJwks::discover_builder(..).build()");
    let auth = verifier(remote.clone(), &op.issuer);

    let t1 = op.token(API, "read admin").await;
    verify(&auth, &t1).await.expect("T1 verifies before the rotation");
    assert_eq!(op.jwks_fetches().await, 1);

    clock.advance(PAST_COOLDOWN);
    op.rotate().await;
    let t2 = op.token(API, "read admin").await;
    let kid1 = header_of(&t1)["kid"].as_str().unwrap().to_owned();
    let kid2 = header_of(&t2)["kid"].as_str().unwrap().to_owned();
    assert_ne!(kid1, kid2, "the rotation must change the kid");

    // First use of the new kid: refresh, then success.
    let claims = verify(&auth, &t2).await.expect("T2 (new kid) verifies on first use");
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(op.jwks_fetches().await, 2, "the unknown kid must have refreshed the JWKS once");
    let status = remote.status();
    assert!(status.key_ids.contains(&kid2), "{status:?}");
    assert!(!status.key_ids.contains(&kid1), "{status:?}");
    assert_eq!(status.jwks_url.as_deref(), Some(&*format!("{}/jwks", op.issuer)), "{status:?}");
    assert_eq!(status.last_error, None, "{status:?}");

    // T1's key is gone from the refreshed set: refused, and within the cooldown no refetch.
    assert_eq!(verify(&auth, &t1).await.unwrap_err(), AuthError::UnknownKey);
    let fetches = op.jwks_fetches().await;
    assert_eq!(fetches, 2, "refetched within the cooldown");

    // A burst of unknown kids within the cooldown: all refused, none refetches.
    for i in 0..50 {
        let mut header = header_of(&t2);
        header["kid"] = json!(format!("attacker-{i}"));
        let forged = with_segment(&t2, 0, &header);
        assert_eq!(verify(&auth, &forged).await.unwrap_err(), AuthError::UnknownKey);
    }
    let burst_fetches = op.jwks_fetches().await - fetches;
    assert_eq!(burst_fetches, 0, "50 unknown kids within the cooldown caused JWKS fetches");
    // Past the cooldown, the next one refreshes once.
    clock.advance(PAST_COOLDOWN);
    for i in 0..50 {
        let mut header = header_of(&t2);
        header["kid"] = json!(format!("attacker-late-{i}"));
        let forged = with_segment(&t2, 0, &header);
        assert_eq!(verify(&auth, &forged).await.unwrap_err(), AuthError::UnknownKey);
    }
    assert_eq!(op.jwks_fetches().await, fetches + 1, "one refresh per cooldown");

    // Past the cooldown, after the set was refreshed: T1 is still refused as an unknown key.
    clock.advance(PAST_COOLDOWN);
    remote.refresh().await.expect("explicit refresh");
    assert_eq!(verify(&auth, &t1).await.unwrap_err(), AuthError::UnknownKey);
    clock.advance(PAST_COOLDOWN);
    assert_eq!(verify(&auth, &t1).await.unwrap_err(), AuthError::UnknownKey);
    verify(&auth, &t2).await.expect("T2 still verifies after the refreshes");

    // A clone shares the cache: T2 verifies without another fetch.
    let fetches = op.jwks_fetches().await;
    let auth2 = verifier(remote.clone(), &op.issuer);
    verify(&auth2, &t2).await.expect("T2 verifies through a clone of the remote key set");
    assert_eq!(op.jwks_fetches().await, fetches, "a clone must share the cached set");

    // A second rotation: T3 verifies on first use; T2 is then the rotated-out one.
    clock.advance(PAST_COOLDOWN);
    op.rotate().await;
    let t3 = op.token(API, "read").await;
    assert_eq!(verify(&auth, &t3).await.unwrap()["scope"], "read");
    clock.advance(PAST_COOLDOWN);
    assert_eq!(verify(&auth, &t2).await.unwrap_err(), AuthError::UnknownKey);

    // The provider goes away: the last good set keeps verifying, failures are reported.
    op.stop();
    verify(&auth, &t3).await.expect("T3 verifies from the cached set while the provider is down");
    let error = remote.refresh().await.expect_err("refresh with the provider down");
    assert!(matches!(error, jwt_layer::keys::KeyError::Fetch { .. }), "{error:?}");
    assert!(remote.status().last_error.is_some(), "{:?}", remote.status());
    clock.advance(PAST_COOLDOWN);
    assert_eq!(verify(&auth, &t2).await.unwrap_err(), AuthError::UnknownKey);
    verify(&auth, &t3).await.expect("T3 still verifies after failed refreshes");
}

/// The provider is down when the verifier first needs keys: requests are refused as
/// `KeysUnavailable` (without a fetch per request), and once it is up the verifier recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn provider_down_at_first_use_then_recovers() {
    const COOLDOWN: Duration = Duration::from_millis(200);

    // A loopback port with nothing listening on it (for now).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let clock = ManualClock::new();
    let remote = RemoteJwks::discover_builder(&issuer)
        .cooldown(COOLDOWN)
        .clock(clock.clone())
        .timeout(Duration::from_secs(2))
        .build()
        .expect("RemoteJwks::discover_builder(..).build()");
    let auth = verifier(remote.clone(), &issuer);

    // Any compact JWS naming a kid: the key lookup comes before everything else.
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "whatever"});
    let claims = json!({"iss": issuer, "aud": API, "exp": 4_000_000_000u64});
    let probe = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode([7u8; 256])
    );
    assert_eq!(verify(&auth, &probe).await.unwrap_err(), AuthError::KeysUnavailable);
    assert_eq!(verify(&auth, &probe).await.unwrap_err(), AuthError::KeysUnavailable);
    let status = remote.status();
    assert_eq!(status.fetches, 1, "a recent failure must not be retried per request: {status:?}");
    assert!(status.last_error.is_some(), "{status:?}");

    let op = OidcProvider::start_on("RS256", port).await;
    assert_eq!(op.issuer, issuer);
    let token = op.token(API, "read admin").await;
    clock.advance(COOLDOWN + Duration::from_millis(150));
    let claims = verify(&auth, &token).await.expect("verifies once the provider is up");
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(remote.status().last_error, None, "{:?}", remote.status());
}

/// Opaque tokens checked by introspection at the provider (RFC 7662), the endpoint found in its
/// discovery document: active tokens pass with their scopes, a token revoked at the provider
/// (RFC 7009) is refused once the cached answer is gone, a made-up token is inactive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js; ./scripts/test.sh runs it"]
async fn opaque_tokens_are_introspected_at_the_provider() {
    use jwt_layer::introspection::Introspection;

    let op = OidcProvider::start("RS256").await;
    let metadata = op.get_json("/.well-known/openid-configuration").await;
    assert!(metadata["introspection_endpoint"].is_string(), "{metadata}");
    let auth = JwtAuth::<Value>::builder()
        .keys(Jwks::discover(&op.issuer).expect("Jwks::discover"))
        .issuer(&op.issuer)
        .audience(OPAQUE_API)
        .introspection(
            Introspection::discover(&op.issuer)
                .client_secret_basic(CLIENT_ID, CLIENT_SECRET)
                .cache_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();
    let app = app(&auth);

    let token = op.token(OPAQUE_API, "read admin").await;
    assert_eq!(token.matches('.').count(), 0, "an opaque token: {token}");
    let claims = verify(&auth, &token).await.expect("an active opaque token");
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["client_id"], CLIENT_ID, "{claims}");
    assert_eq!(claims["iss"], op.issuer, "{claims}");
    assert_eq!(claims["aud"], OPAQUE_API, "{claims}");
    assert_eq!(call(&app, "/admin", Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(call(&app, "/write", Some(&token)).await.status(), StatusCode::FORBIDDEN);

    // A JWT of the same provider for another resource: verified locally, refused by audience.
    let jwt = op.token(API, "read").await;
    assert_eq!(verify(&auth, &jwt).await.unwrap_err(), AuthError::InvalidAudience);

    // Revoked at the provider (RFC 7009): inactive from then on.
    let revocation = metadata["revocation_endpoint"].as_str().unwrap();
    let response = op
        .http
        .post(revocation)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={}", form_encode(&token)))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "revocation: {}", response.status());
    assert_eq!(verify(&auth, &token).await.unwrap_err(), AuthError::InactiveToken);
    let response = call(&app, "/admin", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("token not active"), "{challenge}");

    // A token the provider never issued.
    assert_eq!(verify(&auth, "made-up-opaque-token").await.unwrap_err(), AuthError::InactiveToken);
}

// ---------------------------------------------------------------------------------------------
// Step-up authentication (RFC 9470)
// ---------------------------------------------------------------------------------------------

/// The confidential client of the authorization code flow that `provider.mjs` adds with
/// `STEP_UP=1`; the provider signs its user in at once (see that file).
const STEP_UP_CLIENT_ID: &str = "jwt-layer-step-up";
const STEP_UP_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// A client of the authorization code flow (with PKCE), as a browser would carry it: it follows
/// the provider's redirects by hand and keeps its cookies, so a second authorization request
/// finds the user's session.
struct CodeFlowClient {
    http: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
}

impl CodeFlowClient {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(STEP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        CodeFlowClient { http, cookies: Default::default() }
    }

    /// An access token for the API from one authorization request with `params` besides the
    /// usual ones, and the code it brings back.
    async fn access_token(&mut self, op: &OidcProvider, params: &[(&str, &str)]) -> String {
        let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
        let challenge = URL_SAFE_NO_PAD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
        let mut url = format!(
            "{}/auth?client_id={STEP_UP_CLIENT_ID}&response_type=code&redirect_uri={}\
             &scope=openid%20read&resource={}&code_challenge={challenge}&code_challenge_method=S256",
            op.issuer,
            form_encode(STEP_UP_REDIRECT_URI),
            form_encode(API),
        );
        for (name, value) in params {
            url.push_str(&format!("&{name}={}", form_encode(value)));
        }
        let code = self.follow(&op.issuer, url).await;
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}\
             &resource={}",
            form_encode(&code),
            form_encode(STEP_UP_REDIRECT_URI),
            form_encode(API),
        );
        let response = self
            .http
            .post(&op.token_endpoint)
            .basic_auth(STEP_UP_CLIENT_ID, Some(CLIENT_SECRET))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, reqwest::StatusCode::OK, "code exchange refused: {text}");
        let json: Value = serde_json::from_str(&text).unwrap();
        json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {json}"))
            .to_owned()
    }

    /// Follows the provider's redirects from `url` (its sign-in included) to the redirect URI,
    /// and returns the code there.
    async fn follow(&mut self, issuer: &str, mut url: String) -> String {
        for _ in 0..8 {
            let cookie: Vec<String> =
                self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect();
            let response = self
                .http
                .get(&url)
                .header(reqwest::header::COOKIE, cookie.join("; "))
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
                let pair = set.to_str().unwrap().split(';').next().unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            let status = response.status();
            let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
                panic!(
                    "GET {url}: {status} without a redirect: {}",
                    response.text().await.unwrap()
                );
            };
            let location = location.to_str().unwrap().to_owned();
            if let Some(query) = location.strip_prefix(&format!("{STEP_UP_REDIRECT_URI}?")) {
                let code = query.split('&').find_map(|pair| pair.strip_prefix("code="));
                return code.unwrap_or_else(|| panic!("no code in {location}")).to_owned();
            }
            url = if location.starts_with('/') { format!("{issuer}{location}") } else { location };
        }
        panic!("no code after 8 redirects, the last to {url}");
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

/// The value of `attribute="…"` in a challenge.
fn attribute<'a>(challenge: &'a str, attribute: &str) -> &'a str {
    let start = challenge.find(&format!("{attribute}=\"")).unwrap() + attribute.len() + 2;
    let end = challenge[start..].find('"').unwrap();
    &challenge[start..start + end]
}

/// The provider's access tokens carry how and when the user signed in: the token from a plain
/// sign-in (10 minutes old, the basic `acr`) is refused with the challenge, the client asks the
/// provider again with the challenge's `acr_values` and `max_age`, the provider signs the user
/// in anew (its session is older than `max_age`) at the asked level, and that token is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and tests/oidc's packages; ./scripts/test.sh runs it"]
async fn step_up_a_plain_sign_in_is_challenged_and_the_stronger_fresher_one_accepted() {
    let op = OidcProvider::start_with("RS256", 0, &[("STEP_UP", "1")]).await;
    let auth = verifier(Jwks::discover(&op.issuer).expect("Jwks::discover"), &op.issuer);
    let step_up = auth.require_acr(["phr"]).unwrap().max_auth_age(Duration::from_secs(300));
    let app = Router::new()
        .route("/records", get(ok).route_layer(step_up.unwrap()))
        .route("/open", get(ok))
        .layer(auth.layer());
    let mut client = CodeFlowClient::new();

    let plain = client.access_token(&op, &[]).await;
    let claims = payload_of(&plain);
    assert_eq!(header_of(&plain)["typ"], "at+jwt");
    assert_eq!(
        (&claims["sub"], &claims["acr"]),
        (&json!("alice"), &json!("urn:example:acr:basic"))
    );
    let age = claims["iat"].as_i64().unwrap() - claims["auth_time"].as_i64().unwrap();
    assert!((600..660).contains(&age), "the plain sign-in is 10 minutes old: {claims}");
    assert_eq!(call(&app, "/open", Some(&plain)).await.status(), StatusCode::OK);
    let refused = call(&app, "/records", Some(&plain)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert_eq!(
        challenge,
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="stronger or more recent authentication is required", acr_values="phr", max_age="300""#
    );

    // RFC 9470 §4: a new authorization request with what the challenge names.
    let asked = [
        ("acr_values", attribute(&challenge, "acr_values")),
        ("max_age", attribute(&challenge, "max_age")),
    ];
    let stronger = client.access_token(&op, &asked).await;
    let claims = payload_of(&stronger);
    assert_eq!((&claims["sub"], &claims["acr"]), (&json!("alice"), &json!("phr")));
    let age = claims["iat"].as_i64().unwrap() - claims["auth_time"].as_i64().unwrap();
    assert!((0..60).contains(&age), "the stronger sign-in is fresh: {claims}");
    // The provider signed alice in twice: once without a session, once because the session was
    // older than `max_age`.
    assert_eq!(op.get_json("/__test/stats").await["sign_in"], 2);
    assert_eq!(call(&app, "/records", Some(&stronger)).await.status(), StatusCode::OK);
}
