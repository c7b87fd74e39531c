//! One stored entry in one allocation.
//!
//! A store holds millions of small entries, so each costs what the
//! allocator makes of one reference-counted buffer: a reference count, a
//! fixed header (version, expiry, the key's length, the content type) and
//! the bytes' length, then the key, the content type's bytes when it is not
//! one of the shared ones ([`super::content_types`]), and the value. The
//! map's slot is the pointer to it, one word (`triomphe::ThinArc`: the
//! length lives in the allocation, not in the pointer, and there is no
//! weak count). With 11-byte keys and 100-byte values that is 151 bytes,
//! which glibc rounds to 160, and an 8-byte slot; a slot that held the key,
//! type and value apart took 88 bytes and two more allocations (32 and 112
//! bytes), and `std`'s `Arc<[u8]>` a 16-byte slot.
//!
//! Cloning an entry (for the log, a snapshot, a write's undo) takes a
//! reference, never a copy; changing one makes a new buffer, except an
//! expiry changed on an entry nobody else holds, which is changed in place.

use super::content_types;
use triomphe::{Arc, ThinArc};

/// Set in the type word when the type's bytes follow the key; the low bits
/// are then their length. Clear, the word is the shared type's index.
const INLINE_TYPE: u32 = 1 << 31;

/// What an entry knows besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    version: u64,
    /// Milliseconds since the Unix epoch; 0 for none (see [`encode_expiry`]).
    expires_at: u64,
    key_len: u32,
    /// A shared type's index, or [`INLINE_TYPE`] and the length of the
    /// type's bytes after the key.
    type_word: u32,
}

/// One stored value with its key, content type, version and expiry.
#[derive(Clone)]
pub struct Entry(ThinArc<Header, u8>);

impl Entry {
    /// An entry of `key`. The caller has checked the lengths against the
    /// store's limits, which keep each far below 2 GiB.
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
        let header = Header {
            version,
            expires_at: encode_expiry(expires_at),
            key_len: length(key.len()),
            type_word,
        };
        // Zeroed, then copied into: a byte-at-a-time iterator would be far
        // slower for a value of megabytes than two passes of memset and
        // memcpy.
        let len = key.len() + inline.len() + value.len();
        let mut bytes = ThinArc::from_header_and_iter(header, std::iter::repeat_n(0, len));
        bytes.with_arc_mut(|arc| {
            let body = Arc::get_mut(arc)
                .expect("a new buffer has one owner")
                .slice_mut();
            let (key_bytes, rest) = body.split_at_mut(key.len());
            key_bytes.copy_from_slice(key.as_bytes());
            let (type_bytes, value_bytes) = rest.split_at_mut(inline.len());
            type_bytes.copy_from_slice(inline);
            value_bytes.copy_from_slice(value);
        });
        Self(bytes)
    }

    /// The value as bytes to send, sharing this entry's buffer (the entry
    /// stays alive until they are dropped) instead of copying it.
    pub fn into_value(self) -> bytes::Bytes {
        bytes::Bytes::from_owner(ValueOf(self))
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
        &self.0.slice[..self.header().key_len as usize]
    }

    pub fn content_type(&self) -> &str {
        let header = self.header();
        if header.type_word & INLINE_TYPE == 0 {
            return content_types::name(header.type_word);
        }
        let start = header.key_len as usize;
        let end = start + (header.type_word & !INLINE_TYPE) as usize;
        std::str::from_utf8(&self.0.slice[start..end]).expect("a content type is made from a str")
    }

    pub fn value(&self) -> &[u8] {
        let header = self.header();
        let inline = if header.type_word & INLINE_TYPE == 0 {
            0
        } else {
            (header.type_word & !INLINE_TYPE) as usize
        };
        &self.0.slice[header.key_len as usize + inline..]
    }

    pub fn version(&self) -> u64 {
        self.header().version
    }

    /// When the entry expires, in milliseconds since the Unix epoch: from
    /// then on it is gone for every reader, and the sweep reclaims it.
    pub fn expires_at(&self) -> Option<u64> {
        match self.header().expires_at {
            0 => None,
            at => Some(at),
        }
    }

    /// Sets or clears the expiry, in place if nobody else holds the entry;
    /// hands back the one it had.
    pub fn set_expires_at(&mut self, at: Option<u64>) -> Option<u64> {
        let old = self.expires_at();
        let changed = self.0.with_arc_mut(|arc| {
            Arc::get_mut(arc)
                .map(|unique| unique.header_mut().expires_at = encode_expiry(at))
                .is_some()
        });
        if !changed {
            *self = Self::new(
                self.key(),
                self.content_type(),
                self.value(),
                self.version(),
                at,
            );
        }
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

    fn header(&self) -> &Header {
        &self.0.header.header
    }
}

/// An entry seen as its value, for [`Entry::into_value`].
struct ValueOf(Entry);

impl AsRef<[u8]> for ValueOf {
    fn as_ref(&self) -> &[u8] {
        self.0.value()
    }
}

/// The map's slot is this pointer and nothing else.
const _: () = assert!(std::mem::size_of::<Entry>() == 8);

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
    fn a_value_sent_shares_the_entry_and_outlives_it_in_the_map() {
        let entry = Entry::new("k", "a/b", b"\0value", 1, None);
        let at = entry.value().as_ptr();
        let value = entry.clone().into_value();
        drop(entry);
        assert_eq!(&value[..], b"\0value");
        assert_eq!(value.as_ptr(), at, "the bytes are the entry's, not a copy");
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
