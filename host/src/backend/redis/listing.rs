//! A page of keys in byte order, merged from every bucket.
//!
//! Each bucket keeps its keys in a sorted set read with `ZRANGE ... BYLEX`,
//! so a page is a k-way merge: a first round asks every bucket (all at
//! once, pipelined on the one connection) for a few keys after the cursor,
//! and a bucket whose keys run out before the page is full is asked again
//! for more. The cursor is the last key of the page, so any host can
//! continue it.

use super::RedisStore;
use super::connection::Link;
use super::layout::Bucket;
use crate::store::StoreError;
use kvs_model::KeyPage;
use std::collections::VecDeque;

/// One bucket's keys fetched and not yet merged.
struct Run {
    bucket: Bucket,
    keys: VecDeque<String>,
    /// The `ZRANGE BYLEX` bound to continue from.
    from: Vec<u8>,
    /// The bucket has no keys left in the range.
    done: bool,
}

pub(super) async fn page(
    store: &RedisStore,
    link: Link,
    prefix: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<KeyPage, StoreError> {
    // One key more than the page, to know whether another page follows.
    let wanted = limit + 1;
    let from = match cursor {
        Some(cursor) if cursor >= prefix => bound(b'(', cursor.as_bytes()),
        _ => bound(b'[', prefix.as_bytes()),
    };
    // UTF-8 never has the byte 0xFF, so every key with the prefix sorts
    // below the prefix followed by it.
    let to = if prefix.is_empty() {
        b"+".to_vec()
    } else {
        let mut to = bound(b'[', prefix.as_bytes());
        to.push(0xFF);
        to
    };
    let layout = store.layout();
    let mut runs: Vec<Run> = layout
        .all()
        .map(|bucket| Run {
            bucket,
            keys: VecDeque::new(),
            from: from.clone(),
            done: false,
        })
        .collect();
    // Enough that, with keys spread evenly, the first round fills the page.
    let first = (wanted * 2).div_ceil(layout.buckets as usize).max(2);
    let mut page = Vec::with_capacity(wanted);
    let mut round = 0;
    while page.len() < wanted {
        let starving: Vec<usize> = (0..runs.len())
            .filter(|&n| runs[n].keys.is_empty() && !runs[n].done)
            .collect();
        if !starving.is_empty() {
            let count = if round == 0 {
                first
            } else {
                first.max(wanted - page.len())
            };
            round += 1;
            let fetched = futures::future::join_all(starving.iter().map(|&n| {
                let run = &runs[n];
                store.range(link.clone(), run.bucket, &run.from, &to, count)
            }))
            .await;
            for (n, keys) in starving.into_iter().zip(fetched) {
                let keys = keys?;
                let run = &mut runs[n];
                run.done = keys.len() < count;
                if let Some(last) = keys.last() {
                    run.from = bound(b'(', last.as_bytes());
                }
                run.keys.extend(keys);
            }
            continue;
        }
        let Some(smallest) = runs
            .iter_mut()
            .filter(|run| !run.keys.is_empty())
            .min_by(|a, b| a.keys[0].cmp(&b.keys[0]))
        else {
            break;
        };
        page.extend(smallest.keys.pop_front());
    }
    Ok(KeyPage::from_sorted(page, limit))
}

/// A `ZRANGE BYLEX` bound: `[` (inclusive) or `(` (exclusive), then the key.
fn bound(kind: u8, key: &[u8]) -> Vec<u8> {
    let mut bound = Vec::with_capacity(key.len() + 1);
    bound.push(kind);
    bound.extend_from_slice(key);
    bound
}
