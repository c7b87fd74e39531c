//! The Redis protocol with real Redis clients: `redis-cli` and
//! `redis-benchmark` (Debian's `redis-tools`, which `.ci/run` installs) and
//! the `redis` crate, against the TCP port (RESP detected by its first
//! byte) and the `--resp` listener; malformed frames; the same data through
//! every front end; a hot swap under a pipelining client; each on every
//! store (in memory, on one Redis, on a Redis Cluster), but those whose
//! multi-key writes span Redis Cluster slots skip the cluster.
//!
//! Without `redis-cli` and `redis-benchmark` on PATH the tests that run them
//! pass with a notice, except under `CI=true`, where they fail.

mod common;

use common::{Backing, Line, Options, TestServer, client};
use redis::AsyncCommands as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

on_every_store!(
    the_same_data_is_seen_by_every_front_end,
    redis_benchmark_completes_with_no_error_plain_and_pipelined,
    a_pipelining_client_keeps_working_across_guest_swaps,
    inline_commands_work_on_the_resp_listener_only,
    malformed_frames_get_an_error_and_a_closed_connection_and_harm_no_one_else,
    increments_are_made_by_the_store_and_a_failed_one_is_reverted,
    pipelined_sets_and_gets_answer_as_if_sent_one_by_one,
);

// Their keys are in different slots of a Redis Cluster, which refuses
// multi-key writes across slots (tests/redis_store.rs shows it).
on_every_store!(but_a_cluster:
    redis_cli_sessions_get_redis_replies_on_both_ports,
    application_code_on_the_redis_crate_works,
    rename_moves_a_key_with_its_type_and_expiry,
    multi_key_commands_are_atomic_under_concurrent_clients,
    a_failed_multi_key_write_is_reverted_whole,
);

const CANARY: &str = env!("KVS_GUEST_CANARY");

/// Runs `redis-cli -p PORT` on `script` (one command per line, as typed)
/// and returns what it printed: redis-cli prints replies raw when its
/// output is not a terminal (`OK`, `hello`, `1`, an empty line for nil).
fn redis_cli(addr: SocketAddr, script: &str) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli runs (Debian: apt-get install redis-tools)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "redis-cli failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The replies of a redis-cli session, one per line. (redis-cli follows
/// an error with an empty line; that line is dropped here, so an empty line
/// is always a nil.)
fn lines(text: &str) -> Vec<&str> {
    let mut replies = Vec::new();
    let mut after_error = false;
    for line in text.lines() {
        if after_error && line.is_empty() {
            after_error = false;
            continue;
        }
        after_error = line.starts_with("ERR") || line.starts_with("NOPROTO");
        replies.push(line);
    }
    replies
}

