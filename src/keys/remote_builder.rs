//! Settings of a remote key set, checked once by [`RemoteJwksBuilder::build`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::keys::fetch::url_allowed;
use crate::keys::remote::{Options, RemoteJwks, Source};
use crate::keys::{Clock, JwkOptions, Jwks, KeyError, MAX_JWKS_BYTES, SystemClock};

/// Default time allowed for one fetch, body included.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default minimum time between refreshes triggered by unknown `kid`s.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Default lower bound on a key set's lifetime.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(5 * 60);
/// Default upper bound on a key set's lifetime.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default lifetime when the server sends no `max-age`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);
/// Default time past expiry that the last good set is used while refreshes fail.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(24 * 60 * 60);
/// Redirects the default client follows (each to an allowed URL).
const MAX_REDIRECTS: usize = 3;

/// Configures a [`RemoteJwks`].
#[derive(Debug)]
pub struct RemoteJwksBuilder {
    source: Result<Source, KeyError>,
    client: Option<reqwest::Client>,
    options: Options,
    name: Option<Arc<str>>,
}

impl RemoteJwks {
    /// A provider for the JWKS at `jwks_url`.
    pub fn builder(jwks_url: impl AsRef<str>) -> RemoteJwksBuilder {
        let source = parse_url(jwks_url.as_ref()).map(Source::Jwks);
        RemoteJwksBuilder::new(source)
    }

    /// A provider that finds the JWKS through the issuer's discovery document
    /// (`{issuer}/.well-known/openid-configuration`, then RFC 8414's
    /// `/.well-known/oauth-authorization-server`), whose `issuer` must equal `issuer` exactly.
    pub fn discover_builder(issuer: impl AsRef<str>) -> RemoteJwksBuilder {
        let issuer = issuer.as_ref();
        let source = parse_url(issuer).map(|url| Source::Issuer { issuer: issuer.to_owned(), url });
        RemoteJwksBuilder::new(source)
    }
}

impl Jwks {
    /// A remote JWKS with default settings (see [`RemoteJwks::builder`]).
    pub fn remote(jwks_url: impl AsRef<str>) -> Result<RemoteJwks, KeyError> {
        RemoteJwks::builder(jwks_url).build()
    }

    /// A remote JWKS found by OIDC discovery, with default settings (see
    /// [`RemoteJwks::discover_builder`]).
    pub fn discover(issuer: impl AsRef<str>) -> Result<RemoteJwks, KeyError> {
        RemoteJwks::discover_builder(issuer).build()
    }
}

impl RemoteJwksBuilder {
    fn new(source: Result<Source, KeyError>) -> Self {
        RemoteJwksBuilder {
            source,
            client: None,
            name: None,
            options: Options {
                timeout: DEFAULT_FETCH_TIMEOUT,
                max_response_bytes: MAX_JWKS_BYTES,
                cooldown: DEFAULT_COOLDOWN,
                min_ttl: DEFAULT_MIN_TTL,
                max_ttl: DEFAULT_MAX_TTL,
                default_ttl: DEFAULT_TTL,
                max_staleness: DEFAULT_MAX_STALENESS,
                allow_http: false,
                jwk_options: JwkOptions::default(),
                clock: Arc::new(SystemClock),
            },
        }
    }

    /// Uses this HTTP client (custom CA, mTLS, proxy) for discovery and every JWKS fetch.
    /// Its own redirect policy applies; the fetch timeout and size cap still do.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Time allowed for one fetch, discovery and body included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The largest response read (default 1 MiB); a larger one fails the fetch.
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.options.max_response_bytes = max;
        self
    }

    /// Minimum time between refreshes caused by tokens with unknown `kid`s (default 30 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.options.cooldown = cooldown;
        self
    }

    /// Lower bound on a set's lifetime, whatever `Cache-Control` says (default 5 min).
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.options.min_ttl = ttl;
        self
    }

    /// Upper bound on a set's lifetime (default 24 h).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.options.max_ttl = ttl;
        self
    }

    /// Lifetime when the response has no `max-age` (default 10 min).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.options.default_ttl = ttl;
        self
    }

    /// How long past its expiry the last good set is still used while refreshes fail
    /// (default 24 h). After that, requests are refused until a fetch succeeds.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.options.max_staleness = staleness;
        self
    }

    /// Allows plain `http` to hosts other than loopback (default: only `https`, and `http` to
    /// `localhost`, `127.0.0.0/8` and `::1`). Key sets fetched over plain HTTP can be replaced
    /// by anyone on the path.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.options.allow_http = allow;
        self
    }

    /// How keys without `alg` are treated (see [`JwkOptions`]).
    pub fn jwk_options(mut self, options: JwkOptions) -> Self {
        self.options.jwk_options = options;
        self
    }

    /// The clock that lifetimes, cooldowns and staleness are measured on (default
    /// [`SystemClock`]). Tests pass a clock they move by hand (see [`Clock`]); the fetch
    /// timeout stays on real time.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.options.clock = Arc::new(clock);
        self
    }

    /// A short name for this source in metrics labels and readiness reports (for example
    /// `"corporate-idp"`). By default a source is known by its number: `0`, `1`, … in the
    /// order the process built them. The URL is never used, so labels stay few and short.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Checks the settings and builds the provider; nothing is fetched until first use or
    /// [`RemoteJwks::refresh`].
    pub fn build(self) -> Result<RemoteJwks, KeyError> {
        let source = self.source?;
        let options = self.options;
        let url = match &source {
            Source::Jwks(url) | Source::Issuer { url, .. } => url,
        };
        if !url_allowed(url, options.allow_http) {
            return Err(KeyError::InsecureUrl { url: url.to_string() });
        }
        if options.min_ttl > options.max_ttl {
            let (min_ttl, max_ttl) = (options.min_ttl, options.max_ttl);
            return Err(KeyError::TtlBoundsReversed { min_ttl, max_ttl });
        }
        if options.timeout.is_zero() {
            return Err(KeyError::ZeroTimeout);
        }
        if options.max_response_bytes == 0 {
            return Err(KeyError::ZeroResponseLimit);
        }
        let client = match self.client {
            Some(client) => client,
            None => default_client(options.timeout, options.allow_http)?,
        };
        Ok(RemoteJwks::new(source, client, options, self.name))
    }
}

/// The client a key set with default settings builds for itself, for sources that share one
/// (many tenants' key sets: one connection pool, one TLS configuration).
pub(crate) fn default_http_client() -> Result<reqwest::Client, KeyError> {
    default_client(DEFAULT_FETCH_TIMEOUT, false)
}

fn default_client(timeout: Duration, allow_http: bool) -> Result<reqwest::Client, KeyError> {
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        // `previous` holds the original URL too: the n-th redirect sees n URLs.
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if !url_allowed(attempt.url(), allow_http) {
            attempt.error("redirect to a URL that is not https")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(redirects)
        .user_agent(concat!("jwt-layer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(KeyError::HttpClient)
}

fn parse_url(text: &str) -> Result<Url, KeyError> {
    Url::parse(text).map_err(|source| KeyError::InvalidUrl { url: text.to_owned(), source })
}
