//! A writer for the flat JSON objects the line protocol answers with most
//! often (`get`, `create`, `update`, `delete`): written straight into one
//! string in field order, where building a `serde_json::Value` first costs a
//! map, its hashing and a second pass per reply.

use std::fmt::Write as _;

/// One JSON object being written; fields appear in the order they are added.
#[derive(Debug)]
pub struct ObjectWriter {
    out: String,
}

impl ObjectWriter {
    /// An object with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut out = String::with_capacity(capacity + 2);
        out.push('{');
        Self { out }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_string(&mut self.out, key);
        self.out.push(':');
    }

    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    pub fn u64(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.out, value);
        self
    }

    /// `bytes` as a base64 string, encoded straight into the object: a
    /// large value is not held twice as base64 (once alone, once copied in).
    pub fn base64(mut self, key: &str, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        self.key(key);
        self.out.push('"');
        // The base64 alphabet needs no JSON escaping.
        base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut self.out);
        self.out.push('"');
        self
    }

    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// How many bytes `value` takes as a JSON string, quotes excluded: what
/// [`push_string`] writes for it, counted without writing it.
pub fn escaped_len(value: &str) -> usize {
    value
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Appends `value` as a JSON string. Runs of bytes that need no escaping
/// (the common case) are copied whole.
pub fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (at, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[plain_from..at]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain_from = at + 1;
    }
    out.push_str(&value[plain_from..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_len_counts_what_push_string_writes() {
        for value in [
            "",
            "plain",
            "a\"b\\c\nd\re\tf\u{1}g\u{7f}h é ✓ 😀",
            "\u{0}\u{1f}",
        ] {
            let mut out = String::new();
            push_string(&mut out, value);
            assert_eq!(out.len(), escaped_len(value) + 2, "{value:?}");
        }
    }

    #[test]
    fn writes_what_serde_json_reads_back() {
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{7f}h é ✓ 😀 </script>";
        let line = ObjectWriter::with_capacity(0)
            .bool("ok", true)
            .str("key", "k")
            .u64("version", u64::MAX)
            .str("body", nasty)
            .finish();
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"ok": true, "key": "k", "version": u64::MAX, "body": nasty})
        );
        assert!(
            line.starts_with(r#"{"ok":true,"key":"k","version":"#),
            "{line}"
        );
    }

    #[test]
    fn an_empty_object_is_valid() {
        assert_eq!(ObjectWriter::with_capacity(0).finish(), "{}");
    }
}
