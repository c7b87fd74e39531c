//! The concurrent in-memory store every request and connection shares.
//!
//! [`Store`] is a cheap-to-clone handle (an `Arc`) over a sharded map
//! ([`shards`]) of entries, each one allocation ([`entry`]) that shares its
//! content type ([`content_types`]). Each operation locks one shard for
//! the duration of a map operation and never across an `.await`, so
//! readers and writers of different keys do not contend. Memory is
//! accounted for on every write against a fixed budget: a write that would
//! exceed it is refused with [`StoreError::StoreFull`] instead of letting
//! the process run out of memory.

pub mod content_types;
pub mod entry;
pub mod shards;

use crate::data::log::Log;
use crate::data::record::Record;
use shards::{KeyHash, Shards, Table};
use std::collections::BTreeSet;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLockWriteGuard};

pub use entry::Entry;

pub use kvs_model::store::{ExpireCondition, Expiry};
pub use kvs_model::{KeyPage, StoreError};
use kvs_model::{ScanPage, check_version};

/// Bytes charged per entry on top of its key, type and value: its one
/// allocation's reference count, header and length (40 bytes, see
/// [`entry`]) and the allocator's header and rounding (up to 23), and its
/// 8-byte map slot with the spare capacity of a table between 7/16 and 7/8
/// full (9 to 19 bytes, and a control byte), with room to spare. The type
/// is charged in full although entries share it (see [`content_types`]): a
/// type past the shared set is kept in the entry. Measured with
/// `redis-cli --pipe` (see the README): 100,000 entries of 100 bytes with
/// 11-byte keys grow the resident set by about 180 bytes each, 69 more
/// than their key and value, with the tables 3/4 full.
pub const ENTRY_OVERHEAD: usize = 100;

/// The bounds every write is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in bytes of UTF-8.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
    /// Longest content type, in bytes.
    pub max_content_type_bytes: usize,
    /// Total bytes of keys, types, values and per-entry overhead.
    pub max_store_bytes: usize,
    /// Most keys one `list` call returns.
    pub max_page_size: usize,
}

impl Limits {
    /// The checks every write of an entry passes, on any backend: the key
    /// and value (`kvs-model`'s), and the content type's length, which only
    /// the host bounds.
    pub fn check_entry(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.advertised().check_write(key, value.len())?;
        if content_type.len() > self.max_content_type_bytes {
            return Err(StoreError::TooLarge {
                limit: self.max_content_type_bytes as u64,
            });
        }
        Ok(())
    }

    /// The limits the store tells its callers (the WIT `limits` record).
    pub fn advertised(&self) -> kvs_model::Limits {
        kvs_model::Limits {
            max_key_bytes: u32::try_from(self.max_key_bytes).unwrap_or(u32::MAX),
            max_value_bytes: self.max_value_bytes as u64,
            max_page_size: u32::try_from(self.max_page_size).unwrap_or(u32::MAX),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: 1024,
            max_value_bytes: 16 << 20,
            max_content_type_bytes: 256,
            max_store_bytes: 1 << 30,
            max_page_size: 1000,
        }
    }
}

impl shards::Keyed for Entry {
    fn key(&self) -> &str {
        Entry::key(self)
    }

    fn key_bytes(&self) -> &[u8] {
        Entry::key_bytes(self)
    }
}

/// What [`Store::expire`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The condition did not hold, or there was nothing to clear.
    Unchanged,
    /// The expiry was set or cleared.
    Set,
    /// The instant had passed: the entry was removed.
    Removed,
}

/// Now, in milliseconds since the Unix epoch: the clock expiry is kept in.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The entry as the shared model has it, for the guest and the native
/// ceiling: the type and value copied out of the shared buffers.
impl From<&Entry> for kvs_model::Entry {
    fn from(entry: &Entry) -> Self {
        kvs_model::EntryRef::from(entry).into()
    }
}

/// The entry borrowed as the shared model has it: what a packed read copies.
impl<'a> From<&'a Entry> for kvs_model::EntryRef<'a> {
    fn from(entry: &'a Entry) -> Self {
        Self {
            content_type: entry.content_type(),
            value: entry.value(),
            version: entry.version(),
            expires_at: entry.expires_at(),
        }
    }
}

/// What [`Store::rename`] did, for a caller that may have to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// The entry's version under its new key.
    pub version: u64,
    /// The entry as it was under its old key.
    pub source: Entry,
    /// The live entry the new key held before, if any.
    pub replaced: Option<Entry>,
}

/// What [`Store::add`] did, for a caller that may have to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The sum, now the key's value.
    pub value: i64,
    pub version: u64,
    /// The entry the key held before; `None` if the add created it (or,
    /// from [`crate::backend::Backend::add`], if the caller did not ask).
    pub previous: Option<Entry>,
}

/// One key [`Store::put_many`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub key: String,
    pub version: u64,
    /// The live entry the key held before, if any.
    pub previous: Option<Entry>,
}

/// How full the store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub keys: usize,
    pub bytes: usize,
}

/// A handle to the shared store.
#[derive(Debug, Clone, Default)]
pub struct Store {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    map: Shards<Entry>,
    limits: Limits,
    counters: Counters,
    /// With `--data-dir`, the write-ahead log every change is appended to,
    /// under the key's lock, so the log has each key's changes in order.
    log: OnceLock<Log>,
    /// Every entry with an expiry, by when: the sweep takes the due ones
    /// from the front, and the count of keys leaves them out before it
    /// runs. Changed under the key's lock, so it matches the map.
    expiring: Mutex<BTreeSet<(u64, String)>>,
}

/// The counters every write updates, on cache lines of their own: the map's
/// shard table and the limits, which every operation reads, then never share
/// a line with them, so a write on one core does not evict them from the
/// other's cache.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    used_bytes: AtomicUsize,
    /// The last version handed out; versions are unique across all keys so a
    /// deleted and re-created key never repeats an `ETag`.
    last_version: AtomicU64,
    /// Changes that take no new version (deletes and reverted writes). Every
    /// create and update takes a new version, so `last_version +
    /// unversioned` grows with every change, which tells a snapshot whether
    /// anything changed, at no extra cost to writes.
    unversioned: AtomicU64,
    /// Entries the sweep removed because they expired.
    expired: AtomicU64,
}

