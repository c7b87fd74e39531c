//! Expiry: entries vanish on time for every front end, the sweep reclaims
//! them without reads, and the log and the snapshot keep absolute expiry
//! across restarts (an entry already expired at load is dropped).

mod common;

use common::process::{sigterm, start, wait_with_deadline};
use common::{Line, TestServer, client};
use redis::AsyncCommands as _;
use std::time::{Duration, Instant};

async fn redis_connection(server: &TestServer) -> redis::aio::MultiplexedConnection {
    common::redis_connection(server.tcp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_keys_vanish_on_time_for_every_front_end() {
    let server = TestServer::start().await;
    let mut redis = redis_connection(&server).await;
    let http = |key: &str| format!("http://{}/kvs/{key}", server.http);
    let mut line = Line::connect(server.tcp).await;
    let _: () = redis::cmd("SET")
        .arg("brief")
        .arg("v")
        .arg("PX")
        .arg(300)
        .query_async(&mut redis)
        .await
        .unwrap();
    let set_at = Instant::now();
    let _: () = redis.set("lasting", "v").await.unwrap();
    // Alive: every front end sees it, with the time it has left.
    let response = client().get(http("brief")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["kvs-ttl"], "1");
    let reply = line.request("cmd=get | key=brief").await;
    assert_eq!(reply["ttl"], 1, "{reply}");
    let pttl: i64 = redis.pttl("brief").await.unwrap();
    assert!((1..=300).contains(&pttl), "{pttl}");
    let lasting = client().get(http("lasting")).send().await.unwrap();
    assert!(lasting.headers().get("kvs-ttl").is_none());
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut redis).await.unwrap();
    assert_eq!(size, 2);
    // Past its expiry (and before any sweep could matter): gone for all.
    tokio::time::sleep(
        Duration::from_millis(300).saturating_sub(set_at.elapsed()) + Duration::from_millis(20),
    )
    .await;
    assert_eq!(
        client().get(http("brief")).send().await.unwrap().status(),
        404
    );
    let reply = line.request("cmd=get | key=brief").await;
    assert_eq!(reply["errorcode"], 10, "{reply}");
    let value: Option<String> = redis.get("brief").await.unwrap();
    assert_eq!(value, None);
    let exists: i64 = redis.exists("brief").await.unwrap();
    assert_eq!(exists, 0);
    let ttl: i64 = redis.ttl("brief").await.unwrap();
    assert_eq!(ttl, -2);
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut redis).await.unwrap();
    assert_eq!(size, 1);
    let listing: serde_json::Value = common::get_json(format!("http://{}/kvs", server.http)).await;
    assert_eq!(listing["keys"], serde_json::json!(["lasting"]), "{listing}");
    // An expired key can be created again at once.
    let created = client()
        .post(format!("{}?ttl=1", http("brief")))
        .body("again")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let value: Option<String> = redis.get("brief").await.unwrap();
    assert_eq!(value, None, "a REST ?ttl=1 key outlived its second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_set_kept_and_cleared_as_each_protocol_says() {
    let server = TestServer::start().await;
    let mut redis = redis_connection(&server).await;
    let http = |key: &str| format!("http://{}/kvs/{key}", server.http);
    let mut line = Line::connect(server.tcp).await;
    // REST: ?ttl= on PUT sets one; a PUT without it clears it.
    client().post(http("k")).body("1").send().await.unwrap();
    let put = client()
        .put(format!("{}?ttl=100", http("k")))
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let ttl: i64 = redis.ttl("k").await.unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    client().put(http("k")).body("3").send().await.unwrap();
    let ttl: i64 = redis.ttl("k").await.unwrap();
    assert_eq!(ttl, -1);
    for bad in ["0", "-1", "1.5", "x", "99999999999"] {
        let response = client()
            .put(format!("{}?ttl={bad}", http("k")))
            .body("4")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "ttl={bad}");
    }
    // The line protocol: ttl= on writes, expire, persist, ttl.
    let reply = line.request("cmd=create | key=l | ttl=50 | body=x").await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(line.request("cmd=ttl | key=l").await["ttl"], 50);
    assert_eq!(line.request("cmd=expire | key=l | ttl=7").await["ttl"], 7);
    let reply = line.request("cmd=persist | key=l").await;
    assert_eq!(reply["persisted"], true, "{reply}");
    assert_eq!(
        line.request("cmd=ttl | key=l").await["ttl"],
        serde_json::Value::Null
    );
    assert_eq!(
        line.request("cmd=expire | key=nobody | ttl=7").await["errorcode"],
        10
    );
    assert_eq!(
        line.request("cmd=expire | key=l | ttl=0").await["errorcode"],
        8
    );
    // RESP: KEEPTTL keeps, a plain SET clears, INCR keeps, GT/LT/NX/XX.
    let _: () = redis::cmd("SET")
        .arg("r")
        .arg("1")
        .arg("EX")
        .arg(100)
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("r")
        .arg("2")
        .arg("KEEPTTL")
        .query_async(&mut redis)
        .await
        .unwrap();
    let ttl: i64 = redis.ttl("r").await.unwrap();
    assert!(ttl > 90, "{ttl}");
    let _: i64 = redis.incr("r", 1).await.unwrap();
    let ttl: i64 = redis.ttl("r").await.unwrap();
    assert!(ttl > 90, "INCR kept the expiry: {ttl}");
    let changed: i64 = redis::cmd("EXPIRE")
        .arg("r")
        .arg(50)
        .arg("GT")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(changed, 0);
    let changed: i64 = redis::cmd("EXPIRE")
        .arg("r")
        .arg(50)
        .arg("LT")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let changed: i64 = redis::cmd("EXPIRE")
        .arg("r")
        .arg(500)
        .arg("NX")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(changed, 0);
    let at: i64 = redis::cmd("EXPIRETIME")
        .arg("r")
        .query_async(&mut redis)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 48..=now + 51).contains(&at), "{at} vs {now}");
    let _: () = redis.set("r", "plain").await.unwrap();
    let ttl: i64 = redis.ttl("r").await.unwrap();
    assert_eq!(ttl, -1, "a plain SET clears the expiry");
    let value: String = redis::cmd("GETEX")
        .arg("r")
        .arg("PX")
        .arg(100_000)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(value, "plain");
    let pttl: i64 = redis.pttl("r").await.unwrap();
    assert!(pttl > 99_000, "{pttl}");
    // An instant in the past deletes, as in Redis.
    let changed: i64 = redis::cmd("EXPIRE")
        .arg("r")
        .arg(-1)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let exists: i64 = redis.exists("r").await.unwrap();
    assert_eq!(exists, 0);
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(info.contains("expires=0"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_short_lived_keys_are_reclaimed_without_reads() {
    let server = TestServer::start().await;
    let store = server.app.memory().unwrap().clone();
    let idle = store.usage();
    let mut redis = redis_connection(&server).await;
    // One instant for all, far enough ahead for a debug build to write
    // them all first.
    let expire_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 30_000;
    for chunk in 0..100 {
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            pipe.cmd("SET")
                .arg(format!("short:{chunk}:{i}"))
                .arg("0123456789")
                .arg("PXAT")
                .arg(expire_at)
                .ignore();
        }
        let () = pipe.query_async(&mut redis).await.unwrap();
    }
    let full = store.usage();
    assert_eq!(full.keys, idle.keys + 100_000, "{full:?}");
    assert!(full.bytes > idle.bytes + 100_000 * 10, "{full:?}");
    // Nobody reads them; the sweep alone must take them back.
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let usage = store.usage();
        if usage.bytes == idle.bytes {
            assert_eq!(usage.keys, idle.keys);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reclaimed: {usage:?} (idle {idle:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.entries().len(), 0);
    // INFO counts them as Redis does, and the connection that wrote them.
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(info.contains("expired_keys:100000\r\n"), "{info}");
    assert!(info.contains("evicted_keys:0\r\n"), "{info}");
    assert!(info.contains("total_connections_received:1\r\n"), "{info}");
    // 100 pipelines of 1,000 SETs and this INFO, and the client's own
    // greeting (redis-rs sends `CLIENT SETINFO` twice as it connects).
    let commands: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no command count in {info}"));
    assert!((100_001..=100_003).contains(&commands), "{info}");
    assert!(!info.contains("# Keyspace"), "only the section asked for");
}

#[test]
fn expiry_survives_restarts_through_the_log_and_the_snapshot() {
    let dir = std::env::temp_dir().join(format!("kvs-expiry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.to_str().unwrap().to_string();
    let (mut server, _http, tcp) = start(&["--data-dir", &data]);
    let redis = redis::Client::open(format!("redis://{tcp}/")).unwrap();
    let mut connection = redis.get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("long")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut connection)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(700)
        .query(&mut connection)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("never")
        .arg("v")
        .query(&mut connection)
        .unwrap();
    let expires_at: i64 = redis::cmd("PEXPIRETIME")
        .arg("long")
        .query(&mut connection)
        .unwrap();
    // A crash: the log is replayed.
    server.kill().unwrap();
    server.wait().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let (server, _http, tcp) = start(&["--data-dir", &data]);
    let mut connection = redis::Client::open(format!("redis://{tcp}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let after: i64 = redis::cmd("PEXPIRETIME")
        .arg("long")
        .query(&mut connection)
        .unwrap();
    assert_eq!(after, expires_at, "the absolute expiry is kept");
    let short: i64 = redis::cmd("EXISTS")
        .arg("short")
        .query(&mut connection)
        .unwrap();
    assert_eq!(short, 0, "expired before the restart: dropped at load");
    let never: i64 = redis::cmd("TTL")
        .arg("never")
        .query(&mut connection)
        .unwrap();
    assert_eq!(never, -1);
    let size: i64 = redis::cmd("DBSIZE").query(&mut connection).unwrap();
    assert_eq!(size, 2);
    // A clean stop: the snapshot keeps it too.
    let mut server = server;
    sigterm(&server);
    assert!(wait_with_deadline(&mut server, Duration::from_secs(60)).success());
    let (mut server, _http, tcp) = start(&["--data-dir", &data]);
    let mut connection = redis::Client::open(format!("redis://{tcp}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let after: i64 = redis::cmd("PEXPIRETIME")
        .arg("long")
        .query(&mut connection)
        .unwrap();
    assert_eq!(after, expires_at);
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
