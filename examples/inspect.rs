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
//! A thin command line over [`JwtAuth::explain`]: it builds one verifier from the arguments,
//! asks it to explain the token, and prints the header and payload as pretty JSON, `iat`/`nbf`/
//! `exp` as UTC dates and relative times ("expires in 4 min", "expired 2 h ago"), one line per
//! check of the crate's own sequence (size, shape, header, key, signature, payload, `exp`,
//! `nbf`, `iss`, `aud`, required claims, `cnf`, `typ`, …) and the verdict, which is exactly
//! what `JwtAuth::verify` answers. Every problem is listed, not only the first.
//!
//! - Nothing leaves the machine, except the one JWKS request when `--jwks` is an `http(s)` URL
//!   (the token itself is never sent). `--jwks` also takes a file: a JWKS, a single JWK or a PEM
//!   public key. `--secret` is an HMAC secret (32 bytes or more). Without either, no key
//!   verifies the token and the key check fails.
//! - Without `--issuer` (or `--audience`), any value is accepted (the crate's
//!   `dangerous_accept_any_issuer`/`_audience`), and the output says so. Both flags may be
//!   repeated to accept several values.
//! - `--type` requires the header `typ`; `--profile rfc9068` is `.access_token_profile()`
//!   (which requires `typ` `at+jwt`, so it does not combine with `--type`). `--leeway` is the
//!   clock-skew allowance (default 60 s, at most 600); `--at` judges the token as of another
//!   time.
//! - `-` as the token reads it from standard input (keeps it out of the shell history); a
//!   leading `Bearer `/`DPoP ` is dropped.
//!
//! Exit codes: 0 the token is valid (the crate accepts it; a token bound to a DPoP key counts
//! as valid although it needs a proof to be used), 1 it is not (or nothing could verify it
//! because no key was given), 2 the input is not a compact JWS at all (the crate's shape
//! check fails: empty, characters outside base64url, not three segments) or the arguments or
//! keys are unusable.

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwt_layer::explain::{Check, Explanation, Outcome};
use jwt_layer::keys::{
    FixedClock, JwkOptions, KeyError, KeyLookup, KeyProvider, RemoteJwks, StaticKeys, VerifyingKey,
};
use jwt_layer::{AuthError, BuildError, DEFAULT_LEEWAY, JwtAuth, TokenHeader};
use serde_json::Value;

/// The token is valid.
const EXIT_VALID: u8 = 0;
/// The token is not valid, or could not be verified.
const EXIT_INVALID: u8 = 1;
/// The input is not a JWT, or the arguments or keys are unusable.
const EXIT_USAGE: u8 = 2;

/// The most read from standard input.
const MAX_INPUT_BYTES: u64 = 1 << 20;

const USAGE: &str = "\
usage: inspect <TOKEN|-> [--jwks URL|FILE | --secret HS-SECRET] [--issuer ISS]...
               [--audience AUD]... [--type TYP] [--profile rfc9068] [--leeway SECS]
               [--at UNIX-SECONDS] [--infer-alg]

  TOKEN            the compact JWT; `-` reads it from standard input
  --jwks URL|FILE  verification keys: a JWKS URL (https, or http to loopback; the only
                   network request made), or a file holding a JWKS, a JWK or a PEM public key
  --secret SECRET  an HMAC secret (at least 32 bytes)
  --issuer ISS     accepted `iss` (repeat for several); without it any issuer is accepted
  --audience AUD   accepted `aud` (repeat for several); without it any audience is accepted
  --type TYP       required header `typ`, for example at+jwt
  --profile rfc9068  the JWT access-token profile (typ at+jwt and its required claims)
  --leeway SECS    clock-skew allowance for exp/nbf (default 60, at most 600)
  --at SECONDS     judge the token as of this Unix time instead of now
  --infer-alg      JWKs without `alg` verify their key type's whole family

exit codes: 0 valid, 1 invalid or unverified, 2 not a JWT or unusable arguments";

