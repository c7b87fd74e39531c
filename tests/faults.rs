//! Faulty guests are contained: a guest that traps, loops forever, grows its
//! memory without bound, or breaks the ABI contract (a key that is not
//! UTF-8, a key past the end of its memory, a resource handle it does not
//! own) costs only the request it is serving, and the healthy requests around
//! it, under concurrent load, all succeed.

mod common;

use common::{Line, Options, Target, TestServer, client};
use kvs::runtime::GuestConfig;
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const FAULTY: &str = env!("KVS_GUEST_FAULTY");

async fn faulty_server() -> TestServer {
    TestServer::start_with(Options {
        guest_path: Some(FAULTY.into()),
        guest: GuestConfig {
            timeout: Duration::from_secs(1),
            max_memory_bytes: 64 << 20,
            ..GuestConfig::default()
        },
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_cost_only_their_own_request_under_load() {
    let server = Arc::new(faulty_server().await);
    let stop = Arc::new(AtomicBool::new(false));
    let healthy = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for id in 0..4 {
        let (server, stop, healthy) = (server.clone(), stop.clone(), healthy.clone());
        load.push(tokio::spawn(async move {
            let http = client();
            let mut tcp = Line::connect(server.tcp).await;
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let url = server.url(&format!("/kvs/ok-{id}-{round}"));
                let r = http.post(&url).body("v").send().await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                let r = http.get(&url).send().await.unwrap();
                assert_eq!(r.text().await.unwrap(), "v");
                let r = tcp.request(&format!("cmd=get | key=ok-{id}-{round}")).await;
                assert_eq!(r["body"], "v", "{r}");
                healthy.fetch_add(3, Ordering::Relaxed);
                round += 1;
            }
        }));
    }

    let http = client();
    let faults = [
        "fault-trap",
        "fault-loop",
        "fault-memory",
        "fault-utf8",
        "fault-bounds",
        "fault-handle",
    ];
    for key in faults {
        let started = Instant::now();
        let r = http
            .get(server.url(&format!("/kvs/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{key}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errorcode"], 2, "{key}: {body}");
        if key == "fault-loop" {
            let took = started.elapsed();
            assert!(
                took >= Duration::from_millis(900),
                "{key} stopped after {took:?}, before the timeout"
            );
        }
        // Over TCP the same fault costs one error line; the connection goes on.
        let mut tcp = Line::connect(server.tcp).await;
        let r = tcp.request(&format!("cmd=get | key={key}")).await;
        assert_eq!(r["errorcode"], 2, "{key}: {r}");
        assert_eq!(tcp.request("cmd=help").await["ok"], true);
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await
            .expect("a healthy request failed while faults were served");
    }
    assert!(healthy.load(Ordering::Relaxed) > 30);

    // The admin endpoint's metrics count every fault, by front end.
    let value = |name: &'static str| server.metric(name);
    let count = faults.len() as f64;
    assert_eq!(
        value("kvs_guest_failures_total{front_end=\"http\"}").await,
        count
    );
    assert_eq!(
        value("kvs_guest_failures_total{front_end=\"tcp\"}").await,
        count
    );
    assert_eq!(
        value("kvs_http_requests_total{method=\"GET\",status=\"500\"}").await,
        count
    );
    assert!(value("kvs_tcp_commands_total").await > 6.0);
    assert!(value("kvs_store_keys").await > 10.0);
    assert_eq!(value("kvs_guest_generation").await, 1.0);
}

/// A guest that keeps a request body's handle past its call (see
/// `request-body` in `wit/kvs.wit`) loses its instance: its next write runs
/// on a fresh one and stores the body it was sent, not the one it kept, and
/// nothing else is disturbed. Requests here are one at a time, so without
/// the retirement the next call would take the same instance back from the
/// pool.
#[tokio::test]
async fn a_guest_that_keeps_a_request_body_loses_its_instance() {
    let server = faulty_server().await;
    let http = client();
    for round in 0..3 {
        let kept = http
            .post(server.url("/kvs/fault-keep-body"))
            .body(format!("kept {round}"))
            .send()
            .await
            .unwrap();
        assert_eq!(kept.status(), StatusCode::BAD_REQUEST, "round {round}");
        let url = server.url("/kvs/fault-stale-body");
        let stale = http
            .post(&url)
            .body(format!("sent {round}"))
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), StatusCode::CREATED, "round {round}");
        let read = http.get(&url).send().await.unwrap();
        assert_eq!(read.text().await.unwrap(), format!("sent {round}"));
        assert_eq!(
            http.delete(&url).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let never = http
        .get(server.url("/kvs/fault-keep-body"))
        .send()
        .await
        .unwrap();
    assert_eq!(never.status(), StatusCode::NOT_FOUND);
}

/// Four guest calls that loop until their timeout hold no runtime thread:
/// HTTP and TCP requests sent meanwhile keep their normal latency instead of
/// waiting for the loops to be cut off. The real binary, as operators run
/// it, with the load coming from other threads of this process.
#[test]
fn looping_calls_do_not_stall_other_requests() {
    use std::io::{BufRead, BufReader, Read, Write};
    let (mut server, http, tcp, _admin) =
        common::process::start_logging(&["--guest", FAULTY, "--guest-timeout-secs", "8"], "warn");
    let get = |path: &str| -> String {
        let mut socket = std::net::TcpStream::connect(http).unwrap();
        write!(
            socket,
            "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        answer
    };
    let mut socket = std::net::TcpStream::connect(http).unwrap();
    socket
        .write_all(b"POST /kvs/keep HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\nconnection: close\r\n\r\nkept")
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let loops: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    let mut socket = std::net::TcpStream::connect(http).unwrap();
                    socket
                        .write_all(
                            b"GET /kvs/fault-loop HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                        )
                        .unwrap();
                    let mut answer = String::new();
                    socket.read_to_string(&mut answer).unwrap();
                    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
                } else {
                    let mut socket = std::net::TcpStream::connect(tcp).unwrap();
                    socket.write_all(b"cmd=get | key=fault-loop\n").unwrap();
                    let mut reply = String::new();
                    BufReader::new(&socket).read_line(&mut reply).unwrap();
                    assert!(reply.contains("\"errorcode\":2"), "{reply}");
                }
            })
        })
        .collect();
    // Let the four calls start looping.
    std::thread::sleep(Duration::from_millis(300));

    let line = std::net::TcpStream::connect(tcp).unwrap();
    let mut replies = BufReader::new(line.try_clone().unwrap());
    let mut took = Vec::new();
    let measuring = Instant::now();
    for _ in 0..200 {
        let started = Instant::now();
        let answer = get("/kvs/keep");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("kept"),
            "{answer}"
        );
        took.push(started.elapsed());
        let started = Instant::now();
        (&line).write_all(b"cmd=get | key=keep\n").unwrap();
        let mut reply = String::new();
        replies.read_line(&mut reply).unwrap();
        assert!(reply.contains("\"body\":\"kept\""), "{reply}");
        took.push(started.elapsed());
    }
    let measured = measuring.elapsed();
    assert!(
        measured < Duration::from_secs(6),
        "the measurement took {measured:?}: it did not run while the loops did"
    );
    took.sort();
    let p99 = took[took.len() * 99 / 100];
    assert!(
        p99 < Duration::from_millis(50),
        "p99 {p99:?} over {} requests while four guest calls loop",
        took.len()
    );
    for looping in loops {
        looping.join().unwrap();
    }
    common::process::sigterm(&server);
    assert!(common::process::wait_with_deadline(&mut server, Duration::from_secs(10)).success());
}
