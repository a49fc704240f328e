//! Remote key sets: a JWKS URL, or an OpenID Connect issuer, fetched over HTTPS and cached.
//!
//! Reading the cached set never waits on a lock a fetch holds: the set sits behind an
//! atomically swapped `Arc`, so verification of known keys runs fully in parallel with a
//! refresh. Fetches happen:
//! - on first use (concurrent first requests share one fetch);
//! - in the background once 90 % of the set's lifetime has passed, so in the steady state no
//!   request waits for the network (lifetime: `Cache-Control: max-age` clamped to
//!   `[min_ttl, max_ttl]`, else `default_ttl`, all set on [`RemoteJwksBuilder`]);
//! - when a token names a key that is not in the set: at most once per `cooldown`, every
//!   request that needs it waiting on the same fetch, so a flood of random `kid`s costs at
//!   most one fetch per cooldown.
//!
//! A failed fetch (refused, timed out, 5xx, not JSON, too large, no usable key) keeps the last
//! good set for up to `max_staleness` past its expiry and logs a warning (at most one a minute
//! while the source keeps failing; the others at DEBUG). With no set at all, requests are
//! refused (401 `invalid_token`) after at most the fetch timeout, and at once while the last
//! failure is recent.
//!
//! [`RemoteJwksBuilder`]: crate::keys::RemoteJwksBuilder

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use futures_util::future::Shared as SharedFuture;
use reqwest::Url;

use crate::jose::header::TokenHeader;
use crate::keys::discovery::discover_jwks_uri;
use crate::keys::error::chain;
use crate::keys::fetch::{FetchError, Fetched, Validators, get_json};
use crate::keys::static_keys::{Secrets, parse_document};
use crate::keys::{Clock, JwkOptions, KeyError, KeyLookup, KeyProvider, KeySet};
use crate::metric_label::FetchOutcome;
use crate::metrics::SourceMeters;
use crate::readiness::Readiness;

/// A key provider over a remote JWKS, found directly or through OIDC discovery.
///
/// A remote set is for public keys: a symmetric (`oct`) key in it is a secret published to
/// everyone who can fetch the set, who could then mint tokens with it, so such keys are
/// skipped (with one warning per fetch) and never verify anything. HMAC secrets belong in
/// [`StaticKeys`](crate::keys::StaticKeys) (`StaticKeys::from_jwks` for a local document).
///
/// Cheap to clone (one `Arc`); clones share the cache. Needs a Tokio runtime (with time)
/// when it fetches, as `reqwest` does.
///
/// # One cache per provider value
///
/// Every `RemoteJwks` built (by [`Jwks::remote`](crate::keys::Jwks::remote),
/// [`Jwks::discover`](crate::keys::Jwks::discover), a [`RemoteJwksBuilder`] or
/// [`JwtAuthBuilder::discover`](crate::JwtAuthBuilder::discover)) has a cache of its own, even
/// for the same URL: two `JwtAuth`s built from two `Jwks::discover(..)` calls fetch, refresh
/// and rate-limit separately. To share one cache, build the provider once and give clones of
/// it to every `JwtAuth` (a cloned `JwtAuth` shares its provider too).
///
/// ```no_run
/// use jwt_layer::{JwtAuth, keys::Jwks};
///
/// # #[derive(serde::Deserialize)] struct MyClaims {}
/// # #[derive(serde::Deserialize)] struct AdminClaims {}
/// let keys = Jwks::discover("https://login.example.com/")?;  // one cache
/// let api = JwtAuth::<MyClaims>::builder()
///     .keys(keys.clone())                                    // shares it
///     .issuer("https://login.example.com/")
///     .audience("my-api")
///     .build()?;
/// let admin = JwtAuth::<AdminClaims>::builder()
///     .keys(keys)                                            // shares it
///     .issuer("https://login.example.com/")
///     .audience("admin-api")
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`RemoteJwksBuilder`]: crate::keys::RemoteJwksBuilder
#[derive(Clone)]
pub struct RemoteJwks {
    shared: Arc<Shared>,
}

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// A JWKS URL.
    Jwks(Url),
    /// An issuer whose discovery document names the JWKS URL.
    Issuer { issuer: String, url: Url },
}

/// The settings of a remote key set, checked by the builder before the key set exists.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) timeout: Duration,
    pub(super) max_response_bytes: usize,
    pub(super) cooldown: Duration,
    pub(super) min_ttl: Duration,
    pub(super) max_ttl: Duration,
    pub(super) default_ttl: Duration,
    pub(super) max_staleness: Duration,
    pub(super) allow_http: bool,
    pub(super) jwk_options: JwkOptions,
    pub(super) clock: Arc<dyn Clock>,
}

