//! Decodes a JWT on this machine and explains, check by check, whether `jwt_layer` accepts it.
//!
//! ```text
//! cargo run --example inspect -- <TOKEN|-> [--jwks URL|FILE | --secret HS-SECRET]
//!     [--issuer ISS]... [--audience AUD]... [--type TYP] [--profile rfc9068]
//!     [--leeway SECS] [--at UNIX-SECONDS] [--infer-alg]
//!
//! cargo run --example inspect -- "$TOKEN" --jwks jwks.json \
//!     --issuer https://login.example.com/ --audience my-api
//! ```
//!
//! It prints the header and the claims as pretty JSON, `iat`/`nbf`/`exp` as UTC dates and
//! relative times ("expires in 4 min", "expired 2 h ago"), then one line per check: the
//! algorithm (`none` and unsupported names), `crit`/`b64`, duplicate members, encoding, size,
//! the key chosen by `kid` and `alg`, the signature, `exp`, `nbf`, `iss`, `aud`, `typ` and the
//! types of the registered claims. Unlike [`JwtAuth::verify`], which stops at the first failure,
//! it lists every problem it finds; it then runs `JwtAuth::verify` with the same settings and
//! prints the crate's own verdict.
//!
//! - Nothing leaves the machine, except the one JWKS request when `--jwks` is an `http(s)` URL
//!   (the token itself is never sent). `--jwks` also takes a file: a JWKS, a single JWK or a PEM
//!   public key. `--secret` is an HMAC secret (32 bytes or more).
//! - Without `--issuer` (or `--audience`), that check is skipped (the crate's
//!   `dangerous_accept_any_issuer`/`_audience`), and the output says so. Both flags may be
//!   repeated to accept several values.
//! - `--type` requires the header `typ`; `--profile rfc9068` is `.access_token_profile()`.
//!   `--leeway` is the clock-skew allowance (default 60 s, at most 600); `--at` judges the token
//!   as of another time.
//! - `-` as the token reads it from standard input (keeps it out of the shell history); a
//!   leading `Bearer `/`DPoP ` is dropped.
//!
//! Exit codes: 0 the token is valid (the crate accepts it; a token bound to a DPoP key counts
//! as valid although it needs a proof to be used), 1 it is not (or nothing could verify it
//! because no key was given), 2 the input cannot be read as a JWT at all (not three
//! base64url segments of JSON objects) or the arguments or keys are unusable.

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use jwt_layer::keys::{
    JwkOptions, Jwks, KeyError, KeyProvider, RemoteJwks, StaticKeys, VerifyingKey,
};
use jwt_layer::{
    Algorithm, AlgorithmFamily, AuthError, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, JwtAuth,
    TokenHeader,
};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The token is valid.
const EXIT_VALID: u8 = 0;
/// The token is not valid, or could not be verified.
const EXIT_INVALID: u8 = 1;
/// The input is not a JWT, or the arguments or keys are unusable.
const EXIT_USAGE: u8 = 2;

/// The most read from standard input.
const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Decodes what the strict decoder refuses (padding, non-zero trailing bits), so such a token
/// can still be shown; the strict decoder then says what is wrong with it.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

const USAGE: &str = "\
usage: inspect <TOKEN|-> [--jwks URL|FILE | --secret HS-SECRET] [--issuer ISS]...
               [--audience AUD]... [--type TYP] [--profile rfc9068] [--leeway SECS]
               [--at UNIX-SECONDS] [--infer-alg]

  TOKEN            the compact JWT; `-` reads it from standard input
  --jwks URL|FILE  verification keys: a JWKS URL (https, or http to loopback; the only
                   network request made), or a file holding a JWKS, a JWK or a PEM public key
  --secret SECRET  an HMAC secret (at least 32 bytes)
  --issuer ISS     accepted `iss` (repeat for several); without it the check is skipped
  --audience AUD   accepted `aud` (repeat for several); without it the check is skipped
  --type TYP       required header `typ`, for example at+jwt
  --profile rfc9068  the JWT access-token profile (typ at+jwt and its required claims)
  --leeway SECS    clock-skew allowance for exp/nbf (default 60, at most 600)
  --at SECONDS     judge the token as of this Unix time instead of now
  --infer-alg      JWKs without `alg` verify their key type's whole family

exit codes: 0 valid, 1 invalid or unverified, 2 not a JWT or unusable arguments";

