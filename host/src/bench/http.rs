//! The REST API workloads, over keep-alive HTTP/1.1 connections.

use super::stats::Stats;
use super::{BenchArgs, Mix, value_for};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Instant;
use tokio::net::TcpStream;

async fn connect(addr: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let socket = TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(socket)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "kvs")
        .header("content-type", "application/octet-stream")
        .body(Full::new(body))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Writes the keys the get workload reads (existing ones are overwritten).
pub async fn populate(addr: &str, keys: usize, size: usize) -> anyhow::Result<()> {
    let mut sender = connect(addr).await?;
    for i in 0..keys {
        let path = format!("/kvs/bench-{i}");
        let value = Bytes::from(value_for(i, size));
        let (status, _) = send(&mut sender, Method::POST, &path, value.clone()).await?;
        if status == StatusCode::CONFLICT {
            send(&mut sender, Method::PUT, &path, value).await?;
        }
    }
    Ok(())
}

/// One connection's loop until the deadline.
pub async fn connection(addr: &str, args: &BenchArgs, id: usize, deadline: Instant) -> Stats {
    let mut stats = Stats::default();
    let Ok(mut sender) = connect(addr).await else {
        stats.failed += 1;
        return stats;
    };
    let mut n = 0usize;
    while Instant::now() < deadline {
        let steps: Vec<(Method, String, Bytes, StatusCode, Option<Bytes>)> = match args.mix {
            Mix::Get => {
                let i = (id * 7919 + n * 104_729) % args.keys.max(1);
                let value = Bytes::from(value_for(i, args.value_size));
                vec![(
                    Method::GET,
                    format!("/kvs/bench-{i}"),
                    Bytes::new(),
                    StatusCode::OK,
                    Some(value),
                )]
            }
            Mix::Cycle => {
                let path = format!("/kvs/cycle-{}-{id}-{n}", std::process::id());
                let first = Bytes::from(value_for(n, args.value_size));
                let second = Bytes::from(value_for(n + 1, args.value_size));
                vec![
                    (
                        Method::POST,
                        path.clone(),
                        first.clone(),
                        StatusCode::CREATED,
                        None,
                    ),
                    (
                        Method::GET,
                        path.clone(),
                        Bytes::new(),
                        StatusCode::OK,
                        Some(first),
                    ),
                    (
                        Method::PUT,
                        path.clone(),
                        second.clone(),
                        StatusCode::OK,
                        None,
                    ),
                    (
                        Method::DELETE,
                        path.clone(),
                        Bytes::new(),
                        StatusCode::OK,
                        Some(second),
                    ),
                    (Method::GET, path, Bytes::new(), StatusCode::NOT_FOUND, None),
                ]
            }
        };
        for (method, path, body, expected_status, expected_body) in steps {
            let sent = body.len() as u64;
            let started = Instant::now();
            match send(&mut sender, method, &path, body).await {
                Ok((status, body)) => {
                    stats.record(started.elapsed());
                    stats.value_bytes +=
                        sent + expected_body.as_ref().map_or(0, |b| b.len() as u64);
                    if status != expected_status || expected_body.is_some_and(|b| b != body) {
                        stats.wrong += 1;
                    }
                }
                Err(_) => {
                    stats.failed += 1;
                    match connect(addr).await {
                        Ok(fresh) => sender = fresh,
                        Err(_) => return stats,
                    }
                }
            }
        }
        n += 1;
    }
    stats
}

/// POSTs a component to the admin endpoint's `/reload`; returns its answer.
pub async fn admin_reload(admin: &str, component: Vec<u8>) -> anyhow::Result<String> {
    let mut sender = connect(admin).await?;
    let (_, body) = send(&mut sender, Method::POST, "/reload", Bytes::from(component)).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
