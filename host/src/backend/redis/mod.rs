//! The store on a Redis server or a Redis Cluster (`--store redis://...`,
//! `redis-cluster://...`), so many kvs hosts serve one dataset.
//!
//! The contract is the in-memory store's: create-only and update-only
//! writes, version checks, versions never reused (even across hosts),
//! byte-ordered listing with a cursor any host can continue, expiry, the
//! limits. Each write is one Lua script over one bucket ([`layout`]), so
//! it is atomic in Redis and one round trip. Reads of one key are a plain
//! `HMGET`. Multi-key writes (RENAME, DEL and MSET of many keys) are one
//! script too; on a Redis Cluster their keys must share a bucket's slot, as
//! Redis Cluster itself requires of multi-key commands.
//!
//! - [`connection`]: the `--store` URL, the shared connection, the start-up check.
//! - [`layout`]: buckets and Redis key names.
//! - [`scripts`] (with `lua/`): one atomic script per write.
//! - [`reply`]: reading script replies back.
//! - [`listing`]: a page of keys merged from every bucket in byte order.
//! - [`health`]: what `/status` and `/metrics` say about the backend.

pub mod connection;
pub mod health;
pub mod layout;
mod listing;
mod reply;
mod scripts;

use crate::store::{Added, Entry, Expired, Expiry, Limits, Renamed, StoreError, Written, now_ms};
use bytes::Bytes;
use connection::{CheckFailed, Connector, Link, Target, TlsFiles};
use health::Health;
use kvs_model::{KeyPage, ScanPage, StoreStats};
use layout::{Bucket, Layout};
use redis::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How often [`RedisStore::watch`] checks the backend.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What `--store` and its companion flags say about a Redis backend.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub target: Target,
    /// How long one store operation may take before it fails as
    /// unavailable (`--store-timeout-ms`).
    pub timeout: Duration,
    pub layout: Layout,
    /// Serve even if Redis may evict keys (`--store-allow-eviction`).
    pub allow_eviction: bool,
    /// The certificates of a `rediss://` link.
    pub tls: TlsFiles,
}

/// A handle to the Redis store; cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    /// Passed before the first operation: the layout and eviction checks.
    checked: OnceCell<()>,
    /// Why the backend must not be served from, found by a later check
    /// ([`RedisStore::watch`]); operations fail with it until it clears.
    refused: std::sync::Mutex<Option<String>>,
    config: RedisConfig,
    limits: Limits,
    health: Health,
}

impl RedisStore {
    /// A store on `config.target`, checked now if it can be reached: a
    /// backend laid out differently, or one that evicts, is refused here.
    /// One that cannot be reached is not: kvs serves 503s until it can.
    pub async fn open(config: RedisConfig, limits: Limits) -> anyhow::Result<Self> {
        let store = Self {
            shared: Arc::new(Shared {
                connector: Connector::new(
                    config.target.clone(),
                    config.tls.clone(),
                    config.timeout,
                ),
                checked: OnceCell::new(),
                refused: std::sync::Mutex::new(None),
                limits,
                health: Health::default(),
                config,
            }),
        };
        match store.ready().await {
            Ok(_) => {}
            Err(Failure::Refused(reason)) => anyhow::bail!("{reason}"),
            Err(Failure::Store(error)) => tracing::warn!(
                store = %store.describe(),
                "the Redis store cannot be reached yet ({error}); requests get 503 until it can"
            ),
        }
        Ok(store)
    }