/// The command line.
struct Args {
    token: String,
    jwks: Option<String>,
    secret: Option<String>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    typ: Option<String>,
    profile: bool,
    leeway: Duration,
    at: Option<SystemTime>,
    infer_alg: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Key sets log why they skip a key (`use: enc`, RSA under 2048 bits, …): worth seeing here.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();

    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::from(EXIT_VALID);
        }
        Err(message) => {
            eprintln!("inspect: {message}\n\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(args).await {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("inspect: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `Ok(None)` asks for the help text.
fn parse_args(mut raw: impl Iterator<Item = OsString>) -> Result<Option<Args>, String> {
    let mut args = Args {
        token: String::new(),
        jwks: None,
        secret: None,
        issuers: Vec::new(),
        audiences: Vec::new(),
        typ: None,
        profile: false,
        leeway: DEFAULT_LEEWAY,
        at: None,
        infer_alg: false,
    };
    let mut token = None;
    let mut only_positional = false;
    while let Some(arg) = raw.next() {
        let arg = arg.into_string().map_err(|_| "arguments must be valid UTF-8".to_owned())?;
        if only_positional || !arg.starts_with("--") || arg == "-" {
            if arg == "-h" {
                return Ok(None);
            }
            if token.replace(arg).is_some() {
                return Err("give exactly one token".to_owned());
            }
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(value) => Ok(value),
                None => raw
                    .next()
                    .ok_or_else(|| format!("{name} needs a value"))?
                    .into_string()
                    .map_err(|_| format!("{name}: the value must be valid UTF-8")),
            }
        };
        match name.as_str() {
            "--" => only_positional = true,
            "--help" => return Ok(None),
            "--jwks" => args.jwks = Some(value()?),
            "--secret" => args.secret = Some(value()?),
            "--issuer" => args.issuers.push(value()?),
            "--audience" => args.audiences.push(value()?),
            "--type" => args.typ = Some(value()?),
            "--profile" => match value()?.as_str() {
                "rfc9068" => args.profile = true,
                other => return Err(format!("--profile {other:?}: the only profile is rfc9068")),
            },
            "--leeway" => {
                let text = value()?;
                let secs: u64 =
                    text.trim().parse().map_err(|_| format!("--leeway {text:?} is not seconds"))?;
                args.leeway = Duration::from_secs(secs);
            }
            "--at" => {
                let text = value()?;
                let secs: u64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("--at {text:?} is not a Unix time in seconds"))?;
                args.at = UNIX_EPOCH.checked_add(Duration::from_secs(secs));
                if args.at.is_none() {
                    return Err(format!("--at {text}: out of range"));
                }
            }
            "--infer-alg" if inline.is_none() => args.infer_alg = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    args.token = token.ok_or_else(|| "no token given".to_owned())?;
    if args.jwks.is_some() && args.secret.is_some() {
        return Err("give --jwks or --secret, not both".to_owned());
    }
    if args.profile && args.typ.as_deref().is_some_and(|t| normalize_type(t) != "at+jwt") {
        return Err("--profile rfc9068 requires typ at+jwt; --type says otherwise".to_owned());
    }
    if args.issuers.iter().chain(&args.audiences).any(String::is_empty) {
        return Err("--issuer and --audience values must not be empty".to_owned());
    }
    Ok(Some(args))
}

/// The token text: the argument, or standard input for `-`; trimmed, scheme dropped.
fn read_token(arg: &str) -> Result<(String, Option<String>), String> {
    let text = if arg == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| format!("cannot read standard input: {err}"))?;
        if bytes.len() as u64 > MAX_INPUT_BYTES {
            return Err(format!("standard input is larger than {MAX_INPUT_BYTES} bytes"));
        }
        String::from_utf8(bytes).map_err(|_| "standard input is not UTF-8 text".to_owned())?
    } else {
        arg.to_owned()
    };
    let text = text.trim();
    for scheme in ["Bearer", "DPoP"] {
        // Compared as bytes: the scheme and the space are ASCII, so the cut after them falls on
        // a character boundary.
        let bytes = text.as_bytes();
        if bytes.len() > scheme.len()
            && bytes[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
            && matches!(bytes[scheme.len()], b' ' | b'\t')
        {
            let note = format!("dropped the leading `{scheme}` scheme");
            return Ok((text[scheme.len() + 1..].trim().to_owned(), Some(note)));
        }
    }
    Ok((text.to_owned(), None))
}

/// A token taken apart, as far as it can be shown.
struct Decoded {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// Members that appear more than once, by path, with an earlier value (the value shown
    /// is the last one).
    header_duplicates: Duplicates,
    claim_duplicates: Duplicates,
    /// Segments that decode only leniently (padding, non-zero trailing bits).
    noncanonical: Vec<&'static str>,
    /// The signature's bytes, or `None` when the segment is not base64url.
    signature: Option<Vec<u8>>,
}

/// Takes a token apart; `Err` when there is nothing that could be shown (exit code 2).
fn decode(token: &str) -> Result<Decoded, String> {
    if token.is_empty() {
        return Err("the token is empty".to_owned());
    }
    let stray = token
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')));
    if let Some((at, c)) = stray {
        return Err(format!(
            "not a JWT: {c:?} at byte {at} is neither base64url (A-Z a-z 0-9 - _) nor a dot"
        ));
    }
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments[..] else {
        if segments.len() == 5 {
            return Err("five segments: an encrypted token (JWE); only signed tokens (JWS, \
                        header.payload.signature) can be inspected"
                .to_owned());
        }
        return Err(format!(
            "not a JWT: expected three dot-separated segments (header.payload.signature), \
             found {}",
            segments.len()
        ));
    };
    let mut noncanonical = Vec::new();
    let mut segment = |text: &str, name: &'static str| -> Result<Vec<u8>, String> {
        if text.is_empty() {
            return Err(format!("not a JWT: the {name} segment is empty"));
        }
        let bytes = LENIENT_BASE64
            .decode(text)
            .map_err(|err| format!("not a JWT: the {name} segment is not base64url ({err})"))?;
        if URL_SAFE_NO_PAD.decode(text).is_err() {
            noncanonical.push(name);
        }
        Ok(bytes)
    };
    let header_bytes = segment(header, "header")?;
    let payload_bytes = segment(payload, "payload")?;
    let (header, header_duplicates) = json_object(&header_bytes, "header")?;
    let (claims, claim_duplicates) = json_object(&payload_bytes, "payload")?;
    let signature = if signature.is_empty() {
        Some(Vec::new())
    } else {
        match LENIENT_BASE64.decode(signature) {
            Ok(bytes) => {
                if URL_SAFE_NO_PAD.decode(signature).is_err() {
                    noncanonical.push("signature");
                }
                Some(bytes)
            }
            Err(_) => None,
        }
    };
    Ok(Decoded { header, claims, header_duplicates, claim_duplicates, noncanonical, signature })
}

