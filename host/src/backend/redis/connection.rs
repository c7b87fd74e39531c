//! The connection to the Redis server or cluster: one multiplexed
//! connection shared by every call (concurrent calls are pipelined on it,
//! never a connection per request), opened lazily so kvs starts while the
//! backend is down, and reopened by itself after a failure.
//!
//! redis-rs reconnects by itself, but its cluster client can wedge: after
//! a slot migration its topology refresh may wait forever on requests in
//! flight, and every later request then times out (seen here with
//! `redis-cli --cluster reshard` under load). So a link on which
//! [`TIMEOUTS_TO_REOPEN`] operations in a row time out is dropped and a
//! fresh one opened.

use super::layout::{self, Layout};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ClientTlsConfig, Cmd, Pipeline, RedisFuture, TlsCertificates, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

/// Operations in a row that time out before the link is reopened.
pub const TIMEOUTS_TO_REOPEN: u32 = 2;

/// What `--store` names, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `redis://[user:password@]HOST:PORT[/DB]`, or `rediss://` over TLS,
    /// kept whole for the client.
    Server(String),
    /// `redis-cluster://[user:password@]HOST:PORT[,HOST:PORT...]`, or
    /// `rediss-cluster://` over TLS: the seed nodes, as `redis://` (or
    /// `rediss://`) addresses, and the credentials.
    Cluster {
        seeds: Vec<String>,
        username: Option<String>,
        password: Option<String>,
    },
}

