//! A clock for remote key sets that moves only when the test moves it, so lifetimes,
//! cooldowns and staleness are tested without sleeping and whatever the machine's load.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use jwt_layer::keys::Clock;

/// Stands still until [`ManualClock::advance`]; clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<(Instant, SystemTime)>>,
}

impl ManualClock {
    /// A clock at the machine's current time.
    pub fn new() -> Self {
        ManualClock { now: Arc::new(Mutex::new((Instant::now(), SystemTime::now()))) }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        *now = (now.0 + by, now.1 + by);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.now.lock().unwrap().0
    }

    fn system_time(&self) -> SystemTime {
        self.now.lock().unwrap().1
    }
}
