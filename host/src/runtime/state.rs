//! Per-call guest state, and the `kvs:store/store` imports over the shared store.
//!
//! Each guest call runs in its own `wasmtime::Store` whose data is a
//! [`CallState`]: the WASI contexts (which grant nothing: no files, no
//! network, no outgoing HTTP, no environment) and a handle to the shared
//! [`Backend`], the store in memory or on Redis.

use super::bindings::{memory, server, store, types};
use super::host_info::HostInfo;
use crate::backend::Backend;
use crate::store::{self as kv, ExpireCondition, Expired, Expiry, StoreError};
use bytes::Bytes;
use kvs_model::{Keys, Pairs};
use std::future::Future;
use std::time::{Duration, Instant};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

/// The data of one `wasmtime::Store`.
pub struct CallState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: DenyOutgoingHttp,
    kv: Backend,
    host: HostInfo,
    memory: MemoryUse,
    /// When the call running on this store must have finished.
    deadline: Instant,
    /// The writes of the running call, so they can be taken back if it
    /// fails; `None` where calls are not journaled (see [`Journal`]).
    journal: Option<Journal>,
    /// Handles to host-held bytes (request bodies, stored values) the guest
    /// holds now.
    lent: usize,
    /// Set when the guest broke the contract in a way that outlives its
    /// call ([`CallState::end_call`]).
    retired: bool,
}

/// The writes one guest call made, newest last.
///
/// A call on the `rest` and `command` paths is all or nothing for its
/// client: if it traps, times out or is cancelled after a write took effect,
/// its reply never reaches the client, so the write is reverted, as if the
/// request had never come. A revert is skipped for a key another write has
/// changed since (that write is newer and stays), and the failure says so.
/// Readers may have seen the reverted value meanwhile.
#[derive(Debug, Default)]
pub struct Journal {
    writes: Vec<Write>,
}

#[derive(Debug)]
enum Write {
    Created {
        key: String,
        version: u64,
    },
    Updated {
        key: String,
        version: u64,
        previous: kv::Entry,
    },
    /// The entry deleted, which carries its key.
    Deleted(kv::Entry),
}

impl Write {
    fn key(&self) -> &str {
        match self {
            Self::Created { key, .. } | Self::Updated { key, .. } => key,
            Self::Deleted(entry) => entry.key(),
        }
    }
}

/// What reverting a failed call's writes did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reverted {
    /// Writes taken back.
    pub reverted: usize,
    /// Keys whose write stayed because another write changed them since.
    pub kept: Vec<String>,
}

impl std::fmt::Display for Reverted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.reverted, self.kept.as_slice()) {
            (0, []) => write!(f, "it had changed nothing"),
            (_, []) => write!(f, "its writes were reverted; nothing was changed"),
            (_, kept) => write!(
                f,
                "its write to {kept:?} took effect and stays, because another write \
                 changed the key since"
            ),
        }
    }
}

/// The linear memory one instance has grown to, counted as it grows (the
/// store's resource limiter), so the pool can tell an instance that served a
/// large value from one that did not.
#[derive(Debug, Default)]
pub struct MemoryUse {
    bytes: usize,
}

impl wasmtime::ResourceLimiter for MemoryUse {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The pooling allocator enforces `--guest-memory`; this only counts.
        self.bytes = self.bytes.saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

impl CallState {
    pub fn new(kv: Backend, host: HostInfo) -> Self {
        Self {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: DenyOutgoingHttp,
            kv,
            host,
            memory: MemoryUse::default(),
            deadline: Instant::now(),
            journal: None,
            lent: 0,
            retired: false,
        }
    }

    /// Journals the writes of the calls from now on, so a failed call can be
    /// reverted ([`CallState::revert`]).
    pub fn journaled(mut self) -> Self {
        self.journal = Some(Journal::default());
        self
    }

    /// The call succeeded and its reply is on its way: its writes stay.
    /// Whether the running call has made writes, so its reply must wait for
    /// them to be durable in the log.
    pub fn wrote(&self) -> bool {
        self.journal
            .as_ref()
            .is_some_and(|journal| !journal.writes.is_empty())
    }

    /// Keeps the writes of a call that returned.
    pub fn commit(&mut self) {
        if let Some(journal) = &mut self.journal {
            journal.writes.clear();
        }
    }