/// Parses a JSON object, noting member names that appear twice at any depth.
fn json_object(bytes: &[u8], name: &str) -> Result<(Map<String, Value>, Duplicates), String> {
    let duplicates = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { path: String::new(), duplicates: &duplicates }
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|err| format!("not a JWT: the {name} is not JSON ({err})"))?;
    match value {
        Value::Object(map) => Ok((map, duplicates.into_inner())),
        _ => Err(format!("not a JWT: the {name} is JSON but not an object")),
    }
}

/// Duplicate members: the path and the value the next one replaced.
type Duplicates = Vec<(String, Value)>;

/// A JSON value like `serde_json::Value`'s, recording duplicate member names (which
/// `serde_json::Value` silently resolves to the last one) by path.
struct Strict<'d> {
    path: String,
    duplicates: &'d RefCell<Duplicates>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Number::from_f64(value).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, items.len());
            match seq.next_element_seed(Strict { path, duplicates: self.duplicates })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path =
                if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            let value =
                map.next_value_seed(Strict { path: path.clone(), duplicates: self.duplicates })?;
            if let Some(earlier) = members.insert(key, value) {
                self.duplicates.borrow_mut().push((path, earlier));
            }
        }
        Ok(Value::Object(members))
    }
}

/// Where the keys came from.
struct Keys {
    provider: Arc<dyn KeyProvider>,
    description: String,
}

async fn load_keys(args: &Args) -> Result<Option<Keys>, String> {
    let options = JwkOptions::default().infer_algorithm_from_key_type(args.infer_alg);
    let hint = |err: &KeyError| match err {
        KeyError::NoUsableKeys if !args.infer_alg => {
            " (the warnings above say why each key was skipped; if the keys have no `alg`, \
             try --infer-alg)"
        }
        _ => "",
    };
    if let Some(secret) = &args.secret {
        let keys = StaticKeys::hmac(secret.as_bytes()).map_err(|err| format!("--secret: {err}"))?;
        let algs = algorithm_list(keys.key_set().keys().iter().flat_map(|k| k.algorithms()));
        let description = format!("an HMAC secret of {} bytes ({algs})", secret.len());
        return Ok(Some(Keys { provider: Arc::new(keys), description }));
    }
    let Some(source) = &args.jwks else { return Ok(None) };
    if source.starts_with("http://") || source.starts_with("https://") {
        let keys = RemoteJwks::builder(source)
            .jwk_options(options)
            .build()
            .map_err(|err| format!("--jwks {source}: {}", chain(&err)))?;
        eprintln!("inspect: fetching {source} (the token is not sent)");
        keys.refresh()
            .await
            .map_err(|err| format!("--jwks {source}: {}{}", chain(&err), hint(&err)))?;
        let count = keys.status().key_ids.len();
        let description = format!("the JWKS at {source} ({count} keys with a kid)");
        return Ok(Some(Keys { provider: Arc::new(keys), description }));
    }
    let pem = std::fs::read(source)
        .map(|bytes| bytes.trim_ascii_start().starts_with(b"-----BEGIN"))
        .map_err(|err| format!("--jwks {source}: cannot read it: {err}"))?;
    let keys =
        if pem { StaticKeys::from_pem_file(source) } else { Jwks::from_file_with(source, options) }
            .map_err(|err| format!("--jwks {source}: {}{}", chain(&err), hint(&err)))?;
    let count = keys.key_set().len();
    let kind = if pem { "PEM public key" } else { "JWKS file" };
    let description = format!("the {kind} {source} ({count} usable keys)");
    Ok(Some(Keys { provider: Arc::new(keys), description }))
}

/// An error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// How one check came out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    /// Not checked (no flag, no key, or an earlier failure makes it meaningless).
    Skip,
    /// Worth knowing, neither good nor bad.
    Note,
}

struct Check {
    /// What was checked; also how the crate's verdict is matched to these lines.
    topic: &'static str,
    status: Status,
    text: String,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, topic: &'static str, status: Status, text: impl Into<String>) {
        self.0.push(Check { topic, status, text: text.into() });
    }
    fn ok(&mut self, topic: &'static str, text: impl Into<String>) {
        self.push(topic, Status::Ok, text);
    }
    fn fail(&mut self, topic: &'static str, text: impl Into<String>) {
        self.push(topic, Status::Fail, text);
    }
    fn skip(&mut self, topic: &'static str, text: impl Into<String>) {
        self.push(topic, Status::Skip, text);
    }
    fn note(&mut self, topic: &'static str, text: impl Into<String>) {
        self.push(topic, Status::Note, text);
    }
    fn failed(&self) -> impl Iterator<Item = &Check> {
        self.0.iter().filter(|c| c.status == Status::Fail)
    }
}

/// An untrusted string for a message: quoted, escaped, shortened.
fn shown(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// An untrusted JSON value for a message, shortened.
fn shown_value(value: &Value) -> String {
    match value {
        Value::String(text) => shown(text),
        other => {
            let text = other.to_string();
            match text.char_indices().nth(80) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            }
        }
    }
}

