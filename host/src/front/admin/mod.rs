//! The admin listener: the key explorer, guest status, reload and rollback,
//! metrics.
//!
//! | request | does |
//! |---|---|
//! | `GET /` | the key explorer, a page in the browser ([`explorer`]) |
//! | `GET /status` | the current and previous guests: generation, digest, source, load time; the snapshot, data directory and store backend |
//! | `POST /reload` | no body: reload the `--guest` file; a body (`Content-Type: application/wasm`): load that component |
//! | `POST /rollback` | return to the previous guest |
//! | `GET /metrics` | OpenMetrics text: requests, latency, TCP commands, guest failures and swaps, store size |
//! | `/kvs`, `/kvs/{key}` | the REST API, through the same guest logic as the public listener |
//!
//! It never shares a port with the public API. With `--admin-token` set,
//! every request but the page's own files needs `Authorization: Bearer
//! <token>`; binding it to a non-loopback address without a token is
//! refused at start-up. Without a token it answers only requests that name
//! a loopback host and that no browser sent for another site, so a web page
//! elsewhere cannot drive it. Every admin action is logged with the peer's
//! address.

pub mod explorer;

use crate::app::App;
use crate::front::http::HttpConfig;
use crate::front::listener::accept_loop;
use crate::logic::rest::full;
use crate::ops::reload::Reloader;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderName;
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
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

type Reply = Response<HyperOutgoingBody>;

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

/// What the admin listener serves with.
struct Admin {
    app: App,
    reloader: Arc<Reloader>,
    config: AdminConfig,
    /// The public HTTP front end's settings, for the explorer's `/kvs` calls.
    http: HttpConfig,
}

/// Serves the admin endpoint until `shutdown` is cancelled.
pub async fn serve(
    app: App,
    reloader: Arc<Reloader>,
    listener: TcpListener,
    (config, http): (AdminConfig, HttpConfig),
    shutdown: CancellationToken,
) {
    let admin = Arc::new(Admin {
        app,
        reloader,
        config,
        http,
    });
    // No cap of its own: it serves operators and scrapers, on loopback or
    // behind a token, not the public.
    accept_loop(
        listener,
        "admin",
        usize::MAX,
        &shutdown,
        |socket, peer, _slot| {
            let admin = Arc::clone(&admin);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let admin = Arc::clone(&admin);
                    async move { Ok::<_, Infallible>(handle(&admin, peer, request).await) }
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

async fn handle(admin: &Admin, peer: SocketAddr, request: Request<Incoming>) -> Reply {
    let action = format!("{} {}", request.method(), request.uri().path());
    if let Some(reason) = foreign(&request, admin.config.token.is_some()) {
        tracing::warn!(%peer, %action, reason, "admin request refused");
        return error(
            StatusCode::FORBIDDEN,
            Code::Forbidden,
            &format!("Error forbidden: {reason}"),
        );
    }
    if matches!(*request.method(), Method::GET | Method::HEAD)
        && let Some(file) = explorer::page_file(request.uri().path())
    {
        return file;
    }
    if let Some(token) = &admin.config.token {
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
    if explorer::is_data(request.uri().path()) {
        tracing::debug!(%peer, %action, "admin data request");
        return explorer::data(admin.app.clone(), admin.http, request).await;
    }
    tracing::info!(%peer, %action, "admin request");
    let reloader = &admin.reloader;
    let trigger = "admin endpoint";
    let result = match (request.method(), request.uri().path()) {
        (&Method::GET, "/status") => return json(StatusCode::OK, &reloader.status()),
        (&Method::GET, "/metrics") => {
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", crate::ops::metrics::CONTENT_TYPE)
                .body(full(Bytes::from(reloader.metrics())))
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
        (_, path) if explorer::is_page_file(path) => return not_allowed("GET, HEAD"),
        (_, "/status" | "/metrics") => return not_allowed("GET"),
        (_, "/reload" | "/rollback") => return not_allowed("POST"),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                Code::InvalidUrl,
                "Error invalid URL: try /, /status, /metrics, /reload, /rollback or /kvs",
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

/// Why a request must be refused as sent from elsewhere, if it must: a
/// browser says so in `Sec-Fetch-Site` or `Origin` when a page of another
/// site (another port included) sends it. Without a token, the `Host` must
/// also be a loopback name: a page whose own name was made to resolve to
/// 127.0.0.1 (DNS rebinding) counts as same-origin to the browser, but
/// still names its own host. Clients that are not browsers (curl, scrapers)
/// send neither header and a loopback `Host`.
fn foreign(request: &Request<Incoming>, has_token: bool) -> Option<&'static str> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap_or("?"))
    };
    let host = header(hyper::header::HOST);
    if let Some(site) = header(HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return Some("the browser sent this request for another site");
    }
    if let Some(origin) = header(hyper::header::ORIGIN) {
        let own = host.and_then(|host| {
            origin
                .strip_prefix("http://")
                .map(|origin_host| origin_host.eq_ignore_ascii_case(host))
        });
        if own != Some(true) {
            return Some("the request comes from a page of another origin");
        }
    }
    if !has_token && !host.is_none_or(is_loopback_host) {
        return Some(
            "without --admin-token the admin listener answers only requests naming a loopback \
             host (127.0.0.1, [::1] or localhost)",
        );
    }
    None
}

/// Whether a `Host` header names a loopback address or `localhost`.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The component a `POST /reload` uploads, or `None` when it sends none
/// (no body and no component type: reload the `--guest` file). A declared
/// length over the limit is refused before any of the body is read.
async fn read_upload(request: Request<Incoming>) -> Result<Option<Bytes>, Reply> {
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
fn not_allowed(allow: &'static str) -> Reply {
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

fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    respond(status, value.to_string())
}

fn error(status: StatusCode, code: Code, message: &str) -> Reply {
    respond(status, error_json(code, message))
}

fn respond(status: StatusCode, body: String) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(Bytes::from(body)))
        .expect("a JSON response is valid")
}
