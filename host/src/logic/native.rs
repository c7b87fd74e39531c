//! The native ceiling, for benchmarks only: the guest crate's REST routing
//! and line protocol compiled into the host and run against the same store,
//! behind the same HTTP and TCP front ends, with no WebAssembly in the path.
//!
//! `kvs serve --call-path native` serves this way, so `kvs bench` against it
//! and against a normal kvs measures the cost of wasm as one ratio. It cannot
//! be reloaded: there is no guest.

use crate::app::App;
use crate::runtime::host_info::HostInfo;
use crate::runtime::state::ToSend;
use crate::runtime::{RestRequest, RestResponse, rest};
use crate::store::{self as kv};
use bytes::Bytes;
use kvs_guest::http::{self, BodyError};
use kvs_guest::storage::{ReadsAs, Storage};
use kvs_model::{
    Entry, ExpireCondition, Expiry, KeyPage, Limits, LineReplies, Pairs, RespReplies, RespSession,
    ScanPage, ServerInfo, StoreError, StoreStats,
};

/// Serves one request as the guest's `rest` export would.
pub fn handle_rest(store: &kv::Store, request: RestRequest) -> RestResponse {
    let body = request.body.map_err(|error| match error {
        rest::BodyError::TooLarge => BodyError::TooLarge,
        rest::BodyError::Broken(reason) => BodyError::Broken(reason),
    });
    let response: http::Response<Sent> = http::handle_read(
        &Native(store),
        &request.method,
        request.path_with_query,
        request.headers,
        body,
    );
    RestResponse {
        status: response.status,
        headers: response.headers,
        body: response.body.0,
    }
}

/// A response body as the native ceiling sends it: bytes, or a stored
/// value shared with its entry, as the guest's `held-value` is.
struct Sent(Bytes);

impl http::Body for Sent {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

impl From<Vec<u8>> for Sent {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }
}

/// Small values are copied and large ones shared, as `get-held` does.
impl ReadsAs<Sent> for Native<'_> {
    fn get_as(&self, key: &str) -> Result<Entry<Sent>, StoreError> {
        Ok(match self.0.read(key, ToSend::of)? {
            ToSend::Copied(entry) => Entry {
                content_type: entry.content_type,
                value: Sent(entry.value.into()),
                version: entry.version,
                expires_at: entry.expires_at,
            },
            ToSend::Shared(entry) => Entry {
                content_type: entry.content_type().to_owned(),
                version: entry.version(),
                expires_at: entry.expires_at(),
                value: Sent(entry.into_value()),
            },
        })
    }
}

/// Runs TCP command lines as the guest's `command` export would.
pub fn handle_lines(store: &kv::Store, lines: &[u8]) -> LineReplies {
    kvs_guest::protocol::handle_lines(&Native(store), lines)
}

/// Runs a batch of Redis commands as the guest's `resp` export would.
pub fn handle_resp(
    app: &App,
    store: &kv::Store,
    session: RespSession,
    batch: &[u8],
) -> RespReplies {
    let server = NativeServer(app.host_info());
    kvs_guest::resp::handle_batch(&Native(store), &server, session, batch)
}

/// The host's facts, told directly.
struct NativeServer<'a>(&'a HostInfo);

impl kvs_guest::resp::Server for NativeServer<'_> {
    fn info(&self) -> ServerInfo {
        self.0.facts()
    }
}

/// The host's store behind the guest's storage seam, called directly: both
/// speak the `kvs-model` types, so only an entry changes representation.
struct Native<'a>(&'a kv::Store);

impl Storage for Native<'_> {
    fn get(&self, key: &str) -> Result<Entry, StoreError> {
        self.0.read(key, |entry| Entry::from(entry))
    }

    fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.0.create(key, content_type, value, expires_at)
    }

    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError> {
        self.0.update(key, content_type, value, if_version, expiry)
    }

    fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let expired = self.0.expire(key, at, condition, if_version)?;
        Ok(expired != kv::Expired::Unchanged)
    }

    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        self.0
            .delete(key, if_version)
            .map(|entry| Entry::from(&entry))
    }

    fn add(&self, key: &str, delta: i64, content_type: &str) -> Result<(i64, u64), StoreError> {
        let added = self.0.add(key, delta, content_type)?;
        Ok((added.value, added.version))
    }

    fn rename(&self, from: &str, to: &str, replace: bool) -> Result<u64, StoreError> {
        Ok(self.0.rename(from, to, replace)?.version)
    }

    fn delete_many(&self, keys: &[String]) -> Result<u32, StoreError> {
        let removed = self.0.delete_many(keys)?;
        Ok(u32::try_from(removed.len()).unwrap_or(u32::MAX))
    }

    fn put_many(&self, pairs: &Pairs, content_type: &str) -> Result<(), StoreError> {
        let pairs = pairs
            .unpacked()?
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        self.0.put_many(pairs, content_type).map(drop)
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError> {
        Ok(self.0.list(prefix, cursor, limit as usize))
    }

    fn scan(&self, cursor: u64, count: u32) -> Result<ScanPage, StoreError> {
        Ok(self.0.scan(cursor, count as usize))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(self.0.stats())
    }

    fn limits(&self) -> Limits {
        self.0.limits().advertised()
    }
}
