//! kvs: an in-memory key-value server whose request logic runs as a
//! WebAssembly component.
//!
//! The host owns the sockets, the data, the limits and the guest's life
//! cycle; the guest (built from `guest/`) owns the REST routing and the TCP
//! command protocol, and reaches the data through the WIT imports in `wit/`.
//! What both sides agree on (entries, store errors, limits, paging, the
//! error envelope) is the `kvs-model` crate.
//!
//! The folders follow the path of a request:
//! - [`front`]: the front ends, which own the sockets: HTTP, the TCP line
//!   protocol, the admin endpoint, and the listener they share.
//! - [`logic`]: where a request or line goes (the guest, or the native
//!   ceiling); the one place that knows the call path.
//! - [`runtime`]: the WebAssembly runtime: the engine, loaded guests, warm
//!   instances, and the state of one call.
//! - [`store`]: the concurrent in-memory store with its memory budget.
//! - [`backend`]: where the data lives: that store, or Redis (`--store`),
//!   behind the one type the guest's store imports call.
//! - [`data`]: `--data-dir`: the write-ahead log and snapshots that keep
//!   the store across crashes and restarts.
//! - [`ops`]: running it: reloads, `--watch`, snapshots, metrics, CPU
//!   profiles, signals.
//! - [`tools`]: the user tools the same binary carries (`kvs client`,
//!   `kvs bench`, `kvs compare`, `kvs reload`); the server never calls them.
//!
//! And at the top, what ties them together:
//! - [`cli`]: command-line flags and their defaults.
//! - [`app`]: the state every front end shares.
//! - [`server`]: [`server::Server`], the whole life cycle on listeners the
//!   caller bound.

pub mod app;
pub mod backend;
pub mod cli;
pub mod data;
pub mod front;
pub mod logic;
pub mod ops;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tools;
