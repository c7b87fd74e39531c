//! The TCP command protocol over real sockets: every command and every error
//! case, framing, pipelining, limits, and clients that misbehave; each on
//! every store (in memory, on one Redis, on a Redis Cluster).

mod common;

use common::{Backing, Line, Options, Target, TestServer, client, png_image};
use kvs::front::tcp::TcpConfig;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_every_store!(
    the_go_clients_commands_work,
    bodies_may_hold_pipes_equals_spaces_and_unicode,
    binary_values_travel_as_base64_on_one_line,
    keys_pages_through_the_store,
    pipelined_requests_are_answered_in_order_without_deadlock,
    a_pipelined_batch_keeps_each_lines_reply_and_ends_at_stop,
    pipelined_gets_answer_as_if_sent_one_by_one,
    stop_closes_only_its_own_connection,
    a_client_that_vanishes_mid_line_applies_nothing_and_leaves_the_server_well,
    concurrent_tcp_clients_get_no_wrong_replies,
    values_at_the_limit_of_any_bytes_read_and_delete_over_tcp,
    a_failed_call_reverts_its_write,
    key64_names_any_key,
    body64_values_default_to_octet_stream,
    every_bad_line_gets_exactly_one_error_line,
    a_line_over_the_limit_gets_an_error_and_the_connection_goes_on,
    connections_over_the_limit_are_refused_with_an_error_line,
    idle_connections_are_closed,
);

fn assert_error(reply: &Value, code: u64) {
    assert_eq!(reply["errorcode"], code, "{reply}");
    assert!(reply["error"].is_string(), "{reply}");
    assert_eq!(reply["errors"], json!({}), "{reply}");
    assert!(
        reply.get("ok").is_none(),
        "an error is never a value: {reply}"
    );
}

async fn the_go_clients_commands_work(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut tcp = Line::connect(server.tcp).await;

    let reply = tcp.request("cmd=create | key=1 | body=testk1").await;
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["key"], "1");
    let v1 = reply["version"].as_u64().unwrap();

    let reply = tcp.request("cmd=get | key=1").await;
    assert_eq!(
        reply,
        json!({"ok": true, "key": "1", "type": "text/plain; charset=utf-8", "version": v1, "body": "testk1"})
    );

    let reply = tcp.request("cmd=update | key=1 | body=updatetestk1").await;
    assert_eq!(reply["ok"], true);
    let reply = tcp.request("cmd=get | key=1").await;
    assert_eq!(reply["body"], "updatetestk1");

    let reply = tcp.request("cmd=delete | key=1").await;
    assert_eq!(reply["body"], "updatetestk1");
    assert_error(&tcp.request("cmd=get | key=1").await, 10);
    assert_error(&tcp.request("cmd=delete | key=1").await, 10);

    // create never overwrites, update never creates.
    assert_error(&tcp.request("cmd=update | key=2 | body=x").await, 10);
    tcp.request("cmd=create | key=2 | body=first").await;
    assert_error(&tcp.request("cmd=create | key=2 | body=second").await, 15);
    assert_eq!(tcp.request("cmd=get|key=2").await["body"], "first");

    // Values written over TCP are visible over HTTP with their type.
    let response = client().get(server.url("/kvs/2")).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), "first");
}

async fn bodies_may_hold_pipes_equals_spaces_and_unicode(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    for (i, body) in [
        "a|b",
        "x=y=z",
        "cmd=get | key=1",
        "spaces inside kept",
        "ünïcødé ✓ 日本語",
        r#"{"json": [1, "two", {"three": 3}]}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let reply = tcp
            .request(&format!("cmd=create | key=k{i} | body={body}"))
            .await;
        assert_eq!(reply["ok"], true, "{reply}");
        let reply = tcp.request(&format!("cmd=get | key=k{i}")).await;
        assert_eq!(reply["body"], body);
    }
    // type= sets the content type; fields after body= belong to the body.
    tcp.request("cmd=create | key=j | type=application/json | body={\"a\":1}")
        .await;
    let reply = tcp.request("cmd=get | key=j").await;
    assert_eq!(reply["type"], "application/json");
    assert_eq!(reply["body"], "{\"a\":1}");
    // Unknown fields are ignored; a trailing \r is accepted.
    let reply = tcp.request("cmd=get | key=j | colour=blue\r").await;
    assert_eq!(reply["body"], "{\"a\":1}");
}

