//! The protected resource's identifier (RFC 8707 §2, RFC 9728 §1.2): its canonical form, the
//! comparison of a token's `aud` values with it, and where its metadata lives (RFC 9728 §3.1).
//!
//! The canonical form is the one the Model Context Protocol's authorization specification asks
//! clients to send as the `resource` parameter: scheme and host in lower case, no fragment, no
//! user info, no default port, and no trailing slash. The same rules turn a token's `aud` value
//! into that form before it is compared; nothing else is normalized (see
//! [`crate::JwtAuthBuilder::resource`] for the exact list).

use std::fmt::Write as _;
use std::sync::Arc;

pub(crate) use crate::reason::ResourceProblem;

/// The well-known URI suffix of RFC 9728 §3.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A resource identifier, checked and in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resource {
    /// The canonical form: what the metadata's `resource` says and what `aud` must equal.
    canonical: Arc<str>,
    /// Where the metadata is served, in the resource's own origin (RFC 9728 §3.1).
    well_known_path: Arc<str>,
    /// The metadata's absolute URL, for the challenges' `resource_metadata` (RFC 9728 §5.1).
    metadata_url: Arc<str>,
}

impl Resource {
    /// Checks `uri` and puts it into canonical form.
    pub(crate) fn parse(uri: &str) -> Result<Resource, ResourceProblem> {
        // RFC 3986 §2: visible ASCII, without the characters a URI never holds (these include
        // the `"` and `\` a quoted-string in a challenge cannot carry).
        let uri_char = |b: u8| (b'!'..=b'~').contains(&b) && !b"\"<>\\^`{|}".contains(&b);
        if !uri.bytes().all(uri_char) {
            return Err(ResourceProblem::NotAnUrl);
        }
        if uri.contains('#') {
            return Err(ResourceProblem::Fragment);
        }
        let parts = Parts::split(uri).ok_or(ResourceProblem::NotAnUrl)?;
        if parts.authority.contains('@') {
            return Err(ResourceProblem::UserInfo);
        }
        if parts.query.is_some() {
            return Err(ResourceProblem::Query);
        }
        if parts.path.split('/').any(is_dot_segment) {
            return Err(ResourceProblem::DotSegment);
        }
        // The URL parser checks what the split does not: host characters, port range.
        let parsed = url::Url::parse(uri).map_err(|_| ResourceProblem::NotAnUrl)?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err(ResourceProblem::NotAnUrl),
        };
        if parsed.port() == Some(0) {
            return Err(ResourceProblem::PortZero);
        }
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(ResourceProblem::NotHttps),
            _ => return Err(ResourceProblem::NotAnUrl),
        }
        let canonical = parts.canonical().ok_or(ResourceProblem::NotAnUrl)?;
        let origin_len = canonical.len() - parts.path_and_query_len();
        let (origin, path) = canonical.split_at(origin_len);
        // RFC 9728 §3.1: the well-known suffix goes between the host and the path (which the
        // canonical form has already freed of its terminating slash).
        let well_known_path = format!("{WELL_KNOWN}{path}");
        let metadata_url = format!("{origin}{well_known_path}");
        Ok(Resource {
            canonical: canonical.into(),
            well_known_path: well_known_path.into(),
            metadata_url: metadata_url.into(),
        })
    }

    /// The canonical form.
    pub(crate) fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The path the metadata is served at.
    pub(crate) fn well_known_path(&self) -> &str {
        &self.well_known_path
    }

    /// The metadata's absolute URL.
    pub(crate) fn metadata_url(&self) -> &Arc<str> {
        &self.metadata_url
    }
}

/// Whether a path segment is `.` or `..`, with its dots percent-encoded or not.
fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// Whether a token's `aud` value names the resource whose canonical form is `canonical`: the
/// value is put into canonical form by the same rules, then compared exactly.
pub(crate) fn names_resource(canonical: &str, aud: &str) -> bool {
    aud == canonical
        || Parts::split(aud).and_then(|parts| parts.canonical()).as_deref() == Some(canonical)
}

/// A URI cut into the pieces the canonical form treats differently.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    /// Without the `?`.
    query: Option<&'a str>,
}

