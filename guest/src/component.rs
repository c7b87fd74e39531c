//! The adapter between the WIT world `kvs:store/service` and the plain-Rust
//! logic: it converts types and moves bytes, and decides nothing.

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "kvs:store/service",
        generate_all,
    });
}

use crate::http::{self, BodyError, Method};
use crate::protocol;
use crate::storage::{Entry, KeyPage, Limits, Storage, StoreError};
use bindings::exports::kvs::store::command::{self, After};
use bindings::exports::wasi::http::incoming_handler;
use bindings::kvs::store::store as host;
use bindings::kvs::store::types as wit;
use bindings::wasi::http::types::{
    Fields, IncomingRequest, Method as WasiMethod, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use bindings::wasi::io::streams::{OutputStream, StreamError};

/// Bytes asked for per read of a request body.
const READ_CHUNK: u64 = 64 * 1024;

struct Component;

bindings::export!(Component with_types_in bindings);

impl incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, outparam: ResponseOutparam) {
        crate::flavor::trap_if_broken();
        let parsed = http::Request {
            method: method(request.method()),
            path_with_query: request.path_with_query().unwrap_or_else(|| "/".into()),
            headers: request.headers().entries(),
        };
        let response = http::handle(&HostStore, &parsed, |limit| read_body(&request, limit));
        send(response, outparam);
    }
}

impl command::Guest for Component {
    fn handle_line(line: Vec<u8>) -> command::Reply {
        crate::flavor::trap_if_broken();
        let reply = protocol::handle_line(&HostStore, &line);
        command::Reply {
            line: reply.line,
            after: if reply.close {
                After::Close
            } else {
                After::KeepOpen
            },
        }
    }
}

fn method(method: WasiMethod) -> Method {
    match method {
        WasiMethod::Get => Method::Get,
        WasiMethod::Head => Method::Head,
        WasiMethod::Post => Method::Post,
        WasiMethod::Put => Method::Put,
        WasiMethod::Delete => Method::Delete,
        WasiMethod::Connect => Method::Other("CONNECT".into()),
        WasiMethod::Options => Method::Other("OPTIONS".into()),
        WasiMethod::Trace => Method::Other("TRACE".into()),
        WasiMethod::Patch => Method::Other("PATCH".into()),
        WasiMethod::Other(other) => Method::Other(other),
    }
}

fn read_body(request: &IncomingRequest, limit: u64) -> Result<Vec<u8>, BodyError> {
    let body = request
        .consume()
        .map_err(|()| BodyError::Broken("the body was already consumed".into()))?;
    let stream = body
        .stream()
        .map_err(|()| BodyError::Broken("the body stream is unavailable".into()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if bytes.len() as u64 + chunk.len() as u64 > limit {
                    return Err(BodyError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(err)) => {
                return Err(BodyError::Broken(err.to_debug_string()));
            }
        }
    }
}

fn send(response: http::Response, outparam: ResponseOutparam) {
    let headers = Fields::new();
    for (name, value) in &response.headers {
        // Handlers only produce valid header names; a value the host refuses
        // is dropped rather than failing the whole response.
        let _ = headers.append(name, value);
    }
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(outparam, Ok(outgoing));
    let Ok(stream) = body.write() else {
        return;
    };
    // A write fails only when the client has gone; nothing is left to tell.
    let written = write_all(&stream, &response.body);
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(body, None);
    }
}

fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permitted = stream.check_write()?;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes
            .len()
            .min(usize::try_from(permitted).unwrap_or(usize::MAX));
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    stream.blocking_flush()
}

/// The host's store, reached through the `kvs:store/store` imports.
struct HostStore;

impl Storage for HostStore {
    fn get(&self, key: &str) -> Result<Entry, StoreError> {
        host::get(key).map(entry).map_err(error)
    }

    fn create(&self, key: &str, content_type: &str, value: &[u8]) -> Result<u64, StoreError> {
        host::create(key, content_type, value).map_err(error)
    }

    fn update(
        &self,
        key: &str,
        content_type: &str,
        value: &[u8],
        if_version: Option<u64>,
    ) -> Result<u64, StoreError> {
        host::update(key, content_type, value, if_version).map_err(error)
    }

    fn delete(&self, key: &str, if_version: Option<u64>) -> Result<Entry, StoreError> {
        host::delete(key, if_version).map(entry).map_err(error)
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, StoreError> {
        host::list_keys(prefix, cursor, limit)
            .map(|page| KeyPage {
                keys: page.keys,
                next_cursor: page.next_cursor,
            })
            .map_err(error)
    }

    fn limits(&self) -> Limits {
        let limits = host::limits();
        Limits {
            max_key_bytes: limits.max_key_bytes,
            max_value_bytes: limits.max_value_bytes,
            max_page_size: limits.max_page_size,
        }
    }
}

fn entry(entry: wit::Entry) -> Entry {
    Entry {
        content_type: entry.content_type,
        value: entry.value,
        version: entry.version,
    }
}

fn error(error: wit::Error) -> StoreError {
    match error {
        wit::Error::NotFound => StoreError::NotFound,
        wit::Error::AlreadyExists => StoreError::AlreadyExists,
        wit::Error::VersionMismatch(current) => StoreError::VersionMismatch { current },
        wit::Error::TooLarge(limit) => StoreError::TooLarge { limit },
        wit::Error::StoreFull => StoreError::StoreFull,
        wit::Error::InvalidKey(reason) => StoreError::InvalidKey(reason),
    }
}
