//! A test kit for applications (feature `testing`): an issuer that makes keys, mints tokens
//! (good and deliberately broken ones), signs DPoP proofs, and serves its JWKS and discovery
//! document on a loopback port.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use jwt_layer::{Algorithm, JwtAuth, testing::TestIssuer};
//!
//! let idp = TestIssuer::start().await?;               // http://127.0.0.1:PORT
//! let auth = JwtAuth::<serde_json::Value>::builder()
//!     // Every key, HMAC included. `idp.public_keys()` holds only the published ones; with
//!     // the `remote` feature, `Jwks::discover(idp.issuer())?` fetches those same keys
//!     // through the discovery document and JWKS the issuer serves (`idp.jwks_json()`).
//!     .keys(idp.keys())
//!     .issuer(idp.issuer())
//!     .audience("my-api")
//!     .build()?;
//!
//! let token = idp.token().audience("my-api").subject("alice").alg(Algorithm::ES256).sign();
//! assert_eq!(auth.verify(&token).await?["sub"], "alice");
//! assert!(auth.verify(&idp.token().audience("my-api").expired().sign()).await.is_err());
//! # Ok(()) }
//! ```

use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::jose::algorithm::Algorithm;
use crate::keys::{KeySet, StaticKeys};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One generation of keys: one key per algorithm, each published once under a kid of its
/// own, as an identity provider pins a key to one algorithm (RFC 8725 §3.1). Made lazily, so
/// an issuer that only signs HS256 never makes RSA.
struct KeyRing {
    /// What makes this issuer's kids its own: two test issuers behind one verifier never
    /// publish the same kid.
    issuer_tag: Arc<str>,
    generation: u32,
    /// HS256, HS384, HS512: each its own secret.
    secrets: [[u8; 64]; 3],
    /// RS256, RS384, RS512, PS256, PS384, PS512: each its own key.
    rsa: [OnceLock<RsaKeyPair>; 6],
    p256: OnceLock<EcdsaKeyPair>,
    p384: OnceLock<EcdsaKeyPair>,
    p521: OnceLock<EcdsaKeyPair>,
    ed25519: OnceLock<Ed25519KeyPair>,
}

impl KeyRing {
    fn new(issuer_tag: Arc<str>, generation: u32) -> Self {
        let mut secrets = [[0u8; 64]; 3];
        for secret in &mut secrets {
            SystemRandom::new().fill(secret).expect("system randomness");
        }
        KeyRing {
            issuer_tag,
            generation,
            secrets,
            rsa: Default::default(),
            p256: OnceLock::new(),
            p384: OnceLock::new(),
            p521: OnceLock::new(),
            ed25519: OnceLock::new(),
        }
    }

