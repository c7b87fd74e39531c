//! Swapping the guest while the host runs: from the guest file, from bytes
//! sent to the admin endpoint, or back to the previous guest.
//!
//! A new component is read, compiled (on a blocking thread, off the request
//! path), linked against the host's world and self-checked before it is
//! swapped in; any failure leaves the running guest serving and is reported
//! with its reason. Reloads are serialised, so two triggers at once cannot
//! interleave. Calls already running finish on the guest they started on.

use crate::app::{App, Loaded};
use crate::runtime::engine::digest;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// The result of a successful reload or rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A different guest now serves.
    Swapped { generation: u64, digest: String },
    /// The component is the one already serving; nothing changed.
    Unchanged { generation: u64, digest: String },
}

impl Outcome {
    pub fn to_json(&self) -> serde_json::Value {
        let (status, generation, digest) = match self {
            Self::Swapped { generation, digest } => ("swapped", generation, digest),
            Self::Unchanged { generation, digest } => ("unchanged", generation, digest),
        };
        serde_json::json!({ "status": status, "generation": generation, "digest": digest })
    }
}

/// Performs reloads for every trigger (watcher, SIGHUP, admin endpoint).
pub struct Reloader {
    app: App,
    /// The file `--guest` named; reloads without bytes read it again.
    path: Option<PathBuf>,
    serial: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(app: App, path: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            app,
            path,
            serial: tokio::sync::Mutex::new(()),
        })
    }

    /// The Prometheus text of every metric.
    pub fn metrics(&self) -> String {
        self.app.render_metrics()
    }

    /// Reloads from the `--guest` file. A file that is missing or cannot be
    /// read is a rejected reload like any other: logged and counted.
    pub async fn reload_from_path(&self, trigger: &str) -> anyhow::Result<Outcome> {
        let read = async {
            let path = self.path.clone().context(
                "kvs was started without --guest PATH, so there is no file to reload; send the component instead",
            )?;
            let bytes = tokio::fs::read(&path)
                .await
                .with_context(|| format!("cannot read the guest component {}", path.display()))?;
            anyhow::ensure!(
                !bytes.is_empty(),
                "the guest component {} is empty",
                path.display()
            );
            Ok((bytes, path))
        };
        match read.await {
            Ok((bytes, path)) => {
                self.reload_bytes(bytes, path.display().to_string(), trigger)
                    .await
            }
            Err(error) => {
                self.app.metrics().guest_rejected();
                tracing::error!(
                    trigger,
                    error = format!("{error:#}"),
                    "guest reload rejected; the running guest keeps serving"
                );
                Err(error)
            }
        }
    }

    /// Compiles, checks and swaps in the component `bytes`.
    pub async fn reload_bytes(
        &self,
        bytes: Vec<u8>,
        source: String,
        trigger: &str,
    ) -> anyhow::Result<Outcome> {
        let _serial = self.serial.lock().await;
        let started = Instant::now();
        let result = self.load_checked(bytes, source.clone()).await;
        match &result {
            Ok(Outcome::Swapped { .. }) => self.app.metrics().guest_swapped(),
            Ok(Outcome::Unchanged { .. }) => {}
            Err(_) => self.app.metrics().guest_rejected(),
        }
        match &result {
            Ok(outcome) => tracing::info!(
                trigger,
                %source,
                outcome = %outcome.to_json(),
                millis = started.elapsed().as_millis() as u64,
                "guest reload"
            ),
            Err(error) => tracing::error!(
                trigger,
                %source,
                error = format!("{error:#}"),
                "guest reload rejected; the running guest keeps serving"
            ),
        }
        result
    }

    async fn load_checked(&self, bytes: Vec<u8>, source: String) -> anyhow::Result<Outcome> {
        let digest = digest(&bytes);
        let current = self.app.current();
        if current.guest.digest() == digest {
            return Ok(Outcome::Unchanged {
                generation: current.generation,
                digest,
            });
        }
        // Going back to the guest that was just replaced needs no compiling.
        let guest = match self.app.previous() {
            Some(previous) if previous.guest.digest() == digest => previous.guest,
            _ => {
                let app = self.app.clone();
                let guest =
                    tokio::task::spawn_blocking(move || app.runtime().load(&bytes, &source))
                        .await
                        .context("the compiling task failed")??;
                Arc::new(guest)
            }
        };
        guest
            .self_check()
            .await
            .context("the guest failed its start-up self-check")?;
        let loaded = self.app.swap(guest);
        Ok(Outcome::Swapped {
            generation: loaded.generation,
            digest,
        })
    }

    /// Returns to the previous guest.
    pub async fn rollback(&self, trigger: &str) -> anyhow::Result<Outcome> {
        let _serial = self.serial.lock().await;
        let loaded = self
            .app
            .rollback()
            .context("there is no previous guest to roll back to")?;
        self.app.metrics().guest_swapped();
        tracing::info!(
            trigger,
            generation = loaded.generation,
            digest = loaded.guest.digest(),
            "guest rollback"
        );
        Ok(Outcome::Swapped {
            generation: loaded.generation,
            digest: loaded.guest.digest().to_string(),
        })
    }

    /// The current and previous guests, for the admin status endpoint.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "current": describe(&self.app.current()),
            "previous": self.app.previous().as_ref().map(describe),
            "guest_path": self.path.as_ref().map(|p| p.display().to_string()),
            "snapshot": self
                .app
                .snapshot_health()
                .to_json(self.app.metrics().snapshot_counts()),
            "data": self.app.data().map(|data| data.status()),
            "store": self.app.backend().status(),
        })
    }
}

fn describe(loaded: &Loaded) -> serde_json::Value {
    let loaded_at = loaded
        .guest
        .loaded_at()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    serde_json::json!({
        "generation": loaded.generation,
        "digest": loaded.guest.digest(),
        "source": loaded.guest.source(),
        "loaded_at_unix_ms": loaded_at.as_millis() as u64,
        "age_seconds": SystemTime::now()
            .duration_since(loaded.guest.loaded_at())
            .unwrap_or_default()
            .as_secs(),
    })
}

/// Reloads from the guest file on every SIGHUP `hangups` receives (the
/// caller listens before it announces the server, so none is missed) until
/// shutdown.
#[cfg(unix)]
pub async fn reload_on_sighup(
    mut hangups: tokio::signal::unix::Signal,
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = hangups.recv() => {
                // The outcome is logged by the reloader.
                let _ = reloader.reload_from_path("SIGHUP").await;
            }
        }
    }
}
