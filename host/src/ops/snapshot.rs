//! `--snapshot PATH`: the whole store written to one file, atomically, and
//! loaded back at start-up, for operators who cannot lose data on a restart.
//!
//! A snapshot is written to a temporary file next to `PATH`, flushed to disk
//! (`fsync`), renamed over `PATH` and the directory synced, so `PATH` always
//! holds one complete snapshot: the previous one until the rename, the new
//! one after it, whenever the process dies. It ends with a SHA-256 of all
//! that precedes it; a file that is torn, truncated or corrupt is refused at
//! start-up with an error naming the file, never loaded in part.
//!
//! The format, integers little-endian:
//!
//! ```text
//! "KVSSNAP3"
//! per entry: u32 key length, key, u32 type length, type,
//!            u64 version, u64 expires at (ms since the Unix epoch; 0: never),
//!            u64 value length, value
//! "END!", u64 entry count, u64 last version handed out,
//! 32-byte SHA-256 of every byte before it
//! ```
//!
//! The last version handed out is the store's high-water mark: versions of
//! keys deleted before the snapshot are above every stored one, and without
//! it a restart would hand them out again, letting a stale `If-Match` match.
//! Files of the earlier formats (`KVSSNAP1`, without it, and `KVSSNAP2`,
//! without expiry) still load. An entry whose expiry has passed by the time
//! it is loaded is dropped.

use crate::app::App;
use crate::store::{Entry, Store};
use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

const MAGIC: &[u8; 8] = b"KVSSNAP3";
/// The second format, without expiry.
const MAGIC_V2: &[u8; 8] = b"KVSSNAP2";
/// The first format, without the last version handed out.
const MAGIC_V1: &[u8; 8] = b"KVSSNAP1";
const END: &[u8; 4] = b"END!";

/// What a save or a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub bytes: u64,
}

/// Writes every entry of `store` to `path`, atomically.
pub fn save(store: &Store, path: &Path) -> anyhow::Result<Summary> {
    let entries = store.entries();
    // Read after the copy, so it is at least every copied entry's version.
    let last_version = store.last_version();
    let temporary = temporary_path(path);
    let written = write_file(&entries, last_version, &temporary)
        .with_context(|| format!("writing the snapshot {}", temporary.display()));
    let summary = match written {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
    };
    std::fs::rename(&temporary, path)
        .with_context(|| format!("renaming the snapshot into place at {}", path.display()))?;
    sync_directory(path)?;
    Ok(summary)
}

/// `PATH.tmp`, in the same directory so the rename is atomic.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// A writer that hashes everything it writes.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.bytes += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
}

fn write_file(entries: &[Entry], last_version: u64, path: &Path) -> anyhow::Result<Summary> {
    let file = File::create(path)?;
    let mut out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        bytes: 0,
    };
    out.put(MAGIC)?;
    for entry in entries {
        let (key, content_type) = (entry.key(), entry.content_type());
        out.put(&(key.len() as u32).to_le_bytes())?;
        out.put(key.as_bytes())?;
        out.put(&(content_type.len() as u32).to_le_bytes())?;
        out.put(content_type.as_bytes())?;
        out.put(&entry.version().to_le_bytes())?;
        out.put(&entry.expires_at().unwrap_or(0).to_le_bytes())?;
        out.put(&(entry.value().len() as u64).to_le_bytes())?;
        out.put(entry.value())?;
    }
    out.put(END)?;
    out.put(&(entries.len() as u64).to_le_bytes())?;
    out.put(&last_version.to_le_bytes())?;
    let digest = out.hash.finalize_reset();
    out.inner.write_all(&digest)?;
    let file = out.inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(Summary {
        entries: entries.len() as u64,
        bytes: out.bytes + digest.len() as u64,
    })
}

fn sync_directory(path: &Path) -> anyhow::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing the directory {}", directory.display()))
}

