//! Counters and gauges for operators, served at `GET /metrics` on the admin
//! listener in the OpenMetrics text format (which Prometheus scrapes), with
//! its content type.

use crate::backend::Backend;
use crate::backend::redis::health::Report;
use crate::data::DataDir;
use crate::ops::snapshot::HealthState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The content type of [`Metrics::render`]'s text: OpenMetrics 1.0, which
/// is what `prometheus-client` writes (`# EOF`, counters named without
/// `_total` in their `# TYPE` lines).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub status: u16,
}

/// Labels naming a front end (`http`, `tcp`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrontEndLabels {
    pub front_end: &'static str,
}

/// Handles on the TCP and RESP ports' counters (see
/// [`Metrics::connection_counters`]).
#[derive(Debug, Clone, Default)]
pub struct ConnectionCounters {
    pub accepted: Counter,
    pub refused: Counter,
    pub commands: Counter,
}

/// Every metric of the process. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histogram,
    tcp_commands: Counter,
    tcp_connections: Counter,
    tcp_refused: Counter,
    http_refused: Counter,
    guest_failures: Family<FrontEndLabels, Counter>,
    guest_swaps: Counter,
    guest_rejected: Counter,
    guest_generation: Gauge,
    guest_idle_instances: Gauge,
    guest_idle_memory: Gauge<u64, AtomicU64>,
    store_keys: Gauge,
    store_bytes: Gauge<u64, AtomicU64>,
    snapshot_age: Gauge<f64, AtomicU64>,
    snapshot_saves: Counter,
    snapshot_failures: Counter,
    log_bytes: Gauge<u64, AtomicU64>,
    log_syncs: Counter,
    log_sync_max: Gauge<f64, AtomicU64>,
    log_sync_age: Gauge<f64, AtomicU64>,
    log_compactions: Counter,
    log_failures: Counter,
    backend_up: Gauge,
    backend_operations: Counter,
    backend_failures: Counter,
    backend_round_trip: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kvs");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method and status",
            http_requests.clone(),
        );
        // 100 µs to about 3 s.
        let http_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head",
            http_duration.clone(),
        );
        let tcp_commands = Counter::default();
        registry.register(
            "tcp_commands",
            "TCP command lines answered",
            tcp_commands.clone(),
        );
        let tcp_connections = Counter::default();
        registry.register(
            "tcp_connections",
            "TCP and RESP connections accepted",
            tcp_connections.clone(),
        );
        let tcp_refused = Counter::default();
        registry.register(
            "tcp_connections_refused",
            "TCP connections refused at the limit",
            tcp_refused.clone(),
        );
        let http_refused = Counter::default();
        registry.register(
            "http_connections_refused",
            "HTTP connections refused at the limit",
            http_refused.clone(),
        );
        let guest_failures = Family::<FrontEndLabels, Counter>::default();
        registry.register(
            "guest_failures",
            "Guest calls that trapped, timed out or ran out of memory",
            guest_failures.clone(),
        );
        let guest_swaps = Counter::default();
        registry.register(
            "guest_swaps",
            "Guests swapped in (reloads and rollbacks)",
            guest_swaps.clone(),
        );
        let guest_rejected = Counter::default();
        registry.register(
            "guest_rejected",
            "New guests refused by compile, link or self-check",
            guest_rejected.clone(),
        );
        let guest_generation = Gauge::default();
        registry.register(
            "guest_generation",
            "Generation of the guest serving now",
            guest_generation.clone(),
        );
        let guest_idle_instances = Gauge::default();
        registry.register(
            "guest_idle_instances",
            "Warm instances of the current guest waiting for a call",
            guest_idle_instances.clone(),
        );
        let guest_idle_memory = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "guest_idle_memory_bytes",
            "Linear memory held by the current guest's idle instances",
            guest_idle_memory.clone(),
        );
        let store_keys = Gauge::default();
        registry.register("store_keys", "Entries in the store", store_keys.clone());
        let store_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "store_bytes",
            "Bytes charged against the store's memory budget",
            store_bytes.clone(),
        );
        let snapshot_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_age_seconds",
            "With --snapshot: seconds since the last good snapshot (since start-up when \
             there is none), the most a crash would lose",
            snapshot_age.clone(),
        );
        let snapshot_saves = Counter::default();
        registry.register(
            "snapshot_saves",
            "Snapshots written",
            snapshot_saves.clone(),
        );
        let snapshot_failures = Counter::default();
        registry.register(
            "snapshot_failures",
            "Snapshots that failed to be written",
            snapshot_failures.clone(),
        );
        let log_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "log_bytes",
            "With --data-dir: bytes written to the write-ahead log since the last compaction",
            log_bytes.clone(),
        );
        let log_syncs = Counter::default();
        registry.register(
            "log_syncs",
            "With --data-dir: fdatasync calls on the log (one per group of writes with --fsync always)",
            log_syncs.clone(),
        );
        let log_sync_max = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "log_sync_seconds_max",
            "With --data-dir: the slowest log sync so far",
            log_sync_max.clone(),
        );
        let log_sync_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "log_last_sync_age_seconds",
            "With --data-dir: seconds since the log was last synced to the disk",
            log_sync_age.clone(),
        );
        let log_compactions = Counter::default();
        registry.register(
            "log_compactions",
            "With --data-dir: log compactions (a new snapshot, the log before it deleted)",
            log_compactions.clone(),
        );
        let log_failures = Counter::default();
        registry.register(
            "log_failures",
            "With --data-dir: log writes and syncs that failed and were retried",
            log_failures.clone(),
        );
        let backend_up = Gauge::default();
        registry.register(
            "store_backend_up",
            "With --store redis://: 1 if the last operation on Redis succeeded, else 0",
            backend_up.clone(),
        );
        let backend_operations = Counter::default();
        registry.register(
            "store_backend_operations",
            "With --store redis://: store operations sent to Redis",
            backend_operations.clone(),
        );
        let backend_failures = Counter::default();
        registry.register(
            "store_backend_failures",
            "With --store redis://: store operations that failed because Redis could not be reached or did not answer in time",
            backend_failures.clone(),
        );
        let backend_round_trip = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "store_backend_round_trip_seconds",
            "With --store redis://: the mean time of a store operation on Redis",
            backend_round_trip.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            tcp_commands,
            tcp_connections,
            tcp_refused,
            http_refused,
            guest_failures,
            guest_swaps,
            guest_rejected,
            guest_generation,
            guest_idle_instances,
            guest_idle_memory,
            store_keys,
            store_bytes,
            snapshot_age,
            snapshot_saves,
            snapshot_failures,
            log_bytes,
            log_syncs,
            log_sync_max,
            log_sync_age,
            log_compactions,
            log_failures,
            backend_up,
            backend_operations,
            backend_failures,
            backend_round_trip,
        }
    }
}

