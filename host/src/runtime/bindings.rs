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
    imports: { "kvs:store/store": async | trappable, "kvs:store/types": trappable },
    trappable_error_type: { "kvs:store/types.error" => kvs_model::StoreError },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "kvs:store/types.request-body": super::state::RequestBody,
        "kvs:store/types.held-value": super::state::HeldValue,
    },
    require_store_data_send: true,
});

pub use self::kvs::store::{server, store, types};
pub use exports::kvs::store::{resp, rest};

impl From<kvs_model::headers::Headers> for rest::Headers {
    fn from(headers: kvs_model::headers::Headers) -> Self {
        Self {
            bytes: headers.bytes,
            lengths: headers.lengths,
        }
    }
}

impl From<rest::Headers> for kvs_model::headers::Headers {
    fn from(headers: rest::Headers) -> Self {
        Self {
            bytes: headers.bytes,
            lengths: headers.lengths,
        }
    }
}

/// The store imports again, synchronous, for the in-memory store: there
/// nothing waits, and a synchronous import costs a guest's call a plain
/// function call, where an async one costs a boxed future polled on the
/// instance's fiber (a tenth of the server's CPU on pipelined `SET`s).
/// Same WIT, same types; [`crate::runtime::engine`] links these or the
/// async ones by backend.
pub mod memory {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "package kvs:host; world memory-store { import kvs:store/store@0.1.0; }",
        imports: { "kvs:store/store": trappable },
        trappable_error_type: { "kvs:store/types.error" => kvs_model::StoreError },
        with: { "kvs:store/types": super::types },
        require_store_data_send: true,
    });

    pub use self::kvs::store::store;
}
