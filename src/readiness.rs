//! Whether a [`JwtAuth`](crate::JwtAuth) can verify tokens now, for an orchestrator's readiness probe: an
//! instance whose key source has no usable set can only refuse, so traffic is better sent
//! elsewhere until it has one.

use std::fmt;
use std::time::Duration;

/// The answer of [`JwtAuth::readiness`](crate::JwtAuth::readiness) and [`KeyProvider::readiness`](crate::keys::KeyProvider::readiness).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// Keys are at hand.
    Ready,
    /// The source never supplied a key set (its first fetch failed or has not happened).
    NoKeySet {
        /// The source's name (see `RemoteJwksBuilder::name`).
        source: String,
    },
    /// The last good set is past its staleness limit and is no longer used.
    Stale {
        /// The source's name (see `RemoteJwksBuilder::name`).
        source: String,
        /// The time since the set was last fetched.
        age: Duration,
    },
}

impl Readiness {
    /// Whether requests can be verified.
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }

    /// A short fixed code: `ready`, `no_key_set` or `stale`.
    pub fn code(&self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::NoKeySet { .. } => "no_key_set",
            Readiness::Stale { .. } => "stale",
        }
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readiness::Ready => f.write_str("ready"),
            Readiness::NoKeySet { source } => {
                write!(f, "key source {source} has not supplied a key set yet")
            }
            Readiness::Stale { source, age } => write!(
                f,
                "key set of source {source} is stale ({}s since the last good fetch)",
                age.as_secs()
            ),
        }
    }
}
