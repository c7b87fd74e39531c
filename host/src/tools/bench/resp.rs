//! A Redis protocol (RESP2) client for the same workloads, so `redis-server`
//! can be measured by the same harness as kvs: create is `SET key v NX`,
//! update `SET key v XX`, get `GET`, delete `GETDEL` (Redis 6.2 and later).
//! `--pipeline` requests are written before the replies are read.

use super::Client;
use super::workload::{Op, Step, Workload, bench_key};
use bytes::Bytes;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct Resp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// One RESP reply, as far as these workloads need it.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Bytes>),
}

/// Appends a RESP array of bulk strings.
fn encode(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

fn encode_step(out: &mut Vec<u8>, step: &Step) {
    let key = step.key.as_bytes();
    let value = step.value.as_deref().unwrap_or_default();
    match step.op {
        Op::Create => encode(out, &[b"SET", key, value, b"NX"]),
        Op::Update => encode(out, &[b"SET", key, value, b"XX"]),
        Op::Get => encode(out, &[b"GET", key]),
        Op::Delete => encode(out, &[b"GETDEL", key]),
    }
}

fn is_right(step: &Step, reply: &Reply) -> bool {
    match step.op {
        Op::Create | Op::Update => *reply == Reply::Status("OK".into()),
        Op::Get | Op::Delete => *reply == Reply::Bulk(step.value.clone()),
    }
}

async fn read_reply(reader: &mut BufReader<OwnedReadHalf>) -> anyhow::Result<Reply> {
    let mut line = Vec::new();
    anyhow::ensure!(
        reader.read_until(b'\n', &mut line).await? > 0,
        "connection closed"
    );
    let text = std::str::from_utf8(&line)?.trim_end();
    let (kind, rest) = text.split_at(text.len().min(1));
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Integer(rest.parse()?),
        "$" => match rest.parse::<i64>()? {
            length if length < 0 => Reply::Bulk(None),
            length => {
                let mut data = vec![0; length as usize + 2];
                reader.read_exact(&mut data).await?;
                data.truncate(length as usize);
                Reply::Bulk(Some(Bytes::from(data)))
            }
        },
        _ => anyhow::bail!("not a RESP reply: {text:?}"),
    })
}

impl Client for Resp {
    async fn connect(addr: &str) -> anyhow::Result<Self> {
        let (reader, writer) = super::connect_split(addr).await?;
        Ok(Self { reader, writer })
    }

    async fn populate(&mut self, keys: usize, workload: &Workload) -> anyhow::Result<()> {
        for i in 0..keys {
            let mut request = Vec::new();
            encode(
                &mut request,
                &[b"SET", bench_key(i).as_bytes(), &workload.value(i)],
            );
            self.writer.write_all(&request).await?;
            let reply = read_reply(&mut self.reader).await?;
            anyhow::ensure!(
                reply == Reply::Status("OK".into()),
                "SET answered {reply:?}"
            );
        }
        Ok(())
    }

    async fn run(&mut self, steps: &[Step]) -> anyhow::Result<Vec<(bool, Duration)>> {
        let started = Instant::now();
        let mut batch = Vec::new();
        for step in steps {
            encode_step(&mut batch, step);
        }
        let Self { reader, writer } = self;
        let read = async {
            let mut outcomes = Vec::with_capacity(steps.len());
            for step in steps {
                let reply = read_reply(reader).await?;
                outcomes.push((is_right(step, &reply), started.elapsed()));
            }
            Ok(outcomes)
        };
        let (written, outcomes) = tokio::join!(writer.write_all(&batch), read);
        written?;
        outcomes
    }
}