async fn binary_values_travel_as_base64_on_one_line(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    let image = png_image(64, 64);
    let http = client();
    http.post(server.url("/kvs/img"))
        .header("content-type", "image/png")
        .body(image.clone())
        .send()
        .await
        .unwrap();
    let reply = tcp.request("cmd=get | key=img").await;
    assert_eq!(reply["type"], "image/png");
    assert!(reply.get("body").is_none());
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(reply["body64"].as_str().unwrap()).unwrap();
    assert!(bytes == image, "PNG bytes differ");

    // And in: body64 carries exact bytes, newlines included.
    let payload = b"line one\nline two\r\n\x00\xff";
    let reply = tcp
        .request(&format!(
            "cmd=create | key=raw | type=application/x-test | body64={}",
            engine.encode(payload)
        ))
        .await;
    assert_eq!(reply["ok"], true);
    let response = http.get(server.url("/kvs/raw")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-test");
    assert_eq!(&response.bytes().await.unwrap()[..], payload);
    // A text value with newlines comes back on one line, escaped.
    http.post(server.url("/kvs/multi"))
        .body("a\nb\nc")
        .send()
        .await
        .unwrap();
    assert_eq!(tcp.request("cmd=get|key=multi").await["body"], "a\nb\nc");
    assert_error(
        &tcp.request("cmd=create|key=bad|body64=not base64!").await,
        8,
    );
}

async fn keys_pages_through_the_store(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    for i in 0..7 {
        tcp.request(&format!("cmd=create | key=p{i} | body=v"))
            .await;
    }
    tcp.request("cmd=create | key=q | body=v").await;
    let mut seen = Vec::new();
    let mut request = "cmd=keys | prefix=p | limit=3".to_string();
    loop {
        let reply = tcp.request(&request).await;
        assert_eq!(reply["ok"], true);
        seen.extend(
            reply["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string()),
        );
        match reply["next_cursor"].as_str() {
            Some(cursor) => request = format!("cmd=keys | prefix=p | limit=3 | cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    let reply = tcp.request("cmd=getall").await;
    assert_eq!(reply["keys"].as_array().unwrap().len(), 8);
    assert_error(&tcp.request("cmd=keys | limit=0").await, 8);
    assert_error(&tcp.request("cmd=keys | cursor=???").await, 8);
}

async fn every_bad_line_gets_exactly_one_error_line(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    for line in [
        "",
        "   ",
        "garbage",
        "cmd=",
        "cmd=frobnicate | key=1",
        "key=1",
        "cmd=get",
        "cmd=get | key=",
        "cmd=create | key=1",
        "cmd=update | key=1 | version=abc | body=x",
    ] {
        assert_error(&tcp.request(line).await, 8);
    }
    // Binary garbage, not UTF-8.
    tcp.send(b"\xff\xfe\x00\x01 garbage\n").await;
    assert_error(&tcp.recv().await.unwrap(), 8);
    // Still serving afterwards.
    let reply = tcp.request("cmd=help").await;
    assert!(reply["help"].as_array().unwrap().len() >= 6);
}

async fn pipelined_requests_are_answered_in_order_without_deadlock(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    const N: usize = 5000;
    // Send everything before reading anything.
    let mut batch = String::new();
    for i in 0..N {
        batch.push_str(&format!(
            "cmd=create | key=pipe{i} | body={}\n",
            "v".repeat(100)
        ));
        batch.push_str(&format!("cmd=get | key=pipe{i}\n"));
    }
    tcp.send(batch.as_bytes()).await;
    for i in 0..N {
        let created = tcp.recv().await.unwrap();
        assert_eq!(created["key"], format!("pipe{i}"), "{created}");
        let got = tcp.recv().await.unwrap();
        assert_eq!(got["key"], format!("pipe{i}"));
        assert_eq!(got["body"].as_str().unwrap().len(), 100);
    }
}

/// A server whose TCP port takes lines of at most `bytes`.
async fn with_line_limit(bytes: usize, backing: Backing) -> TestServer {
    TestServer::start_with(Options {
        tcp: TcpConfig {
            max_line_bytes: bytes,
            ..TcpConfig::default()
        },
        backing,
        ..Options::default()
    })
    .await
}

/// Lines sent together run together (in guest calls of up to 64), yet
/// each keeps its own reply, in order: a line over the limit among them
/// gets its error in its place, and after `stop` nothing more runs.
async fn a_pipelined_batch_keeps_each_lines_reply_and_ends_at_stop(backing: Backing) {
    let server = with_line_limit(1024, backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    let mut batch = String::new();
    for i in 0..100 {
        batch.push_str(&format!("cmd=create | key=b{i} | body=v{i}\n"));
    }
    batch.push_str(&format!(
        "cmd=create | key=long | body={}\n",
        "x".repeat(2000)
    ));
    batch.push_str("cmd=get | key=b99\ncmd=bogus\ncmd=stop\ncmd=create | key=after | body=no\n");
    tcp.send(batch.as_bytes()).await;
    for i in 0..100 {
        let created = tcp.recv().await.unwrap();
        assert_eq!(created["key"], format!("b{i}"), "{created}");
    }
    assert_error(&tcp.recv().await.unwrap(), 17);
    assert_eq!(tcp.recv().await.unwrap()["body"], "v99");
    let bogus = tcp.recv().await.unwrap();
    assert!(bogus["errorcode"].is_u64(), "{bogus}");
    assert_error(&tcp.recv().await.unwrap(), 14);
    assert!(tcp.recv().await.is_none(), "closed after stop");
    let mut other = Line::connect(server.tcp).await;
    assert_error(&other.request("cmd=get | key=after").await, 10);
    assert_eq!(server.keys().await, 100);
}

/// A run of pipelined `get` lines is read from the store in one call, yet
/// each reply is what the line gets when sent alone: text, binary, typed
/// and expiring values, a missing key, and a line refused in the middle.
async fn pipelined_gets_answer_as_if_sent_one_by_one(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    for line in [
        r#"cmd=create | key=t | body=text "q" \ é"#,
        "cmd=create | key=b | body64=AAEC/w==",
        "cmd=create | key=x | ttl=100 | body=expiring",
        r#"cmd=create | key=j | type=application/json | body={"a":1}"#,
    ] {
        assert_eq!(tcp.request(line).await["ok"], true, "{line}");
    }
    let gets = [
        "cmd=get | key=t",
        "cmd=get | key=nope",
        "cmd=get | key=b",
        "cmd=get | key=x",
        "cmd=get | key",
        "cmd=get | key=j",
        "cmd=get | key=t",
    ];
    // The expiry's seconds left may tick between the two reads.
    let without_ttl = |mut reply: Value| {
        if let Some(object) = reply.as_object_mut() {
            object.remove("ttl");
        }
        reply
    };
    let mut alone = Vec::new();
    for line in gets {
        alone.push(tcp.request(line).await);
    }
    assert_eq!(alone[3]["ttl"].as_u64().map(|ttl| ttl > 90), Some(true));
    let batch: String = gets.iter().map(|line| format!("{line}\n")).collect();
    tcp.send(batch.as_bytes()).await;
    for (line, alone) in gets.iter().zip(alone) {
        let together = tcp.recv().await.unwrap();
        assert_eq!(together.get("ttl").is_some(), alone.get("ttl").is_some());
        assert_eq!(without_ttl(together), without_ttl(alone), "{line}");
    }
    assert_error(&tcp.request("cmd=get | key=nope").await, 10);
}

async fn stop_closes_only_its_own_connection(backing: Backing) {
    let server = TestServer::on(backing).await;
    let mut first = Line::connect(server.tcp).await;
    let mut second = Line::connect(server.tcp).await;
    first.request("cmd=create | key=s | body=v").await;
    let reply = first.request("cmd=stop").await;
    assert_error(&reply, 14);
    assert!(
        first.recv().await.is_none(),
        "the connection is closed after stop"
    );
    assert_eq!(second.request("cmd=get | key=s").await["body"], "v");
    let mut third = Line::connect(server.tcp).await;
    assert_eq!(third.request("cmd=get | key=s").await["body"], "v");
}

async fn a_line_over_the_limit_gets_an_error_and_the_connection_goes_on(backing: Backing) {
    let server = with_line_limit(1024, backing).await;
    let mut tcp = Line::connect(server.tcp).await;
    let reply = tcp
        .request(&format!("cmd=create | key=big | body={}", "x".repeat(5000)))
        .await;
    assert_error(&reply, 17);
    assert!(reply["error"].as_str().unwrap().contains("1024"));
    assert_error(&tcp.request("cmd=get | key=big").await, 10);
    assert_eq!(
        tcp.request("cmd=create | key=ok | body=v").await["ok"],
        true
    );
}

async fn a_client_that_vanishes_mid_line_applies_nothing_and_leaves_the_server_well(
    backing: Backing,
) {
    let server = TestServer::on(backing).await;
    let mut socket = TcpStream::connect(server.tcp).await.unwrap();
    socket
        .write_all(b"cmd=create | key=done | body=1\ncmd=create | key=half | bo")
        .await
        .unwrap();
    let mut reply = [0u8; 256];
    let n = socket.read(&mut reply).await.unwrap();
    assert!(String::from_utf8_lossy(&reply[..n]).contains("\"ok\":true"));
    drop(socket);

    let mut tcp = Line::connect(server.tcp).await;
    assert_eq!(tcp.request("cmd=get | key=done").await["body"], "1");
    assert_error(&tcp.request("cmd=get | key=half").await, 10);

    // A half-closed socket still gets its replies.
    let mut half = TcpStream::connect(server.tcp).await.unwrap();
    half.write_all(b"cmd=get | key=done\n").await.unwrap();
    half.shutdown().await.unwrap();
    let mut answer = String::new();
    half.read_to_string(&mut answer).await.unwrap();
    assert_eq!(answer.lines().count(), 1);
    assert!(answer.contains("\"body\":\"1\""));
}

async fn connections_over_the_limit_are_refused_with_an_error_line(backing: Backing) {
    let server = TestServer::start_with(Options {
        tcp: TcpConfig {
            max_connections: 2,
            ..TcpConfig::default()
        },
        backing,
        ..Options::default()
    })
    .await;
    let mut a = Line::connect(server.tcp).await;
    let mut b = Line::connect(server.tcp).await;
    // Make sure both are accepted before the third arrives.
    a.request("cmd=help").await;
    b.request("cmd=help").await;
    let mut c = Line::connect(server.tcp).await;
    assert_error(&c.recv().await.unwrap(), 20);
    assert!(c.recv().await.is_none());
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut d = Line::connect(server.tcp).await;
    assert_eq!(d.request("cmd=help").await["ok"], true);
}

async fn idle_connections_are_closed(backing: Backing) {
    let server = TestServer::start_with(Options {
        tcp: TcpConfig {
            idle_timeout: Duration::from_millis(300),
            ..TcpConfig::default()
        },
        backing,
        ..Options::default()
    })
    .await;
    let mut tcp = Line::connect(server.tcp).await;
    assert_eq!(tcp.request("cmd=help").await["ok"], true);
    assert_error(&tcp.recv().await.unwrap(), 20);
    assert!(tcp.recv().await.is_none());
}

async fn concurrent_tcp_clients_get_no_wrong_replies(backing: Backing) {
    let server = TestServer::on(backing).await;
    let tasks = (0..16).map(|client_id| {
        let addr = server.tcp;
        tokio::spawn(async move {
            let mut tcp = Line::connect(addr).await;
            for round in 0..50 {
                let key = format!("c{client_id}-{round}");
                let reply = tcp
                    .request(&format!("cmd=create|key={key}|body={round}"))
                    .await;
                assert_eq!(reply["ok"], true, "{reply}");
                let reply = tcp.request(&format!("cmd=get|key={key}")).await;
                assert_eq!(reply["body"], round.to_string());
                let reply = tcp.request(&format!("cmd=delete|key={key}")).await;
                assert_eq!(reply["body"], round.to_string());
                assert_error(&tcp.request(&format!("cmd=get|key={key}")).await, 10);
                // A shared key: create races, exactly the legal answers.
                let reply = tcp.request("cmd=create|key=shared|body=x").await;
                assert!(reply["ok"] == true || reply["errorcode"] == 15, "{reply}");
            }
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.unwrap();
    }
    assert_eq!(server.keys().await, 1);
}

/// Every value within the limits can be read and deleted over TCP, whatever
/// its bytes, on a guest given only the memory start-up requires: a reply
/// carries `body64` whenever escaped text would be larger, so it is never
/// more than about 4/3 of the value.
async fn values_at_the_limit_of_any_bytes_read_and_delete_over_tcp(backing: Backing) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let max_value = 24usize << 20;
    let max_line = max_value / 3 * 4 + 4096;
    let server = TestServer::start_with(Options {
        limits: kvs::store::Limits {
            max_value_bytes: max_value,
            ..Default::default()
        },
        tcp: TcpConfig {
            max_line_bytes: max_line,
            ..TcpConfig::default()
        },
        guest: kvs::runtime::GuestConfig {
            max_memory_bytes: kvs::cli::guest_memory_needed(max_value as u64, max_line as u64)
                as usize,
            ..Default::default()
        },
        backing,
        ..Options::default()
    })
    .await;
    let http = client();
    let mut tcp = Line::connect(server.tcp).await;
    // Control bytes (six bytes each as JSON escapes), quotes (two), plain text.
    for (key, byte, as_text) in [
        ("ctl", 0x01u8, false),
        ("quotes", b'"', false),
        ("plain", b'a', true),
    ] {
        let value = vec![byte; max_value];
        let r = http
            .post(server.url(&format!("/kvs/{key}")))
            .body(value.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{key}");
        let got = tcp.request(&format!("cmd=get | key={key}")).await;
        assert_eq!(got["ok"], true, "{key}: {}", got["error"]);
        let body = if as_text {
            assert!(got.get("body64").is_none(), "{key}");
            got["body"].as_str().unwrap().as_bytes().to_vec()
        } else {
            assert!(got.get("body").is_none(), "{key}");
            engine.decode(got["body64"].as_str().unwrap()).unwrap()
        };
        assert!(body == value, "{key}: the value read back differs");
        let deleted = tcp.request(&format!("cmd=delete | key={key}")).await;
        assert_eq!(deleted["ok"], true, "{key}: {}", deleted["error"]);
        assert_eq!(deleted["version"], got["version"], "{key}");
        let r = http
            .get(server.url(&format!("/kvs/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{key}");
    }
    // And written over TCP at the limit, read back over HTTP.
    let value = vec![0x01u8; max_value];
    let reply = tcp
        .request(&format!(
            "cmd=create | key=in | body64={}",
            engine.encode(&value)
        ))
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let r = http.get(server.url("/kvs/in")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert!(r.bytes().await.unwrap() == value);
}

/// A guest call that fails after its write took effect reverts the write,
/// so a client told "failed" never loses the value it asked to delete.
async fn a_failed_call_reverts_its_write(backing: Backing) {
    let server = TestServer::start_with(Options {
        guest_path: Some(env!("KVS_GUEST_FAULTY").into()),
        backing,
        ..Options::default()
    })
    .await;
    let http = client();
    // A create of this key through the guest would fail and be reverted too.
    let r = http
        .post(server.url("/kvs/fault-after-delete"))
        .body("precious")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(server.keys().await, 0, "the failed create was reverted");
    let version = server
        .app
        .backend()
        .create("fault-after-delete", "text/plain", b"precious", None)
        .await
        .unwrap();
    let mut tcp = Line::connect(server.tcp).await;
    let reply = tcp.request("cmd=delete | key=fault-after-delete").await;
    assert_error(&reply, 2);
    assert!(
        reply["error"].as_str().unwrap().contains("reverted"),
        "{reply}"
    );
    let r = http
        .delete(server.url("/kvs/fault-after-delete"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        500,
        "the faulty guest fails on this key over HTTP too"
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("reverted"),
        "{body}"
    );
    // Still there, same version, same bytes.
    let got = tcp.request("cmd=get | key=fault-after-delete").await;
    assert_eq!(got["body"], "precious");
    assert_eq!(got["version"], version);
    assert_eq!(server.keys().await, 1);
}

/// Keys the line protocol cannot write plainly (a `|`, a line break, outer
/// spaces) are named exactly with `key64=`, and listings say which.
async fn key64_names_any_key(backing: Backing) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let server = TestServer::on(backing).await;
    let http = client();
    let mut tcp = Line::connect(server.tcp).await;
    for key in ["a|b", "line\nbreak", " padded "] {
        let path = format!("/kvs/{}", percent_encode(key));
        let r = http
            .post(server.url(&path))
            .body(format!("value of {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{key:?}");
        let listing = tcp.request("cmd=keys").await;
        assert_eq!(listing["key64"][key], engine.encode(key), "{listing}");
        let key64 = engine.encode(key);
        let got = tcp.request(&format!("cmd=get | key64={key64}")).await;
        assert_eq!(got["key"], key);
        assert_eq!(got["body"], format!("value of {key}"), "{got}");
        let updated = tcp
            .request(&format!("cmd=update | key64={key64} | body=new"))
            .await;
        assert_eq!(updated["ok"], true, "{updated}");
        let deleted = tcp.request(&format!("cmd=delete | key64={key64}")).await;
        assert_eq!(deleted["body"], "new", "{deleted}");
    }
    http.post(server.url("/kvs/plain"))
        .body("v")
        .send()
        .await
        .unwrap();
    let listing = tcp.request("cmd=keys").await;
    assert!(listing.get("key64").is_none(), "{listing}");
    assert_error(&tcp.request("cmd=get | key64=%%%").await, 8);
}

fn percent_encode(key: &str) -> String {
    key.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// A `body64=` write without `type=` is binary, whatever its bytes; a
/// `body=` write is text.
async fn body64_values_default_to_octet_stream(backing: Backing) {
    let server = TestServer::on(backing).await;
    let http = client();
    let mut tcp = Line::connect(server.tcp).await;
    // AAECAw== is the bytes 0 1 2 3: valid UTF-8, but sent as binary.
    assert_eq!(
        tcp.request("cmd=create | key=b | body64=AAECAw==").await["ok"],
        true
    );
    assert_eq!(
        tcp.request("cmd=create | key=t | body=text").await["ok"],
        true
    );
    let r = http.get(server.url("/kvs/b")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(&r.bytes().await.unwrap()[..], &[0, 1, 2, 3]);
    let r = http.get(server.url("/kvs/t")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
}
