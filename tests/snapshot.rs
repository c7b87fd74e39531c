//! `--snapshot`: the store survives restarts of the real binary; a snapshot
//! cut short by a kill never replaces the last complete one; a torn or
//! corrupt file stops start-up instead of being loaded in part.

mod common;

use common::process::{Server, fails_to_start, sigterm, start, wait_with_deadline};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh directory for one test's snapshot, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kvs-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn snapshot(&self) -> PathBuf {
        self.0.join("store.snapshot")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn with_snapshot(path: &Path, interval: &str) -> (Server, SocketAddr) {
    let path = path.to_str().unwrap();
    let (server, http, _tcp) = start(&["--snapshot", path, "--snapshot-interval-secs", interval]);
    (server, http)
}

fn blocking_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn url(http: SocketAddr, key: &str) -> String {
    format!("http://{http}/kvs/{key}")
}

fn stop(mut server: Server) {
    sigterm(&server);
    let status = wait_with_deadline(&mut server, Duration::from_secs(60));
    assert!(status.success(), "exit status {status}");
}

#[test]
fn the_store_survives_a_restart_with_values_types_and_versions() {
    let scratch = Scratch::new("restart");
    let (server, http) = with_snapshot(&scratch.snapshot(), "3600");
    let client = blocking_client();
    let image = common::png_image(64, 64);
    let noise = common::noise(100_000, 7);
    let put = |key: &str, content_type: &str, body: Vec<u8>| {
        let response = client
            .post(url(http, key))
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 201);
        response.headers()["etag"].to_str().unwrap().to_string()
    };
    let image_etag = put("image", "image/png", image.clone());
    let noise_etag = put("noise", "application/octet-stream", noise.clone());
    put("gone", "text/plain", b"deleted before the restart".to_vec());
    client.delete(url(http, "gone")).send().unwrap();
    stop(server);

    let (server, http) = with_snapshot(&scratch.snapshot(), "3600");
    for (key, content_type, body, etag) in [
        ("image", "image/png", &image, &image_etag),
        ("noise", "application/octet-stream", &noise, &noise_etag),
    ] {
        let response = client.get(url(http, key)).send().unwrap();
        assert_eq!(response.status(), 200, "{key}");
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(response.headers()["etag"].to_str().unwrap(), etag.as_str());
        assert!(response.bytes().unwrap() == body[..], "{key} byte for byte");
    }
    assert_eq!(client.get(url(http, "gone")).send().unwrap().status(), 404);
    // Versions go on above the restored ones: an old ETag never comes back.
    let response = client
        .put(url(http, "image"))
        .header("if-match", image_etag.as_str())
        .body("new")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let new_etag = response.headers()["etag"].to_str().unwrap().to_string();
    let version = |etag: &str| etag.trim_matches('"').parse::<u64>().unwrap();
    assert!(version(&new_etag) > version(&image_etag).max(version(&noise_etag)));
    stop(server);
}

#[test]
fn a_torn_or_corrupt_snapshot_stops_start_up_and_names_the_file() {
    let scratch = Scratch::new("corrupt");
    let path = scratch.snapshot();
    let (server, http) = with_snapshot(&path, "3600");
    blocking_client()
        .post(url(http, "k"))
        .body("v")
        .send()
        .unwrap();
    stop(server);
    let good = std::fs::read(&path).unwrap();

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    let cases = [
        ("flipped", flipped),
        ("torn", good[..good.len() - 10].to_vec()),
        ("not a snapshot", b"hello".to_vec()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, bytes).unwrap();
        let stderr = fails_to_start(&["--snapshot", path.to_str().unwrap()]);
        assert!(stderr.contains("torn or corrupt"), "{what}: {stderr}");
        assert!(stderr.contains(path.to_str().unwrap()), "{what}: {stderr}");
    }
}

/// Kills the server with SIGKILL while it writes snapshots of 32 MiB
/// continuously, restarts it on the same file, and checks every value is
/// whole: each is 1 MiB of one byte, one that was written to that key.
#[test]
fn a_kill_in_the_middle_of_a_snapshot_leaves_the_last_complete_one() {
    const KEYS: usize = 32;
    const SIZE: usize = 1 << 20;
    let scratch = Scratch::new("kill");
    let path = scratch.snapshot();
    let temporary = scratch.0.join("store.snapshot.tmp");
    let client = blocking_client();
    let (mut server, mut http) = with_snapshot(&path, "0.01");
    // written[k]: every fill byte key k has had.
    let mut written: Vec<Vec<u8>> = vec![Vec::new(); KEYS];
    for (key, history) in written.iter_mut().enumerate() {
        let response = client
            .post(url(http, &format!("k{key}")))
            .body(vec![key as u8; SIZE])
            .send()
            .unwrap();
        assert_eq!(response.status(), 201);
        history.push(key as u8);
    }
    // Wait for a complete snapshot that holds every key: what a kill may
    // lose is only what changed after the last complete snapshot.
    let holds_every_key =
        || std::fs::metadata(&path).is_ok_and(|m| m.len() >= (KEYS * SIZE) as u64);
    while !holds_every_key() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut killed_mid_write = 0;
    for round in 0..6u8 {
        let key = round as usize % KEYS;
        let fill = 100 + round;
        client
            .put(url(http, &format!("k{key}")))
            .body(vec![fill; SIZE])
            .send()
            .unwrap();
        written[key].push(fill);
        std::thread::sleep(Duration::from_millis(30 + 40 * u64::from(round)));
        server.kill().unwrap();
        server.wait().unwrap();
        if temporary.exists() {
            killed_mid_write += 1;
        }

        (server, http) = with_snapshot(&path, "0.01");
        for (key, history) in written.iter().enumerate() {
            let value = client
                .get(url(http, &format!("k{key}")))
                .send()
                .unwrap()
                .bytes()
                .unwrap();
            assert_eq!(value.len(), SIZE, "k{key} after round {round}");
            assert!(
                history.contains(&value[0]) && value.iter().all(|&b| b == value[0]),
                "k{key} is whole and one of its writes after round {round}"
            );
        }
    }
    assert!(
        killed_mid_write > 0,
        "no kill landed while a snapshot was being written"
    );
    stop(server);
}

