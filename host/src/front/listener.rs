//! Listening sockets and the accept loop every front end shares: binding
//! with a deep accept queue, retrying accept errors, and the connection cap
//! with its refusals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Binds a listener whose accept queue holds `backlog` connections (capped
/// by the kernel's `net.core.somaxconn`), so a burst of connects up to the
/// front end's connection limit waits in the queue instead of having its
/// SYNs dropped and retried a second later.
pub fn bind(address: SocketAddr, backlog: usize) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok());
    let backlog = match somaxconn {
        Some(cap) if cap < backlog => {
            tracing::warn!(
                %address,
                backlog,
                somaxconn = cap,
                "the kernel caps the accept queue below the connection limit; raise \
                 net.core.somaxconn for bursts of new connections"
            );
            cap
        }
        _ => backlog,
    };
    socket.listen(u32::try_from(backlog.max(1)).unwrap_or(u32::MAX))
}

/// Held by a connection for as long as it is open; its slot under the
/// front end's connection cap frees when it drops.
pub type Slot = OwnedSemaphorePermit;

/// Accepts connections on `listener` until `shutdown` is cancelled, then
/// closes the listener. Each connection gets a slot under `max_connections`
/// and goes to `admit`; one over the cap is logged and goes to `refuse`,
/// which answers it without reading its requests. Both are called on the
/// accept loop's task and should spawn whatever takes time.
pub async fn accept_loop(
    listener: TcpListener,
    front_end: &'static str,
    max_connections: usize,
    shutdown: &CancellationToken,
    mut admit: impl FnMut(TcpStream, SocketAddr, Slot),
    mut refuse: impl FnMut(TcpStream, SocketAddr),
) {
    let slots = Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS)));
    while let Some((socket, peer)) = accept(&listener, shutdown, front_end).await {
        let _ = socket.set_nodelay(true);
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => admit(socket, peer, slot),
            Err(_) => {
                tracing::warn!(
                    %peer,
                    limit = max_connections,
                    "{front_end} connection refused: too many connections"
                );
                refuse(socket, peer);
            }
        }
    }
}

/// The next connection, or `None` once `shutdown` is cancelled. Accept errors
/// (out of file descriptors and the like) are logged and retried after a
/// pause instead of ending the listener.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    front_end: &str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(error) => {
                    tracing::warn!(%error, front_end, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A thousand connects at once, none accepted yet, all complete at once:
    /// the accept queue holds them (a queue of 128 drops the SYNs past it,
    /// and those clients wait a second for the retry).
    #[tokio::test]
    async fn the_accept_queue_takes_a_burst_of_connects() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
        let address = listener.local_addr().unwrap();
        let connects = (0..1000).map(|_| {
            tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(address),
            )
        });
        let results = futures::future::join_all(connects).await;
        let late = results.iter().filter(|r| !matches!(r, Ok(Ok(_)))).count();
        assert_eq!(
            late, 0,
            "{late} of 1000 connects did not complete within 500 ms"
        );
        drop(listener);
    }
}
