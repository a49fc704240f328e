//! Key sources: the one the environment names, loaded at startup (a file or a secret) or
//! fetched and refreshed (a JWKS URL, an OpenID provider).

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jwt_layer::Algorithm;
use jwt_layer::keys::{
    JwkOptions, KeyError, KeyProvider, RemoteJwks, RemoteJwksBuilder, StaticKeys, VerifyingKey,
};

/// The key source of `JWT_JWKS_FILE`, `JWT_HS256_SECRET`, `JWT_PUBLIC_KEY_FILE`, `JWT_JWKS_URL`
/// or `JWT_OIDC_ISSUER_URL`.
pub enum KeySource {
    Jwks(PathBuf),
    JwksUrl(String),
    OidcIssuer(String),
    Hs256Secret(String),
    PublicKeyPem(PathBuf),
}

/// The keys of a source, as the verifier reads them.
pub struct Keys {
    /// `None` with introspection alone.
    pub provider: Option<Arc<dyn KeyProvider>>,
    /// A remote source a second time, so `main` can fetch it once before serving.
    pub remote: Option<RemoteJwks>,
}

/// The keys of `source` (`None`: introspection alone), with `JWT_INFER_ALG` and
/// `JWT_JWKS_COOLDOWN_SECS` applied.
pub fn load(
    source: Option<&KeySource>,
    infer_alg: bool,
    cooldown: Option<Duration>,
) -> Result<Keys, String> {
    let options = JwkOptions::default().infer_algorithm_from_key_type(infer_alg);
    let remote = |builder: RemoteJwksBuilder, variable: &str| {
        let builder = builder.jwk_options(options);
        let builder = match cooldown {
            Some(cooldown) => builder.cooldown(cooldown),
            None => builder,
        };
        builder.build().map_err(|err| match err {
            // The library's hint (its `allow_http`) is not a setting of the gateway.
            KeyError::InsecureUrl { url } => {
                format!("{variable}: `{url}` is not https (plain http only to a loopback host)")
            }
            err => format!("{variable}: {}", chain(&err)),
        })
    };
    let remote_keys = match source {
        Some(KeySource::JwksUrl(url)) => {
            Some(remote(RemoteJwks::builder(url).name("jwks"), "JWT_JWKS_URL")?)
        }
        Some(KeySource::OidcIssuer(issuer)) => {
            let builder = RemoteJwks::discover_builder(issuer).name("oidc");
            Some(remote(builder, "JWT_OIDC_ISSUER_URL")?)
        }
        _ => None,
    };
    let keys: Option<Arc<dyn KeyProvider>> = match source {
        None => None,
        Some(KeySource::JwksUrl(_) | KeySource::OidcIssuer(_)) => {
            Some(Arc::new(remote_keys.clone().expect("built above")))
        }
        Some(static_source) => Some(Arc::new(static_keys(static_source, options, infer_alg)?)),
    };
    Ok(Keys { provider: keys, remote: remote_keys })
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
