//! OpenID Connect Discovery 1.0 and RFC 8414: from an issuer to its `jwks_uri`.

use reqwest::Url;
use serde::Deserialize;

use crate::keys::error::chain;
use crate::keys::fetch::{FetchError, Fetched, get_json, url_allowed};

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

/// Fetches the issuer's metadata and returns its `jwks_uri`; on failure, the URL of the
/// document that failed and why.
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
) -> Result<Url, (Url, FetchError)> {
    let mut first_failure: Option<(Url, FetchError)> = None;
    for url in metadata_urls(issuer_url) {
        let metadata = match read_metadata(client, &url, max_bytes).await {
            Ok(metadata) => metadata,
            Err(err) => match first_failure.take() {
                None => {
                    first_failure = Some((url, err));
                    continue;
                }
                Some((first_url, first)) => {
                    let other = chain(&err);
                    let other_url = url.to_string();
                    let source = Box::new(first);
                    return Err((
                        first_url,
                        FetchError::NoDiscoveryDocument { other_url, other, source },
                    ));
                }
            },
        };
        if metadata.issuer != issuer {
            let found = metadata.issuer;
            return Err((url, FetchError::IssuerMismatch { expected: issuer.to_owned(), found }));
        }
        let jwks_uri = match Url::parse(&metadata.jwks_uri) {
            Ok(jwks_uri) => jwks_uri,
            Err(source) => {
                return Err((url, FetchError::JwksUriNotUrl { uri: metadata.jwks_uri, source }));
            }
        };
        if !url_allowed(&jwks_uri, allow_http) {
            return Err((url, FetchError::JwksUriInsecure(jwks_uri.to_string())));
        }
        return Ok(jwks_uri);
    }
    Err(first_failure.expect("two metadata locations are tried"))
}

/// One metadata document.
async fn read_metadata(
    client: &reqwest::Client,
    url: &Url,
    max_bytes: usize,
) -> Result<Metadata, FetchError> {
    match get_json(client, url, max_bytes, None).await? {
        Fetched::Body { body, .. } => {
            serde_json::from_slice(&body).map_err(FetchError::NotDiscovery)
        }
        Fetched::NotModified { .. } => unreachable!("no validators were sent"),
    }
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
