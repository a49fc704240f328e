//! Many tenants: the issuers a service trusts, resolved per request rather than listed at
//! build time (an Entra ID multi-tenant app, an Auth0 custom domain per customer, a Keycloak
//! realm per tenant).
//!
//! The application's [`TenantResolver`] decides, for a token's unverified `iss`, whether it is
//! a tenant it trusts and how: its keys ([`Tenant::discover`] by OpenID discovery, or any key
//! provider), its audiences, and claims it must carry with a value ([`Tenant::require_claim`],
//! Entra ID's `tid`). The token is then verified with that tenant's keys alone, and its `iss`
//! checked exactly after the signature, as with [`crate::TrustedIssuer`].
//!
//! - **Nothing is fetched for an issuer the resolver has not approved**: a flood of made-up
//!   issuers costs one resolver call each (then a cached "no"), never a key fetch.
//! - **Bounded**: at most [`Tenants::max_tenants`] tenants' key caches live at once; the one
//!   used longest ago makes room, and comes back later with one fetch. The resolver's answers
//!   are cached (a "yes" for [`Tenants::cache_ttl`], a "no" for [`Tenants::refusal_ttl`], at
//!   most [`Tenants::max_refusals`] of them). Concurrent first requests of one tenant share
//!   one resolver call and one key fetch.
//! - **Isolated**: each tenant has its own key source, so an identity provider that is down,
//!   slow or serving garbage fails its own tenant's requests (503 or 401, as for one issuer),
//!   never another's.
//!
//! ```
//! use jwt_layer::JwtAuth;
//! use jwt_layer::tenants::{TenantTemplate, Tenants};
//!
//! # #[derive(serde::Deserialize)] struct MyClaims {}
//! // Entra ID, multi-tenant: issuers `https://login.microsoftonline.com/{tid}/v2.0` of the
//! // customers allowed, each token's `tid` equal to its issuer's.
//! let entra = TenantTemplate::new("https://login.microsoftonline.com/{tenant}/v2.0")?
//!     .allow(["9188040d-6c67-4c5b-b112-36a304b66dad", "72f988bf-86f1-41af-91ab-2d7cd011db47"])
//!     .tenant_claim("tid");
//! let auth = JwtAuth::<MyClaims>::builder()
//!     .tenants(Tenants::new(entra).max_tenants(1000))
//!     .audience("api://my-api")
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod table;
mod template;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::keys::KeyProvider;

pub(crate) use table::TenantTable;
pub use template::TenantTemplate;

/// What a [`TenantResolver`] answers.
pub type Resolution<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Tenant>, ResolveError>> + Send + 'a>>;

/// Decides whether a token's issuer is a tenant this service trusts, and how it is verified.
///
/// Called with the token's unverified `iss`, at most once at a time per issuer, and only when
/// no answer for it is cached. `Ok(None)`: not a tenant (refused 401 `invalid_token`, the
/// answer cached for [`Tenants::refusal_ttl`]); `Err`: the resolver could not tell (503, not
/// cached). It may be asynchronous (a database lookup); it is given
/// [`Tenants::resolve_timeout`].
pub trait TenantResolver: Send + Sync + 'static {
    /// The tenant whose issuer is `issuer`, if any.
    fn resolve<'a>(&'a self, issuer: &'a str) -> Resolution<'a>;
}

/// Why a [`TenantResolver`] could not answer (its database is down, say); the request is
/// answered 503 and the next one asks again.
#[derive(Debug, thiserror::Error)]
#[error("the tenant resolver failed: {0}")]
pub struct ResolveError(pub String);

/// How one tenant's tokens are verified.
pub struct Tenant {
    pub(crate) keys: TenantKeys,
    pub(crate) audiences: Vec<Box<str>>,
    pub(crate) claims: Vec<(Box<str>, Box<str>)>,
}

