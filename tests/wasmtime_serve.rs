//! The portable guest on stock `wasmtime serve` (wasmtime-cli 48.0.8): the
//! same REST suite as the kvs host, plus persistence across restarts and
//! concurrent writers on shared keys.
//!
//! Needs the `wasmtime` CLI on PATH (CI installs it). Without it these tests
//! pass with a notice, except under `CI=true`, where a missing CLI fails them.

mod common;
mod rest;

use common::{Target, client};
use reqwest::StatusCode;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PORTABLE: &str = env!("KVS_GUEST_PORTABLE");
const CLI_VERSION: &str = "wasmtime 48.0.8";

/// `wasmtime serve` running the portable guest over a data directory.
struct WasmtimeServe {
    child: Child,
    addr: SocketAddr,
    data: PathBuf,
    owns_data: bool,
}

/// Whether the right CLI is installed; panics under CI if it is not.
fn cli_available() -> bool {
    let version = Command::new("wasmtime").arg("--version").output();
    let found = version
        .as_ref()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).starts_with(CLI_VERSION));
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install {CLI_VERSION} (cargo install wasmtime-cli@48.0.8 --locked)"
        );
        eprintln!("notice: {CLI_VERSION} is not on PATH; skipping the wasmtime serve tests");
    }
    found
}

impl WasmtimeServe {
    /// Starts on a fresh, empty data directory.
    async fn start() -> Option<Self> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let data = std::env::temp_dir().join(format!("kvs-wasmtime-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        let mut serve = Self::start_on(&data)?;
        serve.owns_data = true;
        Some(serve)
    }

    /// Starts on an existing data directory (kept when this stops).
    fn start_on(data: &Path) -> Option<Self> {
        if !cli_available() {
            return None;
        }
        // Find a free port; the short window before wasmtime binds it is
        // acceptable on loopback in tests.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = Command::new("wasmtime")
            .args(["serve", "-S", "cli", "--addr", &addr.to_string()])
            .arg("--dir")
            .arg(format!("{}::/data", data.display()))
            .arg(PORTABLE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wasmtime serve starts");
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "wasmtime serve never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            addr,
            data: data.to_path_buf(),
            owns_data: false,
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        self.stop();
        if self.owns_data {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

impl Target for WasmtimeServe {
    fn http_addr(&self) -> SocketAddr {
        self.addr
    }

    fn max_value_bytes(&self) -> usize {
        16 << 20
    }
}

rest_suite!(WasmtimeServe::start());

#[tokio::test]
async fn data_survives_a_restart_byte_for_byte() {
    let Some(mut first) = WasmtimeServe::start().await else {
        return;
    };
    let http = client();
    let image = common::png_image(300, 300);
    let r = http
        .post(first.url("/kvs/picture"))
        .header("content-type", "image/png")
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let etag = r.headers()["etag"].clone();
    first.stop();

    let second = WasmtimeServe::start_on(&first.data).unwrap();
    let r = http.get(second.url("/kvs/picture")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["etag"], etag);
    assert!(
        r.bytes().await.unwrap() == image,
        "bytes differ after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_updates_and_deletes_of_shared_keys() {
    let Some(server) = WasmtimeServe::start().await else {
        return;
    };
    let http = client();
    // Of concurrent creates of one key, exactly one wins.
    for round in 0..5 {
        let url = server.url(&format!("/kvs/race-{round}"));
        let attempts = (0..8).map(|i| http.post(&url).body(format!("{i}")).send());
        let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(|r| r.unwrap().status())
            .collect();
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "{statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT)
        );
    }
    // Updates and deletes racing on shared keys get only legal answers, and
    // of concurrent deletes of one key exactly one returns it.
    let url = server.url("/kvs/shared");
    http.post(&url).body("0").send().await.unwrap();
    let updates = (0..8).map(|i| http.put(&url).body(format!("{i}")).send());
    for r in futures::future::join_all(updates).await {
        assert_eq!(r.unwrap().status(), StatusCode::OK);
    }
    let deletes = (0..8).map(|_| http.delete(&url).send());
    let statuses: Vec<StatusCode> = futures::future::join_all(deletes)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn a_missing_data_directory_gets_a_clear_503() {
    if !cli_available() {
        return;
    }
    // No --dir at all: the guest has no /data.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new("wasmtime")
        .args(["serve", "-S", "cli", "--addr", &addr.to_string(), PORTABLE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = client()
        .get(format!("http://{addr}/kvs/k"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorcode"], 20);
    assert!(body["error"].as_str().unwrap().contains("--dir"), "{body}");
    let _ = child.kill();
    let _ = child.wait();
}
