//! Swapping the guest while the host runs: under load, with broken guests,
//! rollback, and each trigger (admin endpoint, file watch, SIGHUP, `kvs reload`).

mod common;

use common::{Line, Options, Target, TestServer, client};
use kvs::runtime::DEFAULT_GUEST;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const CANARY: &str = env!("KVS_GUEST_CANARY");
const BROKEN: &str = env!("KVS_GUEST_BROKEN");
const DEFAULT_NAME: &str = "0.1.0";
const CANARY_NAME: &str = "0.1.0+canary";

fn canary() -> Vec<u8> {
    std::fs::read(CANARY).unwrap()
}

async fn admin(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = client()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("http://{}{path}", server.admin),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Which guest answers HTTP requests now.
async fn http_flavor(server: &TestServer) -> String {
    let response = client()
        .get(server.url("/kvs?limit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()["kvs-guest"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_back_and_forth_under_load_fails_no_request_and_loses_no_data() {
    let server = Arc::new(TestServer::start().await);
    let http = client();
    // Data written before any swap.
    for i in 0..50 {
        let r = http
            .post(server.url(&format!("/kvs/before-{i}")))
            .body(format!("b{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for client_id in 0..3 {
        let (server, stop, served, http) =
            (server.clone(), stop.clone(), served.clone(), http.clone());
        load.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("http-{client_id}-{round}");
                let url = server.url(&format!("/kvs/{key}"));
                let r = http
                    .post(&url)
                    .body(format!("v{round}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED, "create {key}");
                let flavor = r.headers()["kvs-guest"].to_str().unwrap().to_string();
                assert!(flavor == DEFAULT_NAME || flavor == CANARY_NAME, "{flavor}");
                let r = http.get(&url).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "get {key}");
                assert_eq!(r.text().await.unwrap(), format!("v{round}"));
                if round % 2 == 0 {
                    let r = http.delete(&url).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::OK, "delete {key}");
                } else {
                    kept.push((key, format!("v{round}")));
                }
                served.fetch_add(3, Ordering::Relaxed);
                round += 1;
            }
            kept
        }));
    }
    for client_id in 0..3 {
        let (server, stop, served) = (server.clone(), stop.clone(), served.clone());
        load.push(tokio::spawn(async move {
            let mut tcp = Line::connect(server.tcp).await;
            let mut kept = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("tcp-{client_id}-{round}");
                let r = tcp
                    .request(&format!("cmd=create | key={key} | body=t{round}"))
                    .await;
                assert_eq!(r["ok"], true, "{r}");
                let r = tcp.request(&format!("cmd=get | key={key}")).await;
                assert_eq!(r["body"], format!("t{round}"), "{r}");
                kept.push((key, format!("t{round}")));
                served.fetch_add(2, Ordering::Relaxed);
                round += 1;
            }
            kept
        }));
    }

    // Swap back and forth; after each swap, new requests see the new guest
    // on both front ends, and an open TCP connection stays open.
    let mut watcher = Line::connect(server.tcp).await;
    let canary = canary();
    for swap in 0..8 {
        let (bytes, expected) = if swap % 2 == 0 {
            (canary.clone(), CANARY_NAME)
        } else {
            (DEFAULT_GUEST.to_vec(), DEFAULT_NAME)
        };
        let (status, outcome) = admin(&server, "POST", "/reload", bytes).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        assert_eq!(outcome["status"], "swapped");
        assert_eq!(outcome["generation"], 2 + swap);
        assert_eq!(http_flavor(&server).await, expected);
        assert_eq!(watcher.request("cmd=help").await["guest"], expected);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut kept = Vec::new();
    for task in load {
        kept.extend(task.await.expect("no load client saw a failed request"));
    }
    assert!(
        served.load(Ordering::Relaxed) > 100,
        "the load ran during the swaps"
    );

    // Everything written before, during and after the swaps is there.
    for i in 0..50 {
        let r = http
            .get(server.url(&format!("/kvs/before-{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), format!("b{i}"));
    }
    for (key, value) in kept {
        let r = http
            .get(server.url(&format!("/kvs/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{key} was lost");
        assert_eq!(r.text().await.unwrap(), value);
    }
}

#[tokio::test]
async fn broken_components_are_rejected_and_the_running_guest_keeps_serving() {
    let server = TestServer::start().await;
    let http = client();
    http.post(server.url("/kvs/k"))
        .body("v")
        .send()
        .await
        .unwrap();
    let empty_component = b"\0asm\x0d\0\x01\0".to_vec();
    for (bytes, reason) in [
        (
            b"not wasm at all".to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            DEFAULT_GUEST[..DEFAULT_GUEST.len() / 2].to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            empty_component,
            "does not export the kvs:store/service world",
        ),
        (std::fs::read(BROKEN).unwrap(), "self-check"),
    ] {
        let (status, body) = admin(&server, "POST", "/reload", bytes).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errorcode"], 21);
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(reason), "{message} lacks {reason}");
        // Still the first guest, still serving.
        assert_eq!(http_flavor(&server).await, DEFAULT_NAME);
        let r = http.get(server.url("/kvs/k")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "v");
    }
    let (_, status) = admin(&server, "GET", "/status", vec![]).await;
    assert_eq!(status["current"]["generation"], 1);
    assert!(status["previous"].is_null());
}

#[tokio::test]
async fn rollback_returns_to_the_previous_guest_and_status_reports_both() {
    let server = TestServer::start().await;
    let (status, body) = admin(&server, "POST", "/rollback", vec![]).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nothing to roll back to: {body}"
    );

    let (_, swapped) = admin(&server, "POST", "/reload", canary()).await;
    assert_eq!(swapped["generation"], 2);
    let (_, again) = admin(&server, "POST", "/reload", canary()).await;
    assert_eq!(again["status"], "unchanged");
    assert_eq!(http_flavor(&server).await, CANARY_NAME);

    let (_, status) = admin(&server, "GET", "/status", vec![]).await;
    assert_eq!(status["current"]["generation"], 2);
    assert_eq!(status["current"]["digest"], swapped["digest"]);
    assert!(
        status["current"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(status["previous"]["generation"], 1);
    assert!(status["current"]["loaded_at_unix_ms"].as_u64().unwrap() > 0);

    let (status_code, rolled) = admin(&server, "POST", "/rollback", vec![]).await;
    assert_eq!(status_code, StatusCode::OK);
    assert_eq!(rolled["generation"], 1);
    assert_eq!(http_flavor(&server).await, DEFAULT_NAME);
    // Rolling back again goes forward to the canary.
    admin(&server, "POST", "/rollback", vec![]).await;
    assert_eq!(http_flavor(&server).await, CANARY_NAME);

    let metrics = server.metrics().await;
    // One reload and two rollbacks swapped; the first rollback was refused
    // but is not a rejected guest.
    assert!(metrics.contains("kvs_guest_swaps_total 3\n"), "{metrics}");
    assert!(metrics.contains("kvs_guest_generation 2\n"), "{metrics}");
}

#[tokio::test]
async fn the_admin_endpoint_needs_its_token_and_the_public_port_has_no_admin() {
    let server = TestServer::start_with(Options {
        admin_token: Some("s3cret".into()),
        ..Options::default()
    })
    .await;
    let url = format!("http://{}/status", server.admin);
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .post(format!("http://{}/reload", server.admin))
        .body(canary())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .get(&url)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for path in [
        "/status",
        "/reload",
        "/rollback",
        "/metrics",
        "/admin/reload",
    ] {
        let r = client()
            .post(server.url(path))
            .body(canary())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "{path} on the public port"
        );
    }
    assert_eq!(http_flavor(&server).await, DEFAULT_NAME);
}

#[tokio::test]
async fn reload_without_a_body_reads_the_guest_file_again() {
    let dir = std::env::temp_dir().join(format!("kvs-swap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("guest.wasm");
    std::fs::write(&path, DEFAULT_GUEST).unwrap();
    let server = TestServer::start_with(Options {
        guest_path: Some(path.clone()),
        ..Options::default()
    })
    .await;
    std::fs::write(&path, canary()).unwrap();
    let (status, body) = admin(&server, "POST", "/reload", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(http_flavor(&server).await, CANARY_NAME);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An upload that declares itself a component but is empty is refused as an
/// empty component (not taken for "reload your own file"), and a declared
/// length over the limit is refused before any of the body is sent.
#[tokio::test]
async fn empty_and_oversized_uploads_are_refused_at_once() {
    let server = TestServer::start().await;
    let response = client()
        .post(format!("http://{}/reload", server.admin))
        .header("content-type", "application/wasm")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("empty"), "{body}");
    assert_eq!(server.metric("kvs_guest_generation").await, 1.0);

    let head = format!(
        "POST /reload HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\n\r\n",
        kvs::front::admin::MAX_UPLOAD_BYTES + 1
    );
    let started = std::time::Instant::now();
    let answer = common::raw_http(server.admin, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the refusal waited for a body"
    );
}

/// A method the admin path does not take is a 405 that says, in `Allow`,
/// which one it does.
#[tokio::test]
async fn admin_405s_name_the_allowed_method() {
    let server = TestServer::start().await;
    for (method, path, allow) in [
        ("GET", "/reload", "POST"),
        ("PUT", "/rollback", "POST"),
        ("POST", "/status", "GET"),
        ("DELETE", "/metrics", "GET"),
    ] {
        let response = client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("http://{}{path}", server.admin),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errorcode"], 19);
    }
}

/// `/metrics` is OpenMetrics text with the OpenMetrics content type, and the
/// reference parser (Python's `prometheus_client`) reads all of it.
#[tokio::test]
async fn metrics_are_valid_openmetrics() {
    let server = TestServer::start().await;
    client()
        .post(server.url("/kvs/m"))
        .body("v")
        .send()
        .await
        .unwrap();
    let mut tcp = Line::connect(server.tcp).await;
    assert_eq!(tcp.request("cmd=get | key=m").await["ok"], true);
    let response = client()
        .get(format!("http://{}/metrics", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let Some(families) = common::parse_openmetrics(&text) else {
        return;
    };
    for family in [
        "kvs_http_requests",
        "kvs_tcp_commands",
        "kvs_store_keys",
        "kvs_snapshot_age_seconds",
    ] {
        assert!(
            families.iter().any(|f| f == family),
            "no {family} in {families:?}"
        );
    }
}
