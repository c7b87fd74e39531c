//! The state every front end shares: the store, the runtime, and the guest
//! currently serving, which can be swapped while calls are running.

use crate::backend::Backend;
use crate::data::DataDir;
use crate::logic::CallPath;
use crate::ops::metrics::Metrics;
use crate::ops::snapshot::Health as SnapshotHealth;
use crate::runtime::{Guest, GuestConfig, HostInfo, Runtime};
use crate::store::Store;
use std::sync::{Arc, OnceLock, RwLock};

/// Shared by every connection of every front end; cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    host_info: HostInfo,
    metrics: Metrics,
    runtime: Runtime,
    call_path: CallPath,
    guests: RwLock<Guests>,
    snapshot: SnapshotHealth,
    /// `--data-dir`, once recovered.
    data: OnceLock<Arc<DataDir>>,
}

/// The guest serving now, and the one before it for rollback.
struct Guests {
    current: Loaded,
    previous: Option<Loaded>,
    /// Generations handed out so far; the first guest is generation 1.
    generations: u64,
}

/// A guest and its generation number.
#[derive(Clone)]
pub struct Loaded {
    pub guest: Arc<Guest>,
    pub generation: u64,
}

impl App {
    /// Serves `backend` and loads `guest` (the component's bytes) as
    /// generation 1; requests reach the logic by `call_path`.
    pub fn new(
        backend: Backend,
        guest_config: GuestConfig,
        call_path: CallPath,
        guest: &[u8],
        source: &str,
    ) -> anyhow::Result<Self> {
        let metrics = Metrics::default();
        let host_info = HostInfo::new(metrics.connection_counters());
        let runtime = Runtime::new(guest_config, backend.clone(), host_info.clone())?;
        let guest = Arc::new(runtime.load(guest, source)?);
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                host_info,
                metrics,
                runtime,
                call_path,
                guests: RwLock::new(Guests {
                    current: Loaded {
                        guest,
                        generation: 1,
                    },
                    previous: None,
                    generations: 1,
                }),
                snapshot: SnapshotHealth::default(),
                data: OnceLock::new(),
            }),
        })
    }

    /// Where the data lives; what the guest's store imports call.
    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// The in-memory store, unless the data lives on Redis: snapshots, the
    /// data directory and the native call path work on it alone.
    pub fn memory(&self) -> Option<&Store> {
        self.inner.backend.memory()
    }

    /// What guests are told about this host; the front ends count their
    /// connections in it.
    pub fn host_info(&self) -> &HostInfo {
        &self.inner.host_info
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// How `--snapshot` is going; reports nothing without one.
    pub fn snapshot_health(&self) -> &SnapshotHealth {
        &self.inner.snapshot
    }

    /// Keeps the recovered data directory, for status and shutdown.
    pub fn attach_data(&self, data: Arc<DataDir>) {
        let _ = self.inner.data.set(data);
    }

    /// The data directory, with `--data-dir`.
    pub fn data(&self) -> Option<&Arc<DataDir>> {
        self.inner.data.get()
    }

    /// The Prometheus text of every metric, read now.
    pub fn render_metrics(&self) -> String {
        let current = self.current();
        self.metrics().render(
            self.backend(),
            current.generation,
            current.guest.idle_instances(),
            self.snapshot_health().state().as_ref(),
            self.data().map(AsRef::as_ref),
        )
    }

    /// How requests reach the REST and command logic.
    pub fn call_path(&self) -> CallPath {
        self.inner.call_path
    }

    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The guest that serves calls starting now. A call takes it once, at its
    /// start, and finishes on it whatever replaces it meanwhile.
    pub fn guest(&self) -> Arc<Guest> {
        Arc::clone(&self.guests().current.guest)
    }

    /// The current guest with its generation.
    pub fn current(&self) -> Loaded {
        self.guests().current.clone()
    }

    /// The guest a rollback would return to.
    pub fn previous(&self) -> Option<Loaded> {
        self.guests().previous.clone()
    }

    /// Makes `guest` current under a new generation; the replaced guest
    /// becomes the rollback target. Atomic: every call sees either the old
    /// guest or the new one.
    pub fn swap(&self, guest: Arc<Guest>) -> Loaded {
        let mut guests = self.guests_mut();
        guests.generations += 1;
        guest.reactivate();
        let loaded = Loaded {
            guest,
            generation: guests.generations,
        };
        let replaced = std::mem::replace(&mut guests.current, loaded.clone());
        replaced.guest.retire();
        guests.previous = Some(replaced);
        loaded
    }

    /// Returns to the previous guest (keeping its generation number), and makes
    /// the guest it replaces the new rollback target. `None` if there is no
    /// previous guest.
    pub fn rollback(&self) -> Option<Loaded> {
        let mut guests = self.guests_mut();
        let previous = guests.previous.take()?;
        previous.guest.reactivate();
        let replaced = std::mem::replace(&mut guests.current, previous.clone());
        replaced.guest.retire();
        guests.previous = Some(replaced);
        Some(previous)
    }

    fn guests(&self) -> std::sync::RwLockReadGuard<'_, Guests> {
        self.inner.guests.read().unwrap_or_else(|e| e.into_inner())
    }

    fn guests_mut(&self) -> std::sync::RwLockWriteGuard<'_, Guests> {
        self.inner.guests.write().unwrap_or_else(|e| e.into_inner())
    }
}
