//! DPoP (RFC 9449) as the resource server: the proof's signature and claims, its binding to
//! the access token (`ath`) and to the token's key (`cnf.jkt`), single use (`jti`), and
//! optional server nonces.
//!
//! ```
//! use std::time::Duration;
//! use jwt_layer::{Dpop, JwtAuth, keys::StaticKeys};
//!
//! # #[derive(serde::Deserialize)] struct MyClaims {}
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .keys(StaticKeys::hmac([7u8; 32])?)
//!     .issuer("https://login.example")
//!     .audience("my-api")
//!     .dpop(Dpop::required().public_origin("https://api.example.com").proof_max_age(Duration::from_secs(60)))
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::jose::algorithm::{Algorithm, AlgorithmFamily, AlgorithmSet};
use crate::jose::json_reader::JsonReader;
use crate::keys::{JwkOptions, jwk_from_map};
use crate::reason::ProofReason;
use crate::store::{MemoryReplayStore, ReplayStore};

/// The longest DPoP proof read (RFC 9449 proofs are a few hundred bytes; RSA keys make them
/// longer).
const MAX_PROOF_BYTES: usize = 4096;
/// The longest proof `jti` accepted (RFC 9449 §4.2 suggests 96 bits of randomness).
const MAX_JTI_BYTES: usize = 256;

/// Whether DPoP-bound tokens are accepted beside bearer tokens, or required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopMode {
    /// `Authorization: DPoP` with a proof is accepted, and so is `Bearer` for tokens that are
    /// not bound to a key; a bound token sent as `Bearer` is refused.
    Allowed,
    /// Only `Authorization: DPoP` with a proof is accepted.
    Required,
}

/// DPoP settings for [`crate::JwtAuthBuilder::dpop`].
#[derive(Clone)]
pub struct Dpop {
    pub(crate) mode: DpopMode,
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) max_age: Duration,
    pub(crate) leeway: Duration,
    pub(crate) replay: Arc<dyn ReplayStore>,
    pub(crate) nonce: Option<NonceKey>,
    /// The origins clients reach this server at, as configured (checked by the builder).
    pub(crate) public_origins: Vec<String>,
}

/// Stateless server nonces: `timestamp || HMAC(secret, timestamp)`, valid for a lifetime.
#[derive(Clone)]
pub(crate) struct NonceKey {
    key: Arc<hmac::Key>,
    lifetime: Duration,
    /// Checked by the builder: at least 32 bytes (RFC 7518 §3.2, as for HS256 keys).
    pub(crate) secret_len: usize,
}

impl Dpop {
    /// DPoP accepted beside bearer tokens.
    pub fn allowed() -> Self {
        Self::new(DpopMode::Allowed)
    }

    /// DPoP required: bearer tokens are refused with a `DPoP` challenge.
    pub fn required() -> Self {
        Self::new(DpopMode::Required)
    }

    fn new(mode: DpopMode) -> Self {
        Dpop {
            mode,
            // Asymmetric only (RFC 9449 §4.2); HMAC would need a secret shared with the client.
            algorithms: AlgorithmSet::of([
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::ES512,
                Algorithm::EdDSA,
                Algorithm::PS256,
                Algorithm::RS256,
            ]),
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            replay: Arc::new(MemoryReplayStore::default()),
            nonce: None,
            public_origins: Vec::new(),
        }
    }

