//! The admin endpoint: guest status, reload and rollback, on its own listener.
//!
//! | request | does |
//! |---|---|
//! | `GET /status` | the current and previous guests: generation, digest, source, load time |
//! | `POST /reload` | no body: reload the `--guest` file; a body (`Content-Type: application/wasm`): load that component |
//! | `POST /rollback` | return to the previous guest |
//! | `GET /metrics` | Prometheus text: requests, latency, TCP commands, guest failures and swaps, store size |
//!
//! It never shares a port with the public API. With `--admin-token` set,
//! every request needs `Authorization: Bearer <token>`; binding it to a
//! non-loopback address without a token is refused at start-up. Every admin
//! action is logged with the peer's address.

use crate::front::listener::accept_loop;
use crate::ops::reload::Reloader;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kvs_model::{Code, error_json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest component the admin endpoint accepts.
pub const MAX_UPLOAD_BYTES: usize = 256 << 20;

/// The media type of an uploaded component. A `POST /reload` that declares
/// it is an upload, so an empty one is refused as an empty component instead
/// of being taken for "reload your own file".
pub const COMPONENT_TYPE: &str = "application/wasm";

/// Settings of the admin endpoint.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// The bearer token required on every request, if any.
    pub token: Option<String>,
}

/// Serves the admin endpoint until `shutdown` is cancelled.
pub async fn serve(
    reloader: Arc<Reloader>,
    listener: TcpListener,
    config: AdminConfig,
    shutdown: CancellationToken,
) {
    let config = Arc::new(config);
    // No cap of its own: it serves operators and scrapers, on loopback or
    // behind a token, not the public.
    accept_loop(
        listener,
        "admin",
        usize::MAX,
        &shutdown,
        |socket, peer, _slot| {
            let reloader = Arc::clone(&reloader);
            let config = Arc::clone(&config);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let reloader = Arc::clone(&reloader);
                    let config = Arc::clone(&config);
                    async move {
                        Ok::<_, Infallible>(handle(&reloader, &config, peer, request).await)
                    }
                });
                if let Err(error) = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await
                {
                    tracing::debug!(%peer, %error, "admin connection ended with an error");
                }
            });
        },
        |_, _| {},
    )
    .await;
}

async fn handle(
    reloader: &Reloader,
    config: &AdminConfig,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let action = format!("{} {}", request.method(), request.uri().path());
    if let Some(token) = &config.token {
        let presented = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if presented != Some(token.as_str()) {
            tracing::warn!(%peer, %action, "admin request refused: missing or wrong token");
            return error(
                StatusCode::UNAUTHORIZED,
                Code::Unauthorized,
                "Error unauthorized: send Authorization: Bearer <admin token>",
            );
        }
    }
    tracing::info!(%peer, %action, "admin request");
    let trigger = "admin endpoint";
    let result = match (request.method(), request.uri().path()) {
        (&Method::GET, "/status") => return json(StatusCode::OK, &reloader.status()),
        (&Method::GET, "/metrics") => {
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", crate::ops::metrics::CONTENT_TYPE)
                .body(Full::new(Bytes::from(reloader.metrics())))
                .expect("a text response is valid");
        }
        (&Method::POST, "/reload") => match read_upload(request).await {
            Err(response) => return response,
            Ok(None) => reloader.reload_from_path(trigger).await,
            Ok(Some(body)) => {
                reloader
                    .reload_bytes(body.to_vec(), format!("admin upload from {peer}"), trigger)
                    .await
            }
        },
        (&Method::POST, "/rollback") => reloader.rollback(trigger).await,
        (_, "/status" | "/metrics") => return not_allowed("GET"),
        (_, "/reload" | "/rollback") => return not_allowed("POST"),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                Code::InvalidUrl,
                "Error invalid URL: try /status, /metrics, /reload or /rollback",
            );
        }
    };
    match result {
        Ok(outcome) => json(StatusCode::OK, &outcome.to_json()),
        Err(reason) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::GuestRejected,
            &format!("Error guest rejected, the running guest keeps serving: {reason:#}"),
        ),
    }
}

/// The component a `POST /reload` uploads, or `None` when it sends none
/// (no body and no component type: reload the `--guest` file). A declared
/// length over the limit is refused before any of the body is read.
async fn read_upload(request: Request<Incoming>) -> Result<Option<Bytes>, Response<Full<Bytes>>> {
    let too_large = |reason: &dyn std::fmt::Display| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::TooLarge,
            &format!("Error reading the component (at most {MAX_UPLOAD_BYTES} bytes): {reason}"),
        )
    };
    let declares_component = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case(COMPONENT_TYPE));
    let body = request.into_body();
    if let Some(length) = hyper::body::Body::size_hint(&body).exact()
        && length > MAX_UPLOAD_BYTES as u64
    {
        return Err(too_large(&format_args!("Content-Length is {length}")));
    }
    let bytes = match Limited::new(body, MAX_UPLOAD_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(reason) => return Err(too_large(&reason)),
    };
    match (bytes.is_empty(), declares_component) {
        (true, false) => Ok(None),
        (true, true) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::GuestRejected,
            "Error guest rejected, the running guest keeps serving: the uploaded component is \
             empty",
        )),
        (false, _) => Ok(Some(bytes)),
    }
}

/// A 405 that says, in `Allow`, which method the path takes.
fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::MethodNotAllowed,
        &format!("Error method not allowed: use {allow}"),
    );
    response.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    response
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    respond(status, value.to_string())
}

fn error(status: StatusCode, code: Code, message: &str) -> Response<Full<Bytes>> {
    respond(status, error_json(code, message))
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a JSON response is valid")
}
