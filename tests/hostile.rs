//! Hostile and broken HTTP clients against the real server: slow and lying
//! clients, smuggling attempts, oversized heads, too many connections. Each
//! gets a clear answer or a closed connection, never a write of half a body,
//! and the server keeps serving everyone else.

mod common;

use common::{Options, Target, TestServer, client, raw_http};
use kvs::front::http::HttpConfig;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server_with(http: HttpConfig) -> TestServer {
    TestServer::start_with(Options {
        http,
        ..Options::default()
    })
    .await
}

/// The status code of a raw HTTP answer, or 0 when there was none.
fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn entry_url(server: &TestServer, key: &str) -> String {
    server.url(&format!("/kvs/{key}"))
}

async fn get_status(server: &TestServer, key: &str) -> u16 {
    client()
        .get(entry_url(server, key))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Reads until the server closes the connection, failing after `limit`.
async fn read_until_closed(socket: &mut TcpStream, limit: Duration) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&answer).into_owned(),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open past {limit:?}; got {:?}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = server_with(HttpConfig {
        header_timeout: Duration::from_secs(1),
        ..HttpConfig::default()
    })
    .await;
    let mut socket = TcpStream::connect(server.http).await.unwrap();
    socket
        .write_all(b"GET /kvs/a HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(get_status(&server, "a").await, 404, "others are served");
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_and_writes_nothing() {
    let server = server_with(HttpConfig {
        body_timeout: Duration::from_secs(1),
        ..HttpConfig::default()
    })
    .await;
    let mut socket = TcpStream::connect(server.http).await.unwrap();
    socket
        .write_all(b"POST /kvs/slow HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = read_until_closed(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(answer.contains("\"errorcode\":23"), "{answer}");
    assert_eq!(get_status(&server, "slow").await, 404);
}

