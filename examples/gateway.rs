//! A small API server configured only by environment variables, for trying real tokens (from
//! your identity provider, or minted by hand) against `jwt_layer`.
//!
//! Routes:
//! - `GET /health`: public, answers `ok`;
//! - `GET /me`: every claim of the verified token, as JSON (with `JWT_ROLES_CLAIM`:
//!   `{"claims": {…}, "roles": […]}`);
//! - `GET /admin`: needs the scope `admin` (403 `insufficient_scope` otherwise);
//! - `GET /ready`: public, 200 `{"status":"ready"}` while every key source has a usable key
//!   set, else 503 with `{"status":"not_ready","reason":…}` (a remote set never fetched, or
//!   past its staleness limit), for an orchestrator's readiness probe;
//! - `GET /metrics`: public, the counters and histograms of the `jwt_layer::metrics` module in
//!   the Prometheus text format (in production, serve it where only the scraper can reach it);
//! - with `JWT_RESOURCE_URL`: `GET /.well-known/oauth-protected-resource…` (the path the
//!   resource's URL gives, RFC 9728 §3.1), public, the protected resource metadata as JSON.
//!
//! With `JWT_INTROSPECTION_URL`, opaque access tokens are verified by asking the authorization
//! server (RFC 7662); JWTs are still verified locally with the key source, and without a key
//! source every token is introspected.
//!
//! With `JWT_DPOP=allowed` or `required`, `/me` and `/admin` also take DPoP-bound tokens
//! (RFC 9449): `Authorization: DPoP <token>` plus a `DPoP: <proof>` header.
//!
//! Refusals carry the RFC 6750 (or RFC 9449 `DPoP`) `WWW-Authenticate` challenge and a small
//! JSON body saying why.
//!
//! With `JWT_REDIS_URL`, several gateways form a fleet: DPoP proofs and revocations live in
//! Redis (one server or a cluster), so a proof accepted by one gateway is a replay to every
//! other, and a token revoked in Redis is refused by all of them.
//! The variables are listed on [`config_from_env`]. On a configuration error the server says
//! what is wrong on stderr and exits with code 2. Once it accepts connections it prints
//! `listening on ADDR` on stdout; Ctrl-C or SIGTERM stop it gracefully.
//!
//! ```text
//! JWT_HS256_SECRET=0123456789abcdef0123456789abcdef \
//! JWT_ISSUER=https://login.example JWT_AUDIENCE=my-api \
//!     cargo run --example gateway
//!
//! JWT_JWKS_FILE=jwks.json JWT_ISSUER=https://login.example JWT_AUDIENCE=my-api,my-other-api \
//! RUST_LOG=info,jwt_layer=debug cargo run --example gateway
//!
//! curl -i http://127.0.0.1:3000/me -H "Authorization: Bearer $TOKEN"
//!
//! JWT_DPOP=required JWT_PUBLIC_URL=https://api.example.com JWT_PROFILE=rfc9068 \
//! JWT_ROLES_CLAIM=realm_access.roles JWT_JWKS_URL=https://login.example/jwks.json \
//! JWT_ISSUER=https://login.example JWT_AUDIENCE=my-api cargo run --example gateway
//!
//! curl -i https://api.example.com/me -H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF"
//! ```

use std::env;
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use jwt_layer::introspection::Introspection;
use jwt_layer::keys::{
    JwkOptions, KeyError, KeyProvider, RemoteJwks, RemoteJwksBuilder, StaticKeys, VerifyingKey,
};
use jwt_layer::store::{RedisStore, StoreError};
use jwt_layer::{
    Algorithm, AuthError, BuildError, ClaimPath, Claims, Dpop, JwtAuth, ProtectedResourceMetadata,
    Readiness, Roles, Scopes, TokenKinds,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Misconfiguration: wrong or missing variables, unreadable keys, an address that cannot be
/// bound.
const EXIT_CONFIG: i32 = 2;

/// Everything read from the environment.
struct Config {
    bind: String,
    issuers: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
    /// `None` with introspection alone: every token is opaque.
    keys: Option<KeySource>,
    infer_alg: bool,
    cooldown: Option<Duration>,
    leeway: Option<Duration>,
    max_token_bytes: Option<usize>,
    require_type: Option<String>,
    dpop: DpopSetting,
    /// The origins (scheme and authority) clients use, for the proofs' `htu`.
    public_origins: Vec<String>,
    /// RFC 9068 access-token profile.
    profile: bool,
    roles_claims: Vec<ClaimPath>,
    /// `JWT_REDIS_*`: the shared replay and revocation store.
    redis: Option<RedisConfig>,
    /// `JWT_RESOURCE_URL` and `JWT_SCOPES_SUPPORTED`.
    resource: Option<ResourceConfig>,
    /// `JWT_INTROSPECTION_*`.
    introspection: Option<IntrospectionConfig>,
}

/// `JWT_RESOURCE_URL` (checked when the verifier is built) and the scopes its metadata lists.
struct ResourceConfig {
    url: String,
    scopes_supported: Vec<String>,
}

/// `JWT_INTROSPECTION_URL` and its client credentials.
struct IntrospectionConfig {
    url: String,
    client_id: String,
    client_secret: String,
    /// `client_secret_post` rather than `client_secret_basic`.
    post: bool,
}

/// `JWT_REDIS_URL` and its companions.
struct RedisConfig {
    /// One server, or the cluster's nodes.
    urls: Vec<String>,
    cluster: bool,
    prefix: Option<String>,
    timeout: Option<Duration>,
}

/// `JWT_DPOP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DpopSetting {
    Off,
    Allowed,
    Required,
}