    /// Takes back the writes of a call that failed, newest first.
    pub async fn revert(&mut self) -> Reverted {
        let writes = self.take_writes();
        revert(&self.kv, writes).await
    }

    fn take_writes(&mut self) -> Vec<Write> {
        self.journal
            .as_mut()
            .map(|journal| std::mem::take(&mut journal.writes))
            .unwrap_or_default()
    }

    fn record(&mut self, write: impl FnOnce() -> Write) {
        if let Some(journal) = &mut self.journal {
            journal.writes.push(write());
        }
    }

    /// Starts the clock of a call that may take `timeout`.
    pub fn start_call(&mut self, timeout: Duration) {
        let now = Instant::now();
        self.deadline = now
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(86_400));
    }

    /// Whether the running call has used up its time.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Linear memory of this store's instance, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory.bytes
    }

    pub fn memory_use(&mut self) -> &mut MemoryUse {
        &mut self.memory
    }

    /// `create`, journaled, whichever way the value crossed.
    async fn create_with(
        &mut self,
        key: String,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        let version = self
            .kv
            .create(&key, content_type, value, expires_at)
            .await?;
        self.record(|| Write::Created { key, version });
        Ok(version)
    }

    /// `update`, journaled, whichever way the value crossed.
    async fn update_with(
        &mut self,
        key: String,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: types::Expiry,
    ) -> Result<u64, StoreError> {
        let expiry = match expiry {
            types::Expiry::Keep => Expiry::Keep,
            types::Expiry::Clear => Expiry::Clear,
            types::Expiry::At(at) => Expiry::At(at),
        };
        let journaled = self.journal.is_some();
        let (version, previous) = self
            .kv
            .replace(&key, content_type, value, if_version, expiry, journaled)
            .await?;
        if let Some(previous) = previous {
            self.record(|| Write::Updated {
                key,
                version,
                previous,
            });
        }
        Ok(version)
    }

    /// Hands a `rest` call's body to the guest as a `request-body` handle,
    /// which the guest drops before the call returns ([`Self::end_call`]).
    pub fn lend_body(&mut self, bytes: Bytes) -> Resource<RequestBody> {
        self.lend(RequestBody(bytes))
    }

    /// Takes back a value the guest handed over as a response body.
    pub fn take_held(&mut self, value: Resource<HeldValue>) -> wasmtime::Result<HeldValue> {
        self.take_back(value)
    }

    /// Puts host-held bytes in the table for the guest to hold, counted
    /// until they come back ([`Self::take_back`]).
    fn lend<T: Send + 'static>(&mut self, held: T) -> Resource<T> {
        self.lent += 1;
        self.table
            .push(held)
            .expect("a resource table holds far fewer than 2^32 entries")
    }

    /// Takes lent bytes out of the table: the guest dropped its handle or
    /// handed it back.
    fn take_back<T: 'static>(&mut self, handle: Resource<T>) -> wasmtime::Result<T> {
        let held = self.table.delete(handle)?;
        self.lent -= 1;
        Ok(held)
    }

    /// After a call that returned: an instance whose guest still holds a
    /// handle to a body or a value the host lent it is retired, with its
    /// table, since guests keep no state between calls; it could otherwise
    /// name, in a later call, a handle it no longer has.
    pub fn end_call(&mut self) {
        if self.lent > 0 {
            self.retired = true;
            tracing::warn!(
                handles = self.lent,
                "the guest kept a body or a value past its call; its instance is retired"
            );
        }
    }

    /// Whether the instance must not serve another call.
    pub fn retired(&self) -> bool {
        self.retired
    }

    /// The bytes of the body the guest named. A guest can name only a
    /// handle it holds, and no instance that kept one past its call serves
    /// again ([`Self::end_call`]), so the body is always there.
    fn body(&self, body: &Resource<RequestBody>) -> Result<Bytes, StoreError> {
        self.table
            .get(body)
            .map(|body| body.0.clone())
            .map_err(|_| {
                StoreError::InvalidKey("the request body was named after its call ended".into())
            })
    }
}

