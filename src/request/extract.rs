//! Finding the bearer token in a request (RFC 6750 §2).

use std::borrow::Cow;

use http::{HeaderMap, Uri, header};

use crate::error::AuthError;
use crate::reason::{MalformedReason, RequestReason};

/// Optional places a token may come from besides the `Authorization` header.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenSources {
    /// A cookie name (browser apps).
    pub(crate) cookie: Option<Box<str>>,
    /// A query parameter name; `None` unless the user turned it on (RFC 6750 §2.3).
    pub(crate) query: Option<Box<str>>,
}

/// The authorization scheme a token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    /// RFC 9449 §7.1; only recognised when DPoP is configured.
    Dpop,
}

/// A token and how it was sent.
#[derive(Debug)]
pub(crate) struct Found<'r> {
    pub(crate) token: Cow<'r, str>,
    pub(crate) scheme: Scheme,
}

/// Room for the scheme and spaces around a token of the maximum size.
const SCHEME_ALLOWANCE: usize = 64;

/// Finds the token of a request.
///
/// - one `Authorization` header with scheme `Bearer` in any casing (RFC 7235 §2.1), one or
///   more spaces, then a `b64token`: the token;
/// - several `Authorization` headers, or `Bearer` without a token: 400 `invalid_request`;
/// - another scheme (`Basic`, ...): no bearer credentials from the header, so the cookie and
///   query parameter, when configured, may still carry the token (a browser may send `Basic`
///   credentials meant for a proxy or another layer along with its session cookie);
/// - a token in more than one place (any two or all three of header, cookie and query
///   parameter): 400 `invalid_request`, never "the first one wins" (RFC 6750 §2: clients
///   MUST NOT use more than one method). Otherwise whoever can plant a cookie on the domain
///   (cookie tossing from a sibling subdomain) or hand the user a link with a token in it
///   could choose, or hide behind, the token that is verified;
/// - nothing at all: `Ok(None)`.
pub(crate) fn find_token<'r>(
    headers: &'r HeaderMap,
    uri: &'r Uri,
    sources: &TokenSources,
    max_token_bytes: usize,
    accept_dpop: bool,
) -> Result<Option<Found<'r>>, AuthError> {
    let from_header = token_from_header(headers, max_token_bytes, accept_dpop)?;
    let from_cookie = match sources.cookie.as_deref() {
        Some(name) => cookie(headers, name)?,
        None => None,
    };
    let from_query = match &sources.query {
        Some(name) => query_parameter(uri, name)?,
        None => None,
    };
    match (from_header, from_cookie, from_query) {
        (None, None, None) => Ok(None),
        (Some((scheme, token)), None, None) => {
            Ok(Some(Found { token: Cow::Borrowed(token), scheme }))
        }
        (None, Some(token), None) => {
            Ok(Some(Found { token: Cow::Borrowed(token), scheme: Scheme::Bearer }))
        }
        (None, None, Some(token)) => Ok(Some(Found { token, scheme: Scheme::Bearer })),
        _ => Err(AuthError::InvalidRequest(RequestReason::SeveralTokenPlaces)),
    }
}

fn token_from_header(
    headers: &HeaderMap,
    max_token_bytes: usize,
    accept_dpop: bool,
) -> Result<Option<(Scheme, &str)>, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(RequestReason::SeveralAuthorizationHeaders));
    }
    if value.len() > max_token_bytes + SCHEME_ALLOWANCE {
        return Err(AuthError::TokenTooLarge);
    }
    // Compare the scheme on bytes first: another scheme's credentials (`Basic`, `Digest`) are
    // not ours to judge, even when they are not ASCII.
    let bytes = value.as_bytes();
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(bytes.len());
    let scheme_end = bytes[start..]
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .map_or(bytes.len(), |i| start + i);
    let scheme = &bytes[start..scheme_end];
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if accept_dpop && scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let credentials = &bytes[scheme_end..];
    match common_token(credentials, max_token_bytes) {
        Some(token) => Ok(Some((scheme, token))),
        None => careful_token(credentials, max_token_bytes).map(|token| Some((scheme, token))),
    }
}