    /// The backend, for logs and status, without its password.
    pub fn describe(&self) -> String {
        self.shared.config.target.describe()
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    pub fn health(&self) -> &Health {
        &self.shared.health
    }

    fn layout(&self) -> Layout {
        self.shared.config.layout
    }

    /// The link, once the backend has passed its checks.
    async fn ready(&self) -> Result<Link, Failure> {
        let link = self
            .shared
            .connector
            .link()
            .await
            .map_err(|error| Failure::Store(self.unreachable(&error)))?;
        let config = &self.shared.config;
        self.shared
            .checked
            .get_or_try_init(|| async {
                connection::check(&mut link.clone(), config.layout, config.allow_eviction)
                    .await
                    .map_err(|failed| match failed {
                        CheckFailed::Unreachable(error) => Failure::Store(self.unreachable(&error)),
                        CheckFailed::Refused(reason) => Failure::Refused(reason),
                    })
            })
            .await?;
        if let Some(reason) = self.refused().clone() {
            return Err(Failure::Refused(reason));
        }
        Ok(link)
    }

    fn refused(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.shared
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the backend again every [`WATCH_EVERY`] until `shutdown`: a
    /// Redis that restarted empty gets its layout recorded again, and one
    /// that another kvs laid out otherwise meanwhile, or that now evicts,
    /// is no longer written to. Also keeps the health report current when
    /// no request comes.
    pub async fn watch(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(WATCH_EVERY) => {}
            }
            let config = &self.shared.config;
            let started = Instant::now();
            let checked = match self.shared.connector.link().await {
                Ok(mut link) => tokio::time::timeout(
                    config.timeout,
                    connection::check(&mut link, config.layout, config.allow_eviction),
                )
                .await
                .ok(),
                Err(_) => None,
            };
            match checked {
                Some(Ok(())) => {
                    self.shared.health.record(started.elapsed(), None);
                    if self.refused().take().is_some() {
                        tracing::info!(store = %self.describe(), "the Redis store passes its checks again");
                    }
                }
                Some(Err(CheckFailed::Refused(reason))) => {
                    if self.refused().replace(reason.clone()).is_none() {
                        tracing::error!(store = %self.describe(), %reason, "no longer serving from the Redis store");
                    }
                }
                Some(Err(CheckFailed::Unreachable(error))) => self.shared.health.record(
                    started.elapsed(),
                    Some(format!("the Redis store at {}: {error}", self.describe())),
                ),
                None => {
                    self.shared.connector.timed_out();
                    self.shared.health.record(
                        started.elapsed(),
                        Some(format!(
                            "the Redis store at {} did not answer its check",
                            self.describe()
                        )),
                    );
                }
            }
        }
    }

