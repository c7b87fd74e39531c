//! Shared by the integration tests: a real server on ephemeral loopback
//! ports, and small helpers to speak to it.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod browser;
pub mod process;
pub mod redis_server;

use kvs::app::App;
use kvs::front::admin::AdminConfig;
use kvs::front::http::HttpConfig;
use kvs::front::tcp::TcpConfig;
use kvs::logic::CallPath;
use kvs::runtime::GuestConfig;
use kvs::server::{Listeners, Server, Settings};
use kvs::store::Limits;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running deployment of the REST API the shared suite can test.
pub trait Target {
    /// `http://127.0.0.1:PORT{path}`.
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr())
    }
    fn http_addr(&self) -> SocketAddr;
    /// The largest value it accepts.
    fn max_value_bytes(&self) -> usize;
}

impl Target for TestServer {
    fn http_addr(&self) -> SocketAddr {
        self.http
    }

    fn max_value_bytes(&self) -> usize {
        self.app.backend().limits().max_value_bytes
    }
}

/// A running server; shuts down when dropped.
pub struct TestServer {
    pub http: SocketAddr,
    pub tcp: SocketAddr,
    pub admin: SocketAddr,
    /// The `--resp` listener (RESP only, inline commands too).
    pub resp: SocketAddr,
    pub app: App,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    /// The Redis processes of [`Backing::Redis`] and [`Backing::Cluster`],
    /// killed after the server stops.
    _backing: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Where a test server keeps its data: the suites of the front ends run on
/// each (see [`on_every_store!`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backing {
    /// The built-in store (`--store memory`).
    #[default]
    Memory,
    /// A `redis-server` started for this test (`--store redis://`).
    Redis,
    /// A 3-master Redis Cluster started for this test
    /// (`--store redis-cluster://`).
    Cluster,
}

