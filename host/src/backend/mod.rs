//! Where the data lives: the store in this process ([`crate::store`], the
//! default), or a Redis server or cluster that many kvs hosts share
//! ([`redis`], `--store redis://...`).
//!
//! [`Backend`] is the one type the guest's store imports call, so the guest
//! never knows which it is. Every operation is async: on Redis it is a
//! network round trip, which must never block a runtime thread; on memory it
//! completes at once.

pub mod redis;

use crate::store::{
    Added, Entry, ExpireCondition, Expired, Expiry, KeyPage, Limits, Renamed, Store, StoreError,
    Written,
};
use bytes::Bytes;
use kvs_model::{Entries, EntryRef, Keys, ScanPage, StoreStats, Values};

/// A handle to the backend; cheap to clone.
#[derive(Clone)]
pub enum Backend {
    Memory(Store),
    Redis(redis::RedisStore),
}

impl Backend {
    /// The in-memory store, which only it has (snapshots, the log, the
    /// native ceiling work on it alone).
    pub fn memory(&self) -> Option<&Store> {
        match self {
            Self::Memory(store) => Some(store),
            Self::Redis(_) => None,
        }
    }

    pub fn limits(&self) -> Limits {
        match self {
            Self::Memory(store) => store.limits(),
            Self::Redis(store) => store.limits(),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Entry, StoreError> {
        match self {
            Self::Memory(store) => store.get(key),
            Self::Redis(store) => store.get(key).await,
        }
    }

    /// What `read` makes of the live entry under `key`: in memory under its
    /// shard's lock, with no reference count touched (see [`Store::read`]);
    /// on Redis, of the entry fetched.
    pub async fn read<R>(
        &self,
        key: &str,
        read: impl FnOnce(&Entry) -> R,
    ) -> Result<R, StoreError> {
        match self {
            Self::Memory(store) => store.read(key, read),
            Self::Redis(store) => store.get(key).await.map(|entry| read(&entry)),
        }
    }

    /// Calls `each` with the live entry under every key, in order, or with
    /// `None` where a key has none; each read on its own (a Redis backend
    /// reads them one after another). Any other failure ends the walk.
    async fn read_each(
        &self,
        keys: &Keys,
        mut each: impl FnMut(Option<&Entry>),
    ) -> Result<(), StoreError> {
        for key in keys.unpacked()? {
            match self.read(key, |entry| each(Some(entry))).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => each(None),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The values under `keys`, in order, packed.
    pub async fn get_values(&self, keys: &Keys) -> Result<Values, StoreError> {
        let mut values = Values::with_capacity(keys.len());
        self.read_each(keys, |entry| values.push(entry.map(Entry::value)))
            .await?;
        Ok(values)
    }

    /// The entries under `keys`, in order, packed.
    pub async fn get_entries(&self, keys: &Keys) -> Result<Entries, StoreError> {
        let mut entries = Entries::with_capacity(keys.len());
        self.read_each(keys, |entry| entries.push(entry.map(EntryRef::from)))
            .await?;
        Ok(entries)
    }

    pub async fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        match self {
            Self::Memory(store) => store.create(key, content_type, value, expires_at),
            Self::Redis(store) => store.create(key, content_type, value, expires_at).await,
        }
    }

    /// Updates `key`; with `keep_previous`, also hands back the entry it
    /// replaced (for a journal that may have to put it back).
    pub async fn replace(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
        keep_previous: bool,
    ) -> Result<(u64, Option<Entry>), StoreError> {
        match self {
            Self::Memory(store) => store
                .replace(key, content_type, value, if_version, expiry)
                .map(|(version, previous)| (version, keep_previous.then_some(previous))),
            Self::Redis(store) => {
                store
                    .replace(key, content_type, value, if_version, expiry, keep_previous)
                    .await
            }
        }
    }

    pub async fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        match self {
            Self::Memory(store) => store.delete(key, if_version),
            Self::Redis(store) => store.delete(key, if_version).await,
        }
    }

    pub async fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<Expired, StoreError> {
        match self {
            Self::Memory(store) => store.expire(key, at, condition, if_version),
            Self::Redis(store) => store.expire(key, at, condition, if_version).await,
        }
    }

    /// Adds `delta` to the integer under `key`; with `keep_previous`, the
    /// result also carries the entry it replaced (for a journal).
    pub async fn add(
        &self,
        key: &str,
        delta: i64,
        content_type: &str,
        keep_previous: bool,
    ) -> Result<Added, StoreError> {
        match self {
            Self::Memory(store) => store.add(key, delta, content_type).map(|mut added| {
                if !keep_previous {
                    added.previous = None;
                }
                added
            }),
            Self::Redis(store) => store.add(key, delta, content_type, keep_previous).await,
        }
    }

    pub async fn rename(&self, from: &str, to: &str, replace: bool) -> Result<Renamed, StoreError> {
        match self {
            Self::Memory(store) => store.rename(from, to, replace),
            Self::Redis(store) => store.rename(from, to, replace).await,
        }
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<Vec<Entry>, StoreError> {
        match self {
            Self::Memory(store) => store.delete_many(keys),
            Self::Redis(store) => store.delete_many(keys).await,
        }
    }

    pub async fn put_many(
        &self,
        pairs: Vec<(String, Bytes)>,
        content_type: &str,
    ) -> Result<Vec<Written>, StoreError> {
        match self {
            Self::Memory(store) => store.put_many(pairs, content_type),
            Self::Redis(store) => store.put_many(pairs, content_type).await,
        }
    }

    pub async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.list(prefix, cursor, limit)),
            Self::Redis(store) => store.list(prefix, cursor, limit).await,
        }
    }

