//! The active sweep: entries past their expiry are removed every
//! [`SWEEP_EVERY`], whether or not anyone reads them, so a store filled with
//! short-lived keys returns to its idle memory.
//!
//! Readers never need the sweep: an entry past its expiry is gone for every
//! read at once (see [`crate::store::Store`]). The store keeps its expiring
//! keys ordered by expiry, so a sweep touches only the entries that are due,
//! where Redis samples keys at random.

use crate::app::App;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often expired entries are reclaimed.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// Sweeps until `shutdown` is cancelled.
pub async fn sweep(app: App, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let store = app.store().clone();
        // Many keys may fall due at once: off the runtime's threads.
        match tokio::task::spawn_blocking(move || store.sweep_expired()).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "expired entries removed"),
            Err(error) => tracing::error!(%error, "the expiry sweep failed"),
        }
    }
}
