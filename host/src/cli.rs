//! Command-line arguments. Every setting has a flag, an environment variable
//! fallback and a documented default; `kvs --help` is the reference.

use crate::backend::redis::RedisConfig;
use crate::backend::redis::connection::{Target, TlsFiles};
use crate::backend::redis::layout::Layout;
use crate::data::check::CheckArgs;
use crate::data::log::Fsync;
use crate::front::admin::AdminConfig;
use crate::front::http::HttpConfig;
use crate::front::tcp::TcpConfig;
use crate::logic::CallPath;
use crate::runtime::compile::CompileArgs;
use crate::runtime::{Compiler, GuestConfig, GuestProfiler};
use crate::server::Settings;
use crate::store::Limits;
use crate::tools::bench::BenchArgs;
use crate::tools::bench::compare::CompareArgs;
use crate::tools::client::ClientArgs;
use crate::tools::reload::ReloadArgs;
use anyhow::Context as _;
use bytesize::ByteSize;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// kvs: an in-memory key-value server whose request logic runs as a
/// WebAssembly component.
///
/// Without a subcommand, `kvs` serves (the same as `kvs serve`).
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
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
    /// Check a --data-dir (the server must be stopped): its snapshot and log,
    /// and where they are damaged; with --fix, cut the log at the damage.
    CheckData(CheckArgs),
    /// Compile a guest for a serving kvs (run by kvs itself; see
    /// `runtime::compile`): the component on stdin, the artifact on stdout.
    #[command(hide = true)]
    CompileGuest(CompileArgs),
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

    /// Address of the TCP command protocol. A connection whose first byte
    /// is `*` speaks RESP (the Redis protocol) instead.
    #[arg(long, env = "KVS_TCP", default_value = "127.0.0.1:9001")]
    pub tcp: SocketAddr,

    /// Also listen here for RESP only, inline commands included (for
    /// example 127.0.0.1:6379, for `redis-cli` and `redis-benchmark`).
    /// Shares the TCP port's limits. Off by default.
    #[arg(long, env = "KVS_RESP")]
    pub resp: Option<SocketAddr>,

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
    #[arg(long, env = "KVS_MAX_KEY_BYTES", default_value = size_text(defaults().limits.max_key_bytes), value_parser = SizeParser)]
    pub max_key_bytes: ByteSize,

    /// Largest value accepted, in bytes (e.g. 16MiB).
    #[arg(long, env = "KVS_MAX_VALUE_BYTES", default_value = size_text(defaults().limits.max_value_bytes), value_parser = SizeParser)]
    pub max_value_bytes: ByteSize,

    /// Memory the store may hold: keys, values, types and per-entry overhead.
    /// Writes beyond it are refused (HTTP 507) and nothing stored is lost.
    #[arg(long, env = "KVS_MAX_STORE_BYTES", default_value = size_text(defaults().limits.max_store_bytes), value_parser = SizeParser)]
    pub max_store_bytes: ByteSize,

    /// Most keys one listing page returns.
    #[arg(long, env = "KVS_MAX_PAGE_SIZE", default_value_t = defaults().limits.max_page_size)]
    pub max_page_size: usize,

    /// Guest calls that may run at once; further requests wait for a slot.
    #[arg(long, env = "KVS_MAX_INSTANCES", default_value_t = defaults().guest.max_instances)]
    pub max_instances: u32,

    /// Linear memory one guest call may use.
    #[arg(long, env = "KVS_GUEST_MEMORY", default_value = size_text(defaults().guest.max_memory_bytes), value_parser = SizeParser)]
    pub guest_memory: ByteSize,

    /// A warm guest instance whose memory grew past this (it served a large
    /// value; wasm memory never shrinks) is dropped after its call instead of
    /// kept for the next one.
    #[arg(long, env = "KVS_GUEST_RETAINED_MEMORY", default_value = size_text(defaults().guest.max_retained_memory_bytes), value_parser = SizeParser)]
    pub guest_retained_memory: ByteSize,

    /// Longest TCP request line; the default fits a 16 MiB value sent as body64.
    #[arg(long, env = "KVS_MAX_LINE_BYTES", default_value = size_text(defaults().tcp.max_line_bytes), value_parser = SizeParser)]
    pub max_line_bytes: ByteSize,

    /// Open TCP connections at most; more are refused with an error line.
    #[arg(long, env = "KVS_MAX_TCP_CONNECTIONS", default_value_t = defaults().tcp.max_connections)]
    pub max_tcp_connections: usize,

    /// A TCP connection that sends no complete request for this long is closed, in seconds.
    #[arg(long, env = "KVS_TCP_IDLE_TIMEOUT", default_value_t = defaults().tcp.idle_timeout.as_secs())]
    pub tcp_idle_timeout_secs: u64,

    /// Time one guest call may take, in seconds; a call still running then
    /// fails with a 500 / error line. (With --call-path wasi-http it includes
    /// the body transfer.)
    #[arg(long, env = "KVS_GUEST_TIMEOUT", default_value_t = defaults().guest.timeout.as_secs_f64())]
    pub guest_timeout_secs: f64,

    /// How long a client may take to send a request's headers, in seconds.
    #[arg(long, env = "KVS_HEADER_TIMEOUT", default_value_t = defaults().http.header_timeout.as_secs())]
    pub header_timeout_secs: u64,

    /// How long a client may take to send a request's body once its headers
    /// are in, in seconds; a slower one gets a 408.
    #[arg(long, env = "KVS_BODY_TIMEOUT", default_value_t = defaults().http.body_timeout.as_secs())]
    pub body_timeout_secs: u64,

    /// Open HTTP connections at most; more get a 503 and are closed.
    #[arg(long, env = "KVS_MAX_HTTP_CONNECTIONS", default_value_t = defaults().http.max_connections)]
    pub max_http_connections: usize,

    /// How requests reach the logic: `rest` (the guest's one-call export, on
    /// warm instances), `wasi-http` (the guest's wasi:http handler on a fresh
    /// instance per request, as `wasmtime serve` does), or `native` (no wasm:
    /// the guest's code compiled into kvs; a benchmark ceiling, not for
    /// production).
    #[arg(long, env = "KVS_CALL_PATH", value_enum, default_value_t = defaults().call_path)]
    pub call_path: CallPath,

    /// Describe compiled guest code for `perf` (`perfmap` writes
    /// /tmp/perf-<pid>.map), so profiles name guest functions.
    #[arg(long, env = "KVS_GUEST_PROFILER", value_enum, default_value_t = defaults().guest.profiler)]
    pub guest_profiler: GuestProfiler,

    /// On ctrl-c or SIGTERM, how long in-flight requests get to finish, in seconds.
    #[arg(long, env = "KVS_SHUTDOWN_TIMEOUT", default_value_t = defaults().shutdown_timeout.as_secs())]
    pub shutdown_timeout_secs: u64,

    /// Keep the data in this directory (created if missing; one kvs per
    /// directory): a write-ahead log that every write reaches before it is
    /// acknowledged, so a crash loses none, and the snapshots that compact
    /// it. Without it, kvs keeps its data in memory only.
    #[arg(long, env = "KVS_DATA_DIR", conflicts_with = "snapshot")]
    pub data_dir: Option<PathBuf>,

    /// With --data-dir, when the log is flushed to the disk: `always` before
    /// each reply (writes arriving together share one sync), `everysec` once a
    /// second (a power loss may take the last second), `no` when the OS
    /// decides. A crash of kvs alone loses no acknowledged write in any mode.
    #[arg(long, env = "KVS_FSYNC", value_enum, default_value_t = defaults().fsync, requires = "data_dir")]
    pub fsync: Fsync,

    /// With --data-dir, compact the log (write a snapshot, delete the log it
    /// holds) once the log has grown by this much and past the last snapshot.
    #[arg(long, env = "KVS_COMPACT_LOG_BYTES", default_value = size_text(defaults().compact_log_bytes), value_parser = SizeParser, requires = "data_dir")]
    pub compact_log_bytes: ByteSize,

    /// Keep the store in this one file across restarts: loaded at start-up
    /// (a torn or corrupt file stops start-up with an error), written
    /// atomically at shutdown and every --snapshot-interval-secs. Writes
    /// since the last snapshot are lost in a crash; --data-dir loses none.
    #[arg(long, env = "KVS_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,

    /// How often to write the --snapshot while the store changes, in seconds.
    #[arg(
        long,
        env = "KVS_SNAPSHOT_INTERVAL",
        default_value_t = defaults().snapshot_interval.as_secs_f64(),
        requires = "snapshot"
    )]
    pub snapshot_interval_secs: f64,

    /// Record a CPU profile of the whole run and write it here on exit: a
    /// flamegraph when the name ends in .svg, else pprof protobuf.
    #[arg(long, env = "KVS_CPUPROFILE")]
    pub cpuprofile: Option<PathBuf>,

    /// Where the data lives: `memory` (this process), `redis://[USER:PASSWORD@]HOST:PORT[/DB]`
    /// (one Redis server) or `redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]`
    /// (a Redis Cluster, found from these seed nodes); `rediss://` and
    /// `rediss-cluster://` speak TLS. Many kvs hosts on one Redis serve one
    /// dataset. Redis keeps the data durable (its appendonly), so --data-dir
    /// and --snapshot are for `memory` only.
    #[arg(long, env = "KVS_STORE", default_value = "memory")]
    pub store: String,

    /// With a Redis store, how long one store operation may take; past it
    /// the request gets a 503 (error code 20).
    #[arg(long, env = "KVS_STORE_TIMEOUT_MS", default_value_t = 2000)]
    pub store_timeout_ms: u64,

    /// With a Redis store, how many buckets its keys are spread over. Fixed
    /// when the first kvs writes to a Redis; every later kvs must be given
    /// the same number (it refuses to start otherwise).
    #[arg(long, env = "KVS_STORE_BUCKETS", default_value_t = crate::backend::redis::layout::DEFAULT_BUCKETS, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub store_buckets: u32,

    /// With a Redis store, serve even if Redis evicts keys when full
    /// (a maxmemory-policy other than noeviction), which can make
    /// acknowledged entries vanish. Refused by default.
    #[arg(long, env = "KVS_STORE_ALLOW_EVICTION")]
    pub store_allow_eviction: bool,

    /// With a rediss:// store, trust the certificate authorities in this PEM
    /// file instead of the system's.
    #[arg(long, env = "KVS_STORE_CA_FILE")]
    pub store_ca_file: Option<PathBuf>,

    /// With a rediss:// store, show Redis this PEM certificate (for a Redis
    /// with tls-auth-clients, its default); needs --store-key-file.
    #[arg(long, env = "KVS_STORE_CERT_FILE", requires = "store_key_file")]
    pub store_cert_file: Option<PathBuf>,

    /// The PEM private key of --store-cert-file.
    #[arg(long, env = "KVS_STORE_KEY_FILE", requires = "store_cert_file")]
    pub store_key_file: Option<PathBuf>,

    /// Log line format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "KVS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Linear memory a guest needs beyond the values it handles: its stack, its
