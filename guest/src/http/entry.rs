//! `/kvs/{key}`: one handler per method, each a single atomic store call.

use super::conditions::{IfMatch, etag, parse_if_match};
use super::router::PREFIX;
use super::{BodyError, BodyReader, DEFAULT_CONTENT_TYPE, Request, Response};
use crate::envelope::{Code, ErrorReply};
use crate::storage::{Entry, Storage, StoreError};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in the `Location` of a created key.
const KEY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `GET` and `HEAD`: the stored bytes and type exactly as written.
pub fn get(store: &impl Storage, key: &str) -> Response {
    match store.get(key) {
        Ok(entry) => entry_response(200, entry),
        Err(err) => Response::error(err.into()),
    }
}

/// `POST`: create, never overwrite.
pub fn create(
    store: &impl Storage,
    key: &str,
    request: &Request,
    body: impl BodyReader,
) -> Response {
    let value = match read_value(store, request, body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    match store.create(key, &content_type(request), &value) {
        Ok(version) => Response::new(201)
            .header(
                "location",
                format!("{PREFIX}/{}", utf8_percent_encode(key, KEY_SAFE)),
            )
            .header("etag", etag(version))
            .header("content-length", "0"),
        Err(err) => Response::error(err.into()),
    }
}

/// `PUT`: update, never create; honours `If-Match`.
pub fn update(
    store: &impl Storage,
    key: &str,
    request: &Request,
    body: impl BodyReader,
) -> Response {
    let if_version = match if_version(request) {
        Ok(if_version) => if_version,
        Err(response) => return response,
    };
    let value = match read_value(store, request, body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    match store.update(key, &content_type(request), &value, if_version) {
        Ok(version) => Response::new(200)
            .header("etag", etag(version))
            .header("content-length", "0"),
        Err(err) => Response::error(err.into()),
    }
}

/// `DELETE`: remove and return the entry; honours `If-Match`.
pub fn delete(store: &impl Storage, key: &str, request: &Request) -> Response {
    let if_version = match if_version(request) {
        Ok(if_version) => if_version,
        Err(response) => return response,
    };
    match store.delete(key, if_version) {
        Ok(entry) => entry_response(200, entry),
        Err(err) => Response::error(err.into()),
    }
}

fn entry_response(status: u16, entry: Entry) -> Response {
    Response::new(status)
        .header("etag", etag(entry.version))
        .body(&entry.content_type, entry.value)
}

/// The version `If-Match` requires, or the 412 for a tag that can never match.
fn if_version(request: &Request) -> Result<Option<u64>, Response> {
    match parse_if_match(request.header("if-match")) {
        IfMatch::Any => Ok(None),
        IfMatch::Version(version) => Ok(Some(version)),
        IfMatch::Never => Err(Response::error(ErrorReply::new(
            Code::PreconditionFailed,
            "Error precondition failed: If-Match names no version of this key",
        ))),
    }
}

/// The type to store: the request's `Content-Type` verbatim, parameters and
/// all, or `application/octet-stream` when there is none.
fn content_type(request: &Request) -> String {
    request
        .header("content-type")
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or(DEFAULT_CONTENT_TYPE)
        .to_string()
}

/// Reads the body, refusing with 413 before reading anything when a declared
/// `Content-Length` is over the limit, and as soon as a streamed body passes it.
fn read_value(
    store: &impl Storage,
    request: &Request,
    body: impl BodyReader,
) -> Result<Vec<u8>, Response> {
    let limit = store.limits().max_value_bytes;
    let too_large = || Response::error(StoreError::TooLarge { limit }.into());
    let declared = request
        .header("content-length")
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    body.read_body(limit).map_err(|err| match err {
        BodyError::TooLarge => too_large(),
        BodyError::Broken(reason) => Response::error(ErrorReply::new(
            Code::Decoding,
            format!("Error reading the request body: {reason}"),
        ))
        .with_status(400),
    })
}
