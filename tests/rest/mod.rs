//! The REST API suite, written once against [`Target`] and run against every
//! deployment: the kvs host (`tests/http.rs`) and stock `wasmtime serve` with
//! the portable guest (`tests/wasmtime_serve.rs`).

#![allow(
    dead_code,
    reason = "each test binary uses the suite through its own macro call"
)]

use crate::common::{Target, client, noise, png_image, raw_http};
use futures::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub async fn json_body(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors and listings are JSON"
    );
    response.json().await.unwrap()
}

pub fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_string()
}

pub async fn the_seed_readme_examples_get_the_documented_answers(server: &impl Target) {
    let http = client();
    let doc = r#"{"Name":"K0","Nested":{"List":[1,2,{"Deep":true}],"Text":"héllo"}}"#;

    // GET of a missing key: 404 with the Go server's envelope and code.
    let response = http.get(server.url("/kvs/k0")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json_body(response).await,
        json!({"error": "Error not found", "errorcode": 10, "errors": {}})
    );

    // POST creates: 201, Location, ETag.
    let response = http
        .post(server.url("/kvs/k0_"))
        .header("content-type", "application/json")
        .body(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/kvs/k0_");
    let created = etag(&response);
    assert!(
        created.starts_with('"') && created.ends_with('"'),
        "{created}"
    );

    // GET returns the bytes and the type exactly, with the same ETag.
    let response = http.get(server.url("/kvs/k0_")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(etag(&response), created);
    assert_eq!(response.bytes().await.unwrap(), doc.as_bytes());

    // POST again never overwrites.
    let response = http
        .post(server.url("/kvs/k0_"))
        .body("other")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(json_body(response).await["errorcode"], 15);
    let response = http.get(server.url("/kvs/k0_")).send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap(), doc.as_bytes());

    // PUT updates an existing key, with a new ETag.
    let response = http
        .put(server.url("/kvs/k0_"))
        .header("content-type", "application/json")
        .body(r#"{"KUpdated": "Updated"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let updated = etag(&response);
    assert_ne!(updated, created);

    // PUT never creates.
    let response = http
        .put(server.url("/kvs/k0"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(response).await["errorcode"], 10);
    let response = http.get(server.url("/kvs/k0")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // DELETE returns the removed value with its type; a second DELETE is 404.
    let response = http.delete(server.url("/kvs/k0_")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(etag(&response), updated);
    assert_eq!(
        response.bytes().await.unwrap(),
        &br#"{"KUpdated": "Updated"}"#[..]
    );
    let response = http.delete(server.url("/kvs/k0_")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json_body(response).await,
        json!({"error": "Error not found", "errorcode": 10, "errors": {}})
    );
}

pub async fn content_types_are_kept_verbatim_or_defaulted(server: &impl Target) {
    let http = client();
    let cases = [
        ("plain", None, "application/octet-stream"),
        (
            "charset",
            Some("application/json; charset=utf-8"),
            "application/json; charset=utf-8",
        ),
        ("odd", Some("Text/X-Custom;A=B"), "Text/X-Custom;A=B"),
    ];
    for (key, sent, stored) in cases {
        let mut request = http.post(server.url(&format!("/kvs/{key}"))).body("v");
        if let Some(sent) = sent {
            request = request.header("content-type", sent);
        }
        assert_eq!(request.send().await.unwrap().status(), StatusCode::CREATED);
        let response = http
            .get(server.url(&format!("/kvs/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], stored, "key {key}");
    }
}

pub async fn empty_bodies_are_empty_values(server: &impl Target) {
    let http = client();
    let response = http.post(server.url("/kvs/empty")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = http.get(server.url("/kvs/empty")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], "0");
    assert!(response.bytes().await.unwrap().is_empty());
}

pub async fn a_png_of_several_mib_and_binary_noise_round_trip_byte_for_byte(server: &impl Target) {
    let http = client();
    let image = png_image(1200, 1000);
    assert!(image.len() > 4 << 20, "the image is several MiB");
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
    let response = http
        .post(server.url("/kvs/picture.png"))
        .header("content-type", "image/png")
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = http
        .get(server.url("/kvs/picture.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(
        response.headers()["content-length"],
        image.len().to_string().as_str()
    );
    assert!(response.bytes().await.unwrap() == image, "PNG bytes differ");

    let blob = noise(15 << 20, 3);
    let response = http
        .put(server.url("/kvs/picture.png"))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http
        .delete(server.url("/kvs/picture.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert!(
        response.bytes().await.unwrap() == blob,
        "noise bytes differ"
    );
}

pub async fn chunked_uploads_work_like_any_other_body(server: &impl Target) {
    let http = client();
    // A streamed body has no length, so reqwest sends it chunked.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|i| Ok(noise(10_000, i))).collect();
    let expected: Vec<u8> = chunks
        .iter()
        .flat_map(|c| c.as_ref().unwrap().clone())
        .collect();
    let response = http
        .post(server.url("/kvs/chunked"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let stored = http
        .get(server.url("/kvs/chunked"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(stored == expected, "chunked body differs");

    // And on the wire, spelled out (the Go server panicked on this).
    let answer = raw_http(
        server.http_addr(),
        b"POST /kvs/raw HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let stored = http.get(server.url("/kvs/raw")).send().await.unwrap();
    assert_eq!(stored.text().await.unwrap(), "hello world");
}

pub async fn bodies_over_the_limit_get_413_and_store_nothing(server: &impl Target) {
    let http = client();
    let limit = server.max_value_bytes();

    // Declared too large: refused from the header alone, before any of the
    // body is sent (a client sending it anyway may see the connection close
    // mid-upload, so this speaks raw HTTP and sends none).
    let head = format!(
        "POST /kvs/big HTTP/1.1\r\nhost: kvs\r\ncontent-length: {}\r\n\r\n",
        limit + 1
    );
    let answer = raw_http(server.http_addr(), head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap();
    assert_eq!(body["errorcode"], 17);
    assert!(
        body["error"].as_str().unwrap().contains(&limit.to_string()),
        "{body}"
    );

    // Streamed too large: refused once it passes the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..limit / (64 * 1024) + 2)
        .map(|_| Ok(vec![b'y'; 64 * 1024]))
        .collect();
    let response = http
        .post(server.url("/kvs/big"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    // The server may answer before the client finished sending, which some
    // clients surface as a broken pipe; when an answer arrives, it is 413.
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let response = http.get(server.url("/kvs/big")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Exactly at the limit is fine.
    let response = http
        .post(server.url("/kvs/big"))
        .body(vec![b'z'; limit])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

pub async fn keys_are_percent_decoded_path_segments(server: &impl Target) {
    let http = client();
    for (path, key) in [
        ("/kvs/a%2Fb", "a/b"),
        ("/kvs/a%20b", "a b"),
        ("/kvs/a-b", "a-b"),
        ("/kvs/a.b", "a.b"),
        ("/kvs/%E2%9C%93", "✓"),
    ] {
        let response = http.post(server.url(path)).body(key).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), key, "{path}");
    }
    // `/kvs/a/b` names the same key as `/kvs/a%2Fb`.
    let response = http.get(server.url("/kvs/a/b")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "a/b");
    let listing = json_body(http.get(server.url("/kvs")).send().await.unwrap()).await;
    assert_eq!(listing["keys"], json!(["a b", "a-b", "a.b", "a/b", "✓"]));

    // Invalid UTF-8 after decoding: 400 with the invalid-URL code.
    let response = http.get(server.url("/kvs/%FF")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(response).await["errorcode"], 11);

    // Over the key limit: 413.
    let long = "k".repeat(1025);
    let response = http
        .post(server.url(&format!("/kvs/{long}")))
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

pub async fn if_match_makes_writes_conditional(server: &impl Target) {
    let http = client();
    let response = http
        .post(server.url("/kvs/c"))
        .body("1")
        .send()
        .await
        .unwrap();
    let v1 = etag(&response);
    let response = http
        .put(server.url("/kvs/c"))
        .body("2")
        .send()
        .await
        .unwrap();
    let v2 = etag(&response);

    for stale in [v1.as_str(), "\"999999\"", "W/\"1\"", "garbage"] {
        let response = http
            .put(server.url("/kvs/c"))
            .header("if-match", stale)
            .body("3")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PRECONDITION_FAILED,
            "{stale}"
        );
        assert_eq!(json_body(response).await["errorcode"], 16);
        let response = http
            .delete(server.url("/kvs/c"))
            .header("if-match", stale)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PRECONDITION_FAILED,
            "{stale}"
        );
    }
    let response = http.get(server.url("/kvs/c")).send().await.unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "2",
        "failed writes changed nothing"
    );

    let response = http
        .put(server.url("/kvs/c"))
        .header("if-match", &v2)
        .body("3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let v3 = etag(&response);
    let response = http
        .put(server.url("/kvs/c"))
        .header("if-match", "*")
        .body("4")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let v4 = etag(&response);
    assert_ne!(v3, v4);
    let response = http
        .delete(server.url("/kvs/c"))
        .header("if-match", &v4)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "4");
}

/// `If-Match` per RFC 9110: a list matches if any member does, repeated
/// headers are one list, and a condition on a missing key fails (412) for
/// every method, `POST` included.
pub async fn if_match_lists_repeated_headers_and_missing_keys(server: &impl Target) {
    let http = client();
    let response = http
        .post(server.url("/kvs/l"))
        .body("1")
        .send()
        .await
        .unwrap();
    let mut current = etag(&response);
    for order in ["first", "last"] {
        let list = match order {
            "first" => format!("{current}, \"2551\""),
            _ => format!("\"2551\", {current}"),
        };
        let response = http
            .put(server.url("/kvs/l"))
            .header("if-match", &list)
            .body(format!("by list, {order}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{list}");
        current = etag(&response);
        // Repeated headers: the current tag in the second one.
        let response = http
            .put(server.url("/kvs/l"))
            .header("if-match", "\"2551\"")
            .header("if-match", &current)
            .body("by repeated header")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "repeated headers");
        let stale_tag = current.clone();
        current = etag(&response);
        let stale = http
            .put(server.url("/kvs/l"))
            .header("if-match", "\"2551\", W/\"1\"")
            .header("if-match", &stale_tag)
            .body("stale")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    }
    let current = http.get(server.url("/kvs/l")).send().await.unwrap();
    let tag = etag(&current);
    assert_eq!(current.text().await.unwrap(), "by repeated header");
    let deleted = http
        .delete(server.url("/kvs/l"))
        .header("if-match", format!("\"7777\", {tag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);

    for tag in [tag.as_str(), "*"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let response = http
                .request(method.clone(), server.url("/kvs/l"))
                .header("if-match", tag)
                .body("x")
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::PRECONDITION_FAILED,
                "{method} with If-Match {tag} on a missing key"
            );
            assert_eq!(json_body(response).await["errorcode"], 16);
        }
    }
    let response = http.get(server.url("/kvs/l")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "nothing was created"
    );
    // On an existing key, a POST whose condition holds is still a conflict.
    let response = http
        .post(server.url("/kvs/l"))
        .body("1")
        .send()
        .await
        .unwrap();
    let tag = etag(&response);
    let response = http
        .post(server.url("/kvs/l"))
        .header("if-match", &tag)
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

/// A malformed percent-escape in a key or query is a 400, never a key of
/// its own; two `Content-Type` headers are a 400, never the first of them.
pub async fn malformed_escapes_and_repeated_content_types_get_400(server: &impl Target) {
    let http = client();
    for path in [
        "/kvs/bad%G1",
        "/kvs/trail%",
        "/kvs/short%4",
        "/kvs?prefix=%zz",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(json_body(response).await["errorcode"], 11, "{path}");
        if path.starts_with("/kvs/") {
            let response = http.post(server.url(path)).body("v").send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        }
    }
    let response = http
        .post(server.url("/kvs/two-types"))
        .header("content-type", "text/plain")
        .header("content-type", "image/png")
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_body(response).await["error"]
            .as_str()
            .unwrap()
            .contains("Content-Type")
    );
    let response = http.get(server.url("/kvs/two-types")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let listing: serde_json::Value = crate::common::get_json(server.url("/kvs")).await;
    assert_eq!(
        listing["keys"],
        serde_json::json!([]),
        "no literal keys were made"
    );
}

pub async fn head_is_get_without_a_body(server: &impl Target) {
    let http = client();
    http.post(server.url("/kvs/h"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let response = http.head(server.url("/kvs/h")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.headers()["content-length"], "5");
    assert!(response.headers().contains_key("etag"));
    assert!(response.bytes().await.unwrap().is_empty());
    let response = http.head(server.url("/kvs/missing")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

pub async fn other_methods_get_405_with_allow_and_other_paths_404(server: &impl Target) {
    let http = client();
    for method in ["PATCH", "OPTIONS", "TRACE"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = http
            .request(method.clone(), server.url("/kvs/k"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, HEAD, POST, PUT, DELETE");
        assert_eq!(json_body(response).await["errorcode"], 19);
    }
    let response = http
        .post(server.url("/kvs"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    for path in ["/", "/kv", "/kvsx/a", "/other/kvs/a"] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json_body(response).await["errorcode"], 11, "{path}");
    }
}

pub async fn listing_pages_by_prefix_limit_and_cursor(server: &impl Target) {
    let http = client();
    for i in 0..25 {
        http.post(server.url(&format!("/kvs/user:{i:02}")))
            .body("u")
            .send()
            .await
            .unwrap();
    }
    http.post(server.url("/kvs/other"))
        .body("o")
        .send()
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = server.url("/kvs?prefix=user%3A&limit=10");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = json_body(http.get(url).send().await.unwrap()).await;
        let keys = page["keys"].as_array().unwrap();
        assert!(keys.len() <= 10);
        seen.extend(keys.iter().map(|k| k.as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("user:{i:02}")).collect();
    assert_eq!(seen, expected);

    let all = json_body(http.get(server.url("/kvs/")).send().await.unwrap()).await;
    assert_eq!(all["keys"].as_array().unwrap().len(), 26);
    assert_eq!(all["next_cursor"], Value::Null);

    for bad in [
        "limit=0",
        "limit=-1",
        "limit=ten",
        "cursor=%%%",
        "cursor=!!",
    ] {
        let response = http
            .get(server.url(&format!("/kvs?{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let code = json_body(response).await["errorcode"].as_u64().unwrap();
        assert!(code == 8 || code == 11, "{bad}: {code}");
    }
    // A huge limit is clamped to the page size, not refused.
    let response = http
        .get(server.url("/kvs?limit=4000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

pub async fn malformed_requests_get_400_and_the_server_keeps_serving(server: &impl Target) {
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /kvs/a HTTP/9.9\r\n\r\n",
        b"POST /kvs/a HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        b"POST /kvs/a HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n",
    ] {
        let answer = raw_http(server.http_addr(), request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    }
    let response = client().get(server.url("/kvs/a")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Many clients at once on distinct and shared keys; every reply is checked
/// against what the store must have answered.
pub async fn no_wrong_replies_under_concurrency(server: &impl Target) {
    let http = client();
    const CLIENTS: usize = 16;
    const ROUNDS: usize = 40;

    // Distinct keys: each client's own create/get/update/get/delete/get cycle
    // has exactly one right answer at every step.
    let distinct = futures::stream::iter(0..CLIENTS)
        .map(|client_id| {
            let http = http.clone();
            let base = server.url("/kvs");
            async move {
                for round in 0..ROUNDS {
                    let url = format!("{base}/own-{client_id}-{round}");
                    let value = format!("{client_id}:{round}");
                    let r = http.post(&url).body(value.clone()).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED);
                    let r = http.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                    assert_eq!(r.text().await.unwrap(), value);
                    let r = http
                        .put(&url)
                        .body(format!("{value}!"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                    let r = http.get(&url).send().await.unwrap();
                    assert_eq!(r.text().await.unwrap(), format!("{value}!"));
                    let r = http.delete(&url).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                    assert_eq!(r.text().await.unwrap(), format!("{value}!"));
                    let r = http.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::NOT_FOUND);
                }
            }
        })
        .buffer_unordered(CLIENTS)
        .collect::<Vec<()>>();

    // Shared keys: every client races to create, update and delete the same
    // few keys. Each reply must be one of the legal answers, and per key and
    // round exactly one create and at most one delete may win.
    let shared = futures::stream::iter(0..CLIENTS)
        .map(|client_id| {
            let http = http.clone();
            let base = server.url("/kvs");
            async move {
                let mut wins = Vec::new();
                for round in 0..ROUNDS {
                    let url = format!("{base}/shared-{}", round % 4);
                    let value = format!("{client_id}:{round}");
                    let r = http.post(&url).body(value.clone()).send().await.unwrap();
                    match r.status() {
                        StatusCode::CREATED => wins.push(round),
                        StatusCode::CONFLICT => {}
                        other => panic!("create answered {other}"),
                    }
                    let r = http.put(&url).body(value.clone()).send().await.unwrap();
                    assert!(
                        matches!(r.status(), StatusCode::OK | StatusCode::NOT_FOUND),
                        "update answered {}",
                        r.status()
                    );
                    let r = http.get(&url).send().await.unwrap();
                    match r.status() {
                        StatusCode::OK => {
                            let body = r.text().await.unwrap();
                            let (writer, _) =
                                body.split_once(':').expect("a value some client wrote");
                            assert!(writer.parse::<usize>().unwrap() < CLIENTS);
                        }
                        StatusCode::NOT_FOUND => {}
                        other => panic!("get answered {other}"),
                    }
                    let r = http.delete(&url).send().await.unwrap();
                    assert!(
                        matches!(r.status(), StatusCode::OK | StatusCode::NOT_FOUND),
                        "delete answered {}",
                        r.status()
                    );
                }
                wins.len()
            }
        })
        .buffer_unordered(CLIENTS)
        .collect::<Vec<usize>>();

    let ((), wins) = tokio::join!(
        async {
            distinct.await;
        },
        shared
    );
    assert!(wins.iter().sum::<usize>() >= 1);
    // Everything the distinct clients created they deleted: nothing is left
    // but possibly the shared keys.
    let listing = json_body(
        http.get(server.url("/kvs?limit=1000"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let left = listing["keys"].as_array().unwrap();
    assert!(
        left.iter()
            .all(|k| k.as_str().unwrap().starts_with("shared-")),
        "{left:?} left"
    );
}

/// Clients increment one shared counter with read, then `PUT` + `If-Match`,
/// retrying on 412. If any acknowledged write were lost or any conditional
/// write applied against the wrong version, the total would come out short.
pub async fn conditional_updates_lose_no_increment(server: &impl Target) {
    let http = client();
    const CLIENTS: usize = 8;
    const INCREMENTS: usize = 25;
    let url = server.url("/kvs/counter");
    http.post(&url).body("0").send().await.unwrap();

    let tasks = (0..CLIENTS).map(|_| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let r = http.get(&url).send().await.unwrap();
                    let tag = etag(&r);
                    let n: u64 = r.text().await.unwrap().parse().unwrap();
                    let r = http
                        .put(&url)
                        .header("if-match", tag)
                        .body((n + 1).to_string())
                        .send()
                        .await
                        .unwrap();
                    match r.status() {
                        StatusCode::OK => break,
                        StatusCode::PRECONDITION_FAILED => conflicts += 1,
                        other => panic!("conditional update answered {other}"),
                    }
                }
            }
            conflicts
        }
    });
    futures::future::join_all(tasks).await;
    let total = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(total, (CLIENTS * INCREMENTS).to_string());
}

/// Defines one `#[tokio::test]` per suite function, each on a fresh server
/// from `$start`: a future yielding `Some(target)`, or `None` when this
/// deployment cannot run here (the test then passes with a notice).
#[macro_export]
macro_rules! rest_suite {
    ($start:expr) => {
        #[tokio::test]
        async fn the_seed_readme_examples_get_the_documented_answers() {
            let Some(server) = $start.await else {
                return;
            };
            rest::the_seed_readme_examples_get_the_documented_answers(&server).await;
        }
        #[tokio::test]
        async fn content_types_are_kept_verbatim_or_defaulted() {
            let Some(server) = $start.await else {
                return;
            };
            rest::content_types_are_kept_verbatim_or_defaulted(&server).await;
        }
        #[tokio::test]
        async fn empty_bodies_are_empty_values() {
            let Some(server) = $start.await else {
                return;
            };
            rest::empty_bodies_are_empty_values(&server).await;
        }
        #[tokio::test]
        async fn a_png_of_several_mib_and_binary_noise_round_trip_byte_for_byte() {
            let Some(server) = $start.await else {
                return;
            };
            rest::a_png_of_several_mib_and_binary_noise_round_trip_byte_for_byte(&server).await;
        }
        #[tokio::test]
        async fn chunked_uploads_work_like_any_other_body() {
            let Some(server) = $start.await else {
                return;
            };
            rest::chunked_uploads_work_like_any_other_body(&server).await;
        }
        #[tokio::test]
        async fn bodies_over_the_limit_get_413_and_store_nothing() {
            let Some(server) = $start.await else {
                return;
            };
            rest::bodies_over_the_limit_get_413_and_store_nothing(&server).await;
        }
        #[tokio::test]
        async fn keys_are_percent_decoded_path_segments() {
            let Some(server) = $start.await else {
                return;
            };
            rest::keys_are_percent_decoded_path_segments(&server).await;
        }
        #[tokio::test]
        async fn if_match_makes_writes_conditional() {
            let Some(server) = $start.await else {
                return;
            };
            rest::if_match_makes_writes_conditional(&server).await;
        }
        #[tokio::test]
        async fn if_match_lists_repeated_headers_and_missing_keys() {
            let Some(server) = $start.await else {
                return;
            };
            rest::if_match_lists_repeated_headers_and_missing_keys(&server).await;
        }
        #[tokio::test]
        async fn malformed_escapes_and_repeated_content_types_get_400() {
            let Some(server) = $start.await else {
                return;
            };
            rest::malformed_escapes_and_repeated_content_types_get_400(&server).await;
        }
        #[tokio::test]
        async fn head_is_get_without_a_body() {
            let Some(server) = $start.await else {
                return;
            };
            rest::head_is_get_without_a_body(&server).await;
        }
        #[tokio::test]
        async fn other_methods_get_405_with_allow_and_other_paths_404() {
            let Some(server) = $start.await else {
                return;
            };
            rest::other_methods_get_405_with_allow_and_other_paths_404(&server).await;
        }
        #[tokio::test]
        async fn listing_pages_by_prefix_limit_and_cursor() {
            let Some(server) = $start.await else {
                return;
            };
            rest::listing_pages_by_prefix_limit_and_cursor(&server).await;
        }
        #[tokio::test]
        async fn malformed_requests_get_400_and_the_server_keeps_serving() {
            let Some(server) = $start.await else {
                return;
            };
            rest::malformed_requests_get_400_and_the_server_keeps_serving(&server).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn no_wrong_replies_under_concurrency() {
            let Some(server) = $start.await else {
                return;
            };
            rest::no_wrong_replies_under_concurrency(&server).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conditional_updates_lose_no_increment() {
            let Some(server) = $start.await else {
                return;
            };
            rest::conditional_updates_lose_no_increment(&server).await;
        }
    };
}
