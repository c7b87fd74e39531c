//! The HTTP front end: accepts connections, hands each request to the guest
//! (or to the native ceiling), logs it, and shuts down gracefully.
//!
//! The host parses HTTP (hyper) and, on the default `rest` call path, reads
//! the body itself, bounded by the store's value limit and `body_timeout`;
//! the guest decides what every request means. When the guest fails, the
//! client still gets a JSON error in the same envelope the guest uses, and
//! the host logs why.
//!
//! - [`parse_errors`]: the same envelope on the answers hyper gives itself.

pub mod parse_errors;

use crate::app::{App, CallPath};
use crate::envelope;
use crate::guest::{CallFailed, rest};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use parse_errors::EnvelopedErrors;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Settings of the HTTP front end.
#[derive(Debug, Clone, Copy)]
pub struct HttpConfig {
    /// How long to wait for a request's headers before closing the connection.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body once its headers
    /// are in; a slower one gets a 408 and the connection is closed.
    pub body_timeout: Duration,
    /// Open connections at most; more get a 503 and are closed at once.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// Serves HTTP on `listener` until `shutdown` is cancelled, then stops
/// accepting and waits for in-flight requests to finish.
pub async fn serve(
    app: App,
    listener: TcpListener,
    config: HttpConfig,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    loop {
        let Some((socket, peer)) = crate::server::accept(&listener, &shutdown, "HTTP").await else {
            break;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, limit = config.max_connections, "HTTP connection refused: too many connections");
            app.metrics().http_refused();
            tokio::spawn(refuse(socket, config.max_connections));
            continue;
        };
        let _ = socket.set_nodelay(true);
        let app = app.clone();
        let connection = http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(config.header_timeout)
            .serve_connection(
                TokioIo::new(EnvelopedErrors::new(socket)),
                service_fn(move |request| handle(app.clone(), config, request)),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over the limit with a 503 and closes it, without
/// reading its request.
async fn refuse(mut socket: TcpStream, limit: usize) {
    let body = envelope::error_json(
        envelope::UNAVAILABLE,
        &format!("Error unavailable: too many connections (the limit is {limit}); retry later"),
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// Numbers requests so the log lines of one request can be told apart.
static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

async fn handle(
    app: App,
    config: HttpConfig,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>, Infallible> {
    let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("http", request_id = id);
    Ok(serve_request(app, config, request).instrument(span).await)
}

/// Runs one request through the guest, records it, and logs one line.
async fn serve_request(
    app: App,
    config: HttpConfig,
    request: hyper::Request<Incoming>,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = match dispatch(&app, config, request).await {
        Ok(response) => response,
        Err(failed) => {
            tracing::error!(%method, %path, error = %failed, "guest failed");
            app.metrics().guest_failure("http");
            internal_error(&failed.client_message("request handler"))
        }
    };
    let status = response.status().as_u16();
    app.metrics()
        .http_request(method.as_str(), status, started.elapsed());
    tracing::info!(
        %method,
        %path,
        status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// Hands the request to whatever serves this call path.
async fn dispatch(
    app: &App,
    config: HttpConfig,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>, CallFailed> {
    if let Some(refusal) = unsupported_transfer_coding(request.headers()) {
        return Ok(refusal);
    }
    let call_path = app.call_path();
    if call_path == CallPath::WasiHttp {
        return Ok(app.guest().handle_http(request).await?);
    }
    let head_only = request.method() == Method::HEAD;
    let limit = app.store().limits().max_value_bytes as u64;
    let request = match read_request(request, limit, config.body_timeout).await {
        Ok(request) => request,
        Err(timed_out) => return Ok(timed_out),
    };
    let response = match call_path {
        CallPath::Native => crate::native::handle_rest(app.store(), request),
        CallPath::Rest | CallPath::WasiHttp => app.guest().handle_rest(request).await?,
    };
    Ok(into_hyper(response, head_only)?)
}

/// A 501 for a body sent with a transfer coding other than `chunked`
/// (`gzip, chunked`, say): hyper takes the chunking off, but kvs does not
/// decode the rest, and storing the still-encoded bytes as the value would
/// be wrong. The body is not read, so the connection closes.
fn unsupported_transfer_coding(
    headers: &hyper::HeaderMap,
) -> Option<hyper::Response<HyperOutgoingBody>> {
    let codings = headers
        .get_all(hyper::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|coding| !coding.is_empty())
        .collect::<Vec<_>>();
    let unsupported = codings
        .iter()
        .find(|coding| !coding.eq_ignore_ascii_case("chunked"))?;
    let mut response = host_error(
        StatusCode::NOT_IMPLEMENTED,
        envelope::NOT_IMPLEMENTED,
        &format!(
            "Error not implemented: the transfer coding {unsupported:?} is not supported; \
             send the body plain or chunked"
        ),
    );
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}

/// Converts a request to the guest's `rest` record, reading the whole body;
/// a client too slow with its body gets a 408 instead.
async fn read_request(
    request: hyper::Request<Incoming>,
    limit: u64,
    body_timeout: Duration,
) -> Result<rest::Request, hyper::Response<HyperOutgoingBody>> {
    let (parts, body) = request.into_parts();
    let body = tokio::time::timeout(body_timeout, read_body(body, limit))
        .await
        .map_err(|_| request_timeout(body_timeout))?;
    Ok(rest::Request {
        method: parts.method.as_str().to_owned(),
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
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
fn into_hyper(
    response: rest::Response,
    head_only: bool,
) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    let status = StatusCode::from_u16(response.status)
        .map_err(|_| anyhow::anyhow!("the guest answered with status {}", response.status))?;
    let mut builder = hyper::Response::builder().status(status);
    let headers = builder.headers_mut().expect("the builder has no error yet");
    for (name, value) in response.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) else {
            continue;
        };
        let framing = name == CONTENT_LENGTH || name == hyper::header::TRANSFER_ENCODING;
        if framing && !(head_only && name == CONTENT_LENGTH) {
            continue;
        }
        headers.append(name, value);
    }
    Ok(builder
        .body(full(Bytes::from(response.body)))
        .expect("status and headers are valid"))
}

fn full(bytes: Bytes) -> HyperOutgoingBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON error the host answers itself.
fn host_error(status: StatusCode, code: u16, message: &str) -> hyper::Response<HyperOutgoingBody> {
    hyper::Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(full(Bytes::from(envelope::error_json(code, message))))
        .expect("a static response is valid")
}

/// The host's own answer when the guest could not give one.
fn internal_error(message: &str) -> hyper::Response<HyperOutgoingBody> {
    host_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        envelope::UNKNOWN,
        message,
    )
}

/// The answer to a client that did not send its body in time; the rest of
/// the body is not read, so the connection closes.
fn request_timeout(limit: Duration) -> hyper::Response<HyperOutgoingBody> {
    let mut response = host_error(
        StatusCode::REQUEST_TIMEOUT,
        envelope::TIMEOUT,
        &format!(
            "Error timeout: the request body did not arrive within {} s",
            limit.as_secs_f64()
        ),
    );
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}
