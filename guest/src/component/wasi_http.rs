//! The `wasi:http/incoming-handler` export: the REST API as stock
//! `wasmtime serve` (and kvs's `--call-path wasi-http`) calls it, with the
//! body streamed through `wasi:io`.

use super::Component;
use super::bindings::exports::wasi::http::incoming_handler;
use super::bindings::wasi::http::types::{
    Fields, IncomingRequest, Method as WasiMethod, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use super::bindings::wasi::io::streams::{OutputStream, StreamError};
use crate::http::{self, BodyError, Method};

/// Bytes asked for per read of a request body.
const READ_CHUNK: u64 = 64 * 1024;

impl incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, outparam: ResponseOutparam) {
        crate::flavor::trap_if_broken();
        let parsed = http::Request {
            method: method(request.method()),
            path_with_query: request.path_with_query().unwrap_or_else(|| "/".into()),
            headers: request
                .headers()
                .entries()
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_slice()))
                .collect(),
        };
        let response = super::serve(&parsed, |limit| read_body(&request, limit));
        send(response, outparam);
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
    for (name, value) in response.headers.iter() {
        // Handlers only produce valid header names; a value the host refuses
        // is dropped rather than failing the whole response.
        if let Ok(name) = std::str::from_utf8(name) {
            let _ = headers.append(name, value);
        }
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
