//! The guest's storage seam: everything the protocols need from a store.
//!
//! The routing and protocol code is written against [`Storage`] so that the
//! same logic runs over the host's store (the normal component), over a
//! directory of files (the portable component for stock `wasmtime serve`), and
//! over [`MemoryStorage`] in native unit tests.
//!
//! - [`memory`]: [`MemoryStorage`], for tests.
//! - [`files`]: [`FileStorage`], one file per entry in a directory.

pub mod files;
pub mod memory;

pub use files::FileStorage;
pub use memory::MemoryStorage;

/// One stored value with its content type and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub content_type: String,
    pub value: Vec<u8>,
    pub version: u64,
}

/// A page of keys and where to continue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    pub keys: Vec<String>,
    pub next_cursor: Option<String>,
}

impl KeyPage {
    /// A page of at most `limit` keys from `keys`, which hold the candidates
    /// in ascending order (at least `limit + 1` of them if more exist), with
    /// a cursor when more follow.
    pub fn from_sorted(mut keys: Vec<String>, limit: usize) -> Self {
        let next_cursor = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().cloned()
        } else {
            None
        };
        Self { keys, next_cursor }
    }
}

/// The limits a store enforces, so callers can refuse oversized input early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_key_bytes: u32,
    pub max_value_bytes: u64,
    pub max_page_size: u32,
}

impl Limits {
    /// Refuses an empty or over-long key and an over-long value, as every
    /// backend must before it writes.
    pub fn check_write(&self, key: &str, value_len: usize) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::InvalidKey("the key is empty".into()));
        }
        if key.len() > self.max_key_bytes as usize {
            return Err(StoreError::TooLarge {
                limit: self.max_key_bytes.into(),
            });
        }
        if value_len as u64 > self.max_value_bytes {
            return Err(StoreError::TooLarge {
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }
}

/// The precondition of conditional writes: `expected`, when given, must be
/// the `current` version.
pub fn check_version(current: u64, expected: Option<u64>) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current => Err(StoreError::VersionMismatch { current }),
        _ => Ok(()),
    }
}

/// Why a store operation was refused. Mirrors the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    AlreadyExists,
    VersionMismatch {
        current: u64,
    },
    TooLarge {
        limit: u64,
    },
    StoreFull,
    InvalidKey(String),
    /// The backend itself failed (for example a file system error); the
    /// message says what an operator must fix.
    Unavailable(String),
}

/// The operations of a key-value store, each atomic. See `wit/kvs.wit` for
/// the exact guarantees under concurrency.
pub trait Storage {
    fn get(&self, key: &str) -> Result<Entry, StoreError>;
    fn create(&self, key: &str, content_type: &str, value: &[u8]) -> Result<u64, StoreError>;
    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
    ) -> Result<u64, StoreError>;
    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError>;
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError>;
    fn limits(&self) -> Limits;
}
