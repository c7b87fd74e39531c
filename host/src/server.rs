//! Starting and stopping the whole server on listeners the caller bound.
//!
//! Tests bind `127.0.0.1:0` and call [`run`] directly; the binary binds the
//! configured addresses, prints them, and calls the same [`run`].

use crate::app::App;
use crate::http::{self, HttpConfig};
use crate::tcp::{self, TcpConfig};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The bound sockets of every front end.
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub tcp: TcpListener,
}

/// Settings of the front ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerConfig {
    pub http: HttpConfig,
    pub tcp: TcpConfig,
    /// How long in-flight work may take to finish after shutdown begins.
    pub shutdown_timeout: Duration,
}

/// Serves until `shutdown` is cancelled, then stops accepting and waits up to
/// the shutdown timeout for in-flight requests.
pub async fn run(
    app: App,
    listeners: Listeners,
    config: ServerConfig,
    shutdown: CancellationToken,
) {
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
