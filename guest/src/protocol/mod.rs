//! The TCP line protocol: one request line in, exactly one reply line out.
//!
//! A line goes through four steps, each in its own module:
//! - [`fields`]: the grammar, `cmd=get | key=1`, split into named fields.
//! - [`command`]: the fields checked into a typed [`Command`].
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

use crate::storage::Storage;

/// Handles the lines a client sent together (`lines` holds them each ended
/// by `\n`), in order: one reply each, up to and including the first that
/// closes the connection, written one after another into one buffer.
pub fn handle_lines(store: &impl Storage, lines: &[u8]) -> LineReplies {
    let mut out = String::new();
    let mut close = false;
    if let Some(lines) = lines.strip_suffix(b"\n") {
        for line in lines.split(|&byte| byte == b'\n') {
            close = handle_line(store, line, &mut out);
            out.push('\n');
            if close {
                break;
            }
        }
    }
    LineReplies {
        out: out.into_bytes(),
        close,
    }
}

/// Handles one request line, appending its reply line (without the
/// newline) to `out`; true if the connection closes after it. Never
/// panics, whatever the bytes.
pub fn handle_line(store: &impl Storage, line: &[u8], out: &mut String) -> bool {
    let outcome = fields::parse_line(line)
        .and_then(Command::from_fields)
        .and_then(|command| apply(store, command));
    match outcome {
        Ok(outcome) => reply::encode(outcome, out),
        Err(error) => {
            reply::error(error, out);
            false
        }
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
}
