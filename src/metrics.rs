//! What the layer reports through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`), so any exporter (Prometheus, StatsD, OpenTelemetry …) can publish it.
//!
//! Install a recorder (an exporter) before the first request; call [`describe`] once after it
//! to give each metric its help text and unit. Without the feature nothing is recorded and the
//! hooks compile to nothing.
//!
//! | Name | Type | Labels | What |
//! |------|------|--------|------|
//! | `jwt_layer_requests_total` | counter | `outcome` (`accepted`, `refused`, `anonymous`); `reason` on refusals | the layer's verdicts (not the 403s of route layers, nor calls of `JwtAuth::verify`); `reason` is [`AuthError::metric_label`](crate::AuthError::metric_label) (`expired`, `invalid_signature`, `malformed`, …) |
//! | `jwt_layer_verification_seconds` | histogram | `algorithm` (`HS256`, …, or `other`) | time to verify a token, from the layer's call to the verdict (a key fetch the token waited for included) |
//! | `jwt_layer_key_set_fetches_total` | counter | `source`, `outcome` (`fetched`, `not_modified`, `failed`) | fetches of a remote key set |
//! | `jwt_layer_key_set_age_seconds` | gauge | `source` | time since the last good fetch; set at each fetch, key lookup and readiness query |
//! | `jwt_layer_key_set_unknown_kid_refreshes_total` | counter | `source` | refreshes started because a token named a key not in the set |
//! | `jwt_layer_token_cache_lookups_total` | counter | `result` (`hit`, `miss`) | lookups in the verified-token cache, when it is on |
//! | `jwt_layer_store_errors_total` | counter | `store` (`replay`, `revocation`) | a replay or revocation store could not answer (the request got 503) |
//!
//! Every label value comes from a fixed set: the `algorithm` is the token's `alg` only when it
//! is one this crate verifies, and `source` is the name given with
//! [`RemoteJwksBuilder::name`](crate::keys::RemoteJwksBuilder::name) (by default the
//! provider's number, `0`, `1`, … in order of creation). Nothing a token carries (`kid`,
//! `iss`, `sub`, a URL) ever becomes a label.
//!
//! Each `JwtAuth` (and each remote source, and each token cache) registers a series with the
//! recorder in effect where it first reports it, and keeps the handle: recording is then an
//! atomic update, not a look-up by name. So install the recorder before the first request; a
//! series first reported with no recorder installed stays unrecorded.
//!
//! ```
//! // With any exporter installed as the global recorder, then:
//! jwt_layer::metrics::describe();
//! ```

use std::sync::OnceLock;
use std::time::Instant;

use ::metrics::{Counter, Histogram, Unit};

use crate::error::AuthError;
use crate::jose::algorithm::Algorithm;
#[cfg(feature = "remote")]
use crate::metric_label::FetchOutcome;
use crate::metric_label::{REFUSAL_LABELS, refusal_class};

/// Requests the layer decided on, by outcome and refusal reason.
pub const REQUESTS: &str = "jwt_layer_requests_total";
/// Time to verify a token, by algorithm.
pub const VERIFICATION_SECONDS: &str = "jwt_layer_verification_seconds";
/// Remote key set fetches, by source and outcome.
pub const KEY_SET_FETCHES: &str = "jwt_layer_key_set_fetches_total";
/// Seconds since a remote key set was last fetched successfully, by source.
pub const KEY_SET_AGE_SECONDS: &str = "jwt_layer_key_set_age_seconds";
/// Refreshes caused by an unknown `kid`, by source.
pub const UNKNOWN_KID_REFRESHES: &str = "jwt_layer_key_set_unknown_kid_refreshes_total";
/// Verified-token cache lookups, by result.
pub const TOKEN_CACHE_LOOKUPS: &str = "jwt_layer_token_cache_lookups_total";
/// Replay or revocation store failures, by store.
pub const STORE_ERRORS: &str = "jwt_layer_store_errors_total";
/// A tenant resolver's answers, by result (`approved`, `refused`, `failed`); never by issuer.
pub const TENANT_RESOLUTIONS: &str = "jwt_layer_tenant_resolutions_total";
/// Tenants whose key caches are live.
pub const TENANTS_LIVE: &str = "jwt_layer_tenants_live";

/// Gives every metric above its help text and unit, in the recorder installed now. Optional:
/// the metrics are recorded without it.
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, "Requests the JWT layer accepted or refused, by reason");
    describe_histogram!(VERIFICATION_SECONDS, Unit::Seconds, "Time to verify a token");
    describe_counter!(KEY_SET_FETCHES, "Remote key set fetches, by outcome");
    describe_gauge!(
        KEY_SET_AGE_SECONDS,
        Unit::Seconds,
        "Time since the remote key set was last fetched successfully"
    );
    describe_counter!(UNKNOWN_KID_REFRESHES, "Key set refreshes caused by an unknown kid");
    describe_counter!(TOKEN_CACHE_LOOKUPS, "Verified-token cache lookups, by result");
    describe_counter!(STORE_ERRORS, "Replay or revocation store failures");
    describe_counter!(TENANT_RESOLUTIONS, "Tenant resolver answers, by result");
    describe_gauge!(TENANTS_LIVE, "Tenants whose key caches are live");
}

