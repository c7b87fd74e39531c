//! Pages of keys: where a listing is cut, and page sizes as clients write
//! them. Every front end (REST `?limit=`, the line protocol's `limit=`) and
//! every backend uses these, so a page means the same thing everywhere.

/// The page size a listing gets when its client names none.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// A page of keys and where to continue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    pub keys: Vec<String>,
    /// The last key of this page when more keys follow it.
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_page_is_cut_after_its_limit_with_a_cursor() {
        let keys = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let page = KeyPage::from_sorted(keys(&["a", "b", "c"]), 2);
        assert_eq!(page.keys, keys(&["a", "b"]));
        assert_eq!(page.next_cursor.as_deref(), Some("b"));
        let last = KeyPage::from_sorted(keys(&["c"]), 2);
        assert_eq!(last.next_cursor, None);
    }
}
