//! Content types shared between entries.
//!
//! A store holds millions of entries and a handful of content types: kept
//! once each for the life of the process, a type costs an entry four bytes
//! (its index here) instead of a copy of its own (24 bytes for
//! `application/octet-stream`). The set is bounded, since clients name the
//! types: past [`MAX_SHARED`] distinct ones, an entry keeps its type's
//! bytes itself (see [`super::entry`]). Reading a type by its index takes no
//! lock: the names are write-once cells.

use ahash::RandomState;
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};

/// Distinct content types kept for sharing; a few KiB at most.
pub const MAX_SHARED: usize = 256;

/// The shared types' names, by index; set once each, never changed.
static NAMES: [OnceLock<Box<str>>; MAX_SHARED] = [const { OnceLock::new() }; MAX_SHARED];

/// The index of each shared type, for writers looking one up by name.
static INDEXES: LazyLock<RwLock<HashMap<Box<str>, u32, RandomState>>> =
    LazyLock::new(RwLock::default);

/// The index of `content_type` in the shared set, adding it on first sight
/// while there is room; `None` once the set is full and it is not in it.
pub fn intern(content_type: &str) -> Option<u32> {
    {
        let indexes = INDEXES.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = indexes.get(content_type) {
            return Some(*index);
        }
        if indexes.len() >= MAX_SHARED {
            return None;
        }
    }
    let mut indexes = INDEXES.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(index) = indexes.get(content_type) {
        return Some(*index);
    }
    let index = indexes.len();
    if index >= MAX_SHARED {
        return None;
    }
    // Named before it is indexed: a reader given the index finds the name.
    NAMES[index]
        .set(content_type.into())
        .expect("indexes are handed out once, under the lock");
    indexes.insert(content_type.into(), index as u32);
    Some(index as u32)
}

/// The shared type at `index`, which [`intern`] handed out.
pub fn name(index: u32) -> &'static str {
    NAMES
        .get(index as usize)
        .and_then(OnceLock::get)
        .map_or("", |name| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_is_kept_once_and_named_by_its_index() {
        let a = intern("text/x-kvs-test").unwrap();
        assert_eq!(intern("text/x-kvs-test"), Some(a));
        assert_eq!(name(a), "text/x-kvs-test");
        assert_ne!(intern("text/x-kvs-other"), Some(a));
        // Past the end of the set, a type is not shared (the set is global
        // to the process, so this fills what the other tests left).
        for i in 0..MAX_SHARED {
            intern(&format!("x/kvs-fill-{i}"));
        }
        assert_eq!(intern("late/type"), None);
        assert_eq!(intern("text/x-kvs-test"), Some(a));
    }
}
