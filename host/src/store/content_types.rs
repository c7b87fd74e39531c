//! Content types shared between entries.
//!
//! A store holds millions of entries and a handful of content types: kept
//! once each and shared, a type costs an entry a pointer instead of an
//! allocation of its own (48 bytes for `application/octet-stream`), and a
//! write allocates nothing for it. The set is bounded, since clients name
//! the types: past [`MAX_SHARED`] distinct ones, a new type gets an
//! allocation of its own, as it did before.

use ahash::RandomState;
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

/// Distinct content types kept for sharing; a few KiB at most.
pub const MAX_SHARED: usize = 256;

#[derive(Debug, Default)]
pub struct ContentTypes {
    known: RwLock<HashSet<Arc<str>, RandomState>>,
}

impl ContentTypes {
    /// The shared copy of `content_type`, made on first sight while there
    /// is room for it.
    pub fn intern(&self, content_type: &str) -> Arc<str> {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = known.get(content_type) {
            return Arc::clone(shared);
        }
        let full = known.len() >= MAX_SHARED;
        drop(known);
        let fresh: Arc<str> = content_type.into();
        if !full {
            let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(shared) = known.get(content_type) {
                return Arc::clone(shared);
            }
            if known.len() < MAX_SHARED {
                known.insert(Arc::clone(&fresh));
            }
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_is_kept_once_until_the_set_is_full() {
        let types = ContentTypes::default();
        let a = types.intern("text/plain");
        let b = types.intern("text/plain");
        assert!(Arc::ptr_eq(&a, &b));
        for i in 0..MAX_SHARED {
            types.intern(&format!("x/{i}"));
        }
        let past = types.intern("late/type");
        assert_eq!(&*past, "late/type");
        assert!(!Arc::ptr_eq(&past, &types.intern("late/type")));
        assert!(Arc::ptr_eq(&a, &types.intern("text/plain")));
    }
}
