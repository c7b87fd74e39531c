//! `kvs compare`: one command that starts every server it can on loopback,
//! drives each with the same checked workloads, and prints one table.
//!
//! The servers: kvs as it runs in production (`--call-path rest`), kvs with
//! the guest's code compiled in (`--call-path native`, the ceiling), kvs
//! through `wasi:http` per request (`--call-path wasi-http`), stock
//! `wasmtime serve` with the portable guest (when `wasmtime` is on PATH and
//! the portable guest is built), and `redis-server` for the TCP rows (when it
//! is on PATH). Every server is a child process, stopped when the command
//! ends; a server that is missing is reported and skipped.

use super::{BenchArgs, Mix, Protocol, Report};
use anyhow::Context as _;
use bytesize::ByteSize;
use clap::Args;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,

    /// Concurrent connections of the small-value rows.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,

    /// The portable guest for the `wasmtime serve` column.
    #[arg(long, default_value = "target/guest/kvs_guest_portable.wasm")]
    pub portable_guest: PathBuf,

    /// Skip the large-value rows (8 MiB GET and PUT).
    #[arg(long)]
    pub no_large: bool,
}

/// A server under test; killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    http: Option<SocketAddr>,
    /// The TCP port and the protocol it speaks (kvs lines, or RESP).
    tcp: Option<(SocketAddr, Protocol)>,
    /// A data directory to remove afterwards; a server that keeps its
    /// entries in files is left out of the large-value rows, which would
    /// measure the disk rather than the call path.
    scratch: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Server {
    /// Resident memory of the server process, from `/proc`.
    fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Waits until `addr` accepts connections, or the child exits.
fn wait_listening(child: &mut Child, addr: SocketAddr, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{name} exited before listening on {addr}: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("{name} did not listen on {addr} within 60 s")
}

fn start_kvs(name: &'static str, call_path: &str) -> anyhow::Result<Server> {
    let (http, tcp, admin) = (free_port()?, free_port()?, free_port()?);
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--call-path", call_path])
        .args(["--http", &http.to_string(), "--tcp", &tcp.to_string()])
        .args(["--admin", &admin.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting kvs")?;
    wait_listening(&mut child, tcp, name)?;
    Ok(Server {
        name,
        child,
        http: Some(http),
        tcp: Some((tcp, Protocol::Tcp)),
        scratch: None,
    })
}

fn start_wasmtime(portable_guest: &std::path::Path) -> anyhow::Result<Server> {
    anyhow::ensure!(
        portable_guest.exists(),
        "{} is missing (build it with `cargo build`)",
        portable_guest.display()
    );
    let http = free_port()?;
    let scratch = std::env::temp_dir().join(format!("kvs-compare-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut child = Command::new("wasmtime")
        .args(["serve", "-S", "cli", "--addr", &http.to_string()])
        .arg("--dir")
        .arg(format!("{}::/data", scratch.display()))
        .arg(portable_guest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting `wasmtime serve` (is wasmtime on PATH?)")?;
    let waited = wait_listening(&mut child, http, "wasmtime serve");
    let server = Server {
        name: "wasmtime serve",
        child,
        http: Some(http),
        tcp: None,
        scratch: Some(scratch),
    };
    waited.map(|()| server)
}

fn start_redis() -> anyhow::Result<Server> {
    let tcp = free_port()?;
    let mut child = Command::new("redis-server")
        .args(["--port", &tcp.port().to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server (apt-get install redis-server)")?;
    wait_listening(&mut child, tcp, "redis-server")?;
    Ok(Server {
        name: "redis-server",
        child,
        http: None,
        tcp: Some((tcp, Protocol::Resp)),
        scratch: None,
    })
}

/// One row of the table: a workload and how to drive it.
struct Row {
    label: &'static str,
    protocol: Protocol,
    mix: Mix,
    value_size: u64,
    keys: usize,
    connections: usize,
    pipeline: usize,
    /// Report MB/s instead of ops/s.
    throughput: bool,
}

fn rows(args: &CompareArgs) -> Vec<Row> {
    let small = |label, protocol, mix, pipeline| Row {
        label,
        protocol,
        mix,
        value_size: 100,
        keys: 1000,
        connections: args.connections,
        pipeline,
        throughput: false,
    };
    let mut rows = vec![
        small("HTTP GET 100 B", Protocol::Http, Mix::Get, 1),
        small("HTTP cycle 100 B", Protocol::Http, Mix::Cycle, 1),
        small("TCP GET 100 B", Protocol::Tcp, Mix::Get, 1),
        small("TCP cycle 100 B", Protocol::Tcp, Mix::Cycle, 1),
        small("TCP GET, pipeline 16", Protocol::Tcp, Mix::Get, 16),
    ];
    if !args.no_large {
        let large = |label, mix| Row {
            label,
            protocol: Protocol::Http,
            mix,
            value_size: 8 << 20,
            keys: 4,
            connections: 4,
            pipeline: 1,
            throughput: true,
        };
        rows.push(large("HTTP GET 8 MiB", Mix::Get));
        rows.push(large("HTTP PUT 8 MiB", Mix::Put));
    }
    rows
}

/// Drives `server` with `row`; `None` when the server does not speak it.
async fn measure(server: &Server, row: &Row, duration: f64) -> anyhow::Result<Option<Report>> {
    let (protocol, addr) = match (row.protocol, server.http, server.tcp) {
        (Protocol::Http, Some(http), _) => (Protocol::Http, http),
        (Protocol::Tcp, _, Some((tcp, protocol))) => (protocol, tcp),
        _ => return Ok(None),
    };
    if row.throughput && server.scratch.is_some() {
        return Ok(None);
    }
    let args = BenchArgs {
        protocol,
        addr: Some(addr.to_string()),
        connections: row.connections,
        duration,
        ops: None,
        mix: row.mix,
        value_size: ByteSize::b(row.value_size),
        keys: row.keys,
        pipeline: row.pipeline,
        swap_every_ms: None,
        swap_guests: Vec::new(),
        admin: String::new(),
    };
    let report = super::measure(args).await?;
    println!("{}", report.requests.summary(&report.label, report.elapsed));
    Ok(Some(report))
}

/// A cell: the figure, p99, and whether every reply was right.
fn cell(report: &Report, throughput: bool) -> (f64, String) {
    let stats = &report.requests;
    let secs = report.elapsed.as_secs_f64().max(f64::EPSILON);
    let figure = if throughput {
        stats.value_bytes as f64 / secs / 1e6
    } else {
        stats.ops() as f64 / secs
    };
    let unit = if throughput { "MB/s" } else { "ops/s" };
    let mut text = format!("{figure:.0} {unit}, p99 {:.1} ms", stats.quantile_ms(0.99));
    if stats.wrong + stats.failed > 0 {
        text.push_str(&format!(
            " ({} WRONG, {} FAILED)",
            stats.wrong, stats.failed
        ));
    }
    (figure, text)
}

pub async fn run(args: CompareArgs) -> anyhow::Result<()> {
    let mut servers = Vec::new();
    type Start = fn(&CompareArgs) -> anyhow::Result<Server>;
    let starts: [(&str, Start); 5] = [
        ("kvs", |_| start_kvs("kvs", "rest")),
        ("native ceiling", |_| start_kvs("native ceiling", "native")),
        ("kvs wasi-http", |_| start_kvs("kvs wasi-http", "wasi-http")),
        ("wasmtime serve", |a| start_wasmtime(&a.portable_guest)),
        ("redis-server", |_| start_redis()),
    ];
    for (name, start) in starts {
        match start(&args) {
            Ok(server) => servers.push(server),
            Err(error) => println!("skipping {name}: {error:#}"),
        }
    }
    let rows = rows(&args);
    let mut table = Vec::new();
    for row in &rows {
        let mut cells = Vec::new();
        for server in &servers {
            // One server at a time, so each has both cores to itself.
            let report = measure(server, row, args.duration)
                .await
                .with_context(|| format!("{} on {}", row.label, server.name))?;
            cells.push(report.map(|r| cell(&r, row.throughput)));
        }
        table.push(cells);
    }

    println!();
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    println!("| workload | {} | kvs / native |", names.join(" | "));
    println!("|---|{}---|", "---|".repeat(names.len()));
    let column = |name: &str| names.iter().position(|n| *n == name);
    for (row, cells) in rows.iter().zip(&table) {
        let texts: Vec<String> = cells
            .iter()
            .map(|c| c.as_ref().map_or("-".to_string(), |(_, t)| t.clone()))
            .collect();
        let figure = |name| {
            column(name)
                .and_then(|i| cells[i].as_ref())
                .map(|(f, _)| *f)
        };
        let ratio = match (figure("kvs"), figure("native ceiling")) {
            (Some(kvs), Some(native)) if native > 0.0 => format!("{:.2}x", kvs / native),
            _ => "-".into(),
        };
        println!("| {} | {} | {ratio} |", row.label, texts.join(" | "));
    }
    if let Some(redis) = column("redis-server") {
        for (row, cells) in rows.iter().zip(&table) {
            if let (Some(Some((kvs, _))), Some((r, _))) =
                (column("kvs").map(|i| &cells[i]), cells[redis].as_ref())
            {
                println!("{}: kvs / redis-server = {:.2}x", row.label, kvs / r);
            }
        }
    }
    drop(servers);
    memory_per_entry().await
}

/// Entries written by [`memory_per_entry`].
const MEMORY_ENTRIES: usize = 100_000;

/// Starts a fresh kvs, reads its resident memory idle, writes
/// [`MEMORY_ENTRIES`] entries of 100 bytes over TCP, and reads it again.
async fn memory_per_entry() -> anyhow::Result<()> {
    use super::Client as _;
    let server = start_kvs("kvs", "rest")?;
    let (Some((tcp, _)), Some(idle)) = (server.tcp, server.rss_bytes()) else {
        anyhow::bail!("cannot read the resident memory of kvs");
    };
    let mut client = super::tcp::Tcp::connect(&tcp.to_string()).await?;
    client
        .populate(MEMORY_ENTRIES, &super::workload::Workload::new(100))
        .await?;
    let filled = server.rss_bytes().unwrap_or(idle);
    println!("kvs resident memory at start, idle: {}", ByteSize::b(idle));
    println!(
        "kvs resident memory per entry of 100 B ({MEMORY_ENTRIES} entries): {} B",
        filled.saturating_sub(idle) / MEMORY_ENTRIES as u64
    );
    Ok(())
}
