//! `--data-dir`: the write-ahead log keeps every acknowledged write through a
//! SIGKILL under load, in every fsync mode and during compactions; a torn
//! tail is cut off at start-up, damage before it stops start-up until
//! `kvs check-data --fix`; one kvs per directory.

mod common;

use common::process::{
    KVS, Server, fails_to_start, sigterm, start, start_logging, start_with_admin, start_wrapped,
    wait_with_deadline,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A fresh data directory for one test, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kvs-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// The log segments, in order.
    fn segments(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "wal"))
            .collect();
        found.sort();
        found
    }
}

/// A segment's records: its bytes up to the zeros the log reserves past
/// them (what a SIGKILL leaves), and the file's whole length.
fn records_of(segment: &Path) -> (Vec<u8>, usize) {
    let mut bytes = std::fs::read(segment).unwrap();
    let length = bytes.len();
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    bytes.truncate(end);
    (bytes, length)
}

/// Writes `records` as a segment that is `length` bytes long, the rest
/// zeros, as the log leaves a file it reserved space in.
fn write_reserved(segment: &Path, records: &[u8], length: usize) {
    let mut bytes = records.to_vec();
    bytes.resize(length.max(records.len()), 0);
    std::fs::write(segment, bytes).unwrap();
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn url(http: SocketAddr, key: &str) -> String {
    format!("http://{http}/kvs/{key}")
}

fn kill(mut server: Server) {
    server.kill().unwrap();
    server.wait().unwrap();
}

fn stop(mut server: Server) {
    sigterm(&server);
    let status = wait_with_deadline(&mut server, Duration::from_secs(60));
    assert!(status.success(), "exit status {status}");
}

/// What a key holds: its value and version, or nothing.
type State = Option<(String, u64)>;

/// A key's state as the server reports it over HTTP.
fn read(http: SocketAddr, key: &str) -> State {
    let response = client().get(url(http, key)).send().unwrap();
    match response.status().as_u16() {
        404 => None,
        200 => {
            let version = etag(response.headers());
            Some((response.text().unwrap(), version))
        }
        other => panic!("GET {key}: {other}"),
    }
}

fn etag(headers: &reqwest::header::HeaderMap) -> u64 {
    headers["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap()
}

/// One write a worker sends.
#[derive(Debug, Clone)]
enum Op {
    Create(String),
    Update(String),
    Delete,
}

/// What a worker knows of its own keys: the last acknowledged state of
/// each, and the write in flight when the server died.
#[derive(Debug, Default)]
struct Ledger {
    acked: HashMap<String, State>,
    in_flight: Option<(String, Op)>,
    max_version: u64,
}

/// Writes to `keys` (this worker's alone) in a loop until the server dies or
/// `stop` is set, recording every acknowledged result.
fn work(
    http: SocketAddr,
    tcp: SocketAddr,
    worker: usize,
    over_tcp: bool,
    stop: &AtomicBool,
) -> Ledger {
    let keys: Vec<String> = (0..6).map(|k| format!("w{worker}-k{k}")).collect();
    let mut ledger = Ledger::default();
    for key in &keys {
        ledger.acked.insert(key.clone(), None);
    }
    let http_client = client();
    let mut line_client = over_tcp.then(|| {
        let stream = TcpStream::connect(tcp).unwrap();
        (BufReader::new(stream.try_clone().unwrap()), stream)
    });
    let mut counter = 0u64;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let key = &keys[counter as usize % keys.len()];
        let value = format!("{key}-v{counter}");
        let write = match ledger.acked[key] {
            None => Op::Create(value.clone()),
            Some(_) if counter.is_multiple_of(3) => Op::Delete,
            Some(_) => Op::Update(value.clone()),
        };
        ledger.in_flight = Some((key.clone(), write.clone()));
        let result = match &mut line_client {
            Some((reader, writer)) => tcp_write(reader, writer, key, &write),
            None => http_write(&http_client, http, key, &write),
        };
        let Some(version) = result else {
            return ledger; // the server is gone; the write stays in flight
        };
        let state = match write {
            Op::Create(value) | Op::Update(value) => Some((value, version)),
            Op::Delete => None,
        };
        ledger.max_version = ledger.max_version.max(version);
        ledger.acked.insert(key.clone(), state);
        ledger.in_flight = None;
    }
    ledger
}

/// The version a write got (0 for a delete), or `None` when the server did
/// not answer.
fn http_write(
    client: &reqwest::blocking::Client,
    http: SocketAddr,
    key: &str,
    write: &Op,
) -> Option<u64> {
    let request = match write {
        Op::Create(value) => client.post(url(http, key)).body(value.clone()),
        Op::Update(value) => client.put(url(http, key)).body(value.clone()),
        Op::Delete => client.delete(url(http, key)),
    };
    let response = request.send().ok()?;
    let status = response.status().as_u16();
    assert!(
        matches!(status, 200 | 201 | 204),
        "{write:?} {key}: {status}"
    );
    Some(match write {
        Op::Delete => 0,
        _ => etag(response.headers()),
    })
}

fn tcp_write(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    key: &str,
    write: &Op,
) -> Option<u64> {
    let line = match write {
        Op::Create(value) => format!("cmd=create|key={key}|body={value}\n"),
        Op::Update(value) => format!("cmd=update|key={key}|body={value}\n"),
        Op::Delete => format!("cmd=delete|key={key}\n"),
    };
    writer.write_all(line.as_bytes()).ok()?;
    let mut reply = String::new();
    if reader.read_line(&mut reply).ok()? == 0 {
        return None;
    }
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["ok"], true, "{write:?} {key}: {reply}");
    Some(reply["version"].as_u64().unwrap())
}

