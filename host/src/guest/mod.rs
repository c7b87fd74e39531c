//! Running guest components: compiling, linking, and calling them.
//!
//! - [`bindings`]: the host side of the WIT world `kvs:store/service`.
//! - [`state`]: what each `wasmtime::Store` carries, and the store imports.
//! - [`runtime`]: the one `Engine` and a loaded, pre-instantiated guest.
//! - `pool`: warm instances of a guest, reused across calls.

mod bindings;
mod pool;
pub mod runtime;
pub mod state;

pub use bindings::rest;
pub use runtime::{CallFailed, Guest, GuestConfig, Runtime};

/// The guest built from `guest/` by the build script, embedded so the `kvs`
/// binary runs with no other file.
pub const DEFAULT_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kvs_guest.wasm"));
