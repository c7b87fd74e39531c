//! The TCP front end: frames request lines, hands each to
//! [`crate::logic`], and writes the replies back in request order.
//!
//! - [`framing`]: bytes to lines, with the line-length limit.
//! - this module: accepting, limits, and the per-connection loop.
//!
//! A connection whose first byte is `*` speaks RESP (the Redis protocol)
//! for its whole life and is handed to [`crate::front::resp`]; the line
//! protocol's requests never start with `*`.
//!
//! Each connection is one task that reads, executes and writes, like an event
//! loop: it writes queued replies whenever the socket takes them and reads the
//! next requests meanwhile, so a client that pipelines many requests before
//! reading any replies is served without either side waiting for the other,
//! until the client has `max_pending_reply_bytes` of unread replies; then
//! the connection stops reading until the client catches up. No second task
//! and no channel sit between a request and its reply.

pub mod framing;

/// Numbers connections so the log lines of one connection can be told apart.
pub(crate) static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

use crate::app::App;
use crate::front::listener::accept_loop;
use crate::logic::{self, LineReplies};
use framing::{Frame, LineReader};
use kvs_model::{Code, error_json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

/// The most request lines one guest call takes: a client pipelining more
/// has the rest run in the next call.
const MAX_BATCH_LINES: usize = 64;
/// A batch stops growing past this many bytes of requests, so a pipeline of
/// large values does not fill the guest's memory in one call.
const MAX_BATCH_BYTES: usize = 1 << 20;
/// A connection keeps a batch buffer this large between batches; one grown
/// past it by a large value is let go.
const KEPT_BATCH_BYTES: usize = 64 << 10;

/// Settings of the TCP front end.
#[derive(Debug, Clone, Copy)]
pub struct TcpConfig {
    /// Longest request line, in bytes. A longer line gets an error reply and
    /// is skipped; the connection stays usable.
    pub max_line_bytes: usize,
    /// Open connections at most; further ones get an error line and are closed.
    pub max_connections: usize,
    /// A connection with no complete request for this long is closed.
    pub idle_timeout: Duration,
    /// Bytes of replies a connection may have queued that the client has not
    /// read yet before the server stops reading its requests.
    pub max_pending_reply_bytes: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            max_line_bytes: 24 << 20,
            max_connections: 4096,
            idle_timeout: Duration::from_secs(300),
            max_pending_reply_bytes: 32 << 20,
        }
    }
}

/// Serves the line protocol until `shutdown` is cancelled; then stops
/// accepting, lets each connection finish its current command, and returns
/// when all connections are closed.
pub async fn serve(
    app: App,
    listener: TcpListener,
    config: TcpConfig,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    let limit = config.max_connections;
    accept_loop(
        listener,
        "TCP",
        limit,
        &shutdown,
        |socket, peer, slot| {
            let app = app.clone();
            let shutdown = shutdown.clone();
            let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
            let span = tracing::info_span!("tcp", connection_id = id, %peer);
            connections.spawn(
                async move {
                    tracing::debug!("TCP connection opened");
                    if let Err(error) = serve_connection(app, socket, id, config, shutdown).await {
                        tracing::debug!(%error, "TCP connection ended with an error");
                    }
                    drop(slot);
                }
                .instrument(span),
            );
        },
        |socket, _| {
            app.metrics().tcp_refused();
            connections.spawn(refuse(socket, limit));
        },
    )
    .await;
    connections.close();
    connections.wait().await;
}

async fn refuse(mut socket: TcpStream, limit: usize) {
    let line = error_json(
        Code::Unavailable,
        &format!("Error too many connections: the server allows {limit}; try again later"),
    );
    let _ = socket.write_all(format!("{line}\n").as_bytes()).await;
    let _ = socket.shutdown().await;
}

async fn serve_connection(
    app: App,
    mut socket: TcpStream,
    id: u64,
    config: TcpConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // The first byte tells the protocols apart; it stays in the socket.
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        peeked = socket.peek(&mut first) => peeked?,
        // Idle or stopping before a byte came: the line loop says so.
        () = shutdown.cancelled() => 0,
        () = tokio::time::sleep(config.idle_timeout) => 0,
    };
    if peeked == 1 && first[0] == b'*' {
        tracing::debug!("the connection speaks RESP");
        return crate::front::resp::serve_connection(
            app,
            socket,
            Vec::new(),
            id,
            config,
            shutdown,
            false,
        )
        .await;
    }
    let _client = app.host_info().client();
    let (read_half, mut write_half) = socket.split();
    let mut lines = LineReader::new(BufReader::new(read_half), config.max_line_bytes);
    // The lines of the batch being gathered, each ended by `\n`, as the
    // guest takes them.
    let mut run = Vec::new();
    // Replies not yet written, in request order; `written` of them are out.
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0;
    // Set once no more requests will be read: the client closed its side,
    // sent `stop`, idled out, or the server is shutting down. The replies
    // already queued are still written.
    let mut closing = false;
    // One timer per connection, re-armed only when it fires early: cheaper
    // than a fresh timeout per request line.
    let mut last_request = Instant::now();
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    // One wait for shutdown for the connection's life: made anew on every
    // turn, it would join and leave the token's shared waiter list (a lock
    // all connections take) twice per request.
    let stopping = shutdown.cancelled();
    tokio::pin!(stopping);
    loop {
        let unwritten = out.len() - written;
        // A client that does not read its replies is not read from either,
        // once it has a full budget of them waiting.
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
                queue_reply(&mut out, error_json(Code::Unavailable, "Error idle timeout: closing the connection"));
                closing = true;
            }
            frame = lines.next_frame(&mut run), if reading => {
                let Some(frame) = frame? else {
                    closing = true;
                    continue;
                };
                last_request = Instant::now();
                // Every request already received is answered before writing,
                // so a pipelined batch goes out in one write, and its lines
                // go to the guest in one call. More than a batch waits in
                // the reader for the next turn.
                closing |= answer(&app, &config, &mut lines, frame, &mut run, &mut out).await;
                if run.capacity() > KEPT_BATCH_BYTES {
                    run = Vec::new();
                }
            }
        }
    }
    write_half.shutdown().await
}

