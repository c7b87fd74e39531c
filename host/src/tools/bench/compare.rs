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
//!
//! A second table drives kvs's RESP front end and `redis-server` with
//! `redis-benchmark` itself (Redis's own client, so neither side is judged
//! by a harness of ours), `SET` and `GET` at 64 connections, unpipelined and
//! 16 deep.
//!
//! A third table measures durability: the write cycle on kvs with
//! `--data-dir` in each fsync mode, next to kvs in memory and `redis-server`
//! with its append-only file; then the log's sync times, and how long kvs
//! takes to start on 1,000,000 entries after a SIGKILL.
//!
//! A fourth table puts kvs with its data on Redis (`--store redis://`, on a
//! `redis-server` of its own, and `redis-cluster://`, on a 3-master Redis
//! Cluster) beside kvs in memory and `redis-server` driven directly.

use super::cpu::{Client, Meter, PerOp};
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

    /// Rounds of every row: each round drives every server once, in turn,
    /// and a cell is the median round. This machine's speed drifts by 20%
    /// over minutes, so figures from one pass, minutes apart, compare badly.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,

    /// Skip the large-value rows (8 MiB GET and PUT).
    #[arg(long)]
    pub no_large: bool,

    /// Skip the durability table (kvs --data-dir in each fsync mode against
    /// redis-server with its append-only file) and the start-up time with
    /// 1,000,000 entries.
    #[arg(long)]
    pub no_durability: bool,

    /// Skip the shared-store table (kvs on a Redis server and on a Redis
    /// Cluster, beside kvs in memory).
    #[arg(long)]
    pub no_shared_store: bool,
}

/// A server under test; killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    http: Option<SocketAddr>,
    /// The TCP port and the protocol it speaks (kvs lines, or RESP).
    tcp: Option<(SocketAddr, Protocol)>,
    /// The admin endpoint, for a kvs.
    admin: Option<SocketAddr>,
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
    start_kvs_with(name, &["--call-path", call_path], None)
}

/// A kvs with `extra` flags; `scratch` is a directory to remove afterwards.
fn start_kvs_with(
    name: &'static str,
    extra: &[&str],
    scratch: Option<PathBuf>,
) -> anyhow::Result<Server> {
    let (http, tcp, admin) = (free_port()?, free_port()?, free_port()?);
    // Its warnings and errors go to a file, named if it fails to start.
    let log = std::env::temp_dir().join(format!(
        "kvs-compare-{}-{}.log",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
        std::process::id()
    ));
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .args(extra)
        .args(["--http", &http.to_string(), "--tcp", &tcp.to_string()])
        .args(["--admin", &admin.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).context("creating the server's log")?)
        .spawn()
        .context("starting kvs")?;
    let waited = wait_listening(&mut child, tcp, name).with_context(|| {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        format!("its log, {}: {}", log.display(), said.trim())
    });
    let server = Server {
        name,
        child,
        http: Some(http),
        tcp: Some((tcp, Protocol::Tcp)),
        admin: Some(admin),
        scratch,
    };
    waited.map(|()| server)
}

/// A fresh directory for one server's data.
fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kvs-compare-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
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
        admin: None,
        scratch: Some(scratch),
    };
    waited.map(|()| server)
}

fn start_redis() -> anyhow::Result<Server> {
    start_redis_with("redis-server", &["--appendonly", "no"], None)
}

/// `redis-server` with its append-only file synced as `appendfsync` says,
/// in a fresh directory.
fn start_redis_aof(name: &'static str, appendfsync: &str) -> anyhow::Result<Server> {
    let dir = scratch_dir(&format!("redis-{appendfsync}"))?;
    let dir_text = dir.display().to_string();
    start_redis_with(
        name,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            appendfsync,
            "--dir",
            &dir_text,
        ],
        Some(dir),
    )
}