enum KeySource {
    Jwks(PathBuf),
    JwksUrl(String),
    OidcIssuer(String),
    Hs256Secret(String),
    PublicKeyPem(PathBuf),
}

/// Reads the configuration from the environment.
///
/// | Variable                 | Default          | Meaning                                          |
/// |--------------------------|------------------|--------------------------------------------------|
/// | `BIND`                   | `127.0.0.1:3000` | address to listen on (port 0 picks a free one)   |
/// | `JWT_ISSUER`             | required         | accepted `iss`; comma-separated for several      |
/// | `JWT_ALLOW_ANY_ISSUER`   | unset            | `1`: no issuer check (instead of `JWT_ISSUER`)   |
/// | `JWT_AUDIENCE`           | required         | accepted `aud`; comma-separated for several      |
/// | `JWT_ALLOW_ANY_AUDIENCE` | unset            | `1`: no audience check (instead of `JWT_AUDIENCE`) |
/// | `JWT_JWKS_FILE`          | —                | key source: a JWKS (or single JWK) JSON file; `oct` keys allowed |
/// | `JWT_HS256_SECRET`       | —                | key source: an HMAC secret (raw string, at least 32 bytes), HS256 only |
/// | `JWT_PUBLIC_KEY_FILE`    | —                | key source: a PEM public key (RSA, EC P-256/P-384/P-521, Ed25519) |
/// | `JWT_JWKS_URL`           | —                | key source: a JWKS URL (https, or http to loopback), cached and refreshed |
/// | `JWT_OIDC_ISSUER_URL`    | —                | key source: an OpenID provider, found by discovery; also the default `JWT_ISSUER` |
/// | `JWT_RESOURCE_URL`       | unset            | this API's resource identifier (RFC 8707), e.g. `https://api.example.com`: an accepted audience (`JWT_AUDIENCE` becomes optional), the metadata (RFC 9728) served at its well-known path, and named by every challenge in `resource_metadata` |
/// | `JWT_SCOPES_SUPPORTED`   | `admin`          | with `JWT_RESOURCE_URL`: the metadata's `scopes_supported`, comma-separated |
/// | `JWT_INTROSPECTION_URL`  | unset            | an RFC 7662 introspection endpoint (https, or http to loopback): tokens that are not JWS-shaped are sent there; with no key source, every token is |
/// | `JWT_INTROSPECTION_CLIENT_ID`, `JWT_INTROSPECTION_CLIENT_SECRET` | (required with `JWT_INTROSPECTION_URL`) | the gateway's credentials at the introspection endpoint |
/// | `JWT_INTROSPECTION_AUTH` | `basic`          | how they are sent: `basic` (`client_secret_basic`) or `post` (`client_secret_post`) |
/// | `JWT_JWKS_COOLDOWN_SECS` | `30`             | remote sources: least time between refreshes caused by unknown `kid`s |
/// | `JWT_INFER_ALG`          | unset            | `1`: JWK keys without `alg` verify their whole family (JWKS sources only) |
/// | `JWT_LEEWAY_SECS`        | `60`             | clock-skew allowance for `exp`/`nbf`, at most 600 |
/// | `JWT_MAX_TOKEN_BYTES`    | `8192`           | longest token accepted                           |
/// | `JWT_REQUIRE_TYPE`       | unset            | required header `typ`, for example `at+jwt`      |
/// | `JWT_PROFILE`            | unset            | `rfc9068`: the JWT access-token profile (`typ` `at+jwt`; `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti` required) |
/// | `JWT_DPOP`               | `off`            | `allowed`: `/me` and `/admin` also take `Authorization: DPoP` with a `DPoP` proof, and refuse a `cnf`-bound token sent as `Bearer`; `required`: `Bearer` is refused with a `DPoP` challenge |
/// | `JWT_PUBLIC_URL`         | (required with `JWT_DPOP`) | the scheme and host clients use, e.g. `https://api.example.com` (several separated by commas); proofs' `htu` must be one of them plus the request path. The `Host` header is never used |
/// | `JWT_ROLES_CLAIM`        | unset            | claim path(s) holding roles, comma-separated, e.g. `realm_access.roles`; a name with `://` is one claim; `GET /me` then shows the roles |
/// | `JWT_REDIS_URL`          | unset            | `redis://host:port/db`: DPoP proofs and revocations are kept in this Redis, shared by every gateway given the same URL (see below) |
/// | `JWT_REDIS_CLUSTER`      | unset            | `1`: `JWT_REDIS_URL` names nodes of a Redis Cluster, comma-separated (a few primaries; the rest is discovered) |
/// | `JWT_REDIS_PREFIX`       | `jwt-layer:`     | prefix of every Redis key, to share a Redis between applications (no `{` or `}`) |
/// | `JWT_REDIS_TIMEOUT_MS`   | `1000`           | longest wait for Redis per operation, connecting included, 1 to 60 000; past it the request gets 503 |
/// | `RUST_LOG`               | `info`           | log filter (logs go to stderr)                   |
///
/// Exactly one key source must be set, or none with `JWT_INTROSPECTION_URL` (opaque tokens
/// only). Flags take `1`/`true` or `0`/`false`. With `JWT_DPOP=off`
/// the `DPoP` scheme is not recognised, and a `cnf`-bound token is still refused as `Bearer`.
///
/// Without `JWT_REDIS_URL`, DPoP proofs' `jti`s are remembered in process (100 000 at most;
/// when full of live entries, requests get 503 rather than a replay getting through) and
/// nothing is revoked. With it, proofs are recorded in Redis (`SET NX`: of two gateways seeing
/// the same proof, exactly one accepts it), and every request to `/me` and `/admin` is checked
/// against the revocations in Redis. The gateway has no endpoint to revoke: revocations are
/// written into the same Redis (same prefix) by another process, with `RedisStore`'s
/// `revoke_token` and `revoke_subject`. When Redis does not answer within
/// `JWT_REDIS_TIMEOUT_MS` (down, unreachable or slow), the requests that need it get 503 with
/// `Retry-After: 1`, never a pass; the gateway reconnects by itself when Redis is back. The
/// gateway starts even when Redis is down.
///
/// With `JWT_RESOURCE_URL`, a token is accepted when its `aud` names the resource (compared in
/// canonical form) or one of `JWT_AUDIENCE`; `JWT_ALLOW_ANY_AUDIENCE=1` is refused with it,
/// since it would accept tokens meant for any resource. The metadata lists the accepted
/// issuers as `authorization_servers` (none with `JWT_ALLOW_ANY_ISSUER`) and
/// `JWT_SCOPES_SUPPORTED`, by default `admin`, the one scope a route here requires.
///
/// With `JWT_INTROSPECTION_URL`, an introspected token's answer is checked as a JWT's claims
/// are (`iss`, `aud`, `exp`, …), `/me` shows it, and its `scope` opens `/admin`. `"active":
/// false` is a 401; an endpoint that cannot answer (down, timeout, not 200, not JSON) is a 503
/// with `Retry-After: 1`, never a pass. Active answers are reused for up to 60 s, inactive ones
/// for 5 s. Returns the configuration and the log filter.
fn config_from_env() -> Result<(Config, EnvFilter), String> {
    let bind = var("BIND")?.unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    let oidc_issuer = var("JWT_OIDC_ISSUER_URL")?;
    let issuers = match &oidc_issuer {
        // The discovered issuer is the one to accept, unless told otherwise.
        Some(issuer) if var("JWT_ISSUER")?.is_none() && !flag("JWT_ALLOW_ANY_ISSUER")? => {
            Some(vec![issuer.clone()])
        }
        _ => list_or_any("JWT_ISSUER", "JWT_ALLOW_ANY_ISSUER")?,
    };
    let resource = resource_config()?;
    let audiences = match &resource {
        // The resource is an accepted audience of its own (RFC 8707): others are optional.
        Some(_) if flag("JWT_ALLOW_ANY_AUDIENCE")? => {
            return Err("JWT_ALLOW_ANY_AUDIENCE=1 would accept tokens meant for any resource: \
                        with JWT_RESOURCE_URL, leave it unset"
                .to_owned());
        }
        Some(_) if var("JWT_AUDIENCE")?.is_none() => Some(Vec::new()),
        _ => list_or_any("JWT_AUDIENCE", "JWT_ALLOW_ANY_AUDIENCE")?,
    };
    let introspection = introspection_config()?;

    let sources = [
        var("JWT_JWKS_FILE")?.map(|path| KeySource::Jwks(path.into())),
        var("JWT_HS256_SECRET")?.map(KeySource::Hs256Secret),
        var("JWT_PUBLIC_KEY_FILE")?.map(|path| KeySource::PublicKeyPem(path.into())),
        var("JWT_JWKS_URL")?.map(KeySource::JwksUrl),
        oidc_issuer.map(KeySource::OidcIssuer),
    ];
    let mut sources = sources.into_iter().flatten();
    let keys = match (sources.next(), sources.next()) {
        (Some(keys), None) => Some(keys),
        // Opaque tokens only: introspection stands in for the keys.
        (None, None) if introspection.is_some() => None,
        _ => {
            return Err("set exactly one key source: JWT_JWKS_FILE, JWT_HS256_SECRET, \
                        JWT_PUBLIC_KEY_FILE, JWT_JWKS_URL or JWT_OIDC_ISSUER_URL \
                        (or none, with JWT_INTROSPECTION_URL, for opaque tokens only)"
                .to_owned());
        }
    };
    let infer_alg = flag("JWT_INFER_ALG")?;
    let jwks_source =
        matches!(keys, Some(KeySource::Jwks(_) | KeySource::JwksUrl(_) | KeySource::OidcIssuer(_)));
    if infer_alg && !jwks_source {
        return Err("JWT_INFER_ALG only applies to JWKS sources".to_owned());
    }
    let cooldown = number::<u64>("JWT_JWKS_COOLDOWN_SECS")?.map(Duration::from_secs);
    if cooldown.is_some() && !matches!(keys, Some(KeySource::JwksUrl(_) | KeySource::OidcIssuer(_)))
    {
        return Err(
            "JWT_JWKS_COOLDOWN_SECS only applies to JWT_JWKS_URL or JWT_OIDC_ISSUER_URL".to_owned()
        );
    }

    let leeway = number::<u64>("JWT_LEEWAY_SECS")?.map(Duration::from_secs);
    let max_token_bytes = number::<usize>("JWT_MAX_TOKEN_BYTES")?;
    let require_type = var("JWT_REQUIRE_TYPE")?;

    let profile = match var("JWT_PROFILE")?.as_deref().map(str::trim) {
        None => false,
        Some("rfc9068") => true,
        Some(other) => return Err(format!("JWT_PROFILE={other:?}: the only profile is rfc9068")),
    };
    if profile
        && let Some(typ) = &require_type
        && !matches!(typ.trim().to_ascii_lowercase().as_str(), "at+jwt" | "application/at+jwt")
    {
        return Err(format!(
            "JWT_REQUIRE_TYPE={typ:?} conflicts with JWT_PROFILE=rfc9068, which requires at+jwt"
        ));
    }
    let dpop = match var("JWT_DPOP")?.as_deref().map(str::trim) {
        None | Some("off") => DpopSetting::Off,
        Some("allowed") => DpopSetting::Allowed,
        Some("required") => DpopSetting::Required,
        Some(other) => {
            return Err(format!("JWT_DPOP={other:?}: expected off, allowed or required"));
        }
    };
    let public_origins = match var("JWT_PUBLIC_URL")? {
        None => Vec::new(),
        Some(list) => list.split(',').map(public_origin).collect::<Result<Vec<_>, _>>()?,
    };
    match (dpop, public_origins.is_empty()) {
        (DpopSetting::Off, false) => {
            return Err("JWT_PUBLIC_URL only applies with JWT_DPOP=allowed or required".to_owned());
        }
        // RFC 9449 §11.1: the proof's `htu` is checked against the origin clients use, which
        // the Host header (the client's to choose) must never decide.
        (DpopSetting::Allowed | DpopSetting::Required, true) => {
            return Err("JWT_DPOP needs JWT_PUBLIC_URL, the origin clients use \
                        (e.g. https://api.example.com; several separated by commas)"
                .to_owned());
        }
        _ => {}
    }
    let roles_claims = match var("JWT_ROLES_CLAIM")? {
        None => Vec::new(),
        Some(list) => list.split(',').map(claim_path).collect::<Result<_, _>>()?,
    };

    let redis = redis_config()?;

    let log_filter = match var("RUST_LOG")? {
        Some(filter) => {
            EnvFilter::try_new(&filter).map_err(|err| format!("RUST_LOG={filter:?}: {err}"))?
        }
        None => EnvFilter::new("info"),
    };

    let config = Config {
        bind,
        issuers,
        audiences,
        keys,
        infer_alg,
        cooldown,
        leeway,
        max_token_bytes,
        require_type,
        dpop,
        public_origins,
        profile,
        roles_claims,
        redis,
        resource,
        introspection,
    };
    Ok((config, log_filter))
}

