//! The `kvs` binary as a child process: started on ephemeral ports, stopped
//! with signals, and killed if a test fails before stopping it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const KVS: &str = env!("CARGO_BIN_EXE_kvs");

/// A `kvs` process that is killed if a test fails before stopping it.
pub struct Server(pub Child, Log);

/// Everything the process wrote to stderr, as it comes.
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<std::sync::Mutex<String>>);

impl Log {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits up to `deadline` for the log to hold `needle`; returns the log.
    pub fn wait_for(&self, needle: &str, deadline: Duration) -> String {
        let start = std::time::Instant::now();
        loop {
            let text = self.text();
            if text.contains(needle) || start.elapsed() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// What the server logged so far, the first line (the addresses) included.
    pub fn log(&self) -> &Log {
        &self.1
    }
}

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `kvs` on ephemeral ports and reads the addresses it prints.
pub fn start(extra: &[&str]) -> (Server, SocketAddr, SocketAddr) {
    let (server, http, tcp, _admin) = start_with_admin(extra);
    (server, http, tcp)
}

/// Like [`start`], also returning the admin address.
pub fn start_with_admin(extra: &[&str]) -> (Server, SocketAddr, SocketAddr, SocketAddr) {
    start_logging(extra, "warn")
}

/// Like [`start_with_admin`], logging at `rust_log` (see [`Server::log`]).
pub fn start_logging(
    extra: &[&str],
    rust_log: &str,
) -> (Server, SocketAddr, SocketAddr, SocketAddr) {
    start_wrapped(&[], extra, rust_log)
}

/// Like [`start_logging`], with `kvs` run by a wrapper command, such as
/// `prlimit --fsize=N --` (the wrapper must exec `kvs`, so the child is it).
pub fn start_wrapped(
    wrapper: &[&str],
    extra: &[&str],
    rust_log: &str,
) -> (Server, SocketAddr, SocketAddr, SocketAddr) {
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(KVS);
            command
        }
        None => Command::new(KVS),
    };
    let mut child = command
        .args([
            "--http",
            "127.0.0.1:0",
            "--tcp",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Lines logged before the server listens (a recovery's warnings) are
    // kept in the log; the addresses are on the first line that names them.
    let log = Log::default();
    let mut line = String::new();
    loop {
        line.clear();
        let read = stderr.read_line(&mut line).unwrap();
        assert!(read > 0, "kvs exited before listening:\n{}", log.text());
        log.0.lock().unwrap().push_str(&line);
        if line.contains("kvs listening") {
            break;
        }
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut next = String::new();
        while stderr.read_line(&mut next).is_ok_and(|n| n > 0) {
            sink.0.lock().unwrap().push_str(&next);
            next.clear();
        }
    });
    let (http, tcp, admin) = listening_addresses(&line);
    (
        Server(child, log),
        http.parse().unwrap(),
        tcp.parse().unwrap(),
        admin.parse().unwrap(),
    )
}

/// The addresses in the line kvs prints once it listens: plain text, or a
/// JSON log line with `--log-format json`.
pub fn listening_addresses(line: &str) -> (String, String, String) {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        let field = |name: &str| {
            json["fields"][name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .to_string()
        };
        return (field("http"), field("tcp"), field("admin"));
    }
    let rest = line
        .trim()
        .strip_prefix("kvs listening: http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (http, rest) = rest.split_once(" tcp://").unwrap();
    let (tcp, rest) = rest.split_once(" admin://").unwrap();
    let admin = rest.split(' ').next().unwrap_or_default();
    (http.into(), tcp.into(), admin.into())
}

/// Runs `kvs` with `args`, asserts that it refuses to start, and returns its
/// stderr. Ephemeral ports come from the environment fallbacks, so `args`
/// can override any of them.
pub fn fails_to_start(args: &[&str]) -> String {
    let output = Command::new(KVS)
        .args(args)
        .env("KVS_HTTP", "127.0.0.1:0")
        .env("KVS_TCP", "127.0.0.1:0")
        .env("KVS_ADMIN", "127.0.0.1:0")
        .env_remove("KVS_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success(), "kvs started with {args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < deadline,
            "kvs did not exit in {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