async fn redis_cli_sessions_get_redis_replies_on_both_ports(backing: Backing) {
    if !common::have("redis-cli", "redis-tools") {
        return;
    }
    let server = TestServer::on(backing).await;
    for addr in [server.tcp, server.resp] {
        let strings = redis_cli(
            addr,
            "FLUSHDB\nPING\nPING hi\nECHO hello\nSET k v\nGET k\nSET k w NX\nSET k w XX GET\n\
             GET k\nGET missing\nSETNX k x\nSETNX n1 x\nGETSET k z\nGETDEL k\nGETDEL k\n\
             APPEND s abc\nAPPEND s de\nSTRLEN s\nSTRLEN missing\nMSET a 1 b 2\nMGET a missing b\n\
             INCR c\nINCRBY c 41\nDECR c\nDECRBY c 2\nINCR s\nINCRBYFLOAT f 10.5\n\
             INCRBYFLOAT f 0.1\nSET big 9223372036854775807\nINCR big\n",
        );
        assert_eq!(
            lines(&strings),
            [
                "OK",
                "PONG",
                "hi",
                "hello",
                "OK",
                "v",
                "",
                "v",
                "w",
                "",
                "0",
                "1",
                "w",
                "z",
                "",
                "3",
                "5",
                "5",
                "0",
                "OK",
                "1",
                "",
                "2",
                "1",
                "42",
                "41",
                "39",
                "ERR value is not an integer or out of range",
                "10.5",
                "10.6",
                "OK",
                "ERR increment or decrement would overflow",
            ],
            "on {addr}"
        );
        let keys = redis_cli(
            addr,
            "FLUSHDB\nMSET user:1 a user:2 b other c\nEXISTS user:1 user:1 nope\nTYPE user:1\n\
             TYPE nope\nKEYS user:*\nDBSIZE\nDEL user:1 other nope\nUNLINK user:2\nDBSIZE\n\
             RANDOMKEY\nSET only x\nRANDOMKEY\nFLUSHALL\nDBSIZE\n",
        );
        let replies = lines(&keys);
        assert_eq!(&replies[..4], ["OK", "OK", "2", "string"]);
        assert_eq!(replies[4], "none");
        let mut matched = replies[5..7].to_vec();
        matched.sort_unstable();
        assert_eq!(matched, ["user:1", "user:2"]);
        assert_eq!(
            &replies[7..],
            ["3", "2", "1", "0", "", "OK", "only", "OK", "0"]
        );
        let connection = redis_cli(
            addr,
            "CLIENT SETNAME app-1\nCLIENT GETNAME\nCLIENT SETNAME \"bad name\"\nSELECT 0\n\
             SELECT 1\nHELLO 3\nCOMMAND COUNT\nCONFIG GET save\nFOO bar baz\nGET\n\
             SET k v EX 10 PX 10\nSET k v BOGUS\n",
        );
        assert_eq!(
            lines(&connection),
            [
                "OK",
                "app-1",
                "ERR Client names cannot contain spaces, newlines or special characters.",
                "OK",
                "ERR DB index is out of range (kvs has one database, 0)",
                "NOPROTO unsupported protocol version",
                &kvs_guest::resp::command::COMMANDS.len().to_string(),
                "save",
                "",
                "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' ",
                "ERR wrong number of arguments for 'get' command",
                "ERR syntax error",
                "ERR syntax error",
            ],
            "on {addr}"
        );
        let info = redis_cli(addr, "SET k v\nINFO keyspace\nINFO server\n");
        assert!(info.contains("db0:keys=1,expires=0"), "{info}");
        assert!(info.contains("redis_version:7.2.0"), "{info}");
        assert!(info.contains("kvs_version:kvs "), "{info}");
    }
}

async fn inline_commands_work_on_the_resp_listener_only(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut resp = TcpStream::connect(server.resp).await.unwrap();
    resp.write_all(b"PING\r\nSET k \"two words\"\r\nGET k\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_exactly(&mut resp, b"+PONG\r\n+OK\r\n$9\r\ntwo words\r\n".len()).await,
        b"+PONG\r\n+OK\r\n$9\r\ntwo words\r\n"
    );
    // On the TCP port, a first byte other than `*` means the line protocol.
    let mut line = Line::connect(server.tcp).await;
    let reply = line.request("cmd=get | key=k").await;
    assert_eq!(reply["body"], "two words", "{reply}");
}

async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buffer = vec![0; len];
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut buffer))
        .await
        .expect("a reply within 30 s")
        .unwrap();
    buffer
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut buffer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buffer))
        .await
        .expect("the server closes within 30 s")
        .unwrap();
    buffer
}

