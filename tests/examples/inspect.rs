//! The `inspect` example end to end: the real binary on tokens of each kind, its exit codes
//! (0 valid, 1 not valid, 2 not a JWT or unusable arguments) and the lines it prints, which
//! come from `JwtAuth::explain`.
//!
//! The binary is the one cargo built beside this test (`tests/support/example.rs`).
#![cfg(feature = "remote")]

use crate::example;

use std::io::Write;
use std::process::{Command, Stdio};

use example::{TempFile, example_binary};
use jwt_layer::testing::{DpopKey, TestIssuer, tamper};
use serde_json::{Value, json};

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "inspect-tests";
const SECRET: &str = "an-inspect-test-secret-of-32-bytes+";

/// What one run printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The line of one check, its name padded as the example prints it.
    fn check(&self, name: &str) -> &str {
        let prefix = format!("  {name:<16} ");
        self.stdout
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {name} line in:\n{}", self.stdout))[prefix.len()..]
            .trim_end()
    }
}

fn inspect(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(example_binary("inspect"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the inspect binary starts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// An HS256 token over `claims`, signed with `SECRET`.
fn hs256(claims: &Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims(exp: u64) -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now(), "exp": exp })
}

const CHECKED: [&str; 6] = ["--secret", SECRET, "--issuer", ISSUER, "--audience", AUDIENCE];

#[test]
fn a_valid_hs256_token_passes_every_check() {
    let token = hs256(&claims(now() + 600));
    let run = inspect(&[&[token.as_str()][..], &CHECKED].concat(), None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\"sub\": \"alice\""), "{}", run.stdout);
    assert_eq!(run.check("header"), "passed (alg HS256, typ \"JWT\")");
    assert_eq!(run.check("key"), "passed (Hmac key for HS256)");
    assert_eq!(run.check("signature"), "passed");
    assert_eq!(run.check("iss"), "passed");
    assert_eq!(run.check("aud"), "passed");
    assert!(run.stdout.contains("Verdict: VALID\n  JwtAuth::verify accepts it"), "{}", run.stdout);
}

#[test]
fn an_expired_token_for_another_audience_lists_both_problems() {
    let mut claims = claims(now() - 7200);
    claims["aud"] = json!("someone-else");
    let run = inspect(&[&[hs256(&claims).as_str()][..], &CHECKED].concat(), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.check("exp"), "FAILED: token expired");
    assert_eq!(run.check("aud"), "FAILED: token not intended for this audience");
    assert!(run.stdout.contains("expired 2 h ago"), "{}", run.stdout);
    assert!(run.stdout.contains("Verdict: INVALID: 2 problems: exp, aud"), "{}", run.stdout);
    assert!(run.stdout.contains("the first: token expired (HTTP 401"), "{}", run.stdout);
}

#[test]
fn the_token_is_read_from_standard_input_without_its_scheme() {
    let token = hs256(&claims(now() + 600));
    let run = inspect(&["-", "--secret", SECRET], Some(&format!("Bearer {token}\n")));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("(dropped the leading `Bearer` scheme)"), "{}", run.stdout);
    assert_eq!(run.check("iss"), "skipped: any issuer accepted (no --issuer)");
    assert_eq!(run.check("aud"), "skipped: any audience accepted (no --audience)");
}

#[test]
fn what_is_not_a_compact_jws_exits_2() {
    for garbage in ["garbage!", "a.b.c.d", "only-one-segment"] {
        let run = inspect(&[garbage, "--secret", SECRET], None);
        assert_eq!(run.code, 2, "{garbage}: {}", run.stdout);
        assert!(run.check("shape").starts_with("FAILED: malformed token"), "{}", run.stdout);
        assert!(!run.stdout.contains("Header\n"), "nothing decoded: {}", run.stdout);
    }
}

#[test]
fn a_payload_that_is_not_base64url_is_said_so() {
    let header = hs256(&claims(now())).split('.').next().unwrap().to_owned();
    let run = inspect(&[&format!("{header}.e.x"), "--secret", SECRET], None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("(not strict base64url, or not UTF-8)"), "{}", run.stdout);
    assert_eq!(run.check("payload"), "FAILED: malformed token: payload is not base64url");
}