fn algorithm_list(algs: impl Iterator<Item = Algorithm>) -> String {
    let mut names: Vec<&str> = algs.map(Algorithm::as_str).collect();
    names.dedup();
    names.join(", ")
}

/// RFC 8725 §3.11: `typ` compares case-insensitively, `application/` optional.
fn normalize_type(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower.strip_prefix("application/").unwrap_or(&lower).to_owned()
}

fn header_checks(token: &str, decoded: &Decoded, args: &Args, checks: &mut Checks) {
    let header = &decoded.header;
    if token.len() > DEFAULT_MAX_TOKEN_BYTES {
        checks.fail(
            "size",
            format!(
                "{} bytes; the crate's default limit is {DEFAULT_MAX_TOKEN_BYTES}",
                token.len()
            ),
        );
    }
    for name in &decoded.noncanonical {
        checks.fail(
            "encoding",
            format!(
                "the {name} segment is not canonical base64url (`=` padding or non-zero \
                     trailing bits); JWS forbids both"
            ),
        );
    }
    for (path, earlier) in &decoded.header_duplicates {
        checks.fail(
            "header",
            format!(
                "member {} appears more than once (an earlier value: {}; shown: the last)",
                shown(path),
                shown_value(earlier)
            ),
        );
    }
    // A duplicated `alg` is judged in every one of its values: a parser that keeps the first
    // and one that keeps the last disagree about what the token is.
    let earlier_algs = decoded.header_duplicates.iter().filter(|(path, _)| path == "alg");
    for (_, value) in earlier_algs {
        if let Err(problem) = algorithm(Some(value)) {
            checks.fail("alg", format!("an earlier alg member: {problem}"));
        }
    }
    match algorithm(header.get("alg")) {
        Ok(alg) => checks.ok("alg", alg.as_str()),
        Err(problem) => checks.fail("alg", problem),
    }
    if let Some(crit) = header.get("crit") {
        checks.fail(
            "crit",
            format!(
                "crit {} names extensions that must be understood; none is (RFC 7515 §4.1.11)",
                shown_value(crit)
            ),
        );
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(other) => checks.fail(
            "crit",
            format!("b64 {} (RFC 7797 unencoded payload) is not supported", shown_value(other)),
        ),
    }
    for member in ["kid", "typ"] {
        if let Some(value) = header.get(member).filter(|v| !v.is_string()) {
            checks.fail("header", format!("{member} is not a string: {}", shown_value(value)));
        }
    }
    for member in ["jku", "x5u", "jwk", "x5c"] {
        if header.contains_key(member) {
            checks.note(
                "header",
                format!("{member} is ignored: keys never come from the token itself"),
            );
        }
    }
    let typ = header.get("typ").and_then(Value::as_str);
    let required = if args.profile { Some("at+jwt") } else { args.typ.as_deref() };
    match (required, typ) {
        (Some(required), Some(typ)) if normalize_type(typ) == normalize_type(required) => {
            checks.ok("typ", shown(typ));
        }
        (Some(required), Some(typ)) => {
            checks.fail("typ", format!("{} is not the required {}", shown(typ), shown(required)));
        }
        (Some(required), None) => {
            checks.fail("typ", format!("no typ; {} is required", shown(required)));
        }
        (None, Some(typ)) => {
            checks.skip("typ", format!("{} (not checked: no --type)", shown(typ)));
        }
        (None, None) => {}
    }
    match &decoded.signature {
        None => checks.fail("signature", "the signature segment is not base64url"),
        Some(bytes) if bytes.is_empty() => {
            checks.fail("signature", "no signature (the third segment is empty)");
        }
        Some(_) => {}
    }
}

/// The algorithm an `alg` member names, or what is wrong with it.
fn algorithm(value: Option<&Value>) -> Result<Algorithm, String> {
    let name = match value {
        None => return Err("the header has no alg".to_owned()),
        Some(Value::String(name)) => name,
        Some(other) => return Err(format!("alg is not a string: {}", shown_value(other))),
    };
    if let Some(alg) = Algorithm::from_name(name) {
        return Ok(alg);
    }
    if name.eq_ignore_ascii_case("none") {
        return Err(format!("{}: an unsigned token, never accepted (RFC 8725 §3.1)", shown(name)));
    }
    let hint = Algorithm::ALL
        .into_iter()
        .find(|alg| alg.as_str().eq_ignore_ascii_case(name))
        .map(|alg| format!(" (names are case-sensitive: {alg}?)"))
        .unwrap_or_default();
    Err(format!(
        "{} is not supported{hint}; supported: {}",
        shown(name),
        algorithm_list(Algorithm::ALL.into_iter())
    ))
}

