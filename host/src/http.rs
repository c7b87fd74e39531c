//! The HTTP front end: accepts connections, hands each request to the current
//! guest, logs it, and shuts down gracefully.
//!
//! The host parses HTTP (hyper); the guest decides what every request means.
//! When the guest fails, the client still gets a JSON error in the same
//! envelope the guest uses, and the host logs why.

use crate::app::App;
use crate::envelope;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Settings of the HTTP front end.
#[derive(Debug, Clone, Copy)]
pub struct HttpConfig {
    /// How long to wait for a request's headers before closing the connection.
    pub header_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
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
    loop {
        let Some((socket, peer)) = crate::server::accept(&listener, &shutdown, "HTTP").await else {
            break;
        };
        let _ = socket.set_nodelay(true);
        let app = app.clone();
        let connection = http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(config.header_timeout)
            .serve_connection(
                TokioIo::new(socket),
                service_fn(move |request| handle(app.clone(), request)),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Numbers requests so the log lines of one request can be told apart.
static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

async fn handle(
    app: App,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>, Infallible> {
    let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("http", request_id = id);
    Ok(serve_request(app, request).instrument(span).await)
}

/// Runs one request through the guest, records it, and logs one line.
async fn serve_request(
    app: App,
    request: hyper::Request<Incoming>,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = match app.guest().handle_http(request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%method, %path, error = format!("{error:#}"), "guest failed");
            app.metrics().guest_failure("http");
            internal_error()
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

/// The host's own answer when the guest could not give one.
fn internal_error() -> hyper::Response<HyperOutgoingBody> {
    let body = envelope::error_json(
        envelope::UNKNOWN,
        "Error internal: the request handler failed",
    );
    hyper::Response::builder()
        .status(500)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a static response is valid")
}
