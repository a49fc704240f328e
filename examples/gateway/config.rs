//! Reading and checking the environment: every variable of the table in `main.rs`, and the
//! exit code 2 of a misconfiguration.

use std::env;
use std::time::Duration;

use jwt_layer::ClaimPath;
use jwt_layer::tenants::TenantTemplate;
use tracing_subscriber::EnvFilter;

use crate::keys::KeySource;

/// Misconfiguration: wrong or missing variables, unreadable keys, an address that cannot be
/// bound.
const EXIT_CONFIG: i32 = 2;

/// Everything read from the environment.
pub struct Config {
    pub bind: String,
    pub issuers: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    /// `None` with introspection alone: every token is opaque.
    pub keys: Option<KeySource>,
    pub infer_alg: bool,
    pub cooldown: Option<Duration>,
    pub leeway: Option<Duration>,
    pub max_token_bytes: Option<usize>,
    pub require_type: Option<String>,
    pub dpop: DpopSetting,
    /// The origins (scheme and authority) clients use, for the proofs' `htu`.
    pub public_origins: Vec<String>,
    /// RFC 9068 access-token profile.
    pub profile: bool,
    pub roles_claims: Vec<ClaimPath>,
    /// `JWT_REDIS_*`: the shared replay and revocation store.
    pub redis: Option<RedisConfig>,
    /// `JWT_RESOURCE_URL` and `JWT_SCOPES_SUPPORTED`.
    pub resource: Option<ResourceConfig>,
    /// `JWT_INTROSPECTION_*`.
    pub introspection: Option<IntrospectionConfig>,
    /// `JWT_REQUIRE_ACR` and `JWT_MAX_AUTH_AGE_SECS`.
    pub step_up: StepUpConfig,
    /// `JWT_ISSUER_TEMPLATE` and its tenants, instead of one key source and issuer.
    pub tenants: Option<TenantsConfig>,
}

/// Many tenants: an issuer URL with `{tenant}` (keys by each issuer's discovery), the tenants
/// allowed, the live-cache bound, and the claim that must name the tenant.
pub struct TenantsConfig {
    pub template: String,
    pub tenants: Vec<String>,
    pub max_tenants: Option<usize>,
    pub claim: Option<String>,
}

/// Step-up authentication (RFC 9470) on every protected route: the accepted `acr` values, in
/// order of preference, and the maximum age of the sign-in.
#[derive(Default)]
pub struct StepUpConfig {
    pub acr: Option<Vec<String>>,
    pub max_auth_age: Option<Duration>,
}

/// `JWT_RESOURCE_URL` (checked when the verifier is built) and the scopes its metadata lists.
pub struct ResourceConfig {
    pub url: String,
    pub scopes_supported: Vec<String>,
}

/// `JWT_INTROSPECTION_URL` and its client credentials.
pub struct IntrospectionConfig {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    /// `client_secret_post` rather than `client_secret_basic`.
    pub post: bool,
}

/// `JWT_REDIS_URL` and its companions.
pub struct RedisConfig {
    /// One server, or the cluster's nodes.
    pub urls: Vec<String>,
    pub cluster: bool,
    pub prefix: Option<String>,
    pub timeout: Option<Duration>,
}

/// `JWT_DPOP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopSetting {
    Off,
    Allowed,
    Required,
}

/// Reads the configuration from the environment: the variables and rules of the table in the
/// doc comment of `main.rs`. Returns the configuration and the log filter.
pub fn config_from_env() -> Result<(Config, EnvFilter), String> {
    let bind = var("BIND")?.unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    let tenants = tenants_config()?;
    let oidc_issuer = var("JWT_OIDC_ISSUER_URL")?;
    let issuers = match &oidc_issuer {
        // Each tenant's issuer is the template's, checked exactly.
        _ if tenants.is_some() => {
            if var("JWT_ISSUER")?.is_some() || flag("JWT_ALLOW_ANY_ISSUER")? {
                return Err("JWT_ISSUER_TEMPLATE names the issuers: leave JWT_ISSUER and \
                            JWT_ALLOW_ANY_ISSUER unset"
                    .to_owned());
            }
            Some(Vec::new())
        }
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
        // Each tenant's keys come from its issuer's discovery document.
        (None, None) if tenants.is_some() && introspection.is_none() => None,
        (_, _) if tenants.is_some() => {
            return Err("JWT_ISSUER_TEMPLATE finds each tenant's keys by discovery: set no key \
                        source (JWT_JWKS_FILE, JWT_HS256_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_URL, \
                        JWT_OIDC_ISSUER_URL) and no JWT_INTROSPECTION_URL"
                .to_owned());
        }
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
    let step_up = step_up_config()?;

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
        step_up,
        tenants,
    };
    Ok((config, log_filter))
}

