//! How the Redis backend is doing, for `/status` and `/metrics`: whether
//! its last operation succeeded, how long operations take, and how many
//! failed, with the last reason.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Health {
    /// Whether the last operation reached the backend.
    up: AtomicBool,
    operations: AtomicU64,
    failures: AtomicU64,
    /// The time of all operations, and of the last one, in microseconds.
    total_micros: AtomicU64,
    last_micros: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

/// What [`Health`] holds, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub up: bool,
    pub operations: u64,
    pub failures: u64,
    pub last_round_trip: Duration,
    pub mean_round_trip: Duration,
    pub last_failure: Option<String>,
}

impl Health {
    /// Counts one operation that took `elapsed`, and why it failed if the
    /// backend could not serve it.
    pub fn record(&self, elapsed: Duration, failure: Option<String>) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.last_micros.store(micros, Ordering::Relaxed);
        self.up.store(failure.is_none(), Ordering::Relaxed);
        if let Some(failure) = failure {
            self.failures.fetch_add(1, Ordering::Relaxed);
            *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure);
        }
    }

    pub fn report(&self) -> Report {
        let operations = self.operations.load(Ordering::Relaxed);
        let total = self.total_micros.load(Ordering::Relaxed);
        Report {
            up: self.up.load(Ordering::Relaxed),
            operations,
            failures: self.failures.load(Ordering::Relaxed),
            last_round_trip: Duration::from_micros(self.last_micros.load(Ordering::Relaxed)),
            mean_round_trip: Duration::from_micros(total.checked_div(operations).unwrap_or(0)),
            last_failure: self
                .last_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
