//! The guest's storage seam: everything the protocols need from a store.
//!
//! The routing and protocol code is written against [`Storage`] so that the
//! same logic runs over the host's store (the normal component), over a
//! directory of files (the portable component for stock `wasmtime serve`), and
//! over [`MemoryStorage`] in native unit tests.
//!
//! Expiry instants are milliseconds since the Unix epoch ([`now_ms`]).
//!
//! The model the trait speaks (entries, errors, limits, pages) is the
//! `kvs-model` crate's, shared with the host.
//!
//! - [`modify`]: a read-modify-write made atomic over any [`Storage`] (a
//!   compare-and-swap loop): `APPEND`, `INCRBYFLOAT`, and [`Storage::add`]
//!   where a store has no add of its own.
//! - [`memory`]: [`MemoryStorage`], for tests.
//! - [`files`]: [`FileStorage`], one file per entry in a directory.

pub mod files;
pub mod memory;

pub use files::FileStorage;
pub use memory::MemoryStorage;

pub use kvs_model::page::{DEFAULT_PAGE_SIZE, KeyPage, parse_page_limit};
pub use kvs_model::scan::ScanPage;
pub use kvs_model::store::{
    Entries, Entry, EntryRef, ExpireCondition, Expiry, Keys, Limits, Pairs, StoreError, StoreStats,
    Values, check_version,
};

/// Now, in milliseconds since the Unix epoch: the clock expiry is kept in.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The operations of a key-value store, each atomic. See `wit/kvs.wit` for
/// the exact guarantees under concurrency.
pub trait Storage {
    fn get(&self, key: &str) -> Result<Entry, StoreError>;
    /// The values under `keys`, in order, `None` where a key has no entry;
    /// each read at one instant, not all at the same one. The host's store
    /// reads them in one call (one crossing of the component boundary for
    /// `MGET` or a run of pipelined `GET`s); others read them one by one.
    fn get_values(&self, keys: &Keys) -> Result<Values, StoreError> {
        let mut values = Values::with_capacity(keys.len());
        get_each(self, keys, |entry| {
            values.push(entry.map(|entry| entry.value.as_slice()));
        })?;
        Ok(values)
    }
    /// The entries under `keys`, in order, `None` where a key has no
    /// entry; each read at one instant, not all at the same one. The host's
    /// store reads them in one call (one crossing for a run of pipelined
    /// `get` lines); others read them one by one.
    fn get_entries(&self, keys: &Keys) -> Result<Entries, StoreError> {
        let mut entries = Entries::with_capacity(keys.len());
        get_each(self, keys, |entry| entries.push(entry.map(EntryRef::from)))?;
        Ok(entries)
    }
    fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError>;
    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError>;
    /// Sets or clears the expiry of `key` if `condition` holds; true if it
    /// changed. An instant already past deletes the key.
    fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError>;
    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError>;
    /// Moves `from`'s entry to `to` at one instant; the version under `to`.
    fn rename(&self, from: &str, to: &str, replace: bool) -> Result<u64, StoreError>;
    /// Removes the keys that have entries, at one instant; how many.
    fn delete_many(&self, keys: &[String]) -> Result<u32, StoreError>;
    /// Sets every key to its value without expiry, all or none, at one
    /// instant; a key given twice takes its last value.
    fn put_many(&self, pairs: &Pairs, content_type: &str) -> Result<(), StoreError>;
    /// Adds `delta` to the integer under `key`; the sum and the new version
    /// (see `add` in `wit/kvs.wit`). A missing key counts as 0 and is
    /// created typed `content_type`. The host's store does it in one step;
    /// a store that cannot runs this [`modify`] loop, which is as atomic
    /// but retries under contention.
    fn add(&self, key: &str, delta: i64, content_type: &str) -> Result<(i64, u64), StoreError> {
        let mut sum = 0;
        let (_, version) = modify(self, key, content_type, |current| {
            sum = kvs_model::store::add_to(current.unwrap_or(b"0"), delta)?;
            Ok(sum.to_string().into_bytes())
        })
        .map_err(|error| match error {
            ModifyError::Value(error) | ModifyError::Store(error) => error,
        })?;
        Ok((sum, version))
    }
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError>;
    /// The page of the walk in hash order at `cursor` (see
    /// [`kvs_model::scan`]), about `count` keys.
    fn scan(&self, cursor: u64, count: u32) -> Result<ScanPage, StoreError>;
    fn stats(&self) -> Result<StoreStats, StoreError>;
    fn limits(&self) -> Limits;
}

/// Reads of an entry with its value as a `V`. Every store reads bytes
/// (`Vec<u8>`, through [`Storage::get`]); the kvs host's store also reads a
/// value it keeps, named by a handle, for a response to send without the
/// bytes passing through the guest.
pub trait ReadsAs<V>: Storage {
    /// [`Storage::get`] with the value as a `V`.
    fn get_as(&self, key: &str) -> Result<Entry<V>, StoreError>;
}

impl<S: Storage + ?Sized> ReadsAs<Vec<u8>> for S {
    fn get_as(&self, key: &str) -> Result<Entry, StoreError> {
        self.get(key)
    }
}

