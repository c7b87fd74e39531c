//! The WebAssembly runtime: compiling, linking, and calling guest
//! components.
//!
//! - [`engine`]: the one `Engine` of the process and how guests are run.
//! - [`compile`]: guests compiled in a child process, so the server never
//!   runs the compiler.
//! - [`guest`]: a loaded, pre-instantiated guest and the calls into it.
//! - [`state`]: what each `wasmtime::Store` carries: the store imports over
//!   the kvs store, a call's deadline, and the journal that reverts a
//!   failed call's writes.
//! - [`host_info`]: what the host tells guests about itself.
//! - `bindings`: the host side of the WIT world `kvs:store/service`.
//! - `pool`: warm instances of a guest, reused across calls.

mod bindings;
pub mod compile;
pub mod engine;
pub mod guest;
pub mod host_info;
mod pool;
pub mod state;

pub use bindings::rest;
pub use compile::Compiler;
pub use engine::{GuestConfig, GuestProfiler, Runtime};
pub use guest::{CallFailed, Guest, RestRequest, RestResponse};
pub use host_info::HostInfo;

/// The guest built from `guest/` by the build script, embedded so the `kvs`
/// binary runs with no other file.
pub const DEFAULT_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kvs_guest.wasm"));