/// Runs each named `async fn(Backing)` as three tests, `NAME::in_memory`,
/// `NAME::on_redis` and `NAME::on_a_redis_cluster`: one suite of a front
/// end, proven on every store. Each runs on two runtime threads, as the
/// server does.
/// Without `redis-server` the Redis ones pass with a notice (see
/// [`have`]). `on_every_store!(but_a_cluster: ...)` leaves the cluster out, for a test
/// whose multi-key writes span Redis Cluster slots.
#[macro_export]
macro_rules! on_every_store {
    (but_a_cluster: $($test:ident),+ $(,)?) => {$(
        $crate::on_every_store!(@module $test;);
    )+};
    ($($test:ident),+ $(,)?) => {$(
        $crate::on_every_store!(@module $test;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_redis_cluster() {
                if $crate::common::redis_server::installed() {
                    super::$test(Backing::Cluster).await;
                }
            }
        );
    )+};
    (@module $test:ident; $($more:item)*) => {
        mod $test {
            use $crate::common::Backing;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_memory() {
                super::$test(Backing::Memory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_redis() {
                if $crate::common::redis_server::installed() {
                    super::$test(Backing::Redis).await;
                }
            }
            $($more)*
        }
    };
}

/// What a test may change about the server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    pub tcp: TcpConfig,
    /// Serve this guest file (reloadable) instead of the built-in guest.
    pub guest_path: Option<std::path::PathBuf>,
    pub admin_token: Option<String>,
    pub guest: GuestConfig,
    pub call_path: CallPath,
    pub http: HttpConfig,
    /// Keep the data on this Redis store instead of in memory.
    pub redis: Option<kvs::backend::redis::RedisConfig>,
    /// Start a Redis for this server and keep the data there (unless
    /// `redis` names one already).
    pub backing: Backing,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// A server with its data on `backing`.
    pub async fn on(backing: Backing) -> Self {
        Self::start_with(Options {
            backing,
            ..Options::default()
        })
        .await
    }

    /// Starts the same [`Server`] the binary runs, with these settings.
    pub async fn start_with(mut options: Options) -> Self {
        let backing: Option<Box<dyn std::any::Any + Send + Sync>> = match options.backing {
            _ if options.redis.is_some() => None,
            Backing::Memory => None,
            Backing::Redis => {
                let redis = redis_server::RedisServer::start();
                options.redis = Some(redis_server::config(&redis.url()));
                Some(Box::new(redis))
            }
            Backing::Cluster => {
                let cluster = tokio::task::spawn_blocking(|| redis_server::RedisCluster::start(3))
                    .await
                    .unwrap();
                options.redis = Some(redis_server::config(&cluster.url()));
                Some(Box::new(cluster))
            }
        };
        let settings = Settings {
            limits: options.limits,
            guest: options.guest,
            call_path: options.call_path,
            http: options.http,
            tcp: options.tcp,
            admin: AdminConfig {
                token: options.admin_token.clone(),
            },
            guest_path: options.guest_path.clone(),
            redis: options.redis.clone(),
            shutdown_timeout: Duration::from_secs(5),
            ..Settings::default()
        };
        let server = Server::new(settings).await.expect("the server starts");
        let app = server.app().clone();
        let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let resp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let resp = resp_listener.local_addr().unwrap();
        let http = http_listener.local_addr().unwrap();
        let tcp = tcp_listener.local_addr().unwrap();
        let admin = admin_listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(
            Listeners {
                http: http_listener,
                tcp: tcp_listener,
                admin: admin_listener,
                resp: Some(resp_listener),
                hangups: None,
            },
            shutdown.clone(),
        ));
        Self {
            http,
            tcp,
            admin,
            resp,
            app,
            shutdown,
            task: Some(task),
            _backing: backing,
        }
    }

    /// How many keys the store holds, whichever store it is.
    pub async fn keys(&self) -> u64 {
        self.app.backend().stats().await.unwrap().keys
    }

    /// The Prometheus text of the admin endpoint's `/metrics`.
    pub async fn metrics(&self) -> String {
        client()
            .get(format!("http://{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// One sample of the admin endpoint's `/metrics`, by its full name with
    /// labels (`kvs_store_keys`, `kvs_guest_failures_total{front_end="tcp"}`).
    pub async fn metric(&self, name: &str) -> f64 {
        let metrics = self.metrics().await;
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().expect("the server stops cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Whether the program `name` (from Debian's `package`) is on PATH; a
/// test that needs it and finds it missing passes with a notice, except
/// under `CI=true`, where this panics: CI must install it.
pub fn have(name: &str, package: &str) -> bool {
    // Found if it runs at all: `openssl` has no `--version` and fails it.
    let found = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install {name} (apt-get install {package})"
        );
        eprintln!("notice: {name} is not on PATH (apt-get install {package}); skipping");
    }
    found
}

/// An HTTP client that does not pool across tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The JSON body of a GET of `url`: a listing, the admin `/status`.
pub async fn get_json(url: impl reqwest::IntoUrl) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A Redis connection to `addr`, opened as applications open one, with
/// patience for a debug build on a busy machine: redis-rs gives up on a
/// reply after 500 ms by default, and a 1,000-command pipeline can take
/// longer there.
pub async fn redis_connection(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// Sends raw bytes on a fresh connection and returns everything the server
/// answers until it closes the connection or goes quiet for a moment.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        use tokio::io::AsyncReadExt;
        match tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A line-protocol connection.
pub struct Line {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Line {
    pub async fn connect(addr: SocketAddr) -> Self {
        let (read, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// The next reply line, parsed; `None` if the server closed.
    pub async fn recv(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
            .await
            .expect("a reply within 30 s")
            .unwrap();
        if read == 0 {
            return None;
        }
        assert!(line.ends_with('\n'), "a reply is one whole line: {line:?}");
        Some(serde_json::from_str(line.trim_end()).expect("every reply is JSON"))
    }

    /// Sends one request line and returns its reply.
    pub async fn request(&mut self, line: &str) -> serde_json::Value {
        self.send(format!("{line}\n").as_bytes()).await;
        self.recv().await.expect("a reply, not a closed connection")
    }

    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// Deterministic bytes that are not valid UTF-8 and do not compress.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A real PNG image of `width` x `height` noisy RGBA pixels.
pub fn png_image(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer
            .write_image_data(&noise((width * height * 4) as usize, 7))
            .unwrap();
    }
    out
}

/// The metric family names in `text`, as the OpenMetrics reference parser
/// (Python's `prometheus_client`) reads it; panics, with the parser's
/// reason, if it refuses the text. Without the parser: `None` and a notice
/// on a developer's machine, a failure in CI (`CI=true`), which installs it.
pub fn parse_openmetrics(text: &str) -> Option<Vec<String>> {
    use std::io::Write as _;
    const PARSE: &str = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n    print(family.name)\n";
    let child = std::process::Command::new("python3")
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return parser_missing(&error.to_string()),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'prometheus_client'") {
        return parser_missing(&stderr);
    }
    assert!(
        output.status.success(),
        "the OpenMetrics parser refused /metrics: {stderr}\n{text}"
    );
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn parser_missing(reason: &str) -> Option<Vec<String>> {
    assert!(
        std::env::var("CI").is_err(),
        "CI must install the OpenMetrics parser (pip install prometheus-client): {reason}"
    );
    eprintln!(
        "NOTICE: /metrics not checked by the OpenMetrics parser (pip install prometheus-client): {reason}"
    );
    None
}