#[tokio::test]
async fn a_body_cut_short_by_a_vanishing_client_writes_nothing() {
    let server = TestServer::start().await;
    let mut socket = TcpStream::connect(server.http).await.unwrap();
    socket
        .write_all(b"POST /kvs/cut HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    drop(socket);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get_status(&server, "cut").await, 404);
    // Half-closed: the client says it is done sending, 90 bytes short.
    let mut socket = TcpStream::connect(server.http).await.unwrap();
    socket
        .write_all(b"PUT /kvs/cut HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    socket.shutdown().await.unwrap();
    let answer = read_until_closed(&mut socket, Duration::from_secs(10)).await;
    assert!(
        answer.is_empty() || status_of(&answer) == 400,
        "a truncated body is refused: {answer}"
    );
    assert_eq!(get_status(&server, "cut").await, 404);
}

#[tokio::test]
async fn a_content_length_shorter_than_the_body_stores_exactly_what_it_declared() {
    let server = TestServer::start().await;
    let answer = raw_http(
        server.http,
        b"POST /kvs/short HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabcGARBAGE\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 201, "{answer}");
    // The rest is read as the next request, which is not HTTP.
    assert!(answer.contains("400 Bad Request"), "{answer}");
    let value = client()
        .get(entry_url(&server, "short"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&value[..], b"abc");
}

/// Requests that would let a front proxy and kvs disagree on where a request
/// ends. Each is refused, or (both `Content-Length` and `Transfer-Encoding`,
/// which RFC 9112 lets a server read by the encoding) answered once with the
/// connection closed after it; either way the request hidden inside never
/// runs.
#[tokio::test]
async fn request_smuggling_attempts_are_refused_and_the_hidden_request_never_runs() {
    let server = TestServer::start().await;
    let http = client();
    http.post(entry_url(&server, "victim"))
        .body("keep me")
        .send()
        .await
        .unwrap();
    let hidden = "DELETE /kvs/victim HTTP/1.1\r\nhost: x\r\n\r\n";
    let attempts = [
        format!(
            "POST /kvs/a HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n{hidden}",
            5 + hidden.len()
        ),
        format!(
            "POST /kvs/b HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\ncontent-length: {}\r\n\r\n{hidden}",
            hidden.len()
        ),
        format!(
            "POST /kvs/c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n{hidden}"
        ),
        format!(
            "POST /kvs/d HTTP/1.1\r\nhost: x\r\ncontent-length: +{}\r\n\r\n{hidden}",
            hidden.len()
        ),
    ];
    for attempt in &attempts {
        let mut socket = TcpStream::connect(server.http).await.unwrap();
        socket.write_all(attempt.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut socket, Duration::from_secs(10)).await;
        let status = status_of(&answer);
        let refused = (400..=501).contains(&status);
        let answered_once_and_closed = status == 201
            && answer.matches("HTTP/1.1 ").count() == 1
            && answer.to_ascii_lowercase().contains("connection: close");
        assert!(
            refused || answered_once_and_closed,
            "{attempt:?} got {answer:?}"
        );
        let value = http
            .get(entry_url(&server, "victim"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(value, "keep me", "the hidden DELETE ran after {attempt:?}");
    }
    for key in ["b", "c", "d"] {
        assert_eq!(get_status(&server, key).await, 404, "{key} was not written");
    }
}

#[tokio::test]
async fn malformed_and_oversized_request_heads_get_4xx_and_the_server_goes_on() {
    let server = TestServer::start().await;
    let huge_header = format!(
        "GET /kvs/a HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let many_headers = format!(
        "GET /kvs/a HTTP/1.1\r\nhost: x\r\n{}\r\n",
        "x-h: 1\r\n".repeat(500)
    );
    let mut enveloped = Vec::new();
    let long_target = format!(
        "GET /kvs/{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let cases: [(&[u8], &str); 6] = [
        (b"GARBAGE\r\n\r\n", "not a request line"),
        (long_target.as_bytes(), "a 70 kB request target"),
        (b"GET /kvs/a HTTP/9.9\r\nhost: x\r\n\r\n", "unknown version"),
        (
            b"GET /kvs/a HTTP/1.1\r\nbad header\r\n\r\n",
            "header without colon",
        ),
        (huge_header.as_bytes(), "a 1 MiB header"),
        (many_headers.as_bytes(), "500 headers"),
    ];
    for (request, what) in cases {
        let answer = raw_http(server.http, request).await;
        let status = status_of(&answer);
        assert!(
            status == 0 || (400..=505).contains(&status),
            "{what}: {answer:?}"
        );
        assert_ne!(status, 200, "{what}");
        // hyper's own answers carry the JSON envelope like every other error.
        if [400, 414, 431].contains(&status) {
            enveloped.push(status);
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(
                head.contains("content-type: application/json"),
                "{what}: {head}"
            );
            let body: serde_json::Value =
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body:?}"));
            assert!(body["errorcode"].is_u64(), "{what}: {body}");
        }
    }
    assert!(
        [400, 414, 431]
            .iter()
            .all(|status| enveloped.contains(status)),
        "each of hyper's answers was seen: {enveloped:?}"
    );
    assert_eq!(get_status(&server, "a").await, 404, "others are served");
}

async fn connect_all(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::new();
    for _ in 0..count {
        sockets.push(TcpStream::connect(addr).await.unwrap());
    }
    sockets
}

#[tokio::test]
async fn connections_over_the_limit_get_503_and_a_freed_slot_is_reused() {
    let server = server_with(HttpConfig {
        max_connections: 8,
        ..HttpConfig::default()
    })
    .await;
    let mut idle = connect_all(server.http, 8).await;
    // Let the server accept them all before the next one arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = TcpStream::connect(server.http).await.unwrap();
    let answer = read_until_closed(&mut refused, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), 503, "{answer}");
    assert!(answer.contains("\"errorcode\":20"), "{answer}");
    assert_eq!(
        server.metric("kvs_http_connections_refused_total").await,
        1.0
    );

    idle.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = raw_http(server.http, b"GET /kvs/a HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(status_of(&answer), 404, "{answer}");
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_stop_service() {
    let server = TestServer::start().await;
    let _idle = connect_all(server.http, 1000).await;
    let http = client();
    let response = http
        .post(entry_url(&server, "busy"))
        .body("still here")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(get_status(&server, "busy").await, 200);
}

/// A body in a transfer coding kvs does not decode (`gzip, chunked`) gets a
/// 501 instead of being stored still encoded; plain chunked bodies work.
#[tokio::test]
async fn a_transfer_coding_kvs_does_not_decode_gets_501() {
    let server = TestServer::start().await;
    let request = "POST /kvs/zipped HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let answer = raw_http(server.http, request.as_bytes()).await;
    assert_eq!(status_of(&answer), 501, "{answer}");
    assert!(answer.contains("\"errorcode\":24"), "{answer}");
    assert!(answer.contains("gzip"), "{answer}");
    assert_eq!(
        get_status(&server, "zipped").await,
        404,
        "nothing was stored"
    );
    let request = "POST /kvs/chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let answer = raw_http(server.http, request.as_bytes()).await;
    assert_eq!(status_of(&answer), 201, "{answer}");
}