fn claim_checks(decoded: &Decoded, args: &Args, now: f64, checks: &mut Checks) {
    let claims = &decoded.claims;
    let leeway = args.leeway.as_secs_f64();
    for (path, earlier) in &decoded.claim_duplicates {
        checks.fail(
            "claims",
            format!(
                "claim {} appears more than once (an earlier value: {}; shown: the last)",
                shown(path),
                shown_value(earlier)
            ),
        );
    }
    match claims.get("exp") {
        None => checks.fail("exp", "no exp: the crate requires one (a token that never expires)"),
        Some(Value::Number(exp)) => {
            let exp = exp.as_f64().unwrap_or(f64::INFINITY);
            if now >= exp + leeway {
                checks.fail("exp", format!("expired {} ago", span(now - exp)));
            } else if now >= exp {
                checks.note(
                    "exp",
                    format!(
                        "expired {} ago, still accepted within the {} leeway",
                        span(now - exp),
                        span(leeway)
                    ),
                );
            } else {
                checks.ok("exp", format!("expires in {}", span(exp - now)));
            }
        }
        Some(other) => {
            checks.fail("exp", format!("exp is not a number (NumericDate): {}", shown_value(other)))
        }
    }
    match claims.get("nbf") {
        None => {}
        Some(Value::Number(nbf)) => {
            let nbf = nbf.as_f64().unwrap_or(f64::NEG_INFINITY);
            if nbf > now + leeway {
                checks.fail("nbf", format!("not valid for another {}", span(nbf - now)));
            } else if nbf > now {
                checks.note(
                    "nbf",
                    format!(
                        "valid in {}, already accepted within the {} leeway",
                        span(nbf - now),
                        span(leeway)
                    ),
                );
            } else {
                checks.ok("nbf", format!("valid since {} ago", span(now - nbf)));
            }
        }
        Some(other) => {
            checks.fail("nbf", format!("nbf is not a number (NumericDate): {}", shown_value(other)))
        }
    }
    match claims.get("iat") {
        None => {}
        Some(Value::Number(iat)) => {
            let iat = iat.as_f64().unwrap_or(0.0);
            if iat > now + leeway {
                checks.note(
                    "iat",
                    format!("issued {} in the future (clocks apart? not checked)", span(iat - now)),
                );
            } else {
                checks.ok("iat", format!("issued {} ago", span((now - iat).max(0.0))));
            }
        }
        Some(other) => {
            checks.fail("iat", format!("iat is not a number (NumericDate): {}", shown_value(other)))
        }
    }
    issuer_check(claims.get("iss"), &args.issuers, checks);
    audience_check(claims.get("aud"), &args.audiences, checks);
    for name in ["sub", "jti", "scope"] {
        if let Some(value) = claims.get(name).filter(|v| !v.is_string()) {
            checks.fail("claims", format!("{name} is not a string: {}", shown_value(value)));
        }
    }
    if let Some(scp) = claims.get("scp") {
        let ok = match scp {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            checks.fail("claims", format!("scp is not a list of strings: {}", shown_value(scp)));
        }
    }
    match claims.get("cnf") {
        None => {}
        Some(Value::Object(cnf)) => match cnf.get("jkt") {
            None => {}
            Some(Value::String(jkt)) => checks.note(
                "cnf",
                format!(
                    "bound to a DPoP key (cnf.jkt {}): servers accept it only as \
                     `Authorization: DPoP` with a proof signed by that key",
                    shown(jkt)
                ),
            ),
            Some(other) => {
                checks.fail("cnf", format!("cnf.jkt is not a string: {}", shown_value(other)));
            }
        },
        Some(other) => checks.fail("cnf", format!("cnf is not an object: {}", shown_value(other))),
    }
    if args.profile {
        for name in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
            if !claims.contains_key(name) {
                checks.fail("required", format!("no {name}: RFC 9068 requires it"));
            }
        }
    }
}

fn issuer_check(iss: Option<&Value>, accepted: &[String], checks: &mut Checks) {
    let listed = || accepted.iter().map(|i| shown(i)).collect::<Vec<_>>().join(" or ");
    match (iss, accepted.is_empty()) {
        (Some(value), _) if !value.is_string() => {
            checks.fail("iss", format!("iss is not a string: {}", shown_value(value)));
        }
        (None, true) => checks.skip("iss", "not checked (no --issuer); the token has no iss"),
        (Some(iss), true) => checks.skip(
            "iss",
            format!("{} (not checked: no --issuer, any issuer accepted)", shown_value(iss)),
        ),
        (None, false) => checks.fail("iss", format!("no iss; expected {}", listed())),
        (Some(Value::String(iss)), false) => {
            if accepted.iter().any(|a| a == iss) {
                checks.ok("iss", shown(iss));
            } else {
                let near = accepted.iter().find_map(|a| {
                    if a.trim_end_matches('/') == iss.trim_end_matches('/') {
                        Some(" (they differ only in a trailing slash)")
                    } else if a.eq_ignore_ascii_case(iss) {
                        Some(" (they differ only in letter case)")
                    } else {
                        None
                    }
                });
                checks.fail(
                    "iss",
                    format!(
                        "{} is not {}: issuers are compared exactly{}",
                        shown(iss),
                        listed(),
                        near.unwrap_or("")
                    ),
                );
            }
        }
        (Some(_), false) => unreachable!("non-strings handled above"),
    }
}

