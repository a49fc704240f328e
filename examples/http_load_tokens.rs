//! Mints the keys and tokens of `scripts/http_load.sh`, the HTTP load measurement of the
//! `gateway` example.
//!
//! ```text
//! cargo run --release --example http_load_tokens -- OUT_DIR ISSUER AUDIENCE HS256_SECRET POOL
//! ```
//!
//! Writes into `OUT_DIR`:
//! - `rs256.jwks.json`: the public RS256 key, for the gateway's `JWT_JWKS_FILE`;
//! - `hs256.token`, `rs256.token`: one token each, for a client that reuses its token;
//! - `hs256.tokens`, `rs256.tokens`: `POOL` distinct tokens each (one per line, differing in
//!   `jti`), for a client that presents a token the verifier has not seen yet.
//!
//! HS256 tokens are signed with `HS256_SECRET` as the gateway's `JWT_HS256_SECRET` takes it
//! (the raw string), RS256 ones with a key of the test kit. Every token carries the same
//! ~330 bytes of claims as the benchmarks, valid for an hour.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use jwt_layer::Algorithm;
use jwt_layer::testing::TestIssuer;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, issuer, audience, secret, pool] = args.as_slice() else {
        eprintln!("usage: http_load_tokens OUT_DIR ISSUER AUDIENCE HS256_SECRET POOL");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    let pool: usize = pool.parse().unwrap_or_else(|_| {
        eprintln!("POOL must be a number, not {pool:?}");
        std::process::exit(2);
    });
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock past 1970").as_secs();
    let claims = |n: usize| -> Value {
        json!({
            "iss": issuer, "aud": audience, "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
            "iat": now, "nbf": now, "exp": now + 3600,
            "jti": format!("b7c4e0f2-7d4e-4b8e-9c1a-{n:012x}"),
            "name": "Alice Example", "email": "alice@example.com",
            "roles": ["reader", "writer"], "scope": "openid profile email read:items write:items",
        })
    };

    let hmac = EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC secret");
    let header = Header::new(jsonwebtoken::Algorithm::HS256);
    let hs256 = |n: usize| jsonwebtoken::encode(&header, &claims(n), &hmac).expect("HS256 signing");

    let kit = TestIssuer::new(issuer.as_str());
    let jwks = json!({ "keys": [kit.jwk(Algorithm::RS256)] });
    write(&out, "rs256.jwks.json", &jwks.to_string());
    let rs256 = |n: usize| kit.token().alg(Algorithm::RS256).claims(claims(n)).sign();

    // Token 0 is the reused one; the pool starts at 1, so none of it was seen before.
    write(&out, "hs256.token", &hs256(0));
    write(&out, "rs256.token", &rs256(0));
    write(&out, "hs256.tokens", &lines(1..=pool, hs256));
    write(&out, "rs256.tokens", &lines(1..=pool, rs256));
}

fn lines(range: impl Iterator<Item = usize>, mint: impl Fn(usize) -> String) -> String {
    range.fold(String::new(), |mut text, n| {
        let _ = writeln!(text, "{}", mint(n));
        text
    })
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|err| {
        eprintln!("cannot write {}: {err}", path.display());
        std::process::exit(1);
    });
}