impl<'a> Parts<'a> {
    /// `scheme://authority[path][?query]`; `None` for anything else, a fragment included (a
    /// value with one never names the resource, which has none).
    fn split(uri: &'a str) -> Option<Parts<'a>> {
        let (scheme, rest) = uri.split_once("://")?;
        let scheme_ok = scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok || rest.contains('#') {
            return None;
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(end);
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        Some(Parts { scheme, authority, path, query })
    }

    /// The length of the canonical form's path and query (a resource's has no query).
    fn path_and_query_len(&self) -> usize {
        let path = self.path.strip_suffix('/').unwrap_or(self.path);
        path.len() + self.query.map_or(0, |query| query.len() + 1)
    }

    /// Scheme and host in lower case, the scheme's default port dropped (an empty port too,
    /// RFC 3986 §6.2.3), one trailing slash of the path dropped; the rest as it is. `None`
    /// for user info or an authority that is not `host[:port]`.
    fn canonical(&self) -> Option<String> {
        if self.authority.contains('@') {
            return None;
        }
        let (host, port) = match self.authority.strip_prefix('[') {
            // An IPv6 literal: the port, if any, follows the closing bracket.
            Some(rest) => {
                let (inside, after) = rest.split_once(']')?;
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':')?),
                };
                (&self.authority[..inside.len() + 2], port)
            }
            None => match self.authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (self.authority, None),
            },
        };
        if host.is_empty() {
            return None;
        }
        let scheme = self.scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        };
        let port = match port {
            None | Some("") => None,
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                let port: u16 = digits.parse().ok()?;
                (Some(port) != default_port).then_some(port)
            }
            Some(_) => return None,
        };
        let path = self.path.strip_suffix('/').unwrap_or(self.path);
        let mut out = String::with_capacity(scheme.len() + self.authority.len() + 4 + path.len());
        out.push_str(&scheme);
        out.push_str("://");
        out.push_str(&host.to_ascii_lowercase());
        if let Some(port) = port {
            let _ = write!(out, ":{port}");
        }
        out.push_str(path);
        if let Some(query) = self.query {
            out.push('?');
            out.push_str(query);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(uri: &str) -> Result<String, ResourceProblem> {
        Resource::parse(uri).map(|r| r.as_str().to_owned())
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("https://api.example.com/mcp", "https://api.example.com/mcp"),
            ("https://api.example.com/mcp/", "https://api.example.com/mcp"),
            ("HTTPS://API.Example.COM/Mcp", "https://api.example.com/Mcp"),
            ("https://api.example.com:443/mcp", "https://api.example.com/mcp"),
            ("https://api.example.com:8443/mcp", "https://api.example.com:8443/mcp"),
            ("https://api.example.com:/mcp", "https://api.example.com/mcp"),
            ("https://api.example.com", "https://api.example.com"),
            ("https://api.example.com/", "https://api.example.com"),
            ("https://api.example.com/a%2Fb", "https://api.example.com/a%2Fb"),
            ("http://localhost:80/mcp", "http://localhost/mcp"),
            ("http://127.0.0.1:3000/mcp/", "http://127.0.0.1:3000/mcp"),
            ("http://[::1]:3000/mcp", "http://[::1]:3000/mcp"),
            ("https://[2001:DB8::1]/mcp", "https://[2001:db8::1]/mcp"),
        ];
        for (uri, expected) in cases {
            assert_eq!(canonical(uri).as_deref(), Ok(expected), "{uri}");
        }
    }

    #[test]
    fn refused_identifiers() {
        let cases = [
            ("https://api.example.com/mcp#frag", ResourceProblem::Fragment),
            ("https://api.example.com/#", ResourceProblem::Fragment),
            ("https://user@api.example.com/mcp", ResourceProblem::UserInfo),
            ("http://api.example.com/mcp", ResourceProblem::NotHttps),
            ("ftp://api.example.com/mcp", ResourceProblem::NotAnUrl),
            ("api.example.com/mcp", ResourceProblem::NotAnUrl),
            ("/mcp", ResourceProblem::NotAnUrl),
            ("https:///mcp", ResourceProblem::NotAnUrl),
            ("https://api.example.com/m cp", ResourceProblem::NotAnUrl),
            ("https://api.example.com/\"", ResourceProblem::NotAnUrl),
            ("https://api.example.com/{id}", ResourceProblem::NotAnUrl),
            ("https://api.example.com/a\\b", ResourceProblem::NotAnUrl),
            ("https://api.example.com:99999/", ResourceProblem::NotAnUrl),
            ("https://api.example.com/../admin", ResourceProblem::DotSegment),
            ("https://api.example.com/a/./b", ResourceProblem::DotSegment),
            ("https://api.example.com/a/%2e%2e/b", ResourceProblem::DotSegment),
            ("https://api.example.com/a/.%2E", ResourceProblem::DotSegment),
            ("https://api.example.com/%2E", ResourceProblem::DotSegment),
            ("https://api.example.com/a/..", ResourceProblem::DotSegment),
            ("https://api.example.com:0/mcp", ResourceProblem::PortZero),
            ("https://api.example.com/mcp?v=1", ResourceProblem::Query),
            ("https://api.example.com/mcp?", ResourceProblem::Query),
            ("https://api.example.com?", ResourceProblem::Query),
            ("", ResourceProblem::NotAnUrl),
        ];
        for (uri, problem) in cases {
            assert_eq!(canonical(uri), Err(problem), "{uri}");
        }
    }

    #[test]
    fn well_known_locations() {
        let cases = [
            ("https://api.example.com/mcp", "/.well-known/oauth-protected-resource/mcp"),
            ("https://api.example.com/mcp/", "/.well-known/oauth-protected-resource/mcp"),
            ("https://api.example.com", "/.well-known/oauth-protected-resource"),
            ("https://api.example.com/", "/.well-known/oauth-protected-resource"),
            ("https://api.example.com/a/b", "/.well-known/oauth-protected-resource/a/b"),
        ];
        for (uri, path) in cases {
            assert_eq!(Resource::parse(uri).unwrap().well_known_path(), path, "{uri}");
        }
        let resource = Resource::parse("https://API.example.com:443/mcp/").unwrap();
        assert_eq!(
            &**resource.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn audience_values_compared_in_canonical_form() {
        let resource = "https://api.example.com/mcp";
        let named = [
            "https://api.example.com/mcp",
            "https://api.example.com/mcp/",
            "HTTPS://API.EXAMPLE.COM/mcp",
            "https://api.example.com:443/mcp",
        ];
        for aud in named {
            assert!(names_resource(resource, aud), "{aud}");
        }
        let others = [
            "https://api.example.com/MCP",
            "https://api.example.com/mcp//",
            "https://api.example.com/mcp/tools",
            "https://api.example.com/%6Dcp",
            "https://api.example.com/mcp?x=1",
            "https://api.example.com/mcp#x",
            "http://api.example.com/mcp",
            "https://api.example.com:8443/mcp",
            "https://evil@api.example.com/mcp",
            "https://api.example.com.evil.example/mcp",
            "api.example.com/mcp",
            "",
        ];
        for aud in others {
            assert!(!names_resource(resource, aud), "{aud}");
        }
    }
}
