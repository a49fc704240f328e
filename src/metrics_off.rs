//! Without the `metrics` feature: the same hooks as `metrics.rs`, doing nothing, so callers
//! need no `cfg` and the compiler removes every call.

use crate::error::AuthError;
use crate::jose::algorithm::Algorithm;
#[cfg(feature = "remote")]
use crate::metric_label::FetchOutcome;

pub(crate) struct Meters;

#[derive(Clone, Copy)]
pub(crate) struct Timer;

impl Meters {
    pub(crate) fn new() -> Self {
        Meters
    }

    #[inline(always)]
    pub(crate) fn accepted(&self) {}

    #[inline(always)]
    pub(crate) fn anonymous(&self) {}

    #[inline(always)]
    pub(crate) fn refused(&self, _err: &AuthError) {}

    #[inline(always)]
    pub(crate) fn start(&self) -> Timer {
        Timer
    }

    #[inline(always)]
    pub(crate) fn verified(&self, _timer: Timer, _algorithm: Option<Algorithm>) {}
}

pub(crate) struct CacheMeters;

impl CacheMeters {
    pub(crate) fn new() -> Self {
        CacheMeters
    }

    #[inline(always)]
    pub(crate) fn lookup(&self, _hit: bool) {}
}

#[cfg(feature = "remote")]
pub(crate) struct SourceMeters;

#[cfg(feature = "remote")]
impl SourceMeters {
    pub(crate) fn new(_source: std::sync::Arc<str>) -> Self {
        SourceMeters
    }

    #[inline(always)]
    pub(crate) fn fetched(&self, _outcome: FetchOutcome) {}

    #[inline(always)]
    pub(crate) fn age(&self, _age: std::time::Duration) {}

    #[inline(always)]
    pub(crate) fn unknown_kid_refresh(&self) {}
}

#[inline(always)]
pub(crate) fn store_error(_store: &'static str) {}

#[cfg(feature = "remote")]
pub(crate) fn tenant_resolved(_result: &'static str, _live: usize) {}
