//! The Redis protocol front end (RESP2): frames commands, hands each batch
//! a client sent together to [`crate::logic`] in one call, and writes the
//! replies back in order.
//!
//! - this module: the `--resp` listener and the per-connection loop, which
//!   the TCP port also runs for a connection whose first byte is `*`. It
//!   frames commands with [`kvs_model::resp`], within the size limits, and
//!   hands the guest the bytes of each batch as the client sent them
//!   (inline commands written as arrays).
//!
//! The guest keeps no state, so what a connection needs between calls (its
//! id and `CLIENT SETNAME`) is kept here and handed to each call. As on the
//! line protocol, a client that pipelines without reading is served until
//! it has `max_pending_reply_bytes` of unread replies; then the connection
//! stops reading until it catches up. Bytes that cannot be RESP get
//! `-ERR Protocol error: ...` and the connection is closed, as Redis does:
//! after them, no command boundary can be trusted.

use crate::app::App;
use crate::front::listener::accept_loop;
use crate::front::tcp::{NEXT_CONNECTION_ID, TcpConfig};
use crate::logic;
use kvs_model::resp::{self as framing, Framed, Limits};
use kvs_model::{RespReplies, RespSession};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

/// The most commands one guest call runs: a long pipeline is served in
/// calls of this many, so no call runs into the guest's time limit.
const MAX_BATCH_COMMANDS: usize = 1024;
/// The argument bytes past which a batch is cut, so a pipeline of large
/// values does not fill the guest's memory in one call.
const MAX_BATCH_BYTES: usize = 1 << 20;
/// The most elements one command's array may have (Redis's own bound).
const MAX_ELEMENTS: usize = 1024 * 1024;
/// The longest inline command (Redis's own bound).
const MAX_INLINE: usize = 64 << 10;

/// Serves RESP only (`--resp`), inline commands included, until `shutdown`
/// is cancelled; then lets each connection finish its batch and returns
/// once all are closed. Shares the TCP port's limits.
pub async fn serve(
    app: App,
    listener: TcpListener,
    config: TcpConfig,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    accept_loop(
        listener,
        "RESP",
        config.max_connections,
        &shutdown,
        |socket, peer, slot| {
            let app = app.clone();
            let shutdown = shutdown.clone();
            let id = NEXT_CONNECTION_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let span = tracing::info_span!("resp", connection_id = id, %peer);
            connections.spawn(
                async move {
                    tracing::debug!("RESP connection opened");
                    let result =
                        serve_connection(app, socket, Vec::new(), id, config, shutdown, true).await;
                    if let Err(error) = result {
                        tracing::debug!(%error, "RESP connection ended with an error");
                    }
                    drop(slot);
                }
                .instrument(span),
            );
        },
        |mut socket, _| {
            app.metrics().tcp_refused();
            connections.spawn(async move {
                let _ = socket
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
                let _ = socket.shutdown().await;
            });
        },
    )
    .await;
    connections.close();
    connections.wait().await;
}

/// Serves one RESP connection. `received` holds bytes already read from it
/// (the TCP port reads the first byte to tell the protocols apart);
/// `inline` allows inline commands.
pub async fn serve_connection(
    app: App,
    mut socket: TcpStream,
    received: Vec<u8>,
    id: u64,
    config: TcpConfig,
    shutdown: CancellationToken,
    inline: bool,
) -> std::io::Result<()> {
    let _client = app.host_info().client();
    let limits = Limits {
        max_bulk: app.backend().limits().max_value_bytes,
        max_elements: MAX_ELEMENTS,
        max_command: config
            .max_line_bytes
            .max(app.backend().limits().max_value_bytes + 4096),
        max_inline: MAX_INLINE,
    };
    let (mut read_half, mut write_half) = socket.split();
    let mut input = received;
    // Replies not yet written; `written` of them are out.
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0;
    let mut session = RespSession { id, name: None };
    // Set once no more commands will be read: the client closed its side,
    // sent QUIT or bad framing, idled out, or the server is shutting down.
    let mut closing = false;
    let mut last_request = Instant::now();
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    // One wait for shutdown for the connection's life: made anew on every
    // turn, it would join and leave the token's shared waiter list (a lock
    // all connections take) twice per request.
    let stopping = shutdown.cancelled();
    tokio::pin!(stopping);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        // Run every whole command already received, in batches.
        while !closing && out.len() - written < config.max_pending_reply_bytes {
            let (batch, invalid) = take_batch(&mut input, &limits, inline);
            if batch.commands > 0 {
                last_request = Instant::now();
                let replies = execute(&app, &mut session, batch).await;
                out.extend_from_slice(&replies.out);
                closing |= replies.close;
            }
            if let Some(reason) = invalid {
                tracing::debug!(%reason, "RESP protocol error; closing the connection");
                out.extend_from_slice(format!("-ERR Protocol error: {reason}\r\n").as_bytes());
                closing = true;
            }
            if !more_whole_commands(&input, &limits, inline) {
                break;
            }
        }
        let unwritten = out.len() - written;
        let reading = !closing && unwritten < config.max_pending_reply_bytes;
        if !reading && unwritten == 0 {
            break;
        }
        tokio::select! {
            biased;
            result = write_half.write(&out[written..]), if unwritten > 0 => {
                let n = result?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                written += n;
                if written == out.len() {
                    out.clear();
                    written = 0;
                }
            }
            () = &mut stopping, if reading => closing = true,
            () = &mut idle, if reading => {
                let idle_until = last_request + config.idle_timeout;
                if Instant::now() < idle_until {
                    idle.as_mut().reset(idle_until.into());
                    continue;
                }
                closing = true;
            }
            read = read_half.read(&mut chunk), if reading => {
                let n = read?;
                if n == 0 {
                    // Bytes of a command cut short are dropped, never run.
                    closing = true;
                    continue;
                }
                input.extend_from_slice(&chunk[..n]);
            }
        }
    }
    write_half.shutdown().await
}

