//! Property tests through the public API: whatever arrives in `Authorization`, or as a token,
//! the layer answers 400 or 401 with an RFC 6750 challenge, and nothing panics.

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Request, StatusCode, header};
use jwt_layer::keys::StaticKeys;
use jwt_layer::{AuthError, Claims, JwtAuth};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &[u8] = b"property-test-secret-property-test-secret";

/// One current-thread runtime for every case (building one per case is slow).
static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap());

static AUTH: LazyLock<JwtAuth<Value>> = LazyLock::new(|| {
    JwtAuth::<Value>::builder()
        .keys(StaticKeys::hmac(SECRET).unwrap())
        .issuer("https://issuer.example")
        .audience("property-api")
        .build()
        .unwrap()
});

async fn me(Claims(claims): Claims<Value>) -> String {
    claims.to_string()
}

fn app() -> Router {
    Router::new().route("/me", get(me)).layer(AUTH.layer())
}

/// Sends `GET /me` with this `Authorization` value; returns the status and the challenge.
fn call(authorization: HeaderValue) -> (StatusCode, Option<String>) {
    let request = Request::builder()
        .uri("/me")
        .header(header::AUTHORIZATION, authorization)
        .body(Body::empty())
        .unwrap();
    let response = RUNTIME.block_on(app().oneshot(request)).unwrap();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().expect("the challenge is visible ASCII").to_owned());
    (response.status(), challenge)
}

/// 400 or 401, with a `WWW-Authenticate: Bearer realm=...` challenge.
fn assert_refused_with_challenge(
    authorization: &HeaderValue,
    status: StatusCode,
    challenge: Option<&str>,
) -> Result<(), TestCaseError> {
    prop_assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
        "{authorization:?} answered {status}"
    );
    let challenge = challenge.unwrap_or_default();
    prop_assert!(
        challenge.starts_with("Bearer realm="),
        "{authorization:?} answered {status} with challenge {challenge:?}"
    );
    Ok(())
}

fn config() -> Config {
    // No regression files: this suite must not write into the repository.
    Config { cases: 384, failure_persistence: None, ..Config::default() }
}

/// Bytes `HeaderValue::from_bytes` accepts: tab, visible ASCII, space and, when `obs_text`,
/// the bytes 0x80..=0xff as well.
fn header_byte(obs_text: bool) -> BoxedStrategy<u8> {
    if obs_text {
        prop_oneof![40 => 0x20u8..=0x7e, 2 => Just(b'\t'), 1 => 0x80u8..=0xff].boxed()
    } else {
        prop_oneof![20 => 0x20u8..=0x7e, 1 => Just(b'\t')].boxed()
    }
}

/// Characters for what follows `Bearer `: base64url, `.`, `=`, the other b64token
/// characters, spaces, tabs, quotes, commas, backslashes and some non-ASCII.
fn suffix_char() -> impl Strategy<Value = char> {
    prop_oneof![
        200 => prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                .chars()
                .collect::<Vec<_>>()
        ),
        40 => prop::sample::select(vec!['.', '.', '=', '~', '+', '/']),
        8 => prop::sample::select(vec![' ', '\t', '"', '\'', ',', '\\', ';', ':']),
        // Rare, so that most values stay visible ASCII and reach the token checks.
        1 => prop::sample::select(vec!['é', 'ß', '€', '\u{a0}', '\u{2028}', '😀', '\u{ff0e}']),
    ]
}

fn authorization_value() -> impl Strategy<Value = HeaderValue> {
    let raw = (any::<bool>(), 0usize..120)
        .prop_flat_map(|(obs_text, len)| prop::collection::vec(header_byte(obs_text), len))
        .prop_map(|bytes| HeaderValue::from_bytes(&bytes).expect("only valid header bytes"));
    // Unrestricted bytes, kept only when they make a header value.
    let any_bytes = prop::collection::vec(any::<u8>(), 0..12)
        .prop_filter_map("not a header value", |bytes| HeaderValue::from_bytes(&bytes).ok());
    let prefix = prop::sample::select(vec![
        "Bearer ", "bearer ", "BEARER ", "Bearer  ", "Bearer\t", "Bearer", " Bearer ", "Bearer=",
        "Basic ", "",
    ]);
    let bearer = (prefix, prop::collection::vec(suffix_char(), 0..80)).prop_filter_map(
        "not a header value",
        |(prefix, suffix)| {
            let text: String = prefix.chars().chain(suffix).collect();
            HeaderValue::from_bytes(text.as_bytes()).ok()
        },
    );
    let bearer_dotted = (prop::sample::select(vec!["Bearer ", "bearer "]), dotted_token())
        .prop_map(|(prefix, token)| HeaderValue::from_str(&format!("{prefix}{token}")).unwrap());
    prop_oneof![2 => raw, 1 => any_bytes, 3 => bearer, 2 => bearer_dotted]
}