    /// Runs one operation against the backend within the timeout, and
    /// counts it for the health report.
    async fn run<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(Link) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let timeout = self.shared.config.timeout;
        let attempt = async {
            let link = self.ready().await.map_err(|failure| match failure {
                Failure::Store(error) => error,
                Failure::Refused(reason) => StoreError::Unavailable(reason),
            })?;
            operation(link).await
        };
        let outcome = match tokio::time::timeout(timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.shared.connector.timed_out();
                Err(StoreError::Unavailable(format!(
                    "the Redis store at {} did not answer within {} ms",
                    self.describe(),
                    timeout.as_millis()
                )))
            }
        };
        let failure = match &outcome {
            Err(StoreError::Unavailable(reason)) => Some(reason.clone()),
            _ => {
                self.shared.connector.answered();
                None
            }
        };
        self.shared.health.record(started.elapsed(), failure);
        outcome
    }

    fn unreachable(&self, error: &redis::RedisError) -> StoreError {
        StoreError::Unavailable(format!("the Redis store at {}: {error}", self.describe()))
    }

    /// A Redis error as the store's: a full Redis is a full store.
    fn failed(&self, error: redis::RedisError) -> StoreError {
        if error.is_timeout() {
            self.shared.connector.timed_out();
        }
        match error.code() {
            Some("OOM") => StoreError::StoreFull,
            Some("CROSSSLOT") => StoreError::InvalidKey(
                "these keys are in different slots of the Redis Cluster, and one command \
                 cannot change them together"
                    .into(),
            ),
            _ => self.unreachable(&error),
        }
    }

    fn check(&self, key: &str, content_type: &str, value: &[u8]) -> Result<(), StoreError> {
        self.shared.limits.check_entry(key, content_type, value)
    }

    /// Runs `script` with `invocation`'s keys and arguments.
    async fn invoke(
        &self,
        mut link: Link,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<Value, StoreError> {
        invocation
            .invoke_async(&mut link)
            .await
            .map_err(|error| self.failed(error))
    }

    pub async fn get(&self, key: &str) -> Result<Entry, StoreError> {
        let name = self.layout().entry(key);
        let fields: Vec<Option<Vec<u8>>> = self
            .run(|mut link| async move {
                redis::cmd("HMGET")
                    .arg(name)
                    .arg(&["t", "v", "n", "x"])
                    .query_async(&mut link)
                    .await
                    .map_err(|error| self.failed(error))
            })
            .await?;
        let mut fields = fields.into_iter();
        let (Some(content_type), Some(value), Some(Some(version)), expires_at) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next().flatten(),
        ) else {
            return Err(StoreError::NotFound);
        };
        let number = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<u64>().ok();
        let entry = Entry::new(
            key,
            &String::from_utf8_lossy(&content_type.unwrap_or_default()),
            &value.unwrap_or_default(),
            number(&version).ok_or_else(|| reply::malformed("a version"))?,
            expires_at.as_deref().and_then(number),
        );
        if entry.live_at(now_ms()) {
            Ok(entry)
        } else {
            Err(StoreError::NotFound)
        }
    }

    pub async fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.check(key, content_type, value)?;
        let layout = self.layout();
        let bucket = layout.bucket(key);
        let reply = self
            .run(|link| async move {
                let mut invocation = scripts::CREATE.key(layout.keys_of(key));
                invocation
                    .arg(bucket.base())
                    .arg(now_ms())
                    .arg(key)
                    .arg(content_type)
                    .arg(value)
                    .arg(optional(expires_at))
                    .arg(layout.buckets)
                    .arg(bucket.0);
                self.invoke(link, invocation).await
            })
            .await?;
        reply::succeeded(reply)?.version()
    }

    /// Replaces the entry under `key`; with `keep_previous`, hands back the
    /// entry it replaced (which costs carrying its value back).
    pub async fn replace(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
        keep_previous: bool,
    ) -> Result<(u64, Option<Entry>), StoreError> {
        self.check(key, content_type, value)?;
        let layout = self.layout();
        let bucket = layout.bucket(key);
        let (mode, at) = match expiry {
            Expiry::Keep => ("keep", 0),
            Expiry::Clear => ("clear", 0),
            Expiry::At(at) => ("at", at),
        };
        let reply = self
            .run(|link| async move {
                let mut invocation = scripts::UPDATE.key(layout.keys_of(key));
                invocation
                    .arg(bucket.base())
                    .arg(now_ms())
                    .arg(key)
                    .arg(content_type)
                    .arg(value)
                    .arg(optional(if_version))
                    .arg(mode)
                    .arg(at)
                    .arg(layout.buckets)
                    .arg(bucket.0)
                    .arg(if keep_previous { "1" } else { "0" });
                self.invoke(link, invocation).await
            })
            .await?;
        let mut fields = reply::succeeded(reply)?;
        Ok((fields.version()?, fields.optional_entry(key)?))
    }

    pub async fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        let layout = self.layout();
        let reply = self
            .run(|link| async move {
                let mut invocation = scripts::DELETE.key(layout.keys_of(key));
                invocation
                    .arg(layout.bucket(key).base())
                    .arg(now_ms())
                    .arg(key)
                    .arg(optional(if_version));
                self.invoke(link, invocation).await
            })
            .await?;
        reply::succeeded(reply)?.entry(key)
    }

    /// Sets or clears `key`'s expiry if `condition` holds. The condition is
    /// checked here against the entry as read, and the script applies the
    /// change only if the entry still has that version; if another write
    /// came between, it is read again (unless the caller named a version).
    pub async fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: crate::store::ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<Expired, StoreError> {
        let layout = self.layout();
        loop {
            let current = self.get(key).await?;
            kvs_model::check_version(current.version(), if_version)?;
            if !condition.allows(current.expires_at(), at) {
                return Ok(Expired::Unchanged);
            }
            let reply = self
                .run(|link| async move {
                    let mut invocation = scripts::EXPIRE.key(layout.keys_of(key));
                    invocation
                        .arg(layout.bucket(key).base())
                        .arg(now_ms())
                        .arg(key)
                        .arg(current.version())
                        .arg(optional(at));
                    self.invoke(link, invocation).await
                })
                .await?;
            match reply::succeeded(reply).and_then(|mut fields| fields.int()) {
                Ok(0) => return Ok(Expired::Unchanged),
                Ok(1) => return Ok(Expired::Set),
                Ok(_) => return Ok(Expired::Removed),
                // Written meanwhile: look again, unless the caller named
                // the version.
                Err(StoreError::VersionMismatch { .. } | StoreError::NotFound)
                    if if_version.is_none() => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Puts `key` back as `entry` (or removes it, for `None`) if it still
    /// holds `expected` (or, for `None`, nothing): a failed call's revert.
    pub async fn restore(&self, key: &str, expected: Option<u64>, entry: Option<&Entry>) -> bool {
        let layout = self.layout();
        let reply = self
            .run(|link| async move {
                let mut invocation = scripts::RESTORE.key(layout.keys_of(key));
                invocation
                    .arg(layout.bucket(key).base())
                    .arg(now_ms())
                    .arg(key)
                    .arg(optional(expected));
                if let Some(entry) = entry {
                    invocation
                        .arg(entry.content_type().as_bytes())
                        .arg(entry.value())
                        .arg(entry.version())
                        .arg(optional(entry.expires_at()));
                }
                self.invoke(link, invocation).await
            })
            .await;
        match reply {
            Ok(value) => reply::int(&value).is_ok_and(|done| done == 1),
            Err(error) => {
                tracing::error!(key, %error, "could not revert a failed call's write in the Redis store");
                false
            }
        }
    }

    /// Adds `delta` to the integer under `key` in one script (see
    /// `lua/add.lua`): one round trip, however many clients add to the key.
    pub async fn add(
        &self,
        key: &str,
        delta: i64,
        content_type: &str,
        keep_previous: bool,
    ) -> Result<Added, StoreError> {
        let delta = delta.to_string();
        self.check(key, content_type, delta.as_bytes())?;
        let layout = self.layout();
        let bucket = layout.bucket(key);
        let reply = self
            .run(|link| {
                let delta = &delta;
                async move {
                    let mut invocation = scripts::ADD.key(layout.keys_of(key));
                    invocation
                        .arg(bucket.base())
                        .arg(now_ms())
                        .arg(key)
                        .arg(content_type)
                        .arg(delta)
                        .arg(layout.buckets)
                        .arg(bucket.0)
                        .arg(if keep_previous { "1" } else { "0" });
                    self.invoke(link, invocation).await
                }
            })
            .await?;
        let mut fields = reply::succeeded(reply)?;
        Ok(Added {
            version: fields.version()?,
            value: fields.int()?,
            previous: fields.optional_entry(key)?,
        })
    }

    pub async fn rename(&self, from: &str, to: &str, replace: bool) -> Result<Renamed, StoreError> {
        self.shared.limits.advertised().check_write(to, 0)?;
        let layout = self.layout();
        let reply = self
            .run(|link| async move {
                let mut invocation = scripts::RENAME.key(layout.keys_of(from));
                invocation
                    .key(layout.keys_of(to))
                    .arg(now_ms())
                    .arg(layout.buckets)
                    .arg(if replace { "1" } else { "0" })
                    .arg(layout.bucket(from).base())
                    .arg(from)
                    .arg(layout.bucket(to).base())
                    .arg(to)
                    .arg(layout.bucket(to).0);
                self.invoke(link, invocation).await
            })
            .await?;
        let mut fields = reply::succeeded(reply)?;
        Ok(Renamed {
            version: fields.version()?,
            source: fields.entry(from)?,
            replaced: fields.optional_entry(to)?,
        })
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<Vec<Entry>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let layout = self.layout();
        let reply = self
            .run(|link| async move {
                let mut invocation = scripts::DELETE_MANY.key(layout.keys_of(&keys[0]));
                for key in &keys[1..] {
                    invocation.key(layout.keys_of(key));
                }
                invocation.arg(now_ms());
                for key in keys {
                    invocation.arg(layout.bucket(key).base()).arg(key);
                }
                self.invoke(link, invocation).await
            })
            .await?;
        let mut removed = Vec::new();
        let mut items = reply::array(reply)?.into_iter();
        while let (Some(key), Some(entry)) = (items.next(), items.next()) {
            removed.push(reply::entry(&reply::string(key)?, entry)?);
        }
        Ok(removed)
    }

    /// Sets every key to its value; a key given twice takes its last value.
    pub async fn put_many(
        &self,
        pairs: Vec<(String, Bytes)>,
        content_type: &str,
    ) -> Result<Vec<Written>, StoreError> {
        let pairs = crate::store::last_value_of_each(pairs);
        for (key, value) in &pairs {
            self.check(key, content_type, value)?;
        }
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let layout = self.layout();
        let pairs = &pairs;
        let reply = self
            .run(|link| async move {
                let mut invocation = scripts::PUT_MANY.key(layout.keys_of(&pairs[0].0));
                for (key, _) in &pairs[1..] {
                    invocation.key(layout.keys_of(key));
                }
                invocation
                    .arg(now_ms())
                    .arg(layout.buckets)
                    .arg(content_type);
                for (key, value) in pairs {
                    let bucket = layout.bucket(key);
                    invocation
                        .arg(bucket.base())
                        .arg(key)
                        .arg(bucket.0)
                        .arg(value.as_ref());
                }
                self.invoke(link, invocation).await
            })
            .await?;
        let mut items = reply::array(reply)?.into_iter();
        let mut written = Vec::with_capacity(pairs.len());
        for (key, _) in pairs {
            let (Some(version), Some(previous)) = (items.next(), items.next()) else {
                return Err(reply::malformed("fewer versions than keys"));
            };
            written.push(Written {
                key: key.clone(),
                version: reply::version(&version)?,
                previous: match previous {
                    Value::Int(0) => None,
                    previous => Some(reply::entry(key, previous)?),
                },
            });
        }
        Ok(written)
    }

    /// Keys that start with `prefix` and sort after `cursor`, at most
    /// `limit` (clamped to the page size), merged from every bucket.
    pub async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let limit = limit.clamp(1, self.shared.limits.max_page_size);
        self.run(|link| listing::page(self, link, prefix, cursor, limit))
            .await
    }

    /// The bucket-order walk (Redis's `SCAN`): the cursor is the next
    /// bucket; a page holds whole buckets, so it may hold more than `count`
    /// keys, and a key present for the whole walk is on some page.
    pub async fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StoreError> {
        let layout = self.layout();
        let count = count.clamp(1, self.shared.limits.max_page_size);
        self.run(|link| async move {
            let mut keys = Vec::new();
            let mut next = cursor;
            while next < u64::from(layout.buckets) && keys.len() < count {
                let bucket = Bucket(next as u32);
                keys.extend(
                    self.range(link.clone(), bucket, b"-", b"+", u32::MAX as usize)
                        .await?,
                );
                next += 1;
            }
            if next >= u64::from(layout.buckets) {
                next = 0;
            }
            Ok(ScanPage { keys, next })
        })
        .await
    }

    /// Up to `count` live keys of `bucket` between the `ZRANGE BYLEX`
    /// bounds `min` and `max`.
    async fn range(
        &self,
        link: Link,
        bucket: Bucket,
        min: &[u8],
        max: &[u8],
        count: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut invocation = scripts::RANGE.key(bucket.keys());
        invocation
            .arg(bucket.base())
            .arg(now_ms())
            .arg(min)
            .arg(max)
            .arg(count);
        let reply = self.invoke(link, invocation).await?;
        reply::array(reply)?
            .into_iter()
            .map(reply::string)
            .collect()
    }

    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let layout = self.layout();
        self.run(|link| async move {
            let now = now_ms();
            let replies = futures::future::join_all(layout.all().map(|bucket| {
                let link = link.clone();
                async move {
                    let mut invocation = scripts::STATS.key(bucket.keys());
                    invocation.arg(bucket.base()).arg(now);
                    self.invoke(link, invocation).await
                }
            }))
            .await;
            let mut stats = StoreStats::default();
            for reply in replies {
                let fields = reply::array(reply?)?;
                let field = |n: usize| -> Result<u64, StoreError> {
                    Ok(fields
                        .get(n)
                        .map(reply::int)
                        .transpose()?
                        .unwrap_or(0)
                        .max(0) as u64)
                };
                stats.keys += field(0)?;
                stats.expiring += field(1)?;
                stats.bytes += field(2)?;
                stats.expired += field(3)?;
            }
            Ok(stats)
        })
        .await
    }

    /// Reclaims entries past their expiry in every bucket, at most `most`
    /// per bucket; returns how many. Run by the sweep on every host: the
    /// scripts make concurrent sweeps safe.
    pub async fn sweep_expired(&self, most: usize) -> Result<usize, StoreError> {
        let layout = self.layout();
        self.run(|link| async move {
            let now = now_ms();
            let replies = futures::future::join_all(layout.all().map(|bucket| {
                let link = link.clone();
                async move {
                    let mut invocation = scripts::SWEEP.key(bucket.keys());
                    invocation.arg(bucket.base()).arg(now).arg(most);
                    self.invoke(link, invocation).await
                }
            }))
            .await;
            let mut reclaimed = 0;
            for reply in replies {
                reclaimed += reply::int(&reply?)?.max(0) as usize;
            }
            Ok(reclaimed)
        })
        .await
    }
}

/// What keeps a backend from being served.
enum Failure {
    /// It cannot be reached now; calls get the error and try again.
    Store(StoreError),
    /// It answered, and must not be served from as it is.
    Refused(String),
}

/// An optional number as a script argument: empty for none.
fn optional(value: Option<u64>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}
