//! How the user signed in, as the verified token says (`acr` and `auth_time`, RFC 9470 §4):
//! what the step-up route requirements ([`crate::service::RequireStepUp`]) judge.

/// `acr` and `auth_time` of a verified token that carries at least one of them; the layer puts
/// it into the request's extensions. Only this crate can name the type, so only the layer,
/// after verifying a token, can put one there.
#[derive(Debug)]
pub(crate) struct Authentication {
    /// The authentication context class reference.
    pub(crate) acr: Option<Box<str>>,
    /// When the user signed in, in seconds since the epoch.
    pub(crate) auth_time: Option<f64>,
}