/// A point-in-time view of a [`RemoteJwks`], for health checks and dashboards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteStatus {
    /// The JWKS URL (after discovery, once known).
    pub jwks_url: Option<String>,
    /// When the last fetch started.
    pub last_fetch: Option<SystemTime>,
    /// When a fetch last succeeded (a `304 Not Modified` included).
    pub last_success: Option<SystemTime>,
    /// Why the last fetch failed, if it did (cleared by a success).
    pub last_error: Option<String>,
    /// The key ids of the cached set.
    pub key_ids: Vec<String>,
    /// Fetches attempted so far, failed ones included.
    pub fetches: u64,
    /// When the cached set expires (a background refresh starts before).
    pub expires_at: Option<SystemTime>,
}

/// The cached set and when to refresh it.
#[derive(Default)]
struct Cached {
    keys: Option<Arc<KeySet>>,
    /// When the set was last fetched, or confirmed by a `304 Not Modified`.
    fetched_at: Option<Instant>,
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
    validators: Validators,
}

/// What one fetch gave the requests waiting on it.
#[derive(Clone)]
struct Outcome {
    /// The set to verify with: the new one, or the last good one if the fetch failed.
    keys: Option<Arc<KeySet>>,
    error: Option<Failure>,
}

/// A failed fetch: the URL it failed at, and why. Cheap to clone: every request that waited on
/// the fetch gets the same cause.
#[derive(Clone)]
struct Failure {
    url: Url,
    cause: Arc<FetchError>,
}

impl Failure {
    fn new(url: Url, cause: FetchError) -> Self {
        Failure { url, cause: Arc::new(cause) }
    }

    fn to_key_error(&self) -> KeyError {
        KeyError::Fetch { url: self.url.to_string(), source: self.cause.clone() }
    }

    /// The URL and the whole chain of causes, for the log and `RemoteStatus::last_error`.
    fn describe(&self) -> String {
        format!("{}: {}", self.url, chain(&*self.cause))
    }
}

/// While a source keeps failing, one failure a minute is logged at WARN, the others at DEBUG
/// (a down identity provider must not flood the log at the rate requests try to refresh).
const FAILURE_WARNING_INTERVAL: Duration = Duration::from_secs(60);

type Fetch = SharedFuture<Pin<Box<dyn Future<Output = Outcome> + Send>>>;

#[derive(Default)]
struct Record {
    jwks_url: Option<Url>,
    last_fetch: Option<SystemTime>,
    last_success: Option<SystemTime>,
    last_error: Option<String>,
    /// The last failure, until a fetch succeeds: the answer while a retry is not yet due.
    last_failure: Option<Failure>,
    /// When a failure was last logged at WARN (on the key set's clock).
    last_warning: Option<Instant>,
    /// Failures logged at DEBUG since the last warning.
    quiet_failures: u64,
}

struct Shared {
    source: Source,
    /// The name in metrics and readiness reports.
    name: Arc<str>,
    meters: SourceMeters,
    client: reqwest::Client,
    options: Options,
    current: ArcSwap<Cached>,
    inflight: Mutex<Option<Fetch>>,
    /// When an unknown `kid` last caused a refresh (the cooldown clock).
    last_unknown_kid_refresh: Mutex<Option<Instant>>,
    /// When a background or first-use fetch last started (throttles retries after failures).
    last_attempt: Mutex<Option<Instant>>,
    record: Mutex<Record>,
    fetches: AtomicU64,
}