fn queue_reply(out: &mut Vec<u8>, reply: String) {
    out.extend_from_slice(reply.as_bytes());
    out.push(b'\n');
}

/// Answers `first` and the frames already buffered after it, up to a
/// batch, queuing a reply to each, in order: each run of lines goes to the
/// guest in one call, a line over the limit gets its error from the host.
/// `run` holds the lines so far (the first's, if a line) and is left empty.
/// True once a reply closes the connection; the frames after it are not run.
async fn answer<R: tokio::io::AsyncRead + Unpin>(
    app: &App,
    config: &TcpConfig,
    lines: &mut LineReader<R>,
    first: Frame,
    run: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> bool {
    let mut frames = 0;
    let mut count = 0;
    let mut next = Some(first);
    while let Some(frame) = next {
        frames += 1;
        match frame {
            Frame::Line => count += 1,
            Frame::TooLong => {
                let closed = execute(app, run, std::mem::take(&mut count), out).await;
                run.clear();
                if closed {
                    return true;
                }
                queue_reply(
                    out,
                    error_json(
                        Code::TooLarge,
                        &format!(
                            "Error line too long: the limit is {} bytes",
                            config.max_line_bytes
                        ),
                    ),
                );
            }
        }
        next = (frames < MAX_BATCH_LINES && run.len() < MAX_BATCH_BYTES)
            .then(|| lines.buffered_frame(run))
            .flatten();
    }
    let closed = execute(app, run, count, out).await;
    run.clear();
    closed
}

/// Runs `count` request lines (`lines` holds each ended by `\n`) through the
/// guest in one call and queues a reply to each; true if the last closes the
/// connection. A failing guest costs each line of the call an error reply
/// (its writes were taken back), not the connection. Each command is logged
/// at `debug`.
async fn execute(app: &App, lines: &[u8], count: usize, out: &mut Vec<u8>) -> bool {
    if count == 0 {
        return false;
    }
    app.metrics().tcp_commands(count as u64);
    // The clock is read only for the debug log that reports it.
    let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
    let replies = match logic::serve_lines(app, lines).await {
        Ok(replies) => replies,
        Err(failed) => {
            if failed.not_durable.is_some() {
                tracing::warn!(error = %failed, "write refused: not durable");
            } else {
                tracing::error!(error = %failed, "guest failed on TCP commands");
                app.metrics().guest_failure("tcp");
            }
            let line = failed.client_error("command handler").to_json();
            let mut each = line.into_bytes();
            each.push(b'\n');
            LineReplies {
                out: each.repeat(count),
                close: false,
            }
        }
    };
    if let Some(started) = started {
        let micros = started.elapsed().as_micros() as u64;
        let requests = lines.split(|&byte| byte == b'\n');
        for (request, reply) in requests.zip(replies.out.split(|&byte| byte == b'\n')) {
            tracing::debug!(
                command = command_name(request),
                outcome = outcome(reply),
                bytes_in = request.len(),
                bytes_out = reply.len(),
                batch = count,
                micros,
                "command"
            );
        }
    }
    out.extend_from_slice(&replies.out);
    replies.close
}

/// The `cmd=` of a request line, for the log (never its key or value).
fn command_name(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(256)]);
    text.split('|')
        .filter_map(|field| field.split_once('='))
        .find(|(name, _)| name.trim() == "cmd")
        .map(|(_, value)| value.trim().chars().take(32).collect())
        .unwrap_or_else(|| "?".into())
}

/// `ok`, or `error N` with the reply's error code.
fn outcome(reply: &[u8]) -> String {
    let reply = String::from_utf8_lossy(reply);
    if reply.starts_with(r#"{"ok":true"#) {
        return "ok".into();
    }
    let code = reply
        .split_once(r#""errorcode":"#)
        .map(|(_, rest)| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    format!("error {code}")
}