    pub async fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.scan(cursor, count)),
            Self::Redis(store) => store.scan(cursor, count).await,
        }
    }

    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.stats()),
            Self::Redis(store) => store.stats().await,
        }
    }

    /// Takes back a create of a failed call, unless the key changed since.
    pub async fn revert_create(&self, key: &str, version: u64) -> bool {
        match self {
            Self::Memory(store) => store.revert_create(key, version),
            Self::Redis(store) => store.restore(key, Some(version), None).await,
        }
    }

    /// Puts back what an update of a failed call replaced, unless the key
    /// changed since.
    pub async fn revert_update(&self, key: &str, version: u64, previous: Entry) -> bool {
        match self {
            Self::Memory(store) => store.revert_update(key, version, previous),
            Self::Redis(store) => store.restore(key, Some(version), Some(&previous)).await,
        }
    }

    /// Puts back what a delete of a failed call removed, unless the key
    /// was written since.
    pub async fn revert_delete(&self, entry: Entry) -> bool {
        match self {
            Self::Memory(store) => store.revert_delete(entry),
            Self::Redis(store) => store.restore(entry.key(), None, Some(&entry)).await,
        }
    }

    /// What the admin `/status` says about where the data lives.
    pub fn status(&self) -> serde_json::Value {
        match self {
            Self::Memory(_) => serde_json::json!({ "backend": "memory" }),
            Self::Redis(store) => {
                let health = store.health().report();
                serde_json::json!({
                    "backend": store.describe(),
                    "up": health.up,
                    "operations": health.operations,
                    "failures": health.failures,
                    "last_round_trip_ms": health.last_round_trip.as_secs_f64() * 1e3,
                    "mean_round_trip_ms": health.mean_round_trip.as_secs_f64() * 1e3,
                    "last_failure": health.last_failure,
                })
            }
        }
    }

    /// Waits until every write so far is as durable as configured (the
    /// in-memory store's log); Redis's durability is its own.
    pub async fn durable(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => store.durable().await,
            Self::Redis(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Limits, Store};

    /// A packed read answers every key in order, missing ones as `None`;
    /// a packing whose lengths do not fit its text is refused whole.
    #[tokio::test]
    async fn packed_reads_answer_each_key_and_refuse_a_malformed_packing() {
        let backend = Backend::Memory(Store::new(Limits::default()));
        backend
            .create("ключ", "text/plain", b"1", None)
            .await
            .unwrap();
        let keys: Keys = ["ключ", "nope", "ключ"].into_iter().collect();
        let values = backend.get_values(&keys).await.unwrap();
        let read: Vec<Option<&[u8]>> = values.iter().collect();
        assert_eq!(read, [Some(&b"1"[..]), None, Some(&b"1"[..])]);
        let entries = backend.get_entries(&keys).await.unwrap();
        let types: Vec<Option<&str>> = entries
            .iter()
            .map(|entry| entry.map(|entry| entry.content_type))
            .collect();
        assert_eq!(types, [Some("text/plain"), None, Some("text/plain")]);

        let malformed = Keys {
            text: "ключ".into(),
            lengths: vec![3, 5],
        };
        assert!(matches!(
            backend.get_values(&malformed).await,
            Err(StoreError::InvalidKey(_))
        ));
        assert!(matches!(
            backend.get_entries(&malformed).await,
            Err(StoreError::InvalidKey(_))
        ));
    }
}
