//! Listing keys page by page, the same way for both protocols: what a
//! client may ask for (`prefix`, `limit`, `cursor`), the default page size,
//! and the cursors themselves.
//!
//! Cursors are opaque to clients, the last key of the previous page inside.
//! Wrapping the key in URL-safe base64 keeps cursors safe to paste into a
//! query string or a TCP command, whatever characters the key holds, and lets
//! the server reject cursors it never issued.

use crate::storage::{DEFAULT_PAGE_SIZE, KeyPage, Storage, StoreError, parse_page_limit};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// One listing request: keys starting with `prefix`, after `after`, at most
/// `limit` of them (the store clamps it to its page size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub prefix: String,
    /// The key the page continues after, decoded from the client's cursor.
    pub after: Option<String>,
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            after: None,
            limit: DEFAULT_PAGE_SIZE,
        }
    }
}

/// What was wrong with a listing request; each protocol words it its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// The limit is not a positive integer.
    BadLimit,
    /// The cursor is not one this server issued.
    BadCursor,
}

impl PageRequest {
    /// Takes a client's `limit`.
    pub fn set_limit(&mut self, raw: &str) -> Result<(), PageError> {
        self.limit = parse_page_limit(raw).ok_or(PageError::BadLimit)?;
        Ok(())
    }

    /// Takes a client's `cursor`; an empty one starts from the beginning.
    pub fn set_cursor(&mut self, raw: &str) -> Result<(), PageError> {
        self.after = match raw {
            "" => None,
            raw => Some(decode(raw).ok_or(PageError::BadCursor)?),
        };
        Ok(())
    }

    /// The page this request names.
    pub fn fetch(&self, store: &impl Storage) -> Result<KeyPage, StoreError> {
        store.list(&self.prefix, self.after.as_deref(), self.limit)
    }
}

/// The cursor that continues after `last_key`.
pub fn encode(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key)
}

/// The key a cursor continues after, or `None` if it is not one of ours.
pub fn decode(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_any_key() {
        for key in ["a", "a/b c", "ключ", "x|y=z"] {
            assert_eq!(decode(&encode(key)).as_deref(), Some(key));
        }
        assert_eq!(decode("not base64!"), None);
    }
}
