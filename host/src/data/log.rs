//! The write-ahead log: every write to the store, appended in the order the
//! store applied it, and in the kernel (or on the disk) before the write is
//! acknowledged.
//!
//! The store appends a [`Record`] while it still holds the key's lock, so the
//! log's order is the store's order for every key. Appending only queues the
//! record. Records leave the queue only under the segment's lock, and are
//! written in the order they leave it, whoever writes them:
//!
//! - With `--fsync everysec` and `no`, the call that waits for its record
//!   ([`Log::durable`]) writes everything queued itself, with one `write`,
//!   unless another call is doing so already. A write to the page cache takes
//!   microseconds; handing it to a thread and being woken back costs more.
//! - With `--fsync always`, the writer thread takes everything queued, writes
//!   it with one `write` and syncs it with one `fdatasync`: every write that
//!   arrived meanwhile shares that sync (group commit), and while writers
//!   come together it waits briefly for as many as the last sync served
//!   ([`gather`]). A sync takes long enough that it must not hold up a
//!   runtime thread. Each waiting call is woken by the sync that made its
//!   record durable, not by every sync.
//! - The writer thread also syncs `everysec`'s records once a second, writes
//!   records no call waits for (the reverts of failed calls) within a tick,
//!   starts new segments, and retries writes and syncs that failed. While it
//!   does any of the last two, calls leave the writing to it.
//!
//! So an acknowledged write is in the kernel (every mode: it survives a crash
//! of kvs) and, with `always`, on the disk (it survives a power loss).
//!
//! The log is a series of segment files; [`Log::rotate`] starts the next one
//! at a point in the order, so a snapshot taken after it plus the segments
//! from it on hold every write (see [`super::DataDir::compact`]).
//!
//! A segment's file is kept filled with zeros some way past its last record
//! (by a thread of its own, see [`reserve_loop`]), and records are written
//! over those zeros. A sync then flushes only the records' pages: a file
//! that grows with every write makes each `fdatasync` write its inode too,
//! which took a third of every sync on the disks measured. So a segment a
//! crash left behind may end in zeros, which recovery reads as its end (see
//! [`super::recovery`]); segments closed in order are cut to their records.

use super::record::Record;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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
/// How often the writer looks for records no call is writing, while writes
/// come in (`everysec` and `no`); after a tick with no appends it sleeps
/// until the next one.
const TICK: Duration = Duration::from_millis(10);
/// The longest `always` holds a sync back for as many records as the last
/// one served (see [`gather`]).
const GROUP_DELAY: Duration = Duration::from_micros(200);
/// How far past its records a segment's file is kept filled with zeros.
const RESERVE_AHEAD: u64 = 16 << 20;
/// The zeros written under the segment's lock at a time, so a reservation
/// holds up the records' writes for no more than a fraction of a
/// millisecond.
const RESERVE_PIECE: usize = 1 << 20;

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
    /// Wakes the writer when it has work.
    wake: Condvar,
    /// Wakes the thread that fills segments with zeros ahead of the records.
    reserve: std::sync::mpsc::SyncSender<()>,
    /// The segment being written; whoever holds it takes records from the
    /// queue and writes them. Never held while sleeping or syncing, and
    /// always taken before `queue` when both are.
    segment: Mutex<Segment>,
    /// How far records are durable in this mode, and why the log cannot be
    /// written, while it cannot.
    progress: tokio::sync::watch::Sender<Progress>,
    /// The calls waiting in [`Log::durable`], by the sequence number each
    /// waits for. A sync wakes only the calls it made durable: waiting on
    /// `progress` itself would wake every waiting call for every sync, most
    /// of them to sleep again (with 64 writers, most of the CPU `always`
    /// spent). Taken after `progress` is changed, and held while a call
    /// reads it and decides to wait, so no call misses its wake-up.
    waiters: Mutex<BTreeMap<u64, Vec<tokio::sync::oneshot::Sender<()>>>>,
    /// Whether bytes were written since the last sync. Set by whoever wrote
    /// them before it takes the queue's lock again, so a writer deciding
    /// under that lock whether to sleep sees it.
    unsynced: AtomicBool,
    mode: Fsync,
    stats: Stats,
}

