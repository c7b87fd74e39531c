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
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

/// Starts `wasmtime serve -S cli` on the portable guest with `args`, on a
/// port the kernel picks, and returns it with the address it announced:
/// a port picked here and passed on could be taken before it binds it.
fn serve(args: &[&std::ffi::OsStr]) -> (Child, SocketAddr) {
    let mut child = Command::new("wasmtime")
        .args(["serve", "-S", "cli", "--addr", "127.0.0.1:0"])
        .args(args)
        .arg(PORTABLE)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmtime serve starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("Serving HTTP on http://")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("wasmtime serve announced no address: {line:?}"));
    // Keeps reading what the guest prints, so that a full pipe never
    // blocks it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr)
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
        let mut dir = std::ffi::OsString::from(data);
        dir.push("::/data");
        let (child, addr) = serve(&["--dir".as_ref(), dir.as_os_str()]);
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
    let (mut child, addr) = serve(&[]);
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
