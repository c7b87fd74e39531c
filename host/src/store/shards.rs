//! The map under the store: keys spread over a fixed number of shards, each
//! a hash table behind its own reader-writer lock.
//!
//! It does what `DashMap` did for the store, and two things DashMap offers
//! only through `unsafe`: several shards locked at once, always in ascending
//! order so that two such operations cannot deadlock (for writes to more
//! than one key that must happen together: a rename, a multi-key set or
//! delete); and a walk over every key that takes one read lock per shard
//! instead of a guard per item.
//!
//! A key is hashed once per operation (its [`KeyHash`]); the hash picks the
//! shard from bits 32-37, which a table does not use for its own placement
//! (the bucket comes from the low bits, the tag from the top seven), so the
//! keys of one shard spread over its table as well as any. A slot is the
//! value alone, which holds its own key ([`Keyed`]; the store's entry is one
//! allocation, see [`super::entry`]): with a hundred thousand small entries
//! every word of a slot is most of a megabyte, so a growing table hashes
//! its keys again rather than keep each hash.

use ahash::RandomState;
use hashbrown::HashTable;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// 64 shards: on a few cores, writers of different keys almost never meet.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// A value that carries its key.
pub trait Keyed {
    fn key(&self) -> &str;
    /// The key's bytes, compared on every lookup: no UTF-8 check needed.
    fn key_bytes(&self) -> &[u8] {
        self.key().as_bytes()
    }
}

/// A key's hash, computed once and used for both its shard and its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(u64);

impl KeyHash {
    fn shard(self) -> usize {
        (self.0 >> 32) as usize & (SHARDS - 1)
    }
}

/// The sharded map.
#[derive(Debug)]
pub struct Shards<V> {
    /// Seeded at random per process: keys come from clients, and a fixed
    /// seed would let them collide on purpose.
    hasher: RandomState,
    shards: Box<[Shard<V>]>,
}

/// One shard on cache lines of its own, so one shard's lock traffic does
/// not evict its neighbours'.
#[derive(Debug)]
#[repr(align(128))]
struct Shard<V>(RwLock<Table<V>>);

impl<V: Keyed> Default for Shards<V> {
    fn default() -> Self {
        let hasher = RandomState::new();
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(Table::new(hasher.clone()))))
                .collect(),
            hasher,
        }
    }
}

impl<V: Keyed> Shards<V> {
    pub fn hash(&self, key: &str) -> KeyHash {
        KeyHash(self.hasher.hash_one(key))
    }

    /// The shard of `hash`, for reading. A lock poisoned by a panicking
    /// writer is still used: every change to a table is a single call that
    /// leaves it whole.
    pub fn read(&self, hash: KeyHash) -> RwLockReadGuard<'_, Table<V>> {
        self.shards[hash.shard()]
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard of `hash`, for writing.
    pub fn write(&self, hash: KeyHash) -> RwLockWriteGuard<'_, Table<V>> {
        self.shards[hash.shard()]
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shards of all `hashes`, each locked once for writing, in
    /// ascending order.
    pub fn write_many(&self, hashes: impl IntoIterator<Item = KeyHash>) -> Many<'_, V> {
        let mut indexes: Vec<usize> = hashes.into_iter().map(KeyHash::shard).collect();
        indexes.sort_unstable();
        indexes.dedup();
        Many {
            guards: indexes
                .into_iter()
                .map(|index| {
                    let guard = self.shards[index]
                        .0
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    (index, guard)
                })
                .collect(),
        }
    }

    /// Entries in all shards, each shard counted at its own instant.
    pub fn count(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.0.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Calls `visit` with every value, one shard at a time under its read
    /// lock (so each shard is seen at one instant, the whole map is not).
    pub fn for_each(&self, mut visit: impl FnMut(&V)) {
        for shard in &*self.shards {
            let table = shard.0.read().unwrap_or_else(PoisonError::into_inner);
            table.slots.iter().for_each(&mut visit);
        }
    }
}

