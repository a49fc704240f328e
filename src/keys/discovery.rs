//! OpenID Connect Discovery 1.0 and RFC 8414: from an issuer to its `jwks_uri`.

use reqwest::Url;
use serde::Deserialize;

use crate::keys::fetch::{Fetched, get_json, url_allowed};

/// The members of a discovery document this crate reads.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

/// Where the metadata of `issuer` may be published, in the order tried: OpenID Connect
/// Discovery §4 (`{issuer}/.well-known/openid-configuration`), then RFC 8414 §3
/// (`/.well-known/oauth-authorization-server` inserted before the issuer's path).
pub(crate) fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut urls = vec![oidc, oauth];
    for url in &mut urls {
        url.set_query(None);
        url.set_fragment(None);
    }
    urls
}

/// Fetches the issuer's metadata and returns its `jwks_uri`.
///
/// The document's `issuer` must equal the configured issuer exactly (OpenID Connect Discovery
/// §4.3, RFC 8414 §3.3): otherwise a compromised or mistaken document could point at another
/// issuer's keys.
pub(crate) async fn discover_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    issuer_url: &Url,
    max_bytes: usize,
    allow_http: bool,
) -> Result<Url, String> {
    let mut errors = Vec::new();
    for url in metadata_urls(issuer_url) {
        let body = match get_json(client, &url, max_bytes, None).await {
            Ok(Fetched::Body { body, .. }) => body,
            Ok(Fetched::NotModified { .. }) => unreachable!("no validators were sent"),
            Err(err) => {
                errors.push(format!("{url}: {err}"));
                continue;
            }
        };
        let metadata: Metadata = match serde_json::from_slice(&body) {
            Ok(metadata) => metadata,
            Err(err) => {
                errors.push(format!("{url}: not a discovery document: {err}"));
                continue;
            }
        };
        if metadata.issuer != issuer {
            return Err(format!(
                "{url}: the document names issuer `{}`, not the configured `{issuer}`",
                metadata.issuer
            ));
        }
        let jwks_uri = Url::parse(&metadata.jwks_uri)
            .map_err(|err| format!("{url}: jwks_uri is not a URL: {err}"))?;
        if !url_allowed(&jwks_uri, allow_http) {
            return Err(format!("{url}: jwks_uri `{jwks_uri}` is not https"));
        }
        return Ok(jwks_uri);
    }
    Err(errors.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_locations() {
        let urls = |issuer: &str| -> Vec<String> {
            metadata_urls(&Url::parse(issuer).unwrap()).iter().map(Url::to_string).collect()
        };
        assert_eq!(
            urls("https://idp.example"),
            [
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            urls("https://idp.example/realms/demo/"),
            [
                "https://idp.example/realms/demo/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server/realms/demo"
            ]
        );
    }
}
