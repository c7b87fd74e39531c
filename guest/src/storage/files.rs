//! A [`Storage`] that keeps one file per entry in a directory, for the
//! portable component on stock `wasmtime serve`, where no host store exists
//! and every request runs in a fresh instance: the directory is the only
//! state that outlives a request, and the only thing concurrent requests share.
//!
//! Layout under the root:
//! - `entries/<name>`: one entry: `kvs1\n<version>\n<content type>\n<value bytes>`.
//! - `locks/<name>`: a directory that exists while a writer holds the key.
//! - `tmp/`: files being written, renamed or linked into `entries/` whole.
//!
//! `<name>` is the key in URL-safe base64, so any key maps to a safe file name
//! and back. The atomic steps are the file system's own:
//! - create writes a temporary file and hard-links it to its name, which fails
//!   if the name exists: of concurrent creates exactly one wins, and a reader
//!   never sees a partial value;
//! - update and delete take the key's lock (`mkdir` is atomic), check that the
//!   entry exists and its version, then rename a new file over it or remove it;
//! - readers open the entry file, whose content never changes once linked.

use super::{
    Entry, ExpireCondition, Expiry, KeyPage, Limits, Pairs, ScanPage, Storage, StoreError,
    StoreStats, check_version,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fs;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The first line of every entry file.
const MAGIC: &str = "kvs1";
/// Longest key: its base64 name must fit a 255-byte file name.
pub const MAX_KEY_BYTES: u32 = 180;
/// How long a writer waits for a key's lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// A lock older than this was left by a request that died; it is broken.
const STALE_LOCK: Duration = Duration::from_secs(30);

/// Entries as files under `root`.
#[derive(Debug, Clone)]
pub struct FileStorage {
    root: PathBuf,
    limits: Limits,
}

impl FileStorage {
    /// Every key that has an entry file, unordered.
    fn all_keys(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("entries");
        Ok(fs::read_dir(&dir)
            .map_err(|e| unavailable(&dir, &e))?
            .filter_map(|item| key_of(&item.ok()?.file_name().to_string_lossy()))
            .collect())
    }

    /// Uses `root`, creating its subdirectories if needed. Fails with a
    /// message an operator can act on when the directory is missing or not
    /// writable.
    pub fn open(root: impl Into<PathBuf>, max_value_bytes: u64) -> Result<Self, StoreError> {
        let root = root.into();
        if !root.is_dir() {
            return Err(StoreError::Unavailable(format!(
                "the data directory {} does not exist; grant one with wasmtime serve --dir HOST_DIR::{}",
                root.display(),
                root.display()
            )));
        }
        for sub in ["entries", "locks", "tmp"] {
            let path = root.join(sub);
            match fs::create_dir(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => return Err(unavailable(&path, &error)),
            }
        }
        Ok(Self {
            root,
            limits: Limits {
                max_key_bytes: MAX_KEY_BYTES,
                max_value_bytes,
                max_page_size: 1000,
            },
        })
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(file_name(key))
    }

    fn check(&self, key: &str, content_type: &str, value: &[u8]) -> Result<(), StoreError> {
        self.limits.check_write(key, value.len())?;
        // The entry file's header is line-based.
        if content_type.contains(['\n', '\r']) {
            return Err(StoreError::InvalidKey(
                "the content type holds a line break".into(),
            ));
        }
        Ok(())
    }

    /// Writes a complete entry file under `tmp/` and returns its path.
    fn write_temp(
        &self,
        content_type: &str,
        value: &[u8],
        version: u64,
    ) -> Result<PathBuf, StoreError> {
        let path = self.root.join("tmp").join(format!("{:016x}", random_u64()));
        let mut file = fs::File::create_new(&path).map_err(|e| unavailable(&path, &e))?;
        let header = format!("{MAGIC}\n{version}\n{content_type}\n");
        file.write_all(header.as_bytes())
            .and_then(|()| file.write_all(value))
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                let _ = fs::remove_file(&path);
                unavailable(&path, &e)
            })?;
        Ok(path)
    }

    /// Runs `f` holding the key's lock.
    fn locked<T>(
        &self,
        key: &str,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock = self.root.join("locks").join(file_name(key));
        let started = std::time::Instant::now();
        loop {
            match fs::create_dir(&lock) {
                Ok(()) => break,
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    let age = fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                    if age.is_some_and(|age| age > STALE_LOCK) {
                        let _ = fs::remove_dir(&lock);
                        continue;
                    }
                    if started.elapsed() > LOCK_WAIT {
                        return Err(StoreError::Unavailable(format!(
                            "the key is locked by another writer for over {LOCK_WAIT:?}"
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(error) => return Err(unavailable(&lock, &error)),
            }
        }
        let result = f();
        let _ = fs::remove_dir(&lock);
        result
    }
}

impl Storage for FileStorage {
    fn get(&self, key: &str) -> Result<Entry, StoreError> {
        read_entry(&self.entry_path(key))
    }

    fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        if expires_at.is_some() {
            return Err(no_expiry());
        }
        self.check(key, content_type, value)?;
        let version = random_u64();
        let temp = self.write_temp(content_type, value, version)?;
        let target = self.entry_path(key);
        let linked = fs::hard_link(&temp, &target);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(version),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                Err(StoreError::AlreadyExists)
            }
            Err(error) => Err(unavailable(&target, &error)),
        }
    }

    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError> {
        if matches!(expiry, Expiry::At(_)) {
            return Err(no_expiry());
        }
        self.check(key, content_type, value)?;
        let target = self.entry_path(key);
        self.locked(key, || {
            check_version(read_entry(&target)?.version, if_version)?;
            let version = random_u64();
            let temp = self.write_temp(content_type, value, version)?;
            fs::rename(&temp, &target).map_err(|e| {
                let _ = fs::remove_file(&temp);
                unavailable(&target, &e)
            })?;
            Ok(version)
        })
    }

    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        let target = self.entry_path(key);
        self.locked(key, || {
            let entry = read_entry(&target)?;
            check_version(entry.version, if_version)?;
            fs::remove_file(&target).map_err(|e| unavailable(&target, &e))?;
            Ok(entry)
        })
    }

    fn rename(&self, _from: &str, _to: &str, _replace: bool) -> Result<u64, StoreError> {
        Err(no_multi_key())
    }

    fn delete_many(&self, _keys: &[String]) -> Result<u32, StoreError> {
        Err(no_multi_key())
    }

    fn put_many(&self, _pairs: &Pairs, _content_type: &str) -> Result<(), StoreError> {
        Err(no_multi_key())
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError> {
        let limit = limit.clamp(1, self.limits.max_page_size) as usize;
        let mut keys = self.all_keys()?;
        keys.retain(|key| {
            key.starts_with(prefix) && cursor.is_none_or(|after| key.as_str() > after)
        });
        keys.sort_unstable();
        Ok(KeyPage::from_sorted(keys, limit))
    }

    fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        _condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        check_version(self.get(key)?.version, if_version)?;
        match at {
            Some(_) => Err(no_expiry()),
            None => Ok(false),
        }
    }

    fn scan(&self, cursor: u64, count: u32) -> Result<ScanPage, StoreError> {
        let count = count.clamp(1, self.limits.max_page_size) as usize;
        let keys = self.all_keys()?;
        Ok(kvs_model::scan::page(cursor, count, |visit| {
            keys.iter().for_each(|key| visit(key));
        }))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let keys = self.all_keys()?;
        let mut bytes = 0;
        for key in &keys {
            if let Ok(metadata) = fs::metadata(self.entry_path(key)) {
                bytes += key.len() as u64 + metadata.len();
            }
        }
        Ok(StoreStats {
            keys: keys.len() as u64,
            expiring: 0,
            bytes,
            expired: 0,
        })
    }

    fn limits(&self) -> Limits {
        self.limits
    }
}