impl Store {
    pub fn new(limits: Limits) -> Self {
        Self {
            shared: Arc::new(Shared {
                limits,
                ..Shared::default()
            }),
        }
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// Keys and bytes now. Entries past their expiry that the sweep has not
    /// reclaimed yet are not counted as keys (their bytes are, until then).
    pub fn usage(&self) -> Usage {
        let stats = self.stats();
        Usage {
            keys: stats.keys as usize,
            bytes: stats.bytes as usize,
        }
    }

    /// Keys, keys with an expiry (for Redis's `INFO keyspace`) and bytes,
    /// as the store imports report them. Counts only the due front of the
    /// expiry index, never all of it.
    pub fn stats(&self) -> kvs_model::StoreStats {
        let now = now_ms();
        // The index's lock is let go before the map's shards are read: a
        // write takes them the other way round.
        let (due, expiring) = {
            let index = self.expiring();
            let due = index.iter().take_while(|(at, _)| *at <= now).count();
            (due, index.len() - due)
        };
        kvs_model::StoreStats {
            keys: self.shared.map.count().saturating_sub(due) as u64,
            expiring: expiring as u64,
            bytes: self.shared.counters.used_bytes.load(Ordering::Relaxed) as u64,
            expired: self.shared.counters.expired.load(Ordering::Relaxed),
        }
    }

    /// A number that grows with every change to the store.
    pub fn changes(&self) -> u64 {
        let unversioned = self.shared.counters.unversioned.load(Ordering::Acquire);
        self.shared.counters.last_version.load(Ordering::Acquire) + unversioned
    }

    /// The highest version handed out so far. A snapshot records it, so
    /// versions of entries deleted before the snapshot are not handed out
    /// again after a restart.
    pub fn last_version(&self) -> u64 {
        self.shared.counters.last_version.load(Ordering::Acquire)
    }

    /// Makes every version handed out from now on greater than `version`,
    /// before the store serves (a snapshot's high-water mark).
    pub fn versions_above(&self, version: u64) {
        self.shared
            .counters
            .last_version
            .fetch_max(version, Ordering::AcqRel);
    }

    /// Every entry, each as it was at one instant (the set of entries is not
    /// one instant: writes racing the copy may or may not be in it). Values
    /// are shared, not copied, and no lock is held once this returns.
    pub fn entries(&self) -> Vec<Entry> {
        let now = now_ms();
        let mut entries = Vec::new();
        self.shared.map.for_each(|entry| {
            if entry.live_at(now) {
                entries.push(entry.clone());
            }
        });
        entries
    }

    /// Puts back an entry from a snapshot or the log with its version,
    /// before the store serves: later versions are handed out above every
    /// restored one. An entry already expired is not restored, and removes
    /// what `key` held before it (as its sweep would have).
    pub fn restore(&self, entry: &Entry) -> Result<(), StoreError> {
        self.shared
            .counters
            .last_version
            .fetch_max(entry.version(), Ordering::Relaxed);
        let key = entry.key();
        if !entry.live_at(now_ms()) {
            self.forget(key);
            return Ok(());
        }
        self.check(key, entry.content_type(), entry.value())?;
        self.reserve(cost(entry))?;
        let expires_at = entry.expires_at();
        let hash = self.shared.map.hash(key);
        let replaced = self.shared.map.write(hash).insert(hash, entry.clone());
        if let Some(replaced) = replaced {
            self.track(key, replaced.expires_at(), None);
            self.release(cost(&replaced));
        }
        self.track(key, None, expires_at);
        Ok(())
    }

    pub fn get(&self, key: &str) -> Result<Entry, StoreError> {
        self.read(key, Entry::clone)
    }

    /// What `read` makes of the live entry under `key`, under its shard's
    /// read lock. Copying bytes out this way touches no reference count: a
    /// clone of the entry bumps its count, which both cores take turns to
    /// own when they read one hot key.
    pub fn read<R>(&self, key: &str, read: impl FnOnce(&Entry) -> R) -> Result<R, StoreError> {
        let hash = self.shared.map.hash(key);
        self.shared
            .map
            .read(hash)
            .get(hash, key)
            .filter(|entry| entry.live())
            .map(read)
            .ok_or(StoreError::NotFound)
    }

    /// Creates `key`. An entry past its expiry counts as absent: it is
    /// replaced.
    pub fn create(
        &self,
        key: &str,
        content_type: &str,
        value: impl AsRef<[u8]>,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        let value = value.as_ref();
        self.check(key, content_type, value)?;
        self.check_durable()?;
        let now = now_ms();
        let hash = self.shared.map.hash(key);
        let mut table = self.shared.map.write(hash);
        match table.get(hash, key) {
            Some(current) if current.live_at(now) => Err(StoreError::AlreadyExists),
            Some(_) => {
                // An expired entry the sweep has not reclaimed yet: replaced.
                let (version, _) =
                    self.overwrite(table, hash, key, content_type, value, expires_at)?;
                self.count_expired(1);
                Ok(version)
            }
            None => {
                self.reserve(charge(key, content_type, value))?;
                let version = self.next_version();
                let entry = Entry::new(key, content_type, value, version, expires_at);
                self.track(key, None, expires_at);
                self.append_to_log(|| Record::Put(entry.clone()));
                table.insert(hash, entry);
                Ok(version)
            }
        }
    }

    pub fn update(
        &self,
        key: &str,
        content_type: &str,
        value: impl AsRef<[u8]>,
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError> {
        self.replace(key, content_type, value, if_version, expiry)
            .map(|(version, _)| version)
    }

    /// [`Store::update`], also handing back the entry it replaced (for a
    /// caller that may have to put it back, see [`Store::revert_update`]).
    pub fn replace(
        &self,
        key: &str,
        content_type: &str,
        value: impl AsRef<[u8]>,
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<(u64, Entry), StoreError> {
        let value = value.as_ref();
        self.check(key, content_type, value)?;
        self.check_durable()?;
        let hash = self.shared.map.hash(key);
        let table = self.shared.map.write(hash);
        let current = table
            .get(hash, key)
            .filter(|current| current.live())
            .ok_or(StoreError::NotFound)?;
        check_version(current.version(), if_version)?;
        let expires_at = match expiry {
            Expiry::Keep => current.expires_at(),
            Expiry::Clear => None,
            Expiry::At(at) => Some(at),
        };
        self.overwrite(table, hash, key, content_type, value, expires_at)
    }

    /// Adds `delta` to the integer under `key` (Redis's `INCRBY`), under the
    /// key's lock, so concurrent adds never retry and none is lost. An
    /// existing entry keeps its type and expiry; a missing key is created
    /// as `delta`, typed `content_type`. See [`kvs_model::store::add_to`]
    /// for what counts as an integer.
    pub fn add(&self, key: &str, delta: i64, content_type: &str) -> Result<Added, StoreError> {
        loop {
            self.check_durable()?;
            let hash = self.shared.map.hash(key);
            let table = self.shared.map.write(hash);
            let Some(current) = table.get(hash, key).filter(|current| current.live()) else {
                drop(table);
                match self.create(key, content_type, delta.to_string(), None) {
                    Ok(version) => {
                        return Ok(Added {
                            value: delta,
                            version,
                            previous: None,
                        });
                    }
                    // Created meanwhile: add to that.
                    Err(StoreError::AlreadyExists) => continue,
                    Err(error) => return Err(error),
                }
            };
            let value = kvs_model::store::add_to(current.value(), delta)?;
            let text = value.to_string();
            // A reference of its own, to read the type and expiry from
            // while `overwrite` takes the table's lock.
            let current = current.clone();
            self.check(key, current.content_type(), text.as_bytes())?;
            let (version, previous) = self.overwrite(
                table,
                hash,
                key,
                current.content_type(),
                text.as_bytes(),
                current.expires_at(),
            )?;
            return Ok(Added {
                value,
                version,
                previous: Some(previous),
            });
        }
    }

    pub fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        self.check_durable()?;
        let hash = self.shared.map.hash(key);
        let table = self.shared.map.write(hash);
        let current = table
            .get(hash, key)
            .filter(|current| current.live())
            .ok_or(StoreError::NotFound)?;
        check_version(current.version(), if_version)?;
        Ok(self.take_out(table, hash, key))
    }

    /// Moves `from`'s entry to `to`, with its type, value and expiry, under
    /// a new version, and hands back what it did (Redis's `RENAME`; with `replace` false, `RENAMENX`,
    /// which refuses a `to` that exists with [`StoreError::AlreadyExists`]).
    /// Both keys change under both shards' locks and the log keeps the move
    /// as one batch, so no reader and no recovery ever sees half of it.
    /// Renaming a key to itself changes nothing (and is refused without
    /// `replace`, as `RENAMENX k k` is in Redis).
    pub fn rename(&self, from: &str, to: &str, replace: bool) -> Result<Renamed, StoreError> {
        self.shared.limits.advertised().check_write(to, 0)?;
        self.check_durable()?;
        let now = now_ms();
        let map = &self.shared.map;
        let (from_hash, to_hash) = (map.hash(from), map.hash(to));
        let mut shards = map.write_many([from_hash, to_hash]);
        let source = shards
            .table(from_hash)
            .get(from_hash, from)
            .filter(|entry| entry.live_at(now))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if from == to {
            return if replace {
                Ok(Renamed {
                    version: source.version(),
                    source,
                    replaced: None,
                })
            } else {
                Err(StoreError::AlreadyExists)
            };
        }
        // An entry past its expiry that the sweep has not reclaimed counts
        // as absent, but its bytes and index place are given back here.
        let stale = shards.table(to_hash).get(to_hash, to).cloned();
        let target = stale.clone().filter(|entry| entry.live_at(now));
        if target.is_some() && !replace {
            return Err(StoreError::AlreadyExists);
        }
        let new_cost = charge(to, source.content_type(), source.value());
        let old_cost = cost(&source) + stale.as_ref().map_or(0, cost);
        if new_cost > old_cost {
            self.reserve(new_cost - old_cost)?;
        }
        let moved = source.moved(to, self.next_version());
        shards.table(from_hash).remove(from_hash, from);
        self.track(from, moved.expires_at(), None);
        shards.table(to_hash).insert(to_hash, moved.clone());
        self.track(
            to,
            stale.as_ref().and_then(Entry::expires_at),
            moved.expires_at(),
        );
        let version = moved.version();
        self.append_to_log(|| {
            Record::Batch(vec![
                Record::Remove {
                    key: from.to_string(),
                },
                Record::Put(moved),
            ])
        });
        drop(shards);
        if stale.is_some() && target.is_none() {
            self.count_expired(1);
        }
        if old_cost > new_cost {
            self.release(old_cost - new_cost);
        }
        Ok(Renamed {
            version,
            source,
            replaced: target,
        })
    }

    /// Removes every key of `keys` that holds an entry, all at one instant
    /// (Redis's `DEL` and `UNLINK` of many keys): the shards of all keys are
    /// locked together and the log keeps the removals as one batch, so no
    /// reader and no recovery sees some gone and others not. Hands back the
    /// removed entries, each key once.
    pub fn delete_many(&self, keys: &[String]) -> Result<Vec<Entry>, StoreError> {
        self.check_durable()?;
        let now = now_ms();
        let map = &self.shared.map;
        let mut keys: Vec<(&str, KeyHash)> = keys
            .iter()
            .map(|key| (key.as_str(), map.hash(key)))
            .collect();
        keys.sort_unstable_by_key(|(key, _)| *key);
        keys.dedup_by_key(|(key, _)| *key);
        let mut shards = map.write_many(keys.iter().map(|(_, hash)| *hash));
        let mut removed = Vec::new();
        let mut freed = 0;
        let mut stale = Vec::new();
        for (key, hash) in keys {
            let table = shards.table(hash);
            let Some(current) = table.get(hash, key) else {
                continue;
            };
            let live = current.live_at(now);
            self.track(key, current.expires_at(), None);
            let entry = table.remove(hash, key).expect("the entry was just read");
            freed += cost(&entry);
            // One past its expiry was absent already; it is reclaimed here
            // and logged, as the sweep would have, but not counted.
            if live {
                removed.push(entry);
            } else {
                stale.push(entry);
            }
        }
        if !removed.is_empty() || !stale.is_empty() {
            self.append_to_log(|| {
                Record::Batch(
                    removed
                        .iter()
                        .chain(&stale)
                        .map(|entry| Record::Remove {
                            key: entry.key().to_string(),
                        })
                        .collect(),
                )
            });
        }
        drop(shards);
        self.count_expired(stale.len());
        self.shared
            .counters
            .unversioned
            .fetch_add((removed.len() + stale.len()) as u64, Ordering::AcqRel);
        self.release(freed);
        Ok(removed)
    }

    /// Sets every key of `pairs` to its value, typed `content_type` and
    /// without expiry, each under a new version, all at one instant (Redis's
    /// `MSET`): the limits and the memory budget are checked for all before
    /// any is written, the shards of all keys are locked together and the
    /// log keeps the writes as one batch. A key given twice takes its last
    /// value. Hands back each key written with its new version and the live
    /// entry it replaced, if any.
    pub fn put_many<V: AsRef<[u8]>>(
        &self,
        pairs: Vec<(String, V)>,
        content_type: &str,
    ) -> Result<Vec<Written>, StoreError> {
        let pairs = last_value_of_each(pairs);
        for (key, value) in &pairs {
            self.check(key, content_type, value.as_ref())?;
        }
        self.check_durable()?;
        let now = now_ms();
        let map = &self.shared.map;
        let hashes: Vec<KeyHash> = pairs.iter().map(|(key, _)| map.hash(key)).collect();
        let mut shards = map.write_many(hashes.iter().copied());
        let new_cost: usize = pairs
            .iter()
            .map(|(key, value)| charge(key, content_type, value.as_ref()))
            .sum();
        let old_cost: usize = pairs
            .iter()
            .zip(&hashes)
            .filter_map(|((key, _), hash)| shards.table(*hash).get(*hash, key).map(cost))
            .sum();
        if new_cost > old_cost {
            self.reserve(new_cost - old_cost)?;
        }
        let mut written = Vec::with_capacity(pairs.len());
        let mut records = Vec::with_capacity(pairs.len());
        for ((key, value), hash) in pairs.into_iter().zip(hashes) {
            let version = self.next_version();
            let entry = Entry::new(&key, content_type, value.as_ref(), version, None);
            if self.log().is_some() {
                records.push(Record::Put(entry.clone()));
            }
            let previous = shards.table(hash).insert(hash, entry);
            self.track(&key, previous.as_ref().and_then(Entry::expires_at), None);
            if previous.as_ref().is_some_and(|old| !old.live_at(now)) {
                self.count_expired(1);
            }
            written.push(Written {
                key,
                version,
                previous: previous.filter(|old| old.live_at(now)),
            });
        }
        self.append_to_log(|| Record::Batch(records));
        drop(shards);
        if old_cost > new_cost {
            self.release(old_cost - new_cost);
        }
        Ok(written)
    }

    /// Takes back a create whose guest call failed: removes `key` if it still
    /// holds `version`. False when another write has changed the key since.
    pub fn revert_create(&self, key: &str, version: u64) -> bool {
        self.remove_if(key, |entry| entry.version() == version)
            .is_some()
    }

    /// Takes back an update whose guest call failed: puts `previous` back if
    /// the key still holds `version`. False when another write has changed
    /// the key since.
    pub fn revert_update(&self, key: &str, version: u64, previous: Entry) -> bool {
        let hash = self.shared.map.hash(key);
        let mut table = self.shared.map.write(hash);
        let Some(current) = table.get_mut(hash, key) else {
            return false;
        };
        if current.version() != version {
            return false;
        }
        // The previous entry fitted the budget before the update; it is
        // charged back as it was, without a check that could refuse it.
        self.charge_unchecked(cost(&previous));
        let expires_at = previous.expires_at();
        let undone = std::mem::replace(current, previous);
        self.track(key, undone.expires_at(), expires_at);
        self.append_to_log(|| Record::Put(current.clone()));
        drop(table);
        self.shared
            .counters
            .unversioned
            .fetch_add(1, Ordering::AcqRel);
        self.release(cost(&undone));
        true
    }

    /// Takes back a delete whose guest call failed: puts `entry` back, with
    /// its version, if the key is still free. False when another write has
    /// created the key since.
    pub fn revert_delete(&self, entry: Entry) -> bool {
        let key = entry.key();
        let hash = self.shared.map.hash(key);
        let mut table = self.shared.map.write(hash);
        if table.get(hash, key).is_some() {
            return false;
        }
        self.charge_unchecked(cost(&entry));
        self.track(key, None, entry.expires_at());
        self.append_to_log(|| Record::Put(entry.clone()));
        table.insert(hash, entry);
        drop(table);
        self.shared
            .counters
            .unversioned
            .fetch_add(1, Ordering::AcqRel);
        true
    }

    fn remove_if(&self, key: &str, condition: impl FnOnce(&Entry) -> bool) -> Option<Entry> {
        let hash = self.shared.map.hash(key);
        let table = self.shared.map.write(hash);
        let current = table.get(hash, key)?;
        if !condition(current) {
            return None;
        }
        Some(self.take_out(table, hash, key))
    }

    /// Puts a new entry, under a new version, in place of the one under
    /// `key`, which the caller found in `table` (its shard, locked): claims
    /// only the growth of the budget (the replaced entry's bytes are
    /// credited, so a write that keeps or shrinks a value succeeds in a full
    /// store), indexes the expiry and logs the entry under the lock, then
    /// lets the lock go and gives back any shrink. Hands back the new
    /// version and the entry replaced.
    fn overwrite(
        &self,
        mut table: RwLockWriteGuard<'_, Table<Entry>>,
        hash: KeyHash,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<(u64, Entry), StoreError> {
        let current = table
            .get_mut(hash, key)
            .expect("the caller found the entry");
        let old_cost = cost(current);
        let new_cost = charge(key, content_type, value);
        if new_cost > old_cost {
            self.reserve(new_cost - old_cost)?;
        }
        let version = self.next_version();
        let new = Entry::new(key, content_type, value, version, expires_at);
        let old = std::mem::replace(current, new);
        self.track(key, old.expires_at(), expires_at);
        self.append_to_log(|| Record::Put(current.clone()));
        drop(table);
        if old_cost > new_cost {
            self.release(old_cost - new_cost);
        }
        Ok((version, old))
    }

    /// Removes `key`, which the caller found in `table` (its shard, locked):
    /// logs the removal and unindexes the expiry under the lock, then lets
    /// the lock go and gives the entry's bytes back.
    fn take_out(
        &self,
        mut table: RwLockWriteGuard<'_, Table<Entry>>,
        hash: KeyHash,
        key: &str,
    ) -> Entry {
        self.append_to_log(|| Record::Remove {
            key: key.to_string(),
        });
        let entry = table.remove(hash, key).expect("the caller found the entry");
        self.track(key, entry.expires_at(), None);
        drop(table);
        self.shared
            .counters
            .unversioned
            .fetch_add(1, Ordering::AcqRel);
        self.release(cost(&entry));
        entry
    }

    /// Removes `key` while recovering from the log, before the store serves;
    /// not logged again.
    pub fn forget(&self, key: &str) {
        let hash = self.shared.map.hash(key);
        let removed = self.shared.map.write(hash).remove(hash, key);
        if let Some(entry) = removed {
            self.track(key, entry.expires_at(), None);
            self.shared
                .counters
                .unversioned
                .fetch_add(1, Ordering::AcqRel);
            self.release(cost(&entry));
        }
    }

    /// From now on, appends every change to `log`. Called once, after
    /// recovery and before the store serves.
    pub fn attach_log(&self, log: Log) {
        if self.shared.log.set(log).is_err() {
            tracing::error!("the store has a log already; the second one is ignored");
        }
    }

    /// The write-ahead log, with `--data-dir`.
    pub fn log(&self) -> Option<&Log> {
        self.shared.log.get()
    }

    /// Waits until every change made so far is durable in the log (at once
    /// without a log): what a reply waits for after its writes. Fails, with
    /// the reason, while the log cannot be written.
    pub async fn durable(&self) -> Result<(), StoreError> {
        match self.log() {
            Some(log) => log
                .durable(log.appended())
                .await
                .map_err(|reason| StoreError::NotDurable(reason.to_string())),
            None => Ok(()),
        }
    }

    /// Refuses a write while the log cannot be written: it could not be
    /// made durable, so it is not made. Reverts are never refused.
    fn check_durable(&self) -> Result<(), StoreError> {
        match self.log().and_then(Log::failure) {
            Some(reason) => Err(StoreError::NotDurable(reason.to_string())),
            None => Ok(()),
        }
    }

    /// Appends a change to the log, if there is one; `make` runs only then.
    fn append_to_log(&self, make: impl FnOnce() -> Record) {
        if let Some(log) = self.shared.log.get() {
            log.append(make());
        }
    }

    /// Up to `limit` keys (clamped to the page size) that start with `prefix`
    /// and sort after `cursor`, in ascending order.
    ///
    /// The map is unordered, so this scans every key and keeps the smallest
    /// `limit + 1` in a bounded heap: O(n log limit) time, O(limit) memory.
    pub fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> KeyPage {
        let limit = limit.clamp(1, self.shared.limits.max_page_size);
        let now = now_ms();
        let mut smallest: BinaryHeap<String> = BinaryHeap::with_capacity(limit + 2);
        self.shared.map.for_each(|entry| {
            let key = entry.key();
            if !key.starts_with(prefix)
                || cursor.is_some_and(|after| key <= after)
                || !entry.live_at(now)
            {
                return;
            }
            if smallest.len() <= limit {
                smallest.push(key.to_string());
            } else if smallest
                .peek()
                .is_some_and(|largest| key < largest.as_str())
            {
                smallest.pop();
                smallest.push(key.to_string());
            }
        });
        KeyPage::from_sorted(smallest.into_sorted_vec(), limit)
    }

    /// The page of the hash-order walk at `cursor` (Redis's `SCAN`, see
    /// [`kvs_model::scan`]), about `count` keys, clamped to the page size.
    /// Two passes over every key: O(n log count) time, O(count) memory.
    pub fn scan(&self, cursor: u64, count: usize) -> ScanPage {
        let count = count.clamp(1, self.shared.limits.max_page_size);
        let now = now_ms();
        kvs_model::scan::page(cursor, count, |visit| {
            self.shared.map.for_each(|entry| {
                if entry.live_at(now) {
                    visit(entry.key());
                }
            });
        })
    }

    /// Sets (`Some`) or clears (`None`) the expiry of `key` if `condition`
    /// holds (and, with `if_version`, the key holds that version). The value
    /// and its version stay. An instant already past deletes the key, as
    /// Redis does.
    pub fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<Expired, StoreError> {
        self.check_durable()?;
        let now = now_ms();
        let hash = self.shared.map.hash(key);
        let mut table = self.shared.map.write(hash);
        let current = table
            .get_mut(hash, key)
            .filter(|current| current.live_at(now))
            .ok_or(StoreError::NotFound)?;
        check_version(current.version(), if_version)?;
        if !condition.allows(current.expires_at(), at) {
            return Ok(Expired::Unchanged);
        }
        if at.is_some_and(|at| at <= now) {
            let version = current.version();
            drop(table);
            return Ok(
                match self.remove_if(key, |entry| entry.version() == version) {
                    Some(_) => Expired::Removed,
                    None => Expired::Unchanged,
                },
            );
        }
        if current.expires_at() == at {
            // Persisting a key without an expiry changes nothing; setting
            // the same instant again counts as set, as in Redis.
            return Ok(if at.is_some() {
                Expired::Set
            } else {
                Expired::Unchanged
            });
        }
        let old = current.set_expires_at(at);
        self.track(key, old, at);
        self.append_to_log(|| Record::Put(current.clone()));
        drop(table);
        self.shared
            .counters
            .unversioned
            .fetch_add(1, Ordering::AcqRel);
        Ok(Expired::Set)
    }

    /// Removes every entry whose expiry has passed, and returns how many:
    /// the active sweep, which reclaims expired entries nobody reads.
    pub fn sweep_expired(&self) -> usize {
        let now = now_ms();
        let due: Vec<(u64, String)> = {
            let expiring = self.expiring();
            expiring
                .iter()
                .take_while(|(at, _)| *at <= now)
                .cloned()
                .collect()
        };
        let removed = due
            .into_iter()
            .filter(|(at, key)| {
                self.remove_if(key, |entry| entry.expires_at() == Some(*at))
                    .is_some()
            })
            .count();
        self.count_expired(removed);
        removed
    }

    /// Counts entries removed because they expired: by the sweep, or
    /// replaced or deleted by a write before the sweep came to them.
    fn count_expired(&self, entries: usize) {
        self.shared
            .counters
            .expired
            .fetch_add(entries as u64, Ordering::Relaxed);
    }

    fn expiring(&self) -> std::sync::MutexGuard<'_, BTreeSet<(u64, String)>> {
        self.shared
            .expiring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the expiry index in step with an entry whose expiry went from
    /// `old` to `new` (`None`: no entry, or no expiry). Called under the
    /// key's lock.
    fn track(&self, key: &str, old: Option<u64>, new: Option<u64>) {
        if old == new {
            return;
        }
        let mut expiring = self.expiring();
        if let Some(old) = old {
            expiring.remove(&(old, key.to_string()));
        }
        if let Some(new) = new {
            expiring.insert((new, key.to_string()));
        }
    }

    fn check(&self, key: &str, content_type: &str, value: &[u8]) -> Result<(), StoreError> {
        self.shared.limits.check_entry(key, content_type, value)
    }

    /// Claims `bytes` of the budget, or refuses without keeping anything
    /// claimed. One atomic add, not a compare-and-swap loop: under contention
    /// that is what keeps inserts cheap. A claim that overshoots is undone at
    /// once; meanwhile a concurrent write near the limit may be refused.
    fn reserve(&self, bytes: usize) -> Result<(), StoreError> {
        let max = self.shared.limits.max_store_bytes;
        let before = self
            .shared
            .counters
            .used_bytes
            .fetch_add(bytes, Ordering::AcqRel);
        if before.checked_add(bytes).is_some_and(|total| total <= max) {
            return Ok(());
        }
        self.release(bytes);
        Err(StoreError::StoreFull)
    }

    fn charge_unchecked(&self, bytes: usize) {
        self.shared
            .counters
            .used_bytes
            .fetch_add(bytes, Ordering::AcqRel);
    }

    fn release(&self, bytes: usize) {
        self.shared
            .counters
            .used_bytes
            .fetch_sub(bytes, Ordering::AcqRel);
    }

    fn next_version(&self) -> u64 {
        self.shared
            .counters
            .last_version
            .fetch_add(1, Ordering::AcqRel)
            + 1
    }
}

/// `pairs` sorted by key, each key once with the last value it was given
/// (Redis's `MSET k 1 k 2` sets 2): reversed, then sorted stably, a key's
/// last value comes first among its own, and dedup keeps it.
pub fn last_value_of_each<V>(mut pairs: Vec<(String, V)>) -> Vec<(String, V)> {
    pairs.reverse();
    pairs.sort_by(|(a, _), (b, _)| a.cmp(b));
    pairs.dedup_by(|(later, _), (kept, _)| later == kept);
    pairs
}

/// What an entry costs against the memory budget.
fn charge(key: &str, content_type: &str, value: &[u8]) -> usize {
    key.len() + content_type.len() + value.len() + ENTRY_OVERHEAD
}

/// What `entry` is charged.
fn cost(entry: &Entry) -> usize {
    charge(entry.key(), entry.content_type(), entry.value())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn text(value: &str) -> Bytes {
        Bytes::copy_from_slice(value.as_bytes())
    }

    #[test]
    fn create_never_overwrites_and_update_never_creates() {
        let store = Store::default();
        assert_eq!(
            store.update("k", "t", text("x"), None, Expiry::Clear),
            Err(StoreError::NotFound)
        );
        let v1 = store.create("k", "t", text("a"), None).unwrap();
        assert_eq!(
            store.create("k", "t", text("b"), None),
            Err(StoreError::AlreadyExists)
        );
        assert_eq!(store.get("k").unwrap().value(), text("a"));
        let v2 = store
            .update("k", "u", text("c"), Some(v1), Expiry::Clear)
            .unwrap();
        assert!(v2 > v1);
        let entry = store.get("k").unwrap();
        assert_eq!(
            (entry.content_type(), entry.value(), entry.version()),
            ("u", &b"c"[..], v2)
        );
    }

    #[test]
    fn conditional_writes_check_the_version() {
        let store = Store::default();
        let v1 = store.create("k", "t", text("a"), None).unwrap();
        let v2 = store
            .update("k", "t", text("b"), None, Expiry::Clear)
            .unwrap();
        assert_eq!(
            store.update("k", "t", text("c"), Some(v1), Expiry::Clear),
            Err(StoreError::VersionMismatch { current: v2 })
        );
        assert_eq!(
            store.delete("k", Some(v1)),
            Err(StoreError::VersionMismatch { current: v2 })
        );
        assert_eq!(store.delete("k", Some(v2)).unwrap().value(), text("b"));
        assert_eq!(store.delete("k", None), Err(StoreError::NotFound));
    }

    #[test]
    fn versions_are_never_reused_across_recreation() {
        let store = Store::default();
        let first = store.create("k", "t", text("a"), None).unwrap();
        store.delete("k", None).unwrap();
        let second = store.create("k", "t", text("a"), None).unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn limits_refuse_bad_keys_and_large_values() {
        let store = Store::new(Limits {
            max_key_bytes: 4,
            max_value_bytes: 8,
            ..Limits::default()
        });
        assert!(matches!(
            store.create("", "t", text("a"), None),
            Err(StoreError::InvalidKey(_))
        ));
        assert_eq!(
            store.create("12345", "t", text("a"), None),
            Err(StoreError::TooLarge { limit: 4 })
        );
        assert_eq!(
            store.create("k", "t", text("123456789"), None),
            Err(StoreError::TooLarge { limit: 8 })
        );
    }

    #[test]
    fn the_memory_budget_refuses_writes_and_frees_on_delete() {
        let entry_cost = charge("k0", "t", &[0; 100]);
        let store = Store::new(Limits {
            max_store_bytes: 3 * entry_cost,
            ..Limits::default()
        });
        for i in 0..3 {
            store
                .create(&format!("k{i}"), "t", Bytes::from(vec![0; 100]), None)
                .unwrap();
        }
        assert_eq!(
            store.create("k3", "t", Bytes::from(vec![0; 100]), None),
            Err(StoreError::StoreFull)
        );
        // A growing update is refused too, and leaves the old value intact.
        assert_eq!(
            store.update("k0", "t", Bytes::from(vec![1; 200]), None, Expiry::Clear),
            Err(StoreError::StoreFull)
        );
        assert_eq!(store.get("k0").unwrap().value(), Bytes::from(vec![0; 100]));
        store.delete("k1", None).unwrap();
        store
            .create("k3", "t", Bytes::from(vec![0; 100]), None)
            .unwrap();
        assert_eq!(store.usage().bytes, 3 * entry_cost);
        for i in [0, 2, 3] {
            store.delete(&format!("k{i}"), None).unwrap();
        }
        assert_eq!(store.usage(), Usage { keys: 0, bytes: 0 });
    }

    #[test]
    fn concurrent_adds_are_all_counted_and_keep_the_entry_s_type_and_expiry() {
        let store = Store::default();
        let expires_at = now_ms() + 100_000;
        store
            .create("n", "text/plain", text("0"), Some(expires_at))
            .unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        store.add("n", 1, "ignored").unwrap();
                        store.add("fresh", -1, "application/octet-stream").unwrap();
                    }
                });
            }
        });
        let n = store.get("n").unwrap();
        assert_eq!(n.value(), text("8000"));
        assert_eq!(n.content_type(), "text/plain");
        assert_eq!(n.expires_at(), Some(expires_at));
        let fresh = store.get("fresh").unwrap();
        assert_eq!(fresh.value(), text("-8000"));
        assert_eq!(fresh.content_type(), "application/octet-stream");
        assert_eq!(fresh.expires_at(), None);
        let used = store.usage().bytes;
        assert_eq!(
            used,
            charge("n", "text/plain", b"8000")
                + charge("fresh", "application/octet-stream", b"-8000")
        );
    }

    #[test]
    fn an_add_that_cannot_be_made_changes_nothing_and_a_failed_one_can_be_taken_back() {
        let store = Store::default();
        let word = store.create("word", "t", text("ten"), None).unwrap();
        assert_eq!(store.add("word", 1, "t"), Err(StoreError::NotAnInteger));
        let max = store
            .create("max", "t", text(&i64::MAX.to_string()), None)
            .unwrap();
        assert_eq!(store.add("max", 1, "t"), Err(StoreError::Overflow));
        assert_eq!(store.get("word").unwrap().version(), word);
        assert_eq!(store.get("max").unwrap().version(), max);
        let added = store.add("max", -2, "t").unwrap();
        assert_eq!(added.value, i64::MAX - 2);
        let previous = added.previous.unwrap();
        assert_eq!(previous.version(), max);
        assert!(store.revert_update("max", added.version, previous));
        assert_eq!(store.get("max").unwrap().version(), max);
        let created = store.add("new", 3, "t").unwrap();
        assert_eq!((created.value, created.previous), (3, None));
        assert!(store.revert_create("new", created.version));
        assert_eq!(store.get("new"), Err(StoreError::NotFound));
    }

    #[test]
    fn updates_that_keep_or_shrink_a_value_succeed_in_a_full_store() {
        let big = charge("big", "t", &[0; 2000]);
        let small = charge("small", "t", &[0; 1]);
        let store = Store::new(Limits {
            max_store_bytes: big + small,
            ..Limits::default()
        });
        store
            .create("big", "t", Bytes::from(vec![0; 2000]), None)
            .unwrap();
        store
            .create("small", "t", Bytes::from(vec![0; 1]), None)
            .unwrap();
        assert_eq!(store.usage().bytes, big + small, "the store is full");
        store
            .update("small", "t", text("x"), None, Expiry::Clear)
            .unwrap();
        store
            .update("big", "t", text("y"), None, Expiry::Clear)
            .unwrap();
        assert_eq!(store.usage().bytes, 2 * small - "small".len() + "big".len());
        // The bytes freed by the shrink are there for a growing update.
        store
            .update(
                "small",
                "t",
                Bytes::from(vec![0; 1500]),
                None,
                Expiry::Clear,
            )
            .unwrap();
    }

    #[test]
    fn reverted_writes_leave_the_store_as_before() {
        let store = Store::default();
        let v1 = store.create("k", "a", text("one"), None).unwrap();
        let before = (store.get("k").unwrap(), store.usage());

        let (v2, previous) = store
            .replace("k", "b", text("two!"), None, Expiry::Clear)
            .unwrap();
        assert!(store.revert_update("k", v2, previous));
        assert_eq!((store.get("k").unwrap(), store.usage()), before);

        let removed = store.delete("k", None).unwrap();
        assert!(store.revert_delete(removed));
        assert_eq!((store.get("k").unwrap(), store.usage()), before);
        assert_eq!(store.get("k").unwrap().version(), v1);

        let v3 = store.create("fresh", "t", text("x"), None).unwrap();
        assert!(store.revert_create("fresh", v3));
        assert_eq!(store.get("fresh"), Err(StoreError::NotFound));
        assert_eq!(store.usage(), before.1);

        // A revert never undoes someone else's later write.
        let (v4, previous) = store
            .replace("k", "b", text("mine"), None, Expiry::Clear)
            .unwrap();
        let theirs = store
            .update("k", "c", text("theirs"), None, Expiry::Clear)
            .unwrap();
        assert!(!store.revert_update("k", v4, previous));
        assert_eq!(store.get("k").unwrap().version(), theirs);
        let removed = store.delete("k", None).unwrap();
        store.create("k", "d", text("recreated"), None).unwrap();
        assert!(!store.revert_delete(removed));
        assert_eq!(store.get("k").unwrap().value(), text("recreated"));
        assert!(!store.revert_create("k", v3));
        assert_eq!(store.get("k").unwrap().value(), text("recreated"));
    }

    #[test]
    fn list_pages_through_keys_in_order() {
        let store = Store::default();
        for key in ["b2", "a1", "b1", "b3", "c1"] {
            store.create(key, "t", text("v"), None).unwrap();
        }
        let page = store.list("b", None, 2);
        assert_eq!(page.keys, ["b1", "b2"]);
        assert_eq!(page.next_cursor.as_deref(), Some("b2"));
        let page = store.list("b", page.next_cursor.as_deref(), 2);
        assert_eq!(page.keys, ["b3"]);
        assert_eq!(page.next_cursor, None);
        assert_eq!(store.list("", None, 100).keys.len(), 5);
    }

    #[test]
    fn rename_moves_the_entry_with_its_expiry_under_a_new_version() {
        let store = Store::new(Limits::default());
        let later = now_ms() + 60_000;
        let v1 = store
            .create("a", "text/plain", text("one"), Some(later))
            .unwrap();
        let used = store.usage().bytes;
        let renamed = store.rename("a", "b", true).unwrap();
        let v2 = renamed.version;
        assert!(v2 > v1);
        assert_eq!(renamed.source.version(), v1);
        assert_eq!(renamed.replaced, None);
        assert_eq!(store.get("a"), Err(StoreError::NotFound));
        let moved = store.get("b").unwrap();
        assert_eq!(
            (moved.value(), moved.version(), moved.expires_at()),
            (&b"one"[..], v2, Some(later))
        );
        assert_eq!(store.usage().bytes, used, "same key length, same bytes");
        assert_eq!(store.stats().expiring, 1);

        store
            .create("c", "text/plain", text("three"), None)
            .unwrap();
        assert_eq!(
            store.rename("b", "c", false),
            Err(StoreError::AlreadyExists)
        );
        assert_eq!(store.get("b").unwrap().value(), text("one"));
        let renamed = store.rename("b", "c", true).unwrap();
        assert_eq!(renamed.replaced.unwrap().value(), text("three"));
        assert_eq!(store.usage().keys, 1);
        assert_eq!(
            store.rename("missing", "x", true),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.rename("c", "c", false),
            Err(StoreError::AlreadyExists)
        );
        assert!(store.rename("c", "c", true).is_ok());
        assert_eq!(store.get("c").unwrap().value(), text("one"));
    }

    #[test]
    fn concurrent_renames_never_lose_or_duplicate_an_entry() {
        // Eight tokens hop between 32 slots by RENAMENX from eight threads:
        // at the end every token is in exactly one slot.
        let store = Store::new(Limits::default());
        for token in 0..8 {
            store
                .create(
                    &format!("slot:{token}"),
                    "text/plain",
                    text(&token.to_string()),
                    None,
                )
                .unwrap();
        }
        std::thread::scope(|scope| {
            for thread in 0..8u64 {
                let store = store.clone();
                scope.spawn(move || {
                    let mut state = thread.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    for _ in 0..20_000 {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        let (from, to) = (state % 32, (state >> 8) % 32);
                        let _ = store.rename(&format!("slot:{from}"), &format!("slot:{to}"), false);
                    }
                });
            }
        });
        let mut tokens: Vec<String> = store
            .entries()
            .into_iter()
            .map(|entry| String::from_utf8(entry.value().to_vec()).unwrap())
            .collect();
        tokens.sort();
        assert_eq!(tokens, (0..8).map(|t| t.to_string()).collect::<Vec<_>>());
        assert_eq!(store.usage().keys, 8);
    }

    #[test]
    fn delete_many_removes_the_keys_present_once_each() {
        let store = Store::new(Limits::default());
        for key in ["a", "b", "c"] {
            store.create(key, "t", text(key), None).unwrap();
        }
        let keys = ["a", "missing", "c", "a"].map(String::from);
        let removed = store.delete_many(&keys).unwrap();
        let mut gone: Vec<&str> = removed.iter().map(Entry::key).collect();
        gone.sort();
        assert_eq!(gone, ["a", "c"]);
        assert_eq!(store.usage().keys, 1);
        assert_eq!(store.usage().bytes, charge("b", "t", b"b"));
        assert!(store.delete_many(&keys).unwrap().is_empty());
    }

    #[test]
    fn put_many_writes_all_with_new_versions_or_none() {
        let store = Store::new(Limits {
            max_store_bytes: 3 * (ENTRY_OVERHEAD + 64),
            ..Limits::default()
        });
        let old = store
            .create("a", "text/plain", text("old"), Some(now_ms() + 60_000))
            .unwrap();
        let pairs = vec![
            ("a".to_string(), text("1")),
            ("b".to_string(), text("2")),
            ("a".to_string(), text("3")),
        ];
        let mut written = store.put_many(pairs, "application/octet-stream").unwrap();
        written.sort_by(|x, y| x.key.cmp(&y.key));
        assert_eq!(written.len(), 2, "a key given twice is written once");
        assert_eq!(written[0].previous.as_ref().unwrap().version(), old);
        assert!(written[1].previous.is_none());
        let a = store.get("a").unwrap();
        assert_eq!(
            (a.value(), a.expires_at()),
            (&b"3"[..], None),
            "the last value wins"
        );
        assert_eq!(a.content_type(), "application/octet-stream");
        assert!(written[0].version > old && written[1].version > old);
        assert_eq!(store.stats().expiring, 0);

        // Over the budget: nothing is written, not even the keys that fit.
        let big = Bytes::from(vec![b'x'; 200]);
        let pairs = vec![("c".to_string(), text("fits")), ("d".to_string(), big)];
        assert_eq!(store.put_many(pairs, "t"), Err(StoreError::StoreFull));
        assert_eq!(store.get("c"), Err(StoreError::NotFound));
        let pairs = vec![("e".to_string(), text("ok")), (String::new(), text("x"))];
        assert!(matches!(
            store.put_many(pairs, "t"),
            Err(StoreError::InvalidKey(_))
        ));
        assert_eq!(store.get("e"), Err(StoreError::NotFound));
    }

    #[test]
    fn multi_key_writes_are_seen_whole_or_not_at_all() {
        // Writers set 16 keys to one round number with put_many; a taker
        // removes all 16 with delete_many. Were either of them key by key,
        // the taker would sometimes get part of the keys or mixed rounds.
        let store = Store::new(Limits::default());
        let keys: Vec<String> = (0..16).map(|i| format!("k{i:02}")).collect();
        let taken = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..2u32)
                .map(|writer| {
                    let (store, keys) = (store.clone(), keys.clone());
                    scope.spawn(move || {
                        for round in 0..5_000u32 {
                            let value = Bytes::from(format!("{writer}:{round}"));
                            let pairs = keys.iter().map(|key| (key.clone(), value.clone()));
                            store.put_many(pairs.collect(), "t").unwrap();
                        }
                    })
                })
                .collect();
            let mut taken = 0;
            while writers.iter().any(|writer| !writer.is_finished()) {
                let removed = store.delete_many(&keys).unwrap();
                if removed.is_empty() {
                    continue;
                }
                assert_eq!(removed.len(), 16, "part of a write");
                let first = removed[0].value();
                assert!(
                    removed.iter().all(|entry| entry.value() == first),
                    "two writes mixed"
                );
                taken += 1;
            }
            taken
        });
        assert!(taken > 0, "the taker never ran alongside the writers");
        assert_eq!(
            store.usage().bytes,
            store.entries().iter().map(cost).sum::<usize>()
        );
    }

    #[test]
    fn concurrent_creates_of_one_key_have_one_winner() {
        let store = Store::default();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let store = store.clone();
                    scope.spawn(move || {
                        store
                            .create("shared", "t", Bytes::from(vec![i; 10]), None)
                            .is_ok() as usize
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(winners, 1);
        assert_eq!(store.usage().keys, 1);
    }
}