/// The layer's own meters, one set per `JwtAuth`.
pub(crate) struct Meters {
    accepted: OnceLock<Counter>,
    anonymous: OnceLock<Counter>,
    refused: [OnceLock<Counter>; REFUSAL_LABELS.len()],
    /// One per supported algorithm, then `other`.
    verification: [OnceLock<Histogram>; Algorithm::ALL.len() + 1],
}

/// When a verification started.
#[derive(Clone, Copy)]
pub(crate) struct Timer(Instant);

impl Meters {
    pub(crate) fn new() -> Self {
        Meters {
            accepted: OnceLock::new(),
            anonymous: OnceLock::new(),
            refused: std::array::from_fn(|_| OnceLock::new()),
            verification: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    pub(crate) fn accepted(&self) {
        self.accepted
            .get_or_init(|| ::metrics::counter!(REQUESTS, "outcome" => "accepted"))
            .increment(1);
    }

    /// A request without credentials let through in optional mode.
    pub(crate) fn anonymous(&self) {
        self.anonymous
            .get_or_init(|| ::metrics::counter!(REQUESTS, "outcome" => "anonymous"))
            .increment(1);
    }

    pub(crate) fn refused(&self, err: &AuthError) {
        let class = refusal_class(err);
        let reason = REFUSAL_LABELS[class];
        self.refused[class]
            .get_or_init(
                || ::metrics::counter!(REQUESTS, "outcome" => "refused", "reason" => reason),
            )
            .increment(1);
    }

    pub(crate) fn start(&self) -> Timer {
        Timer(Instant::now())
    }

    /// Records the time since `timer` for a token with the header's `algorithm` (`None`: the
    /// header could not be read, or there was none).
    pub(crate) fn verified(&self, timer: Timer, algorithm: Option<Algorithm>) {
        let elapsed = timer.0.elapsed();
        let index = algorithm
            .and_then(|alg| Algorithm::ALL.iter().position(|known| *known == alg))
            .unwrap_or(Algorithm::ALL.len());
        self.verification[index]
            .get_or_init(|| {
                let label = algorithm.map_or("other", Algorithm::as_str);
                ::metrics::histogram!(VERIFICATION_SECONDS, "algorithm" => label)
            })
            .record(elapsed);
    }
}

/// The verified-token cache's meters.
pub(crate) struct CacheMeters {
    hit: OnceLock<Counter>,
    miss: OnceLock<Counter>,
}

impl CacheMeters {
    pub(crate) fn new() -> Self {
        CacheMeters { hit: OnceLock::new(), miss: OnceLock::new() }
    }

    pub(crate) fn lookup(&self, hit: bool) {
        let counter = if hit {
            self.hit.get_or_init(|| ::metrics::counter!(TOKEN_CACHE_LOOKUPS, "result" => "hit"))
        } else {
            self.miss.get_or_init(|| ::metrics::counter!(TOKEN_CACHE_LOOKUPS, "result" => "miss"))
        };
        counter.increment(1);
    }
}

/// A remote key source's meters, labelled with its name.
#[cfg(feature = "remote")]
pub(crate) struct SourceMeters {
    source: std::sync::Arc<str>,
    age: OnceLock<::metrics::Gauge>,
}

#[cfg(feature = "remote")]
impl SourceMeters {
    pub(crate) fn new(source: std::sync::Arc<str>) -> Self {
        SourceMeters { source, age: OnceLock::new() }
    }

    pub(crate) fn fetched(&self, outcome: FetchOutcome) {
        let source = self.source.to_string();
        let outcome = outcome.label();
        ::metrics::counter!(KEY_SET_FETCHES, "source" => source, "outcome" => outcome).increment(1);
    }

    /// The age of the set in use, in seconds.
    pub(crate) fn age(&self, age: std::time::Duration) {
        let register =
            || ::metrics::gauge!(KEY_SET_AGE_SECONDS, "source" => self.source.to_string());
        self.age.get_or_init(register).set(age.as_secs_f64());
    }

    pub(crate) fn unknown_kid_refresh(&self) {
        let source = self.source.to_string();
        ::metrics::counter!(UNKNOWN_KID_REFRESHES, "source" => source).increment(1);
    }
}

/// A tenant resolver's answer (`approved`, `refused`, `failed`), and the live tenants after it.
#[cfg(feature = "remote")]
pub(crate) fn tenant_resolved(result: &'static str, live: usize) {
    ::metrics::counter!(TENANT_RESOLUTIONS, "result" => result).increment(1);
    ::metrics::gauge!(TENANTS_LIVE).set(live as f64);
}

/// A replay or revocation store could not answer.
pub(crate) fn store_error(store: &'static str) {
    ::metrics::counter!(STORE_ERRORS, "store" => store).increment(1);
}
