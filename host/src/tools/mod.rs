//! The user tools the `kvs` binary carries next to the server. They talk to
//! a server over its sockets like any other client; no server module calls
//! them.
//!
//! - [`client`]: `kvs client`, for the TCP command protocol.
//! - [`bench`]: `kvs bench` and `kvs compare`, the load generator that
//!   checks every reply, and the side-by-side table.
//! - [`reload`]: `kvs reload`, the admin endpoint's command-line client.

pub mod bench;
pub mod client;
pub mod reload;
