//! Where roles and permissions are read from: claim paths in the payload
//! ([`crate::JwtAuthBuilder::roles_claim`], for configuration files) and functions of the
//! typed claims ([`crate::JwtAuthBuilder::roles`], checked by the compiler).

use std::sync::Arc;

use serde_json::Value;

use crate::grants::claim_path::{ClaimPath, collect};

/// A function from the typed claims to values (roles or permissions), for
/// [`crate::JwtAuthBuilder::roles`] and [`crate::JwtAuthBuilder::permissions`].
///
/// Implemented by every `Fn(&C) -> I` where `I` iterates over strings (`String`, `&str`, or
/// anything else that is `AsRef<str>`), so there is nothing to implement. A closure returns
/// owned values (`c.roles.clone()`); a `fn` may also return values borrowed from the claims,
/// which a closure cannot yet say in Rust:
///
/// ```
/// use jwt_layer::{JwtAuth, keys::StaticKeys};
///
/// #[derive(serde::Deserialize)]
/// struct Access { roles: Vec<String> }
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims { realm_access: Access, groups: Option<String> }
///
/// fn realm_roles(claims: &MyClaims) -> impl Iterator<Item = &String> + '_ {
///     claims.realm_access.roles.iter()
/// }
///
/// let auth = JwtAuth::<MyClaims>::builder()
///     .keys(StaticKeys::hmac([7u8; 32])?)
///     .issuer("https://login.example")
///     .audience("my-api")
///     .roles(realm_roles)                                    // borrowed, from a fn
///     .permissions(|c: &MyClaims| c.groups.clone())          // owned, from a closure
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ClaimValues<'c, C: 'c>: Fn(&'c C) -> Self::Values {
    /// What the function returns.
    type Values: IntoIterator<Item = Self::Value>;
    /// One value.
    type Value: AsRef<str>;
}

impl<'c, C: 'c, F, I> ClaimValues<'c, C> for F
where
    F: Fn(&'c C) -> I,
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    type Values = I;
    type Value = I::Item;
}

/// A [`ClaimValues`] function with its types erased: it appends what it finds to a list.
type ValuesFn<C> = Arc<dyn Fn(&C, &mut Vec<String>) + Send + Sync>;

/// Where one kind of grant (roles, or permissions) is read from: claim paths, then functions of
/// the typed claims, their values merged in that order without duplicates.
pub(crate) struct GrantSource<C> {
    paths: Vec<ClaimPath>,
    functions: Vec<ValuesFn<C>>,
}

impl<C> Default for GrantSource<C> {
    fn default() -> Self {
        GrantSource { paths: Vec::new(), functions: Vec::new() }
    }
}

impl<C> GrantSource<C> {
    pub(crate) fn add_path(&mut self, path: ClaimPath) {
        self.paths.push(path);
    }

    pub(crate) fn add_function<F>(&mut self, function: F)
    where
        F: for<'c> ClaimValues<'c, C> + Send + Sync + 'static,
    {
        self.functions.push(Arc::new(move |claims: &C, values: &mut Vec<String>| {
            for value in function(claims) {
                let value = value.as_ref();
                if !values.iter().any(|v| v == value) {
                    values.push(value.to_owned());
                }
            }
        }));
    }

    /// Whether the grant is read at all.
    pub(crate) fn is_configured(&self) -> bool {
        !self.paths.is_empty() || !self.functions.is_empty()
    }

    /// Whether reading needs the untyped payload.
    pub(crate) fn needs_document(&self) -> bool {
        !self.paths.is_empty()
    }

    /// The values, or `None` when the grant is not configured. `document` is the untyped
    /// payload, parsed when [`GrantSource::needs_document`].
    pub(crate) fn read(&self, document: Option<&Value>, claims: &C) -> Option<Vec<String>> {
        if !self.is_configured() {
            return None;
        }
        let mut values = match document {
            Some(document) => collect(document, &self.paths),
            None => Vec::new(),
        };
        for function in &self.functions {
            function(claims, &mut values);
        }
        Some(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Claims {
        roles: Vec<String>,
        extra: Option<String>,
    }

    #[test]
    fn paths_then_functions_without_duplicates() {
        let mut source = GrantSource::<Claims>::default();
        assert!(!source.is_configured());
        assert_eq!(source.read(None, &Claims { roles: vec![], extra: None }), None);
        source.add_path("roles".into());
        source.add_function(|c: &Claims| c.roles.clone());
        source.add_function(|c: &Claims| c.extra.clone());
        let claims = Claims { roles: vec!["b".into(), "a".into()], extra: Some("c".into()) };
        let document = serde_json::json!({ "roles": ["a", "z"] });
        assert_eq!(source.read(Some(&document), &claims).unwrap(), ["a", "z", "b", "c"]);
    }
}
