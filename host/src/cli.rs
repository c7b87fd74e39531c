//! Command-line arguments. Every setting has a flag, an environment variable
//! fallback and a documented default; `kvs --help` is the reference.

use crate::admin::AdminConfig;
use crate::admin_client::ReloadArgs;
use crate::bench::BenchArgs;
use crate::bench::compare::CompareArgs;
use crate::client::ClientArgs;
use crate::guest::GuestConfig;
use crate::guest::runtime::{CallPath, GuestProfiler};
use crate::http::HttpConfig;
use crate::store::Limits;
use crate::tcp::TcpConfig;
use bytesize::ByteSize;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// kvs: an in-memory key-value server whose request logic runs as a
/// WebAssembly component. Without a subcommand, `kvs` serves.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API and the TCP command protocol (the default).
    Serve(ServeArgs),
    /// Talk to a kvs TCP port: interactively, or running commands for a script.
    Client(ClientArgs),
    /// Ask a running kvs to reload its guest (or roll back), via its admin endpoint.
    Reload(ReloadArgs),
    /// Load-test a running kvs (or anything speaking its protocols), checking every reply.
    Bench(BenchArgs),
    /// Start kvs, its native ceiling, `wasmtime serve` and `redis-server` on
    /// loopback, benchmark each, and print one table.
    Compare(CompareArgs),
}

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address of the REST API.
    #[arg(long, env = "KVS_HTTP", default_value = "127.0.0.1:9000")]
    pub http: SocketAddr,

    /// Address of the TCP command protocol.
    #[arg(long, env = "KVS_TCP", default_value = "127.0.0.1:9001")]
    pub tcp: SocketAddr,

    /// A guest component to run instead of the one built into kvs. SIGHUP and
    /// `kvs reload` load it again.
    #[arg(long, env = "KVS_GUEST")]
    pub guest: Option<PathBuf>,

    /// Reload the --guest file whenever it changes (polled; a file still being
    /// written is waited for).
    #[arg(long, env = "KVS_WATCH", requires = "guest")]
    pub watch: bool,

    /// How often --watch looks at the guest file, in milliseconds.
    #[arg(long, env = "KVS_WATCH_INTERVAL_MS", default_value_t = 500)]
    pub watch_interval_ms: u64,

    /// Address of the admin endpoint (status, reload, rollback). Never the
    /// public port; anything but loopback requires --admin-token.
    #[arg(long, env = "KVS_ADMIN", default_value = "127.0.0.1:9002")]
    pub admin: SocketAddr,

    /// Bearer token the admin endpoint requires (Authorization: Bearer TOKEN).
    #[arg(long, env = "KVS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Longest key accepted, in bytes.
    #[arg(long, env = "KVS_MAX_KEY_BYTES", default_value = "1KiB")]
    pub max_key_bytes: ByteSize,

    /// Largest value accepted, in bytes (e.g. 16MiB).
    #[arg(long, env = "KVS_MAX_VALUE_BYTES", default_value = "16MiB")]
    pub max_value_bytes: ByteSize,

    /// Memory the store may hold: keys, values, types and per-entry overhead.
    /// Writes beyond it are refused (HTTP 507) and nothing stored is lost.
    #[arg(long, env = "KVS_MAX_STORE_BYTES", default_value = "1GiB")]
    pub max_store_bytes: ByteSize,

    /// Most keys one listing page returns.
    #[arg(long, env = "KVS_MAX_PAGE_SIZE", default_value_t = 1000)]
    pub max_page_size: usize,

    /// Guest calls that may run at once; further requests wait for a slot.
    #[arg(long, env = "KVS_MAX_INSTANCES", default_value_t = 256)]
    pub max_instances: u32,

    /// Linear memory one guest call may use.
    #[arg(long, env = "KVS_GUEST_MEMORY", default_value = "128MiB")]
    pub guest_memory: ByteSize,

    /// A warm guest instance whose memory grew past this (it served a large
    /// value; wasm memory never shrinks) is dropped after its call instead of
    /// kept for the next one.
    #[arg(long, env = "KVS_GUEST_RETAINED_MEMORY", default_value = "32MiB")]
    pub guest_retained_memory: ByteSize,

    /// Longest TCP request line; the default fits a 16 MiB value sent as body64.
    #[arg(long, env = "KVS_MAX_LINE_BYTES", default_value = "24MiB")]
    pub max_line_bytes: ByteSize,

    /// Open TCP connections at most; more are refused with an error line.
    #[arg(long, env = "KVS_MAX_TCP_CONNECTIONS", default_value_t = 4096)]
    pub max_tcp_connections: usize,

    /// A TCP connection that sends no complete request for this long is closed, in seconds.
    #[arg(long, env = "KVS_TCP_IDLE_TIMEOUT", default_value_t = 300)]
    pub tcp_idle_timeout_secs: u64,

    /// Time one guest call may take, in seconds; a call still running then
    /// fails with a 500 / error line. (With --call-path wasi-http it includes
    /// the body transfer.)
    #[arg(long, env = "KVS_GUEST_TIMEOUT", default_value_t = 10.0)]
    pub guest_timeout_secs: f64,

    /// How long a client may take to send a request's headers, in seconds.
    #[arg(long, env = "KVS_HEADER_TIMEOUT", default_value_t = 30)]
    pub header_timeout_secs: u64,

    /// How long a client may take to send a request's body once its headers
    /// are in, in seconds; a slower one gets a 408.
    #[arg(long, env = "KVS_BODY_TIMEOUT", default_value_t = 60)]
    pub body_timeout_secs: u64,

    /// Open HTTP connections at most; more get a 503 and are closed.
    #[arg(long, env = "KVS_MAX_HTTP_CONNECTIONS", default_value_t = 4096)]
    pub max_http_connections: usize,

    /// How requests reach the logic: `rest` (the guest's one-call export, on
    /// warm instances), `wasi-http` (the guest's wasi:http handler on a fresh
    /// instance per request, as `wasmtime serve` does), or `native` (no wasm:
    /// the guest's code compiled into kvs; a benchmark ceiling, not for
    /// production).
    #[arg(long, env = "KVS_CALL_PATH", value_enum, default_value_t = CallPath::Rest)]
    pub call_path: CallPath,

    /// Describe compiled guest code for `perf` (`perfmap` writes
    /// /tmp/perf-<pid>.map), so profiles name guest functions.
    #[arg(long, env = "KVS_GUEST_PROFILER", value_enum, default_value_t = GuestProfiler::None)]
    pub guest_profiler: GuestProfiler,

    /// On ctrl-c or SIGTERM, how long in-flight requests get to finish, in seconds.
    #[arg(long, env = "KVS_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,

    /// Keep the store in this file across restarts: loaded at start-up (a
    /// torn or corrupt file stops start-up with an error), written
    /// atomically at shutdown and every --snapshot-interval-secs.
    #[arg(long, env = "KVS_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,

    /// How often to write the --snapshot while the store changes, in seconds.
    #[arg(
        long,
        env = "KVS_SNAPSHOT_INTERVAL",
        default_value_t = 60.0,
        requires = "snapshot"
    )]
    pub snapshot_interval_secs: f64,

    /// Record a CPU profile of the whole run and write it here on exit: a
    /// flamegraph when the name ends in .svg, else pprof protobuf.
    #[arg(long, env = "KVS_CPUPROFILE")]
    pub cpuprofile: Option<PathBuf>,

    /// Log line format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "KVS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl ServeArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_key_bytes: to_usize(self.max_key_bytes),
            max_value_bytes: to_usize(self.max_value_bytes),
            max_store_bytes: to_usize(self.max_store_bytes),
            max_page_size: self.max_page_size.max(1),
            ..Limits::default()
        }
    }

    pub fn guest_config(&self) -> GuestConfig {
        GuestConfig {
            max_instances: self.max_instances.max(1),
            max_memory_bytes: to_usize(self.guest_memory),
            timeout: Duration::from_secs_f64(self.guest_timeout_secs.clamp(0.01, 86_400.0)),
            call_path: self.call_path,
            profiler: self.guest_profiler,
            max_retained_memory_bytes: to_usize(self.guest_retained_memory),
        }
    }

    pub fn http_config(&self) -> HttpConfig {
        HttpConfig {
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout_secs.max(1)),
            max_connections: self.max_http_connections.max(1),
        }
    }

    pub fn tcp_config(&self) -> TcpConfig {
        TcpConfig {
            max_line_bytes: to_usize(self.max_line_bytes).max(1),
            max_connections: self.max_tcp_connections.max(1),
            idle_timeout: Duration::from_secs(self.tcp_idle_timeout_secs.max(1)),
            ..TcpConfig::default()
        }
    }

    /// The admin settings, refused when the endpoint would be reachable from
    /// other machines without a token.
    pub fn admin_config(&self) -> anyhow::Result<AdminConfig> {
        let token = self.admin_token.clone().filter(|t| !t.is_empty());
        anyhow::ensure!(
            token.is_some() || self.admin.ip().is_loopback(),
            "the admin endpoint {} is not on loopback: set --admin-token (or KVS_ADMIN_TOKEN)",
            self.admin
        );
        Ok(AdminConfig { token })
    }

    pub fn watch_interval(&self) -> Option<Duration> {
        self.watch
            .then(|| Duration::from_millis(self.watch_interval_ms.max(10)))
    }

    pub fn snapshot_interval(&self) -> Duration {
        Duration::from_secs_f64(self.snapshot_interval_secs.clamp(0.01, 86_400.0 * 365.0))
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

fn to_usize(size: ByteSize) -> usize {
    usize::try_from(size.as_u64()).unwrap_or(usize::MAX)
}
