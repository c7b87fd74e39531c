//! Where each key lives in Redis: its bucket, and the names of the Redis
//! keys that hold it.
//!
//! Every key hashes (CRC-32 of its bytes, a function that never changes)
//! into one of a fixed number of buckets, or of its Redis hash tag's bytes
//! when it has one (as Redis Cluster places keys: `{user:7}:cart` and
//! `{user:7}:orders` share a bucket, so one command can change both), recorded in the backend at
//! `kvs:meta` so every host agrees on it. A bucket's Redis keys share one
//! hash tag, `{N}`, so they sit in one slot of a Redis Cluster and one Lua
//! script can change an entry, its bucket's index and its bucket's version
//! counter together. The tag is the first `{...}` of the name and comes
//! before the user's key, so braces in a user's key never move it.

/// The Redis key that records the layout, so hosts that disagree on it
/// refuse to start instead of writing where others cannot find it.
pub const META: &str = "kvs:meta";

/// The layout's format, recorded at [`META`]; a later format gets a new
/// number. Format 1 hashed whole keys, hash tags included.
pub const FORMAT: u32 = 2;

/// The buckets a new backend is laid out with: enough for even spread over
/// a cluster's masters and fine-grained resharding, few enough that a
/// listing page, which reads every bucket, stays one round of requests.
pub const DEFAULT_BUCKETS: u32 = 256;

/// One bucket of a backend laid out with [`Layout::buckets`] buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bucket(pub u32);

impl Bucket {
    /// The prefix of every Redis key of this bucket, hash tag included.
    pub fn base(self) -> String {
        format!("kvs:{{{}}}:", self.0)
    }

    /// Every Redis key of the bucket a script may touch besides entries:
    /// its index, expiring keys, version counter and counts. Scripts
    /// declare them all, so that while a Redis Cluster moves the bucket's
    /// slot the script runs where all of them are (Redis answers `ASK` or
    /// `TRYAGAIN`, and the client follows), never where some have gone.
    pub fn keys(self) -> Vec<String> {
        let base = self.base();
        ["i", "x", "n", "s"]
            .iter()
            .map(|suffix| format!("{base}{suffix}"))
            .collect()
    }
}

/// How many buckets there are, which fixes every key's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub buckets: u32,
}

impl Layout {
    pub fn bucket(self, key: &str) -> Bucket {
        Bucket(crc32fast::hash(hash_tag(key.as_bytes())) % self.buckets)
    }

    /// The hash that holds `key`'s entry.
    pub fn entry(self, key: &str) -> Vec<u8> {
        let mut name = self.bucket(key).base().into_bytes();
        name.extend_from_slice(b"e:");
        name.extend_from_slice(key.as_bytes());
        name
    }

    /// What a script that changes `key` declares: its entry and its
    /// bucket's keys ([`Bucket::keys`]).
    pub fn keys_of(self, key: &str) -> Vec<Vec<u8>> {
        let mut keys = vec![self.entry(key)];
        keys.extend(self.bucket(key).keys().into_iter().map(String::into_bytes));
        keys
    }

    pub fn all(self) -> impl Iterator<Item = Bucket> {
        (0..self.buckets).map(Bucket)
    }
}

/// What of `key` picks its bucket, by Redis Cluster's rule: the bytes
/// between its first `{` and the first `}` after it, when there are any;
/// else the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&byte| byte == b'{') else {
        return key;
    };
    let tag = &key[open + 1..];
    match tag.iter().position(|&byte| byte == b'}') {
        Some(0) | None => key,
        Some(close) => &tag[..close],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_in_a_key_do_not_move_its_hash_tag() {
        let layout = Layout { buckets: 256 };
        let name = layout.entry("{user}/x}");
        let text = String::from_utf8(name).unwrap();
        let tag = &text[text.find('{').unwrap() + 1..text.find('}').unwrap()];
        assert_eq!(tag, layout.bucket("{user}/x}").0.to_string());
        assert!(text.ends_with(":e:{user}/x}"));
    }

    #[test]
    fn keys_with_one_hash_tag_share_a_bucket() {
        let layout = Layout { buckets: 16_384 };
        let user = layout.bucket("user:7");
        assert_eq!(layout.bucket("{user:7}:cart"), user);
        assert_eq!(layout.bucket("orders of {user:7}"), user);
        assert_eq!(layout.bucket("{user:7}}{other}"), user);
        // No tag: an empty `{}`, or a `{` that is never closed.
        assert_eq!(hash_tag(b"{}:cart"), b"{}:cart");
        assert_eq!(hash_tag(b"a{b"), b"a{b");
        assert_eq!(hash_tag(b"}{x}"), b"x");
    }

    #[test]
    fn a_key_always_lands_in_the_same_bucket() {
        // CRC-32 of "hello" is 0x3610a686: the layout must never change
        // under data already written.
        assert_eq!(Layout { buckets: 256 }.bucket("hello"), Bucket(0x86));
        assert_eq!(
            Layout { buckets: 1000 }.bucket("hello"),
            Bucket(0x3610_a686 % 1000)
        );
    }
}
