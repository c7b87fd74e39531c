//! The HTTP front end: accepts connections, hands each request to
//! [`crate::logic`], logs it, and shuts down gracefully.
//!
//! The host parses HTTP (hyper); the guest decides what every request means. When the guest fails, the
//! client still gets a JSON error in the same envelope the guest uses, and
//! the host logs why.
//!
//! - [`parse_errors`]: the same envelope on the answers hyper gives itself.

pub mod parse_errors;

use crate::app::App;
use crate::front::listener::accept_loop;
use crate::logic::rest::{BodyTimedOut, full};
use crate::logic::{self, HttpFailure};
use crate::runtime::CallFailed;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use kvs_model::{Code, error_json};
use parse_errors::EnvelopedErrors;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
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
    let limit = config.max_connections;
    accept_loop(
        listener,
        "HTTP",
        limit,
        &shutdown,
        |socket, peer, slot| {
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
        },
        |socket, _| {
            app.metrics().http_refused();
            tokio::spawn(refuse(socket, limit));
        },
    )
    .await;
    graceful.shutdown().await;
}

/// Answers a connection over the limit with a 503 and closes it, without
/// reading its request.
async fn refuse(mut socket: TcpStream, limit: usize) {
    let body = error_json(
        Code::Unavailable,
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
    Ok(answer(app, config, request).instrument(span).await)
}

/// Runs one request through the REST logic, records it, and logs one line:
/// the public listener's answer, which the admin listener's explorer calls
/// get too.
pub async fn answer(
    app: App,
    config: HttpConfig,
    request: hyper::Request<Incoming>,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = match unsupported_transfer_coding(request.headers()) {
        Some(refusal) => refusal,
        None => match logic::serve_http(&app, request, config.body_timeout).await {
            Ok(response) => response,
            Err(HttpFailure::BodyTimedOut(BodyTimedOut(limit))) => request_timeout(limit),
            Err(HttpFailure::Call(failed)) => {
                if failed.not_durable.is_some() {
                    tracing::warn!(%method, %path, error = %failed, "write refused: not durable");
                } else {
                    tracing::error!(%method, %path, error = %failed, "guest failed");
                    app.metrics().guest_failure("http");
                }
                call_failed(&failed)
            }
        },
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
        Code::NotImplemented,
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

/// A JSON error the host answers itself.
fn host_error(status: StatusCode, code: Code, message: &str) -> hyper::Response<HyperOutgoingBody> {
    hyper::Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(full(Bytes::from(error_json(code, message))))
        .expect("a static response is valid")
}

/// The host's own answer when the call failed: a 503 when its writes could
/// not be made durable (and were not made), else a 500.
fn call_failed(failed: &CallFailed) -> hyper::Response<HyperOutgoingBody> {
    let reply = failed.client_error("request handler");
    let status = match reply.code {
        Code::NotDurable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    host_error(status, reply.code, &reply.message)
}

/// The answer to a client that did not send its body in time; the rest of
/// the body is not read, so the connection closes.
fn request_timeout(limit: Duration) -> hyper::Response<HyperOutgoingBody> {
    let mut response = host_error(
        StatusCode::REQUEST_TIMEOUT,
        Code::Timeout,
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