impl Metrics {
    pub fn http_request(&self, method: &str, status: u16, duration: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                status,
            })
            .inc();
        self.http_duration.observe(duration.as_secs_f64());
    }

    /// The counters a guest is told about (Redis's `INFO stats`), shared
    /// with [`crate::runtime::HostInfo`] so they have one home.
    pub fn connection_counters(&self) -> ConnectionCounters {
        ConnectionCounters {
            accepted: self.tcp_connections.clone(),
            refused: self.tcp_refused.clone(),
            commands: self.tcp_commands.clone(),
        }
    }

    /// A batch of `count` TCP lines or RESP commands.
    pub fn tcp_commands(&self, count: u64) {
        self.tcp_commands.inc_by(count);
    }

    pub fn tcp_refused(&self) {
        self.tcp_refused.inc();
    }

    pub fn http_refused(&self) {
        self.http_refused.inc();
    }

    pub fn guest_failure(&self, front_end: &'static str) {
        self.guest_failures
            .get_or_create(&FrontEndLabels { front_end })
            .inc();
    }

    pub fn snapshot_saved(&self) {
        self.snapshot_saves.inc();
    }

    pub fn snapshot_failed(&self) {
        self.snapshot_failures.inc();
    }

    /// Snapshots written, and snapshots that failed, so far.
    pub fn snapshot_counts(&self) -> (u64, u64) {
        (self.snapshot_saves.get(), self.snapshot_failures.get())
    }

    pub fn guest_swapped(&self) {
        self.guest_swaps.inc();
    }

    pub fn guest_rejected(&self) {
        self.guest_rejected.inc();
    }

    /// Sets the Redis backend's gauges and brings its counters up to its own.
    fn read_backend(&self, report: &Report) {
        self.backend_up.set(i64::from(report.up));
        catch_up(&self.backend_operations, report.operations);
        catch_up(&self.backend_failures, report.failures);
        self.backend_round_trip
            .set(report.mean_round_trip.as_secs_f64());
    }

    /// Sets the log's gauges and brings its counters up to the log's own.
    fn read_log(&self, data: &DataDir) {
        let stats = data.log().stats();
        self.log_bytes.set(data.log_bytes_since_compaction());
        catch_up(&self.log_syncs, stats.syncs.load(Ordering::Relaxed));
        catch_up(&self.log_compactions, data.compactions());
        catch_up(&self.log_failures, stats.failures.load(Ordering::Relaxed));
        self.log_sync_max
            .set(stats.sync_micros_max.load(Ordering::Relaxed) as f64 / 1e6);
        let last_sync = stats.last_sync_unix_ms.load(Ordering::Relaxed);
        if last_sync > 0 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            self.log_sync_age
                .set(now.saturating_sub(last_sync) as f64 / 1e3);
        }
    }

    /// The Prometheus text exposition, with the gauges read now.
    pub fn render(
        &self,
        backend: &Backend,
        generation: u64,
        idle: (usize, usize),
        snapshot: Option<&HealthState>,
        data: Option<&DataDir>,
    ) -> String {
        if let Some(data) = data {
            self.read_log(data);
        }
        if let Some(snapshot) = snapshot {
            self.snapshot_age.set(snapshot.age_seconds());
        }
        let (idle_instances, idle_memory) = idle;
        self.guest_idle_instances
            .set(i64::try_from(idle_instances).unwrap_or(i64::MAX));
        self.guest_idle_memory.set(idle_memory as u64);
        match backend {
            // Redis is not asked for its counts on every scrape: that reads
            // every bucket. INFO and DBSIZE tell them.
            Backend::Redis(store) => self.read_backend(&store.health().report()),
            Backend::Memory(store) => {
                let usage = store.usage();
                self.store_keys
                    .set(i64::try_from(usage.keys).unwrap_or(i64::MAX));
                self.store_bytes.set(usage.bytes as u64);
            }
        }
        self.guest_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Brings a counter up to a count kept elsewhere.
fn catch_up(counter: &Counter, now: u64) {
    counter.inc_by(now.saturating_sub(counter.get()));
}
