//! The guest's storage seam: everything the protocols need from a store.
//!
//! The routing and protocol code is written against [`Storage`] so that the
//! same logic runs over the host's store (the normal component), over a
//! directory of files (the portable component for stock `wasmtime serve`), and
//! over [`MemoryStorage`] in native unit tests.
//!
//! Expiry instants are milliseconds since the Unix epoch ([`now_ms`]).
//!
//! The model the trait speaks (entries, errors, limits, pages) is the
//! `kvs-model` crate's, shared with the host.
//!
//! - [`memory`]: [`MemoryStorage`], for tests.
//! - [`files`]: [`FileStorage`], one file per entry in a directory.

pub mod files;
pub mod memory;

pub use files::FileStorage;
pub use memory::MemoryStorage;

pub use kvs_model::page::{DEFAULT_PAGE_SIZE, KeyPage, parse_page_limit};
pub use kvs_model::scan::ScanPage;
pub use kvs_model::store::{
    Entry, ExpireCondition, Expiry, Limits, StoreError, StoreStats, check_version,
};

/// Now, in milliseconds since the Unix epoch: the clock expiry is kept in.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The operations of a key-value store, each atomic. See `wit/kvs.wit` for
/// the exact guarantees under concurrency.
pub trait Storage {
    fn get(&self, key: &str) -> Result<Entry, StoreError>;
    fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError>;
    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError>;
    /// Sets or clears the expiry of `key` if `condition` holds; true if it
    /// changed. An instant already past deletes the key.
    fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError>;
    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError>;
    /// Moves `from`'s entry to `to` at one instant; the version under `to`.
    fn rename(&self, from: &str, to: &str, replace: bool) -> Result<u64, StoreError>;
    /// Removes the keys that have entries, at one instant; how many.
    fn delete_many(&self, keys: &[String]) -> Result<u32, StoreError>;
    /// Sets every key to its value without expiry, all or none, at one
    /// instant; a key given twice takes its last value.
    fn put_many(&self, entries: &[(String, Vec<u8>)], content_type: &str)
    -> Result<(), StoreError>;
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError>;
    /// The page of the walk in hash order at `cursor` (see
    /// [`kvs_model::scan`]), about `count` keys.
    fn scan(&self, cursor: u64, count: u32) -> Result<ScanPage, StoreError>;
    fn stats(&self) -> Result<StoreStats, StoreError>;
    fn limits(&self) -> Limits;
}