/// `JWT_ISSUER_TEMPLATE` (an issuer URL holding `{tenant}`), with `JWT_TENANTS`
/// (comma-separated) or `JWT_TENANTS_FILE` (one tenant a line; blank lines and `#` comments
/// skipped), `JWT_MAX_TENANTS` and `JWT_TENANT_CLAIM`.
fn tenants_config() -> Result<Option<TenantsConfig>, String> {
    let (list, file) = (var("JWT_TENANTS")?, var("JWT_TENANTS_FILE")?);
    let max_tenants = number::<usize>("JWT_MAX_TENANTS")?;
    let claim = var("JWT_TENANT_CLAIM")?.map(|claim| claim.trim().to_owned());
    let Some(template) = var("JWT_ISSUER_TEMPLATE")? else {
        if list.is_some() || file.is_some() || max_tenants.is_some() || claim.is_some() {
            return Err("JWT_TENANTS, JWT_TENANTS_FILE, JWT_MAX_TENANTS and JWT_TENANT_CLAIM \
                        only apply with JWT_ISSUER_TEMPLATE"
                .to_owned());
        }
        return Ok(None);
    };
    if !template.contains("{tenant}") {
        return Err(format!("JWT_ISSUER_TEMPLATE={template:?} holds no {{tenant}}"));
    }
    let tenants: Vec<String> = match (list, file) {
        (Some(list), None) => list.split(',').map(|t| t.trim().to_owned()).collect(),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|err| format!("JWT_TENANTS_FILE={path:?}: {err}"))?
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect(),
        (Some(_), Some(_)) => return Err("set JWT_TENANTS or JWT_TENANTS_FILE, not both".into()),
        (None, None) => {
            return Err("JWT_ISSUER_TEMPLATE needs the tenants allowed: JWT_TENANTS \
                        (comma-separated) or JWT_TENANTS_FILE (one a line)"
                .to_owned());
        }
    };
    if let Some(bad) = tenants.iter().find(|t| !TenantTemplate::is_tenant_id(t)) {
        return Err(format!(
            "tenant {bad:?} is not a tenant id (letters, digits, '-', '_' and '.'; not . or ..)"
        ));
    }
    if tenants.is_empty() {
        return Err("the list of tenants is empty".to_owned());
    }
    if max_tenants == Some(0) {
        return Err("JWT_MAX_TENANTS must be at least 1".to_owned());
    }
    if claim.as_deref() == Some("") {
        return Err("JWT_TENANT_CLAIM is empty".to_owned());
    }
    Ok(Some(TenantsConfig { template, tenants, max_tenants, claim }))
}

/// `JWT_REQUIRE_ACR` (comma-separated `acr` values, each visible ASCII without space, `"` or
/// `\`, as the challenge's `acr_values` carries them) and `JWT_MAX_AUTH_AGE_SECS`.
fn step_up_config() -> Result<StepUpConfig, String> {
    let acr = match var("JWT_REQUIRE_ACR")? {
        None => None,
        Some(list) => {
            let values: Vec<String> = list.split(',').map(|v| v.trim().to_owned()).collect();
            let nameable = |value: &String| {
                !value.is_empty()
                    && value.bytes().all(|b| (b'!'..=b'~').contains(&b) && !b"\"\\".contains(&b))
            };
            if let Some(bad) = values.iter().find(|value| !nameable(value)) {
                return Err(format!(
                    "JWT_REQUIRE_ACR: {bad:?} is not an acr value (visible ASCII without \
                     space, \" or \\; several separated by commas)"
                ));
            }
            Some(values)
        }
    };
    let max_auth_age = number::<u64>("JWT_MAX_AUTH_AGE_SECS")?.map(Duration::from_secs);
    Ok(StepUpConfig { acr, max_auth_age })
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

/// Says what is wrong on stderr and exits with [`EXIT_CONFIG`].
pub fn fail(message: &str) -> ! {
    eprintln!("gateway: {message}");
    eprintln!("gateway: see the doc comment of examples/gateway/main.rs");
    std::process::exit(EXIT_CONFIG);
}
