//! The soak test: a million checked operations over HTTP and TCP at once, 64
//! connections in all, then the store empties and memory stops growing.
//!
//! It drives the real server with `kvs bench`'s own workloads (the
//! create/get/update/delete/get-missing cycle), so every reply is checked
//! against what the store must answer.

mod common;

use common::TestServer;
use kvs::tools::bench::{BenchArgs, Mix, Protocol, Report, measure};
use std::time::Duration;

const OPS_PER_FRONT_END: u64 = 500_000;

fn cycle(protocol: Protocol, addr: std::net::SocketAddr, ops: u64) -> BenchArgs {
    BenchArgs {
        protocol,
        addr: Some(addr.to_string()),
        connections: 32,
        duration: 3600.0,
        ops: Some(ops),
        mix: Mix::Cycle,
        value_size: bytesize::ByteSize::b(256),
        keys: 0,
        pipeline: 1,
        swap_every_ms: None,
        swap_guests: Vec::new(),
        admin: String::new(),
    }
}

/// Runs the cycle over both front ends at once and checks every reply.
async fn both(server: &TestServer, ops: u64) -> (Report, Report) {
    let (http, tcp) = tokio::join!(
        measure(cycle(Protocol::Http, server.http, ops)),
        measure(cycle(Protocol::Tcp, server.tcp, ops)),
    );
    let (http, tcp) = (http.unwrap(), tcp.unwrap());
    for report in [&http, &tcp] {
        let stats = &report.requests;
        assert_eq!((stats.wrong, stats.failed), (0, 0), "{}", report.label);
        assert_eq!(stats.ops(), ops, "{}", report.label);
    }
    (http, tcp)
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Deletes what runs cut short mid-cycle left behind, and checks the store
/// is then empty, its memory budget fully returned.
async fn empty_the_store(server: &TestServer) {
    let store = server.app.memory().unwrap();
    let left = store.entries();
    assert!(
        left.len() <= 64,
        "at most one cut-short cycle per connection leaves a key: {}",
        left.len()
    );
    for entry in left {
        store.delete(entry.key(), None).unwrap();
    }
    let usage = store.usage();
    assert_eq!((usage.keys, usage.bytes), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_checked_operations_then_the_store_empties_and_memory_is_stable() {
    let server = TestServer::start().await;
    // Warm up: every allocator arena, pool and buffer reaches its working size.
    both(&server, 50_000).await;
    empty_the_store(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let warm = resident_bytes();

    let (http, tcp) = both(&server, OPS_PER_FRONT_END).await;
    assert!(http.requests.ops() + tcp.requests.ops() >= 1_000_000);
    empty_the_store(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = resident_bytes();
    let growth = after.saturating_sub(warm);
    eprintln!(
        "soak: {} HTTP + {} TCP operations; resident {} MiB after warm-up, {} MiB after",
        http.requests.ops(),
        tcp.requests.ops(),
        warm >> 20,
        after >> 20
    );
    assert!(
        growth < 32 << 20,
        "resident memory grew by {} MiB over a million operations",
        growth >> 20
    );
}
