//! What a verified token grants: its scopes (`scope`/`scp`), and roles and permissions read
//! from configurable claim paths. The layer puts them into the request's extensions; the route
//! layers of [`crate::service::RequireGrant`] check them.

use std::fmt;
use std::sync::Arc;

use crate::error::Challenge;

/// A list of granted values (space-delimited internally), put into request extensions.
#[derive(Clone, Default, PartialEq, Eq)]
struct GrantList(Option<Arc<str>>);

impl GrantList {
    fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }

    fn contains(&self, wanted: &str) -> bool {
        self.iter().any(|granted| granted == wanted)
    }
}

/// What a refusal inside a handler needs of the request the grants came with, kept by the
/// extractor so that the refusal is the one a route requirement would give: the layer's
/// challenge, the request's method and path, whether it is a gRPC call, and the layer's
/// renderer (in an `Extensions` of its own, as the route layers find it).
#[derive(Clone)]
pub(crate) struct RefusalContext {
    pub(crate) challenge: Challenge,
    pub(crate) method: http::Method,
    /// The URI the client called (a cheap, shared clone; its path is read only to refuse).
    pub(crate) uri: http::Uri,
    pub(crate) grpc: bool,
    pub(crate) renderer: http::Extensions,
}

macro_rules! grant_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default)]
        pub struct $name(GrantList, pub(crate) Option<Arc<RefusalContext>>);

        impl $name {
            /// Each granted value.
            pub fn iter(&self) -> impl Iterator<Item = &str> {
                self.0.iter()
            }

            /// Whether `value` is granted (exact, case-sensitive match).
            pub fn contains(&self, value: &str) -> bool {
                self.0.contains(value)
            }
        }

        /// Equal when they grant the same values.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0 == other.0
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.iter()).finish()
            }
        }
    };
}

grant_type!(
    /// The scopes granted by the verified token: its `scope` claim (space-delimited, RFC 8693
    /// §4.2) or, failing that, its `scp` claim (an array, as Okta and Entra ID send it). An
    /// `scp` entry that is not one RFC 6749 §3.3 scope-token (empty, or holding a space, `"`,
    /// `\` or a control character) is ignored, never split into several scopes.
    ///
    /// Put into the request's extensions on every verified request; a handler extracts it
    /// like [`crate::Claims`], and [`Scopes::require_all`] refuses inside the handler as a
    /// route requirement would.
    Scopes
);

grant_type!(
    /// The roles of the verified token, read from the claim paths given to
    /// [`crate::JwtAuthBuilder::roles_claim`] (for example Keycloak's `realm_access.roles`,
    /// Entra ID's `roles`). Put into the request's extensions when configured; a handler
    /// extracts it like [`crate::Claims`] (500 when the `JwtAuth` reads no roles).
    Roles
);

grant_type!(
    /// The permissions of the verified token, read from the claim paths given to
    /// [`crate::JwtAuthBuilder::permissions_claim`] (for example Auth0's `permissions`). Put
    /// into the request's extensions when configured; a handler extracts it like
    /// [`crate::Claims`] (500 when the `JwtAuth` reads no permissions).
    Permissions
);

/// Space-joins values that contain no spaces themselves (a value with a space could be
/// mistaken for two).
fn joined<'a>(values: impl IntoIterator<Item = &'a str>) -> GrantList {
    let mut text = String::new();
    for value in values.into_iter().filter(|v| !v.is_empty() && !v.contains(' ')) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(value);
    }
    GrantList((!text.is_empty()).then(|| Arc::from(text)))
}

impl Scopes {
    pub(crate) fn new(scope: Option<Arc<str>>) -> Self {
        Scopes(GrantList(scope), None)
    }
}

impl Roles {
    pub(crate) fn new(values: &[String]) -> Self {
        Roles(joined(values.iter().map(String::as_str)), None)
    }
}

impl Permissions {
    pub(crate) fn new(values: &[String]) -> Self {
        Permissions(joined(values.iter().map(String::as_str)), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_spaces_are_not_split_into_two() {
        let roles = Roles::new(&["a b".to_owned(), "c".to_owned()]);
        assert!(roles.contains("c") && !roles.contains("a") && !roles.contains("b"));
    }
}
