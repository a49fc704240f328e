//! The whole JWT flow, in one self-contained run:
//!
//! 1. the client logs in with a username and a password (`POST /login`);
//! 2. the server checks them and answers with a JWT it signs with its secret (HS256);
//! 3. the client sends that token with every request: `Authorization: Bearer <token>`;
//! 4. before any handler runs, the `jwt_layer` middleware verifies the token (signature, expiry,
//!    issuer, audience) and hands the handler the claims; everything else gets 401.
//!
//! The example starts an axum server on a free port of 127.0.0.1 and then plays the client: a
//! good login, `GET /me` with the token, without it, with a tampered token and with an expired
//! one, and a login with a wrong password. Every answer is checked; the run exits 0 when all
//! are as expected and 1 (saying which step) otherwise.
//!
//! ```text
//! cargo run -p quickstart
//! RUST_LOG=jwt_layer=debug cargo run -p quickstart   # also log why each request was refused
//! ```
//!
//! A package of its own, so its first build compiles the library with its default features and
//! what the demo uses (axum, tokio, jsonwebtoken), none of the crate's test dependencies.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use jwt_layer::keys::StaticKeys;
use jwt_layer::{Claims, JwtAuth};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The signing secret, shared by the login route (signs) and the middleware (verifies). HS256
/// needs at least 32 bytes (RFC 7518 §3.2). A real secret comes from a secret store, never from
/// source code; and when the token issuer and the API are different services, prefer an
/// asymmetric key (RS256, ES256, EdDSA) so the API can verify tokens without being able to mint
/// them.
const SECRET: &[u8] = b"quickstart-demo-secret-of-at-least-32-bytes";
/// Who issues the tokens (`iss`) and whom they are for (`aud`); the middleware checks both.
const ISSUER: &str = "https://login.quickstart.example";
const AUDIENCE: &str = "quickstart-api";
const TOKEN_LIFETIME_SECS: u64 = 15 * 60;

/// The demo user. A real service looks users up and compares password hashes (argon2, bcrypt).
const DEMO_USER: &str = "alice";
const DEMO_PASSWORD: &str = "wonderland";

/// The claims this application puts into its tokens, and reads back from verified ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MyClaims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    roles: Vec<String>,
    scope: String,
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[tokio::main]
async fn main() {
    // jsonwebtoken picks its crypto backend from its cargo features. When feature unification
    // enables both backends (`aws_lc_rs`, chosen here, and `rust_crypto`, wanted by some other
    // crate in an application's build), it cannot choose and `encode()` panics. Installing one
    // explicitly avoids that; `Err` only means one was installed already.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();

    // `RUST_LOG` as `target=level` directives (`jwt_layer=debug` logs each refusal and its reason);
    // warnings only without it.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    // Plain text, whatever features a larger build turns on: the log lines sit between the
    // demo's own lines on stdout, and may go to a file or a pipe.
    let log = tracing_subscriber::fmt::layer().with_ansi(false);
    tracing_subscriber::registry().with(log).with(filter).init();

    match run().await {
        Ok(()) => println!("\nall steps behaved as expected"),
        Err(err) => {
            eprintln!("\nquickstart FAILED: {err}");
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<(), BoxError> {
    // The verifier: which key, and which issuer and audience to accept.
    let auth = JwtAuth::<MyClaims>::builder()
        .keys(StaticKeys::hmac(SECRET)?)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()?;

    let app = Router::new()
        .route("/me", get(me))
        // Every route added above this line needs a valid token...
        .route_layer(auth.layer())
        // ...and routes added below it are public.
        .route("/login", post(login));

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    println!("server listening on http://{addr}\n");

    let outcome = play_the_client(Client { addr }).await;

    // Shut the server down whether or not every step went as expected.
    let _ = stop.send(());
    server.await??;
    outcome
}

// ---------------------------------------------------------------------------------------------
// The server side

/// `POST /login`: checks the password and answers with a signed token.
async fn login(Json(request): Json<LoginRequest>) -> (StatusCode, Json<Value>) {
    if request.username != DEMO_USER || request.password != DEMO_PASSWORD {
        let body = json!({ "error": "invalid username or password" });
        return (StatusCode::UNAUTHORIZED, Json(body));
    }
    let issued_at = now();
    match mint(&request.username, issued_at, issued_at + TOKEN_LIFETIME_SECS) {
        Ok(token) => {
            let body = json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECS,
            });
            (StatusCode::OK, Json(body))
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot sign a token");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": "cannot sign a token" })))
        }
    }
}

/// `GET /me`: only reached with a verified token; the middleware put its claims in the request.
async fn me(Claims(claims): Claims<MyClaims>) -> Json<MyClaims> {
    Json(MyClaims::clone(&claims))
}

/// Signs a token for `sub`, issued at `iat` and expiring at `exp` (seconds since 1970).
fn mint(sub: &str, iat: u64, exp: u64) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = MyClaims {
        sub: sub.to_owned(),
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp,
        iat,
        roles: vec!["reader".to_owned()],
        scope: "profile:read".to_owned(),
    };
    let header = Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)?)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

// ---------------------------------------------------------------------------------------------
// The client side

