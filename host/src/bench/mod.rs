//! `kvs bench`: a load generator that checks every reply.
//!
//! It drives a running server over real sockets with a fixed number of
//! connections for a fixed time, and prints throughput, latency percentiles
//! and the count of wrong replies (any reply other than what the store must
//! have answered). With `--swap-every-ms` it also swaps the guest back and
//! forth through the admin endpoint during the run and reports how long each
//! swap took, so the cost of hot swapping under load is one command away.
//!
//! - [`http`]: the REST API workloads.
//! - [`tcp`]: the line protocol workloads.
//! - [`stats`]: histograms and the printed summary.

mod http;
mod stats;
mod tcp;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use stats::Stats;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// The REST API.
    Http,
    /// The TCP command protocol, one request in flight per connection.
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// GET of existing keys.
    Get,
    /// create, get, update, delete, get-missing on fresh keys.
    Cycle,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Which front end to drive.
    #[arg(value_enum)]
    pub protocol: Protocol,

    /// Server address (default: 127.0.0.1:9000 for http, 127.0.0.1:9001 for tcp).
    #[arg(long)]
    pub addr: Option<String>,

    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,

    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// The workload.
    #[arg(long, value_enum, default_value_t = Mix::Get)]
    pub mix: Mix,

    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,

    /// Keys the get workload reads from (written before the run).
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,

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

/// The deterministic value stored under key number `i`.
fn value_for(i: usize, size: usize) -> Vec<u8> {
    let byte = b'a' + (i % 26) as u8;
    vec![byte; size]
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let addr = args.addr.clone().unwrap_or_else(|| match args.protocol {
        Protocol::Http => "127.0.0.1:9000".into(),
        Protocol::Tcp => "127.0.0.1:9001".into(),
    });
    let duration = Duration::from_secs_f64(args.duration);
    println!(
        "kvs bench {:?} {addr}: mix {:?}, {} connections, {:.1} s, values {} B, keys {}",
        args.protocol, args.mix, args.connections, args.duration, args.value_size, args.keys
    );
    if args.mix == Mix::Get {
        match args.protocol {
            Protocol::Http => http::populate(&addr, args.keys, args.value_size).await?,
            Protocol::Tcp => tcp::populate(&addr, args.keys, args.value_size).await?,
        }
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

    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let args = Arc::new(args);
    let mut tasks = Vec::new();
    for connection in 0..args.connections {
        let (args, addr) = (Arc::clone(&args), addr.clone());
        tasks.push(tokio::spawn(async move {
            match args.protocol {
                Protocol::Http => http::connection(&addr, &args, connection, deadline).await,
                Protocol::Tcp => tcp::connection(&addr, &args, connection, deadline).await,
            }
        }));
    }
    let mut total = Stats::default();
    for task in tasks {
        total.merge(&task.await.context("a bench connection panicked")?);
    }
    let elapsed = started.elapsed();
    println!(
        "{}",
        total.summary(&format!("{:?}/{:?}", args.protocol, args.mix), elapsed)
    );
    if let Some(swapper) = swapper {
        let swaps = swapper.await??;
        println!("{}", swaps.summary("guest swaps", elapsed));
    }
    anyhow::ensure!(
        total.wrong == 0 && total.failed == 0,
        "{} wrong and {} failed replies",
        total.wrong,
        total.failed
    );
    Ok(())
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
