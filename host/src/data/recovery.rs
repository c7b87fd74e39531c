//! Reading a data directory back: its newest snapshot, then every log segment
//! from it on, in order. A record cut short or garbage at the very end of the
//! last segment (what a crash mid-write leaves) is cut off with a warning;
//! damage anywhere else stops start-up, naming the file and the offset.
//!
//! A segment may end in zeros: the space the log reserves ahead of its
//! records (see [`super::log`]). No record starts with a zero length, so
//! zeros from a record's boundary to the end of the file are the end of
//! the segment, not damage, and are cut off.

use super::Layout;
use super::record::{self, Decoded, Record};
use crate::ops::snapshot;
use crate::store::Store;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The snapshot loaded, if there was one, and its entries.
    pub snapshot: Option<(PathBuf, u64)>,
    /// Segments read and records replayed from them.
    pub segments: usize,
    pub records: u64,
    /// A torn tail cut off: the file, the offset, and the bytes dropped.
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// The highest segment number present (0 when there is none).
    pub last_segment: u64,
}

/// Where a segment is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub path: PathBuf,
    pub offset: u64,
    pub reason: &'static str,
    /// Whether it is the torn tail of the last segment (only garbage or a
    /// cut record from here to the end), which recovery repairs itself.
    pub tail: bool,
}

/// One segment, read: its records in order, and the damage that ended it.
pub struct Scanned {
    pub records: Vec<Record>,
    /// The file's length.
    pub length: u64,
    /// Where its records end, when only reserved zeros follow them.
    pub zeros_from: Option<u64>,
    pub damage: Option<(u64, &'static str)>,
    /// The bytes from the damage on, kept to tell a torn tail from lost
    /// writes without reading the file again.
    rest: Vec<u8>,
}

impl Scanned {
    /// Whether a whole, valid record starts anywhere after the damage: if
    /// one does, the damage is not a torn tail but lost writes.
    pub fn records_after_damage(&self) -> bool {
        (1..self.rest.len())
            .any(|at| matches!(record::decode(&self.rest[at..]), Decoded::Record(..)))
    }
}

/// Reads every record of a segment up to its end or its first damage.
pub fn scan(path: &Path) -> anyhow::Result<Scanned> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading the log segment {}", path.display()))?;
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        if bytes[offset..].iter().all(|&b| b == 0) {
            return Ok(Scanned {
                records,
                length: bytes.len() as u64,
                zeros_from: Some(offset as u64),
                damage: None,
                rest: Vec::new(),
            });
        }
        match record::decode(&bytes[offset..]) {
            Decoded::Record(record, length) => {
                records.push(record);
                offset += length;
            }
            Decoded::Truncated => {
                return Ok(damaged(records, &bytes, offset, "a record is cut short"));
            }
            Decoded::Corrupt(reason) => return Ok(damaged(records, &bytes, offset, reason)),
        }
    }
    Ok(Scanned {
        records,
        length: bytes.len() as u64,
        zeros_from: None,
        damage: None,
        rest: Vec::new(),
    })
}

fn damaged(records: Vec<Record>, bytes: &[u8], offset: usize, reason: &'static str) -> Scanned {
    Scanned {
        records,
        length: bytes.len() as u64,
        zeros_from: None,
        damage: Some((offset as u64, reason)),
        rest: bytes[offset..].to_vec(),
    }
}

/// Finds the first damage in the directory's log, if any, and whether it is
/// a torn tail.
pub fn first_damage(layout: &Layout) -> anyhow::Result<Option<Damage>> {
    let segments = layout.segments_to_replay()?;
    for (index, (_, path)) in segments.iter().enumerate() {
        let scanned = scan(path)?;
        if let Some((offset, reason)) = scanned.damage {
            let last = index + 1 == segments.len();
            let tail = last && !scanned.records_after_damage();
            return Ok(Some(Damage {
                path: path.clone(),
                offset,
                reason,
                tail,
            }));
        }
    }
    Ok(None)
}

/// Loads the newest snapshot and replays the log after it into `store`
/// (empty, not yet serving). A torn tail is cut off; other damage is an
/// error that says how to proceed.
pub fn recover(layout: &Layout, store: &Store) -> anyhow::Result<Recovered> {
    let mut recovered = Recovered::default();
    if let Some((_, path)) = layout.newest_snapshot()? {
        let summary = snapshot::load(store, &path)?.map_or(0, |summary| summary.entries);
        recovered.snapshot = Some((path, summary));
    }
    let segments = layout.segments_to_replay()?;
    recovered.last_segment = layout.segments()?.last().map_or(0, |(number, _)| *number);
    for (index, (_, path)) in segments.iter().enumerate() {
        let mut scanned = scan(path)?;
        let lost_writes = scanned.records_after_damage();
        for record in std::mem::take(&mut scanned.records) {
            apply(store, record, path)?;
            recovered.records += 1;
        }
        recovered.segments += 1;
        if let Some(end) = scanned.zeros_from {
            cut(path, end)?;
        }
        let Some((offset, reason)) = scanned.damage else {
            continue;
        };
        let last = index + 1 == segments.len();
        if !last || lost_writes {
            anyhow::bail!(
                "the log segment {} is damaged at byte {offset} ({reason}), and records follow \
                 the damage, so writes were lost there; kvs will not start on it. \
                 `kvs check-data {}` shows what it finds; `kvs check-data {} --fix` keeps a \
                 backup and cuts the log at the damage (the writes after it are dropped), \
                 after which kvs starts with everything before it",
                path.display(),
                layout.root().display(),
                layout.root().display(),
            );
        }
        let dropped = scanned.length - offset;
        tracing::warn!(
            path = %path.display(),
            offset,
            dropped_bytes = dropped,
            reason,
            "the log ends in a torn write (a crash mid-write leaves one); cutting it off"
        );
        cut(path, offset)?;
        recovered.truncated = Some((path.clone(), offset, dropped));
    }
    Ok(recovered)
}

/// Cuts a segment's file to its first `length` bytes, durably.
fn cut(path: &Path, length: u64) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {} to cut it at byte {length}", path.display()))?;
    file.set_len(length)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cutting {} at byte {length}", path.display()))
}

fn apply(store: &Store, record: Record, path: &Path) -> anyhow::Result<()> {
    match record {
        Record::Put(entry) => store.restore(&entry).with_context(|| {
            format!(
                "replaying {}: the entry {:?} does not fit this store's limits; start with \
                 the limits it was written under",
                path.display(),
                entry.key()
            )
        }),
        Record::Remove { key } => {
            store.forget(&key);
            Ok(())
        }
        Record::Batch(records) => records
            .into_iter()
            .try_for_each(|record| apply(store, record, path)),
    }
}

/// The number in a file name such as `log-0000000042.wal`.
pub fn parse_number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}