/// The usual request: spaces, then a token of `b64token` characters up to the end of the
/// value, no padding. One branch-free pass settles it; anything else goes to
/// [`careful_token`], which names the problem.
fn common_token(credentials: &[u8], max_token_bytes: usize) -> Option<&str> {
    let start = credentials.iter().position(|&b| b != b' ' && b != b'\t')?;
    let token = &credentials[start..];
    let valid = token.iter().fold(true, |ok, &b| ok & in_b64token(b));
    if start == 0 || !valid || token.len() > max_token_bytes {
        return None;
    }
    // All ASCII by now, so this does not fail.
    std::str::from_utf8(token).ok()
}

/// The credentials after the scheme, checked step by step so each refusal says what is wrong.
fn careful_token(credentials: &[u8], max_token_bytes: usize) -> Result<&str, AuthError> {
    let rest = std::str::from_utf8(credentials)
        .ok()
        .filter(|rest| rest.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
        .ok_or(AuthError::InvalidRequest(RequestReason::NotVisibleAscii))?;
    let rest = rest.trim_end_matches([' ', '\t']);
    let token = rest.trim_start_matches([' ', '\t']);
    if token.is_empty() {
        return Err(AuthError::InvalidRequest(RequestReason::SchemeWithoutToken));
    }
    if token.bytes().any(|b| b == b' ' || b == b'\t' || b == b',') {
        return Err(AuthError::InvalidRequest(RequestReason::MalformedCredentials));
    }
    if token.len() > max_token_bytes {
        return Err(AuthError::TokenTooLarge);
    }
    if !is_b64token(token) {
        return Err(AuthError::Malformed(MalformedReason::NotB64Token));
    }
    Ok(token)
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(in_b64token)
}

/// RFC 6750 §2.1 `b64token` characters. Range checks rather than a table lookup, so a loop
/// over a token vectorizes.
#[inline(always)]
fn in_b64token(b: u8) -> bool {
    // `| 0x20` folds ASCII upper case onto lower case and maps no other byte into a..z.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// The token cookie's value. The name given twice is refused, never "the first one wins": a
/// sibling subdomain can set a cookie of the same name for the parent domain (cookie tossing),
/// and the browser sends both.
///
/// Cookie headers are read as bytes: one byte that is not ASCII (obs-text, which HTTP servers
/// accept) must not hide the cookies beside it, or a second token cookie slips past the check
/// above. Names are compared the way the most lenient parser downstream would read them:
/// trimmed of white space (Go's and Node's parsers read `at =x` as the cookie `at`), and a name
/// without `=` counts as the cookie with an empty value (as Go reads it). A token cookie whose
/// value is not visible ASCII is refused: two parsers could read it differently.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    let mut found: Option<&[u8]> = None;
    let pairs = headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'));
    for pair in pairs {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        if trim_cookie_space(key) != name.as_bytes() {
            continue;
        }
        if found.is_some() {
            return Err(AuthError::InvalidRequest(RequestReason::RepeatedCookie));
        }
        found = Some(trim_cookie_space(value));
    }
    let Some(value) = found else {
        return Ok(None);
    };
    // RFC 6265 §4.1.1: a value may be wrapped in one pair of double quotes.
    let value =
        value.strip_prefix(b"\"").and_then(|inner| inner.strip_suffix(b"\"")).unwrap_or(value);
    if !value.iter().all(|b| (b'!'..=b'~').contains(b)) {
        return Err(AuthError::InvalidRequest(RequestReason::MalformedCookie));
    }
    // Visible ASCII by now, so this does not fail.
    Ok(std::str::from_utf8(value).ok().filter(|value| !value.is_empty()))
}

/// Trims what any cookie parser trims around a name or value: ASCII white space, and the
/// no-break space a Latin-1 reading of 0xA0 gives JavaScript's `trim()`.
fn trim_cookie_space(bytes: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0xA0);
    let start = bytes.iter().position(|b| !space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !space(b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The token query parameter's value (only when the application turned it on). Names are
/// form-decoded before they are compared (`access%5Ftoken` is `access_token` to every form
/// decoder), so a second token cannot hide behind an escape; a name that cannot be decoded is
/// no name a decoder would read as this one.
fn query_parameter<'u>(uri: &'u Uri, name: &str) -> Result<Option<Cow<'u, str>>, AuthError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(key).ok().as_deref() != Some(name) {
            continue;
        }
        if found.is_some() {
            return Err(AuthError::InvalidRequest(RequestReason::RepeatedTokenParameter));
        }
        if value.is_empty() {
            return Err(AuthError::InvalidRequest(RequestReason::EmptyTokenParameter));
        }
        let value = form_decode(value)
            .map_err(|()| AuthError::InvalidRequest(RequestReason::MalformedTokenParameter))?;
        found = Some(value);
    }
    Ok(found)
}

