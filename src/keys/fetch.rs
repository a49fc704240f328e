//! One bounded HTTP GET of a JSON document: a size cap, conditional request headers, and the
//! freshness the server granted (`Cache-Control: max-age`); and why a fetch failed.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use reqwest::Url;

use crate::keys::KeyError;

/// Why fetching a remote key set (or the discovery document naming it) failed. Shared, behind
/// an `Arc`, by every request that waited on the fetch; the source of [`KeyError::Fetch`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// The request could not be sent or its answer not read (refused, reset, DNS, TLS, too
    /// many redirects, a redirect to a URL that is not https).
    #[error("the request failed")]
    Request(#[source] reqwest::Error),
    /// No complete answer within the fetch timeout.
    #[error("no complete answer within {0:?}")]
    TimedOut(Duration),
    /// An answer other than success (or `304 Not Modified` to a conditional request).
    #[error("HTTP status {0}")]
    Status(StatusCode),
    /// A body over the size cap.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// `304 Not Modified` although no set is cached.
    #[error("304 Not Modified without a cached set")]
    NotModifiedWithoutSet,
    /// The key set fetched is unusable (not JSON, not a JWKS, no usable key).
    #[error("unusable key set")]
    KeySet(#[source] KeyError),
    /// A discovery document that is not JSON with `issuer` and `jwks_uri` strings.
    #[error("not a discovery document")]
    NotDiscovery(#[source] serde_json::Error),
    /// The discovery document names another issuer (OpenID Connect Discovery §4.3, RFC 8414
    /// §3.3).
    #[error("the document names issuer `{found}`, not the configured `{expected}`")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
    /// The discovery document's `jwks_uri` does not parse.
    #[error("jwks_uri `{uri}` is not a URL")]
    JwksUriNotUrl {
        /// The document's `jwks_uri`.
        uri: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// The discovery document's `jwks_uri` is plain `http` off loopback.
    #[error("jwks_uri `{0}` is not https")]
    JwksUriInsecure(String),
    /// Neither metadata location gave a discovery document; the source is the first
    /// location's failure.
    #[error("no discovery document (also tried {other_url}: {other})")]
    NoDiscoveryDocument {
        /// The second location tried.
        other_url: String,
        /// Why the second location failed, with its causes.
        other: String,
        /// Why the first location failed.
        #[source]
        source: Box<FetchError>,
    },
}

/// What the server answered.
pub(crate) enum Fetched {
    /// A new document.
    Body { body: Vec<u8>, max_age: Option<Duration>, validators: Validators },
    /// `304 Not Modified`: the cached document is still current.
    NotModified { max_age: Option<Duration> },
}

/// `ETag` and `Last-Modified` of the cached document, sent back as `If-None-Match` and
/// `If-Modified-Since` (RFC 9110 §13.1).
#[derive(Debug, Clone, Default)]
pub(crate) struct Validators {
    pub(crate) etag: Option<HeaderValue>,
    pub(crate) last_modified: Option<HeaderValue>,
}

/// Whether a URL may be fetched: `https`, or `http` to a loopback host, or `http` anywhere
/// when allowed explicitly.
pub(crate) fn url_allowed(url: &Url, allow_http: bool) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => allow_http || is_loopback(url),
        _ => false,
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// GETs `url`, reading at most `max_bytes` of body; the caller bounds the time.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &Url,
    max_bytes: usize,
    validators: Option<&Validators>,
) -> Result<Fetched, FetchError> {
    let mut request = client
        .get(url.clone())
        .header(header::ACCEPT, "application/jwk-set+json, application/json;q=0.9, */*;q=0.1");
    if let Some(validators) = validators {
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(last_modified) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, last_modified.clone());
        }
    }
    let mut response = request.send().await.map_err(FetchError::Request)?;
    let status = response.status();
    let max_age = max_age(response.headers());
    if status == StatusCode::NOT_MODIFIED && validators.is_some() {
        return Ok(Fetched::NotModified { max_age });
    }
    if !status.is_success() {
        return Err(FetchError::Status(status));
    }
    if response.content_length().is_some_and(|len| len > max_bytes as u64) {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let validators = Validators {
        etag: response.headers().get(header::ETAG).cloned(),
        last_modified: response.headers().get(header::LAST_MODIFIED).cloned(),
    };
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(FetchError::Request)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body { body, max_age, validators })
}

/// `Cache-Control: max-age` in seconds; `no-cache` and `no-store` count as zero (the caller
/// clamps to its minimum).
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=") {
                found = seconds.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        let allowed = |url: &str, allow_http| url_allowed(&Url::parse(url).unwrap(), allow_http);
        assert!(allowed("https://idp.example/jwks", false));
        assert!(allowed("http://127.0.0.1:8080/jwks", false));
        assert!(allowed("http://[::1]/jwks", false));
        assert!(allowed("http://localhost/jwks", false));
        assert!(!allowed("http://idp.example/jwks", false));
        assert!(allowed("http://idp.example/jwks", true));
        assert!(!allowed("ftp://idp.example/jwks", true));
        assert!(!allowed("file:///etc/passwd", true));
    }

    #[test]
    fn cache_control_max_age() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
            max_age(&headers)
        };
        assert_eq!(with("public, max-age=3600"), Some(Duration::from_secs(3600)));
        assert_eq!(with("Max-Age=60, must-revalidate"), Some(Duration::from_secs(60)));
        assert_eq!(with("no-store"), Some(Duration::ZERO));
        assert_eq!(with("public"), None);
        assert_eq!(with("max-age=soon"), None);
    }
}