/// `JWT_RESOURCE_URL` and `JWT_SCOPES_SUPPORTED`. The URL itself is checked when the verifier
/// is built, by the same rules as every resource of `jwt_layer`.
fn resource_config() -> Result<Option<ResourceConfig>, String> {
    let scopes = var("JWT_SCOPES_SUPPORTED")?;
    let Some(url) = var("JWT_RESOURCE_URL")? else {
        if scopes.is_some() {
            return Err("JWT_SCOPES_SUPPORTED only applies with JWT_RESOURCE_URL".to_owned());
        }
        return Ok(None);
    };
    let scopes_supported = match scopes {
        // The one scope a route of this gateway requires.
        None => vec!["admin".to_owned()],
        Some(list) => {
            let scopes: Vec<String> = list.split(',').map(|s| s.trim().to_owned()).collect();
            // RFC 6749 §3.3 scope-tokens: visible ASCII without space, `"` or `\`.
            let scope_token = |scope: &String| {
                !scope.is_empty()
                    && scope.bytes().all(|b| (b'!'..=b'~').contains(&b) && !b"\"\\".contains(&b))
            };
            if let Some(bad) = scopes.iter().find(|scope| !scope_token(scope)) {
                return Err(format!("JWT_SCOPES_SUPPORTED: {bad:?} is not a scope"));
            }
            scopes
        }
    };
    Ok(Some(ResourceConfig { url: url.trim().to_owned(), scopes_supported }))
}

