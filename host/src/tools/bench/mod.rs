//! `kvs bench`: a load generator that checks every reply.
//!
//! It drives a running server over real sockets with a fixed number of
//! connections for a fixed time, and prints throughput, latency percentiles
//! and the count of wrong replies (any reply other than what the store must
//! have answered). With `--swap-every-ms` it also swaps the guest back and
//! forth through the admin endpoint during the run and reports how long each
//! swap took, so the cost of hot swapping under load is one command away.
//!
//! - [`workload`]: the steps of each mix and the replies they must get.
//! - [`http`], [`tcp`], [`resp`]: one client per protocol, each turning steps
//!   into requests and checking the replies.
//! - [`stats`]: histograms and the printed summary.
//! - [`cpu`]: the CPU time each side of a measurement used.
//! - [`compare`]: `kvs bench compare`, the side-by-side table.

pub mod compare;
mod cpu;
mod http;
mod resp;
mod stats;
mod tcp;
mod workload;

use anyhow::Context as _;
use bytesize::ByteSize;
use clap::{Args, ValueEnum};
use stats::Stats;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use workload::{Step, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// The REST API.
    Http,
    /// The TCP command protocol.
    Tcp,
    /// The Redis protocol (SET/GET/GETDEL), to drive `redis-server` with the
    /// same workloads.
    Resp,
}

