//! The TCP front end: frames request lines, hands each to the current guest,
//! and writes the replies back in request order.
//!
//! - [`framing`]: bytes to lines, with the line-length limit.
//! - this module: accepting, limits, and the per-connection loop.
//!
//! Each connection has a reader (which parses and executes) and a writer,
//! joined by a queue bounded in bytes. A client that pipelines many requests
//! before reading any replies is served: replies queue up to that bound while
//! the reader goes on, so neither side waits for the other until the client
//! has a full bound of unread replies.

pub mod framing;

/// Numbers connections so the log lines of one connection can be told apart.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

use crate::app::{App, CallPath};
use crate::envelope::{self, error_json};
use framing::{Frame, LineReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

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
    let slots = Arc::new(Semaphore::new(config.max_connections));
    loop {
        let Some((socket, peer)) = crate::server::accept(&listener, &shutdown, "TCP").await else {
            break;
        };
        let _ = socket.set_nodelay(true);
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, limit = config.max_connections, "TCP connection refused: too many connections");
            app.metrics().tcp_refused();
            connections.spawn(refuse(socket, config.max_connections));
            continue;
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("tcp", connection_id = id, %peer);
        connections.spawn(
            async move {
                tracing::debug!("TCP connection opened");
                if let Err(error) = serve_connection(app, socket, config, shutdown).await {
                    tracing::debug!(%error, "TCP connection ended with an error");
                }
                drop(slot);
            }
            .instrument(span),
        );
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

async fn refuse(mut socket: TcpStream, limit: usize) {
    let line = error_json(
        envelope::UNAVAILABLE,
        &format!("Error too many connections: the server allows {limit}; try again later"),
    );
    let _ = socket.write_all(format!("{line}\n").as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// One reply on its way to the writer, with its share of the byte budget.
struct Outgoing {
    line: String,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

async fn serve_connection(
    app: App,
    socket: TcpStream,
    config: TcpConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let (read_half, write_half) = socket.into_split();
    let mut lines = LineReader::new(BufReader::new(read_half), config.max_line_bytes);
    let (sender, mut queue) = mpsc::unbounded_channel::<Outgoing>();
    let replies = ReplyQueue::new(sender, config.max_pending_reply_bytes);

    let writer = tokio::spawn(async move {
        let mut out = BufWriter::new(write_half);
        while let Some(reply) = queue.recv().await {
            out.write_all(reply.line.as_bytes()).await?;
            out.write_all(b"\n").await?;
            // Write a pipelined batch with one syscall; flush when caught up.
            if queue.is_empty() {
                out.flush().await?;
            }
        }
        out.flush().await?;
        out.shutdown().await
    });

    let result = async {
        // One timer per connection, re-armed only when it fires early: cheaper
        // than a fresh timeout per request line.
        let mut last_request = Instant::now();
        let idle = tokio::time::sleep(config.idle_timeout);
        tokio::pin!(idle);
        loop {
            let frame = tokio::select! {
                () = shutdown.cancelled() => break,
                () = &mut idle => {
                    let idle_until = last_request + config.idle_timeout;
                    if Instant::now() < idle_until {
                        idle.as_mut().reset(idle_until.into());
                        continue;
                    }
                    let line = error_json(envelope::UNAVAILABLE, "Error idle timeout: closing the connection");
                    replies.send(line).await;
                    break;
                }
                frame = lines.next_frame() => match frame? {
                    None => break,
                    Some(frame) => frame,
                },
            };
            last_request = Instant::now();
            let (line, close) = match frame {
                Frame::TooLong => (
                    error_json(
                        envelope::TOO_LARGE,
                        &format!("Error line too long: the limit is {} bytes", config.max_line_bytes),
                    ),
                    false,
                ),
                Frame::Line(request) => execute(&app, &request).await,
            };
            replies.send(line).await;
            if close {
                break;
            }
        }
        Ok::<(), std::io::Error>(())
    }
    .await;
    drop(replies);
    let written = writer
        .await
        .unwrap_or_else(|join| Err(std::io::Error::other(join)));
    result.and(written)
}

/// Runs one request through the guest; a failing guest costs this request an
/// error reply, not the connection.
async fn execute(app: &App, request: &[u8]) -> (String, bool) {
    app.metrics().tcp_command();
    let reply = match app.call_path() {
        CallPath::Native => Ok(crate::native::handle_line(app.store(), request)),
        CallPath::Rest | CallPath::WasiHttp => app.guest().handle_line(request).await,
    };
    match reply {
        Ok(reply) => reply,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "guest failed on a TCP command"
            );
            app.metrics().guest_failure("tcp");
            (
                error_json(
                    envelope::UNKNOWN,
                    "Error internal: the command handler failed",
                ),
                false,
            )
        }
    }
}

/// The reader's end of the reply queue: unbounded in count, bounded in bytes.
struct ReplyQueue {
    sender: mpsc::UnboundedSender<Outgoing>,
    budget: Arc<Semaphore>,
    capacity: u32,
}

impl ReplyQueue {
    fn new(sender: mpsc::UnboundedSender<Outgoing>, capacity: usize) -> Self {
        let capacity = u32::try_from(capacity).unwrap_or(u32::MAX).max(1);
        Self {
            sender,
            budget: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Queues a reply, waiting while the client has too many unread replies.
    /// A reply larger than the whole budget takes all of it, so it waits for
    /// the queue to drain instead of forever.
    async fn send(&self, line: String) {
        let cost = u32::try_from(line.len() + 1)
            .unwrap_or(u32::MAX)
            .min(self.capacity);
        let Ok(permit) = Arc::clone(&self.budget).acquire_many_owned(cost).await else {
            return;
        };
        let _ = self.sender.send(Outgoing {
            line,
            _budget: permit,
        });
    }
}