#[derive(Default)]
struct Queue {
    items: Vec<Item>,
    /// The sequence number of the last item queued.
    appended: u64,
    closing: bool,
    /// Segment starts queued and not yet done.
    rotations: usize,
    /// The last write or sync failed; the writer retries it.
    failing: bool,
    /// A call is writing what is queued.
    call_writing: bool,
    /// Whether the writer sleeps until woken: only then does an append pay
    /// for waking it.
    writer_idle: bool,
    /// While the writer gathers records for a sync: the count at which an
    /// append wakes it.
    gather_until: usize,
}

impl Queue {
    /// Whether only the writer thread may write now.
    fn writer_only(&self) -> bool {
        self.closing || self.rotations > 0 || self.failing
    }

    /// The sequence number of the oldest item queued.
    fn first_queued(&self) -> u64 {
        self.appended + 1 - self.items.len() as u64
    }
}

enum Item {
    Record(Record),
    /// From here on, write to this new segment.
    Rotate(PathBuf),
}

struct Segment {
    file: Arc<File>,
    path: PathBuf,
    /// The bytes of the segment known to be good: records are written from
    /// here on.
    length: u64,
    /// The file is zeros from `length` up to here (its end), written ahead
    /// so records land in space the file already has.
    reserved: u64,
    /// Records taken from the queue and not yet written: encoded here, and
    /// kept here while a write fails.
    pending: Vec<u8>,
    last_sync: Instant,
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
        let (reserve, reserve_wake) = std::sync::mpsc::sync_channel(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            reserve,
            segment: Mutex::new(Segment {
                file: Arc::new(file),
                path,
                length: 0,
                reserved: 0,
                pending: Vec::new(),
                last_sync: Instant::now(),
            }),
            progress,
            waiters: Mutex::default(),
            unsynced: AtomicBool::new(false),
            mode,
            stats: Stats::default(),
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("kvs-log".into())
            .spawn(move || write_loop(&writer))?;
        let reserver = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("kvs-log-reserve".into())
            .spawn(move || reserve_loop(&reserver, &reserve_wake))?;
        let _ = shared.reserve.try_send(());
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
        self.shared.queue().appended
    }

    /// Waits until every record up to `seq` is durable in this log's mode,
    /// or fails with the reason the log cannot be written now. The records
    /// stay queued either way: the writer keeps trying.
    pub async fn durable(&self, seq: u64) -> Result<(), Arc<str>> {
        if self.shared.progress.borrow().durable >= seq {
            return Ok(());
        }
        if self.shared.mode != Fsync::Always {
            self.write_queued();
            if self.shared.progress.borrow().durable >= seq {
                return Ok(());
            }
        }
        loop {
            let woken = {
                let mut waiters = self.shared.waiters();
                let progress = self.shared.progress.borrow();
                if progress.durable >= seq {
                    return Ok(());
                }
                if let Some(reason) = &progress.failure {
                    return Err(Arc::clone(reason));
                }
                let (wake, woken) = tokio::sync::oneshot::channel();
                waiters.entry(seq).or_default().push(wake);
                woken
            };
            // Woken when `seq` is durable or the log fails; look again.
            let _ = woken.await;
        }
    }

    /// Writes everything queued from the calling thread (`everysec` and
    /// `no`), unless another call is writing it or the writer must. Keeps
    /// going while more is queued meanwhile, so a call that left the
    /// writing to this one is never left waiting.
    fn write_queued(&self) {
        let shared = &*self.shared;
        {
            let mut queue = shared.queue();
            if queue.items.is_empty() || queue.call_writing || queue.writer_only() {
                return;
            }
            queue.call_writing = true;
        }
        let mut segment = shared.segment();
        loop {
            let (items, last) = {
                let mut queue = shared.queue();
                if queue.items.is_empty() || queue.writer_only() {
                    queue.call_writing = false;
                    // `everysec` must sync what was written within a second.
                    let wake =
                        shared.mode == Fsync::Everysec && std::mem::take(&mut queue.writer_idle);
                    drop(queue);
                    if wake {
                        shared.wake.notify_one();
                    }
                    return;
                }
                (std::mem::take(&mut queue.items), queue.appended)
            };
            for item in &items {
                match item {
                    Item::Record(record) => segment.encode(shared, record),
                    Item::Rotate(_) => unreachable!("calls never take a segment start"),
                }
            }
            if let Err(error) = segment.write(shared) {
                shared.failed(&segment.path, "writing", &error);
                shared.queue().call_writing = false;
                shared.wake.notify_one();
                return;
            }
            shared
                .progress
                .send_modify(|progress| progress.durable = last);
            shared.wake_waiters();
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
            let mut queue = self.shared.queue();
            queue.closing = true;
            queue.appended
        };
        self.shared.wake.notify_one();
        let _ = self.shared.reserve.try_send(());
        self.written(seq).await;
    }

