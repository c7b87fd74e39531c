//! The default build's backend: the host's store through the
//! `kvs:store/store` imports.
//!
//! This is also where the `faulty` test flavor injects its faults (see
//! [`crate::flavor`]): at the edge, around each store call naming a key, so
//! the routing and protocol code carry no test hooks. In every other build
//! the hooks compile to nothing.

use super::bindings::kvs::store::store as host;
use super::bindings::kvs::store::types as wit;
use crate::flavor::{misbehave_after_write, misbehave_for};
use crate::storage::{
    Entries, Entry, ExpireCondition, Expiry, KeyPage, Keys, Limits, Pairs, ReadsAs, ScanPage,
    Storage, StoreError, StoreStats, Values, WritesFrom,
};

/// The host's store, reached through the `kvs:store/store` imports.
pub struct HostStore;

impl Storage for HostStore {
    fn get(&self, key: &str) -> Result<Entry, StoreError> {
        misbehave_for(key);
        host::get(key).map(entry).map_err(error)
    }

    fn get_values(&self, keys: &Keys) -> Result<Values, StoreError> {
        keys.iter().for_each(misbehave_for);
        host::get_values(&keys.text, &keys.lengths)
            .map(|values| Values {
                bytes: values.bytes,
                lengths: values.lengths,
            })
            .map_err(error)
    }

    fn get_entries(&self, keys: &Keys) -> Result<Entries, StoreError> {
        keys.iter().for_each(misbehave_for);
        host::get_entries(&keys.text, &keys.lengths)
            .map(|entries| Entries {
                types: entries.types,
                values: entries.values,
                heads: entries.heads,
            })
            .map_err(error)
    }

    fn create(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        misbehave_for(key);
        let created = host::create(key, content_type, value, expires_at).map_err(error);
        misbehave_after_write(key);
        created
    }

    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError> {
        misbehave_for(key);
        let updated =
            host::update(key, content_type, value, if_version, expiry.into()).map_err(error);
        misbehave_after_write(key);
        updated
    }

    fn add(&self, key: &str, delta: i64, content_type: &str) -> Result<(i64, u64), StoreError> {
        misbehave_for(key);
        let added = host::add(key, delta, content_type).map_err(error);
        misbehave_after_write(key);
        added
    }

    fn expire(
        &self,
        key: &str,
        at: Option<u64>,
        condition: ExpireCondition,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        misbehave_for(key);
        let condition = match condition {
            ExpireCondition::Always => wit::ExpireCondition::Always,
            ExpireCondition::IfNone => wit::ExpireCondition::IfNone,
            ExpireCondition::IfSome => wit::ExpireCondition::IfSome,
            ExpireCondition::IfLater => wit::ExpireCondition::IfLater,
            ExpireCondition::IfEarlier => wit::ExpireCondition::IfEarlier,
        };
        let expired = host::expire(key, at, condition, if_version).map_err(error);
        misbehave_after_write(key);
        expired
    }

    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        misbehave_for(key);
        let deleted = host::delete(key, if_version).map(entry).map_err(error);
        misbehave_after_write(key);
        deleted
    }

    fn rename(&self, from: &str, to: &str, replace: bool) -> Result<u64, StoreError> {
        misbehave_for(from);
        let renamed = host::rename(from, to, replace).map_err(error);
        misbehave_after_write(from);
        renamed
    }

    fn delete_many(&self, keys: &[String]) -> Result<u32, StoreError> {
        keys.iter().for_each(|key| misbehave_for(key));
        let removed = host::delete_many(keys).map_err(error);
        keys.iter().for_each(|key| misbehave_after_write(key));
        removed
    }

    fn put_many(&self, pairs: &Pairs, content_type: &str) -> Result<(), StoreError> {
        pairs.keys.iter().for_each(misbehave_for);
        let written = host::put_many(
            &pairs.keys.text,
            &pairs.keys.lengths,
            &pairs.values,
            &pairs.value_lengths,
            content_type,
        )
        .map_err(error);
        pairs.keys.iter().for_each(misbehave_after_write);
        written
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError> {
        host::list_keys(prefix, cursor, limit)
            .map(|page| KeyPage {
                keys: page.keys,
                next_cursor: page.next_cursor,
            })
            .map_err(error)
    }

    fn scan(&self, cursor: u64, count: u32) -> Result<ScanPage, StoreError> {
        host::scan(cursor, count)
            .map(|page| ScanPage {
                keys: page.keys,
                next: page.next,
            })
            .map_err(error)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let stats = host::stats();
        Ok(StoreStats {
            keys: stats.keys,
            expiring: stats.expiring,
            bytes: stats.bytes,
            expired: stats.expired,
        })
    }

    fn limits(&self) -> Limits {
        let limits = host::limits();
        Limits {
            max_key_bytes: limits.max_key_bytes,
            max_value_bytes: limits.max_value_bytes,
            max_page_size: limits.max_page_size,
        }
    }
}

/// A request body the host keeps is written by naming it: its bytes go from
/// the host's buffer to the store and never into this instance's memory.
impl WritesFrom<wit::RequestBody> for HostStore {
    fn create_from(
        &self,
        key: &str,
        content_type: &str,
        body: &wit::RequestBody,
        expires_at: Option<u64>,
    ) -> Result<u64, StoreError> {
        misbehave_for(key);
        let created = host::create_from_body(key, content_type, body, expires_at).map_err(error);
        misbehave_after_write(key);
        created
    }

    fn update_from(
        &self,
        key: &str,
        content_type: &str,
        body: &wit::RequestBody,
        if_version: Option<u64>,
        expiry: Expiry,
    ) -> Result<u64, StoreError> {
        misbehave_for(key);
        let updated = host::update_from_body(key, content_type, body, if_version, expiry.into())
            .map_err(error);
        misbehave_after_write(key);
        updated
    }
}

/// A value read for a response stays in the host, which sends it from
/// there: `get-held` hands back a handle, not the bytes (unless it is
/// small).
impl ReadsAs<wit::Payload> for HostStore {
    fn get_as(&self, key: &str) -> Result<Entry<wit::Payload>, StoreError> {
        misbehave_for(key);
        host::get_held(key)
            .map(|held| Entry {
                content_type: held.content_type,
                value: held.value,
                version: held.version,
                expires_at: held.expires_at,
            })
            .map_err(error)
    }
}

impl From<Expiry> for wit::Expiry {
    fn from(expiry: Expiry) -> Self {
        match expiry {
            Expiry::Keep => Self::Keep,
            Expiry::Clear => Self::Clear,
            Expiry::At(at) => Self::At(at),
        }
    }
}

fn entry(entry: wit::Entry) -> Entry {
    Entry {
        content_type: entry.content_type,
        value: entry.value,
        version: entry.version,
        expires_at: entry.expires_at,
    }
}

fn error(error: wit::Error) -> StoreError {
    match error {
        wit::Error::NotFound => StoreError::NotFound,
        wit::Error::AlreadyExists => StoreError::AlreadyExists,
        wit::Error::VersionMismatch(current) => StoreError::VersionMismatch { current },
        wit::Error::TooLarge(limit) => StoreError::TooLarge { limit },
        wit::Error::StoreFull => StoreError::StoreFull,
        wit::Error::InvalidKey(reason) => StoreError::InvalidKey(reason),
        wit::Error::NotDurable(reason) => StoreError::NotDurable(reason),
        wit::Error::Unavailable(reason) => StoreError::Unavailable(reason),
        wit::Error::NotAnInteger => StoreError::NotAnInteger,
        wit::Error::Overflow => StoreError::Overflow,
    }
}