    /// The RSA key of `alg` (one of the six RSA algorithms).
    fn rsa(&self, alg: Algorithm) -> &RsaKeyPair {
        let index = match alg {
            Algorithm::RS256 => 0,
            Algorithm::RS384 => 1,
            Algorithm::RS512 => 2,
            Algorithm::PS256 => 3,
            Algorithm::PS384 => 4,
            _ => 5,
        };
        self.rsa[index].get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
    }
    /// The HMAC secret of `alg` (one of the three HMAC algorithms).
    fn secret(&self, alg: Algorithm) -> &[u8; 64] {
        match alg {
            Algorithm::HS256 => &self.secrets[0],
            Algorithm::HS384 => &self.secrets[1],
            _ => &self.secrets[2],
        }
    }
    fn p256(&self) -> &EcdsaKeyPair {
        self.p256.get_or_init(|| {
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key")
        })
    }
    fn p384(&self) -> &EcdsaKeyPair {
        self.p384.get_or_init(|| {
            EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key")
        })
    }
    fn p521(&self) -> &EcdsaKeyPair {
        self.p521.get_or_init(|| {
            EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_FIXED_SIGNING).expect("P-521 key")
        })
    }
    fn ed25519(&self) -> &Ed25519KeyPair {
        self.ed25519.get_or_init(|| Ed25519KeyPair::generate().expect("Ed25519 key"))
    }

    /// The kid this generation publishes for `alg`'s key: the issuer's tag, the algorithm and
    /// the generation (`3fa94c07-rs256-1`).
    fn kid(&self, alg: Algorithm) -> String {
        format!("{}-{}-{}", self.issuer_tag, alg.as_str().to_ascii_lowercase(), self.generation)
    }

    fn sign(&self, alg: Algorithm, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let rsa = |encoding: &'static dyn signature::RsaEncoding| {
            let pair = self.rsa(alg);
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(encoding, &rng, input, &mut sig).expect("RSA signature");
            sig
        };
        let mac = |hmac_alg| {
            hmac::sign(&hmac::Key::new(hmac_alg, self.secret(alg)), input).as_ref().to_vec()
        };
        match alg {
            Algorithm::HS256 => mac(hmac::HMAC_SHA256),
            Algorithm::HS384 => mac(hmac::HMAC_SHA384),
            Algorithm::HS512 => mac(hmac::HMAC_SHA512),
            Algorithm::RS256 => rsa(&signature::RSA_PKCS1_SHA256),
            Algorithm::RS384 => rsa(&signature::RSA_PKCS1_SHA384),
            Algorithm::RS512 => rsa(&signature::RSA_PKCS1_SHA512),
            Algorithm::PS256 => rsa(&signature::RSA_PSS_SHA256),
            Algorithm::PS384 => rsa(&signature::RSA_PSS_SHA384),
            Algorithm::PS512 => rsa(&signature::RSA_PSS_SHA512),
            Algorithm::ES256 => self.p256().sign(&rng, input).expect("ES256").as_ref().to_vec(),
            Algorithm::ES384 => self.p384().sign(&rng, input).expect("ES384").as_ref().to_vec(),
            Algorithm::ES512 => self.p521().sign(&rng, input).expect("ES512").as_ref().to_vec(),
            Algorithm::EdDSA => self.ed25519().sign(input).as_ref().to_vec(),
        }
    }

    /// One public JWK for each algorithm's key, pinned to it; `oct` keys only when asked.
    fn jwks(&self, with_hmac: bool) -> Value {
        let keys: Vec<Value> = Algorithm::ALL
            .into_iter()
            .filter(|alg| with_hmac || !is_hmac(*alg))
            .map(|alg| self.jwk(alg))
            .collect();
        json!({ "keys": keys })
    }

    /// The JWK of `alg`'s key, pinned to it (`oct` with the secret for HMAC).
    fn jwk(&self, alg: Algorithm) -> Value {
        let mut jwk = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                json!({"kty": "oct", "k": b64(self.secret(alg))})
            }
            Algorithm::ES256 => ec_jwk(self.p256().public_key().as_ref()),
            Algorithm::ES384 => ec_jwk(self.p384().public_key().as_ref()),
            Algorithm::ES512 => ec_jwk(self.p521().public_key().as_ref()),
            Algorithm::EdDSA => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(self.ed25519().public_key().as_ref())})
            }
            _ => {
                let public = PublicKeyComponents::<Vec<u8>>::from(self.rsa(alg).public_key());
                json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)})
            }
        };
        jwk["kid"] = json!(self.kid(alg));
        jwk["alg"] = json!(alg.as_str());
        jwk["use"] = json!("sig");
        jwk
    }

    /// The keys of [`KeyRing::jwks`], read back as a verifier reads them.
    fn key_set(&self, with_hmac: bool) -> KeySet {
        KeySet::from_jwks(self.jwks(with_hmac).to_string()).expect("the test issuer's own keys")
    }
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn ec_jwk(point: &[u8]) -> Value {
    let half = (point.len() - 1) / 2;
    let crv = match half {
        32 => "P-256",
        48 => "P-384",
        _ => "P-521",
    };
    json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..])})
}

/// A token issuer for tests: keys for every supported algorithm, a token builder, rotation,
/// and (with [`TestIssuer::start`]) its JWKS and discovery document on a loopback port.
#[derive(Clone)]
pub struct TestIssuer {
    issuer: String,
    ring: Arc<RwLock<Arc<KeyRing>>>,
    server: Option<Arc<ServerHandle>>,
}

struct ServerHandle {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    fetches: Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl TestIssuer {
    /// An issuer named `issuer`, with fresh keys, serving nothing.
    pub fn new(issuer: impl Into<String>) -> Self {
        let mut tag = [0u8; 4];
        SystemRandom::new().fill(&mut tag).expect("system randomness");
        let tag: String = tag.iter().map(|byte| format!("{byte:02x}")).collect();
        TestIssuer {
            issuer: issuer.into(),
            ring: Arc::new(RwLock::new(Arc::new(KeyRing::new(tag.into(), 1)))),
            server: None,
        }
    }

