//! Issuers made from one URL template and a list of tenants: Entra ID's
//! `https://login.microsoftonline.com/{tenant}/v2.0`, a Keycloak realm per tenant
//! (`https://sso.example.com/realms/{tenant}`), an Auth0-style domain per customer
//! (`https://{tenant}.auth.example.com/`).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use super::{Resolution, ResolveError, Tenant, TenantResolver};
use crate::build_error::BuildError;

const PLACEHOLDER: &str = "{tenant}";

/// A [`TenantResolver`] for issuers that differ only by a tenant id: the issuer template with
/// `{tenant}` where the id goes, and the ids allowed. A token's `iss` is a tenant when it is
/// the template with an allowed id; its keys come from that issuer's OpenID discovery document.
/// Only allowed ids are ever fetched: an issuer with any other id is refused without a network
/// call.
#[derive(Clone)]
pub struct TenantTemplate {
    prefix: String,
    suffix: String,
    allowed: HashSet<String>,
    claim: Option<String>,
    keys: Arc<KeysOf>,
}

/// How an approved tenant's keys are found, from its issuer.
type KeysOf = dyn Fn(&str) -> Result<Tenant, ResolveError> + Send + Sync;

impl fmt::Debug for TenantTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantTemplate")
            .field("template", &format!("{}{PLACEHOLDER}{}", self.prefix, self.suffix))
            .field("allowed", &self.allowed.len())
            .field("claim", &self.claim)
            .finish_non_exhaustive()
    }
}

impl TenantTemplate {
    /// The issuer template: an `https` (or loopback `http`) URL holding `{tenant}` exactly
    /// once; anything else is [`BuildError::InvalidTenantTemplate`].
    pub fn new(template: &str) -> Result<Self, BuildError> {
        let bad = || BuildError::InvalidTenantTemplate;
        let (prefix, suffix) = template.split_once(PLACEHOLDER).ok_or_else(bad)?;
        if suffix.contains(PLACEHOLDER) {
            return Err(bad());
        }
        // A tenant id of digits only fits every place an id can go, a port included.
        let example = url::Url::parse(&format!("{prefix}0{suffix}")).map_err(|_| bad())?;
        let loopback = example.host_str().is_some_and(|host| {
            host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        });
        if example.scheme() != "https" && !(example.scheme() == "http" && loopback) {
            return Err(bad());
        }
        Ok(TenantTemplate {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            allowed: HashSet::new(),
            claim: None,
            keys: Arc::new(|issuer| Ok(Tenant::discover(issuer))),
        })
    }

    /// How an approved tenant's keys are found, from its issuer (by default its OpenID
    /// discovery document): for keys the application holds, or a test kit's issuer.
    pub fn keys_from<F>(mut self, keys: F) -> Self
    where
        F: Fn(&str) -> Result<Tenant, ResolveError> + Send + Sync + 'static,
    {
        self.keys = Arc::new(keys);
        self
    }

    /// Tenant ids allowed; call again to add more. Without any, no issuer is a tenant.
    pub fn allow<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed.extend(tenants.into_iter().map(Into::into));
        self
    }

    /// A claim every token must carry with its tenant's id (Entra ID: `tid`), so a token is
    /// bound to the tenant its issuer names.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim = Some(claim.into());
        self
    }

    /// Whether `id` can be a tenant id: letters, digits, `-`, `_` and `.`, not empty, not `.`
    /// or `..` (so an id never changes the shape of the issuer URL it goes into). Any other
    /// id given to [`TenantTemplate::allow`] never matches.
    pub fn is_tenant_id(id: &str) -> bool {
        let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        !id.is_empty() && id != "." && id != ".." && id.bytes().all(plain)
    }

    /// The tenant id `issuer` names, when it is the template with an allowed id.
    fn tenant_of<'a>(&self, issuer: &'a str) -> Option<&'a str> {
        let id = issuer.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        (Self::is_tenant_id(id) && self.allowed.contains(id)).then_some(id)
    }
}

impl TenantResolver for TenantTemplate {
    fn resolve<'a>(&'a self, issuer: &'a str) -> Resolution<'a> {
        let found = self.tenant_of(issuer).map(|id| {
            let tenant = (self.keys)(issuer)?;
            Ok(match &self.claim {
                Some(claim) => tenant.require_claim(claim.as_str(), id),
                None => tenant,
            })
        });
        Box::pin(async move { found.transpose() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_template_with_an_allowed_plain_id_is_a_tenant() {
        let entra = TenantTemplate::new("https://login.microsoftonline.com/{tenant}/v2.0")
            .unwrap()
            .allow(["t1", "a.b"]);
        let of = |iss| entra.tenant_of(iss);
        assert_eq!(of("https://login.microsoftonline.com/t1/v2.0"), Some("t1"));
        assert_eq!(of("https://login.microsoftonline.com/a.b/v2.0"), Some("a.b"));
        assert_eq!(of("https://login.microsoftonline.com/t2/v2.0"), None);
        assert_eq!(of("https://login.microsoftonline.com/t1/v2.0/"), None);
        assert_eq!(of("https://login.microsoftonline.com/t1/x/v2.0"), None);
        assert_eq!(of("https://login.microsoftonline.com//v2.0"), None);
        assert!(TenantTemplate::new("https://login.example/{tenant}/{tenant}").is_err());
        assert!(TenantTemplate::new("https://login.example/").is_err());
        assert!(TenantTemplate::new("http://login.example/{tenant}").is_err());
        assert!(TenantTemplate::new("http://127.0.0.1:8080/{tenant}").is_ok());
    }
}
