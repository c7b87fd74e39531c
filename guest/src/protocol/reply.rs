//! Outcomes as reply lines: one JSON object per line. Successes carry
//! `"ok":true`; errors are the envelope.

use super::apply::Outcome;
use super::command::HELP;
use crate::envelope::{Code, ErrorReply};
use crate::json::ObjectWriter;
use crate::paging;
use crate::storage::{EntryRef, KeyPage, now_ms};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Appends the reply line to an outcome (without its newline) to `out`;
/// true if the connection closes after it.
pub fn encode(outcome: Outcome<'_>, out: &mut String) -> bool {
    match outcome {
        Outcome::Entry { key, entry } => push_entry(out, &key, EntryRef::from(&entry)),
        Outcome::Written { key, version } => ObjectWriter::open(out)
            .bool("ok", true)
            .str("key", &key)
            .u64("version", version)
            .finish(),
        Outcome::Keys(page) => out.push_str(&keys(page).to_string()),
        Outcome::Ttl { key, seconds } => {
            out.push_str(&json!({"ok": true, "key": key, "ttl": seconds}).to_string());
        }
        Outcome::Persisted { key, changed } => {
            out.push_str(&json!({"ok": true, "key": key, "persisted": changed}).to_string());
        }
        Outcome::Help => out
            .push_str(&json!({"ok": true, "help": HELP, "guest": crate::flavor::NAME}).to_string()),
        Outcome::Stop => {
            error(ErrorReply::new(Code::Stop, "Stop command from client"), out);
            return true;
        }
    }
    false
}

/// Appends an error's reply line to `out`; the connection stays open.
pub fn error(error: ErrorReply, out: &mut String) {
    kvs_model::envelope::push_error_json(out, error.code, &error.message);
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

/// An entry as a reply, with its value as `body` (JSON text) or `body64`
/// (see [`ObjectWriter::text_or_base64`]).
pub fn push_entry(out: &mut String, key: &str, entry: EntryRef<'_>) {
    // Room for the whole reply up front: a body is never longer than its
    // base64, and growing the buffer for a large one would hold it twice
    // over, past the memory the guest is given for a value of that size (so
    // for those the key and type are measured as escaped, too).
    let body_room = entry.value.len().div_ceil(3) * 4;
    let (key_room, type_room) = if body_room <= 1 << 16 {
        (key.len(), entry.content_type.len())
    } else {
        use kvs_model::json::escaped_len;
        (escaped_len(key), escaped_len(entry.content_type))
    };
    out.reserve(key_room + type_room + body_room + 128);
    let reply = ObjectWriter::open(out)
        .bool("ok", true)
        .str("key", key)
        .str("type", entry.content_type)
        .u64("version", entry.version);
    let reply = match entry.expires_at {
        Some(at) => reply.u64("ttl", kvs_model::store::seconds_left(at, now_ms())),
        None => reply,
    };
    reply.text_or_base64("body", "body64", entry.value).finish();
}