/// A version is never handed out twice, even across a restart: the ETag of
/// a key deleted before the snapshot does not come back, so an `If-Match`
/// from the key's first life cannot overwrite its second.
#[test]
fn versions_are_not_reused_after_a_restart() {
    let scratch = Scratch::new("versions");
    let (server, http) = with_snapshot(&scratch.snapshot(), "3600");
    let client = blocking_client();
    let created = client
        .post(url(http, "aba"))
        .body("first life")
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let first_etag = created.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(
        client.delete(url(http, "aba")).send().unwrap().status(),
        200
    );
    stop(server);

    let (server, http) = with_snapshot(&scratch.snapshot(), "3600");
    let created = client
        .post(url(http, "aba"))
        .body("second life")
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let second_etag = created.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(first_etag, second_etag, "a version was handed out twice");
    let stale = client
        .put(url(http, "aba"))
        .header("if-match", &first_etag)
        .body("stale writer")
        .send()
        .unwrap();
    assert_eq!(stale.status(), 412);
    let read = client.get(url(http, "aba")).send().unwrap();
    assert_eq!(read.text().unwrap(), "second life");
    stop(server);
}

/// A snapshot path that could not be written at shutdown stops start-up,
/// naming the problem, instead of serving and losing the data later.
#[test]
fn an_unwritable_snapshot_path_is_refused_at_start_up() {
    let scratch = Scratch::new("unwritable");
    let missing = scratch.0.join("no-such-dir").join("snap.bin");
    let stderr = fails_to_start(&["--snapshot", missing.to_str().unwrap()]);
    assert!(stderr.contains("create the directory"), "{stderr}");
    assert!(stderr.contains("no-such-dir"), "{stderr}");

    let stderr = fails_to_start(&["--snapshot", scratch.0.to_str().unwrap()]);
    assert!(stderr.contains("is a directory"), "{stderr}");
    assert!(!stderr.contains("torn or corrupt"), "{stderr}");
}

/// `/status` and `/metrics` show when the last snapshot was written and how
/// many failed, so an operator sees a snapshot that stopped working.
#[test]
fn snapshot_age_and_failures_are_reported() {
    let scratch = Scratch::new("health");
    let path = scratch.snapshot();
    let (server, http, _tcp, admin) = common::process::start_with_admin(&[
        "--snapshot",
        path.to_str().unwrap(),
        "--snapshot-interval-secs",
        "0.2",
    ]);
    let client = blocking_client();
    let status = |client: &reqwest::blocking::Client| -> serde_json::Value {
        client
            .get(format!("http://{admin}/status"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let metric = |client: &reqwest::blocking::Client, name: &str| -> f64 {
        let text = client
            .get(format!("http://{admin}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let before = status(&client);
    assert_eq!(
        before["snapshot"]["path"],
        path.to_str().unwrap(),
        "{before}"
    );
    assert_eq!(before["snapshot"]["saves"], 0, "{before}");

    // Writes a key, then waits for the snapshot's `counter` to move.
    let write_and_wait = |key: &str, counter: &str| {
        let created = client.post(url(http, key)).body("v").send().unwrap();
        assert_eq!(created.status(), 201);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = status(&client);
            if now["snapshot"][counter] != 0 {
                return now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {counter} reported in 10 s: {now}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let after = write_and_wait("k", "saves");
    assert!(
        after["snapshot"]["last_saved_unix_ms"].as_u64().unwrap() > 0,
        "{after}"
    );
    assert_eq!(after["snapshot"]["failures"], 0, "{after}");
    assert!(metric(&client, "kvs_snapshot_saves_total") >= 1.0);
    assert!(metric(&client, "kvs_snapshot_age_seconds") < 5.0);

    // The directory disappears under a running server: every save fails,
    // and both endpoints say so.
    std::fs::remove_dir_all(&scratch.0).unwrap();
    let failing = write_and_wait("k2", "failures");
    assert!(
        failing["snapshot"]["last_error"]
            .as_str()
            .unwrap()
            .contains("store.snapshot"),
        "{failing}"
    );
    assert!(metric(&client, "kvs_snapshot_failures_total") >= 1.0);
    drop(server);
}
