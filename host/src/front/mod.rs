//! The front ends: each owns its sockets and its wire format, and hands
//! every request to [`crate::logic`] without knowing what serves it.
//!
//! - [`listener`]: binding, and the accept loop with its connection cap,
//!   shared by the public front ends.
//! - [`http`]: the REST API over HTTP/1.1 (hyper).
//! - [`tcp`]: the line protocol, one request line in, one reply line out;
//!   a connection that opens with `*` goes to [`resp`].
//! - [`resp`]: the Redis protocol, on the TCP port and on `--resp`.
//! - [`admin`]: the operators' endpoint (status, reload, rollback, metrics),
//!   on its own listener.

pub mod admin;
pub mod http;
pub mod listener;
pub mod resp;
pub mod tcp;
