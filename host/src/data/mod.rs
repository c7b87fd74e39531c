//! `--data-dir DIR`: what survives a restart or a crash.
//!
//! The directory holds a snapshot and the write-ahead log after it:
//!
//! ```text
//! DIR/LOCK                    held by the kvs that uses DIR
//! DIR/snapshot-0000000007.kvs the store as of some moment after segment 7 began
//! DIR/log-0000000007.wal      every write since segment 7 began, in order
//! DIR/log-0000000008.wal      ...
//! ```
//!
//! Start-up loads the newest snapshot and replays the segments from its
//! number on ([`recovery`]). Compaction ([`DataDir::compact`]) starts a new
//! segment, writes a snapshot numbered for it while writes go on, then
//! deletes the older snapshots and segments: at every step a crash leaves a
//! snapshot and the segments that complete it.
//!
//! - [`record`]: one write, framed with its length and checksum.
//! - [`log`]: appending, group commit and the fsync modes.
//! - [`recovery`]: loading a directory back, cutting off a torn tail.
//! - [`check`]: `kvs check-data DIR [--fix]`.

pub mod check;
pub mod log;
pub mod record;
pub mod recovery;

use crate::ops::snapshot;
use crate::store::Store;
use anyhow::Context as _;
use log::{Fsync, Log};
use recovery::parse_number;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const SEGMENT_PREFIX: &str = "log-";
const SEGMENT_SUFFIX: &str = ".wal";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".kvs";