async fn malformed_frames_get_an_error_and_a_closed_connection_and_harm_no_one_else(
    backing: Backing,
) {
    let server = TestServer::on(backing).await;
    let max = server.app.backend().limits().max_value_bytes;
    let mut bystander = TcpStream::connect(server.tcp).await.unwrap();
    bystander
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n")
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut bystander, 5).await, b"+OK\r\n");
    let too_long = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", max + 1);
    let cases: [(&[u8], &str); 7] = [
        (
            b"*x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*99999999999\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n:5\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            too_long.as_bytes(),
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        // A valid frame, answered, then garbage: the error closes it.
        (
            b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPINGxx",
            "+PONG\r\n-ERR Protocol error: bulk string not followed by CRLF\r\n",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n\x00\x01garbage",
            "$1\r\n1\r\n-ERR Protocol error: expected '*', got '\\u{0}'\r\n",
        ),
    ];
    for (bytes, expected) in cases {
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        // The first byte decides the protocol: start every case with `*`.
        stream.write_all(bytes).await.unwrap();
        let reply = read_to_close(&mut stream).await;
        assert_eq!(
            String::from_utf8_lossy(&reply),
            expected,
            "for {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // A client that vanishes mid-frame runs nothing.
    let mut vanishing = TcpStream::connect(server.tcp).await.unwrap();
    vanishing
        .write_all(b"*3\r\n$3\r\nSET\r\n$4\r\ngone\r\n$5\r\nhal")
        .await
        .unwrap();
    drop(vanishing);
    // The bystander's connection is untouched, and the half command never ran.
    bystander
        .write_all(b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*2\r\n$6\r\nEXISTS\r\n$4\r\ngone\r\n")
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut bystander, 11).await, b"$1\r\n1\r\n:0\r\n");
}

/// A pipeline's runs of `SET`s and `GET`s each cross into the store at
/// once (`put-many`, `get-values`); every command still gets its own
/// answer, a refused one costs only its own, and the last of two writes
/// to a key is the one kept.
async fn pipelined_sets_and_gets_answer_as_if_sent_one_by_one(backing: Backing) {
    let server = TestServer::on(backing).await;
    let long_key = "k".repeat(server.app.backend().limits().max_key_bytes as usize + 1);
    let binary: Vec<u8> = (0..=255).collect();
    let mut batch = Vec::new();
    for args in [
        &[&b"SET"[..], b"a", b"1"][..],
        &[b"SET", b"a", b"2"],
        &[b"SET", long_key.as_bytes(), b"x"],
        &[b"set", b"b", &binary],
        &[b"GET", b"a"],
        &[b"GET", b"missing"],
        &[b"get", b"b"],
        &[b"SET", b"c", b"3"],
        &[b"MGET", b"a", b"missing", b"c"],
        &[b"PING"],
    ] {
        batch.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            batch.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            batch.extend_from_slice(arg);
            batch.extend_from_slice(b"\r\n");
        }
    }
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    stream.write_all(&batch).await.unwrap();
    let before = b"+OK\r\n+OK\r\n";
    let error_at = before.len();
    let mut after = b"+OK\r\n$1\r\n2\r\n$-1\r\n$256\r\n".to_vec();
    after.extend_from_slice(&binary);
    after.extend_from_slice(b"\r\n+OK\r\n*3\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n+PONG\r\n");
    let mut reply = Vec::new();
    while !reply.ends_with(b"+PONG\r\n") {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("replies within 30 s")
            .unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&reply).into_owned();
    assert_eq!(reply[..error_at], before[..], "{text}");
    let error_end = error_at + reply[error_at..].iter().position(|&b| b == b'\n').unwrap() + 1;
    assert!(
        reply[error_at..error_end].starts_with(b"-ERR too large"),
        "{text}"
    );
    assert_eq!(reply[error_end..], after[..], "{text}");
    // Written as RESP writes: typed application/octet-stream.
    assert_read_over_http_as_written_by_resp(&server, "a", b"2").await;
}

/// `key` reads over HTTP with `value`, typed as every RESP write is.
async fn assert_read_over_http_as_written_by_resp(server: &TestServer, key: &str, value: &[u8]) {
    let response = client()
        .get(format!("http://{}/kvs/{key}", server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{key}");
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream",
        "{key}"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), value, "{key}");
}

