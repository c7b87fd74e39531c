//! An entry, why a store refuses an operation, and the limits every backend
//! checks before it writes. Mirrors the `types` interface of `wit/kvs.wit`.

/// One stored value with its content type and version. The value is its
/// bytes, or (`V`) a handle to them where the host holds them for a
/// response to send (`held-value` in `wit/kvs.wit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<V = Vec<u8>> {
    pub content_type: String,
    pub value: V,
    pub version: u64,
    /// When the entry expires, in milliseconds since the Unix epoch.
    pub expires_at: Option<u64>,
}

/// How a write treats the expiry of the entry it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The new value expires when the old one would have (Redis's
    /// `KEEPTTL`; counters and `APPEND`).
    Keep,
    /// The new value never expires (a plain `SET`, a REST `PUT`).
    Clear,
    /// The new value expires at this instant (milliseconds since the Unix
    /// epoch).
    At(u64),
}

/// When `EXPIRE` and its kin may change an expiry (Redis's options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    #[default]
    Always,
    /// Only if the key has no expiry.
    IfNone,
    /// Only if the key has one.
    IfSome,
    /// Only if the new expiry is later (no expiry counts as never).
    IfLater,
    /// Only if the new expiry is earlier (no expiry counts as never).
    IfEarlier,
}

impl ExpireCondition {
    /// Whether an expiry may go from `existing` to `new` (`None`: none,
    /// which counts as never for the comparisons).
    pub fn allows(self, existing: Option<u64>, new: Option<u64>) -> bool {
        match (self, existing, new) {
            (Self::Always, _, _) => true,
            (Self::IfNone, existing, _) => existing.is_none(),
            (Self::IfSome, existing, _) => existing.is_some(),
            (Self::IfLater, Some(existing), Some(new)) => new > existing,
            (Self::IfLater, _, _) => false,
            (Self::IfEarlier, None, Some(_)) => true,
            (Self::IfEarlier, Some(existing), Some(new)) => new < existing,
            (Self::IfEarlier, _, None) => false,
        }
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
    /// Writes cannot be made durable now (the write-ahead log cannot be
    /// written), so the write was not made; reads still work.
    NotDurable(String),
    /// `add` found a value that is not a decimal 64-bit integer
    /// ([`parse_integer`]).
    NotAnInteger,
    /// `add` would take the value past the range of a 64-bit integer.
    Overflow,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no entry under this key"),
            Self::AlreadyExists => f.write_str("an entry exists under this key"),
            Self::VersionMismatch { current } => {
                write!(f, "version mismatch: the current version is {current}")
            }
            Self::TooLarge { limit } => write!(f, "too large: the limit is {limit} bytes"),
            Self::StoreFull => f.write_str("the store's memory limit is reached"),
            Self::InvalidKey(reason) => write!(f, "invalid key: {reason}"),
            Self::Unavailable(reason) => write!(f, "the storage is unavailable: {reason}"),
            Self::NotDurable(reason) => write!(f, "writes cannot be made durable: {reason}"),
            Self::NotAnInteger => f.write_str("the value is not a decimal 64-bit integer"),
            Self::Overflow => f.write_str("the sum is out of the range of a 64-bit integer"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The value as a counter (what `add` and Redis's `INCR` take): a decimal
/// 64-bit integer written the one way Redis writes it, so a counter reads
/// the same in every store and client. An optional `-`, then digits with no
/// leading zero; no `+`, no spaces, no `-0`; `None` for anything else.
pub fn parse_integer(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
        && !(bytes[0] == b'-' && digits == b"0");
    if !canonical {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// `value + delta` for `add`: the value as [`parse_integer`] reads it.
pub fn add_to(value: &[u8], delta: i64) -> Result<i64, StoreError> {
    parse_integer(value)
        .ok_or(StoreError::NotAnInteger)?
        .checked_add(delta)
        .ok_or(StoreError::Overflow)
}

/// The longest time to live a client may give (`?ttl=`, `ttl=`): 100
/// years, far past any real use, and far from overflowing an instant.
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// A time to live as REST's `?ttl=` and the line protocol's `ttl=` take it:
/// whole seconds, at least 1, at most [`MAX_TTL_SECONDS`]; `None` for
/// anything else.
pub fn parse_ttl_seconds(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>()
        .ok()
        .filter(|seconds| (1..=MAX_TTL_SECONDS).contains(seconds))
}

/// The whole seconds an entry expiring at `at` has left at `now` (both in
/// milliseconds), rounded up, so a live entry never shows 0.
pub fn seconds_left(at: u64, now: u64) -> u64 {
    at.saturating_sub(now).div_ceil(1000)
}

/// Keys read together (`MGET`, a run of pipelined `GET`s or `cmd=get`
/// lines), packed as they cross the component boundary: their text back to
/// back and each one's length in bytes. Two buffers whatever the count,
/// where a list of strings would cost the host an allocation per key; and
/// as one WIT `string`, the text is checked as UTF-8 once, natively, by the
/// host as it lifts it, not once per key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keys {
    pub text: String,
    pub lengths: Vec<u32>,
}

impl Keys {
    /// Appends a key. Keys are bounded by the store's limits, far below
    /// 4 GiB.
    pub fn push(&mut self, key: &str) {
        self.text.push_str(key);
        self.lengths
            .push(u32::try_from(key.len()).expect("a key under 4 GiB"));
    }

    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Empties the packing and keeps its buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.lengths.clear();
    }

    /// Each key in order. A length past the text or one that ends inside a
    /// character (a malformed packing) ends the walk early rather than
    /// panic: the caller sees fewer keys than [`Keys::len`].
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut rest = self.text.as_str();
        self.lengths.iter().map_while(move |&length| {
            let (key, after) = rest.split_at_checked(length as usize)?;
            rest = after;
            Some(key)
        })
    }

    /// Each key in order, or the error a store answers a malformed packing
    /// with, before anything is read.
    pub fn unpacked(&self) -> Result<Vec<&str>, StoreError> {
        let keys: Vec<&str> = self.iter().collect();
        let covered: usize = keys.iter().map(|key| key.len()).sum();
        if keys.len() == self.len() && covered == self.text.len() {
            Ok(keys)
        } else {
            Err(StoreError::InvalidKey(
                "the keys are not packed as their lengths say".into(),
            ))
        }
    }
}

impl<K: AsRef<str>> FromIterator<K> for Keys {
    fn from_iter<I: IntoIterator<Item = K>>(keys: I) -> Self {
        let mut packed = Self::default();
        for key in keys {
            packed.push(key.as_ref());
        }
        packed
    }
}

/// Keys with the values to write to them (`MSET`, a run of pipelined
/// `SET`s), packed as they cross the component boundary: the keys as
/// [`Keys`], the values back to back with each one's length. Four buffers
/// whatever the count, where a list of key and value pairs costs the guest
/// two allocations per pair to build and the host two more to lift; on
/// the host the values stay in one buffer the entries are written from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pairs {
    pub keys: Keys,
    pub values: Vec<u8>,
    pub value_lengths: Vec<u32>,
}

impl Pairs {
    /// Appends a key and its value. Both are bounded by the store's
    /// limits, far below 4 GiB.
    pub fn push(&mut self, key: &str, value: &[u8]) {
        self.keys.push(key);
        self.values.extend_from_slice(value);
        self.value_lengths
            .push(u32::try_from(value.len()).expect("a value under 4 GiB"));
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Each key with its value, in order, or the error a store answers a
    /// malformed packing with (lengths that do not cover their buffers, or
    /// a count of keys that is not the count of values), before anything
    /// is written.
    pub fn unpacked(&self) -> Result<Vec<(&str, &[u8])>, StoreError> {
        let keys = self.keys.unpacked()?;
        let mut rest = self.values.as_slice();
        let values: Vec<&[u8]> = self
            .value_lengths
            .iter()
            .map_while(|&length| {
                let (value, after) = rest.split_at_checked(length as usize)?;
                rest = after;
                Some(value)
            })
            .collect();
        if values.len() == keys.len() && values.len() == self.value_lengths.len() && rest.is_empty()
        {
            Ok(keys.into_iter().zip(values).collect())
        } else {
            Err(StoreError::InvalidKey(
                "the values are not packed as their lengths say, or not one per key".into(),
            ))
        }
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> FromIterator<(K, V)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut packed = Self::default();
        for (key, value) in pairs {
            packed.push(key.as_ref(), value.as_ref());
        }
        packed
    }
}

/// In a value's length, or an entry's first head word: the key has one.
const PRESENT: u64 = 1 << 63;

/// Values read together (`MGET`, a run of pipelined `GET`s), packed as
/// they cross the component boundary: their bytes back to back and per key
/// one number, its value's length with bit 63 set, or 0 for a key with
/// no entry. Two buffers whatever the count, where a list of values would
/// cost the guest an allocation (and the host a call into it) per value;
/// and both cross as one copy each, where a list of options would be
/// written and read element by element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Values {
    pub bytes: Vec<u8>,
    pub lengths: Vec<u64>,
}

impl Values {
    pub fn with_capacity(count: usize) -> Self {
        Self {
            bytes: Vec::new(),
            lengths: Vec::with_capacity(count),
        }
    }

    /// Appends the next key's value, or its absence. Values are bounded by
    /// the store's limits, far below 4 GiB.
    pub fn push(&mut self, value: Option<&[u8]>) {
        self.lengths.push(value.map_or(0, |value| {
            self.bytes.extend_from_slice(value);
            PRESENT | u64::from(u32::try_from(value.len()).expect("a value under 4 GiB"))
        }));
    }

    /// Each key's value in order, `None` where it has none. A length past
    /// the bytes (a malformed packing) ends the walk early rather than
    /// panic: the caller sees fewer values than keys.
    pub fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> {
        let mut rest = self.bytes.as_slice();
        self.lengths.iter().map_while(move |&length| {
            if length & PRESENT == 0 {
                return Some(None);
            }
            let (value, after) = rest.split_at_checked(length as u32 as usize)?;
            rest = after;
            Some(Some(value))
        })
    }
}

/// Entries read together (a run of pipelined `cmd=get` lines), packed as
/// [`Values`] are: the present entries' content types back to back in
/// `types`, their values back to back in `values`, and three numbers per
/// key in `heads` (see [`Entries::push`]). Three buffers whatever the
/// count, where a list of entries would cost the guest two allocations (and
/// the host two calls into it) per entry. All three cross the component
/// boundary as one copy each: the types as one WIT `string`, checked as
/// UTF-8 once, and the heads as numbers, where records would be written and
/// read field by field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entries {
    pub types: String,
    pub values: Vec<u8>,
    pub heads: Vec<u64>,
}

/// In an entry's first head word: the entry expires.
const EXPIRES: u64 = 1 << 62;
/// Past this length a type would reach the flags of the first head word.
const MAX_PACKED_TYPE: usize = 1 << 30;

/// One entry of [`Entries`], borrowed from the packing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub content_type: &'a str,
    pub value: &'a [u8],
    pub version: u64,
    pub expires_at: Option<u64>,
}