/// The writes of a value held as a `B`. Every store writes bytes
/// (`Vec<u8>`, through [`Storage::create`] and [`Storage::update`]); the kvs
/// host's store also writes a request body it keeps, named by a handle, so
/// a large value is not copied into the guest and back out.
pub trait WritesFrom<B>: Storage {
    /// [`Storage::create`] with the value `value` holds.
    fn create_from(
        &self,
        key: &str,
        content_type: &str,
        value: &B,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError>;
    /// [`Storage::update`] with the value `value` holds.
    fn update_from(
        &self,
        key: &str,
        content_type: &str,
        value: &B,
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError>;
}

impl<S: Storage + ?Sized> WritesFrom<Vec<u8>> for S {
    fn create_from(
        &self,
        key: &str,
        content_type: &str,
        value: &Vec<u8>,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.create(key, content_type, value, expires_at)
    }

    fn update_from(
        &self,
        key: &str,
        content_type: &str,
        value: &Vec<u8>,
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError> {
        self.update(key, content_type, value, if_version, expiry)
    }
}

/// The reads one by one behind [`Storage::get_values`] and
/// [`Storage::get_entries`] for stores that have no packed read: `each` gets
/// every key's entry in order, or `None` where it has none. Any other
/// failure ends the walk.
fn get_each<S: Storage + ?Sized>(
    store: &S,
    keys: &Keys,
    mut each: impl FnMut(Option<&Entry>),
) -> Result<(), StoreError> {
    for key in keys.unpacked()? {
        match store.get(key) {
            Ok(entry) => each(Some(&entry)),
            Err(StoreError::NotFound) => each(None),
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Why a read-modify-write did not write.
#[derive(Debug)]
pub enum ModifyError<E> {
    /// The new value could not be computed from the current one.
    Value(E),
    Store(StoreError),
}

impl<E> From<StoreError> for ModifyError<E> {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Replaces the value of `key` with `change(current value)` at one instant,
/// over any [`Storage`]: a compare-and-swap loop that reads the key,
/// computes, and writes only if the key still holds what it read (`update`
/// with the version read, or `create`, which never overwrites); if another
/// write came between, it reads again. A loop retries only because another
/// write succeeded, so no client can stall the others. A missing key is
/// `None` and is created typed `content_type`; an existing key keeps its
/// type and its expiry. Returns the value written and its version.
pub fn modify<S: Storage + ?Sized, E>(
    store: &S,
    key: &str,
    content_type: &str,
    mut change: impl FnMut(Option<&[u8]>) -> Result<Vec<u8>, E>,
) -> Result<(Vec<u8>, u64), ModifyError<E>> {
    loop {
        match store.get(key) {
            Ok(current) => {
                let new = change(Some(&current.value)).map_err(ModifyError::Value)?;
                match store.update(
                    key,
                    &current.content_type,
                    &new,
                    Some(current.version),
                    Expiry::Keep,
                ) {
                    Ok(version) => return Ok((new, version)),
                    Err(StoreError::VersionMismatch { .. } | StoreError::NotFound) => continue,
                    Err(error) => return Err(error.into()),
                }
            }
            Err(StoreError::NotFound) => {
                let new = change(None).map_err(ModifyError::Value)?;
                match store.create(key, content_type, &new, None) {
                    Ok(version) => return Ok((new, version)),
                    Err(StoreError::AlreadyExists) => continue,
                    Err(error) => return Err(error.into()),
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modify_creates_missing_keys_and_keeps_the_type_of_existing_ones() {
        let store = MemoryStorage::default();
        let append = |current: Option<&[u8]>| -> Result<Vec<u8>, ()> {
            let mut value = current.unwrap_or_default().to_vec();
            value.extend_from_slice(b"ab");
            Ok(value)
        };
        modify(&store, "k", "application/octet-stream", append).unwrap();
        assert_eq!(
            store.get("k").unwrap().content_type,
            "application/octet-stream"
        );
        let version = store
            .update("k", "text/plain", b"x", None, Expiry::Clear)
            .unwrap();
        let (value, newer) = modify(&store, "k", "ignored", append).unwrap();
        assert_eq!(value, b"xab");
        assert!(newer > version);
        assert_eq!(store.get("k").unwrap().content_type, "text/plain");
    }

    #[test]
    fn add_over_compare_and_swap_counts_and_refuses_what_is_not_a_counter() {
        let store = MemoryStorage::default();
        assert_eq!(store.add("n", 5, "text/plain").unwrap().0, 5);
        assert_eq!(store.add("n", -7, "ignored").unwrap().0, -2);
        assert_eq!(store.get("n").unwrap().value, b"-2");
        assert_eq!(store.get("n").unwrap().content_type, "text/plain");
        store.create("word", "t", b"ten", None).unwrap();
        assert_eq!(store.add("word", 1, "t"), Err(StoreError::NotAnInteger));
        store
            .create("max", "t", i64::MAX.to_string().as_bytes(), None)
            .unwrap();
        assert_eq!(store.add("max", 1, "t"), Err(StoreError::Overflow));
        assert_eq!(
            store.get("max").unwrap().value,
            i64::MAX.to_string().as_bytes()
        );
    }
}