/// Refuses, at start-up, a snapshot path that could not be written at
/// shutdown: a directory, or a file in a directory that does not exist or
/// is not writable. Better to stop now than to serve and lose the data then.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "--snapshot {} is a directory; name a file in it, such as {}",
            path.display(),
            path.join("kvs.snapshot").display()
        );
    }
    let temporary = temporary_path(path);
    File::create(&temporary)
        .and_then(|_| std::fs::remove_file(&temporary))
        .with_context(|| {
            format!(
                "--snapshot {}: cannot write {} there (the snapshot is written beside its path and renamed into place); create the directory or choose another path",
                path.display(),
                temporary.display()
            )
        })
}

/// Loads the snapshot at `path` into `store` (which must be empty and not yet
/// serving). `Ok(None)` when there is no file yet; an error, naming the file
/// and what is wrong with it, when it is not one complete snapshot.
pub fn load(store: &Store, path: &Path) -> anyhow::Result<Option<Summary>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("opening the snapshot {}", path.display()));
        }
    };
    let metadata = file.metadata()?;
    anyhow::ensure!(
        !metadata.is_dir(),
        "--snapshot {} is a directory, not a snapshot file",
        path.display()
    );
    let size = metadata.len();
    read_file(store, file, size).map(Some).with_context(|| {
        format!(
            "the snapshot {} is torn or corrupt and was not loaded; move it aside to start \
             with an empty store, or restore a good copy",
            path.display()
        )
    })
}

/// A reader that hashes everything it reads and knows how much is left.
struct Checked<R> {
    inner: R,
    hash: Sha256,
    left: u64,
}

impl<R: Read> Checked<R> {
    fn take(&mut self, length: u64, what: &str) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(
            length <= self.left,
            "{what} of {length} bytes runs past the end of the file"
        );
        let mut bytes = vec![0; length as usize];
        self.inner.read_exact(&mut bytes)?;
        self.hash.update(&bytes);
        self.left -= length;
        Ok(bytes)
    }

    fn u32(&mut self, what: &str) -> anyhow::Result<u32> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> anyhow::Result<u64> {
        let bytes = self.take(8, what)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }
}

fn read_file(store: &Store, file: File, size: u64) -> anyhow::Result<Summary> {
    let mut input = Checked {
        inner: BufReader::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        left: size,
    };
    let magic = input.take(8, "the header")?;
    let (has_last_version, has_expiry) = match &magic[..] {
        m if m == MAGIC => (true, true),
        m if m == MAGIC_V2 => (true, false),
        m if m == MAGIC_V1 => (false, false),
        _ => anyhow::bail!(
            "it does not start with {:?}",
            std::str::from_utf8(MAGIC).unwrap_or_default()
        ),
    };
    let mut entries = 0u64;
    loop {
        // An entry's key length and "END!" share their first four bytes' slot.
        let marker = input.take(4, "an entry or the end marker")?;
        if marker == END {
            break;
        }
        let key_length = u32::from_le_bytes(marker.try_into().expect("4 bytes"));
        let key = String::from_utf8(input.take(key_length.into(), "a key")?)
            .context("a key is not UTF-8")?;
        let type_length = input.u32("a content type length")?;
        let content_type = String::from_utf8(input.take(type_length.into(), "a content type")?)
            .context("a content type is not UTF-8")?;
        let version = input.u64("a version")?;
        let expires_at = if has_expiry {
            Some(input.u64("an expiry")?).filter(|&at| at != 0)
        } else {
            None
        };
        let value_length = input.u64("a value length")?;
        let value = input.take(value_length, "a value")?;
        let entry = Entry::new(&key, &content_type, &value, version, expires_at);
        store
            .restore(&entry)
            .with_context(|| format!("the entry {key:?} does not fit this store's limits"))?;
        entries += 1;
    }
    let count = input.u64("the entry count")?;
    anyhow::ensure!(
        count == entries,
        "it lists {count} entries but holds {entries}"
    );
    if has_last_version {
        store.versions_above(input.u64("the last version")?);
    }
    let expected = input.hash.finalize_reset();
    anyhow::ensure!(
        input.left == expected.len() as u64,
        "{} bytes follow the end marker where the 32-byte checksum belongs",
        input.left
    );
    let mut digest = [0u8; 32];
    input.inner.read_exact(&mut digest)?;
    anyhow::ensure!(
        digest[..] == expected[..],
        "its SHA-256 checksum does not match its contents"
    );
    Ok(Summary {
        entries,
        bytes: size,
    })
}

