//! The `kvs:store/rest` export: the REST API as one call, for the kvs host.
//!
//! The host has parsed the request and read its body, so this only converts
//! records; the routing is the same [`crate::http::handle`] that serves
//! `wasi:http/incoming-handler`. Bodies stay in the host: the request
//! carries a handle to its body, which a write names
//! ([`HostStore`]'s [`WritesFrom`](crate::storage::WritesFrom)), and a
//! `GET` answers with a handle to the stored value.

use super::Component;
use super::bindings::exports::kvs::store::rest;
use super::bindings::kvs::store::types::{HeldValue, Payload, RequestBody};
use super::host_store::HostStore;
use crate::http::{self, Body, BodyError};

impl rest::Guest for Component {
    fn handle(request: rest::Request) -> rest::Response {
        crate::flavor::trap_if_broken();
        let body = request.body.map_err(|error| match error {
            rest::BodyError::TooLarge => BodyError::TooLarge,
            rest::BodyError::Broken(reason) => BodyError::Broken(reason),
        });
        #[cfg(feature = "flavor-faulty")]
        let body = super::contract_violations::misuse_body(&request.path_with_query, body);
        let response: http::Response<Payload> = http::handle_read(
            &HostStore,
            &request.method,
            request.path_with_query,
            http::Headers {
                bytes: request.headers.bytes,
                lengths: request.headers.lengths,
            },
            body,
        );
        rest::Response {
            status: response.status,
            headers: rest::Headers {
                bytes: response.headers.bytes,
                lengths: response.headers.lengths,
            },
            body: response.body,
        }
    }
}

impl Body for RequestBody {
    fn size(&self) -> u64 {
        RequestBody::size(self)
    }
}

/// A response's body: bytes the guest made, or a value `get-held` left in
/// the host ([`HostStore`]'s [`ReadsAs`](crate::storage::ReadsAs)).
impl Body for Payload {
    fn size(&self) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::Held(value) => HeldValue::size(value),
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}