/// Takes back `writes`, newest first.
async fn revert(kv: &Backend, mut writes: Vec<Write>) -> Reverted {
    let mut outcome = Reverted::default();
    while let Some(write) = writes.pop() {
        let key = write.key().to_string();
        let undone = match write {
            Write::Created { key, version } => kv.revert_create(&key, version).await,
            Write::Updated {
                key,
                version,
                previous,
            } => kv.revert_update(&key, version, previous).await,
            Write::Deleted(entry) => kv.revert_delete(entry).await,
        };
        if undone {
            outcome.reverted += 1;
        } else {
            outcome.kept.push(key);
        }
    }
    outcome
}

/// A call cancelled mid-way (its client went away) drops its store with the
/// instance: its writes are reverted here, as a failed call's are. On the
/// in-memory store that is done before the drop returns; on Redis, which
/// takes round trips, in a task of its own.
impl Drop for CallState {
    fn drop(&mut self) {
        let writes = self.take_writes();
        if writes.is_empty() {
            return;
        }
        let kv = self.kv.clone();
        let reverting = async move {
            let reverted = revert(&kv, writes).await;
            tracing::warn!(%reverted, "a guest call ended without a reply");
        };
        match self.kv {
            Backend::Memory(_) => {
                use futures::FutureExt as _;
                // Nothing in it waits: it completes on its first poll.
                let _ = reverting.now_or_never();
            }
            Backend::Redis(_) => match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(reverting)),
                Err(_) => tracing::error!(
                    "a guest call ended without a reply, and its writes could not be reverted"
                ),
            },
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A guest serves requests; it does not make them. `wasi:http/outgoing-handler`
/// is linked (guests built with it must load) but every request is denied.
struct DenyOutgoingHttp;

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for DenyOutgoingHttp {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _io: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

/// A request body the host read for a `rest` call, which the guest holds as
/// a `request-body` handle: a write that names it takes its bytes from here,
/// so they are never copied into the guest's memory and out again.
pub struct RequestBody(Bytes);

impl types::HostRequestBody for CallState {
    fn size(&mut self, body: Resource<RequestBody>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&body)?.0.len() as u64)
    }

    fn drop(&mut self, body: Resource<RequestBody>) -> wasmtime::Result<()> {
        self.take_back(body).map(drop)
    }
}

/// The smallest value `get-held` leaves in the host. A handle costs a
/// table entry, a call for its size and a shared owner for the bytes sent:
/// a REST `GET` of 100 bytes took 1.90 µs held against 1.74 copied (`cargo
/// bench --bench guest_call`). At 4 KiB the two are alike, the copies lost
/// in the rest of the request (`kvs bench http --mix get --value-size 4KiB`,
/// alternated: held 83,463 and 79,911 GETs/s, copied 76,335 and 78,956); at
/// 8 MiB holding is what brings a `GET` to the native ceiling.
pub const HELD_VALUE_MIN_BYTES: usize = 4096;

/// An entry read to be sent: a small one copied out under its shard's
/// lock (as [`entry`] copies), a large one shared ([`HELD_VALUE_MIN_BYTES`]).
/// The one place `get-held` and the native ceiling decide which.
pub enum ToSend {
    Copied(kvs_model::Entry),
    Shared(kv::Entry),
}

impl ToSend {
    pub fn of(entry: &kv::Entry) -> Self {
        if entry.value().len() < HELD_VALUE_MIN_BYTES {
            Self::Copied(kvs_model::Entry::from(entry))
        } else {
            Self::Shared(entry.clone())
        }
    }
}

/// An entry the guest read with `get-held`, whose value it holds as a
/// `held-value` handle and may hand back as a response body: the entry is
/// shared (a reference, not a copy), and its value is sent from it.
pub struct HeldValue(kv::Entry);

impl HeldValue {
    /// The value, to send (see [`kv::Entry::into_value`]).
    pub fn into_value(self) -> Bytes {
        self.0.into_value()
    }
}

impl types::HostHeldValue for CallState {
    fn size(&mut self, value: Resource<HeldValue>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&value)?.0.value().len() as u64)
    }

    fn drop(&mut self, value: Resource<HeldValue>) -> wasmtime::Result<()> {
        self.take_back(value).map(drop)
    }
}