/// Where a tenant's keys come from. The remote ones are built by the tenant table with one
/// HTTP client for every tenant (one connection pool, one TLS configuration).
pub(crate) enum TenantKeys {
    Provider(Arc<dyn KeyProvider>),
    Discover(String),
    JwksUrl(String),
}

impl Tenant {
    /// A tenant whose tokens `keys` verify.
    pub fn new(keys: impl KeyProvider) -> Self {
        Tenant::with(TenantKeys::Provider(Arc::new(keys)))
    }

    /// A tenant whose keys are found by its issuer's OpenID discovery document (fetched on
    /// its first token, then cached and refreshed as any remote key set; every tenant's key
    /// set shares one HTTP client). An issuer that is not an `https` URL (or `http` to a
    /// loopback host) is answered 503, as a key set that cannot be fetched.
    pub fn discover(issuer: impl Into<String>) -> Self {
        Tenant::with(TenantKeys::Discover(issuer.into()))
    }

    /// A tenant whose keys are the JWKS at `url` (fetched, cached and refreshed like
    /// [`Tenant::discover`]'s).
    pub fn jwks_url(url: impl Into<String>) -> Self {
        Tenant::with(TenantKeys::JwksUrl(url.into()))
    }

    fn with(keys: TenantKeys) -> Self {
        Tenant { keys, audiences: Vec::new(), claims: Vec::new() }
    }

    /// An audience accepted for this tenant's tokens; call again for several. Without any,
    /// the builder's audiences apply.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into().into());
        self
    }

    /// A claim this tenant's tokens must carry with exactly this string value (Entra ID's
    /// `tid`, equal to the tenant of the issuer). Not one of the registered claims the crate
    /// reads itself (`iss`, `sub`, `aud`, …): those have their own checks.
    pub fn require_claim(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.claims.push((name.into().into(), value.into().into()));
        self
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("audiences", &self.audiences)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// The tenants a `JwtAuth` trusts: a resolver and the bounds of what is kept of its answers
/// (see [`crate::JwtAuthBuilder::tenants`]).
pub struct Tenants {
    pub(crate) resolver: Arc<dyn TenantResolver>,
    pub(crate) max_tenants: usize,
    pub(crate) max_refusals: usize,
    pub(crate) cache_ttl: Duration,
    pub(crate) refusal_ttl: Duration,
    pub(crate) resolve_timeout: Duration,
}

impl Tenants {
    /// Tenants as `resolver` decides, with the default bounds: 1000 live tenants, 10 000
    /// cached refusals, a "yes" kept an hour, a "no" five minutes, 10 s for the resolver.
    pub fn new(resolver: impl TenantResolver) -> Self {
        Tenants {
            resolver: Arc::new(resolver),
            max_tenants: 1000,
            max_refusals: 10_000,
            cache_ttl: Duration::from_secs(3600),
            refusal_ttl: Duration::from_secs(300),
            resolve_timeout: Duration::from_secs(10),
        }
    }

    /// At most this many tenants' key caches live at once (at least 1); the one used longest
    /// ago makes room.
    pub fn max_tenants(mut self, max: usize) -> Self {
        self.max_tenants = max.max(1);
        self
    }

    /// At most this many refusals ("not a tenant") cached (at least 1).
    pub fn max_refusals(mut self, max: usize) -> Self {
        self.max_refusals = max.max(1);
        self
    }

    /// How long the resolver's "yes" is kept before it is asked again (the tenant's key cache
    /// is kept with it).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long the resolver's "no" is kept.
    pub fn refusal_ttl(mut self, ttl: Duration) -> Self {
        self.refusal_ttl = ttl;
        self
    }

    /// How long the resolver may take before the request is answered 503.
    pub fn resolve_timeout(mut self, timeout: Duration) -> Self {
        self.resolve_timeout = timeout;
        self
    }
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenants")
            .field("max_tenants", &self.max_tenants)
            .field("max_refusals", &self.max_refusals)
            .field("cache_ttl", &self.cache_ttl)
            .field("refusal_ttl", &self.refusal_ttl)
            .finish_non_exhaustive()
    }
}
