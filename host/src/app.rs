//! The state every front end shares: the store, the runtime, and the guest
//! currently serving.

use crate::guest::{Guest, GuestConfig, Runtime};
use crate::store::{Limits, Store};
use std::sync::{Arc, RwLock};

/// Shared by every connection of every front end; cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Runtime,
    /// The guest new calls go to. A call clones the `Arc` once at its start
    /// and finishes on that guest, whatever replaces it meanwhile.
    current: RwLock<Arc<Guest>>,
}

impl App {
    /// Creates the store and loads `guest` (the component's bytes).
    pub fn new(limits: Limits, guest_config: GuestConfig, guest: &[u8]) -> anyhow::Result<Self> {
        let store = Store::new(limits);
        let runtime = Runtime::new(guest_config, store.clone())?;
        let guest = runtime.load(guest)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                current: RwLock::new(Arc::new(guest)),
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The guest that serves calls starting now.
    pub fn guest(&self) -> Arc<Guest> {
        Arc::clone(&self.inner.current.read().unwrap_or_else(|e| e.into_inner()))
    }
}
