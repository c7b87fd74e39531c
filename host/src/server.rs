//! The whole life of a server, on listeners the caller bound.
//!
//! [`Server::new`] does everything that can fail before a socket matters:
//! it starts the CPU profile, loads the guest and the snapshot, and runs the
//! guest's self-check. [`Server::run`] serves until shutdown, then drains
//! the front ends, writes the last snapshot and finishes the profile. The
//! binary binds the configured addresses, prints them, and runs a `Server`;
//! the tests bind `127.0.0.1:0` and run the same `Server`.

use crate::app::App;
use crate::backend::Backend;
use crate::backend::redis::{RedisConfig, RedisStore};
use crate::data::DataDir;
use crate::data::log::Fsync;
use crate::front::admin::{self, AdminConfig};
use crate::front::http::{self, HttpConfig};
use crate::front::tcp::{self, TcpConfig};
use crate::logic::CallPath;
use crate::ops::profile::CpuProfile;
use crate::ops::reload::Reloader;
use crate::ops::snapshot;
use crate::runtime::{DEFAULT_GUEST, GuestConfig};
use crate::store::{Limits, Store};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The bound sockets of every front end, and the SIGHUPs that ask for a
/// reload.
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub tcp: TcpListener,
    pub admin: TcpListener,
    /// `--resp`: a listener that speaks only RESP, inline commands too.
    pub resp: Option<TcpListener>,
    /// SIGHUP, listened for before the server is announced, so a SIGHUP
    /// sent once the addresses are printed reloads the guest even if it
    /// arrives before [`Server::run`] has started its reload task (a stream
    /// made there would miss it). `None` in-process, where signals are the
    /// test runner's.
    #[cfg(unix)]
    pub hangups: Option<tokio::signal::unix::Signal>,
}

/// Everything a server is started with but its addresses: what `kvs serve`
/// makes of its flags (see [`crate::cli::ServeArgs::settings`]).
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    pub guest: GuestConfig,
    pub call_path: CallPath,
    pub http: HttpConfig,
    pub tcp: TcpConfig,
    pub admin: AdminConfig,
    /// The `--guest` file, served instead of the built-in guest and
    /// reloaded on SIGHUP, by the admin endpoint, and (with
    /// `watch_interval`) when it changes.
    pub guest_path: Option<PathBuf>,
    /// Poll the guest file this often and reload it when it changes.
    pub watch_interval: Option<Duration>,
    /// How long in-flight work may take to finish after shutdown begins.
    pub shutdown_timeout: Duration,
    /// `--snapshot`: the file the store is loaded from and saved to.
    pub snapshot: Option<PathBuf>,
    /// How often the snapshot is written while the store changes.
    pub snapshot_interval: Duration,
    /// `--cpuprofile`: where a CPU profile of the run is written on exit.
    pub cpuprofile: Option<PathBuf>,
    /// `--data-dir`: where the write-ahead log and its snapshots live.
    pub data_dir: Option<PathBuf>,
    /// When the log is synced to the disk.
    pub fsync: Fsync,
    /// Log growth, in bytes, past which the log is compacted.
    pub compact_log_bytes: usize,
    /// `--store redis://...`: the data lives on Redis; `None` keeps it in
    /// this process.
    pub redis: Option<RedisConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            guest: GuestConfig::default(),
            call_path: CallPath::default(),
            http: HttpConfig::default(),
            tcp: TcpConfig::default(),
            admin: AdminConfig::default(),
            guest_path: None,
            watch_interval: None,
            shutdown_timeout: Duration::from_secs(10),
            snapshot: None,
            snapshot_interval: Duration::from_secs(60),
            cpuprofile: None,
            data_dir: None,
            fsync: Fsync::default(),
            compact_log_bytes: 64 << 20,
            redis: None,
        }
    }
}

/// A server ready to serve: its guest loaded and checked, its snapshot
/// loaded.
pub struct Server {
    app: App,
    settings: Settings,
    profile: Option<CpuProfile>,
}