/// How snapshots are going, for operators: `/status` and `/metrics` on the
/// admin endpoint show it, so a snapshot that keeps failing is seen before
/// the data it should have kept is needed.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<Option<HealthState>>,
}

/// What [`Health`] knows once snapshots are configured.
#[derive(Debug, Clone)]
pub struct HealthState {
    pub path: PathBuf,
    /// When the newest good snapshot on disk was written: the last save, or
    /// the file loaded at start-up.
    pub last_saved: Option<SystemTime>,
    /// When this process started keeping snapshots.
    pub since: SystemTime,
    pub last_error: Option<String>,
}

impl HealthState {
    /// Seconds since the last good snapshot (since start-up if there is
    /// none yet): at most this much of the latest writes a crash would lose.
    pub fn age_seconds(&self) -> f64 {
        SystemTime::now()
            .duration_since(self.last_saved.unwrap_or(self.since))
            .unwrap_or_default()
            .as_secs_f64()
    }
}

impl Health {
    /// Starts reporting on snapshots at `path`, written at `loaded` if one
    /// was loaded at start-up.
    pub fn configure(&self, path: &Path, loaded: Option<SystemTime>) {
        *self.lock() = Some(HealthState {
            path: path.to_path_buf(),
            last_saved: loaded,
            since: SystemTime::now(),
            last_error: None,
        });
    }

    pub fn saved(&self) {
        if let Some(state) = self.lock().as_mut() {
            state.last_saved = Some(SystemTime::now());
            state.last_error = None;
        }
    }

    pub fn failed(&self, error: &anyhow::Error) {
        if let Some(state) = self.lock().as_mut() {
            state.last_error = Some(format!("{error:#}"));
        }
    }

    /// `None` when kvs keeps no snapshot.
    pub fn state(&self) -> Option<HealthState> {
        self.lock().clone()
    }

