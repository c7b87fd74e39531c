//! Warm instances of one guest, reused across calls.
//!
//! Instantiating a component costs a fresh `Store`, a pooling-allocator slot
//! and the guest's start-up code on every call; reusing an instance costs
//! nothing of that. An instance is reused only after a call that returned:
//! one that trapped, timed out or was cancelled mid-call (its client went
//! away) is dropped with its store, so no half-finished state is ever seen
//! again. Guests keep no state between calls (see `wit/kvs.wit`); retiring an
//! instance after [`MAX_CALLS`] calls still bounds what a guest that leaks
//! memory per call can take, and one whose linear memory grew past the
//! pool's `max_memory` (it served a large value, and wasm memory never
//! shrinks) is dropped too: its pooling-allocator slot is reset and the
//! memory returned to the system.

use super::bindings::Service;
use super::state::CallState;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Calls one instance serves before it is retired.
pub const MAX_CALLS: u32 = 10_000;

/// An instantiated guest with its store.
pub struct Warm {
    pub store: wasmtime::Store<CallState>,
    pub service: Service,
    calls: u32,
}

impl Warm {
    pub fn new(store: wasmtime::Store<CallState>, service: Service) -> Self {
        Self {
            store,
            service,
            calls: 0,
        }
    }
}

/// Idle instances of one guest. A guest that stops being current empties its
/// pool ([`Pool::set_capacity`] to zero), so a guest kept for rollback holds
/// no pooling-allocator slots.
pub struct Pool {
    idle: Mutex<Vec<Warm>>,
    /// Zero once the pool is closed.
    max_idle: AtomicUsize,
    /// Linear memory past which an instance is not kept after its call.
    max_memory: usize,
}

impl Pool {
    pub fn new(max_idle: usize, max_memory: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            max_idle: AtomicUsize::new(max_idle),
            max_memory,
        }
    }

    /// An idle instance, if there is one.
    pub fn take(&self) -> Option<Warm> {
        self.lock().pop()
    }

    /// Returns an instance after a call that completed normally.
    pub fn give_back(&self, mut warm: Warm) {
        warm.calls += 1;
        let state = warm.store.data();
        if warm.calls >= MAX_CALLS || state.memory_bytes() > self.max_memory || state.retired() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle.load(Ordering::Relaxed) {
            idle.push(warm);
        }
    }

    /// Changes how many idle instances the pool keeps, dropping any over the
    /// new number; zero empties the pool and keeps none given back later.
    pub fn set_capacity(&self, max_idle: usize) {
        self.max_idle.store(max_idle, Ordering::Relaxed);
        let surplus = {
            let mut idle = self.lock();
            let keep = idle.len().min(max_idle);
            idle.split_off(keep)
        };
        drop(surplus);
    }

    /// Instances waiting for a call, and the linear memory they hold.
    pub fn idle(&self) -> (usize, usize) {
        let idle = self.lock();
        let memory = idle.iter().map(|w| w.store.data().memory_bytes()).sum();
        (idle.len(), memory)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
