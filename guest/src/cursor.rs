//! Listing cursors: opaque to clients, the last key of the previous page inside.
//!
//! Wrapping the key in URL-safe base64 keeps cursors safe to paste into a
//! query string or a TCP command, whatever characters the key holds, and lets
//! the server reject cursors it never issued.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
