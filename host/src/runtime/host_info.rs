//! What the host tells its guests about itself (the WIT `server`
//! interface): its version, uptime, open connections and memory, for
//! replies such as Redis's `INFO`.

use crate::ops::metrics::ConnectionCounters;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Shared by the front ends, which count connections, and the guests'
/// calls, which read it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HostInfo {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    clients: AtomicU32,
    counters: ConnectionCounters,
}

impl Default for HostInfo {
    fn default() -> Self {
        Self::new(ConnectionCounters::default())
    }
}

/// A connection counted by [`HostInfo::client`], until dropped.
#[derive(Debug)]
pub struct Client(HostInfo);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.inner.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HostInfo {
    /// Reports `counters` (the metrics' own) to guests.
    pub fn new(counters: ConnectionCounters) -> Self {
        Self {
            inner: Arc::new(Inner {
                started: Instant::now(),
                clients: AtomicU32::new(0),
                counters,
            }),
        }
    }

    /// Counts an open connection of the TCP or RESP port while the result
    /// lives, and one more accepted.
    pub fn client(&self) -> Client {
        self.inner.counters.accepted.inc();
        self.inner.clients.fetch_add(1, Ordering::Relaxed);
        Client(self.clone())
    }

    pub fn connected_clients(&self) -> u32 {
        self.inner.clients.load(Ordering::Relaxed)
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Everything a guest is told, now: the one place it is gathered for
    /// both the `server` import and the native ceiling.
    pub fn facts(&self) -> kvs_model::ServerInfo {
        kvs_model::ServerInfo {
            version: format!("kvs {}", env!("CARGO_PKG_VERSION")),
            uptime_ms: self.uptime().as_millis() as u64,
            connected_clients: self.connected_clients(),
            resident_bytes: resident_bytes(),
            connections_received: self.inner.counters.accepted.get(),
            connections_rejected: self.inner.counters.refused.get(),
            commands_processed: self.inner.counters.commands.get(),
        }
    }
}

/// The process's resident memory in bytes, from `/proc/self/statm`; 0 where
/// that cannot be read.
pub fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    // The page size of every Linux target kvs builds for.
    pages * 4096
}
