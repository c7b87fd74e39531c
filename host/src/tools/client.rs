//! `kvs client`: a client for the TCP command protocol, for people and scripts.
//!
//! Interactive when stdin is a terminal and no `--command` is given: a prompt
//! with line editing and history, and replies shown readably (JSON values
//! pretty-printed, binary values summarised). Otherwise it runs the commands
//! from `--command` or from stdin, one per line, and exits non-zero if any
//! of them failed, so scripts can rely on its status.

use anyhow::Context as _;
use base64::Engine as _;
use clap::Args;
use serde_json::Value;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Address of a kvs TCP port.
    #[arg(default_value = "127.0.0.1:9001", env = "KVS_CLIENT_ADDR")]
    pub addr: String,

    /// A command to run (repeatable), e.g. -c 'cmd=get | key=1'. Without it,
    /// commands come from stdin, or from the prompt on a terminal.
    #[arg(short, long = "command")]
    pub commands: Vec<String>,

    /// Print replies exactly as the server sent them (one JSON line each).
    #[arg(long)]
    pub raw: bool,

    /// Seconds to wait for a reply.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
}

/// Runs the client; `Ok(true)` when every command succeeded.
pub fn run(args: &ClientArgs) -> anyhow::Result<bool> {
    let mut connection = Connection::open(&args.addr, Duration::from_secs(args.timeout_secs))?;
    if !args.commands.is_empty() {
        return run_batch(&mut connection, args.commands.iter().cloned(), args.raw);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        interactive(&mut connection, &args.addr)
    } else {
        let lines = stdin.lock().lines().map_while(Result::ok);
        run_batch(&mut connection, lines, args.raw)
    }
}

struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(addr: &str, timeout: Duration) -> anyhow::Result<Self> {
        let stream =
            TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_read_timeout(Some(timeout))?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one command and reads its one reply line; `None` if the server
    /// closed the connection.
    fn request(&mut self, command: &str) -> anyhow::Result<Option<String>> {
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .context("sending the command")?;
        let mut reply = String::new();
        if self
            .reader
            .read_line(&mut reply)
            .context("reading the reply")?
            == 0
        {
            return Ok(None);
        }
        Ok(Some(reply.trim_end_matches(['\r', '\n']).to_string()))
    }
}

fn run_batch(
    connection: &mut Connection,
    commands: impl Iterator<Item = String>,
    raw: bool,
) -> anyhow::Result<bool> {
    let mut all_ok = true;
    for command in commands.filter(|c| !c.trim().is_empty()) {
        let Some(reply) = connection.request(&command)? else {
            eprintln!("the server closed the connection");
            return Ok(false);
        };
        let outcome = Outcome::of(&reply);
        println!(
            "{}",
            if raw {
                reply.clone()
            } else {
                outcome.display(&reply)
            }
        );
        all_ok &= outcome != Outcome::Failed;
        if outcome == Outcome::Stopped {
            break;
        }
    }
    Ok(all_ok)
}

fn interactive(connection: &mut Connection, addr: &str) -> anyhow::Result<bool> {
    let mut editor = rustyline::DefaultEditor::new()?;
    let history =
        std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".kvs_history"));
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    println!("connected to {addr}; type cmd=help for the commands, ctrl-d to quit");
    let mut all_ok = true;
    loop {
        let line = match editor.readline("kvs> ") {
            Ok(line) => line,
            Err(
                rustyline::error::ReadlineError::Interrupted | rustyline::error::ReadlineError::Eof,
            ) => break,
            Err(error) => return Err(error.into()),
        };
        if line.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        let Some(reply) = connection.request(&line)? else {
            println!("the server closed the connection");
            break;
        };
        let outcome = Outcome::of(&reply);
        println!("{}", outcome.display(&reply));
        all_ok &= outcome != Outcome::Failed;
        if outcome == Outcome::Stopped {
            break;
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    Ok(all_ok)
}

/// How a reply line ended its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    /// The reply to `cmd=stop`: not a failure, but the end of the session.
    Stopped,
}

/// The error code of the stop reply.
const STOP_CODE: u64 = 14;

impl Outcome {
    fn of(reply: &str) -> Self {
        match serde_json::from_str::<Value>(reply) {
            Ok(value) if value["ok"] == true => Self::Ok,
            Ok(value) if value["errorcode"] == STOP_CODE => Self::Stopped,
            _ => Self::Failed,
        }
    }

    /// A reply for people.
    fn display(self, reply: &str) -> String {
        let Ok(value) = serde_json::from_str::<Value>(reply) else {
            return format!("unreadable reply: {reply}");
        };
        if self != Self::Ok {
            return format!(
                "error {}: {}",
                value["errorcode"],
                value["error"].as_str().unwrap_or("(no message)")
            );
        }
        if let Some(body) = value["body"].as_str() {
            let content_type = value["type"].as_str().unwrap_or("");
            let shown = content_type
                .contains("json")
                .then(|| serde_json::from_str::<Value>(body).ok())
                .flatten()
                .and_then(|json| serde_json::to_string_pretty(&json).ok())
                .unwrap_or_else(|| body.to_string());
            return format!("{shown}\n({content_type}, version {})", value["version"]);
        }
        if let Some(encoded) = value["body64"].as_str() {
            let length = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map(|bytes| bytes.len())
                .unwrap_or(0);
            return format!(
                "<{length} bytes of {}, binary, not shown> (version {})",
                value["type"].as_str().unwrap_or("?"),
                value["version"]
            );
        }
        if let Some(keys) = value["keys"].as_array() {
            let mut shown: Vec<String> = keys
                .iter()
                .map(|k| k.as_str().unwrap_or("").to_string())
                .collect();
            if let Some(cursor) = value["next_cursor"].as_str() {
                shown.push(format!("(more: cursor={cursor})"));
            }
            return if shown.is_empty() {
                "(no keys)".into()
            } else {
                shown.join("\n")
            };
        }
        if let Some(help) = value["help"].as_array() {
            return help
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n");
        }
        match (value["key"].as_str(), value["version"].as_u64()) {
            (Some(key), Some(version)) => format!("ok: {key} is at version {version}"),
            _ => reply.to_string(),
        }
    }
}
