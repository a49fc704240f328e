//! The quickstart as a user runs it: the binary plays every step of the flow against its own
//! server and exits 0 only when each answer was the expected one.

use std::process::Command;

#[test]
fn every_step_of_the_flow_answers_as_expected() {
    let output = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .env_remove("RUST_LOG")
        .output()
        .expect("the quickstart starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    for step in [
        "1. POST /login as alice ... 200 OK",
        "2. GET /me with the token ... 200 OK",
        "3. GET /me without a token ... 401 Unauthorized",
        "4. GET /me with a tampered token (one payload character changed) ... 401 Unauthorized",
        "5. GET /me with a token that expired an hour ago ... 401 Unauthorized",
        "6. POST /login as alice with a wrong password ... 401 Unauthorized",
    ] {
        assert!(stdout.contains(step), "no line {step:?} in:\n{stdout}");
    }
    // The refusals name the error, and only the tampered and expired tokens are invalid ones.
    assert_eq!(stdout.matches("error=\"invalid_token\"").count(), 2, "{stdout}");
    assert!(stdout.contains("all steps behaved as expected"), "{stdout}");
}

#[test]
fn rust_log_shows_why_a_token_was_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .env("RUST_LOG", "jwt_layer=debug")
        .output()
        .expect("the quickstart starts");
    assert!(output.status.success());
    let logged = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for reason in ["no bearer token in the request", "invalid signature", "token expired"] {
        let line = format!("request refused status=401 reason={reason}");
        assert!(logged.contains(&line), "no {line:?} logged:\n{logged}");
    }
}
