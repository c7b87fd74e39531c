//! Host bindings for the WIT world `kvs:store/service`, kept private to the
//! `guest` module. `wasi:http` and `wasi:io` types are wasmtime's own, so a
//! request built by `wasmtime-wasi-http` can be handed straight to the guest.

#![allow(missing_docs, unsafe_code, reason = "bindgen-generated code")]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "kvs:store/service",
    exports: { default: async },
    // The store imports speak the shared model's error; the one conversion
    // to the WIT variant is `convert_error` in `state.rs`.
    // They are async because on a Redis store each is a network round trip.
    imports: { "kvs:store/store": async | trappable },
    trappable_error_type: { "kvs:store/types.error" => kvs_model::StoreError },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
    },
    require_store_data_send: true,
});

pub use self::kvs::store::{server, store, types};
pub use exports::kvs::store::{resp, rest};