/// The file name of a key: URL-safe base64, never `.`/`..`, never a `/`.
fn file_name(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The key of a file name, if it is one of ours.
fn key_of(name: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()
}

fn read_entry(path: &Path) -> Result<Entry, StoreError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Err(StoreError::NotFound),
        Err(error) => return Err(unavailable(path, &error)),
    };
    parse_entry(&bytes).ok_or_else(|| {
        StoreError::Unavailable(format!("the entry file {} is corrupt", path.display()))
    })
}

fn parse_entry(bytes: &[u8]) -> Option<Entry> {
    let mut parts = bytes.splitn(4, |&b| b == b'\n');
    let magic = parts.next()?;
    let version = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let content_type = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let value = parts.next()?.to_vec();
    (magic == MAGIC.as_bytes()).then_some(Entry {
        content_type,
        value,
        version,
        expires_at: None,
    })
}

/// The files keep no expiry: the portable build refuses to set one rather
/// than keep a value past the time it was asked to vanish.
fn no_expiry() -> StoreError {
    StoreError::Unavailable("the portable build keeps no expiry (no ttl)".into())
}

/// A file system changes one file at one instant, not several: the
/// portable build (which serves only REST, one key per request) refuses
/// a multi-key write rather than make half of it.
fn no_multi_key() -> StoreError {
    StoreError::Unavailable("the portable build has no multi-key writes".into())
}

