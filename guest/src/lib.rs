//! The kvs guest: the REST API, the TCP line protocol and the Redis
//! protocol, as a WebAssembly
//! component over a store the host provides.
//!
//! Everything but [`component`] is plain Rust that native unit tests call
//! directly:
//! - [`storage`]: the seam between the protocols and whatever keeps the data.
//! - [`http`]: routing and handlers of the REST API.
//! - [`protocol`]: the TCP command protocol, one line in, one line out.
//! - [`resp`]: the Redis protocol, a batch of commands in, their replies out.
//! - [`envelope`]: the JSON error envelope (its shape and codes are
//!   `kvs-model`'s, shared with the host).
//! - [`paging`]: listing requests and their opaque cursors, for both.
//! - [`json`]: the fast writer of the line protocol's common replies.
//! - [`flavor`]: which build this is (the default, or a test flavor), and
//!   the faults the test flavors inject at the component's edge.
//! - `component` (wasm32 only): the thin adapter from the WIT world
//!   `kvs:store/service` to the modules above.
//!
//! The guest keeps no state between calls, so the host may run each call on a
//! fresh or a reused instance, and may swap the guest at any time.

pub mod envelope;
pub mod flavor;
pub mod http;
pub mod json;
pub mod paging;
pub mod protocol;
pub mod resp;
pub mod storage;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, reason = "the glue wit-bindgen generates is unsafe code")]
mod component;