impl From<EntryRef<'_>> for Entry {
    fn from(entry: EntryRef<'_>) -> Self {
        Self {
            content_type: entry.content_type.to_string(),
            value: entry.value.to_vec(),
            version: entry.version,
            expires_at: entry.expires_at,
        }
    }
}

impl<'a> From<&'a Entry> for EntryRef<'a> {
    fn from(entry: &'a Entry) -> Self {
        Self {
            content_type: &entry.content_type,
            value: &entry.value,
            version: entry.version,
            expires_at: entry.expires_at,
        }
    }
}

impl Entries {
    /// Room for `count` keys, and for their types and values if they are
    /// of a common size, so a run of small ones is packed without growing
    /// its buffers step by step.
    pub fn with_capacity(count: usize) -> Self {
        Self {
            types: String::with_capacity(count * 32),
            values: Vec::with_capacity(count * 128),
            heads: Vec::with_capacity(count * 3),
        }
    }

    /// Appends the next key's entry, or its absence, as three head
    /// numbers: a word with bit 63 set where there is an entry, bit 62
    /// where it expires, its type's length in bits 32 to 61 and
    /// its value's in the low 32; its version; its expiry (0 where none).
    /// Types and values are bounded by the store's limits, far below both.
    pub fn push(&mut self, entry: Option<EntryRef<'_>>) {
        let Some(entry) = entry else {
            self.heads.extend([0, 0, 0]);
            return;
        };
        self.types.push_str(entry.content_type);
        self.values.extend_from_slice(entry.value);
        assert!(
            entry.content_type.len() < MAX_PACKED_TYPE,
            "a content type under 1 GiB"
        );
        let type_length = entry.content_type.len() as u64;
        let value_length =
            u64::from(u32::try_from(entry.value.len()).expect("a value under 4 GiB"));
        let expires = if entry.expires_at.is_some() {
            EXPIRES
        } else {
            0
        };
        self.heads.extend([
            PRESENT | expires | type_length << 32 | value_length,
            entry.version,
            entry.expires_at.unwrap_or(0),
        ]);
    }

