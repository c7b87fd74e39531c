//! The native ceiling, for benchmarks only: the guest crate's REST routing
//! and line protocol compiled into the host and run against the same store,
//! behind the same HTTP and TCP front ends, with no WebAssembly in the path.
//!
//! `kvs serve --call-path native` serves this way, so `kvs bench` against it
//! and against a normal kvs measures the cost of wasm as one ratio. It cannot
//! be reloaded: there is no guest.

use crate::guest::rest;
use crate::store::{self as kv};
use kvs_guest::http::{self, BodyError};
use kvs_guest::storage::{Entry, KeyPage, Limits, Storage, StoreError};

/// Serves one request as the guest's `rest` export would.
pub fn handle_rest(store: &kv::Store, request: rest::Request) -> rest::Response {
    let body = request.body.map_err(|error| match error {
        rest::BodyError::TooLarge => BodyError::TooLarge,
        rest::BodyError::Broken(reason) => BodyError::Broken(reason),
    });
    let response = http::handle_read(
        &Native(store),
        &request.method,
        request.path_with_query,
        request.headers,
        body,
    );
    rest::Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
    }
}

/// Runs one TCP command line as the guest's `command` export would.
pub fn handle_line(store: &kv::Store, line: &[u8]) -> (String, bool) {
    let reply = kvs_guest::protocol::handle_line(&Native(store), line);
    (reply.line, reply.close)
}

/// The host's store behind the guest's storage seam, called directly.
struct Native<'a>(&'a kv::Store);

impl Storage for Native<'_> {
    fn get(&self, key: &str) -> Result<Entry, StoreError> {
        self.0.get(key).map(entry).map_err(error)
    }

    fn create(&self, key: &str, content_type: &str, value: &[u8]) -> Result<u64, StoreError> {
        self.0
            .create(key, content_type.to_string(), value.to_vec().into())
            .map_err(error)
    }

    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.0
            .update(
                key,
                content_type.to_string(),
                value.to_vec().into(),
                if_version,
            )
            .map_err(error)
    }

    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        self.0.delete(key, if_version).map(entry).map_err(error)
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError> {
        let page = self.0.list(prefix, cursor, limit as usize);
        Ok(KeyPage {
            keys: page.keys,
            next_cursor: page.next_cursor,
        })
    }

    fn limits(&self) -> Limits {
        let limits = self.0.limits();
        Limits {
            max_key_bytes: u32::try_from(limits.max_key_bytes).unwrap_or(u32::MAX),
            max_value_bytes: limits.max_value_bytes as u64,
            max_page_size: u32::try_from(limits.max_page_size).unwrap_or(u32::MAX),
        }
    }
}

fn entry(entry: kv::Entry) -> Entry {
    Entry {
        content_type: entry.content_type.to_string(),
        value: entry.value.into(),
        version: entry.version,
    }
}

fn error(error: kv::StoreError) -> StoreError {
    match error {
        kv::StoreError::NotFound => StoreError::NotFound,
        kv::StoreError::AlreadyExists => StoreError::AlreadyExists,
        kv::StoreError::VersionMismatch { current } => StoreError::VersionMismatch { current },
        kv::StoreError::TooLarge { limit } => StoreError::TooLarge {
            limit: limit as u64,
        },
        kv::StoreError::StoreFull => StoreError::StoreFull,
        kv::StoreError::InvalidKey(reason) => StoreError::InvalidKey(reason.into()),
    }
}
