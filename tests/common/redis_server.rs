//! Real `redis-server` processes for the tests of kvs on a Redis store:
//! one server, or a Redis Cluster of several, on free loopback ports, each
//! in a scratch directory, killed when dropped.

use kvs::backend::redis::RedisConfig;
use kvs::backend::redis::connection::Target;
use kvs::backend::redis::layout::Layout;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `redis-server` and `redis-cli` are installed (Debian's
/// `redis-server` package, which `.ci/run` installs); see [`super::have`].
pub fn installed() -> bool {
    super::have("redis-server", "redis-server") && super::have("redis-cli", "redis-tools")
}

/// kvs's settings for the Redis at `url`, with a timeout that gives a debug
/// build on a busy machine room.
pub fn config(url: &str) -> RedisConfig {
    RedisConfig {
        target: Target::parse(url).unwrap(),
        timeout: Duration::from_secs(5),
        layout: Layout { buckets: 256 },
        allow_eviction: false,
        tls: Default::default(),
    }
}

/// One `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
    /// Further ports it listens on, each after its flag (`--tls-port`,
    /// `--cluster-port`).
    more_ports: Vec<(&'static str, u16)>,
}

impl RedisServer {
    /// A server with no persistence, on a free port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with extra `redis-server` arguments (`--maxmemory-policy`,
    /// `--cluster-enabled yes`, ...).
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_on(args, &[])
    }

    /// [`Self::start_with`], also listening on a free port after each of
    /// `port_flags`.
    fn start_on(args: &[&str], port_flags: &[&'static str]) -> Self {
        let draw = || -> Vec<_> { port_flags.iter().map(|&flag| (flag, free_port())).collect() };
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("kvs-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
            args: args.iter().map(|arg| arg.to_string()).collect(),
            more_ports: draw(),
        };
        // A free port can be taken by another test, or by an outgoing
        // connection, before this server binds it: such a server exits, and
        // the next try draws all its ports again (and forgets the cluster
        // identity the failed try may have written).
        for _ in 0..5 {
            if server.spawn() {
                return server;
            }
            server.port = free_port();
            server.more_ports = draw();
            let _ = std::fs::remove_file(server.dir.join("nodes.conf"));
        }
        panic!(
            "redis-server {args:?} {:?} exited at start five times; see its log in {:?}",
            server.more_ports, server.dir
        );
    }

    /// The port it listens on after `flag`.
    fn port_after(&self, flag: &str) -> u16 {
        let (_, port) = self.more_ports.iter().find(|(f, _)| *f == flag).unwrap();
        *port
    }

    /// Starts the process and waits for its PONG; false if it exited.
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--logfile", "redis.log"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .args(
                self.more_ports
                    .iter()
                    .flat_map(|(flag, port)| [flag.to_string(), port.to_string()]),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian's redis-server; .ci/run installs it)");
        self.child = Some(child);
        let started = Instant::now();
        while self.ping().is_none() {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().unwrap().is_some()
            {
                self.child = None;
                return false;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not answer PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn ping(&self) -> Option<()> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        stream.write_all(b"PING\r\n").ok()?;
        let mut reply = [0; 7];
        stream.read_exact(&mut reply).ok()?;
        (&reply == b"+PONG\r\n").then_some(())
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A server that also speaks TLS, on another free port, with a
    /// certificate `pki` signed and asking clients for one of theirs
    /// (`tls-auth-clients yes`, Redis's default); its plain port stays for
    /// the test's own `cli`.
    pub fn start_tls(pki: &Pki) -> (Self, u16) {
        Self::start_tls_on(pki, &[], &[])
    }

    /// [`Self::start_tls`] with extra `redis-server` arguments and ports
    /// ([`Self::start_on`]).
    fn start_tls_on(pki: &Pki, args: &[&str], port_flags: &[&'static str]) -> (Self, u16) {
        let (cert, key, ca) = (
            pki.path("server.crt"),
            pki.path("server.key"),
            pki.path("ca.crt"),
        );
        let tls = [
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--tls-ca-cert-file",
            ca.to_str().unwrap(),
        ];
        let server = Self::start_on(
            &[&tls[..], args].concat(),
            &[&["--tls-port"], port_flags].concat(),
        );
        let tls_port = server.port_after("--tls-port");
        (server, tls_port)
    }

    /// `redis-cli -p PORT ARGS...`, its output trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server could not start again on port {}",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster, its slots spread by `redis-cli --cluster create`.
pub struct RedisCluster {
    /// The masters first, then their replicas.
    pub nodes: Vec<RedisServer>,
    /// Each node's TLS port, in a cluster that speaks TLS.
    tls_ports: Option<Vec<u16>>,
}

/// The arguments of every cluster node. Each also gets a free
/// `--cluster-port`: by default a node's cluster bus is its port + 10,000,
/// which does not exist for ports over 55,535, and a free port is often one
/// of those.
const CLUSTER_NODE: [&str; 8] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "2000",
    // A replica copies its master at once, not after the default 5 s wait
    // for other replicas to join.
    "--repl-diskless-sync-delay",
    "0",
];

impl RedisCluster {
    /// `masters` masters and no replicas.
    pub fn start(masters: usize) -> Self {
        Self::start_with_replicas(masters, 0)
    }

    /// `masters` masters with `replicas` replicas each.
    pub fn start_with_replicas(masters: usize, replicas: usize) -> Self {
        let nodes = (0..masters * (1 + replicas))
            .map(|_| RedisServer::start_on(&CLUSTER_NODE, &["--cluster-port"]))
            .collect();
        Self::create(nodes, None, replicas)
    }

    /// `masters` masters that speak TLS to clients and to each other, with
    /// `pki`'s certificates ([`RedisServer::start_tls`]).
    pub fn start_tls(masters: usize, pki: &Pki) -> Self {
        let (nodes, tls_ports) = (0..masters)
            .map(|_| {
                let tls_cluster = [&CLUSTER_NODE[..], &["--tls-cluster", "yes"]].concat();
                RedisServer::start_tls_on(pki, &tls_cluster, &["--cluster-port"])
            })
            .unzip();
        Self::create(nodes, Some((tls_ports, pki)), 0)
    }

    /// Joins `nodes` into a cluster with `redis-cli --cluster create`.
    fn create(nodes: Vec<RedisServer>, tls: Option<(Vec<u16>, &Pki)>, replicas: usize) -> Self {
        let mut create = Command::new("redis-cli");
        let ports: Vec<u16> = match &tls {
            Some((tls_ports, pki)) => {
                create
                    .args(["--tls", "--cacert"])
                    .arg(pki.path("ca.crt"))
                    .arg("--cert")
                    .arg(pki.path("client.crt"))
                    .arg("--key")
                    .arg(pki.path("client.key"));
                tls_ports.clone()
            }
            None => nodes.iter().map(|node| node.port).collect(),
        };
        let output = create
            .args(["--cluster", "create"])
            .args(ports.iter().map(|port| format!("127.0.0.1:{port}")))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Self {
            nodes,
            tls_ports: tls.map(|(ports, _)| ports),
        };
        let started = Instant::now();
        // Ready when every node sees the cluster whole and every replica
        // holds a copy of its master: a replica that never finished its
        // first sync does not take over when its master dies.
        while !cluster.nodes.iter().all(|node| {
            let replication = node.cli(&["info", "replication"]);
            let copied = replication.contains("role:master")
                || replication.contains("master_link_status:up");
            copied && node.cli(&["cluster", "info"]).contains("cluster_state:ok")
        }) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the cluster did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...`, or
    /// `rediss-cluster://` and the TLS ports for a cluster that speaks TLS.
    pub fn url(&self) -> String {
        let (scheme, ports) = match &self.tls_ports {
            Some(ports) => ("rediss", ports.clone()),
            None => ("redis", self.nodes.iter().map(|node| node.port).collect()),
        };
        let nodes: Vec<String> = ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("{scheme}-cluster://{}", nodes.join(","))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate authority and the certificates it signed, made with the
/// `openssl` command in a scratch directory: `ca.crt`, `server.crt` and
/// `server.key` (for 127.0.0.1 and localhost), `client.crt` and
/// `client.key`; and `stranger.crt`, an authority that signed nothing here.
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("kvs-pki-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Self { dir };
        for ca in ["ca", "stranger"] {
            pki.openssl(&format!(
                "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kvs-test-{ca} \
                 -keyout {ca}.key -out {ca}.crt"
            ));
        }
        // Extensions make them X.509 version 3, which rustls insists on.
        std::fs::write(
            pki.path("server.ext"),
            // Cluster nodes show theirs to each other as clients too.
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        std::fs::write(pki.path("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for name in ["server", "client"] {
            pki.openssl(&format!(
                "req -newkey rsa:2048 -nodes -subj /CN=kvs-test-{name} \
                 -keyout {name}.key -out {name}.csr"
            ));
            pki.openssl(&format!(
                "x509 -req -days 2 -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
                 -out {name}.crt -extfile {name}.ext"
            ));
        }
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `openssl` with these words as its arguments.
    fn openssl(&self, command: &str) {
        let output = Command::new("openssl")
            .args(command.split_whitespace())
            .current_dir(&self.dir)
            .output()
            .expect("openssl runs (Debian: apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
