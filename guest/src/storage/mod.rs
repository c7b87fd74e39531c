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

#[cfg(test)]
mod tests {
    use super::parse_page_limit;

    #[test]
    fn page_limits_clamp_instead_of_overflowing() {
        assert_eq!(parse_page_limit("10"), Some(10));
        assert_eq!(parse_page_limit("4294967295"), Some(u32::MAX));
        assert_eq!(parse_page_limit("4294967296"), Some(u32::MAX));
        assert_eq!(parse_page_limit("99999999999999999999999"), Some(u32::MAX));
        for bad in ["", "0", "000000000000000000000", "-1", "+1", "1.5", "x"] {
            assert_eq!(parse_page_limit(bad), None, "{bad:?}");
        }
    }
}

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

/// A page size as a client wrote it: a positive decimal number, where one
/// past `u32::MAX` means as many as possible (the store clamps every limit
/// to its page size anyway). `None` for zero or anything not a number.
pub fn parse_page_limit(raw: &str) -> Option<u32> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match raw.parse::<u32>() {
        Ok(0) => None,
        Ok(limit) => Some(limit),
        // All digits, so the only way to fail is to be too large; unless
        // every digit is a zero.
        Err(_) if raw.bytes().all(|b| b == b'0') => None,
        Err(_) => Some(u32::MAX),
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