fn start_redis_with(
    name: &'static str,
    extra: &[&str],
    scratch: Option<PathBuf>,
) -> anyhow::Result<Server> {
    let tcp = free_port()?;
    let mut child = Command::new("redis-server")
        .args(["--port", &tcp.port().to_string(), "--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server (apt-get install redis-server)")?;
    let waited = wait_listening(&mut child, tcp, name);
    let server = Server {
        name,
        child,
        http: None,
        tcp: Some((tcp, Protocol::Resp)),
        admin: None,
        scratch,
    };
    waited.map(|()| server)
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
async fn measure(
    server: &Server,
    row: &Row,
    duration: f64,
) -> anyhow::Result<Option<(Report, PerOp)>> {
    let (protocol, addr) = match (row.protocol, server.http, server.tcp) {
        (Protocol::Http, Some(http), _) => (Protocol::Http, http),
        (Protocol::Tcp, _, Some((tcp, protocol))) => (protocol, tcp),
        _ => return Ok(None),
    };
    if row.throughput && server.scratch.is_some() && server.admin.is_none() {
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
    let meter = Meter::start(server.child.id(), Client::ThisProcess);
    let report = super::measure(args).await?;
    let cpu = meter.stop(report.requests.ops());
    println!(
        "{} ({cpu})",
        report.requests.summary(&report.label, report.elapsed)
    );
    Ok(Some((report, cpu)))
}

/// One server's result for one row: the figure the table compares, the
/// server's CPU time per operation, and the text the table shows.
#[derive(Debug, Clone)]
struct Cell {
    figure: f64,
    server_us: Option<f64>,
    text: String,
}

/// How `a` compares with `b`: the ratio of their figures, then their
/// [`cpu_ratio`].
fn ratio(a: &Cell, b: &Cell) -> String {
    let mut text = if b.figure > 0.0 {
        format!("{:.2}x", a.figure / b.figure)
    } else {
        "-".to_string()
    };
    if let Some(cpu) = a.server_us.zip(b.server_us).and_then(cpu_ratio) {
        text.push_str(&format!(" (CPU/op {cpu:.2}x)"));
    }
    text
}

/// How a server's CPU time per operation compares with another's, given
/// as `(a, b)`: `b`'s over `a`'s, so above 1 is `a` doing the same work with
/// less. It moves much less than a ratio of throughputs with this machine's
/// spells of speed, which fall on the load generator as much as on the
/// server.
fn cpu_ratio((a_us, b_us): (f64, f64)) -> Option<f64> {
    (a_us > 0.0).then(|| b_us / a_us)
}

/// A cell: the figure, p99, the CPU each side used per operation, and
/// whether every reply was right.
fn cell((report, cpu): &(Report, PerOp), throughput: bool) -> Cell {
    let stats = &report.requests;
    let secs = report.elapsed.as_secs_f64().max(f64::EPSILON);
    let figure = if throughput {
        stats.value_bytes as f64 / secs / 1e6
    } else {
        stats.ops() as f64 / secs
    };
    let unit = if throughput { "MB/s" } else { "ops/s" };
    let mut text = format!(
        "{figure:.0} {unit}, p99 {:.1} ms, {cpu}",
        stats.quantile_ms(0.99)
    );
    if stats.wrong + stats.failed > 0 {
        text.push_str(&format!(
            " ({} WRONG, {} FAILED)",
            stats.wrong, stats.failed
        ));
    }
    Cell {
        figure,
        server_us: cpu.server_us,
        text,
    }
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
    let table = measure_all(&servers, &rows, &args).await?;
    print_table(&servers, &rows, &table, ("kvs", "native ceiling"));
    let column = |name: &str| servers.iter().position(|s| s.name == name);
    if let Some(redis) = column("redis-server") {
        for (row, cells) in rows.iter().zip(&table) {
            if let (Some(Some(kvs)), Some(r)) =
                (column("kvs").map(|i| &cells[i]), cells[redis].as_ref())
            {
                println!("{}: kvs / redis-server = {}", row.label, ratio(kvs, r));
            }
        }
    }
    drop(servers);
    redis_benchmark_table(&args)?;
    memory_per_entry().await?;
    if !args.no_shared_store {
        shared_store(&args).await?;
    }
    if !args.no_durability {
        durability(&args).await?;
        start_up_with_entries(START_UP_ENTRIES).await?;
    }
    Ok(())
}

/// Every row on every server, one server at a time, so each has both cores
/// to itself; `--rounds` times, the servers taking turns, so a drift of the
/// machine's speed falls on all of them alike. A cell is the median round,
/// with the range of all rounds.
async fn measure_all(
    servers: &[Server],
    rows: &[Row],
    args: &CompareArgs,
) -> anyhow::Result<Vec<Vec<Option<Cell>>>> {
    let mut table = Vec::new();
    for row in rows {
        let mut rounds: Vec<Vec<Cell>> = vec![Vec::new(); servers.len()];
        for _ in 0..args.rounds {
            for (server, cells) in servers.iter().zip(&mut rounds) {
                let report = measure(server, row, args.duration)
                    .await
                    .with_context(|| format!("{} on {}", row.label, server.name))?;
                cells.extend(report.map(|r| cell(&r, row.throughput)));
            }
        }
        table.push(rounds.into_iter().map(median).collect());
    }
    Ok(table)
}

/// The median of a cell's rounds, its text followed by the range of all of
/// them, and the median of their CPU times per operation; `None` for a
/// server that does not speak the row.
fn median(mut cells: Vec<Cell>) -> Option<Cell> {
    if cells.len() < 2 {
        return cells.pop();
    }
    let mut server_us: Vec<f64> = cells.iter().filter_map(|c| c.server_us).collect();
    cells.sort_by(|a, b| a.figure.total_cmp(&b.figure));
    let range = format!(
        " ({:.0}-{:.0})",
        cells[0].figure,
        cells[cells.len() - 1].figure
    );
    let mut median = cells.swap_remove(cells.len() / 2);
    median.text.push_str(&range);
    median.server_us = (!server_us.is_empty()).then(|| median_of(&mut server_us));
    Some(median)
}

/// Prints the table, with one ratio column: `columns.0` against
/// `columns.1`, by figure and by CPU per operation (see [`ratio`]).
fn print_table(
    servers: &[Server],
    rows: &[Row],
    table: &[Vec<Option<Cell>>],
    columns: (&str, &str),
) {
    println!();
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    println!(
        "| workload | {} | {} / {} |",
        names.join(" | "),
        columns.0,
        columns.1
    );
    println!("|---|{}---|", "---|".repeat(names.len()));
    let column = |name: &str| names.iter().position(|n| *n == name);
    for (row, cells) in rows.iter().zip(table) {
        let texts: Vec<String> = cells
            .iter()
            .map(|c| c.as_ref().map_or("-".to_string(), |c| c.text.clone()))
            .collect();
        let cell = |name| column(name).and_then(|i| cells[i].as_ref());
        let quotient = match (cell(columns.0), cell(columns.1)) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => "-".into(),
        };
        println!("| {} | {} | {quotient} |", row.label, texts.join(" | "));
    }
}

/// kvs with its data on Redis beside kvs in memory, over HTTP and its TCP
/// port (RESP for `redis-server`). The CPU columns count the kvs process
/// alone: the Redis under it is a process of its own.
async fn shared_store(args: &CompareArgs) -> anyhow::Result<()> {
    println!("\n## kvs on a Redis store (--store), beside kvs in memory");
    let backend = start_redis_with("redis-server under kvs", &["--appendonly", "no"], None)?;
    let cluster = start_cluster(3)?;
    let backend_url = format!(
        "redis://{}",
        backend.tcp.map(|(addr, _)| addr).context("a port")?
    );
    let cluster_url = format!(
        "redis-cluster://{}",
        cluster
            .iter()
            .filter_map(|node| node.tcp.map(|(addr, _)| addr.to_string()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let servers = vec![
        start_kvs("kvs in memory", "rest")?,
        start_kvs_with("kvs on redis://", &["--store", &backend_url], None)?,
        start_kvs_with("kvs on redis-cluster://", &["--store", &cluster_url], None)?,
        start_redis()?,
    ];
    let small = |label, protocol, mix| Row {
        label,
        protocol,
        mix,
        value_size: 100,
        keys: 1000,
        connections: args.connections,
        pipeline: 1,
        throughput: false,
    };
    let rows = [
        small("HTTP GET 100 B", Protocol::Http, Mix::Get),
        small("HTTP cycle 100 B", Protocol::Http, Mix::Cycle),
        small("TCP GET 100 B", Protocol::Tcp, Mix::Get),
        small("TCP cycle 100 B", Protocol::Tcp, Mix::Cycle),
    ];
    let table = measure_all(&servers, &rows, args).await?;
    print_table(
        &servers,
        &rows,
        &table,
        ("kvs on redis://", "kvs in memory"),
    );
    Ok(())
}

/// A Redis Cluster of `masters` masters and no replicas, each node in a
/// scratch directory, its slots spread by `redis-cli --cluster create`.
fn start_cluster(masters: usize) -> anyhow::Result<Vec<Server>> {
    let mut nodes = Vec::new();
    for n in 0..masters {
        let dir = scratch_dir(&format!("cluster-{n}"))?;
        let dir_text = dir.display().to_string();
        nodes.push(start_redis_with(
            "redis cluster node",
            &[
                "--appendonly",
                "no",
                "--cluster-enabled",
                "yes",
                "--dir",
                &dir_text,
            ],
            Some(dir),
        )?);
    }
    let addresses: Vec<String> = nodes
        .iter()
        .filter_map(|node| node.tcp.map(|(addr, _)| addr.to_string()))
        .collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .context("running redis-cli --cluster create")?;
    anyhow::ensure!(
        created.status.success(),
        "redis-cli --cluster create failed: {}",
        String::from_utf8_lossy(&created.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    for address in &addresses {
        let port = address.rsplit(':').next().unwrap_or_default();
        loop {
            let info = Command::new("redis-cli")
                .args(["-p", port, "cluster", "info"])
                .output()?;
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the cluster did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(nodes)
}

/// `redis-benchmark -t set,get -c 64` against kvs (its TCP port, where a
/// connection opening with `*` speaks RESP) and `redis-server`, plain and
/// `-P 16`, in rounds, the servers taking turns; a cell is the median.
fn redis_benchmark_table(args: &CompareArgs) -> anyhow::Result<()> {
    println!(
        "\nThe Redis protocol: redis-benchmark -t set,get -c 64, against kvs and redis-server"
    );
    if Command::new("redis-benchmark")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("skipping: redis-benchmark is not on PATH (apt-get install redis-tools)");
        return Ok(());
    }
    let mut servers = Vec::new();
    for (name, started) in [
        ("kvs", start_kvs_with("kvs", &[], None)),
        ("redis-server", start_redis()),
    ] {
        match started {
            Ok(server) => servers.push(server),
            Err(error) => {
                println!("skipping the table: {name} did not start: {error:#}");
                return Ok(());
            }
        }
    }
    println!("| workload | kvs | redis-server | kvs / redis-server |");
    println!("|---|---|---|---|");
    let mut notes = Vec::new();
    for pipeline in [1u32, 16] {
        // About `--duration` seconds a run at the rates this machine gets.
        let per_second = if pipeline == 1 { 40_000.0 } else { 300_000.0 };
        let requests = ((args.duration * per_second) as u64).max(10_000);
        let mut figures: Vec<[Vec<f64>; 2]> = vec![[Vec::new(), Vec::new()]; 2];
        let mut cpu: [Vec<PerOp>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..args.rounds {
            for (column, server) in servers.iter().enumerate() {
                let Some((addr, _)) = server.tcp else {
                    continue;
                };
                let meter = Meter::start(server.child.id(), Client::WaitedChildren);
                let rates = redis_benchmark(addr, pipeline, requests)?;
                cpu[column].push(meter.stop(2 * requests));
                for (row, rate) in rates.into_iter().enumerate() {
                    figures[row][column].push(rate);
                }
            }
        }
        for (row, command) in ["SET", "GET"].iter().enumerate() {
            let [kvs, redis] = &mut figures[row];
            let (kvs, redis) = (median_of(kvs), median_of(redis));
            println!(
                "| {command}, 64 connections, pipeline {pipeline} | {kvs:.0} ops/s | {redis:.0} ops/s | {:.2}x |",
                kvs / redis.max(f64::EPSILON)
            );
        }
        // SET and GET run in one redis-benchmark process, so their CPU is
        // told together, from the round with the median server figure.
        let mut server_us = Vec::new();
        for (server, mut rounds) in servers.iter().zip(cpu) {
            rounds.sort_by(|a, b| {
                a.server_us
                    .unwrap_or(0.0)
                    .total_cmp(&b.server_us.unwrap_or(0.0))
            });
            if let Some(median) = rounds.get(rounds.len() / 2) {
                notes.push(format!(
                    "{}, pipeline {pipeline}, SET and GET: {median}",
                    server.name
                ));
                server_us.extend(median.server_us);
            }
        }
        if let [kvs, redis] = server_us[..]
            && let Some(cpu) = cpu_ratio((kvs, redis))
        {
            notes.push(format!(
                "pipeline {pipeline}, kvs / redis-server by server CPU/op: {cpu:.2}x"
            ));
        }
    }
    println!();
    for note in notes {
        println!("{note}");
    }
    Ok(())
}

/// One `redis-benchmark -t set,get` run: the SET and GET rates.
fn redis_benchmark(addr: SocketAddr, pipeline: u32, requests: u64) -> anyhow::Result<[f64; 2]> {
    let output = Command::new("redis-benchmark")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-t", "set,get", "-c", "64", "-q"])
        .args(["-n", &requests.to_string(), "-P", &pipeline.to_string()])
        .output()
        .context("running redis-benchmark")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = |command: &str| -> anyhow::Result<f64> {
        // `-q` prints progress lines ending in `\r`, then `SET: 12345.67
        // requests per second, p50=...`.
        text.split(['\r', '\n'])
            .filter_map(|line| line.trim().strip_prefix(&format!("{command}: ")))
            .filter_map(|rest| rest.split_once(" requests per second"))
            .filter_map(|(figure, _)| figure.trim().parse().ok())
            .next_back()
            .with_context(|| format!("no {command} result from redis-benchmark: {text}"))
    };
    Ok([rate("SET")?, rate("GET")?])
}

fn median_of(figures: &mut [f64]) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures.get(figures.len() / 2).copied().unwrap_or(0.0)
}

/// The write cycle with durability: kvs in memory, kvs with `--data-dir` in
/// each fsync mode, and `redis-server` with its append-only file, driven by
/// the same harness; then the log's sync times on this disk.
async fn durability(args: &CompareArgs) -> anyhow::Result<()> {
    println!("\nDurability: the write cycle with a write-ahead log");
    let mut servers = Vec::new();
    let kvs_in = |name: &'static str, fsync: &str| -> anyhow::Result<Server> {
        let dir = scratch_dir(&format!("kvs-{fsync}"))?;
        let dir_text = dir.display().to_string();
        start_kvs_with(
            name,
            &["--data-dir", &dir_text, "--fsync", fsync],
            Some(dir),
        )
    };
    let started = [
        ("kvs in memory", start_kvs_with("kvs in memory", &[], None)),
        ("kvs everysec", kvs_in("kvs everysec", "everysec")),
        ("kvs always", kvs_in("kvs always", "always")),
        ("kvs no", kvs_in("kvs no", "no")),
        (
            "redis everysec",
            start_redis_aof("redis everysec", "everysec"),
        ),
        ("redis always", start_redis_aof("redis always", "always")),
    ];
    for (name, result) in started {
        match result {
            Ok(server) => servers.push(server),
            Err(error) => println!("skipping {name}: {error:#}"),
        }
    }
    let small = |label, protocol| Row {
        label,
        protocol,
        mix: Mix::Cycle,
        value_size: 100,
        keys: 1000,
        connections: args.connections,
        pipeline: 1,
        throughput: false,
    };
    let rows = [
        small("HTTP cycle 100 B", Protocol::Http),
        small("TCP cycle 100 B", Protocol::Tcp),
    ];
    let table = measure_all(&servers, &rows, args).await?;
    print_table(&servers, &rows, &table, ("kvs everysec", "kvs in memory"));
    let figure = |row: usize, name: &str| {
        let i = servers.iter().position(|s| s.name == name)?;
        table[row][i].as_ref().map(|c| c.figure)
    };
    if let (Some(kvs), Some(redis)) = (figure(1, "kvs always"), figure(1, "redis always")) {
        println!(
            "TCP cycle 100 B, {} connections: kvs always / redis always = {:.2}x",
            args.connections,
            kvs / redis
        );
    }
    for server in &servers {
        let Some(admin) = server.admin else { continue };
        let status = match admin_status(admin) {
            Ok(status) => status,
            Err(error) => {
                println!("{}: no sync times: {error:#}", server.name);
                continue;
            }
        };
        let data = &status["data"];
        if data.is_null() {
            continue;
        }
        println!(
            "{}: {} syncs for {} records; sync p50 {} µs, p99 {} µs, max {} µs",
            server.name,
            data["syncs"],
            data["log_records"],
            data["sync_micros_p50"],
            data["sync_micros_p99"],
            data["sync_micros_max"]
        );
    }
    Ok(())
}

/// The admin endpoint's `/status`, read with a plain HTTP/1.1 request.
fn admin_status(admin: SocketAddr) -> anyhow::Result<serde_json::Value> {
    use std::io::{Read as _, Write as _};
    let mut stream = TcpStream::connect(admin)?;
    // The admin listener answers only requests that name a loopback host.
    stream.write_all(
        format!("GET /status HTTP/1.1\r\nhost: {admin}\r\nconnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .context("the admin endpoint's answer has no body")?;
    Ok(serde_json::from_str(body)?)
}

/// Entries written by [`start_up_with_entries`].
const START_UP_ENTRIES: usize = 1_000_000;

/// Writes `entries` entries of 100 bytes into a kvs with `--data-dir`, kills
/// it with SIGKILL (so start-up has a snapshot and a log to read), and
/// times the restart until it serves.
async fn start_up_with_entries(entries: usize) -> anyhow::Result<()> {
    use super::Client as _;
    let dir = scratch_dir("start-up")?;
    let dir_text = dir.display().to_string();
    let flags = ["--data-dir", dir_text.as_str(), "--max-store-bytes", "4GiB"];
    let mut server = start_kvs_with("kvs", &flags, None)?;
    let Some((tcp, _)) = server.tcp else {
        anyhow::bail!("kvs has no TCP port");
    };
    let mut client = super::tcp::Tcp::connect(&tcp.to_string()).await?;
    client
        .populate(entries, &super::workload::Workload::new(100))
        .await?;
    drop(client);
    server.child.kill()?;
    server.child.wait()?;
    let on_disk: u64 = std::fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|metadata| metadata.len())
        .sum();
    let started = Instant::now();
    let restarted = start_kvs_with("kvs", &flags, Some(dir))?;
    let took = started.elapsed();
    println!(
        "kvs --data-dir start-up with {entries} entries of 100 B ({} of snapshot and log, \
         after SIGKILL): {:.2} s",
        ByteSize::b(on_disk),
        took.as_secs_f64()
    );
    drop(restarted);
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::{Cell, median, ratio};

    fn cell(figure: f64, server_us: Option<f64>) -> Cell {
        Cell {
            figure,
            server_us,
            text: format!("{figure:.0} ops/s"),
        }
    }

    #[test]
    fn a_cell_is_the_median_round_with_the_range_and_the_median_cpu() {
        let rounds = vec![
            cell(120.0, Some(9.0)),
            cell(100.0, Some(7.0)),
            cell(140.0, Some(8.0)),
        ];
        let median = median(rounds).unwrap();
        assert_eq!(median.figure, 120.0);
        assert_eq!(median.text, "120 ops/s (100-140)");
        // The CPU's own median, not the CPU of the median figure's round.
        assert_eq!(median.server_us, Some(8.0));
        assert!(super::median(Vec::new()).is_none());
        let one = super::median(vec![cell(5.0, None)]).unwrap();
        assert_eq!(
            (one.figure, one.text.as_str(), one.server_us),
            (5.0, "5 ops/s", None)
        );
    }

    #[test]
    fn a_ratio_gives_the_figures_then_the_cpu_per_operation_inverted() {
        assert_eq!(
            ratio(&cell(90.0, Some(8.0)), &cell(100.0, Some(6.0))),
            "0.90x (CPU/op 0.75x)"
        );
        assert_eq!(ratio(&cell(90.0, None), &cell(100.0, Some(6.0))), "0.90x");
        assert_eq!(ratio(&cell(90.0, Some(8.0)), &cell(0.0, None)), "-");
        // A server that used no CPU the meter saw gives no CPU ratio.
        assert_eq!(
            ratio(&cell(90.0, Some(0.0)), &cell(100.0, Some(6.0))),
            "0.90x"
        );
    }
}