    pub fn mode(&self) -> Fsync {
        self.shared.mode
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    fn push(&self, item: Item) -> u64 {
        let rotation = matches!(item, Item::Rotate(_));
        let (seq, wake) = {
            let mut queue = self.shared.queue();
            queue.appended += 1;
            queue.items.push(item);
            queue.rotations += usize::from(rotation);
            let idle = std::mem::take(&mut queue.writer_idle);
            let gathered = queue.gather_until > 0 && queue.items.len() >= queue.gather_until;
            if gathered {
                queue.gather_until = 0;
            }
            (queue.appended, idle || rotation || gathered)
        };
        if wake {
            self.shared.wake.notify_one();
        }
        seq
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn segment(&self) -> MutexGuard<'_, Segment> {
        self.segment.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a failed write, sync or segment start: counted, logged once
    /// per outage, and reported to waiting writers, which answer with an
    /// error instead of waiting for the disk. Calls leave the writing to the
    /// writer thread until it succeeds.
    fn failed(&self, path: &Path, doing: &str, error: &dyn std::fmt::Display) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        self.queue().failing = true;
        let reason: Arc<str> = format!("{doing} {}: {error}", path.display()).into();
        let first = self.progress.borrow().failure.is_none();
        if first {
            tracing::error!(
                reason = %reason,
                "the write-ahead log cannot be written: writes are refused until it can; retrying"
            );
        }
        self.progress
            .send_modify(|progress| progress.failure = Some(reason));
        self.wake_waiters();
    }

    /// Says that every record up to `seq` is durable and the log works.
    fn succeeded(&self, seq: u64) {
        self.queue().failing = false;
        let changed = self.progress.send_if_modified(|progress| {
            let changed = progress.durable < seq || progress.failure.is_some();
            progress.durable = progress.durable.max(seq);
            progress.failure = None;
            changed
        });
        if changed {
            self.wake_waiters();
        }
    }

    fn waiters(&self) -> MutexGuard<'_, BTreeMap<u64, Vec<tokio::sync::oneshot::Sender<()>>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the calls `progress` now answers: those whose records are
    /// durable, or all of them while the log fails.
    fn wake_waiters(&self) {
        let woken = {
            let mut waiters = self.waiters();
            let progress = self.progress.borrow();
            if progress.failure.is_some() {
                std::mem::take(&mut *waiters)
            } else {
                let later = waiters.split_off(&(progress.durable + 1));
                std::mem::replace(&mut *waiters, later)
            }
        };
        for wake in woken.into_values().flatten() {
            let _ = wake.send(());
        }
    }
}

impl Segment {
    /// Encodes a record taken from the queue, to be written next.
    fn encode(&mut self, shared: &Shared, record: &Record) {
        record.encode(&mut self.pending);
        shared.stats.records.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the pending bytes with one `write` at the segment's end; on
    /// failure cuts off what they added to the file and keeps them pending
    /// (what they wrote over zeros is written again).
    fn write(&mut self, shared: &Shared) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.file.write_all_at(&self.pending, self.length) {
            let _ = self.file.set_len(self.length.max(self.reserved));
            return Err(error);
        }
        self.length += self.pending.len() as u64;
        self.reserved = self.reserved.max(self.length);
        if self.reserved < self.length + RESERVE_AHEAD / 2 {
            let _ = shared.reserve.try_send(());
        }
        shared.unsynced.store(true, Ordering::SeqCst);
        shared
            .stats
            .bytes_written
            .fetch_add(self.pending.len() as u64, Ordering::Relaxed);
        self.pending.clear();
        Ok(())
    }