impl Target {
    /// Parses a `--store` URL other than `memory`.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            redis::Client::open(url).map_err(|error| format!("{url}: {error}"))?;
            return Ok(Self::Server(url.to_string()));
        }
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis-cluster://") {
            ("redis", rest)
        } else if let Some(rest) = url.strip_prefix("rediss-cluster://") {
            ("rediss", rest)
        } else {
            return Err(format!(
                "{url}: expected memory, redis[s]://HOST:PORT[/DB] or \
                 redis[s]-cluster://HOST:PORT[,HOST:PORT...]"
            ));
        };
        let (credentials, nodes) = match rest.rsplit_once('@') {
            Some((credentials, nodes)) => (Some(credentials), nodes),
            None => (None, rest),
        };
        let (username, password) = match credentials {
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => (
                    (!user.is_empty()).then(|| user.to_string()),
                    Some(password.to_string()),
                ),
                None => (Some(credentials.to_string()), None),
            },
            None => (None, None),
        };
        let seeds: Vec<String> = nodes
            .trim_end_matches('/')
            .split(',')
            .filter(|node| !node.is_empty())
            .map(|node| format!("{scheme}://{node}"))
            .collect();
        if seeds.is_empty() {
            return Err(format!("{url}: names no node (HOST:PORT)"));
        }
        for seed in &seeds {
            redis::Client::open(seed.as_str()).map_err(|error| format!("{seed}: {error}"))?;
        }
        Ok(Self::Cluster {
            seeds,
            username,
            password,
        })
    }

    /// Whether the links are TLS (`rediss://`, `rediss-cluster://`).
    pub fn tls(&self) -> bool {
        match self {
            Self::Server(url) => url.starts_with("rediss://"),
            Self::Cluster { seeds, .. } => seeds.iter().all(|seed| seed.starts_with("rediss://")),
        }
    }

    /// The target for logs and status, without its password.
    pub fn describe(&self) -> String {
        let scheme = if self.tls() { "rediss" } else { "redis" };
        match self {
            Self::Server(url) => match redis::Client::open(url.as_str()) {
                Ok(client) => {
                    let address = client.get_connection_info().addr().to_string();
                    // redis-rs writes a TLS address as "host:port (insecure=..)".
                    let address = address.split(' ').next().unwrap_or_default();
                    format!("{scheme}://{address}")
                }
                Err(_) => format!("{scheme}://?"),
            },
            Self::Cluster { seeds, .. } => format!(
                "{scheme}-cluster://{}",
                seeds
                    .iter()
                    .map(|seed| seed
                        .split_once("://")
                        .map_or(seed.as_str(), |(_, node)| node))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

/// What a TLS link trusts and shows (`--store-ca-file`,
/// `--store-cert-file`, `--store-key-file`), read at start-up. Without a
/// CA file the system's roots are trusted; without a certificate kvs shows
/// none (a Redis with `tls-auth-clients yes`, its default, then refuses it).
#[derive(Clone, Default)]
pub struct TlsFiles {
    /// PEM certificates of the authorities that may sign the server's.
    pub ca: Option<Vec<u8>>,
    /// kvs's own PEM certificate and key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

impl TlsFiles {
    fn certificates(&self) -> Option<TlsCertificates> {
        if self.ca.is_none() && self.client.is_none() {
            return None;
        }
        Some(TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.ca.clone(),
        })
    }
}

/// A handle to the connection, cheap to clone.
#[derive(Clone)]
pub enum Link {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Opens the link on first use; a failed attempt is retried by the next call.
pub struct Connector {
    target: Target,
    tls: TlsFiles,
    timeout: Duration,
    link: RwLock<Option<Link>>,
    /// Held while a link is being opened, so calls arriving meanwhile wait
    /// for it instead of opening links of their own.
    opening: tokio::sync::Mutex<()>,
    timeouts_in_a_row: AtomicU32,
}

impl Connector {
    pub fn new(target: Target, tls: TlsFiles, timeout: Duration) -> Self {
        Self {
            target,
            tls,
            timeout,
            link: RwLock::new(None),
            opening: tokio::sync::Mutex::new(()),
            timeouts_in_a_row: AtomicU32::new(0),
        }
    }

    pub async fn link(&self) -> redis::RedisResult<Link> {
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let _opening = self.opening.lock().await;
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let link = self.open().await?;
        *self.link.write().unwrap_or_else(PoisonError::into_inner) = Some(link.clone());
        Ok(link)
    }

    fn current(&self) -> Option<Link> {
        self.link
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// An operation got its answer: the link works.
    pub fn answered(&self) {
        self.timeouts_in_a_row.store(0, Ordering::Relaxed);
    }

    /// An operation timed out; after [`TIMEOUTS_TO_REOPEN`] in a row the
    /// link is dropped, and the next operation opens a fresh one.
    pub fn timed_out(&self) {
        if self.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1 < TIMEOUTS_TO_REOPEN {
            return;
        }
        self.timeouts_in_a_row.store(0, Ordering::Relaxed);
        if self
            .link
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some()
        {
            tracing::warn!(
                store = %self.target.describe(),
                "operations on the Redis store keep timing out: reopening its connection"
            );
        }
    }

    async fn open(&self) -> redis::RedisResult<Link> {
        match &self.target {
            Target::Server(url) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                let client = match self.tls.certificates() {
                    Some(certificates) => {
                        redis::Client::build_with_tls(url.as_str(), certificates)?
                    }
                    None => redis::Client::open(url.as_str())?,
                };
                Ok(Link::Server(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
            Target::Cluster {
                seeds,
                username,
                password,
            } => {
                let mut builder = ClusterClientBuilder::new(seeds.clone())
                    .connection_timeout(self.timeout)
                    .response_timeout(self.timeout)
                    // MOVED and ASK are followed at once; TRYAGAIN (a
                    // slot half moved) and CLUSTERDOWN are waited out
                    // this often, within the store's timeout.
                    .retries(10)
                    .min_retry_wait(10)
                    .max_retry_wait(200);
                if let Some(username) = username {
                    builder = builder.username(username);
                }
                if let Some(password) = password {
                    builder = builder.password(password);
                }
                if let Some(certificates) = self.tls.certificates() {
                    builder = builder.certs(certificates);
                }
                let client = builder.build()?;
                Ok(Link::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

/// Why a backend must not be served from: a layout other than this host's,
/// or an eviction policy under which Redis would drop entries by itself.
pub async fn check(
    link: &mut Link,
    layout: Layout,
    allow_eviction: bool,
) -> Result<(), CheckFailed> {
    let wanted = layout.buckets.to_string();
    let (format, buckets): (Option<String>, Option<String>) = redis::pipe()
        .cmd("HSETNX")
        .arg(layout::META)
        .arg("format")
        .arg(layout::FORMAT)
        .ignore()
        .cmd("HSETNX")
        .arg(layout::META)
        .arg("buckets")
        .arg(&wanted)
        .ignore()
        .cmd("HGET")
        .arg(layout::META)
        .arg("format")
        .cmd("HGET")
        .arg(layout::META)
        .arg("buckets")
        .query_async(link)
        .await
        .map_err(CheckFailed::Unreachable)?;
    if format.as_deref() != Some(&layout::FORMAT.to_string()) {
        return Err(CheckFailed::Refused(format!(
            "the Redis store is laid out in format {} (at {}), this kvs writes format {}",
            format.unwrap_or_default(),
            layout::META,
            layout::FORMAT
        )));
    }
    if buckets.as_deref() != Some(wanted.as_str()) {
        return Err(CheckFailed::Refused(format!(
            "the Redis store is laid out in {} buckets (at {}), this kvs was told {}: \
             start it with --store-buckets {}",
            buckets.as_deref().unwrap_or("?"),
            layout::META,
            layout.buckets,
            buckets.as_deref().unwrap_or("?"),
        )));
    }
    if allow_eviction {
        return Ok(());
    }
    let policy: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(link)
        .await
        .map_err(CheckFailed::Unreachable)?;
    match policy.get(1).map(String::as_str) {
        Some("noeviction") | None => Ok(()),
        Some(policy) => Err(CheckFailed::Refused(format!(
            "the Redis store evicts keys when full (maxmemory-policy {policy}), so entries \
             kvs acknowledged could vanish: set maxmemory-policy noeviction, or start kvs \
             with --store-allow-eviction to accept that"
        ))),
    }
}

/// Why [`check`] failed.
#[derive(Debug)]
pub enum CheckFailed {
    /// The backend could not be asked; it may be down.
    Unreachable(redis::RedisError),
    /// The backend answered, and must not be used as it is.
    Refused(String),
}
