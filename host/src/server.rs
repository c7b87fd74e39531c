//! Starting and stopping the whole server on listeners the caller bound.
//!
//! Tests bind `127.0.0.1:0` and call [`run`] directly; the binary binds the
//! configured addresses, prints them, and calls the same [`run`].

use crate::admin::{self, AdminConfig};
use crate::app::App;
use crate::http::{self, HttpConfig};
use crate::reload::Reloader;
use crate::tcp::{self, TcpConfig};
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
