//! `--watch`: reload the guest when its file changes.
//!
//! The file is polled. A change is acted on only once the file's size and
//! modification time have stayed the same for a whole poll interval, so a
//! file still being written is not read; and a component that does not
//! compile (a truncated file, say) is rejected by the reloader anyway, with
//! the running guest still serving. A rejected version is not retried until
//! the file changes again.

use crate::ops::reload::Reloader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// What a poll sees of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

async fn stamp(path: &PathBuf) -> Option<Stamp> {
    let metadata = tokio::fs::metadata(path).await.ok()?;
    Some(Stamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
    })
}

/// Polls `path` every `interval` until shutdown.
pub async fn watch(
    reloader: Arc<Reloader>,
    path: PathBuf,
    interval: Duration,
    shutdown: CancellationToken,
) {
    tracing::info!(path = %path.display(), ?interval, "watching the guest file");
    // The version that is loaded (or was rejected): nothing to do until the
    // file differs from it.
    let mut settled = stamp(&path).await;
    let mut last_seen = settled;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = stamp(&path).await;
        let stable = now == last_seen;
        last_seen = now;
        if now.is_none() || now == settled || !stable {
            continue;
        }
        settled = now;
        // Outcomes, failures included, are logged by the reloader.
        let _ = reloader.reload_from_path("file change").await;
    }
}
