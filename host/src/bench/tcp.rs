//! The line protocol workloads, one request in flight per connection.

use super::stats::Stats;
use super::{BenchArgs, Mix, value_for};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    reply: String,
}

impl Conn {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let (read, writer) = socket.into_split();
        Ok(Self {
            reader: BufReader::new(read),
            writer,
            reply: String::new(),
        })
    }

    async fn request(&mut self, line: &str) -> anyhow::Result<&str> {
        self.writer.write_all(line.as_bytes()).await?;
        self.reply.clear();
        anyhow::ensure!(
            self.reader.read_line(&mut self.reply).await? > 0,
            "connection closed"
        );
        Ok(self.reply.trim_end())
    }
}

fn text(i: usize, size: usize) -> String {
    String::from_utf8(value_for(i, size)).expect("ASCII")
}

pub async fn populate(addr: &str, keys: usize, size: usize) -> anyhow::Result<()> {
    let mut conn = Conn::open(addr).await?;
    for i in 0..keys {
        let value = text(i, size);
        let reply = conn
            .request(&format!("cmd=create|key=bench-{i}|body={value}\n"))
            .await?;
        if reply.contains("\"errorcode\":15") {
            conn.request(&format!("cmd=update|key=bench-{i}|body={value}\n"))
                .await?;
        }
    }
    Ok(())
}

pub async fn connection(addr: &str, args: &BenchArgs, id: usize, deadline: Instant) -> Stats {
    let mut stats = Stats::default();
    let Ok(mut conn) = Conn::open(addr).await else {
        stats.failed += 1;
        return stats;
    };
    let mut n = 0usize;
    while Instant::now() < deadline {
        // (request line, text the reply must contain)
        let steps: Vec<(String, String)> = match args.mix {
            Mix::Get => {
                let i = (id * 7919 + n * 104_729) % args.keys.max(1);
                vec![(
                    format!("cmd=get|key=bench-{i}\n"),
                    format!("\"body\":\"{}\"", text(i, args.value_size)),
                )]
            }
            Mix::Cycle => {
                let key = format!("cycle-{}-{id}-{n}", std::process::id());
                let (first, second) = (text(n, args.value_size), text(n + 1, args.value_size));
                vec![
                    (
                        format!("cmd=create|key={key}|body={first}\n"),
                        "\"ok\":true".into(),
                    ),
                    (
                        format!("cmd=get|key={key}\n"),
                        format!("\"body\":\"{first}\""),
                    ),
                    (
                        format!("cmd=update|key={key}|body={second}\n"),
                        "\"ok\":true".into(),
                    ),
                    (
                        format!("cmd=delete|key={key}\n"),
                        format!("\"body\":\"{second}\""),
                    ),
                    (format!("cmd=get|key={key}\n"), "\"errorcode\":10".into()),
                ]
            }
        };
        for (line, expected) in steps {
            let started = Instant::now();
            match conn.request(&line).await {
                Ok(reply) => {
                    let wrong = !reply.contains(&expected);
                    stats.record(started.elapsed());
                    stats.value_bytes += args.value_size as u64;
                    if wrong {
                        stats.wrong += 1;
                    }
                }
                Err(_) => {
                    stats.failed += 1;
                    match Conn::open(addr).await {
                        Ok(fresh) => conn = fresh,
                        Err(_) => return stats,
                    }
                }
            }
        }
        n += 1;
    }
    stats
}