    /// An issuer that serves `{issuer}/.well-known/openid-configuration` and
    /// `{issuer}/jwks.json` on `127.0.0.1` (a free port); its name is `http://127.0.0.1:PORT`.
    /// The server stops when the last clone of the issuer is dropped.
    pub async fn start() -> std::io::Result<Self> {
        use axum::routing::get;
        use std::sync::atomic::Ordering;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}", listener.local_addr()?);
        let mut this = TestIssuer::new(issuer.clone());
        let ring = Arc::clone(&this.ring);
        let fetches = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&fetches);
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks.json"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || std::future::ready(axum::Json(discovery.clone()))),
            )
            .route(
                "/jwks.json",
                get(move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let ring = Arc::clone(&ring.read().unwrap_or_else(|e| e.into_inner()));
                    std::future::ready(axum::Json(ring.jwks(false)))
                }),
            );
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        this.server = Some(Arc::new(ServerHandle { shutdown: Some(shutdown), fetches }));
        Ok(this)
    }

    /// The issuer name (`iss` of minted tokens).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JWKS URL, when serving.
    pub fn jwks_url(&self) -> Option<String> {
        self.server.as_ref().map(|_| format!("{}/jwks.json", self.issuer))
    }

    /// How many times the served JWKS was fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.server.as_ref().map_or(0, |s| s.fetches.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The published keys as a JWKS document (asymmetric keys only, as an identity provider
    /// publishes them): what [`TestIssuer::start`] serves, for serving it elsewhere or writing
    /// it to a file. To verify with these keys, [`TestIssuer::public_keys`] gives them as a
    /// provider directly.
    pub fn jwks_json(&self) -> Value {
        self.ring().jwks(false)
    }

    /// A static key provider holding every key, the HMAC secret included: give it to
    /// [`JwtAuthBuilder::keys`](crate::JwtAuthBuilder::keys) to verify any token this issuer
    /// mints. Taken at the call: a later [`TestIssuer::rotate`] does not change it.
    pub fn keys(&self) -> StaticKeys {
        StaticKeys::from_key_set(self.ring().key_set(true)).expect("the test issuer's own keys")
    }

    /// A static key provider holding the published keys only ([`TestIssuer::jwks_json`]),
    /// as a verifier that fetched the set would have them: HS256 tokens are refused. Taken
    /// at the call, as [`TestIssuer::keys`].
    pub fn public_keys(&self) -> StaticKeys {
        StaticKeys::from_key_set(self.ring().key_set(false)).expect("the test issuer's own keys")
    }

    /// The kid under which the current keys sign `alg`.
    pub fn kid(&self, alg: Algorithm) -> String {
        self.ring().kid(alg)
    }

    /// The signature of `signing_input` (`header.payload`, base64url) by the current key of
    /// `alg`, in the JWS form (ECDSA as fixed-size `r || s`): for a test that builds a token
    /// by hand, or rewrites a good signature into a bad one (DER, high `S`, non-canonical
    /// base64url).
    pub fn sign(&self, alg: Algorithm, signing_input: &[u8]) -> Vec<u8> {
        self.ring().sign(alg, signing_input)
    }

    /// The JWK of the current key of `alg`, as [`TestIssuer::jwks_json`] publishes it (`kid`,
    /// `alg`, `use: sig`); for HMAC, the `oct` key with its secret. Makes only that key: a set
    /// of a few chosen keys, or one key's rotation, costs no more than those keys.
    pub fn jwk(&self, alg: Algorithm) -> Value {
        self.ring().jwk(alg)
    }

    /// Every key as a JWKS document, the HMAC secrets included as `oct` keys: the set of
    /// [`TestIssuer::keys`], for a key file or a server that publishes a secret by mistake.
    /// [`TestIssuer::jwks_json`] is what an identity provider publishes.
    pub fn jwks_json_with_secrets(&self) -> Value {
        self.ring().jwks(true)
    }

    /// Replaces every key with a new one (new kids); tokens signed before can no longer be
    /// verified once a verifier refreshes. Returns the new generation number.
    pub fn rotate(&self) -> u32 {
        let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
        let next = ring.generation + 1;
        *ring = Arc::new(KeyRing::new(Arc::clone(&ring.issuer_tag), next));
        next
    }

    /// Starts a token: `iss` is this issuer, `iat`/`nbf` now, `exp` in 10 minutes, a random
    /// `jti`, signed RS256 with the current key's kid, `typ: JWT`.
    pub fn token(&self) -> TokenBuilder {
        let now = now_secs();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + 600));
        claims.insert("jti".into(), json!(random_id()));
        TokenBuilder {
            ring: self.ring(),
            alg: Algorithm::RS256,
            kid: Kid::Current,
            header: Map::from_iter([("typ".to_owned(), json!("JWT"))]),
            claims,
            raw_header: None,
            raw_payload: None,
        }
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).expect("system randomness");
    b64(bytes)
}

