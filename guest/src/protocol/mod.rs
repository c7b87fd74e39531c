//! The TCP line protocol: one request line in, exactly one reply line out.
//!
//! A line goes through four steps, each in its own module:
//! - [`fields`]: the grammar, `cmd=get | key=1`, split into named fields.
//! - [`command`]: the fields checked into a typed [`Command`]; the line
//!   pipelined most, `cmd=get|key=K`, is recognised without the grammar
//!   ([`Command::parse`]).
//! - [`apply`]: the command run against the store, giving an [`Outcome`].
//! - [`reply`]: the outcome encoded as one line of JSON.
//!
//! Replies are JSON objects on one line. Successes carry `"ok":true`; errors
//! are the Go server's envelope (`{"error":..,"errorcode":N,"errors":{}}`),
//! so a client always tells a value from an error, and a value holding
//! newlines or binary bytes cannot break the framing: JSON escapes newlines,
//! and bytes that are not UTF-8 travel as base64 in `body64`.

pub mod apply;
pub mod command;
pub mod fields;
pub mod reply;

pub use apply::{Outcome, apply};
pub use command::Command;
pub use kvs_model::LineReplies;

use crate::envelope::ErrorReply;
use crate::storage::{Keys, Storage, StoreError};
use std::borrow::Cow;

/// Handles the lines a client sent together (`lines` holds them each ended
/// by `\n`), in order: one reply each, up to and including the first that
/// closes the connection, written one after another into one buffer. A run
/// of `get` lines is read with one store call ([`answer_gets`]).
pub fn handle_lines(store: &impl Storage, lines: &[u8]) -> LineReplies {
    let Some(lines) = lines.strip_suffix(b"\n") else {
        return LineReplies::default();
    };
    let each = lines.split(|&byte| byte == b'\n');
    // A batch is nearly always UTF-8 as a whole: checked once, its lines
    // need no check of their own (each is cut from the checked text at its
    // `\n`). Otherwise each line is checked, so only the lines that are not
    // get the error.
    match simdutf8::basic::from_utf8(lines) {
        Ok(text) => {
            let mut start = 0;
            answer_lines(
                store,
                lines.len(),
                each.map(|line| {
                    let line_text = &text[start..start + line.len()];
                    start += line.len() + 1;
                    Command::parse(line_text)
                }),
            )
        }
        Err(_) => answer_lines(store, lines.len(), each.map(parse)),
    }
}

/// Answers a batch's lines, parsed, in order (see [`handle_lines`]);
/// `lines_len` is the batch's size in bytes, to size the replies' buffer.
fn answer_lines<'a>(
    store: &impl Storage,
    lines_len: usize,
    lines: impl Iterator<Item = Result<Command<'a>, ErrorReply>>,
) -> LineReplies {
    // Room for the replies to a run of small requests (a `get` line of 20
    // bytes is answered with about 150 for a value of 100, so a lone one
    // gets at least `MIN_REPLY_ROOM`), so their buffer is not grown step by
    // step; a batch of large writes is answered with far fewer bytes than
    // it holds.
    let mut out = String::with_capacity((lines_len * 8).clamp(MIN_REPLY_ROOM, 64 << 10));
    let mut close = false;
    let mut gets = Gets::default();
    for command in lines {
        let command = match command {
            Ok(Command::Get { key }) => {
                gets.push(key);
                continue;
            }
            command => command,
        };
        gets.answer(store, &mut out);
        close = answer(store, command, &mut out);
        out.push('\n');
        if close {
            break;
        }
    }
    gets.answer(store, &mut out);
    LineReplies {
        out: out.into_bytes(),
        close,
    }
}

/// The reply buffer of a call holds at least this: a lone `get` of a value
/// of about a hundred bytes is answered without growing it.
const MIN_REPLY_ROOM: usize = 256;

/// The keys of a run of `get` lines parsed and not yet answered. The first
/// is held as it was parsed, so a lone `get`, the line a client that does
/// not pipeline sends, is answered with no packing to allocate.
#[derive(Default)]
struct Gets<'a> {
    first: Option<Cow<'a, str>>,
    /// The run's keys, packed for one `get_entries`, once it has two.
    keys: Keys,
}

impl<'a> Gets<'a> {
    fn push(&mut self, key: Cow<'a, str>) {
        match &self.first {
            None => self.first = Some(key),
            Some(first) => {
                if self.keys.is_empty() {
                    self.keys.push(first);
                }
                self.keys.push(&key);
            }
        }
    }

    /// Answers the run, one reply line each, in order, and empties it.
    fn answer(&mut self, store: &impl Storage, out: &mut String) {
        let Some(first) = self.first.take() else {
            return;
        };
        if self.keys.is_empty() {
            answer(store, Ok(Command::Get { key: first }), out);
            out.push('\n');
        } else {
            answer_gets(store, &self.keys, out);
            self.keys.clear();
        }
    }
}

/// Handles one request line, appending its reply line (without the
/// newline) to `out`; true if the connection closes after it. Never
/// panics, whatever the bytes.
pub fn handle_line(store: &impl Storage, line: &[u8], out: &mut String) -> bool {
    answer(store, parse(line), out)
}

