//! One request through the guest, in-process, with no sockets: the cost of
//! the wasm call path itself (`cargo bench --bench guest_call`).
//!
//! - `rest`, `command` and `resp`: the fast path, a warm instance from the
//!   pool.
//! - `wasi-http`: `wasi:http/incoming-handler` on a fresh instance, as
//!   `wasmtime serve` runs a guest.
//! - `native`: the same logic compiled into the host, the ceiling.
//!
//! Every call's answer is checked once before timing, so a benchmark of an
//! error path cannot pass for the real thing.
//!
//! `KVS_GUEST_PROFILER=perfmap` describes the guest's compiled code for
//! `perf`, as the server's flag of that name does, so a profile of one of
//! these calls names the guest's functions:
//! `KVS_GUEST_PROFILER=perfmap perf record -g target/release/deps/guest_call-HASH
//! --bench "command get .wasm" --profile-time 6`.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt as _, Empty};
use kvs::app::App;
use kvs::backend::Backend;
use kvs::logic::{CallPath, RespSession, native};
use kvs::runtime::{DEFAULT_GUEST, GuestConfig, GuestProfiler, RestRequest};
use kvs::store::{Limits, Store};
use std::hint::black_box;
use std::time::Duration;

fn get_request() -> RestRequest {
    RestRequest {
        method: "GET".into(),
        path_with_query: "/kvs/bench".into(),
        headers: [("host", &b"kvs"[..])].into_iter().collect(),
        body: Ok(Vec::new()),
    }
}

/// An overwrite of the benchmark's key with the value it holds: a write
/// that journals the entry it replaces.
fn put_request() -> RestRequest {
    RestRequest {
        method: "PUT".into(),
        path_with_query: "/kvs/bench".into(),
        headers: [("host", &b"kvs"[..]), ("content-type", b"text/plain")]
            .into_iter()
            .collect(),
        body: Ok(vec![b'v'; 100]),
    }
}

