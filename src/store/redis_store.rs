//! Replay and revocation state in Redis, so a fleet of servers shares one view.

use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
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

/// A [`ReplayStore`] and [`RevocationStore`] in Redis (feature `redis`): one server
/// ([`RedisStore::new`]) or a Redis Cluster ([`RedisStore::cluster`]).
///
/// Keys: `{prefix}replay:{key}` (`SET NX PXAT`, atomic across servers),
/// `{prefix}revoked:jti:{jti}` and `{prefix}revoked:sub:{sub}` (the cut-off in seconds), each
/// expiring on its own. Every command and script touches exactly one key, so in a cluster each
/// operation stays within one hash slot and the keys spread over the nodes (keep `{` and `}`
/// out of the prefix: a hash tag there would put every key in one slot).
///
/// It connects on first use and reconnects after failures; every operation, connecting
/// included, is bounded by a timeout (default 1 s). When Redis cannot answer within it, the
/// check fails and the request is refused with 503: a replay or a revoked token never gets
/// through because Redis is down or slow. A request that finds Redis down costs up to one
/// timeout, and so does each request while it is unreachable without refusing connections
/// (a dropped network path rather than a stopped server). The connection is made on the Tokio
/// runtime of the first operation and lives there: use a store from one runtime.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use jwt_layer::store::RedisStore;
///
/// let store = Arc::new(RedisStore::new("redis://127.0.0.1:6379/")?);
///
/// // A cluster: any of its primaries (the rest is discovered), a tighter bound per operation.
/// let cluster = RedisStore::cluster(["redis://10.0.0.1:6379/", "redis://10.0.0.2:6379/"])?
///     .prefix("my-api:")
///     .timeout(Duration::from_millis(250));
/// # Ok::<(), jwt_layer::store::StoreError>(())
/// ```
pub struct RedisStore {
    target: Target,
    connection: OnceCell<Connection>,
    prefix: String,
    timeout: Duration,
    revoke_subject: redis::Script,
    revoke_token: redis::Script,
}

/// Where the store's Redis is.
enum Target {
    Server(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// A live connection: both kinds reconnect on their own after failures.
#[derive(Clone)]
enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

impl RedisStore {
    /// A store for the server at `url` (`redis://host:port/db`, `rediss://` for TLS when the
    /// `redis` crate's TLS features are enabled), with key prefix `jwt-layer:`. Only the URL
    /// is checked here; the server is first contacted by the first operation.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|err| StoreError::Unavailable(format!("invalid Redis URL: {err}")))?;
        Ok(RedisStore::with_target(Target::Server(client)))
    }

    /// A store in the Redis Cluster that `nodes` belong to (`redis://host:port/`; a few of its
    /// primaries, the rest of the cluster is discovered from them), with key prefix
    /// `jwt-layer:`. Same semantics as [`RedisStore::new`]: each operation is one command or
    /// script on one key, sent to the node that holds its slot (redirections are followed),
    /// and the whole operation is bounded by the timeout.
    pub fn cluster<I>(nodes: I) -> Result<Self, StoreError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let nodes: Vec<String> = nodes.into_iter().map(|url| url.as_ref().to_owned()).collect();
        if nodes.is_empty() {
            return Err(StoreError::Unavailable("no Redis Cluster node given".to_owned()));
        }
        let client = ClusterClient::new(nodes)
            .map_err(|err| StoreError::Unavailable(format!("invalid Redis Cluster URL: {err}")))?;
        Ok(RedisStore::with_target(Target::Cluster(Box::new(client))))
    }

    fn with_target(target: Target) -> Self {
        RedisStore {
            target,
            connection: OnceCell::new(),
            prefix: "jwt-layer:".to_owned(),
            timeout: DEFAULT_TIMEOUT,
            revoke_subject: redis::Script::new(REVOKE_SUBJECT),
            revoke_token: redis::Script::new(REVOKE_TOKEN),
        }
    }

    /// Prefixes every key (default `jwt-layer:`), to share a Redis between applications.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bounds each operation, connecting included (default 1 s). This is the longest a
    /// request waits for the store before it is refused with 503.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn connection(&self) -> Result<Connection, StoreError> {
        self.connection
            .get_or_try_init(|| async {
                match &self.target {
                    Target::Server(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(self.timeout))
                            .set_response_timeout(Some(self.timeout))
                            .set_number_of_retries(1);
                        ConnectionManager::new_with_config(client.clone(), config)
                            .await
                            .map(Connection::Server)
                    }
                    Target::Cluster(client) => {
                        let config = ClusterConfig::new()
                            .set_connection_timeout(self.timeout)
                            .set_response_timeout(self.timeout);
                        client
                            .get_async_connection_with_config(config)
                            .await
                            .map(Connection::Cluster)
                    }
                }
            })
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

/// `GET key` on its own: one key, so one slot in a cluster.
async fn get<T: redis::FromRedisValue>(
    mut connection: Connection,
    key: Option<String>,
) -> Result<Option<T>, StoreError> {
    let Some(key) = key else { return Ok(None) };
    redis::cmd("GET").arg(key).query_async(&mut connection).await.map_err(unavailable)
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URLs may carry a password.
        let kind = match self.target {
            Target::Server(_) => "server",
            Target::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("kind", &kind)
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
            let connection = self.connection().await?;
            // Two single-key GETs sent together rather than one MGET: the jti key and the
            // subject key hash to different slots, and a cluster refuses a multi-key command
            // across slots (CROSSSLOT). The cluster client would split such an MGET per slot
            // behind our back; a GET per key says so plainly and holds with any client or
            // proxy. A hash tag could put both keys in one slot only by putting every
            // revocation there. Nothing is lost: the keys are independent, a revocation
            // written while they are read is seen by the next request either way, and a claim
            // the token lacks is not looked up at all.
            let jti_key = token.jti.map(|jti| format!("{}revoked:jti:{jti}", self.prefix));
            let sub_key = token.sub.map(|sub| format!("{}revoked:sub:{sub}", self.prefix));
            let (jti, cutoff) = futures_util::future::try_join(
                get::<String>(connection.clone(), jti_key),
                get::<f64>(connection, sub_key),
            )
            .await?;
            let by_jti = jti.is_some();
            let by_subject = cutoff.is_some_and(|cutoff| token.iat.is_none_or(|iat| iat < cutoff));
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