impl Server {
    /// Starts the CPU profile, loads the guest (the `--guest` file or the
    /// built-in one) and the snapshot, and self-checks the guest. Fails,
    /// saying why, on anything that would stop the server from serving.
    pub async fn new(settings: Settings) -> anyhow::Result<Self> {
        let profile = settings
            .cpuprofile
            .clone()
            .map(CpuProfile::start)
            .transpose()?;
        let (guest, source) = match &settings.guest_path {
            Some(path) => (
                std::fs::read(path).with_context(|| {
                    format!("cannot read the guest component {}", path.display())
                })?,
                path.display().to_string(),
            ),
            None => (DEFAULT_GUEST.to_vec(), "built-in".to_string()),
        };
        let backend = match &settings.redis {
            None => Backend::Memory(Store::new(settings.limits)),
            Some(config) => {
                let store = RedisStore::open(config.clone(), settings.limits)
                    .await
                    .with_context(|| format!("cannot serve from {}", config.target.describe()))?;
                tracing::info!(store = %store.describe(), buckets = config.layout.buckets, "the data lives on Redis");
                Backend::Redis(store)
            }
        };
        let app = App::new(backend, settings.guest, settings.call_path, &guest, &source)?;
        if let Some(path) = &settings.snapshot {
            let started = std::time::Instant::now();
            snapshot::check_writable(path)?;
            let loaded = snapshot::load(memory(&app)?, path)?;
            match loaded {
                Some(summary) => tracing::info!(
                    path = %path.display(),
                    entries = summary.entries,
                    bytes = summary.bytes,
                    millis = started.elapsed().as_millis() as u64,
                    "snapshot loaded"
                ),
                None => tracing::info!(path = %path.display(), "no snapshot yet: starting empty"),
            }
            let written_at = loaded.and_then(|_| std::fs::metadata(path).ok()?.modified().ok());
            app.snapshot_health().configure(path, written_at);
        }
        if let Some(root) = &settings.data_dir {
            let data = open_data_dir(&app, root, settings.fsync).await?;
            app.attach_data(data);
        }
        app.guest()
            .self_check()
            .await
            .context("the guest failed its start-up self-check")?;
        Ok(Self {
            app,
            settings,
            profile,
        })
    }

