//! Paths to claims inside the payload, for roles and permissions
//! ([`crate::JwtAuthBuilder::roles_claim`], [`crate::JwtAuthBuilder::permissions_claim`]).

use serde_json::Value;

/// A path to a claim inside the payload, such as `realm_access.roles` or
/// `resource_access.my-client.roles`.
///
/// [`ClaimPath::parse`] splits on `.`; claim names that contain dots themselves (Auth0's
/// namespaced claims, `https://example.com/roles`) are given whole with [`ClaimPath::name`] or
/// as segments with [`ClaimPath::segments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// Splits `path` on `.`.
    pub fn parse(path: &str) -> Self {
        ClaimPath(path.split('.').map(str::to_owned).collect())
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
        assert_eq!(
            collect(&doc, &["roles".into(), "realm_access.roles".into(), "roles".into()]),
            ["Reader", "admin", "user"]
        );
        assert_eq!(collect(&doc, &["groups".into()]), ["a", "b"]);
        assert!(collect(&doc, &["missing.path".into()]).is_empty());
    }
}
