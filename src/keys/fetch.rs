//! One bounded HTTP GET of a JSON document: a size cap, conditional request headers, and the
//! freshness the server granted (`Cache-Control: max-age`).

use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use reqwest::Url;

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
) -> Result<Fetched, String> {
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
    let mut response = request.send().await.map_err(|err| describe(&err))?;
    let status = response.status();
    let max_age = max_age(response.headers());
    if status == StatusCode::NOT_MODIFIED && validators.is_some() {
        return Ok(Fetched::NotModified { max_age });
    }
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    if response.content_length().is_some_and(|len| len > max_bytes as u64) {
        return Err(format!("response larger than {max_bytes} bytes"));
    }
    let validators = Validators {
        etag: response.headers().get(header::ETAG).cloned(),
        last_modified: response.headers().get(header::LAST_MODIFIED).cloned(),
    };
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| describe(&err))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(format!("response larger than {max_bytes} bytes"));
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

/// reqwest's errors name the URL and the cause chain; keep both, they are not secret.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
