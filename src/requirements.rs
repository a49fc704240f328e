//! Building route requirements: the constructors of [`RequireAuth`], [`RequireScope`],
//! [`RequireRole`] and [`RequirePermission`], and [`JwtAuth::require_any_role`] and its
//! siblings, which check a requirement against the `JwtAuth`'s configuration once, when the
//! app is built.

use crate::auth::{BuildError, JwtAuth};
use crate::http::require_grant::{
    GrantKind, RequireAuth, RequireGrant, RequirePermission, RequireRole, RequireScope,
};

impl RequireAuth {
    /// Requires verified credentials. The same as [`JwtAuth::require_auth`].
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
    /// Requires every one of `values`. [`JwtAuth::require_all_scopes`] also refuses an empty
    /// list or a value that no scope can equal.
    pub fn all<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::unchecked(values, true)
    }

    /// Requires at least one of `values`. [`JwtAuth::require_any_scope`] also refuses an empty
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
    fn checked<I, S>(values: I, all: bool) -> Result<Self, BuildError>
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

/// Route layers built from the `JwtAuth` whose layer is in front of them, their configuration
/// checked once, when the app is built.
impl<C> JwtAuth<C> {
    /// A [`RequireAuth`]: the route answers an anonymous request (optional mode) 401 with this
    /// `JwtAuth`'s challenge.
    pub fn require_auth(&self) -> RequireAuth {
        RequireAuth::new()
    }

    /// A [`RequireScope`] that lets a request through when its token grants every one of
    /// `values` (403 `insufficient_scope` with `scope="…"` otherwise).
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidRequirement`] for an empty list, or a value that is empty or holds
    /// a space.
    pub fn require_all_scopes<I, S>(&self, values: I) -> Result<RequireScope, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScope::checked(values, true)
    }

    /// A [`RequireScope`] that lets a request through when its token grants at least one of
    /// `values`.
    ///
    /// # Errors
    ///
    /// As [`JwtAuth::require_all_scopes`].
    pub fn require_any_scope<I, S>(&self, values: I) -> Result<RequireScope, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScope::checked(values, false)
    }

    /// A [`RequireRole`] that lets a request through when its token has every one of
    /// `values` (403 `insufficient_scope`, `insufficient role`, otherwise).
    ///
    /// # Errors
    ///
    /// [`BuildError::RolesNotConfigured`] when this `JwtAuth` reads no roles (neither
    /// [`crate::JwtAuthBuilder::roles_claim`] nor [`crate::JwtAuthBuilder::roles`]);
    /// [`BuildError::InvalidRequirement`] for an empty list, or a value that is empty or holds
    /// a space.
    ///
    /// ```
    /// use jwt_layer::{BuildError, JwtAuth, keys::StaticKeys};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims {}
    ///
    /// let auth = JwtAuth::<MyClaims>::builder()
    ///     .keys(StaticKeys::hmac([7u8; 32])?)
    ///     .issuer("https://login.example")
    ///     .audience("my-api")
    ///     .build()?;
    /// // Roles were never configured: caught here, not by the first request.
    /// assert_eq!(auth.require_all_roles(["admin"]).unwrap_err(), BuildError::RolesNotConfigured);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require_all_roles<I, S>(&self, values: I) -> Result<RequireRole, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_roles()?;
        RequireRole::checked(values, true)
    }

    /// A [`RequireRole`] that lets a request through when its token has at least one of
    /// `values`.
    ///
    /// # Errors
    ///
    /// As [`JwtAuth::require_all_roles`].
    pub fn require_any_role<I, S>(&self, values: I) -> Result<RequireRole, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_roles()?;
        RequireRole::checked(values, false)
    }

    /// A [`RequirePermission`] that lets a request through when its token has every one of
    /// `values` (403 `insufficient_scope`, `insufficient permission`, otherwise).
    ///
    /// # Errors
    ///
    /// [`BuildError::PermissionsNotConfigured`] when this `JwtAuth` reads no permissions
    /// (neither [`crate::JwtAuthBuilder::permissions_claim`] nor
    /// [`crate::JwtAuthBuilder::permissions`]); [`BuildError::InvalidRequirement`] as for
    /// roles.
    pub fn require_all_permissions<I, S>(&self, values: I) -> Result<RequirePermission, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_permissions()?;
        RequirePermission::checked(values, true)
    }

    /// A [`RequirePermission`] that lets a request through when its token has at least one of
    /// `values`.
    ///
    /// # Errors
    ///
    /// As [`JwtAuth::require_all_permissions`].
    pub fn require_any_permission<I, S>(&self, values: I) -> Result<RequirePermission, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.check_permissions()?;
        RequirePermission::checked(values, false)
    }

    fn check_roles(&self) -> Result<(), BuildError> {
        if self.verifier.roles.is_configured() {
            Ok(())
        } else {
            Err(BuildError::RolesNotConfigured)
        }
    }

    fn check_permissions(&self) -> Result<(), BuildError> {
        if self.verifier.permissions.is_configured() {
            Ok(())
        } else {
            Err(BuildError::PermissionsNotConfigured)
        }
    }
}