    /// How many keys the packing answers.
    pub fn len(&self) -> usize {
        self.heads.len() / 3
    }

    pub fn is_empty(&self) -> bool {
        self.heads.len() < 3
    }

    /// Each key's entry in order, `None` where it has none. A length past
    /// its buffer, or a type length that ends inside a character (a
    /// malformed packing), ends the walk early rather than panic: the
    /// caller sees fewer entries than keys.
    pub fn iter(&self) -> impl Iterator<Item = Option<EntryRef<'_>>> {
        let mut types = self.types.as_str();
        let mut values = self.values.as_slice();
        self.heads.chunks_exact(3).map_while(move |head| {
            let &[word, version, expires_at] = head else {
                return None;
            };
            if word & PRESENT == 0 {
                return Some(None);
            }
            let type_length = (word >> 32) as usize & (MAX_PACKED_TYPE - 1);
            let value_length = word as u32 as usize;
            let (content_type, types_after) = types.split_at_checked(type_length)?;
            let (value, values_after) = values.split_at_checked(value_length)?;
            types = types_after;
            values = values_after;
            Some(Some(EntryRef {
                content_type,
                value,
                version,
                expires_at: (word & EXPIRES != 0).then_some(expires_at),
            }))
        })
    }
}

/// How much a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    pub keys: u64,
    /// Keys with an expiry.
    pub expiring: u64,
    /// The bytes the entries are charged for (keys, types and values).
    pub bytes: u64,
    /// Entries removed because they expired, since the store started.
    pub expired: u64,
}

