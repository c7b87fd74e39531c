//! A Redis protocol (RESP2) client for the same workloads, so `redis-server`
//! can be measured by the same harness as kvs: create is `SET key v NX`,
//! update `SET key v XX`, get `GET`, delete `GETDEL` (Redis 6.2 and later).
//! `--pipeline` requests are written before the replies are read.

use super::Client;
use super::workload::{Op, Step, Workload, bench_key};
use kvs_model::resp::encode_command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct Resp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Buffers kept across requests, so the client allocates nothing per
    /// request and is never what limits the server it drives.
    batch: Vec<u8>,
    line: Vec<u8>,
    data: Vec<u8>,
}

/// One RESP reply, as far as these workloads need it, borrowed from the
/// connection's buffers.
#[derive(PartialEq, Eq)]
enum Reply<'a> {
    Status(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    Bulk(Option<&'a [u8]>),
}

/// As the reply read on the wire, so an error such as `SET answered
/// -NOAUTH ...` reads as text, not as a list of bytes.
impl std::fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(text) => write!(f, "+{}", String::from_utf8_lossy(text)),
            Self::Error(text) => write!(f, "-{}", String::from_utf8_lossy(text)),
            Self::Integer(n) => write!(f, ":{n}"),
            Self::Bulk(Some(bytes)) => write!(f, "a bulk string of {} bytes", bytes.len()),
            Self::Bulk(None) => write!(f, "nil"),
        }
    }
}

fn encode_step(out: &mut Vec<u8>, step: &Step) {
    let key = step.key.as_bytes();
    let value = step.value.as_deref().unwrap_or_default();
    match step.op {
        Op::Create => encode_command(&[b"SET", key, value, b"NX"], out),
        Op::Update => encode_command(&[b"SET", key, value, b"XX"], out),
        Op::Get => encode_command(&[b"GET", key], out),
        Op::Delete => encode_command(&[b"GETDEL", key], out),
    }
}

fn is_right(step: &Step, reply: &Reply) -> bool {
    match step.op {
        Op::Create | Op::Update => *reply == Reply::Status(b"OK"),
        Op::Get | Op::Delete => *reply == Reply::Bulk(step.value.as_deref()),
    }
}

/// Reads one reply into `line` (its first line) and `data` (a bulk
/// string's bytes).
async fn read_reply<'a>(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &'a mut Vec<u8>,
    data: &'a mut Vec<u8>,
) -> anyhow::Result<Reply<'a>> {
    line.clear();
    anyhow::ensure!(
        reader.read_until(b'\n', line).await? > 0,
        "connection closed"
    );
    let text = line.strip_suffix(b"\r\n").unwrap_or(line);
    let number = |rest: &[u8]| -> anyhow::Result<i64> { Ok(std::str::from_utf8(rest)?.parse()?) };
    Ok(match text.split_first() {
        Some((b'+', rest)) => Reply::Status(rest),
        Some((b'-', rest)) => Reply::Error(rest),
        Some((b':', rest)) => Reply::Integer(number(rest)?),
        Some((b'$', rest)) => match number(rest)? {
            length if length < 0 => Reply::Bulk(None),
            length => {
                data.resize(length as usize + 2, 0);
                reader.read_exact(data).await?;
                Reply::Bulk(Some(&data[..length as usize]))
            }
        },
        _ => anyhow::bail!("not a RESP reply: {:?}", String::from_utf8_lossy(text)),
    })
}

impl Client for Resp {
    async fn connect(addr: &str) -> anyhow::Result<Self> {
        let (reader, writer) = super::connect_split(addr).await?;
        Ok(Self {
            reader,
            writer,
            batch: Vec::new(),
            line: Vec::new(),
            data: Vec::new(),
        })
    }

    async fn populate(&mut self, keys: usize, workload: &Workload) -> anyhow::Result<()> {
        for i in 0..keys {
            self.batch.clear();
            encode_command(
                &[b"SET", bench_key(i).as_bytes(), &workload.value(i)],
                &mut self.batch,
            );
            self.writer.write_all(&self.batch).await?;
            let reply = read_reply(&mut self.reader, &mut self.line, &mut self.data).await?;
            anyhow::ensure!(reply == Reply::Status(b"OK"), "SET answered {reply:?}");
        }
        Ok(())
    }

    async fn run(&mut self, steps: &[Step]) -> anyhow::Result<Vec<(bool, Duration)>> {
        let started = Instant::now();
        let Self {
            reader,
            writer,
            batch,
            line,
            data,
        } = self;
        batch.clear();
        for step in steps {
            encode_step(batch, step);
        }
        let read = async {
            let mut outcomes = Vec::with_capacity(steps.len());
            for step in steps {
                let reply = read_reply(reader, line, data).await?;
                outcomes.push((is_right(step, &reply), started.elapsed()));
            }
            Ok(outcomes)
        };
        let (written, outcomes) = tokio::join!(writer.write_all(batch), read);
        written?;
        outcomes
    }
}