enum Kid {
    Current,
    None,
    Named(String),
}

/// Builds one token; see [`TestIssuer::token`].
#[must_use]
pub struct TokenBuilder {
    ring: Arc<KeyRing>,
    alg: Algorithm,
    kid: Kid,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    raw_header: Option<String>,
    raw_payload: Option<String>,
}

impl TokenBuilder {
    /// Signs with this algorithm (and the issuer's key for it).
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }

    /// Puts this `kid` in the header instead of the signing key's.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Kid::Named(kid.into());
        self
    }

    /// Leaves `kid` out of the header.
    pub fn without_kid(mut self) -> Self {
        self.kid = Kid::None;
        self
    }

    /// Sets a header member (`typ`, `crit`, `jku`, … — or `alg`, which then lies about the
    /// signature).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// Sets `aud`.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// Sets `scope`.
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// Sets `exp` this far from now.
    pub fn expires_in(self, ttl: Duration) -> Self {
        self.claim("exp", now_secs() + ttl.as_secs())
    }

    /// Sets `exp` an hour ago.
    pub fn expired(self) -> Self {
        self.claim("exp", now_secs().saturating_sub(3600))
    }

    /// Sets `nbf` an hour ahead.
    pub fn not_yet_valid(self) -> Self {
        self.claim("nbf", now_secs() + 3600)
    }

    /// Binds the token to a DPoP key (`cnf.jkt`, RFC 9449 §6.1).
    pub fn bound_to(self, key: &DpopKey) -> Self {
        self.claim("cnf", json!({ "jkt": key.thumbprint() }))
    }

    /// Replaces every claim, the defaults of [`TestIssuer::token`] included, with the members
    /// of `claims`: for a test that builds the whole claim set itself (a claim left out stays
    /// out). A value that is not a JSON object becomes the payload as it is.
    pub fn claims(mut self, claims: Value) -> Self {
        match claims {
            Value::Object(claims) => {
                self.claims = claims;
                self.raw_payload = None;
            }
            other => self.raw_payload = Some(other.to_string()),
        }
        self
    }

    /// Uses this exact payload text (duplicate members, odd types) instead of the claims.
    pub fn raw_payload(mut self, json: &str) -> Self {
        self.raw_payload = Some(json.to_owned());
        self
    }

    /// Uses this exact header text (duplicate members, a missing or misspelt `alg`, trailing
    /// bytes) instead of the header: nothing is added to it, neither `alg`, `kid` nor `typ`.
    /// The token is still signed with the key of [`TokenBuilder::alg`].
    pub fn raw_header(mut self, json: &str) -> Self {
        self.raw_header = Some(json.to_owned());
        self
    }

    /// The signed token.
    pub fn sign(self) -> String {
        let header = match self.raw_header {
            Some(raw) => raw,
            None => Value::Object(self.header_members()).to_string(),
        };
        let payload = self.raw_payload.unwrap_or_else(|| Value::Object(self.claims).to_string());
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = self.ring.sign(self.alg, input.as_bytes());
        format!("{input}.{}", b64(signature))
    }

    /// The header members: those set, `alg` unless set, and the `kid` asked for.
    fn header_members(&self) -> Map<String, Value> {
        let mut header = self.header.clone();
        header.entry("alg").or_insert_with(|| json!(self.alg.as_str()));
        match &self.kid {
            Kid::Current => {
                header.insert("kid".into(), json!(self.ring.kid(self.alg)));
            }
            Kid::Named(kid) => {
                header.insert("kid".into(), json!(kid));
            }
            Kid::None => {}
        }
        header
    }
}

/// Changes one character in the payload of `token`, keeping it valid base64url: the
/// signature no longer matches.
pub fn tamper(token: &str) -> String {
    let start = token.find('.').map_or(0, |i| i + 1);
    let mut bytes = token.as_bytes().to_vec();
    let i = start + 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII token")
}

/// The token with its signature removed (`header.payload.`).
pub fn strip_signature(token: &str) -> String {
    match token.rfind('.') {
        Some(end) => token[..=end].to_owned(),
        None => token.to_owned(),
    }
}

/// A DPoP key that signs proofs (RFC 9449 §4): ECDSA, P-256 (ES256) unless made with
/// [`DpopKey::ecdsa`].
pub struct DpopKey {
    pair: EcdsaKeyPair,
    alg: Algorithm,
}

