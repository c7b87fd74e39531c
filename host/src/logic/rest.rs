//! The HTTP request as the guest's `rest` record, and its response back:
//! the host reads the whole body first (bounded by the value limit and the
//! body timeout), so the guest's call is one call with everything in it.

use crate::runtime::{RestRequest, RestResponse, rest};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::StatusCode;
use hyper::body::{Body as _, Incoming};
use hyper::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use kvs_model::headers::Headers;
use std::time::Duration;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The client did not send its body within the body timeout.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimedOut(pub Duration);

/// Reads a request for the guest's `rest` export, the whole body with it;
/// a body over `limit` is not read past the limit, and the request says so.
pub async fn read_request(
    request: hyper::Request<Incoming>,
    limit: u64,
    body_timeout: Duration,
) -> Result<RestRequest, BodyTimedOut> {
    let (parts, body) = request.into_parts();
    let body = tokio::time::timeout(body_timeout, read_body(body, limit))
        .await
        .map_err(|_| BodyTimedOut(body_timeout))?;
    Ok(RestRequest {
        method: parts.method.as_str().to_owned(),
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect::<Headers>(),
        body,
    })
}

/// Reads a body of at most `limit` bytes into one buffer. A declared length
/// over the limit is refused before reading anything. Reserving the declared
/// length up front avoids regrowing (and copying) a large value; the pages
/// are only committed as bytes arrive.
async fn read_body(mut body: Incoming, limit: u64) -> Result<Vec<u8>, rest::BodyError> {
    let declared = body.size_hint().exact();
    if declared.is_some_and(|length| length > limit) {
        return Err(rest::BodyError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| rest::BodyError::Broken(error.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (bytes.len() + data.len()) as u64 > limit {
                return Err(rest::BodyError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Builds the hyper response from the guest's record. The length is the
/// host's to set from the body it sends (except for `HEAD`, which has no
/// body to measure), so a guest cannot make the framing lie; header values
/// hyper refuses are dropped.
pub fn into_hyper(
    response: RestResponse,
    head_only: bool,
) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    let status = StatusCode::from_u16(response.status)
        .map_err(|_| anyhow::anyhow!("the guest answered with status {}", response.status))?;
    let mut builder = hyper::Response::builder().status(status);
    let headers = builder.headers_mut().expect("the builder has no error yet");
    for (name, value) in response.headers.iter() {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        else {
            continue;
        };
        let framing = name == CONTENT_LENGTH || name == hyper::header::TRANSFER_ENCODING;
        if framing && !(head_only && name == CONTENT_LENGTH) {
            continue;
        }
        headers.append(name, value);
    }
    Ok(builder
        .body(full(response.body))
        .expect("status and headers are valid"))
}

pub fn full(bytes: Bytes) -> HyperOutgoingBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