/// The command line.
#[derive(Default)]
struct Args {
    token: String,
    jwks: Option<String>,
    secret: Option<String>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    typ: Option<String>,
    profile: bool,
    leeway: Option<Duration>,
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
    let mut args = Args::default();
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
        let seconds = |text: String, what: &str| -> Result<Duration, String> {
            text.trim()
                .parse()
                .map(Duration::from_secs)
                .map_err(|_| format!("{name} {text:?} is not {what}"))
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
            "--leeway" => args.leeway = Some(seconds(value()?, "seconds")?),
            "--at" => {
                let since = seconds(value()?, "a Unix time in seconds")?;
                args.at = Some(UNIX_EPOCH.checked_add(since).ok_or("--at: out of range")?);
            }
            "--infer-alg" if inline.is_none() => args.infer_alg = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    args.token = token.ok_or_else(|| "no token given".to_owned())?;
    if args.jwks.is_some() && args.secret.is_some() {
        return Err("give --jwks or --secret, not both".to_owned());
    }
    if args.profile && args.typ.is_some() {
        return Err("--profile rfc9068 requires typ at+jwt: give it or --type, not both".into());
    }
    Ok(Some(args))
}

/// The token text: the argument, or standard input for `-`; trimmed, scheme dropped.
fn read_token(arg: &str) -> Result<(String, Option<&'static str>), String> {
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
            return Ok((text[scheme.len() + 1..].trim().to_owned(), Some(scheme)));
        }
    }
    Ok((text.to_owned(), None))
}

/// Answers every lookup with no keys, so the token is explained without a key: the key check
/// then fails as it would on a server that does not know the signer.
struct NoKeys;

impl KeyProvider for NoKeys {
    fn lookup(&self, _header: &TokenHeader<'_>) -> KeyLookup {
        KeyLookup::no_keys()
    }
}

/// The key source the arguments name, and a description of it.
async fn load_keys(args: &Args) -> Result<(Arc<dyn KeyProvider>, String), String> {
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
        return Ok((Arc::new(keys), format!("an HMAC secret of {} bytes", secret.len())));
    }
    let Some(source) = &args.jwks else {
        return Ok((Arc::new(NoKeys), "none given (--jwks or --secret): nothing verifies".into()));
    };
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
        return Ok((Arc::new(keys), format!("the JWKS at {source} ({count} keys with a kid)")));
    }
    let pem = std::fs::read(source)
        .map(|bytes| bytes.trim_ascii_start().starts_with(b"-----BEGIN"))
        .map_err(|err| format!("--jwks {source}: cannot read it: {err}"))?;
    let keys = if pem {
        StaticKeys::from_pem_file(source)
    } else {
        StaticKeys::from_jwks_file_with(source, options)
    }
    .map_err(|err| format!("--jwks {source}: {}{}", chain(&err), hint(&err)))?;
    let kind = if pem { "PEM public key" } else { "JWKS file" };
    let count = keys.key_set().len();
    Ok((Arc::new(keys), format!("the {kind} {source} ({count} usable keys)")))
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

/// One verifier with the settings the arguments ask for, judging as of `now`.
fn build_auth(
    args: &Args,
    keys: Arc<dyn KeyProvider>,
    now: SystemTime,
) -> Result<JwtAuth<Value>, String> {
    let mut builder = JwtAuth::<Value>::builder()
        .keys(keys)
        .leeway(args.leeway.unwrap_or(DEFAULT_LEEWAY))
        .clock(FixedClock::at(now));
    builder = if args.issuers.is_empty() {
        builder.dangerous_accept_any_issuer()
    } else {
        args.issuers.iter().fold(builder, |b, issuer| b.issuer(issuer))
    };
    builder = if args.audiences.is_empty() {
        builder.dangerous_accept_any_audience()
    } else {
        args.audiences.iter().fold(builder, |b, audience| b.audience(audience))
    };
    if let Some(typ) = &args.typ {
        builder = builder.require_type(typ);
    }
    if args.profile {
        builder = builder.access_token_profile();
    }
    builder.build().map_err(|err| match err {
        BuildError::LeewayTooLarge => format!("--leeway: {err}"),
        BuildError::EmptyValue => format!("--issuer, --audience: {err}"),
        other => other.to_string(),
    })
}