/// `JWT_INTROSPECTION_URL`, `JWT_INTROSPECTION_CLIENT_ID`, `JWT_INTROSPECTION_CLIENT_SECRET`
/// and `JWT_INTROSPECTION_AUTH`; the URL itself is checked when the verifier is built.
fn introspection_config() -> Result<Option<IntrospectionConfig>, String> {
    let client_id = var("JWT_INTROSPECTION_CLIENT_ID")?;
    let client_secret = var("JWT_INTROSPECTION_CLIENT_SECRET")?;
    let auth = var("JWT_INTROSPECTION_AUTH")?;
    let Some(url) = var("JWT_INTROSPECTION_URL")? else {
        if client_id.is_some() || client_secret.is_some() || auth.is_some() {
            return Err("JWT_INTROSPECTION_CLIENT_ID, JWT_INTROSPECTION_CLIENT_SECRET and \
                        JWT_INTROSPECTION_AUTH only apply with JWT_INTROSPECTION_URL"
                .to_owned());
        }
        return Ok(None);
    };
    let post = match auth.as_deref().map(str::trim) {
        None | Some("basic") => false,
        Some("post") => true,
        Some(other) => {
            return Err(format!("JWT_INTROSPECTION_AUTH={other:?}: expected basic or post"));
        }
    };
    // RFC 7662 §2.1: the endpoint must know who is asking. Never show the secret.
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        return Err("JWT_INTROSPECTION_URL needs JWT_INTROSPECTION_CLIENT_ID and \
                    JWT_INTROSPECTION_CLIENT_SECRET, the gateway's credentials at the \
                    authorization server"
            .to_owned());
    };
    Ok(Some(IntrospectionConfig { url: url.trim().to_owned(), client_id, client_secret, post }))
}