impl types::Host for CallState {
    /// The one place a store error becomes the WIT variant.
    fn convert_error(&mut self, error: StoreError) -> wasmtime::Result<types::Error> {
        Ok(match error {
            StoreError::NotFound => types::Error::NotFound,
            StoreError::AlreadyExists => types::Error::AlreadyExists,
            StoreError::VersionMismatch { current } => types::Error::VersionMismatch(current),
            StoreError::TooLarge { limit } => types::Error::TooLarge(limit),
            StoreError::StoreFull => types::Error::StoreFull,
            StoreError::InvalidKey(reason) => types::Error::InvalidKey(reason),
            StoreError::NotDurable(reason) => types::Error::NotDurable(reason),
            StoreError::Unavailable(reason) => types::Error::Unavailable(reason),
            StoreError::NotAnInteger => types::Error::NotAnInteger,
            StoreError::Overflow => types::Error::Overflow,
        })
    }
}

impl store::Host for CallState {
    async fn get(&mut self, key: String) -> Result<types::Entry, StoreError> {
        self.kv.read(&key, entry).await
    }

    async fn get_held(&mut self, key: String) -> Result<types::HeldEntry, StoreError> {
        Ok(match self.kv.read(&key, ToSend::of).await? {
            ToSend::Copied(entry) => types::HeldEntry {
                content_type: entry.content_type,
                value: types::Payload::Bytes(entry.value),
                version: entry.version,
                expires_at: entry.expires_at,
            },
            ToSend::Shared(entry) => types::HeldEntry {
                content_type: entry.content_type().to_owned(),
                version: entry.version(),
                expires_at: entry.expires_at(),
                value: types::Payload::Held(self.lend(HeldValue(entry))),
            },
        })
    }

    async fn get_values(
        &mut self,
        keys: String,
        key_lengths: Vec<u32>,
    ) -> Result<types::Values, StoreError> {
        let keys = Keys {
            text: keys,
            lengths: key_lengths,
        };
        let values = self.kv.get_values(&keys).await?;
        Ok(types::Values {
            bytes: values.bytes,
            lengths: values.lengths,
        })
    }

    async fn get_entries(
        &mut self,
        keys: String,
        key_lengths: Vec<u32>,
    ) -> Result<types::Entries, StoreError> {
        let keys = Keys {
            text: keys,
            lengths: key_lengths,
        };
        let entries = self.kv.get_entries(&keys).await?;
        Ok(types::Entries {
            types: entries.types,
            values: entries.values,
            heads: entries.heads,
        })
    }

    async fn create(
        &mut self,
        key: String,
        content_type: String,
        value: Vec<u8>,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.create_with(key, &content_type, &value, expires_at)
            .await
    }

    async fn create_from_body(
        &mut self,
        key: String,
        content_type: String,
        body: Resource<RequestBody>,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        let value = self.body(&body)?;
        self.create_with(key, &content_type, &value, expires_at)
            .await
    }

    async fn update(
        &mut self,
        key: String,
        content_type: String,
        value: Vec<u8>,
        if_version: Option<u64>,
        expiry: types::Expiry,
    ) -> Result<u64, StoreError> {
        self.update_with(key, &content_type, &value, if_version, expiry)
            .await
    }

    async fn update_from_body(
        &mut self,
        key: String,
        content_type: String,
        body: Resource<RequestBody>,
        if_version: Option<u64>,
        expiry: types::Expiry,
    ) -> Result<u64, StoreError> {
        let value = self.body(&body)?;
        self.update_with(key, &content_type, &value, if_version, expiry)
            .await
    }

    async fn delete(
        &mut self,
        key: String,
        if_version: Option<u64>,
    ) -> Result<types::Entry, StoreError> {
        let removed = self.kv.delete(&key, if_version).await?;
        let reply = entry(&removed);
        self.record(|| Write::Deleted(removed));
        Ok(reply)
    }

