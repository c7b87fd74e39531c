//! One stored entry in one allocation.
//!
//! A store holds millions of small entries, so each costs what the
//! allocator makes of one reference-counted buffer: a fixed header
//! (version, expiry, the key's length, the content type), the key, the
//! content type's bytes when it is not one of the shared ones
//! ([`super::content_types`]), then the value. The map's slot is the
//! pointer to it and nothing else. With 11-byte keys and 100-byte values
//! that is 151 bytes, which the allocator rounds to 160, and a 16-byte slot;
//! a slot that held the key, type and value apart took 88 bytes and two
//! more allocations (32 and 112 bytes).
//!
//! Cloning an entry (for the log, a snapshot, a write's undo) takes a
//! reference, never a copy; changing one makes a new buffer, except an
//! expiry changed on an entry nobody else holds, which is changed in place.

use super::content_types;
use std::sync::Arc;

/// Version (8 bytes), expiry (8), the key's length (4), the type word (4).
const HEADER: usize = 24;
/// Set in the type word when the type's bytes follow the key; the low bits
/// are then their length. Clear, the word is the shared type's index.
const INLINE_TYPE: u32 = 1 << 31;

/// One stored value with its key, content type, version and expiry.
#[derive(Clone)]
pub struct Entry(Arc<[u8]>);

impl Entry {
    /// An entry of `key`. The caller has checked the lengths against the
    /// store's limits, which keep each far below 4 GiB.
    pub fn new(
        key: &str,
        content_type: &str,
        value: &[u8],
        version: u64,
        expires_at: Option<u64>,
    ) -> Self {
        let (type_word, inline) = match content_types::intern(content_type) {
            Some(index) => (index, &[][..]),
            None => (
                INLINE_TYPE | length(content_type.len()),
                content_type.as_bytes(),
            ),
        };
        let mut bytes: Arc<[u8]> =
            std::iter::repeat_n(0, HEADER + key.len() + inline.len() + value.len()).collect();
        let buffer = Arc::get_mut(&mut bytes).expect("a new buffer has one owner");
        let (header, rest) = buffer.split_at_mut(HEADER);
        header[0..8].copy_from_slice(&version.to_le_bytes());
        header[8..16].copy_from_slice(&encode_expiry(expires_at).to_le_bytes());
        header[16..20].copy_from_slice(&length(key.len()).to_le_bytes());
        header[20..24].copy_from_slice(&type_word.to_le_bytes());
        let (key_bytes, rest) = rest.split_at_mut(key.len());
        key_bytes.copy_from_slice(key.as_bytes());
        let (type_bytes, value_bytes) = rest.split_at_mut(inline.len());
        type_bytes.copy_from_slice(inline);
        value_bytes.copy_from_slice(value);
        Self(bytes)
    }

    /// This entry under another key and version (a rename).
    pub fn moved(&self, key: &str, version: u64) -> Self {
        Self::new(
            key,
            self.content_type(),
            self.value(),
            version,
            self.expires_at(),
        )
    }

    pub fn key(&self) -> &str {
        std::str::from_utf8(self.key_bytes()).expect("a key is made from a str")
    }

    /// The key's bytes, for comparing without checking they are UTF-8.
    pub fn key_bytes(&self) -> &[u8] {
        &self.0[HEADER..HEADER + self.key_len()]
    }

    pub fn content_type(&self) -> &str {
        let word = self.word(20);
        if word & INLINE_TYPE == 0 {
            return content_types::name(word);
        }
        let start = HEADER + self.key_len();
        let end = start + (word & !INLINE_TYPE) as usize;
        std::str::from_utf8(&self.0[start..end]).expect("a content type is made from a str")
    }

    pub fn value(&self) -> &[u8] {
        let word = self.word(20);
        let inline = if word & INLINE_TYPE == 0 {
            0
        } else {
            (word & !INLINE_TYPE) as usize
        };
        &self.0[HEADER + self.key_len() + inline..]
    }

    pub fn version(&self) -> u64 {
        u64::from_le_bytes(self.0[0..8].try_into().expect("eight bytes"))
    }

    /// When the entry expires, in milliseconds since the Unix epoch: from
    /// then on it is gone for every reader, and the sweep reclaims it.
    pub fn expires_at(&self) -> Option<u64> {
        match u64::from_le_bytes(self.0[8..16].try_into().expect("eight bytes")) {
            0 => None,
            at => Some(at),
        }
    }