/// A random version number below 2^53, so JSON clients read it exactly.
fn random_u64() -> u64 {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (random & ((1 << 53) - 1)).max(1)
}

fn unavailable(path: &Path, error: &std::io::Error) -> StoreError {
    let hint = match error.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            "; the data directory must be writable"
        }
        _ => "",
    };
    StoreError::Unavailable(format!("{}: {error}{hint}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("kvs-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        root
    }

    #[test]
    fn entries_round_trip_and_follow_the_store_semantics() {
        let root = temp_root("semantics");
        let store = FileStorage::open(&root, 1 << 20).unwrap();
        let key = "a/b c|ü";
        let v1 = store
            .create(key, "image/png", &[0, 10, 255, b'\n'], None)
            .unwrap();
        assert_eq!(
            store.create(key, "x", b"y", None),
            Err(StoreError::AlreadyExists)
        );
        let entry = store.get(key).unwrap();
        assert_eq!(
            (
                entry.content_type.as_str(),
                entry.value.as_slice(),
                entry.version
            ),
            ("image/png", &[0, 10, 255, b'\n'][..], v1)
        );
        assert_eq!(
            store.update("missing", "t", b"", None, Expiry::Clear),
            Err(StoreError::NotFound)
        );
        let v2 = store
            .update(key, "text/plain", b"new", Some(v1), Expiry::Clear)
            .unwrap();
        assert_ne!(v1, v2);
        assert_eq!(
            store.update(key, "t", b"x", Some(v1), Expiry::Clear),
            Err(StoreError::VersionMismatch { current: v2 })
        );
        assert_eq!(store.list("a/", None, 10).unwrap().keys, [key]);
        assert_eq!(store.delete(key, None).unwrap().value, b"new");
        assert_eq!(store.get(key), Err(StoreError::NotFound));
        // A fresh handle on the same directory sees the same data.
        store.create("kept", "t", b"v", None).unwrap();
        let reopened = FileStorage::open(&root, 1 << 20).unwrap();
        assert_eq!(reopened.get("kept").unwrap().value, b"v");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let error = FileStorage::open("/nonexistent/kvs-data", 10).unwrap_err();
        let StoreError::Unavailable(message) = error else {
            panic!("{error:?}")
        };
        assert!(message.contains("--dir"), "{message}");
    }

    #[test]
    fn concurrent_creates_have_one_winner() {
        let root = temp_root("race");
        let store = FileStorage::open(&root, 1 << 20).unwrap();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let store = store.clone();
                    scope.spawn(move || store.create("k", "t", &[i], None).is_ok() as usize)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(winners, 1);
        assert!(
            fs::read_dir(root.join("tmp")).unwrap().next().is_none(),
            "no temporary file left"
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