#[test]
fn rs256_from_a_jwks_file_with_times_judged_at_a_fixed_moment() {
    let idp = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&idp.jwks_json().to_string());
    let token = idp.token().audience(AUDIENCE).without("nbf").claim("exp", 2_000_000_000).sign();
    let args =
        |at: &str| inspect(&[&token, "--jwks", jwks.path(), "--issuer", ISSUER, "--at", at], None);

    let before = args("1999999000");
    assert_eq!(before.code, 0, "{}{}", before.stdout, before.stderr);
    assert!(before.check("key").starts_with("passed (Rsa key \""), "{}", before.stdout);
    assert!(
        before.stdout.contains("exp  2033-05-18 03:33:20 UTC  expires in 16 min"),
        "{}",
        before.stdout
    );
    assert!(before.stdout.contains("Times (as of --at 2033-05-18 03:16:40 UTC"));

    let within_leeway = args("2000000030");
    assert_eq!(within_leeway.code, 0, "{}", within_leeway.stdout);
    assert_eq!(within_leeway.check("exp"), "passed (expired 30 s ago, within the 1 min leeway)");

    let after = args("2000000100");
    assert_eq!(after.code, 1, "{}", after.stdout);
    assert_eq!(after.check("exp"), "FAILED: token expired");
}

#[test]
fn a_changed_signature_shows_the_payload_as_not_authentic() {
    let idp = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&idp.jwks_json().to_string());
    let token = tamper(&idp.token().audience(AUDIENCE).sign());
    let run = inspect(&[&token, "--jwks", jwks.path()], None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("Payload (not authentic"), "{}", run.stdout);
    assert_eq!(run.check("signature"), "FAILED: invalid signature");
}

#[test]
fn a_duplicate_claim_is_shown_as_sent() {
    let idp = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&idp.jwks_json().to_string());
    let exp = now() + 600;
    let token = idp
        .token()
        .raw_payload(&format!(r#"{{"iss":"{ISSUER}","exp":{exp},"sub":"a","sub":"b"}}"#))
        .sign();
    let run = inspect(&[&token, "--jwks", jwks.path()], None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains(r#"(as sent) {"iss""#), "{}", run.stdout);
    assert!(run.stdout.contains(r#""sub":"a","sub":"b"}"#), "{}", run.stdout);
    assert_eq!(run.check("payload"), "FAILED: malformed token: duplicate claim");
}

#[test]
fn a_dpop_bound_token_counts_as_valid() {
    let idp = TestIssuer::new(ISSUER);
    let jwks = TempFile::new(&idp.jwks_json().to_string());
    let token = idp.token().audience(AUDIENCE).bound_to(&DpopKey::new()).sign();
    let run = inspect(&[&token, "--jwks", jwks.path()], None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.check("binding").contains("bound to a DPoP key"), "{}", run.stdout);
    assert!(run.stdout.contains("Verdict: VALID\n  every check passes"), "{}", run.stdout);
}

#[test]
fn without_a_key_nothing_verifies() {
    let run = inspect(&[&hs256(&claims(now() + 600))], None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("Keys: none given"), "{}", run.stdout);
    assert_eq!(run.check("key"), "FAILED: no key matches the token (no kid, alg HS256)");
    assert_eq!(run.check("signature"), "skipped: no key");
}

#[test]
fn unusable_arguments_exit_2() {
    let token = hs256(&claims(now() + 600));
    let cases: [&[&str]; 7] = [
        &[],
        &[&token, "--frobnicate"],
        &[&token, "--leeway", "601", "--secret", SECRET],
        &[&token, "--secret", "short"],
        &[&token, "--secret", SECRET, "--jwks", "jwks.json"],
        &[&token, "--profile", "rfc9068", "--type", "jwt"],
        &[&token, "--jwks", "/nonexistent/jwks.json"],
    ];
    for args in cases {
        let run = inspect(args, None);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.starts_with("inspect: "), "{args:?}: {}", run.stderr);
    }
    let help = inspect(&["--help"], None);
    assert_eq!(help.code, 0);
    assert!(help.stdout.starts_with("usage: inspect"));
}