async fn run(args: Args) -> Result<u8, String> {
    let (token, scheme) = read_token(&args.token)?;
    let (keys, keys_described) = load_keys(&args).await?;
    let now = args.at.unwrap_or_else(SystemTime::now);
    let auth = build_auth(&args, keys, now)?;
    let explanation = auth.explain(&token).await;

    if let Some(scheme) = scheme {
        println!("(dropped the leading `{scheme}` scheme)\n");
    }
    let failed = |check| matches!(explanation.outcome(check), Some(Outcome::Failed(_)));
    if !failed(Check::Size) && !failed(Check::Shape) {
        print_json("Header", explanation.header_json(), explanation.outcome(Check::Header));
        let payload = if explanation.authentic() {
            "Payload"
        } else {
            "Payload (not authentic: no signature verified it)"
        };
        print_json(payload, explanation.payload_json(), explanation.outcome(Check::Payload));
        print_times(&explanation, args.at.is_some());
    }
    println!("Keys: {keys_described}\n");

    println!("Checks");
    for step in explanation.steps() {
        let detail = detail(step.check, &step.outcome, &explanation, &args);
        println!("  {:<16} {}{detail}", step.check.name(), step.outcome);
    }
    println!();
    Ok(print_verdict(&explanation, &args))
}

/// What a step's line adds to the outcome, from the explanation and the arguments.
fn detail(check: Check, outcome: &Outcome, explanation: &Explanation, args: &Args) -> String {
    let (header, times) = (explanation.header(), explanation.times());
    match (check, outcome) {
        (Check::Header, Outcome::Passed | Outcome::Failed(_)) => {
            header.map_or_else(String::new, |h| {
                let mut text = format!(" (alg {}", h.alg.as_str());
                for (name, value) in [("kid", &h.kid), ("typ", &h.typ)] {
                    if let Some(value) = value {
                        text.push_str(&format!(", {name} {}", shown(value)));
                    }
                }
                text + ")"
            })
        }
        (Check::Key, Outcome::Passed) => {
            explanation.key().map(|key| format!(" ({})", describe_key(key))).unwrap_or_default()
        }
        (Check::Key, Outcome::Failed(_)) => header.map_or_else(String::new, |h| {
            let kid = h.kid.as_deref().map_or("no kid".into(), |kid| format!("kid {}", shown(kid)));
            format!(" ({kid}, alg {})", h.alg.as_str())
        }),
        (Check::Expiry, Outcome::Passed) => match times.expires_in() {
            Some(past) if past <= 0.0 => {
                format!(" (expired {} ago, within the {} leeway)", span(past), span(times.leeway))
            }
            Some(_) => String::new(),
            None => " (no exp)".into(),
        },
        (Check::NotBefore, Outcome::Passed) => match times.valid_in() {
            Some(ahead) if ahead > 0.0 => {
                format!(" (valid in {}, within the {} leeway)", span(ahead), span(times.leeway))
            }
            Some(_) => String::new(),
            None => " (no nbf)".into(),
        },
        (Check::Issuer, Outcome::Skipped(_)) if args.issuers.is_empty() => " (no --issuer)".into(),
        (Check::Audience, Outcome::Skipped(_)) if args.audiences.is_empty() => {
            " (no --audience)".into()
        }
        (Check::Binding, Outcome::Failed(AuthError::DpopRequired)) => {
            " (bound to a DPoP key: used as `Authorization: DPoP` with a proof)".into()
        }
        _ => String::new(),
    }
}

