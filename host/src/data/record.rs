//! One write as the log keeps it, and its framing on disk.
//!
//! ```text
//! record  = u32 payload length, u32 CRC-32 of the payload, payload
//! payload = 1, u64 version, u32 key length, key, u32 type length, type,
//!           u64 value length, value                      ; put
//!         | 2, u32 key length, key                       ; remove
//!         | 3, u64 expires at (ms since the Unix epoch), then as 1
//!                                                        ; put, expiring
//!         | 4, u32 count, count records (framed as above, none a batch)
//!                                                        ; a batch
//! ```
//! Integers are little-endian. A record states what a key holds after the
//! write (a put), or that it holds nothing (a remove), so replaying the log
//! in order over a snapshot taken at any moment after the log began
//! rebuilds exactly the store that wrote it. A batch holds the records of
//! one write to several keys (a rename): one checksum covers them all, so a
//! crash leaves all of them in the log or none.

use crate::store::Entry;

/// The payload's first byte.
const PUT: u8 = 1;
const REMOVE: u8 = 2;
const PUT_EXPIRING: u8 = 3;
const BATCH: u8 = 4;
/// Bytes before a payload: its length and checksum.
pub const HEADER: usize = 8;
/// A length past this is not a record's: the largest value a store takes
/// is far below it, so a header claiming more is damage, not a record.
pub const MAX_PAYLOAD: u64 = 1 << 40;

/// A write to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The entry's key holds it from now on.
    Put(Entry),
    /// `key` holds nothing from now on.
    Remove { key: String },
    /// These records, applied in order, all or none (never a batch inside).
    Batch(Vec<Record>),
}

impl Record {
    /// Appends the framed record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        match self {
            Self::Put(entry) => {
                match entry.expires_at() {
                    None => out.push(PUT),
                    Some(at) => {
                        out.push(PUT_EXPIRING);
                        out.extend_from_slice(&at.to_le_bytes());
                    }
                }
                out.extend_from_slice(&entry.version().to_le_bytes());
                put_bytes32(out, entry.key().as_bytes());
                put_bytes32(out, entry.content_type().as_bytes());
                out.extend_from_slice(&(entry.value().len() as u64).to_le_bytes());
                out.extend_from_slice(entry.value());
            }
            Self::Remove { key } => {
                out.push(REMOVE);
                put_bytes32(out, key.as_bytes());
            }
            Self::Batch(records) => {
                out.push(BATCH);
                out.extend_from_slice(&(records.len() as u32).to_le_bytes());
                for record in records {
                    debug_assert!(!matches!(record, Self::Batch(_)), "a batch in a batch");
                    record.encode(out);
                }
            }
        }
        let payload = &out[start + HEADER..];
        let length = payload.len() as u32;
        let checksum = crc32fast::hash(payload);
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&checksum.to_le_bytes());
    }
}

fn put_bytes32(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// What is at an offset of a log segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole record that checks out, and the bytes it takes.
    Record(Record, usize),
    /// The bytes end before the record does: a write cut short.
    Truncated,
    /// The bytes are not a record: a bad length, a checksum that does not
    /// match, or a payload that does not parse.
    Corrupt(&'static str),
}

/// Reads the record at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Decoded {
    if bytes.len() < HEADER {
        return Decoded::Truncated;
    }
    let length = u64::from(u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")));
    let checksum = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if length == 0 || length > MAX_PAYLOAD {
        return Decoded::Corrupt("the record length is impossible");
    }
    let end = HEADER + length as usize;
    if bytes.len() < end {
        return Decoded::Truncated;
    }
    let payload = &bytes[HEADER..end];
    if crc32fast::hash(payload) != checksum {
        return Decoded::Corrupt("the record's checksum does not match");
    }
    match parse(payload) {
        Some(record) => Decoded::Record(record, end),
        None => Decoded::Corrupt("the record's checksum matches but it does not parse"),
    }
}

fn parse(payload: &[u8]) -> Option<Record> {
    let mut input = Input(payload);
    let record = match input.u8()? {
        kind @ (PUT | PUT_EXPIRING) => {
            let expires_at = if kind == PUT_EXPIRING {
                Some(input.u64()?)
            } else {
                None
            };
            let version = input.u64()?;
            let key = input.string32()?;
            let content_type = input.string32()?;
            let length = usize::try_from(input.u64()?).ok()?;
            let value = input.take(length)?;
            Record::Put(Entry::new(&key, &content_type, value, version, expires_at))
        }
        REMOVE => Record::Remove {
            key: input.string32()?,
        },
        BATCH => {
            let count = input.u32()?;
            let mut records = Vec::new();
            for _ in 0..count {
                match decode(input.0) {
                    Decoded::Record(Record::Batch(_), _) => return None,
                    Decoded::Record(record, used) => {
                        records.push(record);
                        input.take(used)?;
                    }
                    Decoded::Truncated | Decoded::Corrupt(_) => return None,
                }
            }
            Record::Batch(records)
        }
        _ => return None,
    };
    input.0.is_empty().then_some(record)
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, length: usize) -> Option<&'a [u8]> {
        if self.0.len() < length {
            return None;
        }
        let (taken, rest) = self.0.split_at(length);
        self.0 = rest;
        Some(taken)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn string32(&mut self) -> Option<String> {
        let length = self.u32()? as usize;
        String::from_utf8(self.take(length)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &[u8], version: u64) -> Record {
        Record::Put(Entry::new(
            key,
            "text/plain",
            value,
            version,
            version.is_multiple_of(2).then_some(1_800_000_000_000),
        ))
    }

    #[test]
    fn records_round_trip() {
        for record in [
            put("k", b"v", 7),
            put("ünï", &[0, 255, 10], u64::MAX),
            put("empty", b"", 1),
            Record::Remove { key: "gone".into() },
            Record::Batch(vec![
                Record::Remove { key: "from".into() },
                put("to", b"v", 9),
            ]),
            Record::Batch(vec![]),
        ] {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            assert_eq!(decode(&bytes), Decoded::Record(record, bytes.len()));
        }
    }

    #[test]
    fn a_batch_inside_a_batch_is_corrupt() {
        let mut inner = Vec::new();
        Record::Batch(vec![put("a", b"1", 1)]).encode(&mut inner);
        let mut payload = vec![BATCH];
        payload.extend_from_slice(&1u32.to_le_bytes());
        payload.extend_from_slice(&inner);
        let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        assert!(matches!(decode(&bytes), Decoded::Corrupt(_)));
    }

    #[test]
    fn cut_records_are_truncated_and_flipped_bytes_corrupt() {
        let mut bytes = Vec::new();
        Record::Batch(vec![
            Record::Remove { key: "from".into() },
            put("key", b"value", 3),
        ])
        .encode(&mut bytes);
        for length in 0..bytes.len() {
            assert_eq!(decode(&bytes[..length]), Decoded::Truncated, "{length}");
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            assert!(
                !matches!(decode(&bad), Decoded::Record(..)),
                "a flipped byte at {at} went unnoticed"
            );
        }
    }
}