    /// The proof algorithms accepted (default ES256, ES384, ES512, EdDSA, PS256, RS256); `HS*` are
    /// ignored, since a proof key must be asymmetric.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = AlgorithmSet::of(
            algorithms.into_iter().filter(|a| a.family() != AlgorithmFamily::Hmac),
        );
        self
    }

    /// How old a proof's `iat` may be (default 60 s); also how long its `jti` is remembered
    /// (in wall-clock time: with DPoP on, a `JwtAuthBuilder::clock` must advance with real
    /// time, or a proof becomes acceptable again once its `jti` is forgotten).
    pub fn proof_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far in the future a proof's `iat` may be (clock skew, default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Where used proof `jti`s are remembered (default: in process, 100 000 entries). Use a
    /// shared store (Redis) when several servers answer for the same URLs.
    pub fn replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.replay = store;
        self
    }

    /// Requires server nonces (RFC 9449 §9): a proof without a valid `nonce` is answered 401
    /// `use_dpop_nonce` with a fresh nonce in the `DPoP-Nonce` header. Nonces are stateless
    /// (a timestamp and an HMAC under `secret`, at least 32 bytes) and valid for `lifetime`;
    /// servers sharing the secret accept each other's nonces.
    pub fn require_nonce(mut self, secret: &[u8], lifetime: Duration) -> Self {
        self.nonce = Some(NonceKey {
            key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)),
            lifetime,
            secret_len: secret.len(),
        });
        self
    }

    /// An origin (scheme and authority, for example `https://api.example.com`) clients use
    /// to reach this server; call again for each further hostname. Required with DPoP:
    /// [`crate::JwtAuthBuilder::build`] refuses DPoP without one.
    ///
    /// A proof's `htu` must equal one of these origins plus the request path (RFC 9449 §4.3).
    /// The `Host` header and the request URI's own authority are never used: both come from
    /// the client, and trusting them would let an attacker move a proof from one resource to
    /// another (RFC 9449 §11.1). The path always comes from the request URI.
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.public_origins.push(origin.into());
        self
    }

    /// The configured origins, each checked: `http` or `https`, a host, nothing but an
    /// optional `/` after it. `Err` carries the offending text.
    pub(crate) fn parsed_origins(&self) -> Result<Vec<url::Url>, String> {
        self.public_origins
            .iter()
            .map(|text| {
                let url = url::Url::parse(text).map_err(|_| text.clone())?;
                let origin_only = matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.path() == "/"
                    && url.query().is_none()
                    && url.fragment().is_none()
                    && url.username().is_empty()
                    && url.password().is_none();
                if origin_only { Ok(url) } else { Err(text.clone()) }
            })
            .collect()
    }

    /// The `algs` of the `DPoP` challenge.
    pub(crate) fn algs_text(&self) -> String {
        self.algorithms.iter().map(Algorithm::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("nonce", &self.nonce.is_some())
            .field("public_origins", &self.public_origins)
            .finish_non_exhaustive()
    }
}

impl NonceKey {
    pub(crate) fn issue(&self, now: SystemTime) -> String {
        let seconds = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let stamp = seconds.to_be_bytes();
        let tag = hmac::sign(&self.key, &stamp);
        let mut raw = stamp.to_vec();
        raw.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn valid(&self, nonce: &str, now: SystemTime) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else { return false };
        if raw.len() != 24 {
            return false;
        }
        let (stamp, tag) = raw.split_at(8);
        let expected = hmac::sign(&self.key, stamp);
        if aws_lc_rs::constant_time::verify_slices_are_equal(&expected.as_ref()[..16], tag).is_err()
        {
            return false;
        }
        let issued = u64::from_be_bytes(stamp.try_into().unwrap_or([0; 8]));
        let now = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        issued <= now + 5 && now - issued.min(now) <= self.lifetime.as_secs()
    }
}

/// What a valid proof says about itself.
pub(crate) struct Proof {
    /// RFC 7638 thumbprint of the proof key.
    pub(crate) thumbprint: String,
    pub(crate) jti: String,
}

/// The request a proof must match.
pub(crate) struct ProofTarget<'a> {
    pub(crate) method: &'a str,
    /// The URLs the proof may name: each public origin plus the request path, normalised.
    pub(crate) htus: &'a [String],
    pub(crate) access_token: &'a str,
}

