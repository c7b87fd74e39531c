//! The key explorer on the admin listener: its HTTP surface (the page's
//! files and their content policy, `/kvs` through the public API's logic,
//! the token, cross-site refusals) and the page itself in a real headless
//! Chromium driven over WebDriver (`common::browser`).
//!
//! Screenshots of the main views land in `target/explorer-screenshots/`.

mod common;

use common::browser::Browser;
use common::{Options, Target as _, TestServer, client, noise, png_image};
use reqwest::StatusCode;
use serde_json::Value;

const CANARY_GUEST: &str = env!("KVS_GUEST_CANARY");

fn admin_url(server: &TestServer, path: &str) -> String {
    format!("http://{}{path}", server.admin)
}

async fn put(server: &TestServer, key: &str, content_type: &str, body: Vec<u8>) {
    let response = client()
        .post(server.url(&format!("/kvs/{key}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "creating {key}");
}

async fn get(server: &TestServer, key: &str) -> reqwest::Response {
    client()
        .get(server.url(&format!("/kvs/{key}")))
        .send()
        .await
        .unwrap()
}

/// Puts a key straight into the store (thousands, quickly).
fn fill(server: &TestServer, key: &str, value: &'static [u8]) {
    server
        .app
        .memory()
        .unwrap()
        .create(
            key,
            "application/json",
            bytes::Bytes::from_static(value),
            None,
        )
        .unwrap();
}

/// A browser and a server, or `None` where there is no browser to drive.
async fn start(options: Options) -> Option<(Browser, TestServer)> {
    let browser = Browser::start().await?;
    Some((browser, TestServer::start_with(options).await))
}

async fn finish(browser: Browser, server: TestServer) {
    browser.close().await;
    server.stop().await;
}

/// Opens the explorer and waits until it has listed the first page.
async fn open(browser: &Browser, server: &TestServer) {
    browser.goto(&admin_url(server, "/")).await;
    browser
        .wait_until("!document.getElementById('app').hidden && document.getElementById('page-label').textContent !== ''")
        .await;
}

// ---- the HTTP surface -------------------------------------------------------

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_policy() {
    let server = TestServer::start().await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/explorer.js", "text/javascript; charset=utf-8"),
        ("/explorer.css", "text/css; charset=utf-8"),
    ] {
        let response = client().get(admin_url(&server, path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        let body = response.text().await.unwrap();
        // Nothing from elsewhere: no CDN, no fonts, no inline script.
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} refers elsewhere"
        );
        if path == "/" {
            assert!(body.contains("<script src=\"/explorer.js\" defer></script>"));
            assert!(!body.contains("<script>"), "inline script in the page");
        }
    }
    let head = client().head(admin_url(&server, "/")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("content-security-policy"));
    let post = client().post(admin_url(&server, "/")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    server.stop().await;
}

#[tokio::test]
async fn kvs_on_the_admin_listener_is_the_public_api() {
    let server = TestServer::start().await;
    let value = noise(10_000, 3);
    let created = client()
        .post(admin_url(&server, "/kvs/a%2Fb?ttl=600"))
        .header("content-type", "application/x-thing")
        .body(value.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let etag = created.headers()["etag"].clone();
    // Written through the admin listener, read through the public one.
    let public = get(&server, "a%2Fb").await;
    assert_eq!(public.status(), StatusCode::OK);
    assert_eq!(public.headers()["content-type"], "application/x-thing");
    assert_eq!(public.headers()["etag"], etag);
    assert!(public.headers().contains_key("kvs-ttl"));
    assert_eq!(public.bytes().await.unwrap().as_ref(), &value[..]);
    // Errors are the public API's, in its envelope; a value opened on the
    // admin listener is sandboxed.
    let conflict = client()
        .put(admin_url(&server, "/kvs/a%2Fb"))
        .header("if-match", "\"999999\"")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), StatusCode::PRECONDITION_FAILED);
    let policy = conflict.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("sandbox;"), "{policy}");
    let body: Value = conflict.json().await.unwrap();
    assert_eq!(body["errorcode"], 16);
    let listing: Value = common::get_json(admin_url(&server, "/kvs?prefix=a")).await;
    assert_eq!(listing["keys"], serde_json::json!(["a/b"]));
    server.stop().await;
}

#[tokio::test]
async fn requests_from_other_sites_are_refused() {
    let server = TestServer::start().await;
    put(&server, "kept", "text/plain", b"safe".to_vec()).await;
    let refused = [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        // DNS rebinding: a foreign name that resolved to loopback.
        ("host", "evil.example"),
    ];
    for (header, value) in refused {
        for (method, path) in [
            ("DELETE", "/kvs/kept"),
            ("POST", "/rollback"),
            ("GET", "/status"),
        ] {
            let response = client()
                .request(method.parse().unwrap(), admin_url(&server, path))
                .header(header, value)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with {header}: {value}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["errorcode"], 26);
        }
    }
    assert_eq!(get(&server, "kept").await.text().await.unwrap(), "safe");
    // The page's own calls pass: same origin, or typed into the address bar.
    let origin = format!("http://{}", server.admin);
    for (header, value) in [
        ("origin", origin.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-site", "none"),
    ] {
        let response = client()
            .get(admin_url(&server, "/status"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{header}: {value}");
    }
    server.stop().await;
}

#[tokio::test]
async fn with_a_token_only_the_page_files_are_open() {
    let server = TestServer::start_with(Options {
        admin_token: Some("s3cret".into()),
        ..Options::default()
    })
    .await;
    put(&server, "private", "text/plain", b"value-7731".to_vec()).await;
    for path in ["/", "/explorer.js", "/explorer.css"] {
        let response = client().get(admin_url(&server, path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(!response.text().await.unwrap().contains("value-7731"));
    }
    for path in ["/kvs", "/kvs/private", "/status", "/metrics"] {
        let response = client().get(admin_url(&server, path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let with_token = client()
            .get(admin_url(&server, path))
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(with_token.status(), StatusCode::OK, "{path} with the token");
    }
    server.stop().await;
}

// ---- the page in a browser ------------------------------------------------

#[tokio::test]
async fn lists_and_pages_through_keys_by_prefix() {
    let Some((browser, server)) = start(Options::default()).await else {
        return;
    };
    let mut expected = Vec::new();
    for i in 0..2_500 {
        let key = format!("user:{i:04}");
        fill(&server, &key, b"{}");
        expected.push(key);
    }
    for i in 0..30 {
        fill(&server, &format!("order:{i}"), b"x");
    }
    open(&browser, &server).await;
    browser
        .wait_until("document.getElementById('summary').textContent.startsWith('2,530 keys')")
        .await;
    browser.screenshot("keys").await;
    browser.search("user:").await;
    let mut seen: Vec<String> = Vec::new();
    for page in 1..=25 {
        browser
            .wait_until(&format!(
                "document.getElementById('page-label').textContent.startsWith('Page {page} ')"
            ))
            .await;
        let keys = browser
            .eval("Array.from(document.querySelectorAll('#keys button'), b => b.textContent)")
            .await;
        if page == 2 {
            // The search typed above is still pending its pause when the button runs
            // it; once the pause is over, the reader must still be on page 2.
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            assert!(
                browser
                    .eval("document.getElementById('page-label').textContent")
                    .await
                    .as_str()
                    .is_some_and(|label| label.starts_with("Page 2 ")),
                "a search already run sent the reader back"
            );
        }
        let keys: Vec<String> = serde_json::from_value(keys).unwrap();
        assert_eq!(keys.len(), 100, "page {page}");
        seen.extend(keys);
        let last = page == 25;
        assert_eq!(
            browser
                .eval("document.getElementById('next-page').disabled")
                .await,
            Value::Bool(last),
            "page {page}"
        );
        if !last {
            browser.click("#next-page").await;
        }
    }
    assert_eq!(seen, expected, "every user: key once, in byte order");
    // Back one page, and a narrower prefix.
    browser.click("#prev-page").await;
    browser
        .wait_until("document.getElementById('page-label').textContent.startsWith('Page 24 ')")
        .await;
    browser.search("user:249").await;
    let keys = browser
        .eval("Array.from(document.querySelectorAll('#keys button'), b => b.textContent)")
        .await;
    assert_eq!(
        keys,
        serde_json::json!(
            (2490..2500)
                .map(|i| format!("user:{i}"))
                .collect::<Vec<_>>()
        )
    );
    finish(browser, server).await;
}

#[tokio::test]
async fn shows_json_images_text_and_bytes_as_what_they_are() {
    let Some((browser, server)) = start(Options::default()).await else {
        return;
    };
    let document =
        br#"{"name":"kvs","tags":["a","b"],"nested":{"deep":{"n":1.5,"ok":true,"none":null}}}"#;
    put(&server, "doc.json", "application/json", document.to_vec()).await;
    let png = png_image(37, 21);
    put(&server, "logo.png", "image/png", png).await;
    let binary: Vec<u8> = (0u8..=255).chain(0..40).collect();
    put(
        &server,
        "blob.bin",
        "application/octet-stream",
        binary.clone(),
    )
    .await;
    put(
        &server,
        "note.txt",
        "text/plain; charset=utf-8",
        "line one\n  line two ✓".as_bytes().to_vec(),
    )
    .await;
    open(&browser, &server).await;

    browser.open_key("doc.json").await;
    let shown = browser.text("#value").await;
    for line in [
        "\"name\": \"kvs\",",
        "\"tags\": [",
        "\"a\",",
        "\"n\": 1.5,",
        "\"ok\": true,",
        "\"none\": null",
    ] {
        assert!(shown.contains(line), "{line:?} not in\n{shown}");
    }
    assert_eq!(browser.text("#entry-type").await, "application/json");
    assert!(
        browser
            .text("#entry-size")
            .await
            .contains(&format!("({} bytes)", document.len()))
    );
    browser.screenshot("json").await;
    // Collapsible: closing the "nested" object hides what is inside it.
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#value details').length")
            .await,
        4
    );
    browser
        .eval("(document.querySelectorAll('#value details')[2].open = false, true)")
        .await;
    assert!(!browser.text("#value").await.contains("\"ok\": true"));

    browser.open_key("logo.png").await;
    browser
        .wait_until("document.querySelector('#value img') !== null && document.querySelector('#value img').complete")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#value img').naturalWidth")
            .await,
        37
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#value img').naturalHeight")
            .await,
        21
    );
    browser.screenshot("image").await;

    browser.open_key("blob.bin").await;
    let dump = browser.text("#value").await;
    assert!(
        dump.starts_with(
            "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  ................"
        ),
        "{dump}"
    );
    assert!(
        dump.contains(
            "00000040  40 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f  @ABCDEFGHIJKLMNO"
        ),
        "{dump}"
    );
    assert!(dump.contains("00000120  20 21 22 23 24 25 26 27"), "{dump}");
    // The download link hands over the exact bytes.
    browser.click("#download").await;
    assert_eq!(browser.downloaded("blob.bin").await, binary);

    browser.open_key("note.txt").await;
    assert_eq!(
        browser
            .eval("document.querySelector('#value pre').textContent")
            .await,
        "line one\n  line two ✓"
    );
    finish(browser, server).await;
}

#[tokio::test]
async fn a_stale_edit_is_shown_as_a_conflict_never_saved_over() {
    let Some((browser, server)) = start(Options::default()).await else {
        return;
    };
    put(&server, "config", "text/plain", b"first".to_vec()).await;
    open(&browser, &server).await;
    browser.open_key("config").await;
    browser.click("#edit").await;
    browser.type_into("#editor-value", "mine").await;
    // Someone else saves while the editor is open.
    let theirs = client()
        .put(server.url("/kvs/config"))
        .header("content-type", "text/plain")
        .body("theirs")
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::OK);
    browser.click("#save").await;
    browser
        .wait_until("!document.getElementById('conflict').hidden")
        .await;
    assert_eq!(browser.text("#conflict-value").await, "theirs");
    assert!(browser.text("#conflict-text").await.contains("not saved"));
    browser.screenshot("conflict").await;
    assert_eq!(get(&server, "config").await.text().await.unwrap(), "theirs");
    // Saving over it is the user's explicit choice, against the version seen.
    browser.click("#conflict-overwrite").await;
    browser
        .wait_until("!document.getElementById('entry').hidden && document.querySelector('#value pre') && document.querySelector('#value pre').textContent === 'mine'")
        .await;
    assert_eq!(get(&server, "config").await.text().await.unwrap(), "mine");
    finish(browser, server).await;
}

#[tokio::test]
async fn creates_from_a_file_sets_expiry_and_deletes() {
    let Some((browser, server)) = start(Options::default()).await else {
        return;
    };
    let image = png_image(16, 16);
    let folder = std::env::temp_dir().join(format!("kvs-explorer-upload-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("upload.png");
    std::fs::write(&file, &image).unwrap();
    open(&browser, &server).await;

    browser.click("#new-key").await;
    browser.type_into("#editor-key", "images/upload.png").await;
    let input = browser
        .client
        .find(fantoccini::Locator::Css("#editor-file"))
        .await
        .unwrap();
    input.send_keys(file.to_str().unwrap()).await.unwrap();
    browser
        .wait_until("document.getElementById('editor-type').value === 'image/png'")
        .await;
    browser.click("#save").await;
    browser
        .wait_until("!document.getElementById('entry').hidden && document.getElementById('entry-key').textContent === 'images/upload.png'")
        .await;
    let stored = get(&server, "images%2Fupload.png").await;
    assert_eq!(stored.status(), StatusCode::OK);
    assert_eq!(stored.headers()["content-type"], "image/png");
    assert_eq!(
        stored.bytes().await.unwrap().as_ref(),
        &image[..],
        "the file, byte for byte"
    );

    // Expiry: set, shown, then cleared; the value stays byte for byte.
    browser.type_into("#ttl", "600").await;
    browser.click("#expiry-form button[type=submit]").await;
    browser
        .wait_until("document.getElementById('entry-expiry').textContent.startsWith('in 600 s') || document.getElementById('entry-expiry').textContent.startsWith('in 599 s')")
        .await;
    let expiring = get(&server, "images%2Fupload.png").await;
    let ttl: u64 = expiring.headers()["kvs-ttl"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((590..=600).contains(&ttl), "{ttl}");
    assert_eq!(expiring.bytes().await.unwrap().as_ref(), &image[..]);
    browser.click("#persist").await;
    browser
        .wait_until("document.getElementById('entry-expiry').textContent === 'never'")
        .await;
    assert!(
        !get(&server, "images%2Fupload.png")
            .await
            .headers()
            .contains_key("kvs-ttl")
    );

    // A create of a key that exists is refused, not turned into an update.
    browser.click("#new-key").await;
    browser.type_into("#editor-key", "images/upload.png").await;
    browser.type_into("#editor-value", "text").await;
    browser.click("#save").await;
    browser
        .wait_until("document.getElementById('notice').textContent.includes('code 15')")
        .await;
    assert_eq!(
        get(&server, "images%2Fupload.png")
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        &image[..]
    );

    browser.open_key("images/upload.png").await;
    browser.click("#delete").await;
    browser
        .wait_until("!document.getElementById('confirm-delete').hidden")
        .await;
    assert_eq!(
        get(&server, "images%2Fupload.png").await.status(),
        StatusCode::OK,
        "not before confirming"
    );
    browser.click("#confirm-delete-yes").await;
    browser
        .wait_until("!document.getElementById('detail-empty').hidden")
        .await;
    assert_eq!(
        get(&server, "images%2Fupload.png").await.status(),
        StatusCode::NOT_FOUND
    );
    finish(browser, server).await;
    let _ = std::fs::remove_dir_all(folder);
}

#[tokio::test]
async fn swaps_and_rolls_back_the_guest_from_the_page() {
    let Some((browser, server)) = start(Options::default()).await else {
        return;
    };
    let folder = std::env::temp_dir().join(format!("kvs-explorer-guests-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let broken = folder.join("broken.wasm");
    std::fs::write(&broken, b"\0asm not really").unwrap();
    open(&browser, &server).await;
    browser.click("button[data-view=guest]").await;
    browser
        .wait_until("document.querySelector('#guest-current .generation').textContent === '1'")
        .await;

    let input = browser
        .client
        .find(fantoccini::Locator::Css("#component"))
        .await
        .unwrap();
    input.send_keys(broken.to_str().unwrap()).await.unwrap();
    browser.click("#swap-form button").await;
    browser
        .wait_until("document.getElementById('guest-result').textContent.startsWith('Rejected:')")
        .await;
    assert!(browser.text("#guest-result").await.contains("code 21"));
    assert_eq!(browser.text("#guest-current .generation").await, "1");

    let input = browser
        .client
        .find(fantoccini::Locator::Css("#component"))
        .await
        .unwrap();
    input.send_keys(CANARY_GUEST).await.unwrap();
    browser.click("#swap-form button").await;
    browser
        .wait_until("document.getElementById('guest-result').textContent.startsWith('Swapped: generation 2')")
        .await;
    assert_eq!(browser.text("#guest-current .generation").await, "2");
    assert_eq!(browser.text("#guest-previous .generation").await, "1");
    browser.screenshot("guest").await;
    // The canary serves the public API now.
    let status: Value = common::get_json(admin_url(&server, "/status")).await;
    assert_eq!(status["current"]["generation"], 2);

    // Rolling back returns to generation 1 (a rollback keeps the number).
    browser.click("#rollback").await;
    browser
        .wait_until("document.querySelector('#guest-current .generation').textContent === '1'")
        .await;
    assert!(
        browser
            .text("#guest-result")
            .await
            .starts_with("Swapped: generation 1 ")
    );
    assert_eq!(browser.text("#guest-previous .generation").await, "2");
    finish(browser, server).await;
    let _ = std::fs::remove_dir_all(folder);
}

#[tokio::test]
async fn stored_markup_and_scripts_are_shown_never_run() {
    let Some((browser, server)) = start(Options::default()).await else {
        return;
    };
    let html = r#"<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=2</script>"#;
    put(&server, "xss.html", "text/html", html.as_bytes().to_vec()).await;
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="window.pwned=3;alert(3)"><script>window.pwned=4;alert(4)</script><rect width="10" height="10"/></svg>"#;
    put(&server, "xss.svg", "image/svg+xml", svg.as_bytes().to_vec()).await;
    let json = r#"{"<img src=x onerror=alert(5)>":"<script>alert(6)</script>"}"#;
    put(
        &server,
        "xss.json",
        "application/json",
        json.as_bytes().to_vec(),
    )
    .await;
    // A key that is markup itself.
    put(
        &server,
        "%3Cimg%20src%3Dx%20onerror%3Dalert(7)%3E",
        "text/plain",
        b"k".to_vec(),
    )
    .await;
    open(&browser, &server).await;

    browser.open_key("xss.html").await;
    assert_eq!(
        browser
            .eval("document.querySelector('#value pre').textContent")
            .await,
        html
    );
    browser.open_key("xss.svg").await;
    browser
        .wait_until("document.querySelector('#value img') !== null && document.querySelector('#value img').complete")
        .await;
    browser.open_key("xss.json").await;
    assert!(
        browser
            .text("#value")
            .await
            .contains(r#""<img src=x onerror=alert(5)>": "<script>alert(6)</script>""#)
    );
    browser.open_key("<img src=x onerror=alert(7)>").await;
    assert_eq!(
        browser.text("#entry-key").await,
        "<img src=x onerror=alert(7)>"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!browser.has_alert().await, "a stored script ran");
    assert_eq!(
        browser.eval("window.pwned === undefined").await,
        Value::Bool(true)
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#app script').length")
            .await,
        0
    );
    finish(browser, server).await;
}

#[tokio::test]
async fn with_a_token_nothing_loads_before_sign_in() {
    let Some((browser, server)) = start(Options {
        admin_token: Some("s3cret".into()),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    put(&server, "private", "text/plain", b"value-7731".to_vec()).await;
    let reads = || async {
        let metrics = client()
            .get(admin_url(&server, "/metrics"))
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .filter(|line| line.starts_with("kvs_http_requests_total{"))
            .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum::<f64>()
    };
    let requests_before = reads().await;
    browser.goto(&admin_url(&server, "/")).await;
    browser
        .wait_until("!document.getElementById('sign-in').hidden")
        .await;
    assert_eq!(
        browser.eval("document.getElementById('app').hidden").await,
        Value::Bool(true)
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#keys li').length")
            .await,
        0
    );
    assert_eq!(browser.text("#summary").await, "");
    assert!(
        !browser
            .eval("document.body.textContent")
            .await
            .as_str()
            .unwrap()
            .contains("value-7731")
    );
    browser.screenshot("sign-in").await;

    browser.type_into("#token", "wrong").await;
    browser.click("#sign-in-form button").await;
    browser
        .wait_until("document.getElementById('sign-in-error').textContent.includes('refused')")
        .await;
    assert_eq!(
        browser.eval("document.getElementById('app').hidden").await,
        Value::Bool(true)
    );
    // No data was read for the page so far.
    assert_eq!(reads().await, requests_before);
    // The token never lands in the URL.
    assert!(
        !browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("s3cret")
    );

    browser.type_into("#token", "s3cret").await;
    browser.click("#sign-in-form button").await;
    browser
        .wait_until("!document.getElementById('app').hidden && document.querySelector('#keys button[data-key=private]') !== null")
        .await;
    assert!(
        !browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("s3cret")
    );
    browser.open_key("private").await;
    assert_eq!(
        browser
            .eval("document.querySelector('#value pre').textContent")
            .await,
        "value-7731"
    );
    browser.click("#sign-out").await;
    browser
        .wait_until("!document.getElementById('sign-in').hidden")
        .await;
    finish(browser, server).await;
}

#[tokio::test]
async fn the_live_panel_shows_the_traffic() {
    let Some((browser, server)) = start(Options::default()).await else {
        return;
    };
    open(&browser, &server).await;
    browser.click("button[data-view=live]").await;
    // Traffic for a few seconds, with a 404 or two (not errors: 5xx are).
    let load = {
        let url = server.url("/kvs/");
        tokio::spawn(async move {
            let http = client();
            for i in 0..2_000 {
                let _ = http.post(format!("{url}live{i}")).body("v").send().await;
                let _ = http.get(format!("{url}live{i}")).send().await;
            }
        })
    };
    browser
        .wait_until("/^[1-9][0-9]* HTTP\\/s/.test(document.getElementById('live-rps').textContent)")
        .await;
    browser
        .wait_until("/ ms \\/ .* ms$/.test(document.getElementById('live-latency').textContent)")
        .await;
    load.await.unwrap();
    browser
        .wait_until("document.getElementById('live-keys').textContent === '2,000'")
        .await;
    assert_eq!(browser.text("#live-errors").await, "0.0");
    browser.screenshot("live").await;
    finish(browser, server).await;
}