impl Protocol {
    fn default_addr(self) -> &'static str {
        match self {
            Self::Http => "127.0.0.1:9000",
            Self::Tcp => "127.0.0.1:9001",
            Self::Resp => "127.0.0.1:6379",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// GET of existing keys.
    Get,
    /// create, get, update, delete, get-missing on fresh keys.
    Cycle,
    /// Overwrites of existing keys (with the value they hold).
    Put,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Which front end to drive.
    #[arg(value_enum)]
    pub protocol: Protocol,

    /// Server address (default: 127.0.0.1:9000 for http, 127.0.0.1:9001 for
    /// tcp, 127.0.0.1:6379 for resp).
    #[arg(long)]
    pub addr: Option<String>,

    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,

    /// Seconds to run (at most, with --ops).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Stop after this many requests in all, instead of at the end of
    /// --duration.
    #[arg(long)]
    pub ops: Option<u64>,

    /// The workload.
    #[arg(long, value_enum, default_value_t = Mix::Get)]
    pub mix: Mix,

    /// Bytes per value (e.g. 100, 1MiB, 8MiB).
    #[arg(long, default_value = "100")]
    pub value_size: ByteSize,

    /// Keys the get and put workloads use (written before the run).
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,

    /// Requests each connection writes before reading their replies (tcp and
    /// resp; HTTP/1.1 sends one at a time).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,

    /// Swap the guest this often during the run (needs --swap-guests).
    #[arg(long)]
    pub swap_every_ms: Option<u64>,

    /// Two or more components to swap between, comma-separated, in order.
    #[arg(long, value_delimiter = ',')]
    pub swap_guests: Vec<PathBuf>,

    /// The admin endpoint used for swapping.
    #[arg(long, default_value = "127.0.0.1:9002")]
    pub admin: String,
}

/// A connection that runs workload steps over one protocol. (Spelled with
/// `impl Future + Send` so generic callers can spawn the futures.)
trait Client: Sized + Send {
    fn connect(addr: &str) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Writes key `i` = value `i` for every key the get and put mixes use.
    fn populate(
        &mut self,
        keys: usize,
        workload: &Workload,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Sends the steps (pipelined where the protocol allows) and returns, for
    /// each, whether the reply was right and when it arrived after the start.
    /// An error means the connection failed.
    fn run(
        &mut self,
        steps: &[Step],
    ) -> impl Future<Output = anyhow::Result<Vec<(bool, Duration)>>> + Send;
}

/// A TCP connection for a line-based protocol client, without Nagle's delay,
/// split so replies can be read while requests are written.
async fn connect_split(
    addr: &str,
) -> anyhow::Result<(
    tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
)> {
    let socket = tokio::net::TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let (read, write) = socket.into_split();
    Ok((tokio::io::BufReader::new(read), write))
}

/// What one run measured: the summary of every request, and of the swaps.
pub struct Report {
    pub label: String,
    pub requests: Stats,
    pub swaps: Option<Stats>,
    pub elapsed: Duration,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = measure(args).await?;
    println!("{}", report.requests.summary(&report.label, report.elapsed));
    if let Some(swaps) = &report.swaps {
        println!("{}", swaps.summary("guest swaps", report.elapsed));
    }
    anyhow::ensure!(
        report.requests.wrong == 0 && report.requests.failed == 0,
        "{} wrong and {} failed replies",
        report.requests.wrong,
        report.requests.failed
    );
    Ok(())
}

/// Runs the benchmark and returns what it measured, printing only the
/// heading.
pub async fn measure(args: BenchArgs) -> anyhow::Result<Report> {
    match args.protocol {
        Protocol::Http => measure_with::<http::Http>(args).await,
        Protocol::Tcp => measure_with::<tcp::Tcp>(args).await,
        Protocol::Resp => measure_with::<resp::Resp>(args).await,
    }
}

async fn measure_with<C: Client + 'static>(args: BenchArgs) -> anyhow::Result<Report> {
    let addr = args
        .addr
        .clone()
        .unwrap_or_else(|| args.protocol.default_addr().into());
    let duration = Duration::from_secs_f64(args.duration);
    let value_size = usize::try_from(args.value_size.as_u64()).context("--value-size")?;
    let workload = Workload::new(value_size);
    println!(
        "kvs bench {:?} {addr}: mix {:?}, {} connections, pipeline {}, {:.1} s, values {}, keys {}",
        args.protocol,
        args.mix,
        args.connections,
        args.pipeline,
        args.duration,
        args.value_size,
        args.keys
    );
    if matches!(args.mix, Mix::Get | Mix::Put) {
        let mut client = C::connect(&addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        client
            .populate(args.keys, &workload)
            .await
            .context("writing the keys before the run")?;
    }
    let swapper = match args.swap_every_ms {
        Some(every) => {
            anyhow::ensure!(
                args.swap_guests.len() >= 2,
                "--swap-every-ms needs two or more --swap-guests"
            );
            let mut guests = Vec::new();
            for path in &args.swap_guests {
                guests.push(
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                );
            }
            Some(tokio::spawn(swap_loop(
                args.admin.clone(),
                guests,
                Duration::from_millis(every),
                duration,
            )))
        }
        None => None,
    };

    let limit = Limit {
        deadline: Instant::now() + duration,
        ops_left: Arc::new(AtomicI64::new(
            args.ops
                .map_or(i64::MAX, |ops| i64::try_from(ops).unwrap_or(i64::MAX)),
        )),
    };
    let started = Instant::now();
    let label = format!("{:?}/{:?}", args.protocol, args.mix);
    let args = Arc::new(args);
    let mut tasks = Vec::new();
    for id in 0..args.connections {
        let (args, addr, workload, limit) = (
            Arc::clone(&args),
            addr.clone(),
            workload.clone(),
            limit.clone(),
        );
        tasks.push(tokio::spawn(async move {
            connection::<C>(&addr, &args, &workload, id, &limit).await
        }));
    }
    let mut requests = Stats::default();
    for task in tasks {
        requests.merge(&task.await.context("a bench connection panicked")?);
    }
    let elapsed = started.elapsed();
    let swaps = match swapper {
        Some(swapper) => Some(swapper.await??),
        None => None,
    };
    Ok(Report {
        label,
        requests,
        swaps,
        elapsed,
    })
}

/// When a run ends: at the deadline, or once its requests are used up.
#[derive(Debug, Clone)]
struct Limit {
    deadline: Instant,
    /// Requests not yet claimed by any connection.
    ops_left: Arc<AtomicI64>,
}

impl Limit {
    /// Claims `count` requests; false once the run is over.
    fn claim(&self, count: usize) -> bool {
        Instant::now() < self.deadline
            && self.ops_left.fetch_sub(count as i64, Ordering::Relaxed) >= count as i64
    }
}

/// One connection's loop until the limit; reconnects after a failure.
async fn connection<C: Client>(
    addr: &str,
    args: &BenchArgs,
    workload: &Workload,
    id: usize,
    limit: &Limit,
) -> Stats {
    let mut stats = Stats::default();
    let Ok(mut client) = C::connect(addr).await else {
        stats.failed += 1;
        return stats;
    };
    let mut n = 0usize;
    // Steps of the workload not sent yet; each round sends `pipeline` of them,
    // so with a pipeline of 1 exactly one request is ever in flight.
    let mut pending = std::collections::VecDeque::new();
    let depth = args.pipeline.max(1);
    while limit.claim(depth) {
        while pending.len() < depth {
            pending.extend(workload::steps(args, workload, id, n));
            n += 1;
        }
        let steps: Vec<Step> = pending.drain(..depth).collect();
        match client.run(&steps).await {
            Ok(outcomes) => {
                for (step, (right, latency)) in steps.iter().zip(outcomes) {
                    stats.record(latency);
                    stats.value_bytes += step.value.as_ref().map_or(0, |v| v.len() as u64);
                    if !right {
                        stats.wrong += 1;
                    }
                }
            }
            Err(_) => {
                stats.failed += steps.len() as u64;
                match C::connect(addr).await {
                    Ok(fresh) => client = fresh,
                    Err(_) => return stats,
                }
            }
        }
    }
    stats
}

/// Alternates the guests through the admin endpoint; the latency recorded is
/// from sending the reload to the server answering that the swap is done,
/// after which every new request runs on the new guest.
async fn swap_loop(
    admin: String,
    guests: Vec<Vec<u8>>,
    every: Duration,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    let deadline = Instant::now() + duration;
    let mut next = 0;
    tokio::time::sleep(every).await;
    while Instant::now() + every / 2 < deadline {
        let started = Instant::now();
        let answer = http::admin_reload(&admin, guests[next % guests.len()].clone()).await?;
        stats.record(started.elapsed());
        // "unchanged" when the guest asked for is already serving (the first
        // swap, when the list starts with the running guest).
        if !answer.contains("\"swapped\"") && !answer.contains("\"unchanged\"") {
            stats.wrong += 1;
            eprintln!("swap failed: {answer}");
        }
        next += 1;
        tokio::time::sleep(every).await;
    }
    Ok(stats)
}
