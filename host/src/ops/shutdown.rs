//! One shutdown signal for every listener and connection.

use tokio_util::sync::CancellationToken;

/// A token cancelled on ctrl-c (SIGINT) or SIGTERM, the two ways operators
/// stop a server. The handlers are installed before this returns, so a signal
/// that arrives at any later moment shuts down gracefully instead of killing
/// the process.
pub fn on_signal() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let trigger = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("ctrl-c received, shutting down"),
                _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
            }
            trigger.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("ctrl-c received, shutting down");
            trigger.cancel();
        }
    });
    Ok(token)
}
