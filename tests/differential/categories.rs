//! Why jwt-layer and jsonwebtoken may disagree about one token.
//!
//! Shared by `tests/it/differential.rs` and the `differential` fuzz target, so both apply the
//! same verdict rule. Each category is a predicate on the token and the configuration alone, never
//! on either library's answer: a divergence counts as explained only when the token has a
//! property named here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// jwt-layer's default cap on a token's length.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The leeway both verifiers are given, in seconds.
pub const LEEWAY: u64 = 60;

/// Both verifiers, configured alike: the one key (a JWK) pinned to `alg`, issuer and audience
/// checked, `exp` required, `nbf` checked, the same leeway. The verdict rule means something
/// only when both see the same configuration, so it is made here, once.
pub struct Alike {
    pub layer: jwt_layer::JwtAuth<Value>,
    pub key: jsonwebtoken::DecodingKey,
    pub validation: jsonwebtoken::Validation,
}

impl Alike {
    pub fn new(alg: jwt_layer::Algorithm, jwk: Value, issuer: &str, audience: &str) -> Alike {
        let set = serde_json::json!({ "keys": [jwk] }).to_string();
        let layer = jwt_layer::JwtAuth::<Value>::builder()
            .keys(jwt_layer::keys::StaticKeys::from_jwks(&set).unwrap())
            .issuer(issuer)
            .audience(audience)
            .leeway(std::time::Duration::from_secs(LEEWAY))
            .build()
            .unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let theirs = jsonwebtoken::Algorithm::try_from(alg).expect("an algorithm both verify");
        let mut validation = jsonwebtoken::Validation::new(theirs);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY;
        Alike { layer, key, validation }
    }
}

/// A token as the predicates see it: decoded and parsed independently of both libraries.
pub struct Input<'a> {
    pub token: &'a str,
    /// The `kid` of the one configured key.
    pub kid: &'a str,
    /// The time the verdicts were taken, in seconds since the epoch.
    pub now: f64,
    header: Option<Value>,
    payload: Option<Value>,
    duplicates: bool,
}

impl<'a> Input<'a> {
    pub fn new(token: &'a str, kid: &'a str, now: f64) -> Self {
        let segments: Vec<&str> = token.split('.').collect();
        let decode = |i: usize| {
            (segments.len() == 3).then(|| URL_SAFE_NO_PAD.decode(segments[i]).ok()).flatten()
        };
        let (header, payload) = (decode(0), decode(1));
        let duplicates = [&header, &payload]
            .into_iter()
            .any(|json| json.as_deref().and_then(has_duplicate_members) == Some(true));
        let parse = |json: Option<Vec<u8>>| json.and_then(|j| serde_json::from_slice(&j).ok());
        Input { token, kid, now, header: parse(header), payload: parse(payload), duplicates }
    }

    fn header(&self, name: &str) -> Option<&Value> {
        self.header.as_ref()?.as_object()?.get(name)
    }

    fn claim(&self, name: &str) -> Option<&Value> {
        self.payload.as_ref()?.as_object()?.get(name)
    }
}

