//! The write-ahead log: every write to the store, appended in the order the
//! store applied it, and on disk before the write is acknowledged.
//!
//! The store appends a [`Record`] while it still holds the key's lock, so the
//! log's order is the store's order for every key. Appending only queues the
//! record; one writer thread takes everything queued, writes it with one
//! `write`, and (with `--fsync always`) one `fdatasync`: every write that
//! arrived meanwhile shares that sync (group commit). A call waits with
//! [`Log::durable`] before its reply goes out, so an acknowledged write is in
//! the kernel (every mode: it survives a crash of kvs) and, with `always`,
//! on the disk (it survives a power loss).
//!
//! The log is a series of segment files; [`Log::rotate`] starts the next one
//! at a point in the order, so a snapshot taken after it plus the segments
//! from it on hold every write (see [`super::DataDir::compact`]).

use super::record::Record;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When the log is flushed to the disk (Redis's `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Fsync {
    /// Before every reply: a power loss takes nothing acknowledged. Writes
    /// that arrive together share one sync.
    Always,
    /// Once a second: a power loss or kernel crash takes at most the last
    /// second of writes; a crash of kvs alone takes nothing.
    #[default]
    Everysec,
    /// When the operating system decides (typically within 30 s): a crash of
    /// kvs alone takes nothing.
    No,
}

/// How long `everysec` lets written records wait for their sync.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How long the writer waits before retrying a write or sync that failed.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// The appending end of the log; cheap to clone.
#[derive(Clone)]
pub struct Log {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer when something is queued.
    wake: Condvar,
    /// How far records are durable in this mode, and why the log cannot be
    /// written, while it cannot.
    progress: tokio::sync::watch::Sender<Progress>,
    mode: Fsync,
    stats: Stats,
}

#[derive(Default)]
struct Queue {
    items: Vec<Item>,
    /// The sequence number of the last item queued.
    appended: u64,
    closing: bool,
    /// Whether the writer sleeps, waiting for work: only then does an append
    /// pay for waking it.
    writer_idle: bool,
}

enum Item {
    Record(Record),
    /// From here on, write to this new segment.
    Rotate(PathBuf),
}

/// What waiting writers watch.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// The sequence number up to which records are durable.
    durable: u64,
    /// Set while writing or syncing the log fails.
    failure: Option<Arc<str>>,
}

/// What the log has done, for `/status` and `/metrics`.
#[derive(Debug)]
pub struct Stats {
    /// Bytes written to the log since it opened.
    pub bytes_written: AtomicU64,
    /// Records written to the log since it opened.
    pub records: AtomicU64,
    /// Syncs done, and the microseconds they took in all.
    pub syncs: AtomicU64,
    pub sync_micros: AtomicU64,
    /// The slowest sync, in microseconds.
    pub sync_micros_max: AtomicU64,
    /// When the last sync finished, in milliseconds since the Unix epoch.
    pub last_sync_unix_ms: AtomicU64,
    /// Writes and syncs that failed (and were retried).
    pub failures: AtomicU64,
    /// How long syncs take, in microseconds.
    sync_latency: Mutex<hdrhistogram::Histogram<u64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            bytes_written: AtomicU64::default(),
            records: AtomicU64::default(),
            syncs: AtomicU64::default(),
            sync_micros: AtomicU64::default(),
            sync_micros_max: AtomicU64::default(),
            last_sync_unix_ms: AtomicU64::default(),
            failures: AtomicU64::default(),
            // Up to an hour, so no sync is ever clamped (a histogram that
            // grows on demand does not grow for saturating records).
            sync_latency: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("the bounds are valid"),
            ),
        }
    }
}

impl Stats {
    /// The `quantile` (0 to 1) of sync times so far, in microseconds.
    pub fn sync_micros_quantile(&self, quantile: f64) -> u64 {
        let latency = self.sync_latency.lock().unwrap_or_else(|e| e.into_inner());
        latency.value_at_quantile(quantile)
    }
}

impl Log {
    /// Starts a log writing to a new segment at `path` (which must not exist
    /// yet), with its writer thread. Sequence numbers count this process's
    /// appends from 1.
    pub fn open(path: PathBuf, mode: Fsync) -> anyhow::Result<Self> {
        let file = open_segment(&path)?;
        let (progress, _) = tokio::sync::watch::channel(Progress::default());
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            progress,
            mode,
            stats: Stats::default(),
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("kvs-log".into())
            .spawn(move || write_loop(&writer, file, path))?;
        Ok(Self { shared })
    }

