//! The `kvs` binary as operators run it: flags, start-up errors, the printed
//! addresses, and graceful shutdown on SIGTERM.

mod common;

use common::process::{
    KVS, fails_to_start, sigterm, start, start_logging, start_with_admin, wait_with_deadline,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

fn read_all(stream: &mut TcpStream) -> String {
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let (mut child, http, tcp) = start(&[]);

    // An upload in flight: headers and half the body sent.
    let mut upload = TcpStream::connect(http).unwrap();
    upload
        .write_all(b"POST /kvs/late HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\nconnection: close\r\n\r\nhello")
        .unwrap();
    // A TCP client in the middle of a session.
    let mut line = TcpStream::connect(tcp).unwrap();
    line.write_all(b"cmd=create | key=t | body=1\n").unwrap();
    let mut reply = [0u8; 128];
    let n = line.read(&mut reply).unwrap();
    assert!(
        std::str::from_utf8(&reply[..n])
            .unwrap()
            .contains("\"ok\":true")
    );

    std::thread::sleep(Duration::from_millis(200));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(200));

    // New connections are refused once shutdown began...
    assert!(TcpStream::connect(http).is_err(), "still accepting HTTP");
    // ...but the upload in flight completes.
    upload.write_all(b"world").unwrap();
    let answer = read_all(&mut upload);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // The TCP connection was closed after its last command.
    assert_eq!(line.read(&mut reply).unwrap(), 0);

    let status = wait_with_deadline(&mut child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_guest_that_cannot_be_read_or_loaded_stops_start_up_with_a_clear_error() {
    let stderr = fails_to_start(&["--guest", "/nonexistent/guest.wasm"]);
    assert!(
        stderr.contains("cannot read the guest component"),
        "{stderr}"
    );

    let not_wasm = GuestFile::new("not-wasm", b"this is not wasm");
    let stderr = fails_to_start(&["--guest", not_wasm.path()]);
    assert!(
        stderr.contains("not a valid WebAssembly component"),
        "{stderr}"
    );
}

/// The server compiles guests in a child, `kvs compile-guest`, so it never
/// runs the compiler itself: the child turns a component on stdin into an
/// artifact (an ELF object) on stdout, and refuses what does not compile
/// with its own exit status and the reason.
#[test]
fn guests_are_compiled_by_a_child_that_refuses_what_does_not_compile() {
    let compile = |input: &[u8]| {
        let mut child = Command::new(KVS)
            .args([
                "compile-guest",
                "--max-instances=4",
                "--max-memory-bytes=16777216",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    let output = compile(&std::fs::read(DEFAULT_GUEST).unwrap());
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.starts_with(b"\x7fELF"), "an artifact");
    let output = compile(b"this is not wasm");
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("magic header"), "{stderr}");
    // Not an operator's command: kvs --help does not list it.
    let help = Command::new(KVS).arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("compile-guest"));
}

#[test]
fn a_guest_that_traps_is_refused_at_start_up() {
    let stderr = fails_to_start(&["--guest", env!("KVS_GUEST_BROKEN")]);
    assert!(
        stderr.contains("the guest failed its start-up self-check"),
        "{stderr}"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let stderr = fails_to_start(&["--http", &addr]);
    assert!(
        stderr.contains(&format!("cannot listen for HTTP on {addr}")),
        "{stderr}"
    );
}

#[test]
fn help_documents_every_flag_with_its_default() {
    let output = Command::new(KVS).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--http",
        "--tcp",
        "--guest",
        "--max-key-bytes",
        "--max-value-bytes",
        "--max-store-bytes",
        "--max-line-bytes",
        "--shutdown-timeout",
        "[default: 127.0.0.1:9000]",
        "[env: KVS_HTTP=]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let first = help.lines().next().unwrap();
    assert!(
        first.ends_with('.'),
        "the first line is a whole sentence: {first:?}"
    );
}

/// Nonsense limits and sizes are refused at start-up with a message that
/// names the flag (and, for sizes, the variable) to change.
#[test]
fn bad_limits_and_sizes_are_refused_naming_the_flag() {
    for (args, expected) in [
        (
            &["--max-value-bytes", "99999999999999999999"][..],
            "--max-value-bytes (or KVS_MAX_VALUE_BYTES): it is too large",
        ),
        (
            &["--max-value-bytes", "abc"],
            "it does not start with a number",
        ),
        (
            &["--guest-memory", "1MiB"],
            "--guest-memory 1.0 MiB is too small",
        ),
        (&["--max-value-bytes", "100MiB"], "at least 316.0 MiB"),
        (
            &["--max-tcp-connections", "0"],
            "--max-tcp-connections 0 is too small",
        ),
        (&["--max-page-size", "0"], "--max-page-size 0 is too small"),
        (
            &["--max-line-bytes", "0"],
            "--max-line-bytes 0 bytes is too small",
        ),
        (
            &["--max-key-bytes", "0"],
            "--max-key-bytes 0 bytes is too small",
        ),
        (
            &["--max-value-bytes", "0"],
            "--max-value-bytes 0 bytes is too small",
        ),
        (
            &["--guest-timeout-secs", "0"],
            "--guest-timeout-secs 0 is out of range",
        ),
        (
            &["--max-value-bytes", "2GiB"],
            "is larger than --max-store-bytes",
        ),
    ] {
        let stderr = fails_to_start(args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let output = Command::new(KVS)
        .env("KVS_MAX_VALUE_BYTES", "zz")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KVS_MAX_VALUE_BYTES"), "{stderr}");
}

#[test]
fn the_client_runs_commands_for_scripts_and_reports_failure_in_its_status() {
    let (mut child, _http, tcp) = start(&[]);
    let tcp = tcp.to_string();

    let output = Command::new(KVS)
        .args([
            "client",
            &tcp,
            "-c",
            "cmd=create | key=c | type=application/json | body={\"a\":[1,2]}",
        ])
        .args(["-c", "cmd=get | key=c"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ok: c is at version"), "{stdout}");
    // JSON values are pretty-printed.
    assert!(stdout.contains("\"a\": [\n    1,\n    2\n  ]"), "{stdout}");

    let output = Command::new(KVS)
        .args(["client", &tcp, "--raw", "-c", "cmd=get | key=missing"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        r#"{"error":"Error not found","errorcode":10,"errors":{}}"#
    );

    // Commands on stdin; a stop ends the session without counting as failure.
    let mut client = Command::new(KVS)
        .args(["client", &tcp])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"cmd=create | key=s | body64=AAL/\ncmd=get | key=s\ncmd=keys\ncmd=stop\ncmd=get | key=s\n")
        .unwrap();
    let output = client.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("<3 bytes of application/octet-stream, binary, not shown>"),
        "{stdout}"
    );

    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn the_script_loops_through_the_tcp_port_and_finishes() {
    let (mut child, _http, tcp) = start(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kvs.sh");
    let output = Command::new("bash")
        .args([script, &tcp.to_string(), "25"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("151 requests, 0 unexpected replies"),
        "{stdout}"
    );
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

/// A temporary guest file that is removed when the test ends.
struct GuestFile(std::path::PathBuf);

impl GuestFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("kvs-{name}-{}.wasm", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for GuestFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const DEFAULT_GUEST: &str = concat!(env!("OUT_DIR"), "/kvs_guest.wasm");
const CANARY_GUEST: &str = env!("KVS_GUEST_CANARY");

/// The `kvs-guest` header of a listing request.
fn flavor(http: SocketAddr) -> String {
    let mut socket = TcpStream::connect(http).unwrap();
    socket
        .write_all(b"GET /kvs?limit=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let answer = read_all(&mut socket);
    answer
        .lines()
        .find_map(|line| line.strip_prefix("kvs-guest: "))
        .unwrap_or_else(|| panic!("no kvs-guest header in {answer}"))
        .trim()
        .to_string()
}

fn wait_for_flavor(http: SocketAddr, expected: &str) {
    let start = std::time::Instant::now();
    while flavor(http) != expected {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the guest never became {expected}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn watch_reloads_a_changed_guest_file_but_never_a_half_written_one() {
    let file = GuestFile::new("watch", &std::fs::read(DEFAULT_GUEST).unwrap());
    let (mut child, http, _tcp) = start(&[
        "--guest",
        file.path(),
        "--watch",
        "--watch-interval-ms",
        "100",
    ]);
    assert_eq!(flavor(http), "0.1.0");

    // Half a component sits in the file for several poll intervals: it is
    // tried, rejected, and the running guest keeps serving.
    let canary = std::fs::read(CANARY_GUEST).unwrap();
    std::fs::write(&file.0, &canary[..canary.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(flavor(http), "0.1.0");

    // The rest of it arrives: the complete component is loaded.
    std::fs::write(&file.0, &canary).unwrap();
    wait_for_flavor(http, "0.1.0+canary");
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn sighup_reloads_the_guest_file() {
    let file = GuestFile::new("sighup", &std::fs::read(DEFAULT_GUEST).unwrap());
    let (mut child, http, tcp) = start(&["--guest", file.path()]);
    let mut line = TcpStream::connect(tcp).unwrap();
    std::fs::write(&file.0, std::fs::read(CANARY_GUEST).unwrap()).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_flavor(http, "0.1.0+canary");
    // The TCP connection opened before the swap is still open and on the new guest.
    line.write_all(b"cmd=help\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&line).read_line(&mut reply).unwrap();
    assert!(reply.contains("\"guest\":\"0.1.0+canary\""), "{reply}");
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn kvs_reload_swaps_rolls_back_and_fails_loudly_on_a_bad_guest() {
    let (mut child, http, _tcp, admin) = start_with_admin(&["--admin-token", "t0ken"]);
    let admin = admin.to_string();
    let reload = |args: &[&str]| {
        Command::new(KVS)
            .args(["reload", "--admin", &admin])
            .args(args)
            .env("KVS_ADMIN_TOKEN", "t0ken")
            .output()
            .unwrap()
    };
    let output = reload(&["--guest", CANARY_GUEST]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"status\":\"swapped\""));
    assert_eq!(flavor(http), "0.1.0+canary");

    let bad = GuestFile::new("bad", b"garbage");
    let output = reload(&["--guest", bad.path()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("not a valid WebAssembly component"));
    assert_eq!(flavor(http), "0.1.0+canary");

    let output = reload(&["--rollback"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(flavor(http), "0.1.0");
    let output = reload(&["--status"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"generation\":1"));

    // Without the token the endpoint refuses.
    let output = Command::new(KVS)
        .args(["reload", "--status", "--admin", &admin])
        .env_remove("KVS_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn an_admin_endpoint_off_loopback_requires_a_token() {
    let stderr = fails_to_start(&["--admin", "0.0.0.0:0"]);
    assert!(
        stderr.contains("is not on loopback: set --admin-token"),
        "{stderr}"
    );
}

#[test]
fn kvs_bench_drives_both_front_ends_and_checks_every_reply() {
    let (mut child, http, tcp) = start(&[]);
    for (protocol, addr, mix) in [
        ("http", http, "cycle"),
        ("http", http, "get"),
        ("tcp", tcp, "cycle"),
        ("tcp", tcp, "get"),
    ] {
        let output = Command::new(KVS)
            .args(["bench", protocol, "--addr", &addr.to_string(), "--mix", mix])
            .args(["--connections", "2", "--duration", "0.5", "--keys", "20"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{protocol} {mix}: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("ops/s") && stdout.contains("p99"),
            "{stdout}"
        );
        assert!(stdout.contains("wrong 0  failed 0"), "{stdout}");
    }
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

/// Sends GETs to `http` for `duration`, so a profile has work to record.
fn load_for(http: SocketAddr, duration: Duration) {
    let deadline = std::time::Instant::now() + duration;
    while std::time::Instant::now() < deadline {
        let mut stream = TcpStream::connect(http).unwrap();
        stream
            .write_all(b"GET /kvs/missing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        assert!(read_all(&mut stream).starts_with("HTTP/1.1 404"));
    }
}

#[test]
fn cpuprofile_writes_a_flamegraph_or_a_pprof_profile_of_the_run_on_exit() {
    let dir = std::env::temp_dir().join(format!("kvs-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["profile.svg", "profile.pb"] {
        let path = dir.join(name);
        let (mut child, http, _tcp) = start(&["--cpuprofile", path.to_str().unwrap()]);
        load_for(http, Duration::from_secs(2));
        sigterm(&child);
        // Symbolizing a debug build's profile takes seconds of CPU, more
        // while the other tests of this file share the two cores.
        let status = wait_with_deadline(&mut child, Duration::from_secs(120));
        assert!(status.success(), "{name}: exit status {status}");
        let profile = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&profile);
        // Frames of kvs's own request path were sampled, by name.
        assert!(
            text.contains("kvs::front::http"),
            "{name} names no kvs frame"
        );
        if name.ends_with(".svg") {
            assert!(text.contains("<svg"), "{name} is not an SVG");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--guest-profiler perfmap` names the guest's functions for `perf` in
/// the server's own `/tmp/perf-<pid>.map`, although a child compiled them;
/// the child leaves no map of its own.
#[test]
fn perfmap_names_the_guest_s_functions_in_the_server_s_map() {
    let maps = || -> std::collections::BTreeSet<std::path::PathBuf> {
        std::fs::read_dir("/tmp")
            .unwrap()
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                name.starts_with("perf-") && name.ends_with(".map")
            })
            .collect()
    };
    let before = maps();
    let (mut child, _http, _tcp) = start(&["--guest-profiler", "perfmap"]);
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let text = std::fs::read_to_string(&map).unwrap();
    assert!(
        text.contains("kvs_guest"),
        "no guest function in {}",
        map.display()
    );
    let new: Vec<_> = maps().difference(&before).cloned().collect();
    assert_eq!(new, vec![map.clone()], "only the server writes a map");
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
    let _ = std::fs::remove_file(&map);
}

/// Logs written to a pipe carry no colour codes, and every TCP command
/// leaves a debug line with its connection id, command and outcome.
#[test]
fn logs_in_a_pipe_are_plain_and_name_each_tcp_command() {
    let (mut child, _http, tcp, _admin) = start_logging(&[], "kvs=debug");
    let mut line = TcpStream::connect(tcp).unwrap();
    line.write_all(b"cmd=get | key=nothing-here\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&line).read_line(&mut reply).unwrap();
    assert!(reply.contains("\"errorcode\":10"), "{reply}");
    let log = child
        .log()
        .wait_for("outcome=\"error 10\"", Duration::from_secs(10));
    let command = log
        .lines()
        .find(|line| line.contains("command=\"get\""))
        .unwrap_or_else(|| panic!("no debug line for the command in\n{log}"));
    assert!(command.contains("connection_id="), "{command}");
    assert!(command.contains("outcome=\"error 10\""), "{command}");
    assert!(
        !command.contains("nothing-here"),
        "keys stay out of the log: {command}"
    );
    assert!(!log.contains('\x1b'), "colour codes in a pipe:\n{log}");
    assert!(
        !log.contains("compiling it here"),
        "the guest was compiled by a child, not by the server:\n{log}"
    );
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

/// With `--log-format json` every line is JSON, the first one (the bound
/// addresses) included.
#[test]
fn json_logs_are_json_from_the_first_line() {
    let (mut child, http, _tcp, _admin) = start_logging(&["--log-format", "json"], "info");
    let mut socket = TcpStream::connect(http).unwrap();
    socket
        .write_all(b"GET /kvs/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    assert!(read_all(&mut socket).starts_with("HTTP/1.1 404"));
    let log = child
        .log()
        .wait_for("\"status\":404", Duration::from_secs(10));
    assert!(!log.is_empty());
    for line in log.lines() {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

/// A reload whose guest file is gone is logged, with the file, and the
/// running guest keeps serving.
#[test]
fn a_reload_of_a_missing_guest_file_is_logged() {
    let file = GuestFile::new("missing", &std::fs::read(DEFAULT_GUEST).unwrap());
    let (mut child, http, _tcp, _admin) = start_logging(&["--guest", file.path()], "warn");
    std::fs::remove_file(&file.0).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let log = child
        .log()
        .wait_for("guest reload rejected", Duration::from_secs(10));
    assert!(log.contains("guest reload rejected"), "{log}");
    assert!(log.contains(file.path()), "{log}");
    assert_eq!(flavor(http), "0.1.0");
    sigterm(&child);
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}
