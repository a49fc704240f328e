//! The one injectable time source: what a remote key set measures its lifetimes, cooldowns and
//! staleness by, and what a `JwtAuth` judges `exp`, `nbf` and `iat` by.

use std::fmt;
use std::time::{Instant, SystemTime};

/// Where the crate reads the time: a [`JwtAuth`](crate::JwtAuth) for `exp`, `nbf` and `iat`
/// ([`JwtAuthBuilder::clock`](crate::JwtAuthBuilder::clock), wall-clock time), a
/// [`RemoteJwks`](crate::keys::RemoteJwks) for its cache (monotonic time).
///
/// A remote key set reads the time to decide when its cached set is due for a background
/// refresh, when the set has expired, how long past expiry it may still be used
/// (`max_staleness`), whether an unknown `kid` may refresh again (`cooldown`) and when a failed
/// fetch may be retried. The default, [`SystemClock`], is the machine's monotonic clock. A
/// test gives the builder a clock it moves by hand, so a ten-minute lifetime is tested without
/// waiting ten minutes and without depending on how busy the machine is.
///
/// The fetch timeout is not measured on this clock: it bounds how long a request really waits.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::{Duration, Instant, SystemTime};
/// use jwt_layer::keys::{Clock, RemoteJwks};
///
/// /// A clock that stands still until `advance` moves it.
/// #[derive(Debug, Clone)]
/// struct ManualClock(Arc<Mutex<(Instant, SystemTime)>>);
///
/// impl ManualClock {
///     fn advance(&self, by: Duration) {
///         let mut now = self.0.lock().unwrap();
///         *now = (now.0 + by, now.1 + by);
///     }
/// }
///
/// impl Clock for ManualClock {
///     fn now(&self) -> Instant {
///         self.0.lock().unwrap().0
///     }
///     fn system_time(&self) -> SystemTime {
///         self.0.lock().unwrap().1
///     }
/// }
///
/// let clock = ManualClock(Arc::new(Mutex::new((Instant::now(), SystemTime::now()))));
/// let keys = RemoteJwks::builder("https://login.example.com/jwks.json")
///     .clock(clock.clone())
///     .build()?;
/// // Later, in the test: the cached set's ten minutes have passed.
/// clock.advance(Duration::from_secs(600));
/// # Ok::<(), jwt_layer::keys::KeyError>(())
/// ```
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// Now, on a clock that never goes backwards.
    fn now(&self) -> Instant;

    /// Now as wall-clock time, for the times [`RemoteStatus`](crate::keys::RemoteStatus)
    /// reports.
    fn system_time(&self) -> SystemTime;
}

/// The machine's clocks: Tokio's [`Instant`](tokio::time::Instant) (the monotonic clock, or
/// Tokio's paused test time when the runtime's clock is paused) and [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        #[cfg(feature = "remote")]
        return tokio::time::Instant::now().into_std();
        #[cfg(not(feature = "remote"))]
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that reads one wall-clock time: for judging a recorded token as of the moment it
/// was used, or a test's fixed `now`. Its monotonic time is the moment it was made.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock {
    at: SystemTime,
    instant: Instant,
}

impl FixedClock {
    /// A clock that always reads `at`.
    pub fn at(at: SystemTime) -> Self {
        FixedClock { at, instant: Instant::now() }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Instant {
        self.instant
    }

    fn system_time(&self) -> SystemTime {
        self.at
    }
}