async fn the_same_data_is_seen_by_every_front_end(backing: Backing) {
    let server = TestServer::on(backing).await;
    let tcp = server.tcp;
    let mut connection = common::redis_connection(tcp).await;
    let binary: Vec<u8> = (0..=255).collect();
    let _: () = connection.set("from-resp", &binary).await.unwrap();
    assert_read_over_http_as_written_by_resp(&server, "from-resp", &binary).await;
    let json = br#"{"name": "kvs", "list": [1, 2, 3]}"#;
    let created = client()
        .post(format!("http://{}/kvs/from-http", server.http))
        .header("content-type", "application/json")
        .body(json.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let read: Vec<u8> = connection.get("from-http").await.unwrap();
    assert_eq!(read, json);
    // APPEND keeps the type of the value it extends.
    let _: usize = connection.append("from-http", b" ").await.unwrap();
    let response = client()
        .get(format!("http://{}/kvs/from-http", server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let mut line = Line::connect(server.tcp).await;
    let reply = line.request("cmd=get | key=from-resp").await;
    assert_eq!(reply["type"], "application/octet-stream", "{reply}");
}

async fn application_code_on_the_redis_crate_works(backing: Backing) {
    let server = TestServer::on(backing).await;
    let redis = redis::Client::open(format!("redis://{}/", server.tcp)).unwrap();
    // A debug build answers a 1,000-command pipeline slower than the
    // manager's default 500 ms.
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(30)));
    let mut manager = redis::aio::ConnectionManager::new_with_config(redis, config)
        .await
        .unwrap();
    // A pipeline, as applications batch round trips.
    let (set, got, missing): (String, String, Option<String>) = redis::pipe()
        .set("greeting", "hello")
        .get("greeting")
        .get("nobody")
        .query_async(&mut manager)
        .await
        .unwrap();
    assert_eq!((set.as_str(), got.as_str(), missing), ("OK", "hello", None));
    // SCAN over 10,000 keys finds each exactly once.
    for chunk in 0..10 {
        let mut pipe = redis::pipe();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            pipe.set(format!("scan:{i}"), i).ignore();
        }
        let () = pipe.query_async(&mut manager).await.unwrap();
    }
    let _: () = manager.set("unrelated", 1).await.unwrap();
    let mut found: Vec<String> = Vec::new();
    {
        let mut iter = manager.scan_match::<_, String>("scan:*").await.unwrap();
        while let Some(key) = iter.next_item().await {
            found.push(key.unwrap());
        }
    }
    found.sort_unstable();
    let mut expected: Vec<String> = (0..10_000).map(|i| format!("scan:{i}")).collect();
    expected.sort_unstable();
    assert_eq!(found, expected);
    // 16 clients incrementing one key 10,000 times each end at exactly
    // 160,000 (in pipelines, so the test is quick in a debug build;
    // commands of many clients still interleave in the store). The store
    // adds in one step, on Redis in one script, so no increment retries.
    let (pipelines, each) = (100, 100);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let tcp = server.tcp;
        tasks.push(tokio::spawn(async move {
            let mut connection = common::redis_connection(tcp).await;
            for _ in 0..pipelines {
                let mut pipe = redis::pipe();
                for _ in 0..each {
                    pipe.incr("counter", 1).ignore();
                }
                let () = pipe.query_async(&mut connection).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total: i64 = manager.get("counter").await.unwrap();
    assert_eq!(total, (16 * pipelines * each) as i64);
    let deleted: usize = manager
        .del(&["greeting", "counter", "nobody"])
        .await
        .unwrap();
    assert_eq!(deleted, 2);
}

async fn redis_benchmark_completes_with_no_error_plain_and_pipelined(backing: Backing) {
    if !common::have("redis-benchmark", "redis-tools") {
        return;
    }
    let server = TestServer::on(backing).await;
    // A debug build is several times slower than a release one: fewer
    // requests than the issue's 100,000 keep the suite quick, fewer still
    // on Redis. Its INCR test sends every increment of 50 clients to one
    // key.
    let requests = match backing {
        Backing::Memory => "10000",
        Backing::Redis | Backing::Cluster => "2000",
    };
    let tests = "ping,set,get,incr,mset";
    let names = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"];
    for pipeline in ["1", "16"] {
        let output = Command::new("redis-benchmark")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &server.resp.port().to_string(),
                "-t",
                tests,
                "-n",
                requests,
                "-c",
                "50",
                "-P",
                pipeline,
                "-q",
            ])
            .output()
            .expect("redis-benchmark runs (Debian: apt-get install redis-tools)");
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{text}");
        for test in names {
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(test) && l.contains("requests per second")),
                "no result for {test} with -P {pipeline}: {text}"
            );
        }
        assert!(!text.contains("ERR"), "{text}");
    }
    let mut line = Line::connect(server.tcp).await;
    let reply = line.request("cmd=get | key=key:__rand_int__").await;
    assert_eq!(reply["body"].as_str().map(str::len), Some(3), "{reply}");
    // Both runs' increments of the one counter, none lost.
    let reply = line.request("cmd=get | key=counter:__rand_int__").await;
    let expected = 2 * requests.parse::<u64>().unwrap();
    assert_eq!(reply["body"], expected.to_string(), "{reply}");
}

