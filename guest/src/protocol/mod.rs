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
pub use kvs_model::LineReply;

use crate::storage::Storage;

/// Handles the lines a client sent together, in order: one reply each, up
/// to and including the first that closes the connection.
pub fn handle_lines(store: &impl Storage, lines: &[Vec<u8>]) -> Vec<LineReply> {
    let mut replies = Vec::with_capacity(lines.len());
    for line in lines {
        let reply = handle_line(store, line);
        let close = reply.close;
        replies.push(reply);
        if close {
            break;
        }
    }
    replies
}

/// Handles one request line; never panics, whatever the bytes.
pub fn handle_line(store: &impl Storage, line: &[u8]) -> LineReply {
    let outcome = fields::parse_line(line)
        .and_then(Command::from_fields)
        .and_then(|command| apply(store, command));
    match outcome {
        Ok(outcome) => reply::encode(outcome),
        Err(error) => reply::error(error),
    }
}
