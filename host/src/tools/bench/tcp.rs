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
    reply: Vec<u8>,
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

/// Whether `reply` (without its line ending) is what a correct server
/// answers to `step`.
///
/// kvs writes a value's field last and an error's code at a fixed distance
/// from the end, so the common replies are checked where their parts stand,
/// without a search or a UTF-8 check (which cost this client more than the
/// RESP client's length-prefixed replies cost it, and the client shares the
/// CPU with the server it measures). A reply laid out otherwise, by another
/// server speaking the protocol, is checked by searching for its parts.
fn is_right(step: &Step, reply: &[u8]) -> bool {
    const OK: &[u8] = br#"{"ok":true,"#;
    match (step.op, &step.value) {
        (Op::Create | Op::Update, _) => reply.starts_with(OK) || contains(reply, br#""ok":true"#),
        (Op::Get | Op::Delete, Some(value)) => {
            let last_field = reply
                .strip_suffix(br#""}"#)
                .and_then(|rest| rest.strip_suffix(&value[..]))
                .is_some_and(|rest| rest.ends_with(br#","body":""#));
            (reply.starts_with(OK) && last_field) || has_body(reply, value)
        }
        (Op::Get | Op::Delete, None) => {
            reply.ends_with(br#","errorcode":10,"errors":{}}"#)
                || contains(reply, br#""errorcode":10,"#)
        }
    }
}

/// The search behind [`is_right`]'s fast checks: `"ok":true` anywhere and a
/// `"body"` field holding exactly `value`.
fn has_body(reply: &[u8], value: &[u8]) -> bool {
    let Ok(reply) = std::str::from_utf8(reply) else {
        return false;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    reply.contains("\"ok\":true")
        && reply
            .split_once("\"body\":\"")
            .is_some_and(|(_, rest)| rest.strip_prefix(value).is_some_and(|r| r.starts_with('"')))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A reply line without its `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl Tcp {
    /// Sends one step and reads its reply into `reply`.
    async fn send(&mut self, step: &Step) -> anyhow::Result<()> {
        self.batch.clear();
        push_request_line(&mut self.batch, step);
        self.writer.write_all(&self.batch).await?;
        self.reply.clear();
        anyhow::ensure!(
            self.reader.read_until(b'\n', &mut self.reply).await? > 0,
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
            reply: Vec::new(),
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
            if contains(&self.reply, br#""errorcode":15"#) {
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
                anyhow::ensure!(
                    reader.read_until(b'\n', reply).await? > 0,
                    "connection closed"
                );
                outcomes.push((is_right(step, trim_line_end(reply)), started.elapsed()));
            }
            Ok(outcomes)
        };
        let (written, outcomes) = tokio::join!(writer.write_all(batch), read);
        written?;
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn step(op: Op, value: Option<&'static [u8]>) -> Step {
        Step {
            op,
            key: "k".into(),
            value: value.map(Bytes::from_static),
        }
    }

    /// Replies as kvs writes them pass the checks at their ends; the same
    /// replies laid out otherwise pass the search; a wrong value, a value
    /// cut short or grown, and an error never pass.
    #[test]
    fn replies_are_checked_whatever_their_layout_and_wrong_ones_never_pass() {
        let get = step(Op::Get, Some(b"abc"));
        let kvs = br#"{"ok":true,"key":"k","type":"text/plain","version":3,"body":"abc"}"#;
        let reordered = br#"{"body":"abc","version":3,"ok":true}"#;
        assert!(is_right(&get, kvs));
        assert!(is_right(&get, reordered));
        assert!(is_right(
            &get,
            trim_line_end(b"{\"ok\":true,\"body\":\"abc\"}\r\n")
        ));
        for wrong in [
            &br#"{"ok":true,"key":"k","body":"abd"}"#[..],
            br#"{"ok":true,"key":"k","body":"ab"}"#,
            br#"{"ok":true,"key":"k","body":"abcd"}"#,
            br#"{"ok":true,"key":"k","body":"xabc"}"#,
            br#"{"ok":false,"key":"k","body":"abc"}"#,
            br#"{"error":"Error not found","errorcode":10,"errors":{}}"#,
        ] {
            assert!(!is_right(&get, wrong), "{}", String::from_utf8_lossy(wrong));
        }

        let mut missing = String::new();
        kvs_model::envelope::push_error_json(
            &mut missing,
            kvs_model::Code::NotFound,
            "Error not found",
        );
        let absent = step(Op::Get, None);
        assert!(is_right(&absent, missing.as_bytes()));
        assert!(is_right(
            &absent,
            br#"{"errors":{},"errorcode":10,"error":"x"}"#
        ));
        assert!(!is_right(
            &absent,
            br#"{"error":"x","errorcode":15,"errors":{}}"#
        ));
        assert!(!is_right(&absent, kvs));

        let create = step(Op::Create, Some(b"abc"));
        assert!(is_right(&create, br#"{"ok":true,"key":"k","version":1}"#));
        assert!(is_right(&create, br#"{"version":1,"ok":true}"#));
        assert!(!is_right(
            &create,
            br#"{"error":"x","errorcode":15,"errors":{}}"#
        ));
    }
}
