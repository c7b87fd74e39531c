//! The adapter between a WIT world and the plain-Rust logic: it converts
//! types and moves bytes, and decides nothing.
//!
//! - The default build implements `kvs:store/service`: the store is the
//!   host's ([`host_store`]), and the REST API is exported twice, as the
//!   one-call [`rest`] interface the kvs host uses and as
//!   `wasi:http/incoming-handler` ([`wasi_http`]), next to the TCP
//!   protocol's [`command`] export and the Redis protocol's [`resp`].
//! - With the `portable` feature it implements `kvs:store/portable` for stock
//!   `wasmtime serve`: the store is a directory ([`crate::storage::FileStorage`]).

/// Every allocation of the guest, `cabi_realloc`'s included: talc, whose
/// small allocations cost a fraction of wasi-libc's dlmalloc's. A call
/// allocates and frees a few small buffers (its arguments, the entries the
/// store returns, its reply), which with dlmalloc were about a sixth of a
/// warm `cmd=get` call (`cargo bench --bench guest_call`).
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(not(feature = "portable"))]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "kvs:store/service",
        generate_all,
    });
}

#[cfg(feature = "portable")]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "kvs:store/portable",
        generate_all,
    });
}

#[cfg(not(feature = "portable"))]
mod command;
#[cfg(all(feature = "flavor-faulty", not(feature = "portable")))]
pub(crate) mod contract_violations;
#[cfg(not(feature = "portable"))]
mod host_store;
#[cfg(feature = "portable")]
mod portable;
#[cfg(not(feature = "portable"))]
mod resp;
#[cfg(not(feature = "portable"))]
mod rest;
mod wasi_http;

use crate::http;

struct Component;

bindings::export!(Component with_types_in bindings);

/// Serves one request over the build's storage backend.
#[cfg(not(feature = "portable"))]
fn serve(request: &http::Request, body: impl http::BodyReader<Body = Vec<u8>>) -> http::Response {
    // The bytes, not a held value: `wasi:http` has no way to send one.
    http::handle::<_, _, Vec<u8>>(&host_store::HostStore, request, body)
}

#[cfg(feature = "portable")]
fn serve(request: &http::Request, body: impl http::BodyReader<Body = Vec<u8>>) -> http::Response {
    match portable::storage() {
        Ok(storage) => http::handle(&storage, request, body),
        Err(error) => http::Response::error(error.into()),
    }
}
