//! The tenants resolved so far: the live ones (their routes, with their key caches), bounded
//! and least recently used first out; the refused issuers, bounded; and the resolutions under
//! way, one per issuer, shared by every request that waits on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::{Tenant, TenantKeys, Tenants};
use crate::error::AuthError;
use crate::keys::{KeyError, KeyProvider, RemoteJwks, RemoteJwksBuilder, default_http_client};
use crate::metrics::tenant_resolved;
use crate::readiness::Readiness;
use crate::single_flight::Flights;
use crate::token::registered::ClaimRules;
use crate::token::verify::Route;

/// What the resolver said of an issuer: its route, or not a tenant.
type Answer = Option<Arc<Route>>;

pub(crate) struct TenantTable {
    config: Tenants,
    /// The builder's claim rules; each tenant's issuer, audiences and claims go in.
    base: ClaimRules,
    state: Mutex<State>,
    /// The resolutions under way, one per issuer.
    resolving: Flights<Arc<str>, Answer>,
    /// The HTTP client of every tenant's remote key set, made with the first.
    client: OnceLock<reqwest::Client>,
}

struct State {
    /// Approved issuers, until their answer's deadline (seconds since the epoch).
    live: Lru<(Arc<Route>, f64)>,
    /// Refused issuers, until their answer's deadline.
    refused: Lru<f64>,
}

impl TenantTable {
    pub(crate) fn new(config: Tenants, base: ClaimRules) -> Self {
        let state =
            State { live: Lru::new(config.max_tenants), refused: Lru::new(config.max_refusals) };
        let resolving = Flights::default();
        TenantTable { config, base, state: Mutex::new(state), resolving, client: OnceLock::new() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The route of `issuer` (a token's unverified `iss`) at `now` (seconds since the epoch):
    /// a cached answer at once, otherwise after the resolver's, which one call makes for
    /// every request waiting on it. Not a tenant: `InvalidIssuer`; no answer: 503.
    pub(crate) async fn route(&self, issuer: &str, now: f64) -> Result<Arc<Route>, AuthError> {
        {
            let mut state = self.state();
            match state.live.get(issuer) {
                Some((route, until)) if *until > now => return Ok(Arc::clone(route)),
                Some(_) => state.live.remove(issuer),
                None => {}
            }
            match state.refused.get(issuer) {
                Some(until) if *until > now => return Err(AuthError::InvalidIssuer),
                Some(_) => state.refused.remove(issuer),
                None => {}
            }
        }
        // Landed however this request ends: one that goes away mid-call must not leave its
        // flight behind (another waiter, if any, takes the call over).
        let flight = self.resolving.join(issuer.into());
        let answer = match flight.get_or_try_init(|| self.resolve(issuer)).await {
            Ok(answer) => answer.clone(),
            Err(err) => {
                tenant_resolved("failed", self.state().live.map.len());
                return Err(err);
            }
        };
        let live = {
            let mut state = self.state();
            match &answer {
                Some(route) => {
                    let until = now + self.config.cache_ttl.as_secs_f64();
                    state.live.insert(issuer, (Arc::clone(route), until));
                }
                None => {
                    let until = now + self.config.refusal_ttl.as_secs_f64();
                    state.refused.insert(issuer, until);
                }
            }
            state.live.map.len()
        };
        tenant_resolved(if answer.is_some() { "approved" } else { "refused" }, live);
        answer.ok_or(AuthError::InvalidIssuer)
    }

    /// Whether a live tenant's key source can supply keys now; `None` when `issuer` is not a
    /// live tenant (never resolved, refused, or made room for).
    pub(crate) fn readiness(&self, issuer: &str) -> Option<Readiness> {
        let state = self.state();
        state.live.map.get(issuer).map(|((route, _), _)| route.keys.readiness())
    }

    /// Asks the resolver, within its time limit.
    async fn resolve(&self, issuer: &str) -> Result<Answer, AuthError> {
        let asked = self.config.resolver.resolve(issuer);
        match tokio::time::timeout(self.config.resolve_timeout, asked).await {
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(tenant))) => {
                self.route_of(issuer, tenant).map(|route| Some(Arc::new(route)))
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "tenant resolver failed: refusing its issuer's tokens");
                Err(AuthError::KeysUnavailable)
            }
            Err(_) => {
                tracing::warn!("tenant resolver timed out: refusing its issuer's tokens");
                Err(AuthError::KeysUnavailable)
            }
        }
    }

