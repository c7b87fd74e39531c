//! An in-memory [`Storage`] with the host store's semantics, for native tests.

use super::{
    Entry, ExpireCondition, Expiry, KeyPage, Limits, Pairs, ScanPage, Storage, StoreError,
    StoreStats, check_version, now_ms,
};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A single-threaded in-memory store with the same semantics as the host's,
/// for native tests of the routing and protocol logic. (It does not count
/// expired entries: `expired` in its stats is 0.)
#[derive(Debug)]
pub struct MemoryStorage {
    entries: RefCell<BTreeMap<String, Entry>>,
    next_version: RefCell<u64>,
    limits: Limits,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::with_limits(Limits {
            max_key_bytes: 1024,
            max_value_bytes: 16 << 20,
            max_page_size: 1000,
        })
    }
}

impl MemoryStorage {
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            entries: RefCell::default(),
            next_version: RefCell::new(1),
            limits,
        }
    }

    /// Stores an entry under a fresh version and returns the version.
    fn put(&self, key: &str, content_type: &str, value: &[u8], expires_at: Option<u64>) -> u64 {
        let version = self.bump();
        let entry = Entry {
            content_type: content_type.into(),
            value: value.into(),
            version,
            expires_at,
        };
        self.entries.borrow_mut().insert(key.into(), entry);
        version
    }

    /// Drops every entry past its expiry: each operation starts with it, so
    /// none ever sees one (slow, and fine for tests).
    fn purge(&self) {
        let now = now_ms();
        self.entries
            .borrow_mut()
            .retain(|_, entry| entry.expires_at.is_none_or(|at| at > now));
    }

    fn bump(&self) -> u64 {
        let mut next = self.next_version.borrow_mut();
        let version = *next;
        *next += 1;
        version
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Entry, StoreError> {
        self.purge();
        self.entries
            .borrow()
            .get(key)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.purge();
        self.limits.check_write(key, value.len())?;
        if self.entries.borrow().contains_key(key) {
            return Err(StoreError::AlreadyExists);
        }
        Ok(self.put(key, content_type, value, expires_at))
    }

    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError> {
        self.limits.check_write(key, value.len())?;
        let current = self.get(key)?;
        check_version(current.version, if_version)?;
        let expires_at = match expiry {
            Expiry::Keep => current.expires_at,
            Expiry::Clear => None,
            Expiry::At(at) => Some(at),
        };
        Ok(self.put(key, content_type, value, expires_at))
    }

    fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let current = self.get(key)?;
        check_version(current.version, if_version)?;
        if !condition.allows(current.expires_at, at)
            || (at.is_none() && current.expires_at.is_none())
        {
            return Ok(false);
        }
        let mut entries = self.entries.borrow_mut();
        if at.is_some_and(|at| at <= now_ms()) {
            entries.remove(key);
        } else if let Some(entry) = entries.get_mut(key) {
            entry.expires_at = at;
        }
        Ok(true)
    }

    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        check_version(self.get(key)?.version, if_version)?;
        self.entries
            .borrow_mut()
            .remove(key)
            .ok_or(StoreError::NotFound)
    }

    fn rename(&self, from: &str, to: &str, replace: bool) -> Result<u64, StoreError> {
        self.limits.check_write(to, 0)?;
        let source = self.get(from)?;
        if from == to {
            return if replace {
                Ok(source.version)
            } else {
                Err(StoreError::AlreadyExists)
            };
        }
        if !replace && self.entries.borrow().contains_key(to) {
            return Err(StoreError::AlreadyExists);
        }
        self.entries.borrow_mut().remove(from);
        Ok(self.put(to, &source.content_type, &source.value, source.expires_at))
    }

    fn delete_many(&self, keys: &[String]) -> Result<u32, StoreError> {
        self.purge();
        let mut entries = self.entries.borrow_mut();
        let removed = keys.iter().filter(|key| entries.remove(*key).is_some());
        Ok(removed.count() as u32)
    }

    fn put_many(&self, pairs: &Pairs, content_type: &str) -> Result<(), StoreError> {
        let pairs = pairs.unpacked()?;
        for (key, value) in &pairs {
            self.limits.check_write(key, value.len())?;
        }
        for (key, value) in pairs {
            self.put(key, content_type, value, None);
        }
        Ok(())
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError> {
        self.purge();
        let limit = limit.clamp(1, self.limits.max_page_size) as usize;
        let entries = self.entries.borrow();
        let keys: Vec<String> = entries
            .keys()
            .filter(|k| k.starts_with(prefix) && cursor.is_none_or(|c| k.as_str() > c))
            .take(limit + 1)
            .cloned()
            .collect();
        Ok(KeyPage::from_sorted(keys, limit))
    }

    fn scan(&self, cursor: u64, count: u32) -> Result<ScanPage, StoreError> {
        self.purge();
        let count = count.clamp(1, self.limits.max_page_size) as usize;
        let entries = self.entries.borrow();
        Ok(kvs_model::scan::page(cursor, count, |visit| {
            entries.keys().for_each(|key| visit(key));
        }))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.purge();
        let entries = self.entries.borrow();
        let bytes = entries
            .iter()
            .map(|(key, entry)| key.len() + entry.content_type.len() + entry.value.len())
            .sum::<usize>();
        Ok(StoreStats {
            keys: entries.len() as u64,
            expiring: entries.values().filter(|e| e.expires_at.is_some()).count() as u64,
            bytes: bytes as u64,
            expired: 0,
        })
    }

    fn limits(&self) -> Limits {
        self.limits
    }
}
