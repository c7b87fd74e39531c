//! `/kvs/{key}`: one handler per method, each a single atomic store call.

use super::conditions::{IfMatch, parse_if_match, precondition, write_if};
use super::{Body, BodyError, BodyReader, DEFAULT_CONTENT_TYPE, PREFIX, Request, Response};
use crate::envelope::{Code, ErrorReply};
use crate::storage::{Entry, Expiry, ReadsAs, Storage, StoreError, WritesFrom, now_ms};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in the `Location` of a created key.
const KEY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The header that tells how many whole seconds an expiring entry has left
/// (rounded up); absent for an entry that does not expire.
pub const TTL_HEADER: &str = "kvs-ttl";

/// `?ttl=SECONDS` of a write: `Ok(None)` without one, an error reply for
/// one that is not a whole number of seconds from 1 to 100 years.
fn ttl(query: &str) -> Result<Option<u64>, Response> {
    let Some(raw) = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(name, _)| *name == "ttl")
        .map(|(_, value)| value)
    else {
        return Ok(None);
    };
    match kvs_model::store::parse_ttl_seconds(raw) {
        Some(seconds) => Ok(Some(now_ms() + seconds * 1000)),
        None => Err(Response::error(ErrorReply::new(
            Code::ArgumentException,
            format!(
                "Error argument exception: ttl must be whole seconds from 1 to {}, not {raw:?}",
                kvs_model::store::MAX_TTL_SECONDS
            ),
        ))),
    }
}

/// `GET` and `HEAD`: the stored bytes and type exactly as written.
/// The value comes as the store reads it for a response (`B`): from the
/// kvs host's store, a handle to the stored bytes, which the host sends
/// without copying them into the guest.
pub fn get<B: Body + From<Vec<u8>>>(store: &impl ReadsAs<B>, key: &str) -> Response<B> {
    match store.get_as(key) {
        Ok(entry) => entry_response(200, entry),
        Err(err) => Response::error(err.into()).into_body(),
    }
}

/// `POST`: create, never overwrite. With `If-Match` it never creates: the
/// condition needs an entry, which a create cannot have (412, or 409 when
/// the condition holds).
pub fn create<S, R>(store: &S, key: &str, query: &str, request: &Request, body: R) -> Response
where
    S: Storage + WritesFrom<R::Body>,
    R: BodyReader,
{
    let expires_at = match ttl(query) {
        Ok(expires_at) => expires_at,
        Err(response) => return response,
    };
    let condition = if_match(request);
    if condition != IfMatch::Absent {
        let refusal = match store.get(key) {
            Ok(current) if condition_holds(&condition, current.version) => {
                StoreError::AlreadyExists.into()
            }
            Ok(current) => precondition(StoreError::VersionMismatch {
                current: current.version,
            }),
            Err(error) => precondition(error),
        };
        return Response::error(refusal);
    }
    let content_type = match content_type(request) {
        Ok(content_type) => content_type,
        Err(response) => return response,
    };
    let value = match read_value(store, request, body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    match store.create_from(key, &content_type, &value, expires_at) {
        Ok(version) => Response::new(201)
            .header(
                "location",
                format!("{PREFIX}/{}", utf8_percent_encode(key, KEY_SAFE)),
            )
            .etag(version)
            .header("content-length", "0"),
        Err(err) => Response::error(write_error(err, key, &content_type, value.size())),
    }
}

fn condition_holds(condition: &IfMatch, version: u64) -> bool {
    match condition {
        IfMatch::Absent | IfMatch::Exists => true,
        IfMatch::AnyOf(versions) => versions.contains(&version),
    }
}

/// `PUT`: update, never create; honours `If-Match`. Without `?ttl=` the
/// new value never expires, as a Redis `SET` has it.
pub fn update<S, R>(store: &S, key: &str, query: &str, request: &Request, body: R) -> Response
where
    S: Storage + WritesFrom<R::Body>,
    R: BodyReader,
{
    let expiry = match ttl(query) {
        Ok(Some(at)) => Expiry::At(at),
        Ok(None) => Expiry::Clear,
        Err(response) => return response,
    };
    let condition = if_match(request);
    let content_type = match content_type(request) {
        Ok(content_type) => content_type,
        Err(response) => return response,
    };
    let value = match read_value(store, request, body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let updated = write_if(
        store,
        key,
        &condition,
        |if_version| store.update_from(key, &content_type, &value, if_version, expiry),
        |error| write_error(error, key, &content_type, value.size()),
    );
    match updated {
        Ok(version) => Response::new(200)
            .etag(version)
            .header("content-length", "0"),
        Err(reply) => Response::error(reply),
    }
}

/// `DELETE`: remove and return the entry; honours `If-Match`.
pub fn delete(store: &impl Storage, key: &str, request: &Request) -> Response {
    match write_if(
        store,
        key,
        &if_match(request),
        |if_version| store.delete(key, if_version),
        ErrorReply::from,
    ) {
        Ok(entry) => entry_response(200, entry),
        Err(reply) => Response::error(reply),
    }
}

fn entry_response<B: Body>(status: u16, entry: Entry<B>) -> Response<B> {
    let response = Response::new(status).etag(entry.version);
    let response = match entry.expires_at {
        Some(at) => response.header_u64(TTL_HEADER, kvs_model::store::seconds_left(at, now_ms())),
        None => response,
    };
    response.body(&entry.content_type, entry.value)
}

/// The request's `If-Match` condition, all its headers read as one list.
fn if_match(request: &Request) -> IfMatch {
    parse_if_match(request.headers_named("if-match"))
}

/// The type to store: the request's `Content-Type` verbatim, parameters and
/// all, or `application/octet-stream` when there is none. Two of them are
/// refused: which one the client meant cannot be known.
fn content_type(request: &Request) -> Result<String, Response> {
    let mut types = request.headers_named("content-type");
    let first = types.next();
    if types.next().is_some() {
        return Err(Response::error(ErrorReply::new(
            Code::ArgumentException,
            "Error argument exception: the request has more than one Content-Type header",
        )));
    }
    Ok(first
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or(DEFAULT_CONTENT_TYPE)
        .to_string())
}

/// A refused write as a reply; a `too-large` names the part that is too large.
fn write_error(error: StoreError, key: &str, content_type: &str, value_len: u64) -> ErrorReply {
    crate::envelope::write_refused(error, key, content_type, value_len)
}

/// Reads the body, refusing with 413 before reading anything when a declared
/// `Content-Length` is over the limit, and as soon as a streamed body passes it.
fn read_value<R: BodyReader>(
    store: &impl Storage,
    request: &Request,
    body: R,
) -> Result<R::Body, Response> {
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