/// The files of a data directory, by name.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn segment(&self, number: u64) -> PathBuf {
        self.root
            .join(format!("{SEGMENT_PREFIX}{number:010}{SEGMENT_SUFFIX}"))
    }

    pub fn snapshot(&self, number: u64) -> PathBuf {
        self.root
            .join(format!("{SNAPSHOT_PREFIX}{number:010}{SNAPSHOT_SUFFIX}"))
    }

    /// Every segment, in order.
    pub fn segments(&self) -> anyhow::Result<Vec<(u64, PathBuf)>> {
        self.numbered(SEGMENT_PREFIX, SEGMENT_SUFFIX)
    }

    /// Every snapshot, in order.
    pub fn snapshots(&self) -> anyhow::Result<Vec<(u64, PathBuf)>> {
        self.numbered(SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX)
    }

    pub fn newest_snapshot(&self) -> anyhow::Result<Option<(u64, PathBuf)>> {
        Ok(self.snapshots()?.pop())
    }

    /// The segments the newest snapshot does not hold: its number on.
    pub fn segments_to_replay(&self) -> anyhow::Result<Vec<(u64, PathBuf)>> {
        let from = self.newest_snapshot()?.map_or(0, |(number, _)| number);
        Ok(self
            .segments()?
            .into_iter()
            .filter(|(number, _)| *number >= from)
            .collect())
    }

    /// Removes what a crash mid-snapshot leaves: `*.tmp` files, never
    /// renamed into place and never read.
    fn remove_temporary_files(&self) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(&self.root)? {
            let path = entry?.path();
            if path.extension().is_some_and(|extension| extension == "tmp") {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        Ok(())
    }

    fn numbered(&self, prefix: &str, suffix: &str) -> anyhow::Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&self.root)
            .with_context(|| format!("reading the data directory {}", self.root.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if let Some(number) = name
                .to_str()
                .and_then(|name| parse_number(name, prefix, suffix))
            {
                found.push((number, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }
}

/// A data directory in use: locked, recovered, and its log open.
#[derive(Debug)]
pub struct DataDir {
    layout: Layout,
    /// Held open for the lock on it.
    _lock: File,
    log: Log,
    /// The segment the log writes now.
    segment: AtomicU64,
    /// One compaction at a time.
    compacting: tokio::sync::Mutex<()>,
    /// Log bytes written when the last compaction began.
    compacted_at: AtomicU64,
    /// Bytes of the newest snapshot.
    snapshot_bytes: AtomicU64,
    compactions: AtomicU64,
}

/// The lock file's name.
const LOCK: &str = "LOCK";

impl DataDir {
    /// Creates `root` if needed and locks it (a second kvs on it is refused),
    /// recovers its snapshot and log into `store`, and attaches a log on a
    /// new segment to the store.
    pub fn open(
        root: &Path,
        store: &Store,
        mode: Fsync,
    ) -> anyhow::Result<(Self, recovery::Recovered)> {
        anyhow::ensure!(
            !root.exists() || root.is_dir(),
            "--data-dir {} is a file, not a directory; name a directory (it is created if \
             missing)",
            root.display()
        );
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating the data directory {}", root.display()))?;
        let lock = lock(root)?;
        let layout = Layout::new(root);
        layout.remove_temporary_files()?;
        let recovered = recovery::recover(&layout, store)?;
        let snapshot_bytes = layout
            .newest_snapshot()?
            .and_then(|(_, path)| std::fs::metadata(path).ok())
            .map_or(0, |metadata| metadata.len());
        let segment = recovered.last_segment + 1;
        let log = Log::open(layout.segment(segment), mode)?;
        store.attach_log(log.clone());
        Ok((
            Self {
                layout,
                _lock: lock,
                log,
                segment: AtomicU64::new(segment),
                compacting: tokio::sync::Mutex::new(()),
                compacted_at: AtomicU64::new(0),
                snapshot_bytes: AtomicU64::new(snapshot_bytes),
                compactions: AtomicU64::new(0),
            },
            recovered,
        ))
    }

    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Log bytes written since the last compaction.
    pub fn log_bytes_since_compaction(&self) -> u64 {
        let written = self.log.stats().bytes_written.load(Ordering::Relaxed);
        written.saturating_sub(self.compacted_at.load(Ordering::Relaxed))
    }

    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes.load(Ordering::Relaxed)
    }

    pub fn compactions(&self) -> u64 {
        self.compactions.load(Ordering::Relaxed)
    }

    /// Starts a new segment, writes a snapshot numbered for it (while writes
    /// go on into the new segment), then deletes the older snapshots and
    /// segments. Replaying the new segment over the snapshot gives the
    /// store, whenever the snapshot's copy was taken after the switch.
    pub async fn compact(&self, store: &Store) -> anyhow::Result<snapshot::Summary> {
        let _one = self.compacting.lock().await;
        let written = self.log.stats().bytes_written.load(Ordering::Relaxed);
        let next = self.segment.load(Ordering::Relaxed) + 1;
        self.log.rotate(self.layout.segment(next)).await;
        self.segment.store(next, Ordering::Relaxed);
        self.compacted_at.store(written, Ordering::Relaxed);
        let path = self.layout.snapshot(next);
        let (copy, target) = (store.clone(), path.clone());
        let summary = tokio::task::spawn_blocking(move || snapshot::save(&copy, &target))
            .await
            .map_err(|join| anyhow::anyhow!("the snapshot task panicked: {join}"))??;
        for (number, old) in self.layout.snapshots()? {
            if number < next {
                std::fs::remove_file(&old)
                    .with_context(|| format!("removing the old snapshot {}", old.display()))?;
            }
        }
        for (number, old) in self.layout.segments()? {
            if number < next {
                std::fs::remove_file(&old)
                    .with_context(|| format!("removing the old log segment {}", old.display()))?;
            }
        }
        self.snapshot_bytes.store(summary.bytes, Ordering::Relaxed);
        self.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(summary)
    }

    /// The `data` section of the admin `/status`.
    pub fn status(&self) -> serde_json::Value {
        let stats = self.log.stats();
        let syncs = stats.syncs.load(Ordering::Relaxed);
        let last_sync = stats.last_sync_unix_ms.load(Ordering::Relaxed);
        serde_json::json!({
            "path": self.root().display().to_string(),
            "fsync": format!("{:?}", self.log.mode()).to_lowercase(),
            "segment": self.segment.load(Ordering::Relaxed),
            "log_bytes_written": stats.bytes_written.load(Ordering::Relaxed),
            "log_records": stats.records.load(Ordering::Relaxed),
            "log_bytes_since_compaction": self.log_bytes_since_compaction(),
            "snapshot_bytes": self.snapshot_bytes(),
            "compactions": self.compactions(),
            "syncs": syncs,
            "sync_micros_mean": stats.sync_micros.load(Ordering::Relaxed).checked_div(syncs),
            "sync_micros_p50": stats.sync_micros_quantile(0.5),
            "sync_micros_p99": stats.sync_micros_quantile(0.99),
            "sync_micros_max": stats.sync_micros_max.load(Ordering::Relaxed),
            "last_sync_unix_ms": (last_sync > 0).then_some(last_sync),
            "log_failures": stats.failures.load(Ordering::Relaxed),
        })
    }

    /// At shutdown, once the front ends are drained: one last compaction
    /// (so the next start loads one snapshot), then the log is closed.
    pub async fn close(&self, store: &Store) -> anyhow::Result<()> {
        let compacted = self.compact(store).await;
        self.log.close().await;
        compacted.map(|_| ())
    }
}

/// Locks `root/LOCK`, or says which directory is in use.
pub(crate) fn lock(root: &Path) -> anyhow::Result<File> {
    let path = root.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another kvs (it holds {}); stop that one, or \
             give this one another --data-dir",
            root.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("locking {}", path.display()))
        }
    }
}
