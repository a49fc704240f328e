//! Paths to claims inside the payload, for roles and permissions
//! ([`crate::JwtAuthBuilder::roles_claim`], [`crate::JwtAuthBuilder::permissions_claim`]).

use serde_json::Value;

/// A path to a claim inside the payload, such as `realm_access.roles` or
/// `resource_access.my-client.roles`.
///
/// [`ClaimPath::parse`] (and so a `&str` given to `roles_claim` / `permissions_claim`) splits
/// on `.`. A dot that belongs to a claim name is written `\.`, as in Keycloak's claim-name
/// mappers, and a backslash `\\`: Auth0's namespaced claim
/// `https://example.com/roles` is `r"https://example\.com/roles"`. [`ClaimPath::name`] (one
/// top-level claim, taken whole) and [`ClaimPath::segments`] need no escaping.
///
/// ```
/// use jwt_layer::ClaimPath;
///
/// assert_eq!(
///     ClaimPath::parse(r"https://example\.com/roles"),
///     ClaimPath::name("https://example.com/roles"),
/// );
/// assert_eq!(
///     ClaimPath::parse("resource_access.my-client.roles"),
///     ClaimPath::segments(["resource_access", "my-client", "roles"]),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// Splits `path` on every `.` not written `\.`; `\\` is one backslash. Any other
    /// backslash is kept as it is.
    pub fn parse(path: &str) -> Self {
        let mut segments = Vec::new();
        let mut segment = String::new();
        let mut chars = path.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if matches!(chars.peek(), Some('.' | '\\')) => {
                    segment.extend(chars.next());
                }
                '.' => segments.push(std::mem::take(&mut segment)),
                c => segment.push(c),
            }
        }
        segments.push(segment);
        ClaimPath(segments)
    }

    /// One top-level claim, whatever characters its name holds.
    pub fn name(name: impl Into<String>) -> Self {
        ClaimPath(vec![name.into()])
    }

    /// A path given segment by segment.
    pub fn segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClaimPath(segments.into_iter().map(Into::into).collect())
    }

    /// The values at this path: an array of strings, or one space-delimited string.
    fn values<'v>(&self, document: &'v Value) -> Vec<&'v str> {
        let found = self.0.iter().try_fold(document, |node, segment| node.get(segment));
        match found {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(text)) => text.split(' ').collect(),
            _ => Vec::new(),
        }
    }
}

impl From<&str> for ClaimPath {
    fn from(path: &str) -> Self {
        ClaimPath::parse(path)
    }
}

/// The values at every path, in order, without duplicates.
pub(crate) fn collect(document: &Value, paths: &[ClaimPath]) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for value in paths.iter().flat_map(|path| path.values(document)) {
        if !values.iter().any(|v| v == value) {
            values.push(value.to_owned());
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_paths_of_the_common_providers() {
        let doc: Value = serde_json::json!({
            "realm_access": {"roles": ["admin", "user"]},
            "resource_access": {"my-client": {"roles": ["editor"]}},
            "roles": ["Reader"],
            "permissions": ["read:items", "write:items"],
            "https://example.com/roles": ["owner"],
            "groups": "a b",
        });
        assert_eq!(collect(&doc, &[ClaimPath::parse("realm_access.roles")]), ["admin", "user"]);
        assert_eq!(collect(&doc, &["resource_access.my-client.roles".into()]), ["editor"]);
        assert_eq!(collect(&doc, &[ClaimPath::name("https://example.com/roles")]), ["owner"]);
        assert_eq!(collect(&doc, &[r"https://example\.com/roles".into()]), ["owner"]);
        assert!(collect(&doc, &["https://example.com/roles".into()]).is_empty());
        assert_eq!(
            collect(&doc, &["roles".into(), "realm_access.roles".into(), "roles".into()]),
            ["Reader", "admin", "user"]
        );
        assert_eq!(collect(&doc, &["groups".into()]), ["a", "b"]);
        assert!(collect(&doc, &["missing.path".into()]).is_empty());
    }

    #[test]
    fn escaped_dots_and_backslashes() {
        let parse = |path| ClaimPath::parse(path).0;
        assert_eq!(parse("a.b"), ["a", "b"]);
        assert_eq!(parse("a"), ["a"]);
        assert_eq!(parse(""), [""]);
        assert_eq!(parse("a..b"), ["a", "", "b"]);
        assert_eq!(parse(r"a\.b"), ["a.b"]);
        assert_eq!(parse(r"a\.b.c"), ["a.b", "c"]);
        assert_eq!(parse(r"a\\.b"), [r"a\", "b"]);
        assert_eq!(parse(r"a\\\.b"), [r"a\.b"]);
        assert_eq!(parse(r"a\b"), [r"a\b"], "other backslashes are kept");
        assert_eq!(parse(r"a\"), [r"a\"]);
        assert_eq!(parse(r"a.b\"), ["a", r"b\"]);
    }
}