/// Prints the verdict and returns the exit code.
fn print_verdict(explanation: &Explanation, args: &Args) -> u8 {
    let skipped: Vec<&str> = [
        (args.issuers.is_empty(), "issuer (no --issuer)"),
        (args.audiences.is_empty(), "audience (no --audience)"),
    ]
    .into_iter()
    .filter_map(|(skipped, what)| skipped.then_some(what))
    .collect();
    let skipped = match skipped.is_empty() {
        true => String::new(),
        false => format!("\n  any value accepted: {}", skipped.join(", ")),
    };
    // `verify` has no proof to go with a bound token; every other check passing makes it valid.
    let only_needs_proof = explanation.dpop_bound()
        && explanation
            .failures()
            .all(|(check, err)| check == Check::Binding && matches!(err, AuthError::DpopRequired));
    match explanation.verdict() {
        Ok(()) => {
            println!("Verdict: VALID\n  JwtAuth::verify accepts it{skipped}");
            EXIT_VALID
        }
        Err(AuthError::DpopRequired) if only_needs_proof => {
            println!(
                "Verdict: VALID\n  every check passes; it is bound to a DPoP key, so it is used \
                 as `Authorization: DPoP` with a proof (JwtAuth::verify, having no proof, \
                 refuses it){skipped}"
            );
            EXIT_VALID
        }
        Err(err) => {
            let failed: Vec<&str> = explanation.failures().map(|(check, _)| check.name()).collect();
            let noun = if failed.len() == 1 { "problem" } else { "problems" };
            println!(
                "Verdict: INVALID: {} {noun}: {}\n  JwtAuth::verify refuses it with the first: \
                 {err} (HTTP {}, error=\"{}\", error_description=\"{}\"){skipped}",
                failed.len(),
                failed.join(", "),
                err.status().as_u16(),
                err.error_code().unwrap_or(""),
                err.description()
            );
            match explanation.outcome(Check::Shape) {
                Some(Outcome::Failed(_)) => EXIT_USAGE,
                _ => EXIT_INVALID,
            }
        }
    }
}

fn describe_key(key: &VerifyingKey) -> String {
    let kid = key.kid().map(|kid| format!(" {}", shown(kid))).unwrap_or_default();
    let algs: Vec<&str> = key.algorithms().map(|alg| alg.as_str()).collect();
    format!("{:?} key{kid} for {}", key.family(), algs.join(", "))
}

/// An untrusted string for a message: quoted, escaped, shortened.
fn shown(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A decoded segment: pretty JSON, or the text as sent when the crate finds it malformed (so
/// nothing it refuses, such as a duplicate member, is hidden by a parser's choice).
fn print_json(title: &str, json: Option<&str>, outcome: Option<&Outcome>) {
    println!("{title}");
    let malformed = matches!(outcome, Some(Outcome::Failed(AuthError::Malformed(_))));
    match json {
        None => println!("(not strict base64url, or not UTF-8)"),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) if !malformed => {
                // Strings are escaped, so control characters cannot reach the terminal raw.
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            }
            _ => println!("(as sent) {}", terminal_safe(text)),
        },
    }
    println!();
}

/// `text` with control and bidirectional-override characters escaped, so a malformed
/// segment cannot drive the terminal or reorder what is shown.
fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => c.escape_unicode().to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn print_times(explanation: &Explanation, fixed: bool) {
    let times = explanation.times();
    if times.iat.is_none() && times.nbf.is_none() && times.exp.is_none() {
        return;
    }
    let now_label = if fixed { "as of --at" } else { "now" };
    println!("Times ({now_label} {}, leeway {})", utc(times.now), span(times.leeway));
    let relative = |delta: f64, past: &str, future: &str| match delta <= 0.0 {
        true => past.replace('#', &span(delta)),
        false => future.replace('#', &span(delta)),
    };
    if let (Some(iat), Some(age)) = (times.iat, times.age()) {
        let text = relative(-age, "issued # ago", "issued # in the future");
        println!("  iat  {}  {text}", utc(iat));
    }
    if let (Some(nbf), Some(valid_in)) = (times.nbf, times.valid_in()) {
        let text = relative(valid_in, "valid since # ago", "not valid for another #");
        println!("  nbf  {}  {text}", utc(nbf));
    }
    if let (Some(exp), Some(expires_in)) = (times.exp, times.expires_in()) {
        let text = relative(expires_in, "expired # ago", "expires in #");
        println!("  exp  {}  {text}", utc(exp));
    }
    if let (Some(iat), Some(exp)) = (times.iat, times.exp)
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