    /// Sets or clears the expiry, in place if nobody else holds the entry;
    /// hands back the one it had.
    pub fn set_expires_at(&mut self, at: Option<u64>) -> Option<u64> {
        let old = self.expires_at();
        if Arc::get_mut(&mut self.0).is_none() {
            self.0 = Arc::from(&self.0[..]);
        }
        let buffer = Arc::get_mut(&mut self.0).expect("a buffer of its own");
        buffer[8..16].copy_from_slice(&encode_expiry(at).to_le_bytes());
        old
    }

    /// Whether the entry still exists at `now` (milliseconds since the
    /// Unix epoch).
    pub fn live_at(&self, now: u64) -> bool {
        self.expires_at().is_none_or(|at| at > now)
    }

    /// Whether the entry still exists now. Reads the clock only for an
    /// entry with an expiry: most have none, and a read of the clock was 3%
    /// of a pipelined `GET`'s time.
    pub fn live(&self) -> bool {
        self.expires_at().is_none_or(|at| at > super::now_ms())
    }

    fn key_len(&self) -> usize {
        self.word(16) as usize
    }

    fn word(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("four bytes"))
    }
}

/// Two entries are equal when everything a reader sees of them is, however
/// each keeps its type.
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key_bytes() == other.key_bytes()
            && self.version() == other.version()
            && self.expires_at() == other.expires_at()
            && self.content_type() == other.content_type()
            && self.value() == other.value()
    }
}

impl Eq for Entry {}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key())
            .field("content_type", &self.content_type())
            .field("value", &bytes::Bytes::copy_from_slice(self.value()))
            .field("version", &self.version())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// An expiry as the header keeps it: 0 for none. An instant of 0 (the
/// epoch, long past like any other past instant) is kept as 1 ms after it.
fn encode_expiry(at: Option<u64>) -> u64 {
    at.map_or(0, |at| at.max(1))
}

fn length(len: usize) -> u32 {
    u32::try_from(len)
        .ok()
        .filter(|len| len & INLINE_TYPE == 0)
        .expect("keys and content types are bounded far below 2 GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gives_back_what_it_was_made_of() {
        let entry = Entry::new("k€y", "text/plain", b"\0value\r\n", 7, Some(42));
        assert_eq!(entry.key(), "k€y");
        assert_eq!(entry.content_type(), "text/plain");
        assert_eq!(entry.value(), b"\0value\r\n");
        assert_eq!(entry.version(), 7);
        assert_eq!(entry.expires_at(), Some(42));
        let empty = Entry::new("", "", b"", 0, None);
        assert_eq!(
            (empty.key(), empty.content_type(), empty.value()),
            ("", "", &b""[..])
        );
        assert_eq!(empty.expires_at(), None);
    }

    #[test]
    fn an_expiry_changes_in_place_or_in_a_copy_if_shared() {
        let mut entry = Entry::new("k", "a/b", b"v", 1, None);
        assert_eq!(entry.set_expires_at(Some(5)), None);
        let held = entry.clone();
        assert_eq!(entry.set_expires_at(None), Some(5));
        assert_eq!(entry.expires_at(), None);
        assert_eq!(held.expires_at(), Some(5), "a holder's copy is untouched");
        assert_eq!(entry.value(), b"v");
        // The epoch itself stays an expiry (a past one).
        assert_eq!(entry.set_expires_at(Some(0)), None);
        assert_eq!(entry.expires_at(), Some(1));
        assert!(!entry.live_at(1));
    }

    #[test]
    fn a_type_past_the_shared_set_is_kept_in_the_entry() {
        for i in 0..content_types::MAX_SHARED {
            content_types::intern(&format!("x/entry-fill-{i}"));
        }
        let entry = Entry::new("key", "x/never-shared-before", b"value", 3, None);
        assert_eq!(entry.content_type(), "x/never-shared-before");
        assert_eq!(entry.key(), "key");
        assert_eq!(entry.value(), b"value");
        let moved = entry.moved("other", 4);
        assert_eq!(moved.content_type(), "x/never-shared-before");
        assert_eq!(
            (moved.key(), moved.value(), moved.version()),
            ("other", &b"value"[..], 4)
        );
    }
}