fn audience_check(aud: Option<&Value>, accepted: &[String], checks: &mut Checks) {
    let values: Option<Vec<&str>> = match aud {
        None => None,
        Some(Value::String(aud)) => Some(vec![aud]),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Some(items.iter().filter_map(Value::as_str).collect())
        }
        Some(other) => {
            let text = format!("aud is not a string or a list of strings: {}", shown_value(other));
            return checks.fail("aud", text);
        }
    };
    let listed = |items: &[&str]| items.iter().map(|i| shown(i)).collect::<Vec<_>>().join(", ");
    let expected: Vec<&str> = accepted.iter().map(String::as_str).collect();
    match values {
        None if accepted.is_empty() => {
            checks.skip("aud", "not checked (no --audience); the token has no aud");
        }
        Some(values) if accepted.is_empty() => checks.skip(
            "aud",
            format!("{} (not checked: no --audience, any audience accepted)", listed(&values)),
        ),
        None => checks.fail(
            "aud",
            format!(
                "no aud; expected {} (a token without aud is refused once an audience is set)",
                listed(&expected)
            ),
        ),
        Some(values) => {
            if values.iter().any(|v| expected.contains(v)) {
                checks.ok("aud", listed(&values));
            } else {
                checks.fail(
                    "aud",
                    format!("{} holds none of {}", listed(&values), listed(&expected)),
                );
            }
        }
    }
}

fn family_name(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Okp => "Ed25519",
        _ => "other",
    }
}

fn describe_key(key: &VerifyingKey) -> String {
    let kid = key.kid().map(|kid| format!(" {}", shown(kid))).unwrap_or_default();
    format!("{} key{kid} for {}", family_name(key.family()), algorithm_list(key.algorithms()))
}

/// Which keys the token's `kid` and `alg` select, by the crate's rule (see `KeySet`).
async fn key_check(keys: &Keys, header: &Map<String, Value>, checks: &mut Checks) {
    let alg = header.get("alg").and_then(Value::as_str).and_then(Algorithm::from_name);
    let kid = header.get("kid").and_then(Value::as_str);
    let Some(alg) = alg else {
        return checks.skip("key", "not looked up: the algorithm is not supported");
    };
    let set = match keys.provider.lookup(&TokenHeader::new(alg, kid)).await {
        Ok(set) => set,
        Err(err) => return checks.fail("key", format!("the key source failed: {}", chain(&err))),
    };
    let candidates: Vec<&VerifyingKey> = set
        .keys()
        .iter()
        .filter(|key| match (kid, key.kid()) {
            (Some(wanted), Some(have)) => wanted == have,
            (Some(_), None) => true,
            (None, _) => key.allows(alg),
        })
        .collect();
    let pinned: Vec<&&VerifyingKey> = candidates.iter().filter(|key| key.allows(alg)).collect();
    match (kid, candidates.is_empty(), pinned.first()) {
        (Some(kid), true, _) => {
            let mut kids: Vec<String> =
                set.keys().iter().filter_map(|k| k.kid()).map(shown).collect();
            let more = kids.len().saturating_sub(12);
            kids.truncate(12);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            checks.fail(
                "key",
                format!(
                    "no key has kid {}; the set has {}{more} (keys the set holds but cannot \
                     use are skipped with a warning on stderr)",
                    shown(kid),
                    kids.join(", ")
                ),
            );
        }
        (None, true, _) => checks.fail("key", format!("no kid, and no key verifies {alg}")),
        (_, false, None) => checks.fail(
            "key",
            format!(
                "{} does not verify {alg} (each key is pinned to its algorithms)",
                candidates.iter().map(|k| describe_key(k)).collect::<Vec<_>>().join("; ")
            ),
        ),
        (Some(_), false, Some(key)) => checks.ok("key", describe_key(key)),
        (None, false, Some(_)) => {
            checks.ok("key", format!("no kid: {} key(s) verify {alg}, each is tried", pinned.len()))
        }
    }
}

/// What a verifier with every claim check off says about the signature. The crate verifies
/// the header, then the key, then the signature, and only then reads the payload; so a
/// refusal for any later reason means the signature verified.
fn signature_check(result: &Result<Value, AuthError>, decoded: &Decoded, checks: &mut Checks) {
    // An empty or undecodable signature segment has its line already.
    if checks.failed().any(|c| c.topic == "signature") {
        return;
    }
    match result {
        Ok(_) | Err(AuthError::DpopRequired) => checks.ok("signature", "verifies"),
        Err(AuthError::InvalidSignature) if decoded.noncanonical.contains(&"signature") => {
            checks.skip("signature", "refused for its encoding (see encoding)");
        }
        Err(AuthError::InvalidSignature) => checks
            .fail("signature", "does not verify: the token was altered, or signed by another key"),
        Err(AuthError::UnknownKey | AuthError::AlgorithmNotAllowed) => {
            checks.skip("signature", "not checked: no key for it (see key)");
        }
        Err(AuthError::KeysUnavailable) => {
            checks.fail("signature", "not checked: keys unavailable")
        }
        // Refusals before any key is chosen. `Malformed` is both: the payload's own problems
        // (duplicate claims, not a JSON object, bad base64url) are found after the signature.
        Err(AuthError::Malformed(reason))
            if matches!(
                reason,
                jwt_layer::MalformedReason::DuplicateClaim
                    | jwt_layer::MalformedReason::PayloadNotBase64Url
                    | jwt_layer::MalformedReason::PayloadNotJsonObject
            ) =>
        {
            checks.ok("signature", "verifies");
        }
        Err(
            AuthError::UnsupportedAlgorithm
            | AuthError::CriticalHeader
            | AuthError::TokenTooLarge
            | AuthError::Malformed(_),
        ) => checks
            .skip("signature", "not checked: the crate refuses the token before choosing a key"),
        Err(_) => checks.ok("signature", "verifies"),
    }
}