/// Commands for one guest call: RESP arrays of bulk strings, back to back.
struct Batch {
    bytes: Vec<u8>,
    commands: usize,
}

/// Takes the whole commands at the start of `input`, up to a batch's
/// bounds, and the reason the bytes after them cannot be RESP, if so.
/// Arrays are copied as they came; inline commands are written as arrays.
fn take_batch(input: &mut Vec<u8>, limits: &Limits, inline: bool) -> (Batch, Option<String>) {
    let mut batch = Batch {
        bytes: Vec::with_capacity(input.len().min(MAX_BATCH_BYTES)),
        commands: 0,
    };
    let mut consumed = 0;
    let mut invalid = None;
    while batch.commands < MAX_BATCH_COMMANDS && batch.bytes.len() < MAX_BATCH_BYTES {
        match framing::frame(&input[consumed..], limits, inline) {
            Framed::Array { args, length } => {
                if args > 0 {
                    batch.commands += 1;
                    batch
                        .bytes
                        .extend_from_slice(&input[consumed..consumed + length]);
                }
                consumed += length;
            }
            Framed::Inline(args, length) => {
                if !args.is_empty() {
                    batch.commands += 1;
                    framing::encode_command(&args, &mut batch.bytes);
                }
                consumed += length;
            }
            Framed::Incomplete => break,
            Framed::Invalid(reason) => {
                invalid = Some(reason);
                break;
            }
        }
    }
    input.drain(..consumed);
    (batch, invalid)
}

/// Whether `input` starts with another whole command (or bad bytes), so
/// the next batch can run without reading.
fn more_whole_commands(input: &[u8], limits: &Limits, inline: bool) -> bool {
    !matches!(framing::frame(input, limits, inline), Framed::Incomplete)
}

/// Runs a batch through the logic. A call that fails costs each of its
/// commands an error reply (the client counts on one reply per command),
/// not the connection; its writes were taken back.
async fn execute(app: &App, session: &mut RespSession, batch: Batch) -> RespReplies {
    let count = batch.commands;
    app.metrics().tcp_commands(count as u64);
    // The clock is read only for the debug log that reports it.
    let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
    match logic::serve_resp(app, session.clone(), &batch.bytes).await {
        Ok(replies) => {
            *session = replies.session.clone();
            if let Some(started) = started {
                tracing::debug!(
                    commands = count,
                    bytes_out = replies.out.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "RESP batch"
                );
            }
            replies
        }
        Err(failed) => {
            let text = if let Some(error) = &failed.not_durable {
                tracing::warn!(error = %failed, "write refused: not durable");
                format!(
                    "-MISCONF the write-ahead log cannot be written ({error}); writes are refused until it can\r\n"
                )
            } else {
                tracing::error!(error = %failed, "guest failed on a RESP batch");
                app.metrics().guest_failure("resp");
                let reply = failed.client_error("command handler");
                format!("-ERR {}\r\n", reply.message.replace(['\r', '\n'], " "))
            };
            RespReplies {
                out: text.repeat(count).into_bytes(),
                session: session.clone(),
                close: false,
            }
        }
    }
}