impl RemoteJwks {
    pub(super) fn new(
        source: Source,
        client: reqwest::Client,
        options: Options,
        name: Option<Arc<str>>,
    ) -> Self {
        // Unnamed sources are numbered in order of creation.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = name.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed).to_string().into());
        // A direct JWKS URL is known before any fetch; a discovered one only after.
        let source_url = match &source {
            Source::Jwks(url) => Some(url.clone()),
            Source::Issuer { .. } => None,
        };
        RemoteJwks {
            shared: Arc::new(Shared {
                source,
                meters: SourceMeters::new(Arc::clone(&name)),
                name,
                client,
                options,
                current: ArcSwap::from_pointee(Cached::default()),
                inflight: Mutex::new(None),
                last_unknown_kid_refresh: Mutex::new(None),
                last_attempt: Mutex::new(None),
                record: Mutex::new(Record { jwks_url: source_url, ..Record::default() }),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// Fetches the key set now (for example at startup, to fail fast or warm the cache).
    /// An explicit call is not subject to the cooldown; it joins a fetch already in flight.
    /// A failure is [`KeyError::Fetch`], whose source says why.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let outcome = self.shared.start_or_join().await;
        match outcome.error {
            Some(failure) => Err(failure.to_key_error()),
            None => Ok(()),
        }
    }

    /// Waits for the fetch in flight, if there is one (a background refresh, or the fetch a
    /// request started), and answers with its outcome; answers `None` at once when no fetch is
    /// in flight. Starts nothing. Tests use it to see a background refresh finish without
    /// polling.
    pub async fn wait_for_fetch(&self) -> Option<Result<(), KeyError>> {
        let fetch = lock(&self.shared.inflight).clone()?;
        Some(match fetch.await.error {
            Some(failure) => Err(failure.to_key_error()),
            None => Ok(()),
        })
    }

    /// The provider's state: last fetch, last error, key ids, expiry.
    pub fn status(&self) -> RemoteStatus {
        let shared = &self.shared;
        let cached = shared.current.load();
        let record = lock(&shared.record);
        let clock = &shared.options.clock;
        let (now, wall) = (clock.now(), clock.system_time());
        let to_system = |at: Instant| {
            if at >= now { wall + (at - now) } else { wall - (now - at) }
        };
        RemoteStatus {
            jwks_url: record.jwks_url.as_ref().map(Url::to_string),
            last_fetch: record.last_fetch,
            last_success: record.last_success,
            last_error: record.last_error.clone(),
            key_ids: cached
                .keys
                .iter()
                .flat_map(|set| set.keys().iter().filter_map(|key| key.kid().map(str::to_owned)))
                .collect(),
            fetches: shared.fetches.load(Ordering::Relaxed),
            expires_at: cached.expires_at.map(to_system),
        }
    }
}

impl KeyProvider for RemoteJwks {
    /// Ready while a set is at hand and not past `max_staleness`. A query while none is
    /// starts a fetch (at most one per retry interval, as a request would), so a probe alone
    /// brings the source back after an outage.
    fn readiness(&self) -> Readiness {
        let shared = &self.shared;
        let cached = shared.current.load();
        let now = shared.options.clock.now();
        shared.report_age(&cached, now);
        let source = shared.name.to_string();
        let readiness = match (&cached.keys, cached.fetched_at) {
            (Some(_), _) if !shared.too_stale(&cached, now) => return Readiness::Ready,
            (Some(_), Some(at)) => {
                Readiness::Stale { source, age: now.saturating_duration_since(at) }
            }
            _ => Readiness::NoKeySet { source },
        };
        shared.retry_unusable(now);
        readiness
    }

    fn lookup(&self, header: &TokenHeader<'_>) -> KeyLookup {
        let shared = &self.shared;
        let cached = shared.current.load();
        let now = shared.options.clock.now();
        shared.report_age(&cached, now);
        if let Some(keys) = cached.keys.as_ref().filter(|_| !shared.too_stale(&cached, now)) {
            if cached.refresh_at.is_none_or(|at| now >= at) {
                shared.refresh_in_background(now);
            }
            if keys.has_candidate(header) {
                return KeyLookup::Ready(Ok(Arc::clone(keys)));
            }
        }
        shared.lookup_slow(header, now)
    }
}

impl Shared {
    /// Sets the age gauge (seconds since the last good fetch), when a set was ever fetched.
    fn report_age(&self, cached: &Cached, now: Instant) {
        if let Some(at) = cached.fetched_at {
            self.meters.age(now.saturating_duration_since(at));
        }
    }

    /// How soon a source without a usable set is fetched again: the cooldown, at most 5 s.
    fn retry_interval(&self) -> Duration {
        self.options.cooldown.min(Duration::from_secs(5))
    }

    /// No usable set: starts a fetch unless one is in flight or the last attempt is less than
    /// the retry interval ago (as a request would, in `lookup_slow`).
    fn retry_unusable(self: &Arc<Self>, now: Instant) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut inflight = lock(&self.inflight);
        if inflight.is_none() && claim(&self.last_attempt, now, self.retry_interval()) {
            tracing::debug!("no usable key set: fetching for a readiness query");
            drop(self.start(&mut inflight));
        }
    }

    fn too_stale(&self, cached: &Cached, now: Instant) -> bool {
        cached.expires_at.is_some_and(|expires| now > expires + self.options.max_staleness)
    }

    /// No usable set, or no key for this token in it. Decided under the `inflight` lock,
    /// after reading the set again: a fetch publishes its set before it leaves `inflight`, so
    /// a request either sees the new set or joins the fetch, and exactly one request per
    /// interval starts a fetch.
    fn lookup_slow(self: &Arc<Self>, header: &TokenHeader<'_>, now: Instant) -> KeyLookup {
        let mut inflight = lock(&self.inflight);
        let cached = self.current.load();
        let usable = cached.keys.as_ref().filter(|_| !self.too_stale(&cached, now));
        if let Some(keys) = usable.filter(|keys| keys.has_candidate(header)) {
            return KeyLookup::Ready(Ok(Arc::clone(keys)));
        }
        if let Some(fetch) = inflight.as_ref() {
            return wait_for(fetch.clone());
        }
        let unknown_kid = usable.is_some();
        let (clock, interval) = match usable {
            // Nothing trustworthy cached: retry soon after a failure, but not on every request.
            None => (&self.last_attempt, self.retry_interval()),
            // RFC 7517 §4.5: a new `kid` usually means the issuer rotated keys.
            Some(_) => (&self.last_unknown_kid_refresh, self.options.cooldown),
        };
        if claim(clock, now, interval) {
            tracing::debug!(
                kid = ?header.kid(),
                "no key for the token: refreshing the key set"
            );
            if unknown_kid {
                self.meters.unknown_kid_refresh();
            }
            return wait_for(self.start(&mut inflight));
        }
        match usable {
            Some(keys) => KeyLookup::Ready(Ok(Arc::clone(keys))),
            // The last failure is recent: the same answer until the retry is due.
            None => KeyLookup::Ready(Err(match &lock(&self.record).last_failure {
                Some(failure) => failure.to_key_error(),
                None => KeyError::Unavailable("the key set is not usable yet".into()),
            })),
        }
    }

    fn refresh_in_background(self: &Arc<Self>, now: Instant) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut inflight = lock(&self.inflight);
        let retry = self.options.cooldown.min(self.options.min_ttl).max(Duration::from_millis(100));
        if inflight.is_none() && claim(&self.last_attempt, now, retry) {
            tracing::debug!("key set is due for refresh: fetching in the background");
            drop(self.start(&mut inflight));
        }
    }

    /// The fetch in flight, or a new one.
    fn start_or_join(self: &Arc<Self>) -> Fetch {
        let mut inflight = lock(&self.inflight);
        match inflight.as_ref() {
            Some(fetch) => fetch.clone(),
            None => self.start(&mut inflight),
        }
    }

    /// Starts a fetch; the caller holds the `inflight` lock and saw no fetch in flight. The
    /// fetch runs on the runtime, so it completes and updates the cache even if every request
    /// waiting on it goes away.
    fn start(self: &Arc<Self>, inflight: &mut MutexGuard<'_, Option<Fetch>>) -> Fetch {
        let shared = Arc::clone(self);
        let future: Pin<Box<dyn Future<Output = Outcome> + Send>> = Box::pin(async move {
            let outcome = shared.fetch_once().await;
            *lock(&shared.inflight) = None;
            outcome
        });
        let fetch = future.shared();
        **inflight = Some(fetch.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(fetch.clone().map(drop));
        }
        fetch
    }

    async fn fetch_once(self: &Arc<Self>) -> Outcome {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        lock(&self.record).last_fetch = Some(self.options.clock.system_time());
        let started = Instant::now();
        let previous = self.current.load_full();
        let timeout = self.options.timeout;
        let fetched = match tokio::time::timeout(timeout, self.fetch_document(&previous)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::new(self.url_in_use(), FetchError::TimedOut(timeout))),
        };
        let now = self.options.clock.now();
        let result = match fetched {
            Ok((url, Fetched::Body { body, max_age, validators })) => {
                match parse_document(&body, self.options.jwk_options, Secrets::Refused) {
                    Ok(set) => {
                        let keys = Arc::new(set);
                        self.store(Some(Arc::clone(&keys)), max_age, validators, now);
                        self.meters.fetched(FetchOutcome::Fetched);
                        tracing::info!(url = %url, keys = keys.len(), elapsed_ms = started.elapsed().as_millis() as u64, "fetched key set");
                        Ok(keys)
                    }
                    Err(err) => Err(Failure::new(url, FetchError::KeySet(err))),
                }
            }
            Ok((url, Fetched::NotModified { max_age })) => match &previous.keys {
                Some(keys) => {
                    self.store(Some(Arc::clone(keys)), max_age, previous.validators.clone(), now);
                    self.meters.fetched(FetchOutcome::NotModified);
                    tracing::debug!(url = %url, "key set not modified");
                    Ok(Arc::clone(keys))
                }
                None => Err(Failure::new(url, FetchError::NotModifiedWithoutSet)),
            },
            Err(err) => Err(err),
        };
        match result {
            Ok(keys) => {
                self.meters.age(Duration::ZERO);
                let mut record = lock(&self.record);
                record.last_success = Some(self.options.clock.system_time());
                record.last_error = None;
                if record.last_failure.take().is_some() {
                    tracing::info!("key set fetched again after failures");
                }
                record.last_warning = None;
                record.quiet_failures = 0;
                Outcome { keys: Some(keys), error: None }
            }
            Err(failure) => {
                self.meters.fetched(FetchOutcome::Failed);
                let fallback = previous.keys.clone().filter(|_| !self.too_stale(&previous, now));
                let kept_last_good_set = fallback.is_some();
                let error = failure.describe();
                let mut record = lock(&self.record);
                let warn = record
                    .last_warning
                    .is_none_or(|at| now.saturating_duration_since(at) >= FAILURE_WARNING_INTERVAL);
                if warn {
                    let quiet_failures = std::mem::take(&mut record.quiet_failures);
                    record.last_warning = Some(now);
                    tracing::warn!(%error, kept_last_good_set, quiet_failures, "key set fetch failed");
                } else {
                    record.quiet_failures += 1;
                    tracing::debug!(%error, kept_last_good_set, "key set fetch failed again");
                }
                record.last_error = Some(error);
                record.last_failure = Some(failure.clone());
                Outcome { keys: fallback, error: Some(failure) }
            }
        }
    }

