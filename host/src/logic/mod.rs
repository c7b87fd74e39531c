//! Where requests go: the one place that knows the call path.
//!
//! The front ends ask one thing, "serve this HTTP request", "run this
//! line" or "run these Redis commands", and get a response or a reply; whether the guest's `rest` and
//! `command` exports, its `wasi:http` handler, or the guest crate compiled
//! into the host served it is decided here, by the [`CallPath`] the server
//! was started with.
//!
//! - [`rest`]: the HTTP request as the guest's `rest` record, and back.
//! - [`native`]: the guest's logic compiled into the host, the benchmarks'
//!   ceiling.

pub mod native;
pub mod rest;

use crate::app::App;
use crate::runtime::CallFailed;
use hyper::Method;
use hyper::body::Incoming;
pub use kvs_model::{LineReplies, RespReplies, RespSession};
use rest::BodyTimedOut;
use std::time::Duration;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How requests reach the REST and command logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CallPath {
    /// The guest's `rest` and `command` exports, one call per request on a
    /// warm instance; the host reads the HTTP body first.
    #[default]
    Rest,
    /// HTTP through the guest's `wasi:http/incoming-handler` on a fresh
    /// instance per request, as stock `wasmtime serve` runs it (the body is
    /// streamed, and the guest timeout covers its transfer); TCP as `rest`.
    WasiHttp,
    /// No WebAssembly: the guest crate compiled into the host. For
    /// benchmarks only, as the ceiling kvs is measured against.
    Native,
}

/// Why an HTTP request got no response from the logic.
#[derive(Debug)]
pub enum HttpFailure {
    /// The guest call failed; the front end answers for it.
    Call(CallFailed),
    /// The client was too slow with its body; nothing was called.
    BodyTimedOut(BodyTimedOut),
}

impl From<BodyTimedOut> for HttpFailure {
    fn from(timed_out: BodyTimedOut) -> Self {
        Self::BodyTimedOut(timed_out)
    }
}

impl From<CallFailed> for HttpFailure {
    fn from(failed: CallFailed) -> Self {
        Self::Call(failed)
    }
}

/// Serves one HTTP request on the server's call path. On the `rest` and
/// `native` paths the body is read first, bounded by the store's value limit
/// and `body_timeout`; on `wasi-http` the guest streams it.
pub async fn serve_http(
    app: &App,
    request: hyper::Request<Incoming>,
    body_timeout: Duration,
) -> Result<hyper::Response<HyperOutgoingBody>, HttpFailure> {
    let head_only = request.method() == Method::HEAD;
    let read = |request| {
        let limit = app.backend().limits().max_value_bytes as u64;
        rest::read_request(request, limit, body_timeout)
    };
    let response = match app.call_path() {
        CallPath::WasiHttp => {
            return Ok(app
                .guest()
                .handle_http(request)
                .await
                .map_err(CallFailed::from)?);
        }
        CallPath::Rest => {
            let request = read(request).await?;
            app.guest().handle_rest(request).await?
        }
        CallPath::Native => {
            let request = read(request).await?;
            let store = native_store(app)?;
            let response = native::handle_rest(store, request);
            store.durable().await.map_err(CallFailed::not_durable)?;
            response
        }
    };
    Ok(rest::into_hyper(response, head_only).map_err(CallFailed::from)?)
}

/// Runs a batch of Redis commands on the server's call path (`wasi-http`
/// changes only HTTP; commands go to the `resp` export).
pub async fn serve_resp(
    app: &App,
    session: RespSession,
    batch: &[u8],
) -> Result<RespReplies, CallFailed> {
    match app.call_path() {
        CallPath::Native => {
            let store = native_store(app)?;
            let replies = native::handle_resp(app, store, session, batch);
            store.durable().await.map_err(CallFailed::not_durable)?;
            Ok(replies)
        }
        CallPath::Rest | CallPath::WasiHttp => app.guest().handle_resp(session, batch).await,
    }
}

/// Runs the lines of the TCP command protocol a client sent together on the server's call path
/// (`wasi-http` changes only HTTP; lines go to the `command` export).
pub async fn serve_lines(app: &App, lines: &[u8]) -> Result<LineReplies, CallFailed> {
    match app.call_path() {
        CallPath::Native => {
            let store = native_store(app)?;
            let replies = native::handle_lines(store, lines);
            store.durable().await.map_err(CallFailed::not_durable)?;
            Ok(replies)
        }
        CallPath::Rest | CallPath::WasiHttp => app.guest().handle_lines(lines).await,
    }
}

/// The in-memory store the native ceiling runs on; the flags refuse
/// `--call-path native` with a Redis store before a request comes.
fn native_store(app: &App) -> Result<&crate::store::Store, CallFailed> {
    app.memory().ok_or_else(|| {
        CallFailed::from(anyhow::anyhow!(
            "the native call path runs on the in-memory store only"
        ))
    })
}