/// `JWT_REDIS_URL`, `JWT_REDIS_CLUSTER`, `JWT_REDIS_PREFIX` and `JWT_REDIS_TIMEOUT_MS`; the URLs
/// themselves are checked when the store is built.
fn redis_config() -> Result<Option<RedisConfig>, String> {
    let cluster = flag("JWT_REDIS_CLUSTER")?;
    let prefix = var("JWT_REDIS_PREFIX")?;
    let timeout = number::<u64>("JWT_REDIS_TIMEOUT_MS")?;
    let Some(list) = var("JWT_REDIS_URL")? else {
        if cluster || prefix.is_some() || timeout.is_some() {
            return Err("JWT_REDIS_CLUSTER, JWT_REDIS_PREFIX and JWT_REDIS_TIMEOUT_MS only apply \
                        with JWT_REDIS_URL"
                .to_owned());
        }
        return Ok(None);
    };
    let urls: Vec<String> = list.split(',').map(|url| url.trim().to_owned()).collect();
    if urls.iter().any(String::is_empty) {
        return Err("JWT_REDIS_URL has an empty entry".to_owned());
    }
    if urls.len() > 1 && !cluster {
        return Err("JWT_REDIS_URL: several URLs are the nodes of a cluster: \
                    set JWT_REDIS_CLUSTER=1 too"
            .to_owned());
    }
    // A hash tag in the prefix would put every key in one slot of a cluster.
    if let Some(prefix) = &prefix
        && prefix.contains(['{', '}'])
    {
        return Err(format!("JWT_REDIS_PREFIX={prefix:?} must not contain {{ or }}"));
    }
    let timeout = match timeout {
        None => None,
        Some(ms @ 1..=60_000) => Some(Duration::from_millis(ms)),
        Some(ms) => return Err(format!("JWT_REDIS_TIMEOUT_MS={ms}: expected 1 to 60000")),
    };
    Ok(Some(RedisConfig { urls, cluster, prefix, timeout }))
}

