//! The TCP line protocol: one request line in, exactly one reply line out.
//!
//! - [`parse`]: the grammar, `cmd=get | key=1`.
//! - [`commands`]: each command applied to the store.
//!
//! Replies are JSON objects on one line. Successes carry `"ok":true`; errors
//! are the Go server's envelope (`{"error":..,"errorcode":N,"errors":{}}`),
//! so a client always tells a value from an error, and a value holding
//! newlines or binary bytes cannot break the framing: JSON escapes newlines,
//! and bytes that are not UTF-8 travel as base64 in `body64`.

pub mod commands;
pub mod parse;

use crate::storage::Storage;

/// The reply to one line, and whether the connection should close after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// One line of JSON, without the newline.
    pub line: String,
    pub close: bool,
}

/// Handles one request line; never panics, whatever the bytes.
pub fn handle_line(store: &impl Storage, line: &[u8]) -> Reply {
    let outcome = parse::parse_line(line).and_then(|fields| commands::execute(store, fields));
    match outcome {
        Ok(reply) => reply,
        Err(error) => Reply {
            line: error.to_json(),
            close: false,
        },
    }
}