impl Default for DpopKey {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").field("jkt", &self.thumbprint()).finish()
    }
}

impl DpopKey {
    /// A fresh P-256 key (ES256).
    pub fn new() -> Self {
        Self::ecdsa(Algorithm::ES256)
    }

    /// A fresh key for `ES256` (P-256), `ES384` (P-384) or `ES512` (P-521).
    ///
    /// # Panics
    ///
    /// For any other algorithm.
    pub fn ecdsa(alg: Algorithm) -> Self {
        let signing = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            other => panic!("DPoP test keys are ES256, ES384 or ES512, not {other}"),
        };
        DpopKey { pair: EcdsaKeyPair::generate(signing).expect("EC key"), alg }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        ec_jwk(self.pair.public_key().as_ref())
    }

    /// The RFC 7638 thumbprint, as `cnf.jkt` carries it.
    pub fn thumbprint(&self) -> String {
        match self.jwk() {
            Value::Object(jwk) => crate::dpop::thumbprint(&jwk).expect("an EC public JWK"),
            _ => unreachable!("ec_jwk builds an object"),
        }
    }

    /// A proof for `method` and `url` (query and fragment are dropped by the verifier),
    /// bound to `access_token` (`ath`), issued now, with a random `jti`.
    pub fn proof(&self, method: &str, url: &str, access_token: &str) -> String {
        self.proof_with(method, url, access_token, |_, _| {})
    }

    /// A proof whose header and claims `edit` may change first (to test refusals: old `iat`,
    /// wrong `htm`, a `nonce`, a private key member…).
    pub fn proof_with(
        &self,
        method: &str,
        url: &str,
        access_token: &str,
        edit: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>),
    ) -> String {
        let mut header = Map::new();
        header.insert("typ".into(), json!("dpop+jwt"));
        header.insert("alg".into(), json!(self.alg.as_str()));
        header.insert("jwk".into(), self.jwk());
        let mut claims = Map::new();
        claims.insert("jti".into(), json!(random_id()));
        claims.insert("htm".into(), json!(method));
        claims.insert("htu".into(), json!(url));
        claims.insert("iat".into(), json!(now_secs()));
        let ath = b64(digest::digest(&digest::SHA256, access_token.as_bytes()));
        claims.insert("ath".into(), json!(ath));
        edit(&mut header, &mut claims);
        let input = format!(
            "{}.{}",
            b64(Value::Object(header).to_string()),
            b64(Value::Object(claims).to_string())
        );
        let signature = self.pair.sign(&SystemRandom::new(), input.as_bytes()).expect("ECDSA");
        format!("{input}.{}", b64(signature.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_every_key_and_public_keys_the_published_ones() {
        let idp = TestIssuer::new("https://idp.example");
        let (hmac, rsa) = (idp.kid(Algorithm::HS256), idp.kid(Algorithm::RS256));
        assert!(idp.keys().key_set().contains_kid(&hmac));
        assert!(idp.keys().key_set().contains_kid(&rsa));
        assert!(!idp.public_keys().key_set().contains_kid(&hmac));
        assert!(idp.public_keys().key_set().contains_kid(&rsa));
        let published = StaticKeys::from_jwks(idp.jwks_json().to_string()).unwrap();
        assert_eq!(published.key_set().len(), idp.public_keys().key_set().len());
    }

    /// One JWK per key, each kid once, and no kid shared by two issuers: a verifier trusting
    /// two test issuers never confuses their keys.
    #[test]
    fn every_key_is_published_once_under_a_kid_of_its_own() {
        let (a, b) = (TestIssuer::new("https://a.example"), TestIssuer::new("https://b.example"));
        let kids = |idp: &TestIssuer| -> Vec<String> {
            idp.jwks_json()["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|jwk| jwk["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        let (kids_a, kids_b) = (kids(&a), kids(&b));
        // Ten asymmetric algorithms, ten keys.
        assert_eq!(kids_a.len(), 10);
        let unique: std::collections::HashSet<_> = kids_a.iter().chain(&kids_b).collect();
        assert_eq!(unique.len(), 20, "{kids_a:?} {kids_b:?}");
        let moduli: std::collections::HashSet<_> = a.jwks_json()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|jwk| jwk["n"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(moduli.len(), 6, "each RSA algorithm has its own key");
        assert_ne!(a.kid(Algorithm::RS256), a.kid(Algorithm::PS256));
        let before = a.kid(Algorithm::ES256);
        a.rotate();
        assert_ne!(a.kid(Algorithm::ES256), before);
    }
}