/// `JWT_PUBLIC_URL`: an `http(s)` URL with a host and nothing after it but an optional `/`;
/// returns its origin (`https://api.example.com`, default port left out).
fn public_origin(text: &str) -> Result<String, String> {
    let bad = |why: &str| format!("JWT_PUBLIC_URL={text:?}: {why}");
    let url = url::Url::parse(text.trim()).map_err(|err| bad(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("expected http(s)://host[:port]"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("only scheme, host and port: the request path is appended"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(url.origin().ascii_serialization())
}

/// One entry of `JWT_ROLES_CLAIM`: a dotted path, or a whole claim name when it holds `://`
/// (namespaced claims such as `https://example.com/roles`).
fn claim_path(entry: &str) -> Result<ClaimPath, String> {
    let entry = entry.trim();
    if entry.contains("://") {
        return Ok(ClaimPath::name(entry));
    }
    if entry.is_empty() || entry.split('.').any(str::is_empty) {
        return Err(format!(
            "JWT_ROLES_CLAIM: {entry:?} is not a claim path like realm_access.roles"
        ));
    }
    Ok(ClaimPath::parse(entry))
}

/// A variable's value; unset and empty are the same.
fn var(name: &str) -> Result<Option<String>, String> {
    match env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

fn flag(name: &str) -> Result<bool, String> {
    match var(name)?.as_deref().map(str::trim) {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(format!("{name}={other:?}: expected 1 or 0")),
    }
}

fn number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    var(name)?
        .map(|text| text.trim().parse().map_err(|_| format!("{name}={text:?} is not a number")))
        .transpose()
}

/// `Some(list)` from the comma-separated `list_var`, or `None` when `any_flag` is set.
fn list_or_any(list_var: &str, any_flag: &str) -> Result<Option<Vec<String>>, String> {
    match (var(list_var)?, flag(any_flag)?) {
        (Some(_), true) => Err(format!("set {list_var} or {any_flag}=1, not both")),
        (None, true) => Ok(None),
        (None, false) => Err(format!("{list_var} is required (or, knowingly, {any_flag}=1)")),
        (Some(list), false) => {
            let items: Vec<String> = list.split(',').map(|item| item.trim().to_owned()).collect();
            if items.iter().any(String::is_empty) {
                return Err(format!("{list_var}={list:?} has an empty entry"));
            }
            Ok(Some(items))
        }
    }
}

/// The verified claims exactly as the token carries them: `/me` answers with them without
/// building and re-encoding a JSON tree on every request.
type TokenClaims = Box<RawValue>;

/// Loads the keys and builds the verifier; claims are kept as raw JSON so every one shows.
/// A remote source is returned too, so `main` can fetch it once before serving.
fn build_auth(config: &Config) -> Result<(JwtAuth<TokenClaims>, Option<RemoteJwks>), String> {
    let options = JwkOptions::default().infer_algorithm_from_key_type(config.infer_alg);
    let remote = |builder: RemoteJwksBuilder, variable: &str| {
        let builder = builder.jwk_options(options);
        let builder = match config.cooldown {
            Some(cooldown) => builder.cooldown(cooldown),
            None => builder,
        };
        builder.build().map_err(|err| format!("{variable}: {}", chain(&err)))
    };
    let remote_keys = match &config.keys {
        Some(KeySource::JwksUrl(url)) => {
            Some(remote(RemoteJwks::builder(url).name("jwks"), "JWT_JWKS_URL")?)
        }
        Some(KeySource::OidcIssuer(issuer)) => {
            let builder = RemoteJwks::discover_builder(issuer).name("oidc");
            Some(remote(builder, "JWT_OIDC_ISSUER_URL")?)
        }
        _ => None,
    };
    let keys: Option<Arc<dyn KeyProvider>> = match &config.keys {
        None => None,
        Some(KeySource::JwksUrl(_) | KeySource::OidcIssuer(_)) => {
            Some(Arc::new(remote_keys.clone().expect("built above")))
        }
        Some(static_source) => {
            Some(Arc::new(static_keys(static_source, options, config.infer_alg)?))
        }
    };
    let mut builder = JwtAuth::<TokenClaims>::builder();
    if let Some(keys) = keys {
        builder = builder.keys(keys);
    }
    if let Some(introspection) = &config.introspection {
        let (id, secret) = (&introspection.client_id, &introspection.client_secret);
        let endpoint = Introspection::endpoint(&introspection.url);
        let endpoint = if introspection.post {
            endpoint.client_secret_post(id, secret)
        } else {
            endpoint.client_secret_basic(id, secret)
        };
        // A JWS-shaped token is still verified locally when there are keys to verify it.
        let kinds =
            if config.keys.is_some() { TokenKinds::JwtAndOpaque } else { TokenKinds::Opaque };
        builder = builder.introspection(endpoint).token_kinds(kinds);
    }
    if let Some(resource) = &config.resource {
        builder = builder.resource(&resource.url);
    }
    match &config.issuers {
        Some(issuers) => builder = issuers.iter().fold(builder, |b, issuer| b.issuer(issuer)),
        None => builder = builder.dangerous_accept_any_issuer(),
    }
    match &config.audiences {
        Some(audiences) => {
            builder = audiences.iter().fold(builder, |b, audience| b.audience(audience));
        }
        None => builder = builder.dangerous_accept_any_audience(),
    }
    if let Some(leeway) = config.leeway {
        builder = builder.leeway(leeway);
    }
    if let Some(max) = config.max_token_bytes {
        builder = builder.max_token_bytes(max);
    }
    if let Some(typ) = &config.require_type {
        builder = builder.require_type(typ);
    }
    if config.profile {
        builder = builder.access_token_profile();
    }
    for path in &config.roles_claims {
        builder = builder.roles_claim(path.clone());
    }
    let store = config.redis.as_ref().map(redis_store).transpose()?;
    if let Some(store) = &store {
        builder = builder.revocation_store(store.clone());
    }
    let dpop = match config.dpop {
        DpopSetting::Off => None,
        DpopSetting::Allowed => Some(Dpop::allowed()),
        DpopSetting::Required => Some(Dpop::required()),
    };
    if let Some(mut dpop) = dpop {
        dpop = config.public_origins.iter().fold(dpop, |dpop, origin| dpop.public_origin(origin));
        if let Some(store) = store {
            dpop = dpop.replay_store(store);
        }
        builder = builder.dpop(dpop);
    }
    let auth = builder.build().map_err(|err| {
        let culprit = match err {
            BuildError::LeewayTooLarge => "JWT_LEEWAY_SECS: ",
            BuildError::TokenLimitTooSmall => "JWT_MAX_TOKEN_BYTES: ",
            BuildError::InvalidResource(..) => "JWT_RESOURCE_URL: ",
            BuildError::InvalidIntrospection(_) => "JWT_INTROSPECTION_URL: ",
            _ => "",
        };
        format!("{culprit}{err}")
    })?;
    Ok((auth, remote_keys))
}

/// The Redis store of `JWT_REDIS_URL`; it connects on first use.
fn redis_store(config: &RedisConfig) -> Result<Arc<RedisStore>, String> {
    let store = if config.cluster {
        RedisStore::cluster(&config.urls)
    } else {
        RedisStore::new(&config.urls[0])
    };
    // The error names what is wrong, never the URL: it may carry a password.
    let mut store = store.map_err(|err| {
        let why = match err {
            StoreError::Unavailable(why) => why,
            other => other.to_string(),
        };
        format!("JWT_REDIS_URL: {why} (expected redis://host:port/db)")
    })?;
    if let Some(prefix) = &config.prefix {
        store = store.prefix(prefix);
    }
    if let Some(timeout) = config.timeout {
        store = store.timeout(timeout);
    }
    tracing::info!(?store, "DPoP proofs and revocations kept in Redis");
    Ok(Arc::new(store))
}

/// Loads a key source that is read once at startup.
fn static_keys(
    source: &KeySource,
    options: JwkOptions,
    infer_alg: bool,
) -> Result<StaticKeys, String> {
    let keys = match source {
        KeySource::Jwks(path) => StaticKeys::from_jwks_file_with(path, options).map_err(|err| {
            let hint = match err {
                KeyError::NoUsableKeys if !infer_alg => {
                    " (the log above says why each key was skipped; if your identity \
                         provider omits `alg`, try JWT_INFER_ALG=1)"
                }
                _ => "",
            };
            format!("JWT_JWKS_FILE={}: {}{hint}", path.display(), chain(&err))
        })?,
        KeySource::Hs256Secret(secret) => VerifyingKey::hmac(secret.as_bytes())
            .and_then(|key| key.with_algorithms([Algorithm::HS256]))
            .and_then(|key| StaticKeys::new([key]))
            .map_err(|err| format!("JWT_HS256_SECRET: {}", chain(&err)))?,
        KeySource::PublicKeyPem(path) => StaticKeys::from_pem_file(path)
            .map_err(|err| format!("JWT_PUBLIC_KEY_FILE={}: {}", path.display(), chain(&err)))?,
        KeySource::JwksUrl(_) | KeySource::OidcIssuer(_) => unreachable!("remote sources"),
    };
    for key in keys.key_set().keys() {
        tracing::info!(?key, "verification key loaded");
    }
    Ok(keys)
}

/// An error and its causes, on one line ("cannot read key file x: No such file or directory").
fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn fail(message: &str) -> ! {
    eprintln!("gateway: {message}");
    eprintln!("gateway: see the doc comment of `config_from_env` in examples/gateway.rs");
    std::process::exit(EXIT_CONFIG);
}

#[tokio::main]
async fn main() {
    let (config, log_filter) = config_from_env().unwrap_or_else(|message| fail(&message));
    tracing_subscriber::fmt().with_env_filter(log_filter).with_writer(std::io::stderr).init();
    // Before the verifier exists, so everything it reports lands in this recorder.
    let prometheus = install_metrics().unwrap_or_else(|message| fail(&message));
    let (auth, remote) = build_auth(&config).unwrap_or_else(|message| fail(&message));
    tracing::info!(
        ?auth,
        dpop = ?config.dpop,
        public_origins = ?config.public_origins,
        rfc9068 = config.profile,
        roles_claims = ?config.roles_claims,
        introspection = ?config.introspection.as_ref().map(|introspection| &introspection.url),
        "verifier configured"
    );
    if let Some(remote) = remote {
        // Fetch once before serving; if the provider is down, keep going: requests are refused
        // until a later fetch succeeds.
        match remote.refresh().await {
            Ok(()) => tracing::info!(status = ?remote.status(), "remote key set fetched"),
            Err(err) => tracing::warn!(error = %err, "remote key set not fetched yet"),
        }
    }

    let roles_configured = !config.roles_claims.is_empty();
    let probed = auth.clone();
    // Refused with the layer's renderer below, like every other refusal.
    let admin_scope =
        auth.require_all_scopes(["admin"]).unwrap_or_else(|err| fail(&format!("/admin: {err}")));
    let metadata = config.resource.as_ref().map(|resource| {
        resource_metadata(&auth, resource).unwrap_or_else(|message| fail(&message))
    });
    let app = Router::new()
        .route("/me", get(move |claims, roles| me(claims, roles, roles_configured)))
        .route("/admin", get(admin).route_layer(admin_scope))
        // The routes above need a valid token; the ones added below are public.
        .route_layer(auth.layer().with_response(json_refusal))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(move || std::future::ready(ready(&probed))))
        .route("/metrics", get(move || std::future::ready(render_metrics(&auth, &prometheus))));
    // Public too: a client reads it before it has a token (RFC 9728 §3).
    let app = match &metadata {
        Some(metadata) => app.route_service(metadata.well_known_path(), metadata.service()),
        None => app,
    };

    let listener = TcpListener::bind(&config.bind)
        .await
        .unwrap_or_else(|err| fail(&format!("cannot listen on BIND={}: {err}", config.bind)));
    let addr = listener.local_addr().unwrap_or_else(|err| fail(&err.to_string()));
    println!("listening on {addr}");

    if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await {
        eprintln!("gateway: server error: {err}");
        std::process::exit(1);
    }
    tracing::info!("stopped");
}

/// The RFC 9728 document of `JWT_RESOURCE_URL`: the accepted issuers as
/// `authorization_servers`, and `JWT_SCOPES_SUPPORTED` (or `admin`) as `scopes_supported`.
fn resource_metadata(
    auth: &JwtAuth<TokenClaims>,
    resource: &ResourceConfig,
) -> Result<ProtectedResourceMetadata, String> {
    let metadata = auth
        .protected_resource_metadata()
        .map_err(|err| format!("JWT_RESOURCE_URL: {err}"))?
        .scopes_supported(&resource.scopes_supported);
    // The router reads `:name` and `*name` segments as captures, and would panic on them.
    let path = metadata.well_known_path();
    if path.split('/').any(|segment| segment.starts_with([':', '*'])) {
        return Err(format!(
            "JWT_RESOURCE_URL: the metadata path {path:?} has a segment starting with : or *, \
             which the router cannot serve"
        ));
    }
    Ok(metadata)
}

/// Latency buckets of the `_seconds` histograms, 10 µs to 1 s: an HS256 verification takes
/// microseconds, one that waited for a key fetch milliseconds.
const SECONDS_BUCKETS: [f64; 12] =
    [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1, 1.0];

/// Installs the Prometheus recorder, without a listener of its own: `GET /metrics` renders it.
/// A task runs its upkeep (draining histogram samples) even when nobody scrapes.
fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|err| format!("cannot set up metrics: {err}"))?;
    jwt_layer::metrics::describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`: the Prometheus text format. Asking for readiness first brings the key set
/// age gauges up to date.
fn render_metrics<C>(auth: &JwtAuth<C>, prometheus: &PrometheusHandle) -> Response {
    let _ = auth.readiness();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(CONTENT_TYPE, content_type)], prometheus.render()).into_response()
}

/// `GET /ready`: 200 while requests can be verified, 503 with the reason otherwise. Static key
/// sources are always ready; a remote one once it has a usable set (the probe itself retries
/// the fetch, at most once per retry interval).
fn ready<C>(auth: &JwtAuth<C>) -> Response {
    match auth.readiness() {
        Readiness::Ready => Json(json!({ "status": "ready" })).into_response(),
        not_ready => {
            let body = json!({
                "status": "not_ready",
                "reason": not_ready.code(),
                "description": not_ready.to_string(),
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `GET /me`: the verified claims, all of them; with `JWT_ROLES_CLAIM`, beside the roles read
/// from the configured paths.
async fn me(
    Claims(claims): Claims<TokenClaims>,
    roles: Option<Extension<Roles>>,
    roles_configured: bool,
) -> Response {
    if !roles_configured {
        return ([(CONTENT_TYPE, "application/json")], claims.get().to_owned()).into_response();
    }
    let roles: Vec<&str> =
        roles.as_ref().map(|Extension(roles)| roles.iter().collect()).unwrap_or_default();
    Json(json!({ "claims": &*claims, "roles": roles })).into_response()
}

/// `GET /admin`: only reached when the token grants `admin`.
async fn admin(
    Claims(claims): Claims<TokenClaims>,
    Extension(scopes): Extension<Scopes>,
) -> Json<serde_json::Value> {
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: Option<serde_json::Value>,
    }
    // The claims already parsed once as JSON during verification, so this cannot fail.
    let sub = serde_json::from_str::<Subject>(claims.get()).ok().and_then(|s| s.sub);
    Json(json!({
        "admin": true,
        "sub": sub,
        "scopes": scopes.iter().collect::<Vec<_>>(),
    }))
}

/// The body of a refusal; status and `WWW-Authenticate` are set by the middleware.
fn json_refusal(err: &AuthError) -> Response {
    let body = match (err, err.error_code()) {
        (_, Some(code)) => json!({ "error": code, "error_description": err.description() }),
        // 503: the DPoP replay store could not record the proof, or the revocation store
        // could not answer; nothing is wrong with the request, so it may be retried (the
        // answer carries `Retry-After`).
        (AuthError::StateUnavailable, None) => json!({
            "error": "temporarily_unavailable",
            "error_description": "token state store unavailable, retry later",
        }),
        // 503: the authorization server could not answer an introspection request; likewise
        // the client may retry.
        (AuthError::IntrospectionUnavailable, None) => json!({
            "error": "temporarily_unavailable",
            "error_description": "token introspection unavailable, retry later",
        }),
        // 500: a route layer is set up wrong (the log says which); nothing the client can fix.
        (AuthError::Misconfigured(_), None) => {
            json!({ "error": "server_error", "error_description": "authentication is misconfigured" })
        }
        // No credentials at all: RFC 6750 gives no error code for that.
        (_, None) => {
            json!({ "error": "unauthorized", "error_description": "access token required" })
        }
    };
    Json(body).into_response()
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