    /// The URL a fetch is working on: the JWKS URL when known, else the issuer's.
    fn url_in_use(&self) -> Url {
        match (&self.source, &lock(&self.record).jwks_url) {
            (_, Some(url)) | (Source::Jwks(url), None) | (Source::Issuer { url, .. }, None) => {
                url.clone()
            }
        }
    }

    /// Resolves the JWKS URL (discovering it when needed) and fetches the set.
    async fn fetch_document(&self, previous: &Cached) -> Result<(Url, Fetched), Failure> {
        let url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Issuer { issuer, url } => {
                let known = lock(&self.record).jwks_url.clone();
                match known {
                    Some(jwks_url) => jwks_url,
                    None => {
                        let options = &self.options;
                        discover_jwks_uri(
                            &self.client,
                            issuer,
                            url,
                            options.max_response_bytes,
                            options.allow_http,
                        )
                        .await
                        .map_err(|(url, cause)| Failure::new(url, cause))?
                    }
                }
            }
        };
        lock(&self.record).jwks_url = Some(url.clone());
        let validators = previous.keys.as_ref().map(|_| &previous.validators);
        match get_json(&self.client, &url, self.options.max_response_bytes, validators).await {
            Ok(fetched) => Ok((url, fetched)),
            Err(err) => {
                if matches!(self.source, Source::Issuer { .. }) {
                    // The document may have moved: discover again next time.
                    lock(&self.record).jwks_url = None;
                }
                Err(Failure::new(url, err))
            }
        }
    }

    fn store(
        &self,
        keys: Option<Arc<KeySet>>,
        max_age: Option<Duration>,
        validators: Validators,
        now: Instant,
    ) {
        let options = &self.options;
        let ttl = max_age.unwrap_or(options.default_ttl).clamp(options.min_ttl, options.max_ttl);
        self.current.store(Arc::new(Cached {
            keys,
            fetched_at: Some(now),
            refresh_at: Some(now + ttl.mul_f64(0.9)),
            expires_at: Some(now + ttl),
            validators,
        }));
    }
}

/// Waits for `fetch` and answers with its keys (the new set, or the last good one).
fn wait_for(fetch: Fetch) -> KeyLookup {
    KeyLookup::pending(async move {
        let outcome = fetch.await;
        match (outcome.keys, outcome.error) {
            (Some(keys), _) => Ok(keys),
            (None, Some(failure)) => Err(failure.to_key_error()),
            (None, None) => Err(KeyError::Unavailable("the fetch gave no key set".into())),
        }
    })
}

/// Takes the slot if `interval` has passed since the last taker; the check and the update
/// happen under one lock, so exactly one caller wins per interval.
fn claim(last: &Mutex<Option<Instant>>, now: Instant, interval: Duration) -> bool {
    let mut last = lock(last);
    if last.is_some_and(|at| now.saturating_duration_since(at) < interval) {
        return false;
    }
    *last = Some(now);
    true
}

/// A poisoned lock only means another thread panicked while holding it; the data (times,
/// counters, an optional future) is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.shared.source {
            Source::Jwks(url) => url.as_str(),
            Source::Issuer { issuer, .. } => issuer.as_str(),
        };
        f.debug_struct("RemoteJwks")
            .field("name", &self.shared.name)
            .field("source", &source)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}
