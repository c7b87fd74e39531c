//! The REST API client, over keep-alive HTTP/1.1 connections (one request in
//! flight per connection; HTTP/1.1 clients do not pipeline).

use super::Client;
use super::workload::{Op, Step, Workload, bench_key};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub struct Http {
    sender: SendRequest<Full<Bytes>>,
}

impl Http {
    async fn send(
        &mut self,
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
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

impl Client for Http {
    async fn connect(addr: &str) -> anyhow::Result<Self> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(socket)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    async fn populate(&mut self, keys: usize, workload: &Workload) -> anyhow::Result<()> {
        for i in 0..keys {
            let path = format!("/kvs/{}", bench_key(i));
            let (status, _) = self.send(Method::POST, &path, workload.value(i)).await?;
            if status == StatusCode::CONFLICT {
                self.send(Method::PUT, &path, workload.value(i)).await?;
            }
        }
        Ok(())
    }

    async fn run(&mut self, steps: &[Step]) -> anyhow::Result<Vec<(bool, Duration)>> {
        let mut outcomes = Vec::with_capacity(steps.len());
        for step in steps {
            let started = Instant::now();
            let path = format!("/kvs/{}", step.key);
            let value = step.value.clone().unwrap_or_default();
            let (method, body, expected_status, expected_body) = match step.op {
                Op::Create => (Method::POST, value, StatusCode::CREATED, None),
                Op::Update => (Method::PUT, value, StatusCode::OK, None),
                Op::Get if step.value.is_some() => {
                    (Method::GET, Bytes::new(), StatusCode::OK, Some(value))
                }
                Op::Get => (Method::GET, Bytes::new(), StatusCode::NOT_FOUND, None),
                Op::Delete => (Method::DELETE, Bytes::new(), StatusCode::OK, Some(value)),
            };
            let (status, body) = self.send(method, &path, body).await?;
            let right = status == expected_status && expected_body.is_none_or(|b| b == body);
            outcomes.push((right, started.elapsed()));
        }
        Ok(outcomes)
    }
}

/// POSTs a component to the admin endpoint's `/reload`; returns its answer.
pub async fn admin_reload(admin: &str, component: Vec<u8>) -> anyhow::Result<String> {
    let mut client = Http::connect(admin).await?;
    let (_, body) = client
        .send(Method::POST, "/reload", Bytes::from(component))
        .await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