/// code's data and the small allocations of any call.
pub const GUEST_BASE_MEMORY: u64 = 16 << 20;

/// The linear memory one guest call may need at these limits: a value with
/// its base64 reply (or a request and its decoded value) takes at most three
/// times the value limit, a request line and its decoded body twice the
/// line limit. Start-up refuses a `--guest-memory` below it.
pub fn guest_memory_needed(max_value_bytes: u64, max_line_bytes: u64) -> u64 {
    let value = max_value_bytes.saturating_mul(3);
    let line = max_line_bytes.saturating_mul(2);
    value.max(line).saturating_add(GUEST_BASE_MEMORY)
}

/// The shortest `--max-line-bytes` that leaves room for a useful request.
pub const MIN_LINE_BYTES: u64 = 256;

impl ServeArgs {
    /// Refuses settings that cannot work together, naming the flag to
    /// change; a zero or absurd limit is an error, never silently adjusted.
    pub fn validate(&self) -> anyhow::Result<()> {
        let at_least = |flag: &str, value: u64, minimum: u64, unit: &str| {
            anyhow::ensure!(
                value >= minimum,
                "{flag} {value}{unit} is too small: it must be at least {minimum}{unit}"
            );
            Ok(())
        };
        at_least("--max-key-bytes", self.max_key_bytes.as_u64(), 1, " bytes")?;
        anyhow::ensure!(
            self.max_key_bytes.as_u64() <= u64::from(u32::MAX),
            "--max-key-bytes {} is too large: keys are at most 4GiB",
            self.max_key_bytes
        );
        at_least(
            "--max-value-bytes",
            self.max_value_bytes.as_u64(),
            1,
            " bytes",
        )?;
        at_least(
            "--max-store-bytes",
            self.max_store_bytes.as_u64(),
            (crate::store::ENTRY_OVERHEAD + 2) as u64,
            " bytes",
        )?;
        at_least("--max-page-size", self.max_page_size as u64, 1, "")?;
        at_least("--max-instances", self.max_instances.into(), 1, "")?;
        at_least(
            "--max-line-bytes",
            self.max_line_bytes.as_u64(),
            MIN_LINE_BYTES,
            " bytes",
        )?;
        at_least(
            "--max-tcp-connections",
            self.max_tcp_connections as u64,
            1,
            "",
        )?;
        at_least(
            "--max-http-connections",
            self.max_http_connections as u64,
            1,
            "",
        )?;
        at_least(
            "--tcp-idle-timeout-secs",
            self.tcp_idle_timeout_secs,
            1,
            " s",
        )?;
        at_least("--header-timeout-secs", self.header_timeout_secs, 1, " s")?;
        at_least("--body-timeout-secs", self.body_timeout_secs, 1, " s")?;
        for (flag, seconds) in [
            ("--guest-timeout-secs", self.guest_timeout_secs),
            ("--snapshot-interval-secs", self.snapshot_interval_secs),
        ] {
            anyhow::ensure!(
                seconds.is_finite() && (0.01..=31_536_000.0).contains(&seconds),
                "{flag} {seconds} is out of range: give between 0.01 and 31536000 seconds"
            );
        }
        anyhow::ensure!(
            self.max_value_bytes.as_u64() <= self.max_store_bytes.as_u64(),
            "--max-value-bytes {} is larger than --max-store-bytes {}: no such value could \
             be stored; lower --max-value-bytes or raise --max-store-bytes",
            self.max_value_bytes,
            self.max_store_bytes
        );
        let needed = self.guest_memory_needed();
        anyhow::ensure!(
            self.guest_memory.as_u64() >= needed,
            "--guest-memory {} is too small for --max-value-bytes {} and --max-line-bytes {}: \
             a guest call holds a value and its reply (base64, 4/3 of it) at once, so it needs \
             at least {} ({}); raise --guest-memory or lower --max-value-bytes / \
             --max-line-bytes",
            self.guest_memory,
            self.max_value_bytes,
            self.max_line_bytes,
            ByteSize::b(needed).display().iec(),
            "the larger of 3 × the value limit and 2 × the line limit, plus 16 MiB"
        );
        Ok(())
    }