/// A documented reason for the two libraries to disagree.
pub struct Category {
    pub name: &'static str,
    /// The standard (or the bound) behind it.
    pub reason: &'static str,
    applies: fn(&Input<'_>) -> bool,
}

/// jwt-layer refuses, jsonwebtoken accepts: deliberate extra strictness.
pub static STRICTER: &[Category] = &[
    Category {
        name: "token over the size cap",
        reason: "8 KiB cap checked before any decoding, so huge inputs cost nothing",
        applies: |i| i.token.len() > MAX_TOKEN_BYTES,
    },
    Category {
        name: "duplicate member names",
        reason: "RFC 7515 §4 and RFC 7519 §4 let a parser reject them; last-wins lets two \
                 parsers read different values",
        applies: |i| i.duplicates,
    },
    Category {
        name: "crit null, or naming b64 with b64 true",
        reason: "RFC 7515 §4.1.11: no extension is understood, so any crit is refused; \
                 jsonwebtoken reads crit null as absent and understands crit [\"b64\"] when \
                 b64 is true",
        applies: crit_jsonwebtoken_accepts,
    },
    Category {
        name: "kid or typ not a string",
        reason: "RFC 7515 §4.1.4, §4.1.9: both are strings; jsonwebtoken reads null as absent",
        applies: |i| ["kid", "typ"].iter().any(|n| i.header(n).is_some_and(|v| !v.is_string())),
    },
    Category {
        name: "kid names no configured key",
        reason: "RFC 7515 §4.1.4: kid selects the key; jsonwebtoken is handed its key",
        applies: |i| i.header("kid").and_then(Value::as_str).is_some_and(|kid| kid != i.kid),
    },
    Category {
        name: "claims not a JSON object",
        reason: "RFC 7519 §7.2 step 10: the claims set is a JSON object; jsonwebtoken reads \
                 an array positionally as exp, nbf, sub, iss, aud",
        applies: |i| i.payload.as_ref().is_some_and(|p| !p.is_object()),
    },
    Category {
        name: "exp, nbf or iat not a JSON number",
        reason: "RFC 7519 §2 NumericDate; jsonwebtoken reads null as absent and never reads iat",
        applies: |i| {
            ["exp", "nbf", "iat"].iter().any(|n| i.claim(n).is_some_and(|v| !v.is_number()))
        },
    },
    Category {
        name: "registered claim of the wrong type",
        reason: "RFC 7519 §4.1.1, §4.1.2, §4.1.7 (iss, sub, jti are strings), RFC 8693 §4.2 \
                 (scope), RFC 7800 §3.1 (cnf is an object); jsonwebtoken accepts an iss array",
        applies: claim_of_wrong_type,
    },
    Category {
        name: "DPoP-bound token sent as bearer",
        reason: "RFC 9449 §7.1: a token with cnf.jkt needs a proof; verify() has none",
        applies: |i| i.claim("cnf").and_then(|c| c.get("jkt")).is_some(),
    },
    Category {
        name: "token bound by a confirmation method that is not checked",
        reason: "RFC 7800 §3.1, RFC 8705 §3: a cnf other than jkt (x5t#S256, jwk, kid) binds the \
                 token to something this crate cannot check, so it is not a bearer token",
        applies: |i| {
            i.claim("cnf")
                .and_then(Value::as_object)
                .is_some_and(|cnf| cnf.keys().any(|k| k != "jkt"))
        },
    },
    Category {
        name: "within a second of a time limit",
        reason: "RFC 7519 §4.1.4: refused at exp + leeway; jsonwebtoken rounds to whole seconds \
                 and accepts that instant",
        applies: near_a_time_limit,
    },
];

/// jwt-layer accepts, jsonwebtoken refuses. Not extra strictness of the reference's
/// verification but limits of its typed parsing, each kept narrow; see SECURITY.md.
pub static REFERENCE_ONLY: &[Category] = &[
    Category {
        name: "exp or nbf outside u64 seconds",
        reason: "RFC 7519 §2: a NumericDate is any JSON number; jsonwebtoken refuses negative \
                 or huge ones, jwt-layer compares them (nbf -1 is past, exp 1e20 is future)",
        applies: |i| {
            ["exp", "nbf"].iter().any(|n| i.claim(n).is_some_and(|v| v.is_number() && !fits_u64(v)))
        },
    },
    Category {
        name: "malformed header member jwt-layer never reads",
        reason: "RFC 7515 §4: members other than alg and crit MUST be ignored when not \
                 understood; jwt-layer never reads cty, jku, jwk, x5u, x5c, x5t (CVE-2018-0114), \
                 jsonwebtoken type-checks them",
        applies: unread_header_member_malformed,
    },
    Category {
        name: "within a second of a time limit",
        reason: "jsonwebtoken rounds exp and nbf to whole seconds",
        applies: near_a_time_limit,
    },
];

/// The category that explains a divergence, if any. `layer_accepts` says which way it goes.
pub fn explain(layer_accepts: bool, input: &Input<'_>) -> Option<&'static Category> {
    let list = if layer_accepts { REFERENCE_ONLY } else { STRICTER };
    list.iter().find(|category| (category.applies)(input))
}

/// The two `crit` values jsonwebtoken accepts: `null`, and `["b64"]` beside `"b64": true`
/// (RFC 7797 §6). It refuses every other `crit`, and a `b64` other than `true`, as this crate
/// does.
fn crit_jsonwebtoken_accepts(i: &Input<'_>) -> bool {
    match i.header("crit") {
        Some(Value::Null) => true,
        Some(crit) => {
            *crit == serde_json::json!(["b64"]) && i.header("b64") == Some(&Value::Bool(true))
        }
        None => false,
    }
}

fn claim_of_wrong_type(i: &Input<'_>) -> bool {
    let not_string = |name| i.claim(name).is_some_and(|v| !v.is_string());
    let scp_ok = |v: &Value| match v {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    };
    let cnf_ok =
        |v: &Value| v.as_object().is_some_and(|cnf| cnf.get("jkt").is_none_or(Value::is_string));
    ["iss", "sub", "jti", "scope"].into_iter().any(not_string)
        || i.claim("scp").is_some_and(|v| !scp_ok(v))
        || i.claim("cnf").is_some_and(|v| !cnf_ok(v))
}

/// Within two seconds of `exp + leeway` or `nbf - leeway`: the libraries differ in rounding
/// and take the time a moment apart.
fn near_a_time_limit(i: &Input<'_>) -> bool {
    let leeway = LEEWAY as f64;
    let near = |name: &str, limit: fn(f64, f64) -> f64| {
        i.claim(name)
            .and_then(Value::as_f64)
            .is_some_and(|t| (limit(t, leeway) - i.now).abs() <= 2.0)
    };
    near("exp", |exp, leeway| exp + leeway) || near("nbf", |nbf, leeway| nbf - leeway)
}

/// Whether jsonwebtoken can hold this number as whole seconds (it rounds floats).
fn fits_u64(v: &Value) -> bool {
    v.as_u64().is_some()
        || v.as_f64().is_some_and(|f| f.is_finite() && f >= 0.0 && f < u64::MAX as f64)
}

fn unread_header_member_malformed(i: &Input<'_>) -> bool {
    let present = |name| i.header(name).filter(|v| !v.is_null());
    let strings = ["cty", "jku", "x5u", "x5t", "x5t#S256", "url", "nonce", "enc", "zip"];
    strings.into_iter().any(|name| present(name).is_some_and(|v| !v.is_string()))
        || present("x5c")
            .is_some_and(|v| !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        || present("jwk").is_some_and(|jwk| {
            serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone()).is_err()
        })
}

/// Whether a JSON text has an object with the same member name twice, at any depth (written
/// without either library's parser). `None` if it is not JSON.
pub fn has_duplicate_members(json: &[u8]) -> Option<bool> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::collections::HashSet;
    use std::fmt;

    struct Dup;

    impl<'de> Visitor<'de> for Dup {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut found = false;
            while let Some(dup) = seq.next_element_seed(Dup)? {
                found |= dup;
            }
            Ok(found)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = HashSet::new();
            let mut found = false;
            while let Some(key) = map.next_key::<String>()? {
                found |= !seen.insert(key);
                found |= map.next_value_seed(Dup)?;
            }
            Ok(found)
        }
    }

    impl<'de> DeserializeSeed<'de> for Dup {
        type Value = bool;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Dup)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(json);
    let found = de.deserialize_any(Dup).ok()?;
    de.end().ok()?;
    Some(found)
}