    /// The state the front ends share: the store, the guests, the metrics.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Serves until `shutdown` is cancelled; then stops accepting, waits up
    /// to the shutdown timeout for in-flight requests, writes the last
    /// snapshot and the CPU profile. Fails only if that last snapshot does.
    pub async fn run(
        self,
        listeners: Listeners,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let Self {
            app,
            settings,
            profile,
        } = self;
        let reloader = Reloader::new(app.clone(), settings.guest_path.clone());
        // Before the front ends serve: the periodic saves start from what
        // the store holds now, so no write is ever taken for saved.
        let snapshots = settings.snapshot.clone().map(|path| {
            tokio::spawn(snapshot::periodic(
                app.clone(),
                path,
                settings.snapshot_interval,
                shutdown.clone(),
            ))
        });
        let http = tokio::spawn(http::serve(
            app.clone(),
            listeners.http,
            settings.http,
            shutdown.clone(),
        ));
        let tcp = tokio::spawn(tcp::serve(
            app.clone(),
            listeners.tcp,
            settings.tcp,
            shutdown.clone(),
        ));
        let resp = listeners.resp.map(|listener| {
            tokio::spawn(crate::front::resp::serve(
                app.clone(),
                listener,
                settings.tcp,
                shutdown.clone(),
            ))
        });
        tokio::spawn(crate::ops::expiry::sweep(app.clone(), shutdown.clone()));
        if let Backend::Redis(store) = app.backend() {
            tokio::spawn(store.clone().watch(shutdown.clone()));
        }
        tokio::spawn(admin::serve(
            app.clone(),
            reloader.clone(),
            listeners.admin,
            (settings.admin.clone(), settings.http),
            shutdown.clone(),
        ));
        #[cfg(unix)]
        if let Some(hangups) = listeners.hangups {
            tokio::spawn(crate::ops::reload::reload_on_sighup(
                hangups,
                reloader.clone(),
                shutdown.clone(),
            ));
        }
        if let (Some(path), Some(interval)) = (settings.guest_path.clone(), settings.watch_interval)
        {
            tokio::spawn(crate::ops::watch::watch(
                reloader.clone(),
                path,
                interval,
                shutdown.clone(),
            ));
        }
        if let Some(data) = app.data() {
            tokio::spawn(compact_when_grown(
                app.clone(),
                Arc::clone(data),
                settings.compact_log_bytes as u64,
                shutdown.clone(),
            ));
        }
        shutdown.cancelled().await;
        if tokio::time::timeout(settings.shutdown_timeout, async {
            let resp = async {
                if let Some(resp) = resp {
                    let _ = resp.await;
                }
            };
            let _ = tokio::join!(http, tcp, resp);
        })
        .await
        .is_err()
        {
            tracing::warn!("in-flight requests did not finish in time; exiting anyway");
        }
        if let (Some(path), Some(periodic)) = (&settings.snapshot, snapshots) {
            // A periodic save may be running; let it finish before the last one.
            let _ = periodic.await;
            snapshot::save_logged(&app, path)
                .await
                .context("the snapshot at shutdown failed; the data since the last one is lost")?;
        }
        if let Some(data) = app.data() {
            data.close(memory(&app)?).await.context(
                "the last compaction of the data directory failed; its log keeps every write",
            )?;
            tracing::info!(path = %data.root().display(), "data directory compacted and closed");
        }
        if let Some(profile) = profile {
            let path = profile.path().display().to_string();
            let samples = profile.finish()?;
            tracing::info!(%path, samples, "CPU profile written");
        }
        Ok(())
    }
}

/// Opens `--data-dir`: recovers the store from it, logs what was found, and
/// compacts at once if a log was replayed, so the next start loads one
/// snapshot.
async fn open_data_dir(
    app: &App,
    root: &std::path::Path,
    fsync: Fsync,
) -> anyhow::Result<Arc<DataDir>> {
    let started = std::time::Instant::now();
    let store = memory(app)?;
    let (data, recovered) = DataDir::open(root, store, fsync)?;
    let usage = store.usage();
    tracing::info!(
        path = %root.display(),
        fsync = ?fsync,
        snapshot = recovered.snapshot.as_ref().map(|(path, _)| path.display().to_string()),
        segments = recovered.segments,
        records = recovered.records,
        entries = usage.keys,
        millis = started.elapsed().as_millis() as u64,
        "data directory recovered"
    );
    if recovered.records > 0 {
        data.compact(store)
            .await
            .context("compacting the recovered log")?;
    }
    Ok(Arc::new(data))
}

/// Compacts the log whenever it has grown by `threshold` bytes and past the
/// size of the last snapshot (so a large store is not rewritten for a small
/// log), until `shutdown`. A failed compaction is logged and tried again.
async fn compact_when_grown(
    app: App,
    data: Arc<DataDir>,
    threshold: u64,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let grown = data.log_bytes_since_compaction();
        if grown < threshold || grown < data.snapshot_bytes() {
            continue;
        }
        let started = std::time::Instant::now();
        let Ok(store) = memory(&app) else { return };
        match data.compact(store).await {
            Ok(summary) => tracing::info!(
                log_bytes = grown,
                entries = summary.entries,
                snapshot_bytes = summary.bytes,
                millis = started.elapsed().as_millis() as u64,
                "log compacted"
            ),
            Err(error) => tracing::error!(
                error = format!("{error:#}"),
                "log compaction failed; retrying"
            ),
        }
    }
}

/// The in-memory store, for what only it has (snapshots, the data
/// directory); the flags refuse those with a Redis store before this runs.
fn memory(app: &App) -> anyhow::Result<&Store> {
    app.memory()
        .context("snapshots and --data-dir need the in-memory store (--store memory)")
}