    fn guest_memory_needed(&self) -> u64 {
        guest_memory_needed(self.max_value_bytes.as_u64(), self.max_line_bytes.as_u64())
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_key_bytes: to_usize(self.max_key_bytes),
            max_value_bytes: to_usize(self.max_value_bytes),
            max_store_bytes: to_usize(self.max_store_bytes),
            max_page_size: self.max_page_size,
            ..Limits::default()
        }
    }

    pub fn guest_config(&self) -> GuestConfig {
        GuestConfig {
            max_instances: self.max_instances.max(1),
            max_memory_bytes: to_usize(self.guest_memory),
            timeout: Duration::from_secs_f64(self.guest_timeout_secs.clamp(0.01, 86_400.0)),
            profiler: self.guest_profiler,
            max_retained_memory_bytes: to_usize(self.guest_retained_memory),
            compiler: Compiler::Child,
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

    /// What the server is started with, once the flags are checked
    /// ([`ServeArgs::validate`], [`ServeArgs::admin_config`]).
    pub fn settings(&self) -> anyhow::Result<Settings> {
        self.validate()?;
        Ok(Settings {
            limits: self.limits(),
            guest: self.guest_config(),
            call_path: self.call_path,
            http: self.http_config(),
            tcp: self.tcp_config(),
            admin: self.admin_config()?,
            guest_path: self.guest.clone(),
            watch_interval: self.watch_interval(),
            shutdown_timeout: self.shutdown_timeout(),
            snapshot: self.snapshot.clone(),
            snapshot_interval: self.snapshot_interval(),
            data_dir: self.data_dir.clone(),
            fsync: self.fsync,
            compact_log_bytes: to_usize(self.compact_log_bytes),
            cpuprofile: self.cpuprofile.clone(),
            redis: self.redis()?,
        })
    }

    /// The Redis store `--store` names, or `None` for `memory`; refuses the
    /// flags that only the in-memory store has.
    pub fn redis(&self) -> anyhow::Result<Option<RedisConfig>> {
        if self.store == "memory" {
            return Ok(None);
        }
        let target =
            Target::parse(&self.store).map_err(|error| anyhow::anyhow!("--store {error}"))?;
        if self.data_dir.is_some() || self.snapshot.is_some() {
            anyhow::bail!(
                "--data-dir and --snapshot keep the in-memory store on disk; with --store {} \
                 the data lives in Redis, which keeps it durable itself (its appendonly and \
                 appendfsync settings)",
                target.describe()
            );
        }
        if self.call_path == CallPath::Native {
            anyhow::bail!(
                "--call-path native runs on the in-memory store only; use rest or wasi-http \
                 with --store {}",
                target.describe()
            );
        }
        let tls = self.store_tls()?;
        if !target.tls() && (tls.ca.is_some() || tls.client.is_some()) {
            anyhow::bail!(
                "--store-ca-file, --store-cert-file and --store-key-file are for a TLS store \
                 (rediss:// or rediss-cluster://), not {}",
                target.describe()
            );
        }
        Ok(Some(RedisConfig {
            target,
            timeout: Duration::from_millis(self.store_timeout_ms.max(1)),
            layout: Layout {
                buckets: self.store_buckets,
            },
            allow_eviction: self.store_allow_eviction,
            tls,
        }))
    }

    /// The certificate files of a rediss:// store, read now, so a missing
    /// or unreadable one stops the start with its name.
    fn store_tls(&self) -> anyhow::Result<TlsFiles> {
        let read = |flag: &str, path: &Option<PathBuf>| -> anyhow::Result<Option<Vec<u8>>> {
            path.as_ref()
                .map(|path| {
                    std::fs::read(path)
                        .with_context(|| format!("{flag} {}: cannot be read", path.display()))
                })
                .transpose()
        };
        let ca = read("--store-ca-file", &self.store_ca_file)?;
        let cert = read("--store-cert-file", &self.store_cert_file)?;
        let key = read("--store-key-file", &self.store_key_file)?;
        Ok(TlsFiles {
            ca,
            client: cert.zip(key),
        })
    }
}

/// The defaults of the flags, read from the settings types' own `Default`s,
/// so each default is written once and the binary, the library and the
/// tests agree on it.
fn defaults() -> &'static Settings {
    static DEFAULTS: OnceLock<Settings> = OnceLock::new();
    DEFAULTS.get_or_init(Settings::default)
}