/// Checks a proof (RFC 9449 §4.3) without the replay check, which needs the store.
pub(crate) fn check_proof(
    config: &Dpop,
    proof: &str,
    target: &ProofTarget<'_>,
    now: SystemTime,
) -> Result<Proof, AuthError> {
    let bad = AuthError::InvalidDpopProof;
    if proof.len() > MAX_PROOF_BYTES {
        return Err(bad(ProofReason::TooLarge));
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(ProofReason::Malformed));
    };
    let header = strict_object(header_b64).ok_or(bad(ProofReason::MalformedHeader))?;
    // §4.2: `typ` is exactly `dpop+jwt`.
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(bad(ProofReason::NotDpopJwt));
    }
    if header.contains_key("crit") {
        return Err(bad(ProofReason::CriticalHeader));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .filter(|alg| config.algorithms.contains(*alg))
        .ok_or(bad(ProofReason::AlgorithmNotAllowed))?;
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(bad(ProofReason::NoJwk));
    };
    // §4.3 point 7: a public key only.
    if ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|m| jwk.contains_key(*m)) {
        return Err(bad(ProofReason::PrivateJwk));
    }
    let mut pinned = jwk.clone();
    pinned.insert("alg".into(), Value::String(alg.as_str().into()));
    pinned.remove("use");
    pinned.remove("key_ops");
    let key =
        jwk_from_map(&pinned, JwkOptions::default()).map_err(|_| bad(ProofReason::UnusableJwk))?;
    let signature =
        URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| bad(ProofReason::Malformed))?;
    let signing_input = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(alg, signing_input, &signature) {
        return Err(bad(ProofReason::InvalidSignature));
    }

    let claims = strict_object(payload_b64).ok_or(bad(ProofReason::MalformedPayload))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti").filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_BYTES);
    let jti = jti.ok_or(bad(ProofReason::NoJti))?;
    if text("htm") != Some(target.method) {
        return Err(bad(ProofReason::WrongMethod));
    }
    let htu = text("htu").and_then(normalize_htu).ok_or(bad(ProofReason::WrongUrl))?;
    if !target.htus.contains(&htu) {
        return Err(bad(ProofReason::WrongUrl));
    }
    let iat = claims.get("iat").and_then(Value::as_f64).ok_or(bad(ProofReason::NoIat))?;
    let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    if iat > now_secs + config.leeway.as_secs_f64() {
        return Err(bad(ProofReason::IssuedInTheFuture));
    }
    if iat < now_secs - config.max_age.as_secs_f64() - config.leeway.as_secs_f64() {
        return Err(bad(ProofReason::TooOld));
    }
    // §4.3 point 11: `ath` is the hash of the access token presented with it.
    let ath =
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, target.access_token.as_bytes()));
    if text("ath") != Some(ath.as_str()) {
        return Err(bad(ProofReason::WrongAccessTokenHash));
    }
    if let Some(nonces) = &config.nonce
        && !text("nonce").is_some_and(|nonce| nonces.valid(nonce, now))
    {
        return Err(AuthError::UseDpopNonce(nonces.issue(now)));
    }
    let thumbprint = thumbprint(jwk).ok_or(bad(ProofReason::UnusableJwk))?;
    Ok(Proof { thumbprint, jti: jti.to_owned() })
}

/// Decodes a base64url segment into a JSON object, refusing duplicate members anywhere.
fn strict_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let mut reader = JsonReader::new(text);
    reader.skip_value().ok()?;
    reader.end().ok()?;
    match serde_json::from_str(text).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// RFC 7638 §3: SHA-256 over the required members, in lexicographic order, no whitespace.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let canonical = match member("kty")? {
        "EC" => {
            serde_json::json!({"crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?})
        }
        "RSA" => serde_json::json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        "OKP" => serde_json::json!({"crv": member("crv")?, "kty": "OKP", "x": member("x")?}),
        _ => return None,
    };
    // serde_json's map is ordered by key, which is exactly RFC 7638's order here.
    let text = serde_json::to_string(&canonical).ok()?;
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, text.as_bytes())))
}