async fn play_the_client(client: Client) -> Result<(), BoxError> {
    let credentials = json!({ "username": DEMO_USER, "password": DEMO_PASSWORD });
    let reply = client.send("POST", "/login", None, Some(&credentials)).await?;
    expect("1. POST /login as alice", &reply, 200)?;
    let body: Value = serde_json::from_str(&reply.body)?;
    let token = body["access_token"].as_str().ok_or("the login answer has no access_token")?;
    let (header, payload) = decode_without_verifying(token)?;
    println!("   token:   {}", shorten(token));
    println!("   header:  {header}");
    println!("   payload: {payload}");
    println!("   (header and payload are only base64url-encoded: anyone can read them;");
    println!("    the signature, the third part, is what makes them trustworthy)");

    let reply = client.send("GET", "/me", Some(token), None).await?;
    expect("2. GET /me with the token", &reply, 200)?;
    println!("   the handler saw: {}", reply.body);
    let claims: Value = serde_json::from_str(&reply.body)?;
    if claims["sub"] != DEMO_USER {
        return Err(format!("step 2: expected sub \"{DEMO_USER}\", got {}", claims["sub"]).into());
    }

    let reply = client.send("GET", "/me", None, None).await?;
    expect("3. GET /me without a token", &reply, 401)?;
    print_challenge(&reply);

    let tampered = tamper_with_payload(token);
    let reply = client.send("GET", "/me", Some(&tampered), None).await?;
    expect("4. GET /me with a tampered token (one payload character changed)", &reply, 401)?;
    print_challenge(&reply);

    // Issued 75 minutes ago, so it expired an hour ago: far beyond the 60 s clock-skew leeway.
    let issued_at = now().saturating_sub(75 * 60);
    let expired = mint(DEMO_USER, issued_at, issued_at + TOKEN_LIFETIME_SECS)?;
    let reply = client.send("GET", "/me", Some(&expired), None).await?;
    expect("5. GET /me with a token that expired an hour ago", &reply, 401)?;
    print_challenge(&reply);

    let wrong = json!({ "username": DEMO_USER, "password": "looking-glass" });
    let reply = client.send("POST", "/login", None, Some(&wrong)).await?;
    expect("6. POST /login as alice with a wrong password", &reply, 401)?;
    println!("   body: {}", reply.body);
    Ok(())
}

/// Prints the step with the status received; an `Err` when it is not the expected one.
fn expect(step: &str, reply: &Reply, expected: u16) -> Result<(), BoxError> {
    println!("{step} ... {} {}", reply.status, reply.reason);
    if reply.status != expected {
        let body = if reply.body.is_empty() { "(empty body)" } else { &reply.body };
        return Err(format!("{step}: expected {expected}, got {} ({body})", reply.status).into());
    }
    Ok(())
}

fn print_challenge(reply: &Reply) {
    println!("   WWW-Authenticate: {}", reply.header("www-authenticate").unwrap_or("(none)"));
}

/// Decodes header and payload for display. This is NOT verification: never trust what a token
/// says before its signature is checked.
fn decode_without_verifying(token: &str) -> Result<(String, String), BoxError> {
    let mut parts = token.split('.');
    let mut decode = || -> Result<String, BoxError> {
        let part = parts.next().ok_or("the token has fewer than three parts")?;
        Ok(String::from_utf8(URL_SAFE_NO_PAD.decode(part)?)?)
    };
    Ok((decode()?, decode()?))
}

/// The token with one character in the middle of its payload changed.
fn tamper_with_payload(token: &str) -> String {
    let payload_start = token.find('.').map_or(0, |dot| dot + 1);
    let payload_len = token[payload_start..].find('.').unwrap_or(0);
    let at = payload_start + payload_len / 2;
    let replacement = if token.as_bytes()[at] == b'A' { "B" } else { "A" };
    let mut tampered = token.to_owned();
    tampered.replace_range(at..at + 1, replacement);
    tampered
}

fn shorten(token: &str) -> String {
    match (token.get(..24), token.get(token.len().saturating_sub(12)..)) {
        (Some(head), Some(tail)) if token.len() > 40 => {
            format!("{head}...{tail} ({} bytes)", token.len())
        }
        _ => token.to_owned(),
    }
}

/// A deliberately tiny HTTP/1.1 client, so the example needs no client library: one request per
/// connection (`Connection: close`), the answer read until the server closes the connection.
/// Applications should use a real client (reqwest, hyper-util).
struct Client {
    addr: SocketAddr,
}

struct Reply {
    status: u16,
    reason: String,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        json: Option<&Value>,
    ) -> Result<Reply, BoxError> {
        let body = json.map(Value::to_string).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if json.is_some() {
            request.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = bearer {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);

        let mut stream = TcpStream::connect(self.addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;

        let raw = String::from_utf8(raw)?;
        let (head, body) = raw.split_once("\r\n\r\n").ok_or("incomplete HTTP answer")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut status_parts = status_line.splitn(3, ' ');
        let status = status_parts.nth(1).and_then(|code| code.parse().ok());
        let status = status.ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let reason = status_parts.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Ok(Reply { status, reason, headers, body: body.to_owned() })
    }
}
