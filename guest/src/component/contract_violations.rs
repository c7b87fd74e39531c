//! For the `faulty` test flavor only: calls that break the canonical ABI
//! contract with the host, made by hand because the generated bindings
//! cannot make them. The host must turn each into a trap of this one call
//! (a 500 or an error line), never a panic of its own.
//!
//! And state kept across calls, which a guest must not keep: a request
//! body's handle held past its call ([`misuse_body`]).

use super::bindings::kvs::store::types::RequestBody;
use crate::http::BodyError;
use std::cell::RefCell;

#[link(wasm_import_module = "kvs:store/store@0.1.0")]
unsafe extern "C" {
    /// `get: func(key: string) -> result<entry, error>`, lowered: the key as
    /// pointer and length, and where to write the result.
    #[link_name = "get"]
    fn raw_get(key: *const u8, key_len: usize, result: *mut u8);
}

#[link(wasm_import_module = "wasi:http/types@0.2.12")]
unsafe extern "C" {
    /// Drops a `fields` resource by handle.
    #[link_name = "[resource-drop]fields"]
    fn raw_drop_fields(handle: i32);
}

/// Breaks the contract in the way `key` names; other keys return.
pub fn violate(key: &str) {
    let mut result = [0u64; 8];
    let result = result.as_mut_ptr().cast::<u8>();
    // SAFETY: none of these is sound: each is a deliberate contract violation
    // the host must catch before it touches anything.
    unsafe {
        match key {
            // A key that is not UTF-8 where the contract says `string`.
            "fault-utf8" => raw_get([0xff, 0xfe, 0xfd].as_ptr(), 3, result),
            // A key that runs far past the end of linear memory.
            "fault-bounds" => raw_get(std::ptr::dangling(), 0x7fff_0000, result),
            // A resource handle the guest was never given.
            "fault-handle" => raw_drop_fields(0x00ab_cdef),
            _ => {}
        }
    }
}

thread_local! {
    /// A request body kept past its call by `/kvs/fault-keep-body`.
    static KEPT: RefCell<Option<RequestBody>> = const { RefCell::new(None) };
}

/// A write to `/kvs/fault-keep-body` keeps its request body's handle past
/// the call (and fails with 400); a write to `/kvs/fault-stale-body` stores
/// the kept body instead of its own if this instance still holds one. The
/// host must retire an instance that kept a body, so the stale write gets
/// a fresh instance and stores its own body.
pub fn misuse_body(
    path_with_query: &str,
    body: Result<RequestBody, BodyError>,
) -> Result<RequestBody, BodyError> {
    match path_with_query {
        "/kvs/fault-keep-body" => {
            KEPT.set(body.ok());
            Err(BodyError::Broken("the faulty guest kept the body".into()))
        }
        "/kvs/fault-stale-body" => match KEPT.take() {
            Some(kept) => Ok(kept),
            None => body,
        },
        _ => body,
    }
}
