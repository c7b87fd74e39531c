//! The active sweep: entries past their expiry are removed every
//! [`SWEEP_EVERY`], whether or not anyone reads them, so a store filled with
//! short-lived keys returns to its idle memory.
//!
//! Readers never need the sweep: an entry past its expiry is gone for every
//! read at once (see [`crate::store::Store`]). The store keeps its expiring
//! keys ordered by expiry, so a sweep touches only the entries that are due,
//! where Redis samples keys at random. On a Redis store every host sweeps
//! (the scripts make that safe), at most [`SWEEP_BATCH`] entries per bucket
//! a turn.

use crate::app::App;
use crate::backend::Backend;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often expired entries are reclaimed.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// The most entries of one Redis bucket one turn reclaims, so a turn never
/// holds Redis long.
pub const SWEEP_BATCH: usize = 200;

/// Sweeps until `shutdown` is cancelled.
pub async fn sweep(app: App, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let swept = match app.backend().clone() {
            // Many keys may fall due at once: off the runtime's threads.
            Backend::Memory(store) => tokio::task::spawn_blocking(move || store.sweep_expired())
                .await
                .map_err(|error| error.to_string()),
            Backend::Redis(store) => store
                .sweep_expired(SWEEP_BATCH)
                .await
                .map_err(|error| error.to_string()),
        };
        match swept {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "expired entries removed"),
            // A Redis store that is down says so on every request already.
            Err(error) => tracing::debug!(%error, "the expiry sweep failed"),
        }
    }
}