/// `application/x-www-form-urlencoded` decoding (RFC 6750 §2.3): `+` is a space, and `%` is
/// followed by exactly two hex digits (no sign, no single digit). The result must be UTF-8.
fn form_decode(text: &str) -> Result<Cow<'_, str>, ()> {
    if !text.contains(['%', '+']) {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let digits = bytes.get(i + 1..i + 3).ok_or(())?;
                let hex = |b: u8| (b as char).to_digit(16).ok_or(());
                out.push((hex(digits[0])? * 16 + hex(digits[1])?) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_auth(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn find(
        headers: &HeaderMap,
        uri: &str,
        sources: &TokenSources,
    ) -> Result<Option<String>, AuthError> {
        let uri: Uri = uri.parse().unwrap();
        find_token(headers, &uri, sources, 100, false).map(|t| t.map(|t| t.token.into_owned()))
    }

    #[test]
    fn header_rules_of_rfc_6750() {
        let none = TokenSources::default();
        let ok = |v: &str| find(&with_auth(&[v]), "/", &none);
        assert_eq!(ok("Bearer abc.def.ghi").unwrap().as_deref(), Some("abc.def.ghi"));
        assert_eq!(ok("bEaReR   abc").unwrap().as_deref(), Some("abc"));
        assert_eq!(ok("Basic dXNlcjpwYXNz").unwrap(), None);
        let latin1 = HeaderMap::from_iter([(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Basic \xfc").unwrap(),
        )]);
        assert_eq!(find(&latin1, "/", &none).unwrap(), None);
        assert!(matches!(ok("Bearer"), Err(AuthError::InvalidRequest(_))));
        assert!(matches!(ok("Bearer   "), Err(AuthError::InvalidRequest(_))));
        assert!(matches!(ok("Bearer a b"), Err(AuthError::InvalidRequest(_))));
        assert!(matches!(ok("Bearer a\"b"), Err(AuthError::Malformed(_))));
        assert!(matches!(
            ok(&format!("Bearer {}", "a".repeat(101))),
            Err(AuthError::TokenTooLarge)
        ));
        assert!(matches!(
            find(&with_auth(&["Bearer a", "Bearer b"]), "/", &none),
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn query_only_when_enabled_and_never_with_a_header() {
        let none = TokenSources::default();
        assert_eq!(find(&HeaderMap::new(), "/?access_token=abc", &none).unwrap(), None);
        let query = TokenSources { query: Some("access_token".into()), ..Default::default() };
        assert_eq!(
            find(&HeaderMap::new(), "/?x=1&access_token=a%2Eb", &query).unwrap().as_deref(),
            Some("a.b")
        );
        assert!(find(&with_auth(&["Bearer a"]), "/?access_token=abc", &query).is_err());
        assert!(find(&HeaderMap::new(), "/?access_token=a&access_token=b", &query).is_err());
    }

    #[test]
    fn the_b64token_alphabet_of_rfc_6750() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(in_b64token(b), expected, "byte {b:#04x}");
        }
    }

    proptest::proptest! {
        /// The one-pass path only ever takes what the step-by-step path accepts, unchanged.
        #[test]
        fn common_path_agrees_with_the_careful_one(
            credentials in proptest::collection::vec(
                proptest::sample::select(b"aZ09-._~+/= \t,\"\x7f\x80\xff".to_vec()), 0..24),
            max in 0usize..20,
        ) {
            if let Some(token) = common_token(&credentials, max) {
                proptest::prop_assert_eq!(careful_token(&credentials, max).ok(), Some(token));
            }
        }
    }

    #[test]
    fn a_token_cookie_given_twice_is_refused() {
        let sources = TokenSources { cookie: Some("session".into()), ..Default::default() };
        let twice = |value: &'static str| {
            HeaderMap::from_iter([(header::COOKIE, HeaderValue::from_static(value))])
        };
        for headers in [twice("session=a.b.c; session=d.e.f"), twice("session=a.b.c; session=")] {
            assert_eq!(
                find(&headers, "/", &sources).unwrap_err(),
                AuthError::InvalidRequest(RequestReason::RepeatedCookie)
            );
        }
        let mut two_headers = twice("session=a.b.c");
        two_headers.append(header::COOKIE, HeaderValue::from_static("session=d.e.f"));
        assert!(find(&two_headers, "/", &sources).is_err());
        // Other cookies of the same prefix are other names.
        let headers = twice("session_id=x; session=a.b.c; sessions=y");
        assert_eq!(find(&headers, "/", &sources).unwrap().as_deref(), Some("a.b.c"));
    }

    /// A byte that is not ASCII elsewhere in a Cookie header hides nothing: the header is read
    /// as bytes, so a second token cookie beside it is seen and refused.
    #[test]
    fn a_cookie_header_with_obs_text_hides_no_token_cookie() {
        let sources = TokenSources { cookie: Some("at".into()), ..Default::default() };
        let cookie = |value: &[u8]| {
            HeaderMap::from_iter([(header::COOKIE, HeaderValue::from_bytes(value).unwrap())])
        };
        assert_eq!(
            find(&cookie(b"lang=fr\xE9; at=a.b.c"), "/", &sources).unwrap().as_deref(),
            Some("a.b.c")
        );
        let mut two = cookie(b"lang=fr\xE9; at=a.b.c");
        two.append(header::COOKIE, HeaderValue::from_static("at=d.e.f"));
        assert_eq!(
            find(&two, "/", &sources),
            Err(AuthError::InvalidRequest(RequestReason::RepeatedCookie))
        );
        assert_eq!(
            find(&cookie(b"at=a.b.c\xE9"), "/", &sources),
            Err(AuthError::InvalidRequest(RequestReason::MalformedCookie))
        );
        // With a Bearer header, the hidden cookie is a second place.
        let mut with_header = cookie(b"lang=fr\xE9; at=d.e.f");
        with_header.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        assert_eq!(
            find(&with_header, "/", &sources),
            Err(AuthError::InvalidRequest(RequestReason::SeveralTokenPlaces))
        );
    }

    /// Go's and Node's parsers trim names (`at =x`, `\tat=x`, and Node's `trim()` takes a
    /// Latin-1 no-break space too) and Go reads a bare `at` as the cookie `at`: each is the token
    /// cookie, so beside another it is a repetition.
    #[test]
    fn cookie_names_are_read_as_the_most_lenient_parser_reads_them() {
        let sources = TokenSources { cookie: Some("at".into()), ..Default::default() };
        for header in [
            &b"at =d.e.f; at=a.b.c"[..],
            b"\tat\t=d.e.f; at=a.b.c",
            b"\xA0at=d.e.f; at=a.b.c",
            b"at; at=a.b.c",
            b"at=a.b.c; at= d.e.f",
        ] {
            let headers =
                HeaderMap::from_iter([(header::COOKIE, HeaderValue::from_bytes(header).unwrap())]);
            assert_eq!(
                find(&headers, "/", &sources),
                Err(AuthError::InvalidRequest(RequestReason::RepeatedCookie)),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
        let quoted =
            HeaderMap::from_iter([(header::COOKIE, HeaderValue::from_static("at=\"a.b.c\""))]);
        assert_eq!(find(&quoted, "/", &sources).unwrap().as_deref(), Some("a.b.c"));
        let other =
            HeaderMap::from_iter([(header::COOKIE, HeaderValue::from_static("a t=x; att=y"))]);
        assert_eq!(find(&other, "/", &sources).unwrap(), None);
    }

    /// Form decoders read `access%5Ftoken` as `access_token`: a second token behind an escaped
    /// name is a repeated parameter.
    #[test]
    fn query_names_are_form_decoded_before_they_are_compared() {
        let query = TokenSources { query: Some("access_token".into()), ..Default::default() };
        for uri in [
            "/?access_token=a&access%5Ftoken=b",
            "/?access_token=a&access%5ftoken=b",
            "/?%61ccess_token=a&access_token=b",
        ] {
            assert_eq!(
                find(&HeaderMap::new(), uri, &query),
                Err(AuthError::InvalidRequest(RequestReason::RepeatedTokenParameter)),
                "{uri}"
            );
        }
        assert_eq!(
            find(&HeaderMap::new(), "/?access%5Ftoken=a.b", &query).unwrap().as_deref(),
            Some("a.b")
        );
        // Names that no decoder reads as the token parameter.
        assert_eq!(
            find(&HeaderMap::new(), "/?access_token%zz=a&access+token=b", &query).unwrap(),
            None
        );
    }

    /// A percent escape is `%` and exactly two hex digits: `from_str_radix` would take `+1`.
    #[test]
    fn a_percent_escape_is_exactly_two_hex_digits() {
        let query = TokenSources { query: Some("access_token".into()), ..Default::default() };
        for uri in [
            "/?access_token=a%+1b",
            "/?access_token=a%-1b",
            "/?access_token=a%2",
            "/?access_token=%ff",
        ] {
            assert_eq!(
                find(&HeaderMap::new(), uri, &query),
                Err(AuthError::InvalidRequest(RequestReason::MalformedTokenParameter)),
                "{uri}"
            );
        }
        assert_eq!(form_decode("a%2Eb%2e+c").unwrap(), "a.b. c");
    }

    #[test]
    fn cookie_alone_is_read() {
        let sources = TokenSources { cookie: Some("session".into()), ..Default::default() };
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; session=abc.def.ghi"));
        assert_eq!(find(&headers, "/", &sources).unwrap().as_deref(), Some("abc.def.ghi"));
        // Another scheme's credentials are no token: the cookie is still the one.
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwYXNz"));
        assert_eq!(find(&headers, "/", &sources).unwrap().as_deref(), Some("abc.def.ghi"));
    }

    #[test]
    fn a_token_in_two_or_three_places_is_refused_rfc6750_2() {
        let both =
            TokenSources { cookie: Some("session".into()), query: Some("access_token".into()) };
        let cookie =
            HeaderMap::from_iter([(header::COOKIE, HeaderValue::from_static("session=c"))]);
        let mut all = with_auth(&["Bearer h"]);
        all.insert(header::COOKIE, HeaderValue::from_static("session=c"));
        let cases: [(&HeaderMap, &str); 4] = [
            (&all, "/"),
            (&with_auth(&["Bearer h"]), "/?access_token=q"),
            (&cookie, "/?access_token=q"),
            (&all, "/?access_token=q"),
        ];
        for (headers, uri) in cases {
            assert_eq!(
                find(headers, uri, &both),
                Err(AuthError::InvalidRequest(RequestReason::SeveralTokenPlaces)),
                "{headers:?} {uri}"
            );
        }
        // One place, whichever it is, is fine.
        assert_eq!(find(&with_auth(&["Bearer h"]), "/", &both).unwrap().as_deref(), Some("h"));
        assert_eq!(find(&cookie, "/", &both).unwrap().as_deref(), Some("c"));
        assert_eq!(
            find(&HeaderMap::new(), "/?access_token=q", &both).unwrap().as_deref(),
            Some("q")
        );
    }
}
