//! Starting and stopping the whole server on listeners the caller bound.
//!
//! Tests bind `127.0.0.1:0` and call [`run`] directly; the binary binds the
//! configured addresses, prints them, and calls the same [`run`].

use crate::admin::{self, AdminConfig};
use crate::app::App;
use crate::http::{self, HttpConfig};
use crate::reload::Reloader;
use crate::tcp::{self, TcpConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The bound sockets of every front end.
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub tcp: TcpListener,
    pub admin: TcpListener,
}

/// Settings of the front ends and of guest reloading.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub http: HttpConfig,
    pub tcp: TcpConfig,
    pub admin: AdminConfig,
    /// The `--guest` file, reloaded on SIGHUP, by the admin endpoint, and
    /// (with `watch_interval`) when it changes.
    pub guest_path: Option<PathBuf>,
    /// Poll the guest file this often and reload it when it changes.
    pub watch_interval: Option<Duration>,
    /// How long in-flight work may take to finish after shutdown begins.
    pub shutdown_timeout: Duration,
}

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

/// The next connection, or `None` once `shutdown` is cancelled. Accept errors
/// (out of file descriptors and the like) are logged and retried after a
/// pause instead of ending the listener.
pub async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    front_end: &str,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
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

/// Serves until `shutdown` is cancelled, then stops accepting and waits up to
/// the shutdown timeout for in-flight requests.
pub async fn run(
    app: App,
    listeners: Listeners,
    config: ServerConfig,
    shutdown: CancellationToken,
) {
    let reloader = Reloader::new(app.clone(), config.guest_path.clone());
    let http = tokio::spawn(http::serve(
        app.clone(),
        listeners.http,
        config.http,
        shutdown.clone(),
    ));
    let tcp = tokio::spawn(tcp::serve(
        app.clone(),
        listeners.tcp,
        config.tcp,
        shutdown.clone(),
    ));
    tokio::spawn(admin::serve(
        reloader.clone(),
        listeners.admin,
        config.admin.clone(),
        shutdown.clone(),
    ));
    #[cfg(unix)]
    tokio::spawn(crate::reload::reload_on_sighup(
        reloader.clone(),
        shutdown.clone(),
    ));
    if let (Some(path), Some(interval)) = (config.guest_path.clone(), config.watch_interval) {
        tokio::spawn(crate::watch::watch(
            reloader.clone(),
            path,
            interval,
            shutdown.clone(),
        ));
    }
    shutdown.cancelled().await;
    if tokio::time::timeout(config.shutdown_timeout, async {
        let _ = tokio::join!(http, tcp);
    })
    .await
    .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time; exiting anyway");
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
