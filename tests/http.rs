//! The REST API against the kvs host: the shared suite (`tests/rest/`) on
//! each call path (the default `rest`, the guest's `wasi:http` handler, and
//! the native ceiling, which must answer exactly as the guest does), plus
//! what only the kvs host has (a configurable value limit, the memory budget).

mod common;
mod rest;

use common::{Options, Target, TestServer, client};
use kvs::logic::CallPath;
use kvs::runtime::GuestConfig;
use kvs::store::Limits;
use reqwest::StatusCode;

rest_suite!(async { Some(TestServer::start().await) });

/// The server with requests reaching the logic by `call_path`.
async fn on_call_path(call_path: CallPath) -> Option<TestServer> {
    Some(
        TestServer::start_with(Options {
            call_path,
            ..Options::default()
        })
        .await,
    )
}

mod wasi_http {
    use super::{CallPath, on_call_path, rest};
    crate::rest_suite!(on_call_path(CallPath::WasiHttp));
}

mod native_ceiling {
    use super::{CallPath, on_call_path, rest};
    crate::rest_suite!(on_call_path(CallPath::Native));
}

#[tokio::test]
async fn a_smaller_value_limit_is_enforced() {
    let server = TestServer::start_with(Options {
        limits: Limits {
            max_value_bytes: 1 << 20,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    rest::bodies_over_the_limit_get_413_and_store_nothing(&server).await;
}

#[tokio::test]
async fn a_full_store_refuses_writes_with_507_and_keeps_what_it_has() {
    let server = TestServer::start_with(Options {
        limits: Limits {
            max_store_bytes: 64 * 1024,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let http = client();
    let mut stored = Vec::new();
    for i in 0.. {
        let response = http
            .post(server.url(&format!("/kvs/fill{i}")))
            .body(vec![i as u8; 4000])
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::INSUFFICIENT_STORAGE {
            assert_eq!(rest::json_body(response).await["errorcode"], 18);
            break;
        }
        assert_eq!(response.status(), StatusCode::CREATED);
        stored.push(i);
    }
    assert!(
        stored.len() >= 10,
        "the budget held {} values",
        stored.len()
    );
    for i in stored {
        let response = http
            .get(server.url(&format!("/kvs/fill{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.bytes().await.unwrap() == vec![i as u8; 4000]);
    }
    // Reads go on; deleting frees room for new writes.
    http.delete(server.url("/kvs/fill0")).send().await.unwrap();
    let response = http
        .post(server.url("/kvs/again"))
        .body(vec![0; 4000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// The idle instances of the current guest and the linear memory they hold,
/// from the admin endpoint's metrics.
async fn idle_instances(server: &TestServer) -> (f64, f64) {
    (
        server.metric("kvs_guest_idle_instances").await,
        server.metric("kvs_guest_idle_memory_bytes").await,
    )
}

#[tokio::test]
async fn an_instance_that_served_a_large_value_is_not_kept_warm() {
    let server = TestServer::start_with(Options {
        guest: GuestConfig {
            max_retained_memory_bytes: 4 << 20,
            ..GuestConfig::default()
        },
        ..Options::default()
    })
    .await;
    let http = client();
    let url = server.url("/kvs/large");
    let small = server.url("/kvs/small");
    http.post(&small).body("v").send().await.unwrap();
    http.get(&small).send().await.unwrap();
    let (idle, memory) = idle_instances(&server).await;
    assert!(idle >= 1.0, "small requests leave a warm instance");
    let per_small_instance = memory / idle;
    assert!(
        per_small_instance < (4 << 20) as f64,
        "{per_small_instance}"
    );

    let value = common::noise(8 << 20, 3);
    let response = http.post(&url).body(value.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let back = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert!(back == value, "8 MiB round trip");
    // The write and the read left the bytes in the host; a DELETE hands the
    // removed entry back through the guest's memory. The instance that held
    // it is gone; what stays warm is no bigger than what small requests
    // leave.
    let removed = http
        .delete(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(removed == value, "8 MiB deleted and returned");
    let (idle, memory) = idle_instances(&server).await;
    assert!(
        memory <= idle * per_small_instance,
        "{idle} idle instances hold {memory} bytes after an 8 MiB value"
    );
}