/// The check lines a refusal of the crate corresponds to.
fn topics_of(err: &AuthError) -> &'static [&'static str] {
    match err {
        AuthError::TokenTooLarge => &["size"],
        AuthError::Malformed(_) => &["encoding", "header", "claims", "signature", "cnf"],
        AuthError::UnsupportedAlgorithm => &["alg"],
        AuthError::CriticalHeader => &["crit"],
        AuthError::UnknownKey | AuthError::AlgorithmNotAllowed | AuthError::KeysUnavailable => {
            &["key", "signature"]
        }
        AuthError::InvalidSignature => &["signature", "encoding"],
        AuthError::Expired => &["exp"],
        AuthError::NotYetValid => &["nbf"],
        AuthError::InvalidIssuer => &["iss"],
        AuthError::InvalidAudience => &["aud"],
        AuthError::InvalidType => &["typ"],
        AuthError::MissingClaim(name) => claim_topics(name),
        AuthError::InvalidClaimType(name) => claim_topics(name),
        _ => &[],
    }
}

fn claim_topics(name: &str) -> &'static [&'static str] {
    match name {
        "exp" => &["exp"],
        "iss" => &["iss"],
        "aud" => &["aud"],
        "nbf" => &["nbf"],
        "iat" => &["iat"],
        _ => &["claims", "required", "cnf"],
    }
}

async fn run(args: Args) -> Result<u8, String> {
    let (token, scheme_note) = read_token(&args.token)?;
    let decoded = decode(&token)?;
    let keys = load_keys(&args).await?;
    let now = args.at.unwrap_or_else(SystemTime::now);
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());

    // Both verifiers are built before anything is printed: a bad setting is a usage error.
    let verifiers = match &keys {
        Some(keys) => Some(build_verifiers(keys, &args, &token, now)?),
        None => None,
    };

    if let Some(note) = scheme_note {
        println!("({note})");
    }
    println!("Header\n{}\n", pretty(&decoded.header));
    println!("Claims\n{}\n", pretty(&decoded.claims));
    print_times(&decoded.claims, now_secs, args.at.is_some());

    let mut checks = Checks::default();
    header_checks(&token, &decoded, &args, &mut checks);
    claim_checks(&decoded, &args, now_secs, &mut checks);

    let verdict = match (&keys, verifiers) {
        (Some(keys), Some((lenient, strict))) => {
            println!("Keys: {}\n", keys.description);
            key_check(keys, &decoded.header, &mut checks).await;
            signature_check(&lenient.verify(&token).await, &decoded, &mut checks);
            Some(strict.verify(&token).await)
        }
        _ => {
            checks.skip("key", "not checked: give --jwks or --secret");
            checks.skip("signature", "not checked: no key");
            None
        }
    };

    // A refusal by the crate that no line above explains is a line of its own.
    if let Some(Err(err)) = &verdict
        && !matches!(err, AuthError::DpopRequired)
        && !checks.failed().any(|c| topics_of(err).contains(&c.topic))
    {
        checks.fail("crate", format!("{err}"));
    }

    // Roughly the order the crate checks in: the token's shape and header, the key and the
    // signature, then the payload.
    const ORDER: &str = "size encoding header alg crit key signature claims exp nbf iat iss aud \
                         required typ cnf crate";
    checks.0.sort_by_key(|c| ORDER.split_whitespace().position(|t| t == c.topic));
    println!("Checks");
    for check in &checks.0 {
        let mark = match check.status {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
            Status::Note => "note",
        };
        println!("  {mark:<5} {:<10} {}", check.topic, check.text);
    }
    println!();

    let mut problems: Vec<&str> = checks.failed().map(|c| c.topic).collect();
    problems.dedup();
    let skipped: Vec<&str> = [
        (args.issuers.is_empty(), "issuer (no --issuer)"),
        (args.audiences.is_empty(), "audience (no --audience)"),
    ]
    .into_iter()
    .filter_map(|(skipped, what)| skipped.then_some(what))
    .collect();
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!("\n  checks skipped: {}", skipped.join(", "))
    };
    let code = match verdict {
        None => {
            if problems.is_empty() {
                println!(
                    "Verdict: UNVERIFIED: the header and claims look right, but without a key \
                     (--jwks or --secret) nothing is verified{skipped}"
                );
            } else {
                println!(
                    "Verdict: INVALID: {}; the signature was not checked (no key){skipped}",
                    count_problems(&problems)
                );
            }
            EXIT_INVALID
        }
        Some(result) => {
            let crate_says = match &result {
                Ok(_) => "JwtAuth::verify accepts it".to_owned(),
                // `verify` runs every check, then refuses a bound token: no proof comes with it.
                Err(AuthError::DpopRequired) => "every check passes; it is bound to a DPoP key, \
                                                 so it is used as `Authorization: DPoP` with a \
                                                 proof (JwtAuth::verify, having no proof, \
                                                 refuses it)"
                    .to_owned(),
                Err(err) => format!(
                    "JwtAuth::verify refuses it with the first failure it meets: {err} \
                     (HTTP {}, error=\"{}\", error_description=\"{}\")",
                    err.status().as_u16(),
                    err.error_code().unwrap_or(""),
                    err.description()
                ),
            };
            match result {
                Ok(_) | Err(AuthError::DpopRequired) => {
                    println!("Verdict: VALID\n  {crate_says}{skipped}");
                    if !problems.is_empty() {
                        println!(
                            "  note: inspect's own checks disagree ({}); the crate's verdict is \
                             the one a server applies",
                            problems.join(", ")
                        );
                    }
                    EXIT_VALID
                }
                Err(_) => {
                    println!(
                        "Verdict: INVALID: {}\n  {crate_says}{skipped}",
                        count_problems(&problems)
                    );
                    EXIT_INVALID
                }
            }
        }
    };
    Ok(code)
}

