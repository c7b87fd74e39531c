//! A loaded guest and the calls into it.
//!
//! Calls on the fast paths (the `rest` and `command` exports) run on warm
//! instances from the guest's [`Pool`], each in its own `wasmtime::Store`
//! with slots from the pooling allocator; a call that traps or is cancelled
//! takes its instance with it, so it cannot leave state behind for the next.
//! Calls through `wasi:http/incoming-handler` instantiate afresh every time,
//! as `wasmtime serve` does.

use super::bindings::{ServicePre, resp, rest, types};
use super::pool::{Pool, Warm};
use super::state::{CallState, Reverted};
use crate::backend::Backend;
use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use kvs_model::{Code, ErrorReply, LineReplies, RespReplies, RespSession, StoreError};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::UpdateDeadline;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// An HTTP request for the guest's `rest` export, parsed and with its body
/// read by the host: the export's record, but with the body as bytes, which
/// [`Guest::handle_rest`] keeps in the host and lends the guest as a
/// `request-body` handle.
#[derive(Debug)]
pub struct RestRequest {
    /// As sent: `GET`, `PUT`, ...
    pub method: String,
    /// The path and query as sent, still percent-encoded.
    pub path_with_query: String,
    pub headers: kvs_model::headers::Headers,
    /// The whole body, read up to the store's value limit.
    pub body: Result<Vec<u8>, rest::BodyError>,
}

/// The guest's `rest` response, its body as bytes to send: the bytes the
/// guest made, or the stored value it answered with, shared with the entry
/// it was read from.
#[derive(Debug)]
pub struct RestResponse {
    pub status: u16,
    pub headers: kvs_model::headers::Headers,
    pub body: Bytes,
}

/// A loaded guest, ready to serve calls. Cheap to share through an `Arc`.
/// Built by [`super::Runtime::load`].
pub struct Guest {
    pub(super) pre: ServicePre<CallState>,
    pub(super) pool: Pool,
    /// The pool's capacity while this guest is current.
    pub(super) max_idle: usize,
    pub(super) kv: Backend,
    pub(super) host: super::HostInfo,
    pub(super) timeout: Duration,
    pub(super) digest: String,
    pub(super) source: String,
    pub(super) loaded_at: std::time::SystemTime,
}

impl Guest {
    /// The SHA-256 of the component's bytes, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Where the component came from: a path, `built-in`, or `admin upload`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// When the component was compiled.
    pub fn loaded_at(&self) -> std::time::SystemTime {
        self.loaded_at
    }

    /// Drops the idle instances and keeps none from now on: called when the
    /// guest stops being current, so a guest kept for rollback holds no
    /// pooling-allocator slots. Calls still running on it finish normally.
    pub fn retire(&self) {
        self.pool.set_capacity(0);
    }

    /// Keeps warm instances again, for a guest made current by a rollback.
    pub fn reactivate(&self) {
        self.pool.set_capacity(self.max_idle);
    }

    /// Instances waiting for a call, and the linear memory they hold.
    pub fn idle_instances(&self) -> (usize, usize) {
        self.pool.idle()
    }

    /// Exercises its exports once, as a request would, before the guest may
    /// serve: a guest that traps or answers nonsense is refused here, while
    /// the running guest keeps serving. Both calls only read the store. On a
    /// Redis store that is down, the listing's proper answer is a 503 with
    /// code 20 ("unavailable"), which passes: kvs starts while its backend
    /// is down, and a guest swapped in meanwhile is checked as far as it can be.
    pub async fn self_check(self: &Arc<Self>) -> anyhow::Result<()> {
        let LineReplies { out, close } = self
            .handle_lines(b"cmd=help\n")
            .await
            .context("the self-check command `cmd=help` failed")?;
        let out = String::from_utf8_lossy(&out);
        let Some(reply) = out.strip_suffix('\n').filter(|reply| !reply.contains('\n')) else {
            anyhow::bail!("the self-check command `cmd=help` got not one reply line: {out:?}");
        };
        let parsed: serde_json::Value = serde_json::from_str(reply).with_context(|| {
            format!("the self-check command got a reply that is not JSON: {reply:?}")
        })?;
        anyhow::ensure!(
            parsed["ok"] == true && !close,
            "the self-check command `cmd=help` got an error reply: {reply}"
        );
        let response = self
            .handle_rest(RestRequest {
                method: "GET".into(),
                path_with_query: "/kvs?limit=1".into(),
                headers: [("host", &b"localhost"[..])].into_iter().collect(),
                body: Ok(Vec::new()),
            })
            .await
            .context("the self-check request `GET /kvs?limit=1` failed")?;
        let backend_down = matches!(self.kv, Backend::Redis(_))
            && response.status == 503
            && serde_json::from_slice::<serde_json::Value>(&response.body)
                .is_ok_and(|body| body["errorcode"] == Code::Unavailable as u16);
        anyhow::ensure!(
            response.status == 200 || backend_down,
            "the self-check request `GET /kvs?limit=1` answered {}",
            response.status
        );
        Ok(())
    }

