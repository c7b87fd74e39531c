//! The portable build's backend: entries in the directory the operator
//! grants to `wasmtime serve` with `--dir HOST_DIR::/data`.

use crate::storage::{FileStorage, StoreError};

/// Where the data directory appears inside the guest, unless `KVS_DATA_DIR`
/// (passed with `wasmtime serve --env KVS_DATA_DIR=...`) says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/data";

/// Largest value the portable build accepts.
pub const MAX_VALUE_BYTES: u64 = 16 << 20;

/// The storage for this request; every request opens it afresh, as every
/// request runs in a fresh instance.
pub fn storage() -> Result<FileStorage, StoreError> {
    let dir = std::env::var("KVS_DATA_DIR").unwrap_or_else(|_| DEFAULT_DATA_DIR.to_string());
    FileStorage::open(dir, MAX_VALUE_BYTES)
}
