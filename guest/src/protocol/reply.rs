//! Outcomes as reply lines: one JSON object per line. Successes carry
//! `"ok":true`; errors are the envelope.

use super::apply::Outcome;
use super::command::HELP;
use crate::envelope::{Code, ErrorReply};
use crate::json::ObjectWriter;
use crate::paging;
use crate::storage::{Entry, KeyPage, now_ms};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kvs_model::LineReply;
use serde_json::{Value, json};

/// The reply line to an outcome.
pub fn encode(outcome: Outcome) -> LineReply {
    let line = match outcome {
        Outcome::Entry { key, entry } => entry_json(&key, entry),
        Outcome::Written { key, version } => written(&key, version),
        Outcome::Keys(page) => keys(page).to_string(),
        Outcome::Ttl { key, seconds } => {
            json!({"ok": true, "key": key, "ttl": seconds}).to_string()
        }
        Outcome::Persisted { key, changed } => {
            json!({"ok": true, "key": key, "persisted": changed}).to_string()
        }
        Outcome::Help => {
            json!({"ok": true, "help": HELP, "guest": crate::flavor::NAME}).to_string()
        }
        Outcome::Stop => {
            return LineReply {
                line: ErrorReply::new(Code::Stop, "Stop command from client").to_json(),
                close: true,
            };
        }
    };
    LineReply { line, close: false }
}

/// An error as a reply line; the connection stays open.
pub fn error(error: ErrorReply) -> LineReply {
    LineReply {
        line: error.to_json(),
        close: false,
    }
}

fn keys(page: KeyPage) -> Value {
    let unnameable: serde_json::Map<String, Value> = page
        .keys
        .iter()
        .filter(|key| needs_key64(key))
        .map(|key| (key.clone(), Value::from(STANDARD.encode(key))))
        .collect();
    let mut reply = json!({
        "ok": true,
        "keys": page.keys,
        "next_cursor": page.next_cursor.as_deref().map(paging::encode),
    });
    if !unnameable.is_empty() {
        reply["key64"] = Value::Object(unnameable);
    }
    reply
}

/// Whether `key=` cannot carry `key` as it is (the line protocol splits at
/// `|` and line breaks and trims white space), so a client must send it as
/// `key64=`.
pub fn needs_key64(key: &str) -> bool {
    key.contains(['|', '\n', '\r']) || key.trim() != key
}

/// The reply to a write.
fn written(key: &str, version: u64) -> String {
    ObjectWriter::with_capacity(key.len() + 48)
        .bool("ok", true)
        .str("key", key)
        .u64("version", version)
        .finish()
}

/// An entry as a reply, with its value as `body` (JSON text) when it is
/// UTF-8 and escaping it takes no more room than base64 would, else as
/// `body64`. So a reply is never more than about 4/3 of the value, whatever
/// its bytes: the guest can answer for any value it can hold (a value of
/// control characters would take six bytes each as escaped text).
fn entry_json(key: &str, entry: Entry) -> String {
    let base64_len = entry.value.len().div_ceil(3) * 4;
    let text = std::str::from_utf8(&entry.value)
        .ok()
        .filter(|text| crate::json::escaped_len(text) <= base64_len);
    let value_len = text.map_or(base64_len, crate::json::escaped_len);
    let reply = ObjectWriter::with_capacity(
        crate::json::escaped_len(key)
            + crate::json::escaped_len(&entry.content_type)
            + value_len
            + 80,
    )
    .bool("ok", true)
    .str("key", key)
    .str("type", &entry.content_type)
    .u64("version", entry.version);
    let reply = match entry.expires_at {
        Some(at) => reply.u64("ttl", kvs_model::store::seconds_left(at, now_ms())),
        None => reply,
    };
    match text {
        Some(text) => reply.str("body", text),
        None => reply.base64("body64", &entry.value),
    }
    .finish()
}
