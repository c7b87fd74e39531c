//! The kvs line protocol client; `--pipeline` requests are written before
//! the replies are read.

use super::Client;
use super::workload::{Op, Step, Workload, bench_key};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct Tcp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Buffers kept across requests, so the client allocates nothing per
    /// request and is never what limits the server it drives.
    batch: Vec<u8>,
    reply: String,
}

/// Appends the request line of a step. Bench values are ASCII letters, so
/// `body=` carries them as they are.
fn push_request_line(out: &mut Vec<u8>, step: &Step) {
    out.extend_from_slice(match step.op {
        Op::Create => b"cmd=create|key=",
        Op::Get => b"cmd=get|key=",
        Op::Update => b"cmd=update|key=",
        Op::Delete => b"cmd=delete|key=",
    });
    out.extend_from_slice(step.key.as_bytes());
    if matches!(step.op, Op::Create | Op::Update) {
        out.extend_from_slice(b"|body=");
        out.extend_from_slice(step.value.as_deref().unwrap_or_default());
    }
    out.push(b'\n');
}

/// Whether `reply` is what a correct server answers to `step`.
fn is_right(step: &Step, reply: &str) -> bool {
    match (step.op, &step.value) {
        (Op::Create | Op::Update, _) => reply.contains("\"ok\":true"),
        (Op::Get | Op::Delete, Some(value)) => {
            let value = std::str::from_utf8(value).unwrap_or_default();
            reply.contains("\"ok\":true")
                && reply.split_once("\"body\":\"").is_some_and(|(_, rest)| {
                    rest.strip_prefix(value).is_some_and(|r| r.starts_with('"'))
                })
        }
        (Op::Get | Op::Delete, None) => reply.contains("\"errorcode\":10"),
    }
}

impl Tcp {
    /// Sends one step and reads its reply into `reply`.
    async fn send(&mut self, step: &Step) -> anyhow::Result<()> {
        self.batch.clear();
        push_request_line(&mut self.batch, step);
        self.writer.write_all(&self.batch).await?;
        self.reply.clear();
        anyhow::ensure!(
            self.reader.read_line(&mut self.reply).await? > 0,
            "connection closed"
        );
        Ok(())
    }
}

impl Client for Tcp {
    async fn connect(addr: &str) -> anyhow::Result<Self> {
        let (reader, writer) = super::connect_split(addr).await?;
        Ok(Self {
            reader,
            writer,
            batch: Vec::new(),
            reply: String::new(),
        })
    }

    async fn populate(&mut self, keys: usize, workload: &Workload) -> anyhow::Result<()> {
        for i in 0..keys {
            let mut step = Step {
                op: Op::Create,
                key: bench_key(i),
                value: Some(workload.value(i)),
            };
            self.send(&step).await?;
            if self.reply.contains("\"errorcode\":15") {
                step.op = Op::Update;
                self.send(&step).await?;
            }
        }
        Ok(())
    }

    async fn run(&mut self, steps: &[Step]) -> anyhow::Result<Vec<(bool, Duration)>> {
        let started = Instant::now();
        let Self {
            reader,
            writer,
            batch,
            reply,
        } = self;
        batch.clear();
        for step in steps {
            push_request_line(batch, step);
        }
        // Read while writing: a large pipelined batch would otherwise fill
        // both directions' buffers and stall.
        let read = async {
            let mut outcomes = Vec::with_capacity(steps.len());
            for step in steps {
                reply.clear();
                anyhow::ensure!(reader.read_line(reply).await? > 0, "connection closed");
                outcomes.push((is_right(step, reply.trim_end()), started.elapsed()));
            }
            Ok(outcomes)
        };
        let (written, outcomes) = tokio::join!(writer.write_all(batch), read);
        written?;
        outcomes
    }
}