fn parse(line: &[u8]) -> Result<Command<'_>, ErrorReply> {
    fields::parse_line(line).and_then(Command::from_fields)
}

/// Runs a parsed line and appends its reply line; true if the connection
/// closes after it.
fn answer(
    store: &impl Storage,
    command: Result<Command<'_>, ErrorReply>,
    out: &mut String,
) -> bool {
    match command.and_then(|command| apply(store, command)) {
        Ok(outcome) => reply::encode(outcome, out),
        Err(error) => {
            reply::error(error, out);
            false
        }
    }
}

/// Answers a run of two or more `get` lines, one reply line each, in
/// order. They are read with one `get_entries`, which for the host's store
/// is one crossing of the component boundary instead of one per line.
/// If that read fails (a backend that cannot be reached) or comes back short
/// (a malformed packing), the lines it did not answer are run one by one,
/// each for its own answer.
fn answer_gets(store: &impl Storage, keys: &Keys, out: &mut String) {
    let mut answered = 0;
    if let Ok(entries) = store.get_entries(keys) {
        for (key, entry) in keys.iter().zip(entries.iter()) {
            match entry {
                Some(entry) => reply::push_entry(out, key, entry),
                None => reply::error(ErrorReply::from(StoreError::NotFound), out),
            }
            out.push('\n');
            answered += 1;
        }
    }
    for key in keys.iter().skip(answered) {
        let key = Cow::Borrowed(key);
        answer(store, Ok(Command::Get { key }), out);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn lines(store: &MemoryStorage, batch: &str) -> (Vec<String>, bool) {
        let replies = handle_lines(store, batch.as_bytes());
        let text = String::from_utf8(replies.out).unwrap();
        let lines = text.split_terminator('\n').map(str::to_owned).collect();
        (lines, replies.close)
    }

    #[test]
    fn a_batch_answers_each_line_in_order_up_to_a_stop() {
        let store = MemoryStorage::default();
        let (replies, close) = lines(
            &store,
            "cmd=create|key=a|body=1\n\ncmd=get|key=a\ncmd=stop\ncmd=delete|key=a\n",
        );
        assert_eq!(replies.len(), 4, "{replies:?}");
        assert!(replies[0].contains(r#""ok":true"#), "{replies:?}");
        assert!(replies[1].contains(r#""errorcode""#), "{replies:?}");
        assert!(replies[2].contains(r#""body":"1""#), "{replies:?}");
        assert!(close);
        assert!(store.get("a").is_ok(), "the line after stop ran");
        assert_eq!(lines(&store, ""), (vec![], false));
    }

    /// A run of `get` lines is read together, yet each line keeps the reply
    /// it would get alone: values, a missing key, a line refused before it
    /// reaches the store in the middle of the run.
    #[test]
    fn a_run_of_gets_answers_each_line_as_alone() {
        let store = MemoryStorage::default();
        let batch = "cmd=create|key=a|body=1\ncmd=create|key=b|body64=/w==\n\
                     cmd=get|key=a\ncmd=get|key=nope\ncmd=get|key=b\ncmd=get|key=a\n\
                     cmd=get|key\ncmd=get|key=b\n";
        let (replies, close) = lines(&store, batch);
        assert!(!close);
        assert_eq!(replies.len(), 8, "{replies:?}");
        assert!(replies[2].contains(r#""body":"1""#), "{replies:?}");
        assert!(replies[3].contains(r#""errorcode":10"#), "{replies:?}");
        assert!(replies[4].contains(r#""body64":"/w==""#), "{replies:?}");
        assert_eq!(replies[5], replies[2]);
        assert!(replies[6].contains(r#""errorcode":8"#), "{replies:?}");
        assert_eq!(replies[7], replies[4]);
    }

    /// A batch is checked as UTF-8 whole; one that is not has each line
    /// checked, so the line that is not UTF-8 gets its error and the others
    /// (a `\r\n` ending and a multi-byte key among them) their answers.
    #[test]
    fn a_line_that_is_not_utf8_spoils_no_other_line_of_its_batch() {
        let store = MemoryStorage::default();
        lines(&store, "cmd=create|key=ключ|body=1\n");
        let clean = b"cmd=get|key=\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\r\ncmd=get|key=nope\n";
        let mut spoiled = b"cmd=get|key=\xff\n".to_vec();
        spoiled.extend_from_slice(clean);
        let text = |batch: &[u8]| String::from_utf8(handle_lines(&store, batch).out).unwrap();
        let alone = text(clean);
        let together = text(&spoiled);
        let (first, rest) = together.split_once('\n').unwrap();
        assert!(first.contains(r#""errorcode":8"#), "{first}");
        assert!(first.contains("not valid UTF-8"), "{first}");
        assert_eq!(rest, alone);
        assert!(alone.starts_with(r#"{"ok":true,"key":"ключ""#), "{alone}");
        assert!(alone.contains(r#""errorcode":10"#), "{alone}");
    }
}