    /// A fresh store for one call, whose deadline starts now.
    ///
    /// Guest code yields its runtime thread at every epoch tick, so a guest
    /// that loops holds no thread that other connections need: it costs only
    /// the call it is serving. At each tick the call's deadline is checked,
    /// and a call past it traps (`wasmtime::Trap::Interrupt`), however often it was
    /// resumed in between.
    fn new_store(&self, journaled: bool) -> wasmtime::Store<CallState> {
        let mut state = CallState::new(self.kv.clone(), self.host.clone());
        if journaled {
            state = state.journaled();
        }
        state.start_call(self.timeout);
        let mut store = wasmtime::Store::new(self.pre.engine(), state);
        store.limiter(|state| state.memory_use());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|context| {
            Ok(if context.data().past_deadline() {
                UpdateDeadline::Interrupt
            } else {
                // Tokio's yield puts the task at the back of the run queue;
                // a plain self-wake would let it jump the queue again.
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
        store
    }

    /// A warm instance from the pool, or a new one; its deadline starts now.
    async fn warm_instance(&self) -> anyhow::Result<Warm> {
        if let Some(mut warm) = self.pool.take() {
            warm.store.data_mut().start_call(self.timeout);
            warm.store.set_epoch_deadline(1);
            return Ok(warm);
        }
        let mut store = self.new_store(true);
        let service = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("instantiating the guest")?;
        Ok(Warm::new(store, service))
    }

    /// Serves one HTTP request, already parsed and with its body read,
    /// through the guest's `rest` export on a warm instance. The body stays
    /// here; the guest gets a handle to it, and may answer with a handle to
    /// a stored value, which is sent from the store's entry.
    /// A call that fails has its writes reverted (see
    /// [`super::state::Journal`]).
    pub async fn handle_rest(&self, request: RestRequest) -> Result<RestResponse, CallFailed> {
        let mut warm = self.warm_instance().await?;
        let state = warm.store.data_mut();
        let request = rest::Request {
            method: request.method,
            path_with_query: request.path_with_query,
            headers: request.headers.into(),
            body: request
                .body
                .map(|bytes| state.lend_body(Bytes::from(bytes))),
        };
        let called = warm
            .service
            .kvs_store_rest()
            .call_handle(&mut warm.store, &request)
            .await
            .and_then(|response| {
                let state = warm.store.data_mut();
                let body = match response.body {
                    types::Payload::Bytes(bytes) => Bytes::from(bytes),
                    types::Payload::Held(value) => state.take_held(value)?.into_value(),
                };
                state.end_call();
                Ok(RestResponse {
                    status: response.status,
                    headers: response.headers.into(),
                    body,
                })
            });
        self.finish(warm, called).await
    }

    /// Keeps the writes of a call that returned and gives its instance back;
    /// reverts those of a call that failed and drops its instance.
    /// The value of a call that returned waits, if the call wrote, until
    /// its writes are durable in the log (`--data-dir`): no reply
    /// acknowledges a write a crash could take.
    async fn finish<T>(
        &self,
        mut warm: Warm,
        called: wasmtime::Result<T>,
    ) -> Result<T, CallFailed> {
        match called {
            Ok(value) => {
                // If the log cannot be written, the writes are taken back
                // and the call fails as not durable.
                if warm.store.data().wrote()
                    && let Err(error) = self.kv.durable().await
                {
                    return Err(CallFailed {
                        reverted: warm.store.data_mut().revert().await,
                        error: anyhow::Error::from(error.clone()),
                        not_durable: Some(error),
                    });
                }
                warm.store.data_mut().commit();
                self.pool.give_back(warm);
                Ok(value)
            }
            Err(trap) => Err(CallFailed {
                reverted: warm.store.data_mut().revert().await,
                error: anyhow::Error::from(trap).context("the guest failed"),
                not_durable: None,
            }),
        }
    }

    /// Serves one HTTP request through the guest's `wasi:http/incoming-handler`.
    ///
    /// The guest keeps running in its own task after it hands over the
    /// response head, streaming the body; a guest that traps before that is
    /// an error here, and the caller answers for it.
    pub async fn handle_http<B>(
        self: &Arc<Self>,
        request: hyper::Request<B>,
    ) -> anyhow::Result<hyper::Response<HyperOutgoingBody>>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        // Not journaled: the guest may fail after it has sent its response,
        // and a write the client was told of must stay.
        let mut store = self.new_store(false);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(anyhow::Error::from)?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(anyhow::Error::from)?;
        let guest = Arc::clone(self);
        let task = tokio::task::spawn(async move {
            let service = guest.pre.instantiate_async(&mut store).await?;
            service
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, outparam)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => {
                // Not journaled, so not known to have written: wait for
                // every write so far before the response head goes out.
                self.kv.durable().await?;
                Ok(response)
            }
            Ok(Err(code)) => Err(anyhow!("the guest answered with an error: {code:?}")),
            Err(_) => match task.await {
                Ok(Ok(())) => Err(anyhow!("the guest returned without sending a response")),
                Ok(Err(trap)) => Err(anyhow::Error::from(trap).context("the guest failed")),
                Err(join) => Err(anyhow!(join).context("the guest task panicked")),
            },
        }
    }

    /// Runs the TCP command lines a client sent together through the
    /// guest's `command` export, in one call. A call that fails has the
    /// writes of all its lines reverted.
    pub async fn handle_lines(&self, lines: &[u8]) -> Result<LineReplies, CallFailed> {
        let mut warm = self.warm_instance().await?;
        let called = warm
            .service
            .kvs_store_command()
            .call_handle_lines(&mut warm.store, lines)
            .await;
        let replies = self.finish(warm, called).await?;
        Ok(LineReplies {
            out: replies.out,
            close: replies.close,
        })
    }
}

impl Guest {
    /// Runs a batch of Redis commands through the guest's `resp` export.
    /// A call that fails has the writes of the whole batch reverted.
    pub async fn handle_resp(
        &self,
        session: RespSession,
        batch: &[u8],
    ) -> Result<RespReplies, CallFailed> {
        let mut warm = self.warm_instance().await?;
        let session = resp::Session {
            id: session.id,
            name: session.name,
        };
        let called = warm
            .service
            .kvs_store_resp()
            .call_handle(&mut warm.store, &session, batch)
            .await;
        let reply = self.finish(warm, called).await?;
        Ok(RespReplies {
            out: reply.out,
            session: RespSession {
                id: reply.session.id,
                name: reply.session.name,
            },
            close: reply.close,
        })
    }
}

/// A guest call that failed (trapped, timed out, ran out of memory, or could
/// not start), and what became of the writes it had made.
#[derive(Debug)]
pub struct CallFailed {
    pub error: anyhow::Error,
    pub reverted: Reverted,
    /// Set when the call's writes could not be made durable (the log
    /// cannot be written): the client is told so, with its own code.
    pub not_durable: Option<StoreError>,
}

impl CallFailed {
    /// A call whose writes could not be made durable.
    pub fn not_durable(error: StoreError) -> Self {
        Self {
            error: anyhow::Error::from(error.clone()),
            reverted: Reverted::default(),
            not_durable: Some(error),
        }
    }

    /// What the client is told: that the call failed, and whether anything
    /// it asked for took effect anyway.
    pub fn client_message(&self, what: &str) -> String {
        format!("Error internal: the {what} failed; {}", self.reverted)
    }

    /// The error the client gets, in the envelope: not durable (the write
    /// was not made), or an internal error of the `what`.
    pub fn client_error(&self, what: &str) -> ErrorReply {
        match &self.not_durable {
            Some(error) => ErrorReply::from(error.clone()),
            None => ErrorReply::new(Code::Unknown, self.client_message(what)),
        }
    }
}

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#} ({})", self.error, self.reverted)
    }
}

impl std::error::Error for CallFailed {}

impl From<anyhow::Error> for CallFailed {
    fn from(error: anyhow::Error) -> Self {
        Self {
            error,
            reverted: Reverted::default(),
            not_durable: None,
        }
    }
}