    /// Writes the pending bytes, retrying until it succeeds: a record is
    /// never acknowledged before it is written, and a write that fails (a
    /// full disk, an I/O error) is written again once it can be.
    fn write_retrying(&mut self, shared: &Shared) {
        while let Err(error) = self.write(shared) {
            shared.failed(&self.path, "writing", &error);
            std::thread::sleep(RETRY_AFTER);
        }
    }

    /// Cuts the zeros reserved past the records off a segment that is
    /// done, so only a segment a crash interrupted ends in zeros; the next
    /// sync makes the cut durable. A failure only leaves the zeros, which
    /// recovery reads as the end.
    fn trim(&mut self, shared: &Shared) {
        if self.reserved > self.length {
            match self.file.set_len(self.length) {
                Ok(()) => {
                    self.reserved = self.length;
                    shared.unsynced.store(true, Ordering::SeqCst);
                }
                Err(error) => tracing::warn!(
                    path = %self.path.display(),
                    %error,
                    "cannot cut the zeros reserved past the log's last record; recovery skips them"
                ),
            }
        }
    }
}

/// Creates a segment file, which must not exist yet, and syncs its
/// directory so the file itself survives a power loss.
pub fn open_segment(path: &Path) -> anyhow::Result<File> {
    use anyhow::Context as _;
    let file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)
        .with_context(|| format!("creating the log segment {}", path.display()))?;
    if let Some(directory) = path.parent() {
        File::open(directory)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("syncing the directory {}", directory.display()))?;
    }
    Ok(file)
}

/// The writer thread: syncs, writes what no call writes, starts segments
/// and retries failures, until the log closes.
fn write_loop(shared: &Shared) {
    // The sequence number appended when the writer last looked: records
    // queued since before then are left to it.
    let mut seen = 0u64;
    // Records the last round wrote (`always`: shared one sync).
    let mut last_round = 0;
    loop {
        wait_for_work(shared, seen);
        if shared.mode == Fsync::Always {
            gather(shared, last_round);
        }
        let mut segment = shared.segment();
        // `written` is how far the log will be written after this round:
        // everything before what is left in the queue.
        let (items, written, closing) = {
            let mut queue = shared.queue();
            let take =
                shared.mode == Fsync::Always || queue.writer_only() || queue.first_queued() <= seen;
            seen = queue.appended;
            let items = if take {
                std::mem::take(&mut queue.items)
            } else {
                Vec::new()
            };
            (items, queue.first_queued() - 1, queue.closing)
        };
        let mut rotated = 0;
        last_round = items.len();
        for item in items {
            match item {
                Item::Record(record) => segment.encode(shared, &record),
                Item::Rotate(next) => {
                    segment.write_retrying(shared);
                    segment.trim(shared);
                    sync(shared, &mut segment);
                    start_segment(shared, &mut segment, next);
                    rotated += 1;
                }
            }
        }
        segment.write_retrying(shared);
        let due = match shared.mode {
            Fsync::Always => true,
            Fsync::Everysec => segment.last_sync.elapsed() >= SYNC_EVERY,
            Fsync::No => false,
        };
        if closing {
            segment.trim(shared);
        }
        if due || closing {
            if shared.mode == Fsync::Always || closing {
                sync(shared, &mut segment);
            } else if shared.unsynced.swap(false, Ordering::SeqCst) {
                // Calls keep writing while `everysec`'s sync runs.
                let file = Arc::clone(&segment.file);
                let path = segment.path.clone();
                segment.last_sync = Instant::now();
                drop(segment);
                sync_file(shared, &file, &path);
            }
        }
        shared.queue().rotations -= rotated;
        shared.succeeded(written);
        if closing {
            return;
        }
    }
}

