//! `JWT_CORS_ALLOWED_ORIGINS`: browser applications on other origins. The `CorsLayer` goes
//! outside every route (and so outside the verifier), where it answers preflights itself and
//! adds its headers to every answer, refusals included; the page may read a refusal's
//! `WWW-Authenticate` and `DPoP-Nonce`.

use std::env;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::CorsLayer;

const VARIABLE: &str = "JWT_CORS_ALLOWED_ORIGINS";

/// The `CorsLayer` for the origins of `JWT_CORS_ALLOWED_ORIGINS` (comma-separated), or `None`
/// when it is unset or empty: then no answer carries a CORS header, and a preflight is
/// refused like any request without a token.
pub fn from_env() -> Result<Option<CorsLayer>, String> {
    let list = match env::var(VARIABLE) {
        Ok(list) if list.trim().is_empty() => return Ok(None),
        Ok(list) => list,
        Err(env::VarError::NotPresent) => return Ok(None),
        Err(env::VarError::NotUnicode(_)) => return Err(format!("{VARIABLE} is not valid UTF-8")),
    };
    let origins = list.split(',').map(origin).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origins)
            // Every route of the gateway is a GET.
            .allow_methods([Method::GET])
            .allow_headers([header::AUTHORIZATION, HeaderName::from_static("dpop")])
            .expose_headers([header::WWW_AUTHENTICATE, HeaderName::from_static("dpop-nonce")]),
    ))
}

/// One entry: `http(s)://host[:port]`, compared with the `Origin` header byte for byte, so it
/// is kept as browsers send it (lower-case host, no default port, no trailing `/`).
fn origin(entry: &str) -> Result<HeaderValue, String> {
    let entry = entry.trim();
    let bad = |why: &str| {
        format!("{VARIABLE}: {entry:?} is not an origin like https://app.example.com: {why}")
    };
    if entry == "*" || entry == "null" {
        return Err(bad("list each origin allowed to call this API"));
    }
    let url = url::Url::parse(entry).map_err(|err| bad(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("expected http(s)://host[:port]"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("only scheme, host and port"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no credentials"));
    }
    HeaderValue::from_str(&url.origin().ascii_serialization()).map_err(|err| bad(&err.to_string()))
}