/// Several shards locked for writing; see [`Shards::write_many`].
#[derive(Debug)]
pub struct Many<'a, V> {
    guards: Vec<(usize, RwLockWriteGuard<'a, Table<V>>)>,
}

impl<V: Keyed> Many<'_, V> {
    /// The table `hash` belongs to; it must be one of the hashes locked.
    pub fn table(&mut self, hash: KeyHash) -> &mut Table<V> {
        let shard = hash.shard();
        let (_, guard) = self
            .guards
            .iter_mut()
            .find(|(index, _)| *index == shard)
            .expect("the shard of every key was locked");
        guard
    }
}

/// One shard's entries, with the map's hasher for when the table grows.
#[derive(Debug)]
pub struct Table<V> {
    slots: HashTable<V>,
    hasher: RandomState,
}

impl<V: Keyed> Table<V> {
    fn new(hasher: RandomState) -> Self {
        Self {
            slots: HashTable::new(),
            hasher,
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn get(&self, hash: KeyHash, key: &str) -> Option<&V> {
        self.slots
            .find(hash.0, |slot| slot.key_bytes() == key.as_bytes())
    }

    pub fn get_mut(&mut self, hash: KeyHash, key: &str) -> Option<&mut V> {
        self.slots
            .find_mut(hash.0, |slot| slot.key_bytes() == key.as_bytes())
    }

    /// Puts `value` under its key, whose hash is `hash`, handing back what
    /// it replaced.
    pub fn insert(&mut self, hash: KeyHash, value: V) -> Option<V> {
        match self.get_mut(hash, value.key()) {
            Some(current) => Some(std::mem::replace(current, value)),
            None => {
                let hasher = &self.hasher;
                self.slots
                    .insert_unique(hash.0, value, |slot| hasher.hash_one(slot.key()));
                None
            }
        }
    }

    /// Takes `key`'s value out.
    pub fn remove(&mut self, hash: KeyHash, key: &str) -> Option<V> {
        let slot = self
            .slots
            .find_entry(hash.0, |slot| slot.key_bytes() == key.as_bytes())
            .ok()?
            .remove()
            .0;
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key and a number, as a test's value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Pair(String, u32);

    impl Keyed for Pair {
        fn key(&self) -> &str {
            &self.0
        }
    }

    fn pair(key: &str, n: u32) -> Pair {
        Pair(key.to_string(), n)
    }

    #[test]
    fn keys_go_in_come_back_and_leave() {
        let map = Shards::<Pair>::default();
        for i in 0..10_000u32 {
            let key = format!("key:{i}");
            let hash = map.hash(&key);
            assert_eq!(map.write(hash).insert(hash, pair(&key, i)), None);
        }
        assert_eq!(map.count(), 10_000);
        let hash = map.hash("key:42");
        assert_eq!(
            map.read(hash).get(hash, "key:42"),
            Some(&pair("key:42", 42))
        );
        assert_eq!(
            map.write(hash).insert(hash, pair("key:42", 7)),
            Some(pair("key:42", 42))
        );
        assert_eq!(
            map.write(hash).remove(hash, "key:42"),
            Some(pair("key:42", 7))
        );
        assert_eq!(map.read(hash).get(hash, "key:42"), None);
        let mut seen = 0;
        map.for_each(|_| seen += 1);
        assert_eq!(seen, 9_999);
        // Keys spread over every shard.
        let used = map
            .shards
            .iter()
            .filter(|shard| shard.0.read().unwrap().len() > 0);
        assert_eq!(used.count(), SHARDS);
    }

    #[test]
    fn many_locks_each_shard_once_whatever_the_order() {
        let map = Shards::<Pair>::default();
        let keys = ["a", "b", "c", "a", "zzz"];
        let hashes: Vec<KeyHash> = keys.iter().map(|key| map.hash(key)).collect();
        let mut many = map.write_many(hashes.iter().rev().copied());
        for (key, hash) in keys.iter().zip(&hashes) {
            many.table(*hash).insert(*hash, pair(key, 1));
        }
        drop(many);
        assert_eq!(map.count(), 4);
    }
}