/// One segment of base64url text (possibly empty).
fn b64_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                .chars()
                .collect::<Vec<_>>(),
        ),
        0..max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// The base64url encoding of a JSON-ish text: a plausible start and arbitrary continuation.
fn encoded_json_ish() -> impl Strategy<Value = String> {
    let start = prop::sample::select(vec![
        "",
        "{",
        r#"{"alg":"#,
        r#"{"alg":"HS256""#,
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"none"}"#,
        r#"{"alg":"HS256","kid":"#,
        r#"{"alg":"HS256","crit":["#,
        r#"{"typ":"JWT","alg":"HS256","alg":"#,
        r#"{"iss":"https://issuer.example","aud":"property-api","exp":"#,
        r#"{"exp":99999999999,"iss":"#,
        r#"["#,
    ]);
    let rest = prop_oneof![
        Just(String::new()),
        Just("}".to_owned()),
        Just(r#""HS256"}"#.to_owned()),
        any::<String>(),
        "[ -~]{0,40}",
    ];
    (start, rest).prop_map(|(start, rest)| URL_SAFE_NO_PAD.encode(format!("{start}{rest}")))
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![3 => b64_text(60), 2 => encoded_json_ish()]
}

/// Three segments that get past the shape and header checks more often: a well-formed header
/// (for this key or not), a JSON-ish or well-formed payload, and a random signature of about
/// the right length.
fn three_segments() -> impl Strategy<Value = String> {
    let header = prop::sample::select(vec![
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"HS256","kid":"k1"}"#,
        r#"{"alg":"HS384"}"#,
        r#"{"alg":"HS512","kid":"k1"}"#,
        r#"{"alg":"RS256"}"#,
        r#"{"alg":"ES256"}"#,
        r#"{"alg":"none"}"#,
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","b64":false}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
    ])
    .prop_map(|json| URL_SAFE_NO_PAD.encode(json));
    let payload = prop_oneof![
        1 => encoded_json_ish(),
        1 => Just(URL_SAFE_NO_PAD.encode(
            r#"{"iss":"https://issuer.example","aud":"property-api","exp":99999999999}"#
        )),
    ];
    let signature = prop_oneof![b64_text(100), b64_text(44)];
    (header, payload, signature).prop_map(|(h, p, s)| format!("{h}.{p}.{s}"))
}

/// 1 to 6 dot-separated segments, sometimes with `=` padding after the last; never empty.
fn dotted_token() -> impl Strategy<Value = String> {
    let padding = prop_oneof![6 => Just(0usize), 1 => 1usize..3];
    let any_segments = (prop::collection::vec(segment(), 1..=6), padding)
        .prop_map(|(segments, padding)| segments.join(".") + &"=".repeat(padding));
    prop_oneof![1 => any_segments, 1 => three_segments()]
        .prop_filter("an empty token is no token", |token| !token.trim_end_matches('=').is_empty())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_authorization_header_is_refused_with_a_challenge(value in authorization_value()) {
        let (status, challenge) = call(value.clone());
        assert_refused_with_challenge(&value, status, challenge.as_deref())?;
    }

    #[test]
    fn dotted_garbage_is_an_invalid_token(token in dotted_token()) {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let (status, challenge) = call(value.clone());
        prop_assert_eq!(status, StatusCode::UNAUTHORIZED, "{:?}", token);
        let challenge = challenge.unwrap_or_default();
        prop_assert!(challenge.starts_with("Bearer realm="), "{token:?}: {challenge:?}");
        prop_assert!(challenge.contains(r#"error="invalid_token""#), "{token:?}: {challenge:?}");
    }

    #[test]
    fn verify_refuses_any_string(text in any::<String>()) {
        let result = RUNTIME.block_on(AUTH.verify(&text));
        prop_assert!(result.is_err(), "{text:?} verified");
    }

    #[test]
    fn verify_refuses_dotted_garbage(token in dotted_token()) {
        let result: Result<Value, AuthError> = RUNTIME.block_on(AUTH.verify(&token));
        prop_assert!(result.is_err(), "{token:?} verified");
    }
}

/// The properties above would be empty if the route could never answer 200: a real token
/// signed with the test secret gets through.
#[test]
fn a_valid_token_passes_the_same_router() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"https://issuer.example","aud":"property-api","exp":{},"sub":"u1"}}"#,
        now + 300
    ));
    let signing_input = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let (status, _) = call(HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    assert_eq!(status, StatusCode::OK);
}