    /// The route of an approved tenant: its keys alone, its issuer exactly, its audiences (or
    /// the builder's) and claims.
    fn route_of(&self, issuer: &str, tenant: Tenant) -> Result<Route, AuthError> {
        let base = &self.base;
        let audiences = match (tenant.audiences.is_empty(), base.audiences.is_empty()) {
            // Any audience accepted, knowingly, for every tenant.
            (_, true) => Vec::new(),
            (true, false) => base.audiences.clone(),
            (false, false) => base.resource.iter().cloned().chain(tenant.audiences).collect(),
        };
        let rules = ClaimRules {
            issuers: vec![issuer.into()],
            audiences,
            required_values: tenant.claims,
            ..base.clone()
        };
        let remote = |builder: RemoteJwksBuilder| {
            let built = self.client().and_then(|client| builder.client(client).build());
            built.map(|keys| Arc::new(keys) as Arc<dyn KeyProvider>).map_err(|err| {
                tracing::warn!(error = %err, "a tenant's key set cannot be made: refusing its tokens");
                AuthError::KeysUnavailable
            })
        };
        let keys = match tenant.keys {
            TenantKeys::Provider(keys) => keys,
            TenantKeys::Discover(issuer) => remote(RemoteJwks::discover_builder(issuer))?,
            TenantKeys::JwksUrl(url) => remote(RemoteJwks::builder(url))?,
        };
        Ok(Route { keys, rules })
    }

    fn client(&self) -> Result<reqwest::Client, KeyError> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let client = default_http_client()?;
        Ok(self.client.get_or_init(|| client).clone())
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        let state = self.state();
        (state.live.map.len(), state.refused.map.len(), self.resolving.len())
    }
}

/// At most `max` values by issuer; the one used longest ago makes room.
struct Lru<V> {
    map: HashMap<Arc<str>, (V, u64)>,
    /// Each entry's last use, oldest first.
    order: BTreeMap<u64, Arc<str>>,
    tick: u64,
    max: usize,
}

impl<V> Lru<V> {
    fn new(max: usize) -> Self {
        Lru { map: HashMap::new(), order: BTreeMap::new(), tick: 0, max }
    }

    /// The value, counted as used now.
    fn get(&mut self, key: &str) -> Option<&V> {
        self.tick += 1;
        let (_, used) = self.map.get_mut(key)?;
        let name = self.order.remove(used)?;
        *used = self.tick;
        self.order.insert(self.tick, name);
        self.map.get(key).map(|(value, _)| value)
    }

    fn insert(&mut self, key: &str, value: V) {
        self.remove(key);
        while self.map.len() >= self.max {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.map.remove(&oldest);
        }
        self.tick += 1;
        let key: Arc<str> = key.into();
        self.order.insert(self.tick, Arc::clone(&key));
        self.map.insert(key, (value, self.tick));
    }

    fn remove(&mut self, key: &str) {
        if let Some((_, used)) = self.map.remove(key) {
            self.order.remove(&used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_used_longest_ago_makes_room() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        assert_eq!(lru.get("a"), Some(&1));
        lru.insert("c", 3);
        assert_eq!(lru.get("b"), None);
        assert_eq!(lru.get("a"), Some(&1));
        assert_eq!(lru.get("c"), Some(&3));
        assert_eq!((lru.map.len(), lru.order.len()), (2, 2));
        lru.insert("a", 4);
        assert_eq!((lru.map.len(), lru.order.len()), (2, 2));
        lru.remove("a");
        assert_eq!((lru.map.len(), lru.order.len()), (1, 1));
    }

    #[test]
    fn sizes_start_empty() {
        struct No;
        impl super::super::TenantResolver for No {
            fn resolve<'a>(&'a self, _: &'a str) -> super::super::Resolution<'a> {
                Box::pin(async { Ok(None) })
            }
        }
        let base = ClaimRules {
            issuers: Vec::new(),
            audiences: Vec::new(),
            resource: None,
            required: Vec::new(),
            required_values: Vec::new(),
            require_exp: true,
            certificate_bound: false,
        };
        let table = TenantTable::new(Tenants::new(No).max_refusals(3), base);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        for i in 0..10 {
            let issuer = format!("https://made-up-{i}.example");
            let refused = runtime.block_on(table.route(&issuer, 0.0)).err();
            assert_eq!(refused, Some(AuthError::InvalidIssuer));
        }
        assert_eq!(table.sizes(), (0, 3, 0));
    }
}