    /// Journaled as the update or delete it amounts to, so a failed call
    /// puts the old expiry, or the removed entry, back.
    async fn expire(
        &mut self,
        key: String,
        at: Option<u64>,
        condition: types::ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let condition = match condition {
            types::ExpireCondition::Always => ExpireCondition::Always,
            types::ExpireCondition::IfNone => ExpireCondition::IfNone,
            types::ExpireCondition::IfSome => ExpireCondition::IfSome,
            types::ExpireCondition::IfLater => ExpireCondition::IfLater,
            types::ExpireCondition::IfEarlier => ExpireCondition::IfEarlier,
        };
        if self.journal.is_none() {
            let expired = self.kv.expire(&key, at, condition, if_version).await?;
            return Ok(expired != Expired::Unchanged);
        }
        loop {
            let before = self.kv.get(&key).await?;
            kvs_model::check_version(before.version(), if_version)?;
            match self
                .kv
                .expire(&key, at, condition, Some(before.version()))
                .await
            {
                Ok(Expired::Unchanged) => return Ok(false),
                Ok(Expired::Set) => {
                    self.record(|| Write::Updated {
                        key,
                        version: before.version(),
                        previous: before,
                    });
                    return Ok(true);
                }
                Ok(Expired::Removed) => {
                    self.record(|| Write::Deleted(before));
                    return Ok(true);
                }
                // Written meanwhile: look again, unless the caller named
                // the version.
                Err(StoreError::VersionMismatch { .. } | StoreError::NotFound)
                    if if_version.is_none() => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Journaled as the create or update it amounts to.
    async fn add(
        &mut self,
        key: String,
        delta: i64,
        content_type: String,
    ) -> Result<(i64, u64), StoreError> {
        let journaled = self.journal.is_some();
        let added = self.kv.add(&key, delta, &content_type, journaled).await?;
        let version = added.version;
        if journaled {
            self.record(|| match added.previous {
                Some(previous) => Write::Updated {
                    key,
                    version,
                    previous,
                },
                None => Write::Created { key, version },
            });
        }
        Ok((added.value, version))
    }

    /// Journaled as the delete of `from` and the write of `to` it amounts
    /// to, so a failed call puts both back.
    async fn rename(&mut self, from: String, to: String, replace: bool) -> Result<u64, StoreError> {
        let renamed = self.kv.rename(&from, &to, replace).await?;
        if from != to {
            let version = renamed.version;
            self.record(|| Write::Deleted(renamed.source));
            self.record(|| match renamed.replaced {
                Some(previous) => Write::Updated {
                    key: to,
                    version,
                    previous,
                },
                None => Write::Created { key: to, version },
            });
        }
        Ok(renamed.version)
    }

    async fn delete_many(&mut self, keys: Vec<String>) -> Result<u32, StoreError> {
        let removed = self.kv.delete_many(&keys).await?;
        let count = u32::try_from(removed.len()).unwrap_or(u32::MAX);
        for entry in removed {
            self.record(|| Write::Deleted(entry));
        }
        Ok(count)
    }

    async fn put_many(
        &mut self,
        keys: String,
        key_lengths: Vec<u32>,
        values: Vec<u8>,
        value_lengths: Vec<u32>,
        content_type: String,
    ) -> Result<(), StoreError> {
        let packed = Pairs {
            keys: Keys {
                text: keys,
                lengths: key_lengths,
            },
            values,
            value_lengths,
        };
        let lengths: Vec<(String, usize)> = packed
            .unpacked()?
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.len()))
            .collect();
        // The values stay in the one buffer they crossed in, each a slice
        // of it: the lengths were checked to cover it exactly.
        let values = Bytes::from(packed.values);
        let mut at = 0;
        let pairs = lengths
            .into_iter()
            .map(|(key, length)| {
                let value = values.slice(at..at + length);
                at += length;
                (key, value)
            })
            .collect();
        for written in self.kv.put_many(pairs, &content_type).await? {
            self.record(|| match written.previous {
                Some(previous) => Write::Updated {
                    key: written.key,
                    version: written.version,
                    previous,
                },
                None => Write::Created {
                    key: written.key,
                    version: written.version,
                },
            });
        }
        Ok(())
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<types::KeyPage, StoreError> {
        let page = self
            .kv
            .list(&prefix, cursor.as_deref(), limit as usize)
            .await?;
        Ok(types::KeyPage {
            keys: page.keys,
            next_cursor: page.next_cursor,
        })
    }

    async fn scan(&mut self, cursor: u64, count: u32) -> Result<types::ScanPage, StoreError> {
        let page = self.kv.scan(cursor, count as usize).await?;
        Ok(types::ScanPage {
            keys: page.keys,
            next: page.next,
        })
    }

    async fn stats(&mut self) -> wasmtime::Result<types::StoreStats> {
        // The record has no error case: a backend that cannot say fails the call.
        let stats = self
            .kv
            .stats()
            .await
            .map_err(|error| wasmtime::format_err!("{error}"))?;
        Ok(types::StoreStats {
            keys: stats.keys,
            expiring: stats.expiring,
            bytes: stats.bytes,
            expired: stats.expired,
        })
    }

    async fn limits(&mut self) -> wasmtime::Result<types::StoreLimits> {
        let limits = self.kv.limits().advertised();
        Ok(types::StoreLimits {
            max_key_bytes: limits.max_key_bytes,
            max_value_bytes: limits.max_value_bytes,
            max_page_size: limits.max_page_size,
        })
    }
}

impl server::Host for CallState {
    fn info(&mut self) -> server::ServerInfo {
        let facts = self.host.facts();
        server::ServerInfo {
            version: facts.version,
            uptime_ms: facts.uptime_ms,
            connected_clients: facts.connected_clients,
            resident_bytes: facts.resident_bytes,
            connections_received: facts.connections_received,
            connections_rejected: facts.connections_rejected,
            commands_processed: facts.commands_processed,
        }
    }
}

/// A copy of `entry` for the guest, made where it is found (see
/// [`Backend::read`]).
fn entry(entry: &kv::Entry) -> types::Entry {
    let entry = kvs_model::Entry::from(entry);
    types::Entry {
        content_type: entry.content_type,
        value: entry.value,
        version: entry.version,
        expires_at: entry.expires_at,
    }
}

/// The synchronous store imports, linked for the in-memory store: each runs
/// the async import above to completion on its first poll, since nothing on
/// the in-memory store waits (one implementation of each import, two ways
/// to link it).
impl memory::store::Host for CallState {
    fn get(&mut self, key: String) -> Result<types::Entry, StoreError> {
        at_once(store::Host::get(self, key))
    }

    fn get_held(&mut self, key: String) -> Result<types::HeldEntry, StoreError> {
        at_once(store::Host::get_held(self, key))
    }

    fn get_values(
        &mut self,
        keys: String,
        key_lengths: Vec<u32>,
    ) -> Result<types::Values, StoreError> {
        at_once(store::Host::get_values(self, keys, key_lengths))
    }

    fn get_entries(
        &mut self,
        keys: String,
        key_lengths: Vec<u32>,
    ) -> Result<types::Entries, StoreError> {
        at_once(store::Host::get_entries(self, keys, key_lengths))
    }

    fn create(
        &mut self,
        key: String,
        content_type: String,
        value: Vec<u8>,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        at_once(store::Host::create(
            self,
            key,
            content_type,
            value,
            expires_at,
        ))
    }

    fn update(
        &mut self,
        key: String,
        content_type: String,
        value: Vec<u8>,
        if_version: Option<u64>,
        expiry: types::Expiry,
    ) -> Result<u64, StoreError> {
        at_once(store::Host::update(
            self,
            key,
            content_type,
            value,
            if_version,
            expiry,
        ))
    }

    fn create_from_body(
        &mut self,
        key: String,
        content_type: String,
        body: Resource<RequestBody>,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        at_once(store::Host::create_from_body(
            self,
            key,
            content_type,
            body,
            expires_at,
        ))
    }

    fn update_from_body(
        &mut self,
        key: String,
        content_type: String,
        body: Resource<RequestBody>,
        if_version: Option<u64>,
        expiry: types::Expiry,
    ) -> Result<u64, StoreError> {
        at_once(store::Host::update_from_body(
            self,
            key,
            content_type,
            body,
            if_version,
            expiry,
        ))
    }

    fn delete(&mut self, key: String, if_version: Option<u64>) -> Result<types::Entry, StoreError> {
        at_once(store::Host::delete(self, key, if_version))
    }

    fn expire(
        &mut self,
        key: String,
        at: Option<u64>,
        condition: types::ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        at_once(store::Host::expire(self, key, at, condition, if_version))
    }

    fn add(
        &mut self,
        key: String,
        delta: i64,
        content_type: String,
    ) -> Result<(i64, u64), StoreError> {
        at_once(store::Host::add(self, key, delta, content_type))
    }

    fn rename(&mut self, from: String, to: String, replace: bool) -> Result<u64, StoreError> {
        at_once(store::Host::rename(self, from, to, replace))
    }

    fn delete_many(&mut self, keys: Vec<String>) -> Result<u32, StoreError> {
        at_once(store::Host::delete_many(self, keys))
    }

    fn put_many(
        &mut self,
        keys: String,
        key_lengths: Vec<u32>,
        values: Vec<u8>,
        value_lengths: Vec<u32>,
        content_type: String,
    ) -> Result<(), StoreError> {
        at_once(store::Host::put_many(
            self,
            keys,
            key_lengths,
            values,
            value_lengths,
            content_type,
        ))
    }

    fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<types::KeyPage, StoreError> {
        at_once(store::Host::list_keys(self, prefix, cursor, limit))
    }

    fn scan(&mut self, cursor: u64, count: u32) -> Result<types::ScanPage, StoreError> {
        at_once(store::Host::scan(self, cursor, count))
    }

    fn stats(&mut self) -> wasmtime::Result<types::StoreStats> {
        at_once(store::Host::stats(self))
    }

    fn limits(&mut self) -> wasmtime::Result<types::StoreLimits> {
        at_once(store::Host::limits(self))
    }
}

/// The output of an import on the in-memory store, which completes on its
/// first poll.
fn at_once<T>(import: impl Future<Output = T>) -> T {
    use futures::FutureExt as _;
    std::pin::pin!(import)
        .now_or_never()
        .expect("an import on the in-memory store never waits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Limits, Store};
    use memory::store::Host as _;

    /// `put-many` as a guest calls it: packed pairs are all written, with
    /// the journal that reverts them; a packing that does not add up is
    /// refused whole, and writes nothing.
    #[test]
    fn packed_pairs_are_written_together_and_a_malformed_packing_writes_nothing() {
        let store = Store::new(Limits::default());
        let mut state =
            CallState::new(Backend::Memory(store.clone()), HostInfo::default()).journaled();
        let pairs: Pairs = [("a", &b"1"[..]), ("ключ", b"\xff\x00"), ("a", b"3")]
            .into_iter()
            .collect();
        let put = |state: &mut CallState, pairs: Pairs| {
            state.put_many(
                pairs.keys.text,
                pairs.keys.lengths,
                pairs.values,
                pairs.value_lengths,
                "t".into(),
            )
        };
        put(&mut state, pairs.clone()).unwrap();
        assert_eq!(store.get("a").unwrap().value(), b"3");
        assert_eq!(store.get("ключ").unwrap().value(), b"\xff\x00");
        assert!(state.wrote());

        let fresh: Keys = ["b", "c", "d"].into_iter().collect();
        for malformed in [
            // A value length past the values.
            Pairs {
                keys: fresh.clone(),
                value_lengths: vec![1, 2, 2],
                ..pairs.clone()
            },
            // One value fewer than keys.
            Pairs {
                keys: fresh.clone(),
                value_lengths: vec![1, 2],
                values: b"1\xff\x00".to_vec(),
            },
            // A key length that ends inside a character.
            Pairs {
                keys: Keys {
                    text: "bкc".into(),
                    lengths: vec![1, 1, 2],
                },
                ..pairs.clone()
            },
        ] {
            let mut state =
                CallState::new(Backend::Memory(store.clone()), HostInfo::default()).journaled();
            assert!(matches!(
                put(&mut state, malformed),
                Err(StoreError::InvalidKey(_))
            ));
            assert!(!state.wrote());
        }
        assert_eq!(store.entries().len(), 2);
        assert_eq!(store.get("b").unwrap_err(), StoreError::NotFound);
    }

    /// A lent body is written by naming it, as `create` and `update` write
    /// bytes: same value, same journal, and a failed call's writes are
    /// reverted. Dropped by the guest, it leaves the table; kept past the
    /// call, the host drops it and retires the instance.
    #[tokio::test]
    async fn a_lent_body_is_written_by_its_handle_and_retires_its_instance_if_kept() {
        let store = Store::new(Limits::default());
        let mut state =
            CallState::new(Backend::Memory(store.clone()), HostInfo::default()).journaled();
        let value = Bytes::from(vec![0xff, 0, b'\r', b'\n', 7]);
        let body = state.lend_body(value.clone());
        let named = || Resource::<RequestBody>::new_borrow(body.rep());
        assert_eq!(
            types::HostRequestBody::size(&mut state, named()).unwrap(),
            5
        );
        let created = state
            .create_from_body("k".into(), "a/b".into(), named(), None)
            .unwrap();
        assert_eq!(store.get("k").unwrap().value(), &value[..]);
        assert_eq!(store.get("k").unwrap().content_type(), "a/b");
        let updated = state
            .update_from_body(
                "k".into(),
                "c/d".into(),
                named(),
                Some(created),
                types::Expiry::At(u64::MAX),
            )
            .unwrap();
        let entry = store.get("k").unwrap();
        assert_eq!((entry.version(), entry.content_type()), (updated, "c/d"));
        assert_eq!(entry.expires_at(), Some(u64::MAX));
        assert_eq!(
            state.update_from_body(
                "k".into(),
                "c/d".into(),
                named(),
                Some(created),
                types::Expiry::Keep
            ),
            Err(StoreError::VersionMismatch { current: updated })
        );
        assert_eq!(
            state.create_from_body("nope/too-large".repeat(1 << 10), "t".into(), named(), None),
            Err(StoreError::TooLarge {
                limit: Limits::default().max_key_bytes as u64
            })
        );
        // The call failed: both writes are taken back.
        let reverted = state.revert().await;
        assert_eq!(reverted.reverted, 2);
        assert_eq!(store.get("k").unwrap_err(), StoreError::NotFound);

        // The guest dropped its handle: the instance may serve again.
        types::HostRequestBody::drop(&mut state, body).unwrap();
        state.end_call();
        assert!(!state.retired());
        // The guest kept one past its call: the instance serves no more.
        let _kept = state.lend_body(value);
        state.end_call();
        assert!(state.retired());
        assert_eq!(store.entries().len(), 0);
    }

    /// `get-held` copies a small value and holds a large one: the handle
    /// gives its size, and taken back as a response body it is the
    /// entry's bytes as they were read, whatever is written after.
    #[test]
    fn a_large_value_is_held_and_sent_as_it_was_read() {
        let store = Store::new(Limits::default());
        let mut state = CallState::new(Backend::Memory(store.clone()), HostInfo::default());
        let small = vec![b's'; HELD_VALUE_MIN_BYTES - 1];
        let large: Vec<u8> = (0..HELD_VALUE_MIN_BYTES).map(|i| i as u8).collect();
        store.create("small", "a/b", &small[..], None).unwrap();
        let version = store
            .create("large", "c/d", &large[..], Some(u64::MAX))
            .unwrap();

        let read = state.get_held("small".into()).unwrap();
        assert!(matches!(read.value, types::Payload::Bytes(ref bytes) if *bytes == small));
        assert_eq!(read.content_type, "a/b");
        state.end_call();
        assert!(!state.retired(), "a copy lends nothing");

        let read = state.get_held("large".into()).unwrap();
        assert_eq!(
            (read.content_type.as_str(), read.version, read.expires_at),
            ("c/d", version, Some(u64::MAX))
        );
        let types::Payload::Held(value) = read.value else {
            panic!("a value of {} bytes was copied", large.len());
        };
        let named = Resource::<HeldValue>::new_borrow(value.rep());
        assert_eq!(
            types::HostHeldValue::size(&mut state, named).unwrap(),
            large.len() as u64
        );
        store.delete("large", None).unwrap();
        let sent = state.take_held(value).unwrap().into_value();
        assert_eq!(&sent[..], &large[..]);
        state.end_call();
        assert!(!state.retired());

        assert_eq!(
            state.get_held("large".into()).unwrap_err(),
            StoreError::NotFound
        );
        store.create("large", "c/d", &large[..], None).unwrap();
        let _kept = state.get_held("large".into()).unwrap();
        state.end_call();
        assert!(
            state.retired(),
            "a value kept past the call retires the instance"
        );
    }
}
