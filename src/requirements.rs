//! Building route requirements: the constructors of [`RequireAuth`], [`RequireScope`],
//! [`RequireRole`] and [`RequirePermission`], and [`JwtAuth::require_any_role`](crate::JwtAuth::require_any_role) and its
//! siblings, which check a requirement against the `JwtAuth`'s configuration once, when the
//! app is built.

use crate::build_error::BuildError;
use crate::http::require_grant::{
    GrantKind, RequireAuth, RequireGrant, RequirePermission, RequireRole, RequireScope,
};

impl RequireAuth {
    /// Requires verified credentials. The same as [`JwtAuth::require_auth`](crate::JwtAuth::require_auth).
    pub fn new() -> Self {
        Self::unchecked(Vec::<String>::new(), true)
    }
}

impl Default for RequireAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl RequireScope {
    /// Requires every one of `values`. [`JwtAuth::require_all_scopes`](crate::JwtAuth::require_all_scopes) also refuses an empty
    /// list or a value that no scope can equal.
    pub fn all<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::unchecked(values, true)
    }

    /// Requires at least one of `values`. [`JwtAuth::require_any_scope`](crate::JwtAuth::require_any_scope) also refuses an empty
    /// list or a value that no scope can equal.
    pub fn any<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::unchecked(values, false)
    }
}

impl RequireRole {
    /// Requires every one of `values`; answers 500 at request time when the `JwtAuth` does
    /// not read roles.
    #[deprecated(
        since = "0.1.0",
        note = "use `JwtAuth::require_all_roles`, which checks that the JwtAuth reads roles"
    )]
    pub fn all<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::unchecked(values, true)
    }

    /// Requires at least one of `values`; answers 500 at request time when the `JwtAuth`
    /// does not read roles.
    #[deprecated(
        since = "0.1.0",
        note = "use `JwtAuth::require_any_role`, which checks that the JwtAuth reads roles"
    )]
    pub fn any<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::unchecked(values, false)
    }
}

impl RequirePermission {
    /// Requires every one of `values`; answers 500 at request time when the `JwtAuth` does
    /// not read permissions.
    #[deprecated(
        since = "0.1.0",
        note = "use `JwtAuth::require_all_permissions`, which checks that the JwtAuth reads permissions"
    )]
    pub fn all<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::unchecked(values, true)
    }

    /// Requires at least one of `values`; answers 500 at request time when the `JwtAuth`
    /// does not read permissions.
    #[deprecated(
        since = "0.1.0",
        note = "use `JwtAuth::require_any_permission`, which checks that the JwtAuth reads permissions"
    )]
    pub fn any<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::unchecked(values, false)
    }
}

impl<K: GrantKind> RequireGrant<K> {
    /// The route layer for `values`, refused when no grant could ever equal one of them: an
    /// empty list (`any` of nothing refuses everyone), an empty value, or a value holding a
    /// space (the grants never hold one).
    pub(crate) fn checked<I, S>(values: I, all: bool) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        let unmatchable = |value: &String| value.is_empty() || value.contains(' ');
        if values.is_empty() || values.iter().any(unmatchable) {
            return Err(BuildError::InvalidRequirement);
        }
        Ok(Self::unchecked(values, all))
    }
}