/// A size as people write it, and as `--help` shows a default: `16MiB`,
/// `1KiB`, or plain bytes when no binary unit divides it.
fn size_text(bytes: usize) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

fn to_usize(size: ByteSize) -> usize {
    usize::try_from(size.as_u64()).unwrap_or(usize::MAX)
}

/// Parses sizes such as `16MiB`, `512KiB`, `1.5GB` or `1048576` (bytes),
/// with errors that say what is wrong and which flag and variable gave it.
#[derive(Debug, Clone, Copy)]
pub struct SizeParser;

impl clap::builder::TypedValueParser for SizeParser {
    type Value = ByteSize;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ByteSize, clap::Error> {
        let text = value.to_string_lossy();
        parse_size(&text).map(ByteSize::b).map_err(|reason| {
            let source = match arg {
                Some(arg) => {
                    let flag = arg
                        .get_long()
                        .map_or_else(String::new, |long| format!("--{long}"));
                    match arg.get_env() {
                        Some(env) => format!(" for {flag} (or {})", env.to_string_lossy()),
                        None => format!(" for {flag}"),
                    }
                }
                None => String::new(),
            };
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "invalid size '{text}'{source}: {reason}; give bytes or a number with a \
                     unit, such as 16MiB, 512KiB or 1048576\n"
                ),
            )
        })
    }
}