/// "2 problems: exp, aud".
fn count_problems(topics: &[&str]) -> String {
    let noun = if topics.len() == 1 { "problem" } else { "problems" };
    format!("{} {noun}: {}", topics.len(), topics.join(", "))
}

/// A verifier with every claim check off (for the signature alone), and one with the
/// requested settings (the crate's verdict). Both judge the token as of `now`.
fn build_verifiers(
    keys: &Keys,
    args: &Args,
    token: &str,
    now: SystemTime,
) -> Result<(JwtAuth<Value>, JwtAuth<Value>), String> {
    let lenient = JwtAuth::<Value>::builder()
        .keys(Arc::clone(&keys.provider))
        .dangerous_accept_any_issuer()
        .dangerous_accept_any_audience()
        .require_exp(false)
        .max_token_bytes(token.len().max(16))
        .clock(move || now)
        .build()
        .map_err(|err| format!("internal: {err}"))?;

    let mut strict =
        JwtAuth::<Value>::builder().keys(Arc::clone(&keys.provider)).leeway(args.leeway);
    strict = if args.issuers.is_empty() {
        strict.dangerous_accept_any_issuer()
    } else {
        args.issuers.iter().fold(strict, |b, issuer| b.issuer(issuer))
    };
    strict = if args.audiences.is_empty() {
        strict.dangerous_accept_any_audience()
    } else {
        args.audiences.iter().fold(strict, |b, audience| b.audience(audience))
    };
    if let Some(typ) = &args.typ {
        strict = strict.require_type(typ);
    }
    if args.profile {
        strict = strict.access_token_profile();
    }
    let strict = strict.clock(move || now).build().map_err(|err| match err {
        jwt_layer::BuildError::LeewayTooLarge => format!("--leeway: {err}"),
        other => other.to_string(),
    })?;
    Ok((lenient, strict))
}

fn pretty(map: &Map<String, Value>) -> String {
    // Serializing a `Value` cannot fail; strings are escaped, so control characters in a
    // claim cannot reach the terminal raw.
    serde_json::to_string_pretty(map).unwrap_or_else(|err| format!("(cannot print: {err})"))
}

fn print_times(claims: &Map<String, Value>, now_secs: f64, fixed: bool) {
    let numeric = |name: &str| claims.get(name).and_then(Value::as_f64);
    let (iat, nbf, exp) = (numeric("iat"), numeric("nbf"), numeric("exp"));
    if iat.is_none() && nbf.is_none() && exp.is_none() {
        return;
    }
    let now_label = if fixed { "as of --at" } else { "now" };
    println!("Times ({now_label} {})", utc(now_secs));
    let relative = |at: f64, past: &str, future: &str| {
        if at <= now_secs {
            past.replace('#', &span(now_secs - at))
        } else {
            future.replace('#', &span(at - now_secs))
        }
    };
    if let Some(iat) = iat {
        let text = relative(iat, "issued # ago", "issued # in the future");
        println!("  iat  {}  {text}", utc(iat));
    }
    if let Some(nbf) = nbf {
        let text = relative(nbf, "valid since # ago", "not valid for another #");
        println!("  nbf  {}  {text}", utc(nbf));
    }
    if let Some(exp) = exp {
        let text = relative(exp, "expired # ago", "expires in #");
        println!("  exp  {}  {text}", utc(exp));
    }
    if let (Some(iat), Some(exp)) = (iat, exp)
        && exp >= iat
    {
        println!("  lifetime (exp - iat): {}", span(exp - iat));
    }
    println!();
}

/// A duration for people: "45 s", "4 min", "2 h", "3 days", "5 months", "12 years".
fn span(seconds: f64) -> String {
    const MINUTE: f64 = 60.0;
    const HOUR: f64 = 3600.0;
    const DAY: f64 = 86_400.0;
    const YEAR: f64 = 365.2425 * DAY;
    let s = seconds.abs();
    if s >= 1e6 * YEAR {
        return "over a million years".to_owned();
    }
    let (count, unit, plural) = if s < MINUTE {
        (s, "s", "s")
    } else if s < HOUR {
        (s / MINUTE, "min", "min")
    } else if s < 2.0 * DAY {
        (s / HOUR, "h", "h")
    } else if s < 60.0 * DAY {
        (s / DAY, "day", "days")
    } else if s < 2.0 * YEAR {
        (s / (YEAR / 12.0), "month", "months")
    } else {
        (s / YEAR, "year", "years")
    };
    // `as` saturates, so absurd values print as a large number instead of panicking.
    let count = count.floor() as u64;
    format!("{count} {}", if count == 1 { unit } else { plural })
}

/// A Unix time as `YYYY-MM-DD hh:mm:ss UTC`, for years 1 to 9999.
fn utc(seconds: f64) -> String {
    if !(-62_135_596_800.0..253_402_300_800.0).contains(&seconds) {
        return format!("{seconds:e} (outside years 1-9999)");
    }
    let whole = seconds.floor() as i64;
    let (days, rest) = (whole.div_euclid(86_400), whole.rem_euclid(86_400));
    // Days to civil date (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
