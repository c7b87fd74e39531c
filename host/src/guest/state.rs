//! Per-call guest state, and the `kvs:store/store` imports over the shared store.
//!
//! Each guest call runs in its own `wasmtime::Store` whose data is a
//! [`CallState`]: the WASI contexts (which grant nothing: no files, no
//! network, no outgoing HTTP, no environment) and a handle to the shared [`crate::store::Store`].

use super::bindings::{store, types};
use crate::store::{self as kv, StoreError};
use bytes::Bytes;
use std::future::Future;
use wasmtime::component::ResourceTable;
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
    kv: kv::Store,
    memory: MemoryUse,
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
    pub fn new(kv: kv::Store) -> Self {
        Self {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: DenyOutgoingHttp,
            kv,
            memory: MemoryUse::default(),
        }
    }

    /// Linear memory of this store's instance, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory.bytes
    }

    pub fn memory_use(&mut self) -> &mut MemoryUse {
        &mut self.memory
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

impl types::Host for CallState {}

impl store::Host for CallState {
    fn get(&mut self, key: String) -> Result<types::Entry, types::Error> {
        self.kv.get(&key).map(entry).map_err(error)
    }

    fn create(
        &mut self,
        key: String,
        content_type: String,
        value: Vec<u8>,
    ) -> Result<u64, types::Error> {
        self.kv
            .create(key, content_type, Bytes::from(value))
            .map_err(error)
    }

    fn update(
        &mut self,
        key: String,
        content_type: String,
        value: Vec<u8>,
        if_version: Option<u64>,
    ) -> Result<u64, types::Error> {
        self.kv
            .update(&key, content_type, Bytes::from(value), if_version)
            .map_err(error)
    }

    fn delete(
        &mut self,
        key: String,
        if_version: Option<u64>,
    ) -> Result<types::Entry, types::Error> {
        self.kv.delete(&key, if_version).map(entry).map_err(error)
    }

    fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<types::KeyPage, types::Error> {
        let page = self.kv.list(&prefix, cursor.as_deref(), limit as usize);
        Ok(types::KeyPage {
            keys: page.keys,
            next_cursor: page.next_cursor,
        })
    }

    fn limits(&mut self) -> types::StoreLimits {
        let limits = self.kv.limits();
        types::StoreLimits {
            max_key_bytes: u32::try_from(limits.max_key_bytes).unwrap_or(u32::MAX),
            max_value_bytes: limits.max_value_bytes as u64,
            max_page_size: u32::try_from(limits.max_page_size).unwrap_or(u32::MAX),
        }
    }
}

fn entry(entry: kv::Entry) -> types::Entry {
    types::Entry {
        content_type: entry.content_type.to_string(),
        value: entry.value.into(),
        version: entry.version,
    }
}

fn error(error: StoreError) -> types::Error {
    match error {
        StoreError::NotFound => types::Error::NotFound,
        StoreError::AlreadyExists => types::Error::AlreadyExists,
        StoreError::VersionMismatch { current } => types::Error::VersionMismatch(current),
        StoreError::TooLarge { limit } => types::Error::TooLarge(limit as u64),
        StoreError::StoreFull => types::Error::StoreFull,
        StoreError::InvalidKey(reason) => types::Error::InvalidKey(reason.into()),
    }
}