/// A size in bytes from a number and an optional unit (B, KB, KiB, MB, MiB,
/// GB, GiB, TB, TiB, and K, M, G, T for the binary units; any case).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    if number.is_empty() {
        return Err("it does not start with a number".into());
    }
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "k" | "kib" => 1 << 10,
        "mb" => 1_000_000,
        "m" | "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "g" | "gib" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "t" | "tib" => 1 << 40,
        _ => return Err(format!("{unit:?} is not a unit")),
    };
    let bytes = number * scale as f64;
    if bytes >= u64::MAX as f64 {
        return Err("it is too large".into());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_show_as_people_write_sizes_and_parse_back() {
        for (bytes, text) in [
            (1024, "1KiB"),
            (16 << 20, "16MiB"),
            (1 << 30, "1GiB"),
            (1000, "1000"),
        ] {
            assert_eq!(size_text(bytes), text);
            assert_eq!(parse_size(text), Ok(bytes as u64));
        }
    }

    #[test]
    fn sizes_parse_with_units_and_refuse_nonsense_clearly() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("16 mib"), Ok(16 << 20));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(
            parse_size("99999999999999999999"),
            Err("it is too large".into())
        );
        assert_eq!(
            parse_size("abc"),
            Err("it does not start with a number".into())
        );
        assert_eq!(
            parse_size("12 parsecs"),
            Err("\"parsecs\" is not a unit".into())
        );
        assert_eq!(parse_size("1.2.3"), Err("\"1.2.3\" is not a number".into()));
    }
}
