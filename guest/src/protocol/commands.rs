//! The commands of the line protocol, with the same semantics as the REST API:
//! create never overwrites, update never creates.

use super::Reply;
use super::parse::{Fields, argument};
use crate::cursor;
use crate::envelope::{Code, ErrorReply, write_refused};
use crate::json::ObjectWriter;
use crate::storage::{Entry, Storage};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The type of values sent with `body=` and no `type=`.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// The type of values sent with `body64=` and no `type=`.
pub const BINARY_CONTENT_TYPE: &str = "application/octet-stream";
/// Keys per `keys` page when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// What `cmd=help` answers: one entry per command.
pub const HELP: &[&str] = &[
    "cmd=get | key=K",
    "cmd=create | key=K | [type=T |] body=TEXT (rest of line) or body64=BASE64",
    "cmd=update | key=K | [type=T |] [version=N |] body=TEXT or body64=BASE64",
    "cmd=delete | key=K [| version=N]",
    "cmd=keys [| prefix=P] [| limit=N] [| cursor=C]   (alias: getall)",
    "cmd=help",
    "cmd=stop   (closes this connection)",
    "key64=BASE64 names any key exactly (one with |, a line break or outer spaces)",
    "body= stores text/plain; charset=utf-8 and body64= application/octet-stream unless type= says",
    "replies carry body (text) or body64 when the value is not UTF-8 or base64 is shorter",
];

/// Applies one parsed request.
pub fn execute(store: &impl Storage, fields: Fields) -> Result<Reply, ErrorReply> {
    let cmd = fields
        .cmd
        .as_deref()
        .ok_or_else(|| argument("missing cmd; try cmd=help"))?;
    let line = match cmd {
        "get" => entry_json(key(&fields)?, store.get(key(&fields)?)?),
        "create" => {
            let (content_type, body) = value(&fields)?;
            let key = key(&fields)?;
            let version = store
                .create(key, content_type, body)
                .map_err(|e| write_refused(e, key, content_type, body.len()))?;
            written(key, version)
        }
        "update" => {
            let (content_type, body) = value(&fields)?;
            let key = key(&fields)?;
            let version = store
                .update(key, content_type, body, version(&fields)?)
                .map_err(|e| write_refused(e, key, content_type, body.len()))?;
            written(key, version)
        }
        "delete" => entry_json(
            key(&fields)?,
            store.delete(key(&fields)?, version(&fields)?)?,
        ),
        "keys" | "getall" => keys(store, &fields)?.to_string(),
        "help" => json!({"ok": true, "help": HELP, "guest": crate::flavor::NAME}).to_string(),
        "stop" => {
            return Ok(Reply {
                line: ErrorReply::new(Code::Stop, "Stop command from client").to_json(),
                close: true,
            });
        }
        other => return Err(argument(format!("unknown command {other:?}; try cmd=help"))),
    };
    Ok(Reply { line, close: false })
}

fn key(fields: &Fields) -> Result<&str, ErrorReply> {
    match fields.key.as_deref() {
        Some("") | None => Err(argument("missing key")),
        Some(key) => {
            crate::flavor::misbehave_for(key);
            Ok(key)
        }
    }
}

fn value(fields: &Fields) -> Result<(&str, &[u8]), ErrorReply> {
    let body = fields
        .body
        .as_deref()
        .ok_or_else(|| argument("missing body (body=TEXT or body64=BASE64)"))?;
    let default_type = if fields.body_is_base64 {
        BINARY_CONTENT_TYPE
    } else {
        TEXT_CONTENT_TYPE
    };
    let content_type = fields
        .content_type
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(default_type);
    Ok((content_type, body))
}

fn version(fields: &Fields) -> Result<Option<u64>, ErrorReply> {
    fields
        .version
        .as_deref()
        .map(|raw| {
            raw.parse()
                .map_err(|_| argument(format!("bad version {raw:?}: expected a number")))
        })
        .transpose()
}

fn keys(store: &impl Storage, fields: &Fields) -> Result<Value, ErrorReply> {
    let limit = match fields.limit.as_deref() {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => crate::storage::parse_page_limit(raw)
            .ok_or_else(|| argument(format!("bad limit {raw:?}: expected a positive integer")))?,
    };
    let after = match fields.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(cursor::decode(raw).ok_or_else(|| {
            argument("bad cursor: pass back the next_cursor of a previous reply")
        })?),
    };
    let page = store.list(
        fields.prefix.as_deref().unwrap_or(""),
        after.as_deref(),
        limit,
    )?;
    let mut reply = json!({
        "ok": true,
        "keys": page.keys,
        "next_cursor": page.next_cursor.as_deref().map(cursor::encode),
    });
    let unnameable: serde_json::Map<String, Value> = page
        .keys
        .iter()
        .filter(|key| needs_key64(key))
        .map(|key| (key.clone(), Value::from(STANDARD.encode(key))))
        .collect();
    if !unnameable.is_empty() {
        reply["key64"] = Value::Object(unnameable);
    }
    Ok(reply)
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
    match text {
        Some(text) => reply.str("body", text),
        None => reply.base64("body64", &entry.value),
    }
    .finish()
}