    /// Queues `record`; it is durable once [`Log::durable`] says so for the
    /// sequence number returned. Called under the key's lock, so it only
    /// takes the queue's lock briefly.
    pub fn append(&self, record: Record) -> u64 {
        self.push(Item::Record(record))
    }

    /// The sequence number of the last record queued.
    pub fn appended(&self) -> u64 {
        self.queue().appended
    }

    /// Waits until every record up to `seq` is durable in this log's mode,
    /// or fails with the reason the log cannot be written now. The records
    /// stay queued either way: the writer keeps trying.
    pub async fn durable(&self, seq: u64) -> Result<(), Arc<str>> {
        if self.shared.progress.borrow().durable >= seq {
            return Ok(());
        }
        let mut progress = self.shared.progress.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let Ok(progress) = progress
            .wait_for(|p| p.durable >= seq || p.failure.is_some())
            .await
        else {
            return Ok(());
        };
        match &progress.failure {
            Some(reason) if progress.durable < seq => Err(Arc::clone(reason)),
            _ => Ok(()),
        }
    }

    /// Why the log cannot be written, while it cannot: new writes are
    /// refused meanwhile (see [`crate::store::Store`]).
    pub fn failure(&self) -> Option<Arc<str>> {
        self.shared.progress.borrow().failure.clone()
    }

    /// Starts a new segment at `path` after everything queued so far, and
    /// returns once everything before it is durable in the old one.
    pub async fn rotate(&self, path: PathBuf) {
        let seq = self.push(Item::Rotate(path));
        self.written(seq).await;
    }

    /// Waits until the writer is past `seq`, whether or not it failed
    /// meanwhile (it retries until it is).
    async fn written(&self, seq: u64) {
        let mut progress = self.shared.progress.subscribe();
        let _ = progress.wait_for(|p| p.durable >= seq).await;
    }

    /// Writes and syncs everything queued, whatever the mode, and stops the
    /// writer; appends after this are never written.
    pub async fn close(&self) {
        let seq = {
            let mut queue = self.queue();
            queue.closing = true;
            queue.appended
        };
        self.shared.wake.notify_one();
        self.written(seq).await;
    }

