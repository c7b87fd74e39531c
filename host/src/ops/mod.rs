//! Running kvs: what operators do to a live server, and what it does for
//! them.
//!
//! - [`reload`]: swapping the guest while the host runs (SIGHUP, admin).
//! - [`watch`]: `--watch`, reloading when the guest file changes.
//! - [`snapshot`]: `--snapshot`, the store saved to and loaded from a file.
//! - [`expiry`]: the sweep that reclaims expired entries.
//! - [`metrics`]: the Prometheus metrics the admin endpoint serves.
//! - [`profile`]: `--cpuprofile`, a CPU profile of the whole run.
//! - [`shutdown`]: ctrl-c and SIGTERM.

pub mod expiry;
pub mod metrics;
pub mod profile;
pub mod reload;
pub mod shutdown;
pub mod snapshot;
pub mod watch;