/// The limits a store enforces and tells its callers, so they can refuse
/// oversized input early.
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
        if key.len() as u64 > u64::from(self.max_key_bytes) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_as_redis_writes_them() {
        for (text, value) in [
            ("0", 0),
            ("-1", -1),
            ("42", 42),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(parse_integer(text.as_bytes()), Some(value), "{text}");
        }
        for text in [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "01",
            "-0",
            "1.0",
            "1e3",
            "9223372036854775808",
            "x",
        ] {
            assert_eq!(parse_integer(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(add_to(b"41", 1), Ok(42));
        assert_eq!(add_to(b"abc", 1), Err(StoreError::NotAnInteger));
        assert_eq!(add_to(b"9223372036854775807", 1), Err(StoreError::Overflow));
        assert_eq!(
            add_to(b"-9223372036854775808", -1),
            Err(StoreError::Overflow)
        );
    }

    #[test]
    fn writes_are_checked_key_first() {
        let limits = Limits {
            max_key_bytes: 3,
            max_value_bytes: 5,
            max_page_size: 10,
        };
        assert_eq!(
            limits.check_write("", 0),
            Err(StoreError::InvalidKey("the key is empty".into()))
        );
        assert_eq!(
            limits.check_write("long", 9),
            Err(StoreError::TooLarge { limit: 3 })
        );
        assert_eq!(
            limits.check_write("k", 6),
            Err(StoreError::TooLarge { limit: 5 })
        );
        assert_eq!(limits.check_write("abc", 5), Ok(()));
    }

    #[test]
    fn a_version_precondition_names_the_current_version() {
        assert_eq!(check_version(7, None), Ok(()));
        assert_eq!(check_version(7, Some(7)), Ok(()));
        assert_eq!(
            check_version(7, Some(6)),
            Err(StoreError::VersionMismatch { current: 7 })
        );
    }

    #[test]
    fn packed_pairs_come_back_in_order_and_a_malformed_packing_is_refused() {
        let pairs: Pairs = [("a", &b"1"[..]), ("", b""), ("ключ", b"\xff\x00v")]
            .into_iter()
            .collect();
        assert_eq!(pairs.len(), 3);
        assert_eq!(
            pairs.unpacked().unwrap(),
            [("a", &b"1"[..]), ("", b""), ("ключ", b"\xff\x00v")]
        );
        let refused = |pairs: Pairs| {
            assert!(
                matches!(pairs.unpacked(), Err(StoreError::InvalidKey(_))),
                "{pairs:?}"
            );
        };
        // A value length past the values.
        let mut long = pairs.clone();
        long.value_lengths[2] += 1;
        refused(long);
        // Values that no length covers.
        let mut uncovered = pairs.clone();
        uncovered.values.push(b'x');
        refused(uncovered);
        // One value fewer than keys, and one more.
        let mut fewer = pairs.clone();
        fewer.value_lengths.pop();
        fewer.values.truncate(1);
        refused(fewer);
        let mut more = pairs.clone();
        more.value_lengths.push(0);
        refused(more);
        // Malformed keys.
        let mut keys = pairs;
        keys.keys.lengths[0] = 2;
        refused(keys);
    }

    #[test]
    fn packed_keys_come_back_in_order_and_a_malformed_packing_is_refused() {
        let keys: Keys = ["one", "", "t|w\no", "ключ"].into_iter().collect();
        assert_eq!(keys.len(), 4);
        assert_eq!(keys.lengths, [3, 0, 5, 8]);
        assert_eq!(
            keys.iter().collect::<Vec<_>>(),
            ["one", "", "t|w\no", "ключ"]
        );
        assert_eq!(keys.unpacked().unwrap(), ["one", "", "t|w\no", "ключ"]);
        let malformed = [
            // A length past the text.
            Keys {
                text: "ab".into(),
                lengths: vec![1, 5],
            },
            // Text that no length covers.
            Keys {
                text: "abc".into(),
                lengths: vec![1, 1],
            },
            // A length that ends inside a character.
            Keys {
                text: "ключ".into(),
                lengths: vec![1, 7],
            },
        ];
        for keys in malformed {
            assert!(
                matches!(keys.unpacked(), Err(StoreError::InvalidKey(_))),
                "{keys:?}"
            );
        }
        let mut reused = keys;
        reused.clear();
        assert!(reused.is_empty() && reused.text.is_empty());
    }

    #[test]
    fn packed_values_come_back_in_order_with_the_missing_ones() {
        let mut values = Values::with_capacity(4);
        values.push(Some(b"one"));
        values.push(None);
        values.push(Some(b""));
        values.push(Some(b"\r\n\0four"));
        assert_eq!(values.lengths.len(), 4);
        assert_eq!(values.bytes, b"one\r\n\0four");
        let read: Vec<Option<&[u8]>> = values.iter().collect();
        assert_eq!(
            read,
            [
                Some(&b"one"[..]),
                None,
                Some(&b""[..]),
                Some(&b"\r\n\0four"[..])
            ]
        );
        // A length past the bytes ends the walk; it never reads past them.
        let broken = Values {
            bytes: b"ab".to_vec(),
            lengths: vec![PRESENT | 1, PRESENT | 5, 0],
        };
        assert_eq!(broken.iter().collect::<Vec<_>>(), [Some(&b"a"[..])]);
    }

    #[test]
    fn packed_entries_come_back_in_order_with_the_missing_ones() {
        let first = Entry {
            content_type: "text/plain".into(),
            value: b"one".to_vec(),
            version: 7,
            expires_at: Some(1_000),
        };
        let second = Entry {
            content_type: String::new(),
            value: b"\r\n\0two".to_vec(),
            version: u64::MAX,
            expires_at: None,
        };
        let mut entries = Entries::with_capacity(3);
        entries.push(Some(EntryRef::from(&first)));
        entries.push(None);
        entries.push(Some(EntryRef::from(&second)));
        let read: Vec<Option<EntryRef<'_>>> = entries.iter().collect();
        assert_eq!(
            read,
            [
                Some(EntryRef::from(&first)),
                None,
                Some(EntryRef::from(&second))
            ]
        );
        // A length past its buffer ends the walk; so does a type length
        // that ends inside a character, and a head cut short. None reads
        // past the buffers.
        let mut broken = entries.clone();
        broken.heads[6] += 1;
        assert_eq!(broken.iter().count(), 2);
        let mut broken = entries.clone();
        broken.heads[6] += 1 << 32;
        assert_eq!(broken.iter().count(), 2);
        let mut broken = entries.clone();
        broken.heads.pop();
        assert_eq!(broken.iter().count(), 2);
        let mut broken = entries.clone();
        broken.types = "é".into();
        broken.heads[0] = PRESENT | 1 << 32 | 3;
        assert_eq!(broken.iter().count(), 0);
    }
}