    pub fn mode(&self) -> Fsync {
        self.shared.mode
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    fn push(&self, item: Item) -> u64 {
        let (seq, idle) = {
            let mut queue = self.queue();
            queue.appended += 1;
            queue.items.push(item);
            (queue.appended, std::mem::take(&mut queue.writer_idle))
        };
        if idle {
            self.shared.wake.notify_one();
        }
        seq
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates a segment file, which must not exist yet, and syncs its
/// directory so the file itself survives a power loss.
pub fn open_segment(path: &Path) -> anyhow::Result<File> {
    use anyhow::Context as _;
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)
        .with_context(|| format!("creating the log segment {}", path.display()))?;
    if let Some(directory) = path.parent() {
        File::open(directory)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("syncing the directory {}", directory.display()))?;
    }
    Ok(file)
}

/// The writer thread: takes what is queued, writes and syncs it, and says
/// how far the log is durable, until the log closes.
fn write_loop(shared: &Shared, mut file: File, mut path: PathBuf) {
    let mut buffer = Vec::new();
    // The bytes of the current segment known to be good, so a write that
    // failed half-way is cut off before it is retried.
    let mut length = 0u64;
    let mut last_sync = Instant::now();
    let mut unsynced = false;
    loop {
        let (items, last, closing) = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            while queue.items.is_empty() && !queue.closing {
                let wait = if shared.mode == Fsync::Everysec && unsynced {
                    SYNC_EVERY.saturating_sub(last_sync.elapsed())
                } else {
                    Duration::from_secs(3600)
                };
                if wait.is_zero() {
                    break;
                }
                queue.writer_idle = true;
                queue = shared
                    .wake
                    .wait_timeout(queue, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                queue.writer_idle = false;
            }
            (
                std::mem::take(&mut queue.items),
                queue.appended,
                queue.closing,
            )
        };
        for item in items {
            match item {
                Item::Record(record) => {
                    record.encode(&mut buffer);
                    shared.stats.records.fetch_add(1, Ordering::Relaxed);
                }
                Item::Rotate(next) => {
                    write_all(shared, &mut file, &path, &mut buffer, &mut length);
                    sync(shared, &file, &path);
                    file = loop {
                        match open_segment(&next) {
                            Ok(file) => break file,
                            Err(error) => {
                                shared.stats.failures.fetch_add(1, Ordering::Relaxed);
                                tracing::error!(
                                    error = format!("{error:#}"),
                                    "cannot start the next log segment; retrying"
                                );
                                std::thread::sleep(RETRY_AFTER);
                            }
                        }
                    };
                    path = next;
                    length = 0;
                    unsynced = false;
                    last_sync = Instant::now();
                }
            }
        }
        if !buffer.is_empty() {
            write_all(shared, &mut file, &path, &mut buffer, &mut length);
            unsynced = true;
        }
        let due = match shared.mode {
            Fsync::Always => true,
            Fsync::Everysec => last_sync.elapsed() >= SYNC_EVERY,
            Fsync::No => false,
        };
        if unsynced && (due || closing) {
            sync(shared, &file, &path);
            unsynced = false;
            last_sync = Instant::now();
        }
        shared.progress.send_modify(|progress| {
            progress.durable = last;
            progress.failure = None;
        });
        if closing {
            return;
        }
    }
}

/// Writes `buffer` to the segment, retrying until it succeeds: a record is
/// never acknowledged before it is written, and a write that fails (a full
/// disk, an I/O error) is cut off and written again once it can be.
fn write_all(
    shared: &Shared,
    file: &mut File,
    path: &Path,
    buffer: &mut Vec<u8>,
    length: &mut u64,
) {
    if buffer.is_empty() {
        return;
    }
    loop {
        match file.write_all(buffer) {
            Ok(()) => break,
            Err(error) => {
                failed(shared, path, "writing", &error);
                let _ = file.set_len(*length);
                std::thread::sleep(RETRY_AFTER);
            }
        }
    }
    *length += buffer.len() as u64;
    shared
        .stats
        .bytes_written
        .fetch_add(buffer.len() as u64, Ordering::Relaxed);
    buffer.clear();
}

fn sync(shared: &Shared, file: &File, path: &Path) {
    let started = Instant::now();
    while let Err(error) = file.sync_data() {
        failed(shared, path, "syncing", &error);
        std::thread::sleep(RETRY_AFTER);
    }
    let micros = started.elapsed().as_micros() as u64;
    let stats = &shared.stats;
    stats.syncs.fetch_add(1, Ordering::Relaxed);
    stats.sync_micros.fetch_add(micros, Ordering::Relaxed);
    stats.sync_micros_max.fetch_max(micros, Ordering::Relaxed);
    stats
        .sync_latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .saturating_record(micros);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    stats.last_sync_unix_ms.store(now, Ordering::Relaxed);
}

/// Records a failed write, sync or segment start: counted, logged once per
/// outage, and reported to waiting writers, which answer with an error
/// instead of waiting for the disk.
fn failed(shared: &Shared, path: &Path, doing: &str, error: &dyn std::fmt::Display) {
    shared.stats.failures.fetch_add(1, Ordering::Relaxed);
    let reason: Arc<str> = format!("{doing} {}: {error}", path.display()).into();
    let first = shared.progress.borrow().failure.is_none();
    if first {
        tracing::error!(
            reason = %reason,
            "the write-ahead log cannot be written: writes are refused until it can; retrying"
        );
    }
    shared
        .progress
        .send_modify(|progress| progress.failure = Some(reason));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_times_of_any_length_are_counted_as_they_were() {
        let stats = Stats::default();
        for micros in [2, 250, 2_140, 8_000_000] {
            stats.sync_latency.lock().unwrap().saturating_record(micros);
        }
        let p50 = stats.sync_micros_quantile(0.5);
        assert!((240..=260).contains(&p50), "{p50}");
        let p99 = stats.sync_micros_quantile(0.99);
        assert!((7_990_000..=8_010_000).contains(&p99), "{p99}");
    }
}