    /// The `snapshot` section of `/status`; the counts of saves and failures
    /// are the metrics' counters, kept in one place.
    pub fn to_json(&self, (saves, failures): (u64, u64)) -> serde_json::Value {
        let Some(state) = self.state() else {
            return serde_json::Value::Null;
        };
        let unix_ms = |time: SystemTime| {
            time.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64
        };
        serde_json::json!({
            "path": state.path.display().to_string(),
            "last_saved_unix_ms": state.last_saved.map(unix_ms),
            "age_seconds": state.age_seconds().floor() as u64,
            "saves": saves,
            "failures": failures,
            "last_error": state.last_error,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HealthState>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Saves `app`'s store to `path` on a blocking thread, logs the outcome and
/// records it in the app's snapshot health.
pub async fn save_logged(app: &App, path: &Path) -> anyhow::Result<Summary> {
    let store = app
        .memory()
        .context("a snapshot needs the in-memory store (--store memory)")?
        .clone();
    let owned = path.to_path_buf();
    let started = Instant::now();
    let saved = match tokio::task::spawn_blocking(move || save(&store, &owned)).await {
        Ok(saved) => saved,
        Err(join) => Err(anyhow::anyhow!("the snapshot task panicked: {join}")),
    };
    match &saved {
        Ok(summary) => {
            app.snapshot_health().saved();
            app.metrics().snapshot_saved();
            tracing::info!(
                entries = summary.entries,
                bytes = summary.bytes,
                millis = started.elapsed().as_millis() as u64,
                "snapshot written"
            );
        }
        Err(error) => {
            app.snapshot_health().failed(error);
            app.metrics().snapshot_failed();
            tracing::error!(
                path = %path.display(),
                error = format!("{error:#}"),
                "snapshot failed"
            );
        }
    }
    saved
}

/// Saves every `interval` while anything changed, until `shutdown`; the
/// final snapshot at shutdown is the caller's, once the front ends have
/// drained. A failed save is logged and retried at the next interval.
///
/// What counts as saved is what the store holds when this is called, not
/// when the task first runs: a task that started late would otherwise
/// count the writes before it as saved, and never save them while nothing
/// else changed (a test saw that under load).
pub fn periodic(
    app: App,
    path: PathBuf,
    interval: Duration,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> {
    let store = app.memory().cloned();
    let saved = store.as_ref().map(Store::changes);
    async move {
        if let (Some(store), Some(saved)) = (store, saved) {
            save_while_changing(app, store, saved, path, interval, shutdown).await;
        }
    }
}

async fn save_while_changing(
    app: App,
    store: Store,
    mut saved_at_change: u64,
    path: PathBuf,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let changes = store.changes();
        if changes == saved_at_change {
            continue;
        }
        if save_logged(&app, &path).await.is_ok() {
            saved_at_change = changes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Limits;
    use bytes::Bytes;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kvs-snapshot-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("store.snapshot")
    }

    fn filled() -> Store {
        let store = Store::new(Limits::default());
        store
            .create("text", "text/plain", Bytes::from_static(b"hello"), None)
            .unwrap();
        store
            .create(
                "binary",
                "image/png",
                Bytes::from(vec![0, 255, 10, 13]),
                None,
            )
            .unwrap();
        store.create("empty", "", Bytes::new(), None).unwrap();
        store.delete("empty", None).unwrap();
        store
            .create("ünïcode key", "a/b", Bytes::from_static(b"x"), None)
            .unwrap();
        store
    }

    #[test]
    fn a_saved_store_loads_back_with_its_values_types_and_versions() {
        let path = scratch("round-trip");
        let store = filled();
        let saved = save(&store, &path).unwrap();
        assert_eq!(saved.entries, 3);
        assert!(!temporary_path(&path).exists());

        let loaded = Store::new(Limits::default());
        assert_eq!(
            load(&loaded, &path).unwrap(),
            Some(Summary {
                entries: 3,
                bytes: saved.bytes
            })
        );
        let mut before = store.entries();
        let mut after = loaded.entries();
        before.sort_by(|a, b| a.key().cmp(b.key()));
        after.sort_by(|a, b| a.key().cmp(b.key()));
        assert_eq!(before, after);
        assert_eq!(loaded.usage(), store.usage(), "the budget is charged");
        // New versions continue above the restored ones.
        let next = loaded
            .create("new", "t", Bytes::from_static(b"n"), None)
            .unwrap();
        assert!(after.iter().all(|entry| entry.version() < next));
    }

    #[test]
    fn no_file_is_an_empty_start() {
        let path = scratch("missing");
        let _ = std::fs::remove_file(&path);
        assert_eq!(load(&Store::default(), &path).unwrap(), None);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let path = scratch("corrupt");
        save(&filled(), &path).unwrap();
        let good = std::fs::read(&path).unwrap();
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            let error = load(&Store::default(), &path).expect_err("a flipped byte is caught");
            assert!(
                format!("{error:#}").contains("torn or corrupt"),
                "{error:#}"
            );
        }
        for length in 0..good.len() {
            std::fs::write(&path, &good[..length]).unwrap();
            load(&Store::default(), &path).expect_err("a truncated file is caught");
        }
        std::fs::write(&path, [&good[..], b"x"].concat()).unwrap();
        load(&Store::default(), &path).expect_err("trailing bytes are caught");
    }
}