/// 64 connections, half HTTP and half TCP, write for `load`; then the server
/// is killed with SIGKILL, restarted on the same directory, and every key
/// must hold its last acknowledged state, or the result of the write in
/// flight on it. New versions are above every acknowledged one.
fn survive_a_kill(name: &str, extra: &[&str], load: Duration) -> serde_json::Value {
    survive_a_kill_after(name, extra, 0, load)
}

/// [`survive_a_kill`], with the kill `load` after the log's `compactions`th
/// compaction (however long the writers take to get there on a busy
/// machine).
fn survive_a_kill_after(
    name: &str,
    extra: &[&str],
    compactions: u64,
    load: Duration,
) -> serde_json::Value {
    let scratch = Scratch::new(name);
    let mut args = vec!["--data-dir", scratch.path()];
    args.extend_from_slice(extra);
    let (server, http, tcp, admin) = start_with_admin(&args);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..64)
        .map(|worker| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || work(http, tcp, worker, worker % 2 == 1, &stop))
        })
        .collect();
    let status = || -> serde_json::Value {
        client()
            .get(format!("http://{admin}/status"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while status()["data"]["compactions"].as_u64().unwrap() < compactions {
        assert!(
            Instant::now() < deadline,
            "{name}: no compaction {compactions} within a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(load);
    let status = status();
    kill(server);
    stop.store(true, Ordering::Relaxed);
    let ledgers: Vec<Ledger> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let acknowledged: usize = ledgers.iter().map(|l| l.acked.len()).sum();
    assert!(acknowledged > 0);

    let (server, http, _tcp) = start(&args);
    let mut checked = 0;
    for ledger in &ledgers {
        for (key, acked) in &ledger.acked {
            let now = read(http, key);
            let in_flight = match &ledger.in_flight {
                Some((flying, write)) if flying == key => Some(write),
                _ => None,
            };
            let matches_flight = match (in_flight, &now) {
                (Some(Op::Create(v) | Op::Update(v)), Some((value, _))) => v == value,
                (Some(Op::Delete), None) => true,
                _ => false,
            };
            assert!(
                &now == acked || matches_flight,
                "{name}: {key} holds {now:?} after the restart; acknowledged {acked:?}, in flight {in_flight:?}"
            );
            checked += 1;
        }
    }
    let highest = ledgers.iter().map(|l| l.max_version).max().unwrap();
    let fresh = client()
        .post(url(http, "after-the-restart"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(fresh.status().as_u16(), 201);
    assert!(
        etag(fresh.headers()) > highest,
        "{name}: a version was reused after the restart"
    );
    assert_eq!(checked, 64 * 6);
    stop_and_check_restart(server, &args, http);
    status["data"].clone()
}

/// A graceful stop compacts the directory; the data is all there after it.
fn stop_and_check_restart(server: Server, args: &[&str], http_before: SocketAddr) {
    let before = read(http_before, "after-the-restart");
    stop(server);
    let (server, http, _tcp) = start(args);
    assert_eq!(read(http, "after-the-restart"), before);
    stop(server);
}

#[test]
fn a_sigkill_under_load_loses_no_acknowledged_write_with_fsync_always() {
    for (round, load) in [(1, 700), (2, 1900)] {
        let data = survive_a_kill(
            &format!("always-{round}"),
            &["--fsync", "always"],
            Duration::from_millis(load),
        );
        assert_eq!(data["fsync"], "always", "{data}");
        // Group commit: the 64 writers share syncs, so there are fewer syncs
        // than records (how many fewer depends on the disk and the CPU).
        let (syncs, records) = (
            data["syncs"].as_u64().unwrap(),
            data["log_records"].as_u64().unwrap(),
        );
        assert!(syncs > 0 && syncs < records, "{data}");
    }
}

#[test]
fn a_sigkill_under_load_loses_no_acknowledged_write_with_fsync_everysec() {
    for (round, load) in [(1, 900), (2, 2300)] {
        survive_a_kill(
            &format!("everysec-{round}"),
            &["--fsync", "everysec"],
            Duration::from_millis(load),
        );
    }
}

#[test]
fn a_sigkill_under_load_loses_no_acknowledged_write_with_fsync_no() {
    for (round, load) in [(1, 600), (2, 1700)] {
        survive_a_kill(
            &format!("no-{round}"),
            &["--fsync", "no"],
            Duration::from_millis(load),
        );
    }
}

/// With a tiny compaction threshold the log is compacted every second or so
/// while the writers run, so kills land before, during and after them: at
/// once, soon and later after the first and the second compaction.
#[test]
fn a_sigkill_during_compactions_loses_no_acknowledged_write() {
    for (round, compactions, load) in [(1, 1, 0), (2, 1, 400), (3, 2, 900)] {
        let data = survive_a_kill_after(
            &format!("compacting-{round}"),
            &["--compact-log-bytes", "64KiB"],
            compactions,
            Duration::from_millis(load),
        );
        assert!(
            data["compactions"].as_u64().unwrap() >= compactions,
            "{data}"
        );
        assert_eq!(data["fsync"], "everysec", "{data}");
    }
}

/// Writes `count` keys, then kills the server so they stay in the log.
fn logged_keys(scratch: &Scratch, count: usize) {
    let (server, http, _tcp) = start(&["--data-dir", scratch.path()]);
    for i in 0..count {
        let response = client()
            .post(url(http, &format!("key-{i:03}")))
            .body(format!("value {i}"))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    kill(server);
}

fn present(http: SocketAddr, count: usize) -> Vec<bool> {
    (0..count)
        .map(|i| read(http, &format!("key-{i:03}")).is_some())
        .collect()
}

/// The log writes records over zeros it reserved ahead of them, so a
/// SIGKILL leaves a segment that ends in zeros: `check-data` and start-up
/// read them as the segment's end and say nothing of damage.
#[test]
fn zeros_reserved_past_the_records_are_the_end_of_a_segment_not_damage() {
    let scratch = Scratch::new("reserved");
    logged_keys(&scratch, 20);
    let segment = scratch.segments().pop().unwrap();
    let (records, length) = records_of(&segment);
    assert!(
        length > records.len(),
        "no space was reserved past the records"
    );
    let (whole, report) = check_data(scratch.path(), false);
    assert!(whole, "{report}");
    assert!(
        report.contains(&format!(
            "20 records in {} bytes, ok; then {} bytes of zeros",
            records.len(),
            length - records.len()
        )),
        "{report}"
    );
    let (server, http, _tcp, _admin) = start_logging(&["--data-dir", scratch.path()], "warn");
    assert!(present(http, 20).iter().all(|p| *p));
    let log = server.log().text();
    assert!(!log.contains("torn"), "{log}");
    // Cut to its records, or dropped by the compaction that follows a replay.
    if let Ok(bytes) = std::fs::read(&segment) {
        assert_eq!(bytes, records);
    }
    stop(server);
}

#[test]
fn a_torn_or_garbage_tail_is_cut_off_with_a_warning_naming_the_file() {
    for (name, damage) in [("cut", 0usize), ("garbage", 1)] {
        let scratch = Scratch::new(&format!("tail-{name}"));
        logged_keys(&scratch, 20);
        let segment = scratch.segments().pop().unwrap();
        let (good, length) = records_of(&segment);
        assert!(
            length > good.len(),
            "no space was reserved past the records"
        );
        // What a crash mid-write leaves: the last record cut short, or
        // bytes that are no record, before the reserved zeros.
        let damaged = if damage == 0 {
            good[..good.len() - 5].to_vec()
        } else {
            [
                &good[..],
                &b"\x13\x00\x00\x00garbage that is no record at all"[..],
            ]
            .concat()
        };
        write_reserved(&segment, &damaged, length);
        let (server, http, _tcp, _admin) = start_logging(&["--data-dir", scratch.path()], "warn");
        let log = server.log().text();
        assert!(log.contains("torn write"), "{name}: {log}");
        assert!(
            log.contains(segment.file_name().unwrap().to_str().unwrap()),
            "{name}: {log}"
        );
        let present = present(http, 20);
        // Cutting five bytes off takes the last record; garbage takes nothing.
        let expected = if damage == 0 { 19 } else { 20 };
        assert_eq!(
            present.iter().filter(|p| **p).count(),
            expected,
            "{name}: {present:?}"
        );
        assert!(present[..19].iter().all(|p| *p), "{name}: {present:?}");
        stop(server);
    }
}

fn check_data(dir: &str, fix: bool) -> (bool, String) {
    let mut command = std::process::Command::new(KVS);
    command.args(["check-data", dir]);
    if fix {
        command.arg("--fix");
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn damage_before_the_tail_stops_start_up_until_check_data_fixes_it() {
    let scratch = Scratch::new("middle");
    logged_keys(&scratch, 20);
    let (whole, report) = check_data(scratch.path(), false);
    assert!(whole, "{report}");
    assert!(report.contains("whole"), "{report}");

    let segment = scratch.segments().pop().unwrap();
    let (mut bytes, length) = records_of(&segment);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    write_reserved(&segment, &bytes, length);

    let refusal = fails_to_start(&["--data-dir", scratch.path()]);
    assert!(refusal.contains(segment.to_str().unwrap()), "{refusal}");
    assert!(refusal.contains("kvs check-data"), "{refusal}");

    let (whole, report) = check_data(scratch.path(), false);
    assert!(!whole, "{report}");
    assert!(report.contains("damage at byte"), "{report}");
    let (fixed, report) = check_data(scratch.path(), true);
    assert!(fixed, "{report}");
    assert!(report.contains("backup"), "{report}");
    let backups = std::fs::read_dir(&scratch.0)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .contains(".bak-")
        })
        .count();
    assert_eq!(backups, 1);

    let (server, http, _tcp) = start(&["--data-dir", scratch.path()]);
    let present = present(http, 20);
    let kept = present.iter().take_while(|p| **p).count();
    assert!((5..20).contains(&kept), "{present:?}");
    assert!(present[kept..].iter().all(|p| !*p), "{present:?}");
    stop(server);
}

#[test]
fn a_second_kvs_on_the_same_directory_is_refused() {
    let scratch = Scratch::new("locked");
    let (server, _http, _tcp) = start(&["--data-dir", scratch.path()]);
    let refusal = fails_to_start(&["--data-dir", scratch.path()]);
    assert!(refusal.contains("in use by another kvs"), "{refusal}");
    let (_, report) = check_data(scratch.path(), false);
    assert!(report.contains("in use by another kvs"), "{report}");
    stop(server);
    let refusal = fails_to_start(&["--data-dir", scratch.path(), "--snapshot", "/tmp/x"]);
    assert!(refusal.contains("--snapshot"), "{refusal}");
    let file = scratch.0.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let refusal = fails_to_start(&["--data-dir", file.to_str().unwrap()]);
    assert!(refusal.contains("is a file, not a directory"), "{refusal}");
}

#[test]
fn data_survives_a_graceful_restart_in_one_snapshot() {
    let scratch = Scratch::new("graceful");
    let (server, http, _tcp) = start(&["--data-dir", scratch.path()]);
    let body: Vec<u8> = (0..=255).collect();
    let created = client()
        .post(url(http, "binary"))
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .unwrap();
    let version = etag(created.headers());
    stop(server);
    let names: Vec<String> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("snapshot-")).count(),
        1,
        "{names:?}"
    );
    let (server, http, _tcp) = start(&["--data-dir", scratch.path()]);
    let response = client().get(url(http, "binary")).send().unwrap();
    assert_eq!(etag(response.headers()), version);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(response.bytes().unwrap().to_vec(), body);
    stop(server);
}

/// A full disk, simulated with a file-size limit (`prlimit --fsize`): the
/// write that hits it is refused with code 25 and taken back, later writes
/// are refused at once, reads are served, and once the limit is lifted
/// writes resume by themselves. After a SIGKILL and a restart every
/// acknowledged write is there and no refused one is.
#[test]
fn a_full_disk_refuses_writes_clearly_serves_reads_and_recovers() {
    let scratch = Scratch::new("full");
    // Large enough for wasmtime's image of the guest's memory (a file too),
    // small enough that 200 writes of 20 KB run into it.
    let (server, http, tcp, _admin) = start_wrapped(
        &["prlimit", "--fsize=2097152:unlimited", "--"],
        &["--data-dir", scratch.path(), "--fsync", "always"],
        "warn",
    );
    let client = client();
    let value = "v".repeat(20_000);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let key = format!("full-{i:03}");
        let response = client
            .post(url(http, &key))
            .body(value.clone())
            .send()
            .unwrap();
        match response.status().as_u16() {
            201 => acknowledged.push(key),
            503 => {
                let body: serde_json::Value = response.json().unwrap();
                assert_eq!(body["errorcode"], 25, "{body}");
                assert!(
                    body["error"].as_str().unwrap().contains("not durable"),
                    "{body}"
                );
                refused = Some(key);
                break;
            }
            other => panic!("{key}: {other}"),
        }
    }
    let refused = refused.expect("the file-size limit was never reached");
    assert!(acknowledged.len() > 10, "{acknowledged:?}");

    // Later writes are refused at once, over both protocols; reads work.
    let again = client
        .put(url(http, &acknowledged[0]))
        .body("new")
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 503);
    let mut line = TcpStream::connect(tcp).unwrap();
    line.write_all(b"cmd=create|key=over-tcp|body=x\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&line).read_line(&mut reply).unwrap();
    assert!(reply.contains("\"errorcode\":25"), "{reply}");
    assert_eq!(read(http, &acknowledged[0]).unwrap().0, value);
    assert_eq!(read(http, &refused), None, "a refused write was taken back");

    // Space returns: writes resume by themselves.
    let lifted = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &server.id().to_string(),
            "--fsize=unlimited:unlimited",
        ])
        .status()
        .unwrap();
    assert!(lifted.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = client
            .post(url(http, "after-space-returns"))
            .body("ok")
            .send()
            .unwrap();
        if response.status().as_u16() == 201 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(server);

    let (server, http, _tcp) = start(&["--data-dir", scratch.path()]);
    for key in &acknowledged {
        assert_eq!(
            read(http, key).map(|(v, _)| v),
            Some(value.clone()),
            "{key}"
        );
    }
    assert_eq!(read(http, &refused), None);
    assert_eq!(read(http, "over-tcp"), None);
    assert_eq!(read(http, "after-space-returns").unwrap().0, "ok");
    stop(server);
}

/// Sends one Redis command (RESP, which the TCP port detects) and returns
/// its one-line reply.
fn resp_command(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    args: &[&str],
) -> String {
    let mut frame = format!("*{}\r\n", args.len());
    for arg in args {
        frame.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    writer.write_all(frame.as_bytes()).unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    reply.trim_end().to_string()
}

/// RENAME, MSET and a many-key DEL are logged as one record each: after a
/// SIGKILL the restarted server has every one of them whole, the moved key
/// with its expiry, under versions above the ones it had.
#[test]
fn multi_key_writes_survive_a_sigkill_whole() {
    let scratch = Scratch::new("multi-key");
    let (server, http, tcp) = start(&["--data-dir", scratch.path(), "--fsync", "always"]);
    let stream = TcpStream::connect(tcp).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut run = |args: &[&str]| resp_command(&mut reader, &mut writer, args);
    assert_eq!(run(&["SET", "moving", "payload", "EX", "1000"]), "+OK");
    assert_eq!(
        run(&["MSET", "m1", "one", "m2", "two", "m3", "three"]),
        "+OK"
    );
    assert_eq!(run(&["RENAME", "moving", "moved"]), "+OK");
    assert_eq!(run(&["DEL", "m1", "m2", "nothing"]), ":2");
    assert_eq!(run(&["RENAMENX", "m3", "m4"]), ":1");
    let before = read(http, "moved").unwrap().1;
    kill(server);

    let (server, http, tcp) = start(&["--data-dir", scratch.path()]);
    for gone in ["moving", "m1", "m2", "m3"] {
        assert_eq!(read(http, gone), None, "{gone}");
    }
    assert_eq!(read(http, "moved"), Some(("payload".into(), before)));
    assert_eq!(read(http, "m4").unwrap().0, "three");
    let stream = TcpStream::connect(tcp).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let ttl = resp_command(&mut reader, &mut writer, &["TTL", "moved"]);
    let ttl: u64 = ttl.trim_start_matches(':').parse().unwrap();
    assert!((990..=1000).contains(&ttl), "TTL {ttl}");
    assert_eq!(
        resp_command(&mut reader, &mut writer, &["SET", "new", "v"]),
        "+OK"
    );
    assert!(read(http, "new").unwrap().1 > before);
    stop(server);
}
