//! kvs: an in-memory key-value server whose request logic runs as a
//! WebAssembly component.
//!
//! The host owns the sockets, the data, the limits and the guest's life
//! cycle; the guest (built from `guest/`) owns the REST routing and the TCP
//! command protocol, and reaches the data through the WIT imports in `wit/`.
//!
//! - [`cli`]: command-line flags and their defaults.
//! - [`client`]: `kvs client`, for the TCP command protocol.
//! - [`bench`]: `kvs bench`, the load generator that checks every reply.
//! - [`server`]: [`server::run`] on listeners the caller bound.
//! - [`app`]: the state every front end shares.
//! - [`http`]: the HTTP front end (hyper), each request handed to the guest.
//! - [`tcp`]: the TCP line protocol front end, each line handed to the guest.
//! - [`envelope`]: the JSON error envelope for errors the host answers itself.
//! - [`admin`]: the admin endpoint: guest status, reload, rollback.
//! - [`admin_client`]: `kvs reload`, the admin endpoint's command-line client.
//! - [`reload`]: swapping the guest while the host runs.
//! - [`watch`]: `--watch`, reloading when the guest file changes.
//! - [`metrics`]: Prometheus metrics, served by the admin endpoint.
//! - [`guest`]: the engine, loading components, calling them.
//! - [`native`]: the guest's logic compiled natively, the benchmarks' ceiling.
//! - [`profile`]: `--cpuprofile`, a CPU profile of the whole run.
//! - [`store`]: the concurrent store with its memory budget.
//! - [`shutdown`]: ctrl-c and SIGTERM.
//! - [`snapshot`]: `--snapshot`, the store saved to and loaded from a file.

pub mod admin;
pub mod admin_client;
pub mod app;
pub mod bench;
pub mod cli;
pub mod client;
pub mod envelope;
pub mod guest;
pub mod http;
pub mod metrics;
pub mod native;
pub mod profile;
pub mod reload;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod store;
pub mod tcp;
pub mod watch;
