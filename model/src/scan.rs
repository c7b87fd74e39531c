//! The order `SCAN` walks a store in: by a fixed hash of each key.
//!
//! Redis promises that a full `SCAN` returns every key that was present from
//! its start to its end, whatever is written meanwhile, and its clients (and
//! `redis-cli --scan`) expect the cursor to be a number. Both hold when the
//! cursor is a position in a hash space no write can shift: a page holds
//! the keys whose hashes are the smallest at or above the cursor, and the
//! next cursor is one past the largest hash on the page. A key present for
//! the whole scan sits at one position all along, so some page covers it.
//! Keys that share a hash are never split across pages.
//!
//! The hash is fixed (not seeded per process), so a cursor stays good for
//! any host of the same store, and across restarts.

/// A page of keys in hash order, and the cursor of the next one: zero once
/// the walk is complete, as Redis has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanPage {
    pub keys: Vec<String>,
    pub next: u64,
}

/// The position of `key` in the scan order: FNV-1a, then a finalizer that
/// spreads similar keys (`key:1`, `key:2`) over the whole space.
pub fn key_hash(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // The finalizer of SplitMix64.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// Cuts the page at `cursor` of about `count` keys from every key of a store,
/// offered by `each_key` (called twice: once to find where the page ends,
/// once to collect it). Time O(n log count), memory O(count).
pub fn page<F>(cursor: u64, count: usize, mut each_key: F) -> ScanPage
where
    F: FnMut(&mut dyn FnMut(&str)),
{
    let count = count.max(1);
    // The `count` smallest distinct hashes at or above the cursor.
    let mut smallest = std::collections::BinaryHeap::with_capacity(count + 1);
    each_key(&mut |key| {
        let hash = key_hash(key);
        if hash < cursor {
            return;
        }
        if smallest.len() == count {
            if smallest.peek().is_some_and(|&top| hash >= top) {
                return;
            }
            if smallest.iter().any(|&h| h == hash) {
                return;
            }
            smallest.pop();
        } else if smallest.iter().any(|&h| h == hash) {
            return;
        }
        smallest.push(hash);
    });
    let full = smallest.len() == count;
    let Some(&last) = smallest.peek() else {
        return ScanPage::default();
    };
    let mut keys = Vec::with_capacity(smallest.len());
    each_key(&mut |key| {
        let hash = key_hash(key);
        if hash >= cursor && hash <= last {
            keys.push((hash, key.to_string()));
        }
    });
    keys.sort_unstable();
    let next = if full { last.wrapping_add(1) } else { 0 };
    ScanPage {
        keys: keys.into_iter().map(|(_, key)| key).collect(),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn scan_all(keys: &BTreeSet<String>, count: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let page = page(cursor, count, |visit| keys.iter().for_each(|k| visit(k)));
            seen.extend(page.keys);
            if page.next == 0 {
                return seen;
            }
            cursor = page.next;
        }
    }

    #[test]
    fn a_full_scan_returns_every_key_once() {
        let keys: BTreeSet<String> = (0..1000).map(|i| format!("key:{i}")).collect();
        for count in [1, 7, 10, 1000, 5000] {
            let seen = scan_all(&keys, count);
            assert_eq!(seen.len(), keys.len(), "count {count}");
            assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), keys);
        }
        assert_eq!(scan_all(&BTreeSet::new(), 10), Vec::<String>::new());
    }

    #[test]
    fn keys_present_throughout_are_returned_whatever_is_written_meanwhile() {
        let stable: BTreeSet<String> = (0..500).map(|i| format!("stable:{i}")).collect();
        let mut store = stable.clone();
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let page = page(cursor, 10, |visit| store.iter().for_each(|k| visit(k)));
            seen.extend(page.keys);
            // Between pages, others add and remove keys.
            for i in 0..20 {
                store.insert(format!("churn:{round}:{i}"));
            }
            store.retain(|k| !k.starts_with(&format!("churn:{}:", round.max(1) - 1)));
            round += 1;
            if page.next == 0 {
                break;
            }
            cursor = page.next;
        }
        assert!(stable.is_subset(&seen));
    }

    #[test]
    fn the_hash_is_fixed() {
        // Cursors outlive processes and hosts: the hash must never change.
        assert_eq!(key_hash(""), 17_665_956_581_633_026_203);
        assert_ne!(key_hash("key:1"), key_hash("key:2"));
    }
}