/// Sleeps until the writer has work: at once when a segment is to start, a
/// failure to retry, the log to close, or (`always`) records to write;
/// otherwise for a tick while records come in or `everysec` has a sync to
/// do, and until woken once neither holds.
fn wait_for_work(shared: &Shared, seen: u64) {
    let mut queue = shared.queue();
    let at_once = |queue: &Queue| {
        queue.writer_only() || (shared.mode == Fsync::Always && !queue.items.is_empty())
    };
    if at_once(&queue) {
        return;
    }
    let quiet = queue.appended == seen && queue.items.is_empty();
    let to_sync = shared.mode == Fsync::Everysec && shared.unsynced.load(Ordering::SeqCst);
    if shared.mode == Fsync::Always || (quiet && !to_sync) {
        queue.writer_idle = true;
        while queue.writer_idle && !at_once(&queue) {
            queue = shared.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        queue.writer_idle = false;
    } else {
        // Woken early or not, the caller looks at the queue next.
        drop(shared.wake.wait_timeout(queue, TICK));
    }
}

/// With `always`, holds the next sync back until as many records are queued
/// as the last one served, or for at most [`GROUP_DELAY`]: while writers
/// come together, each sync then serves as many of them as the one before,
/// and a lone writer (whose sync served one) never waits. Without it, on
/// the 2-core VM measured, 64 writers shared a sync 1.6 at a time; with it
/// 6 to 7, and the TCP write cycle rose by about 10%: every sync costs the
/// CPU thread switches and the disk's notification besides its wait.
fn gather(shared: &Shared, last_round: usize) {
    let deadline = Instant::now() + GROUP_DELAY;
    let mut queue = shared.queue();
    while queue.items.len() < last_round && !queue.writer_only() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        queue.gather_until = last_round;
        queue = shared
            .wake
            .wait_timeout(queue, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    queue.gather_until = 0;
}

/// Syncs the segment, holding it, retrying until the sync succeeds.
fn sync(shared: &Shared, segment: &mut Segment) {
    if shared.unsynced.swap(false, Ordering::SeqCst) {
        sync_file(shared, &segment.file, &segment.path);
        segment.last_sync = Instant::now();
    }
}

/// Starts writing to the new segment at `next`, retrying until it can.
fn start_segment(shared: &Shared, segment: &mut Segment, next: PathBuf) {
    let file = loop {
        match open_segment(&next) {
            Ok(file) => break file,
            Err(error) => {
                shared.failed(&next, "starting", &format!("{error:#}"));
                std::thread::sleep(RETRY_AFTER);
            }
        }
    };
    segment.file = Arc::new(file);
    segment.path = next;
    segment.length = 0;
    segment.reserved = 0;
    segment.last_sync = Instant::now();
    let _ = shared.reserve.try_send(());
}

/// The thread that keeps the segment's file filled with zeros
/// [`RESERVE_AHEAD`] past its records, whenever a write asks, until the log
/// closes. A reservation that fails (a full disk, a file-size limit) is
/// only logged: records are then written past the file's end, as they
/// would be without it, and the writer reports what fails for them.
fn reserve_loop(shared: &Shared, wake: &std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    let zeros = vec![0u8; RESERVE_PIECE];
    loop {
        match wake.recv_timeout(SYNC_EVERY) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if shared.queue().closing {
            return;
        }
        if let Err(error) = reserve(shared, &zeros) {
            tracing::debug!(%error, "cannot reserve log space ahead of the records");
            std::thread::sleep(SYNC_EVERY);
        }
    }
}

/// Fills the segment with zeros up to [`RESERVE_AHEAD`] past its records,
/// a piece at a time under the segment's lock (so zeros never land where a
/// record is being written), then syncs them with the file's new length.
fn reserve(shared: &Shared, zeros: &[u8]) -> std::io::Result<()> {
    let mut reserved = None;
    loop {
        let mut segment = shared.segment();
        if shared.queue().closing {
            return Ok(());
        }
        let from = segment.reserved.max(segment.length);
        let target = segment.length + RESERVE_AHEAD;
        if from >= target {
            break;
        }
        let piece = (target - from).min(zeros.len() as u64) as usize;
        segment.file.write_all_at(&zeros[..piece], from)?;
        segment.reserved = from + piece as u64;
        reserved = Some(Arc::clone(&segment.file));
    }
    match reserved {
        Some(file) => file.sync_data(),
        None => Ok(()),
    }
}

fn sync_file(shared: &Shared, file: &File, path: &Path) {
    let started = Instant::now();
    while let Err(error) = file.sync_data() {
        shared.failed(path, "syncing", &error);
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
