//! The verifier: a `JwtAuth` built from the configuration, with its key source, introspection,
//! DPoP and the Redis store of a fleet.

use std::sync::Arc;

use jwt_layer::introspection::Introspection;
use jwt_layer::keys::RemoteJwks;
use jwt_layer::store::{RedisStore, StoreError};
use jwt_layer::tenants::{TenantTemplate, Tenants};
use jwt_layer::{BuildError, Dpop, JwtAuth, TokenKinds};
use serde_json::value::RawValue;

use crate::config::{Config, DpopSetting, RedisConfig, TenantsConfig};
use crate::keys;

/// The verified claims exactly as the token carries them: `/me` answers with them without
/// building and re-encoding a JSON tree on every request.
pub type TokenClaims = Box<RawValue>;

/// Loads the keys and builds the verifier; claims are kept as raw JSON so every one shows.
/// A remote source is returned too, so `main` can fetch it once before serving.
pub fn build_auth(config: &Config) -> Result<(JwtAuth<TokenClaims>, Option<RemoteJwks>), String> {
    let keys = keys::load(config.keys.as_ref(), config.infer_alg, config.cooldown)?;
    let mut builder = JwtAuth::<TokenClaims>::builder();
    if let Some(keys) = keys.provider {
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
    match (&config.tenants, &config.issuers) {
        (Some(tenants), _) => builder = builder.tenants(tenants_of(tenants)?),
        (None, Some(issuers)) => {
            builder = issuers.iter().fold(builder, |b, issuer| b.issuer(issuer));
        }
        (None, None) => builder = builder.dangerous_accept_any_issuer(),
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
    Ok((auth, keys.remote))
}

/// The tenants of `JWT_ISSUER_TEMPLATE`: each allowed tenant's issuer, keys by its discovery
/// document; nothing is fetched for any other issuer.
fn tenants_of(config: &TenantsConfig) -> Result<Tenants, String> {
    let template = TenantTemplate::new(&config.template)
        .map_err(|err| format!("JWT_ISSUER_TEMPLATE: {err}"))?
        .allow(config.tenants.iter().cloned());
    let template = match &config.claim {
        Some(claim) => template.tenant_claim(claim),
        None => template,
    };
    let tenants = Tenants::new(template);
    Ok(match config.max_tenants {
        Some(max) => tenants.max_tenants(max),
        None => tenants,
    })
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
