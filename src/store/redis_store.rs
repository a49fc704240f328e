//! Replay and revocation state in Redis, so a fleet of servers shares one view.

use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::store::{
    ReplayStore, RevocationStore, StoreError, StoreFuture, TokenState, unix_seconds,
};

/// Default bound on one Redis operation, connecting included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Keeps the later of two cut-off times and the later of two expiries, so a revocation is
/// never shortened (needs Redis 7 for `PEXPIRETIME`).
const REVOKE_SUBJECT: &str = r"
local current = redis.call('GET', KEYS[1])
local expiry = tonumber(ARGV[2])
if current then
  expiry = math.max(expiry, redis.call('PEXPIRETIME', KEYS[1]))
end
if (not current) or tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', expiry)
else
  redis.call('PEXPIREAT', KEYS[1], expiry)
end
return 1
";

/// Revokes a token id, keeping the later of two expiries.
const REVOKE_TOKEN: &str = r"
if redis.call('SET', KEYS[1], 1, 'NX', 'PXAT', ARGV[1]) then return 1 end
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 1
";

/// A [`ReplayStore`] and [`RevocationStore`] in Redis (feature `redis`).
///
/// Keys: `{prefix}replay:{key}` (`SET NX PXAT`, atomic across servers),
/// `{prefix}revoked:jti:{jti}` and `{prefix}revoked:sub:{sub}` (the cut-off in seconds), each
/// expiring on its own. It connects on first use and reconnects after failures; every
/// operation is bounded by a timeout (default 1 s). When Redis cannot answer, the check fails
/// and the request is refused with 503: a replay or a revoked token never gets through because
/// Redis is down.
///
/// ```no_run
/// use std::sync::Arc;
/// use jwt_layer::store::RedisStore;
///
/// let store = Arc::new(RedisStore::new("redis://127.0.0.1:6379/")?);
/// # Ok::<(), jwt_layer::store::StoreError>(())
/// ```
pub struct RedisStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    revoke_subject: redis::Script,
    revoke_token: redis::Script,
}

impl RedisStore {
    /// A store for the server at `url` (`redis://host:port/db`, `rediss://` for TLS when the
    /// `redis` crate's TLS features are enabled), with key prefix `jwt-layer:`.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|err| StoreError::Unavailable(format!("invalid Redis URL: {err}")))?;
        Ok(RedisStore {
            client,
            connection: OnceCell::new(),
            prefix: "jwt-layer:".to_owned(),
            timeout: DEFAULT_TIMEOUT,
            revoke_subject: redis::Script::new(REVOKE_SUBJECT),
            revoke_token: redis::Script::new(REVOKE_TOKEN),
        })
    }

    /// Prefixes every key (default `jwt-layer:`), to share a Redis between applications.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bounds each operation, connecting included (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
            .map_err(unavailable)
    }

    /// Runs `operation` within the timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "Redis did not answer within {:?}",
                self.timeout
            ))),
        }
        // The request that needed the answer logs the failure (rate-limited).
        .inspect_err(|err| tracing::debug!(error = %err, "token state store failed"))
    }
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ReplayStore for RedisStore {
    fn first_use<'a>(&'a self, key: &'a str, expires_at: SystemTime) -> StoreFuture<'a, bool> {
        Box::pin(self.bounded(async move {
            let mut connection = self.connection().await?;
            // At least a millisecond ahead, or Redis refuses the expiry.
            let at = millis(expires_at).max(millis(SystemTime::now()) + 1);
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}replay:{key}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PXAT")
                .arg(at)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(set.is_some())
        }))
    }
}

impl RevocationStore for RedisStore {
    fn is_revoked<'a>(&'a self, token: TokenState<'a>) -> StoreFuture<'a, bool> {
        Box::pin(self.bounded(async move {
            let mut connection = self.connection().await?;
            let jti_key = format!("{}revoked:jti:{}", self.prefix, token.jti.unwrap_or(""));
            let sub_key = format!("{}revoked:sub:{}", self.prefix, token.sub.unwrap_or(""));
            let (jti, cutoff): (Option<String>, Option<f64>) = redis::cmd("MGET")
                .arg(&jti_key)
                .arg(&sub_key)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            let by_jti = token.jti.is_some() && jti.is_some();
            let by_subject = token.sub.is_some()
                && cutoff.is_some_and(|cutoff| token.iat.is_none_or(|iat| iat < cutoff));
            Ok(by_jti || by_subject)
        }))
    }

    fn revoke_token<'a>(&'a self, jti: &'a str, until: SystemTime) -> StoreFuture<'a, ()> {
        Box::pin(self.bounded(async move {
            let mut connection = self.connection().await?;
            let at = millis(until).max(millis(SystemTime::now()) + 1);
            self.revoke_token
                .key(format!("{}revoked:jti:{jti}", self.prefix))
                .arg(at)
                .invoke_async::<()>(&mut connection)
                .await
                .map_err(unavailable)
        }))
    }

    fn revoke_subject<'a>(
        &'a self,
        sub: &'a str,
        issued_before: SystemTime,
        until: SystemTime,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.bounded(async move {
            let mut connection = self.connection().await?;
            let at = millis(until).max(millis(SystemTime::now()) + 1);
            self.revoke_subject
                .key(format!("{}revoked:sub:{sub}", self.prefix))
                .arg(unix_seconds(issued_before))
                .arg(at)
                .invoke_async::<()>(&mut connection)
                .await
                .map_err(unavailable)
        }))
    }
}
