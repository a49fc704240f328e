//! Refusals as gRPC clients understand them: a trailers-only answer (HTTP 200,
//! `content-type: application/grpc`, `grpc-status` and `grpc-message` in the headers), as the
//! gRPC over HTTP/2 protocol describes for a call that fails before any message.
//!
//! A gRPC client reads the outcome of a call from `grpc-status`, not from the HTTP status: a
//! plain 401 reaches a tonic client as "grpc-status header missing, mapped from HTTP status
//! code 401", and a 400 as `Internal`. Every rejection of this crate answers a request whose
//! `content-type` is `application/grpc` (or `application/grpc+proto`, …) this way, with no
//! body whatever the renderer (a gRPC client reads a body as a length-prefixed message);
//! [`crate::GrpcStatus`] answers every request this way, for a server that speaks only gRPC.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::error::{AuthError, Challenge};

/// The gRPC status codes a refusal maps to (gRPC's `statuscodes.md`).
mod code {
    pub const INVALID_ARGUMENT: u8 = 3;
    pub const PERMISSION_DENIED: u8 = 7;
    pub const INTERNAL: u8 = 13;
    pub const UNAVAILABLE: u8 = 14;
    pub const UNAUTHENTICATED: u8 = 16;
}

/// Whether `headers` announce a gRPC call: `application/grpc`, alone or with a `+format` or
/// parameters. gRPC-Web (`application/grpc-web…`) is another protocol and is not included.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let Some(rest) = value.get(..16).filter(|start| start.eq_ignore_ascii_case("application/grpc"))
    else {
        return false;
    };
    let rest = &value[rest.len()..];
    rest.is_empty() || rest.starts_with('+') || rest.starts_with(';')
}

/// Turns a refusal whose body is empty into a trailers-only gRPC answer: HTTP 200, the gRPC
/// status and message from `error`, and the challenge headers the HTTP answer would carry.
/// A `Content-Length` the renderer gave is removed: it described a body that is not sent.
pub(crate) fn apply_grpc<B>(error: &AuthError, challenge: &Challenge, response: &mut Response<B>) {
    // The challenge, `DPoP-Nonce` and `Retry-After` exactly as for HTTP (gRPC clients see
    // every response header as metadata); then the status.
    error.apply_to(challenge, response);
    let http_status = response.status();
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.remove(CONTENT_LENGTH);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(
        HeaderName::from_static("grpc-status"),
        HeaderValue::from(u16::from(grpc_code(http_status))),
    );
    if let Ok(value) = HeaderValue::from_str(&percent_encode(&error.description())) {
        headers.insert(HeaderName::from_static("grpc-message"), value);
    }
}

fn grpc_code(status: StatusCode) -> u8 {
    match status {
        StatusCode::BAD_REQUEST => code::INVALID_ARGUMENT,
        StatusCode::UNAUTHORIZED => code::UNAUTHENTICATED,
        StatusCode::FORBIDDEN => code::PERMISSION_DENIED,
        StatusCode::SERVICE_UNAVAILABLE => code::UNAVAILABLE,
        _ => code::INTERNAL,
    }
}

/// The message of a refusal whose description is empty (no credentials, a store that could
/// not answer, a misconfigured service): still nothing of the request.
/// `grpc-message` is percent-encoded: every byte outside visible ASCII and space, and `%`
/// itself, becomes `%XX` (gRPC over HTTP/2, "Responses").
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Misconfiguration;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn grpc_content_types() {
        for grpc in ["application/grpc", "application/grpc+proto", "Application/GRPC;x=1"] {
            assert!(is_grpc(&headers(grpc)), "{grpc}");
        }
        for other in ["application/grpc-web", "application/json", "application/grp", ""] {
            assert!(!is_grpc(&headers(other)), "{other}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("token expired"), "token expired");
        assert_eq!(percent_encode("100% ünï\r\n"), "100%25 %C3%BCn%C3%AF%0D%0A");
    }

    #[test]
    fn statuses_map_to_grpc_codes() {
        let challenge = Challenge::bearer("api");
        for (error, code, message) in [
            (AuthError::MissingCredentials, "16", "authentication required"),
            (AuthError::Expired, "16", "token expired"),
            (AuthError::InsufficientRole, "7", "insufficient role"),
            (AuthError::StateUnavailable, "14", "token state unavailable"),
            (AuthError::Misconfigured(Misconfiguration::RolesNotRead), "13", "internal error"),
        ] {
            let mut response = Response::new(());
            // Left by a renderer whose body was dropped.
            response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from_static("37"));
            apply_grpc(&error, &challenge, &mut response);
            assert!(response.headers().get(CONTENT_LENGTH).is_none());
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-type"], "application/grpc");
            assert_eq!(response.headers()["grpc-status"], code, "{error}");
            assert_eq!(response.headers()["grpc-message"], message);
        }
    }
}
