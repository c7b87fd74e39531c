//! The `kvs:store/rest` export: the REST API as one call, for the kvs host.
//!
//! The host has parsed the request and read its body, so this only converts
//! records; the routing is the same [`crate::http::handle`] that serves
//! `wasi:http/incoming-handler`. The body stays in the host: the request
//! carries a handle to it, which a write names
//! ([`HostStore`]'s [`WritesFrom`](crate::storage::WritesFrom)).

use super::Component;
use super::bindings::exports::kvs::store::rest;
use super::bindings::kvs::store::types::RequestBody;
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
        let response = http::handle_read(
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