fn calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = App::new(
        Backend::Memory(Store::new(Limits::default())),
        GuestConfig {
            profiler: match std::env::var("KVS_GUEST_PROFILER").as_deref() {
                Ok("perfmap") => GuestProfiler::Perfmap,
                _ => GuestProfiler::None,
            },
            ..GuestConfig::default()
        },
        CallPath::Rest,
        DEFAULT_GUEST,
        "bench",
    )
    .expect("the built-in guest loads");
    app.memory()
        .unwrap()
        .create(
            "bench",
            "text/plain",
            Bytes::from_static(&[b'v'; 100]),
            None,
        )
        .unwrap();
    let guest = app.guest();

    let response = runtime.block_on(guest.handle_rest(get_request())).unwrap();
    assert_eq!((response.status, response.body.len()), (200, 100));
    let response = runtime.block_on(guest.handle_rest(put_request())).unwrap();
    assert_eq!(response.status, 200);
    let get_line = || b"cmd=get|key=bench\n".to_vec();
    let update_line = || {
        let mut line = b"cmd=update|key=bench|type=text/plain|body=".to_vec();
        line.extend_from_slice(&[b'v'; 100]);
        line.push(b'\n');
        line
    };
    let replies = runtime
        .block_on(guest.handle_lines(&update_line()))
        .unwrap();
    let line = String::from_utf8(replies.out).unwrap();
    assert!(line.contains("\"ok\":true"), "{line}");
    let replies = runtime.block_on(guest.handle_lines(&get_line())).unwrap();
    let line = String::from_utf8(replies.out).unwrap();
    assert!(line.contains("\"ok\":true"), "{line}");

    let mut group = c.benchmark_group("call");
    group.bench_function("rest GET (wasm, warm instance)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_rest(get_request()).await.unwrap()) });
    });
    group.bench_function("rest PUT (wasm, warm instance)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_rest(put_request()).await.unwrap()) });
    });
    group.bench_function("command update (wasm, warm instance)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_lines(&update_line()).await.unwrap()) });
    });
    group.bench_function("command get (wasm, warm instance)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_lines(&get_line()).await.unwrap()) });
    });
    // A client pipelining 16 lines: one call for all of them.
    let sixteen: Vec<u8> = (0..16).flat_map(|_| get_line()).collect();
    group.bench_function("command get x16 (wasm, warm instance, one call)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_lines(&sixteen).await.unwrap()) });
    });
    // A call with nothing to do, an empty batch: the fixed cost of a call
    // (the pool, the fiber, lowering and lifting, post-return), which an
    // unpipelined client pays per request.
    let replies = runtime.block_on(guest.handle_lines(b"")).unwrap();
    assert!(replies.out.is_empty() && !replies.close);
    group.bench_function(
        "command, an empty batch (wasm, the call's fixed cost)",
        |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(guest.handle_lines(b"").await.unwrap()) });
        },
    );
    // The same batch's cost split: lines refused before they reach the
    // store (parsing and the error reply), then lines that cross into the
    // store and find nothing (adding the import's cost without a value).
    let missing: Vec<u8> = (0..16).flat_map(|_| b"cmd=get|key=\n".to_vec()).collect();
    let absent: Vec<u8> = (0..16)
        .flat_map(|_| b"cmd=get|key=absent\n".to_vec())
        .collect();
    // And one line of each alone, as an unpipelined client sends it: the
    // import's crossing (a missing key) apart from the call around it.
    let (one_missing, one_absent) = (b"cmd=get|key=\n".to_vec(), b"cmd=get|key=absent\n".to_vec());
    for (batch, lines, expected) in [
        (&sixteen, 16, r#""ok":true"#),
        (&missing, 16, r#""errorcode":8,"#),
        (&absent, 16, r#""errorcode":10,"#),
        (&one_missing, 1, r#""errorcode":8,"#),
        (&one_absent, 1, r#""errorcode":10,"#),
    ] {
        let replies = runtime.block_on(guest.handle_lines(batch)).unwrap();
        let text = String::from_utf8(replies.out).unwrap();
        assert_eq!(text.lines().count(), lines, "{text}");
        assert!(text.lines().all(|line| line.contains(expected)), "{text}");
    }
    group.bench_function("command, one line refused before the store (wasm)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_lines(&one_missing).await.unwrap()) });
    });
    group.bench_function("command get of a missing key (wasm)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_lines(&one_absent).await.unwrap()) });
    });
    group.bench_function("command x16 refused before the store (wasm)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_lines(&missing).await.unwrap()) });
    });
    group.bench_function("command get x16 of a missing key (wasm)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(guest.handle_lines(&absent).await.unwrap()) });
    });
    // A Redis client pipelining 16 GETs, then 16 SETs of the value the key
    // holds: one call for each batch.
    let (mut resp_gets, mut resp_sets) = (Vec::new(), Vec::new());
    for _ in 0..16 {
        kvs_model::resp::encode_command(&[&b"GET"[..], b"bench"], &mut resp_gets);
        kvs_model::resp::encode_command(&[&b"SET"[..], b"bench", &[b'v'; 100]], &mut resp_sets);
    }
    let mut value_reply = b"$100\r\n".to_vec();
    value_reply.extend_from_slice(&[b'v'; 100]);
    value_reply.extend_from_slice(b"\r\n");
    for (name, batch, reply) in [
        (
            "resp GET x16 (wasm, warm instance, one call)",
            &resp_gets,
            &value_reply[..],
        ),
        (
            "resp SET x16 (wasm, warm instance, one call)",
            &resp_sets,
            b"+OK\r\n",
        ),
    ] {
        let replies = runtime
            .block_on(guest.handle_resp(RespSession::default(), batch))
            .unwrap();
        assert_eq!(replies.out, reply.repeat(16), "{name}");
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(
                    guest
                        .handle_resp(RespSession::default(), batch)
                        .await
                        .unwrap(),
                )
            });
        });
    }
    group.bench_function("wasi-http GET (wasm, fresh instance)", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = hyper::Request::get("/kvs/bench")
                .header("host", "kvs")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = guest.handle_http(request).await.unwrap();
            black_box(response.into_body().collect().await.unwrap().to_bytes())
        });
    });
    group.bench_function("rest GET (native)", |b| {
        b.iter(|| black_box(native::handle_rest(app.memory().unwrap(), get_request())));
    });
    group.bench_function("rest PUT (native)", |b| {
        b.iter(|| black_box(native::handle_rest(app.memory().unwrap(), put_request())));
    });
    group.bench_function("command update (native)", |b| {
        b.iter(|| black_box(native::handle_lines(app.memory().unwrap(), &update_line())));
    });
    group.bench_function("command get (native)", |b| {
        b.iter(|| black_box(native::handle_lines(app.memory().unwrap(), &get_line())));
    });
    group.bench_function("command get x16 (native)", |b| {
        b.iter(|| black_box(native::handle_lines(app.memory().unwrap(), &sixteen)));
    });
    group.bench_function("resp GET x16 (native)", |b| {
        b.iter(|| {
            black_box(native::handle_resp(
                &app,
                app.memory().unwrap(),
                RespSession::default(),
                &resp_gets,
            ))
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = calls
}
criterion_main!(benches);