async fn a_pipelining_client_keeps_working_across_guest_swaps(backing: Backing) {
    let server = TestServer::on(backing).await;
    let tcp = server.tcp;
    let mut connection = common::redis_connection(tcp).await;
    let admin = server.admin;
    let swapper = tokio::spawn(async move {
        for i in 0..6 {
            let bytes = if i % 2 == 0 {
                std::fs::read(CANARY).unwrap()
            } else {
                kvs::runtime::DEFAULT_GUEST.to_vec()
            };
            let response = client()
                .post(format!("http://{admin}/reload"))
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut rounds = 0u64;
    while !swapper.is_finished() || rounds < 20 {
        let mut pipe = redis::pipe();
        for i in 0..16 {
            pipe.set(format!("swap:{rounds}:{i}"), rounds * 100 + i)
                .ignore()
                .incr("swap:count", 1)
                .ignore();
        }
        pipe.get("swap:count");
        let (count,): (u64,) = pipe.query_async(&mut connection).await.unwrap();
        rounds += 1;
        assert_eq!(count, rounds * 16);
    }
    swapper.await.unwrap();
    for round in 0..rounds {
        let value: u64 = connection.get(format!("swap:{round}:7")).await.unwrap();
        assert_eq!(value, round * 100 + 7);
    }
}

async fn rename_moves_a_key_with_its_type_and_expiry(backing: Backing) {
    if !common::have("redis-cli", "redis-tools") {
        return;
    }
    let server = TestServer::on(backing).await;
    let json = br#"{"moved": true}"#;
    let created = client()
        .post(format!("http://{}/kvs/doc?ttl=100", server.http))
        .header("content-type", "application/json")
        .body(json.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let session = redis_cli(
        server.tcp,
        "RENAME doc moved\nEXISTS doc\nTTL moved\nRENAME doc other\nSET other x\n\
         RENAMENX moved other\nRENAMENX moved fresh\nRENAME fresh fresh\nRENAMENX fresh fresh\n\
         RENAME other fresh\nGET fresh\nDBSIZE\nRENAME only-one\nrename a b c\n",
    );
    assert_eq!(
        lines(&session),
        [
            "OK",
            "0",
            "100",
            "ERR no such key",
            "OK",
            "0",
            "1",
            "OK",
            "0",
            "OK",
            "x",
            "1",
            "ERR wrong number of arguments for 'rename' command",
            "ERR wrong number of arguments for 'rename' command",
        ]
    );
    // The value that went doc -> moved -> fresh was replaced by "x" over
    // RESP; a rename of a JSON value keeps its type for HTTP readers.
    let _ = redis_cli(server.tcp, "SET plain v\n");
    let created = client()
        .post(format!("http://{}/kvs/typed", server.http))
        .header("content-type", "application/json")
        .body(json.to_vec())
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    assert_eq!(
        lines(&redis_cli(server.tcp, "RENAME typed retyped\n")),
        ["OK"]
    );
    let response = client()
        .get(format!("http://{}/kvs/retyped", server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.bytes().await.unwrap().as_ref(), json);
}

/// RENAMENX moves eight tokens around 32 slots from eight connections,
/// while MSET writes 16 keys at once from two more and DEL takes them all
/// from another: every token ends in exactly one slot, and every DEL
/// removed none or all 16 keys, never part of an MSET.
async fn multi_key_commands_are_atomic_under_concurrent_clients(backing: Backing) {
    let server = TestServer::on(backing).await;
    let tcp = server.tcp;
    let mut connection = common::redis_connection(tcp).await;
    for token in 0..8 {
        let _: () = connection
            .set(format!("slot:{token}"), token)
            .await
            .unwrap();
    }
    let keys: Vec<String> = (0..16).map(|i| format!("group:{i:02}")).collect();
    let mut tasks = Vec::new();
    for mover in 0..8u64 {
        let tcp = server.tcp;
        tasks.push(tokio::spawn(async move {
            let mut connection = common::redis_connection(tcp).await;
            let mut state = mover.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            for _ in 0..300 {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                for _ in 0..10 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let (from, to) = (state % 32, (state >> 8) % 32);
                    pipe.cmd("RENAMENX")
                        .arg(format!("slot:{from}"))
                        .arg(format!("slot:{to}"));
                }
                // A missing source is an error reply; the others are 0 or 1.
                let replies: Vec<redis::RedisResult<i64>> =
                    pipe.query_async(&mut connection).await.unwrap();
                for reply in replies {
                    match reply {
                        Ok(moved) => assert!(moved == 0 || moved == 1),
                        Err(error) => assert_eq!(error.detail(), Some("no such key")),
                    }
                }
            }
        }));
    }
    for writer in 0..2 {
        let (tcp, keys) = (server.tcp, keys.clone());
        tasks.push(tokio::spawn(async move {
            let mut connection = common::redis_connection(tcp).await;
            for round in 0..500 {
                let value = format!("{writer}:{round}");
                let pairs: Vec<(&String, &String)> = keys.iter().map(|key| (key, &value)).collect();
                let () = connection.mset(&pairs).await.unwrap();
            }
        }));
    }
    let taker = {
        let keys = keys.clone();
        tokio::spawn(async move {
            let mut taken = 0;
            for _ in 0..1_000 {
                let removed: usize = connection.del(&keys).await.unwrap();
                assert!(removed == 0 || removed == 16, "DEL removed {removed} of 16");
                taken += usize::from(removed == 16);
            }
            (taken, connection)
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    let (taken, mut connection) = taker.await.unwrap();
    assert!(taken > 0, "DEL never ran alongside MSET");
    let mut tokens: Vec<i64> = Vec::new();
    for slot in 0..32 {
        let token: Option<i64> = connection.get(format!("slot:{slot}")).await.unwrap();
        tokens.extend(token);
    }
    tokens.sort_unstable();
    assert_eq!(tokens, (0..8).collect::<Vec<i64>>());
}

/// A server on `backing` running the faulty test guest, which traps after
/// it writes a key named `fault-after-...`.
async fn faulty(backing: Backing) -> TestServer {
    TestServer::start_with(Options {
        guest_path: Some(env!("KVS_GUEST_FAULTY").into()),
        backing,
        ..Options::default()
    })
    .await
}

/// `INCRBY` and its kin are one store operation: an entry keeps its type
/// and expiry, a value that is not an integer or a sum past 64 bits is
/// refused with Redis's errors and changes nothing, and a guest call that
/// fails after its increment took effect is reverted.
async fn increments_are_made_by_the_store_and_a_failed_one_is_reverted(backing: Backing) {
    let server = faulty(backing).await;
    let store = server.app.backend();
    let expires_at = kvs::store::now_ms() + 100_000;
    let typed = store
        .create("typed", "text/plain", b"41", Some(expires_at))
        .await
        .unwrap();
    let mut connection = common::redis_connection(server.tcp).await;
    let sum: i64 = connection.incr("typed", 1).await.unwrap();
    assert_eq!(sum, 42);
    let entry = store.get("typed").await.unwrap();
    assert_eq!(entry.value(), b"42");
    assert_eq!(entry.content_type(), "text/plain");
    assert_eq!(entry.expires_at(), Some(expires_at));
    assert!(entry.version() > typed, "a new version: {entry:?}");
    let sum: i64 = connection.decr("fresh", 5).await.unwrap();
    assert_eq!(sum, -5);
    let fresh = store.get("fresh").await.unwrap();
    assert_eq!(fresh.value(), b"-5");
    assert_eq!(fresh.content_type(), "application/octet-stream");
    assert_eq!(fresh.expires_at(), None);
    for (key, value, error) in [
        ("word", "ten", "value is not an integer or out of range"),
        ("padded", " 1", "value is not an integer or out of range"),
        (
            "max",
            "9223372036854775807",
            "increment or decrement would overflow",
        ),
    ] {
        let version = store
            .create(key, "text/plain", value.as_bytes(), None)
            .await
            .unwrap();
        let failed: redis::RedisResult<i64> = connection.incr(key, 1).await;
        let message = failed.expect_err("refused").to_string();
        assert!(message.contains(error), "INCR {key}: {message}");
        let kept = store.get(key).await.unwrap();
        assert_eq!((kept.value(), kept.version()), (value.as_bytes(), version));
    }
    let sum: i64 = connection.incr("max", -1).await.unwrap();
    assert_eq!(sum, i64::MAX - 1);
    // The faulty guest traps after its write to these keys: the increment
    // of an existing entry and the one that created an entry are taken back.
    let counter = store
        .create("fault-after-counter", "text/plain", b"7", Some(expires_at))
        .await
        .unwrap();
    for key in ["fault-after-counter", "fault-after-fresh"] {
        let failed: redis::RedisResult<i64> = connection.incr(key, 1).await;
        let error = failed.expect_err("the faulty guest fails this call");
        assert!(error.to_string().contains("reverted"), "{key}: {error}");
        connection = common::redis_connection(server.tcp).await;
    }
    let kept = store.get("fault-after-counter").await.unwrap();
    assert_eq!(
        (kept.value(), kept.version(), kept.expires_at()),
        (&b"7"[..], counter, Some(expires_at))
    );
    assert!(store.get("fault-after-fresh").await.is_err());
}

/// A guest call that fails after a multi-key write took effect reverts the
/// whole write: the client is told it failed and the store is as before.
async fn a_failed_multi_key_write_is_reverted_whole(backing: Backing) {
    let server = faulty(backing).await;
    let store = server.app.backend();
    let source = store
        .create("fault-after-source", "text/plain", b"kept", None)
        .await
        .unwrap();
    let target = store
        .create("target", "text/plain", b"old", None)
        .await
        .unwrap();
    let tcp = server.tcp;
    for command in [
        redis::cmd("RENAME")
            .arg("fault-after-source")
            .arg("target")
            .clone(),
        redis::cmd("DEL")
            .arg("target")
            .arg("fault-after-source")
            .clone(),
        redis::cmd("MSET")
            .arg("target")
            .arg("new")
            .arg("fault-after-source")
            .arg("new")
            .arg("fresh")
            .arg("new")
            .clone(),
    ] {
        let mut connection = common::redis_connection(tcp).await;
        let failed: redis::RedisResult<redis::Value> = command.query_async(&mut connection).await;
        let error = failed.expect_err("the faulty guest fails this call");
        assert!(
            error.to_string().contains("reverted"),
            "the client is told its write was taken back: {error}"
        );
        let kept = store.get("fault-after-source").await.unwrap();
        assert_eq!((kept.value(), kept.version()), (&b"kept"[..], source));
        let old = store.get("target").await.unwrap();
        assert_eq!((old.value(), old.version()), (&b"old"[..], target));
        assert!(store.get("fresh").await.is_err());
        assert_eq!(server.keys().await, 2);
    }
}