/// The URLs a proof for a request to `path` may name: each origin with that path, normalised
/// as [`normalize_htu`] does. `None` for a request target that is not an absolute path
/// (`*`, authority form).
pub(crate) fn expected_htus(origins: &[url::Url], path: &str) -> Option<Vec<String>> {
    if !path.starts_with('/') {
        return None;
    }
    let expected = origins.iter().map(|origin| {
        let mut url = origin.clone();
        // `set_path` percent-encodes `?` and `#`, so nothing in the path can reach the query,
        // the fragment or the authority.
        url.set_path(path);
        normalize_percent_case(url.as_str())
    });
    Some(expected.collect())
}

/// RFC 9449 §4.3 point 9: `htu` compared without query and fragment, after RFC 3986
/// syntax- and scheme-based normalisation (case of scheme and host, default port, empty path,
/// percent-encoding case). A URL with user info is refused, not stripped: no request URL
/// has one, and `https://api.example@evil.example/` reads as another host to a person.
pub(crate) fn normalize_htu(htu: &str) -> Option<String> {
    let mut url = url::Url::parse(htu).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    // Asked of the text: the parser drops an empty user info (`https://@h/`).
    let authority = htu.split_once("://").and_then(|(_, rest)| rest.split(['/', '?', '#']).next());
    if authority.is_some_and(|authority| authority.contains('@')) {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(normalize_percent_case(url.as_str()))
}

fn normalize_percent_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '%' && text.len() >= i + 3 && text.is_char_boundary(i + 3) {
            out.push('%');
            out.push_str(&text[i + 1..i + 3].to_ascii_uppercase());
            chars.nth(1);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let jwk: Map<String, Value> = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn htu_normalisation() {
        let n = |s: &str| normalize_htu(s);
        assert_eq!(
            n("HTTPS://API.Example.com:443/a/b?x=1#f").as_deref(),
            Some("https://api.example.com/a/b")
        );
        assert_eq!(n("http://h:80").as_deref(), Some("http://h/"));
        assert_eq!(n("http://h:8080/%7euser").as_deref(), Some("http://h:8080/%7Euser"));
        assert_eq!(n("ftp://h/"), None);
        for userinfo in
            ["https://user@h/a", "https://:pw@h/a", "https://user:pw@h/a", "https://@h/a"]
        {
            assert_eq!(n(userinfo), None, "{userinfo}");
        }
        assert_eq!(n("/relative"), None);
    }

    #[test]
    fn expected_urls_take_the_path_from_the_request_and_nothing_else() {
        let origins = [
            url::Url::parse("https://api.example.com").unwrap(),
            url::Url::parse("https://API.other.example:443/").unwrap(),
        ];
        let htus = |path: &str| expected_htus(&origins, path);
        assert_eq!(
            htus("/me").unwrap(),
            ["https://api.example.com/me", "https://api.other.example/me"]
        );
        // Characters that would end the path are encoded, never a query or an authority.
        assert_eq!(htus("/me?").unwrap()[0], "https://api.example.com/me%3F");
        assert_eq!(htus("/me#").unwrap()[0], "https://api.example.com/me%23");
        assert_eq!(
            htus("//evil.example/me").unwrap()[0],
            "https://api.example.com//evil.example/me"
        );
        assert_eq!(htus("*"), None);
        assert_eq!(htus(""), None);
    }

    #[test]
    fn nonces_round_trip_and_expire() {
        let key = NonceKey {
            key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &[9; 32])),
            lifetime: Duration::from_secs(60),
            secret_len: 32,
        };
        let now = SystemTime::now();
        let nonce = key.issue(now);
        assert!(key.valid(&nonce, now));
        assert!(!key.valid(&nonce, now + Duration::from_secs(120)));
        assert!(!key.valid("AAAA", now));
        let other = NonceKey {
            key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &[8; 32])),
            lifetime: Duration::from_secs(60),
            secret_len: 32,
        };
        assert!(!other.valid(&nonce, now));
    }
}
