//! Warnings a flood must not multiply: a failing store or key source is worth one WARN line a
//! minute, not one per request; the others go to DEBUG.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Least time between two warnings of one site.
const INTERVAL: Duration = Duration::from_secs(60);

/// One warning site's memory of when it last warned.
pub(crate) struct WarnLimit {
    last: Mutex<Option<Instant>>,
}

impl WarnLimit {
    pub(crate) const fn new() -> Self {
        WarnLimit { last: Mutex::new(None) }
    }

    /// Whether this occurrence may be logged at WARN (the first one, then one a minute).
    pub(crate) fn allow(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        match *last {
            Some(at) if now.duration_since(at) < INTERVAL => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_warning_passes_and_a_repeat_within_the_interval_does_not() {
        let limit = WarnLimit::new();
        assert!(limit.allow());
        assert!(!limit.allow());
        assert!(!limit.allow());
    }
}
