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
    let bytes = value.as_bytes();
    let mut len = 0;
    let mut at = 0;
    loop {
        let plain = plain_prefix(&bytes[at..]);
        len += plain;
        at += plain;
        let Some(&byte) = bytes.get(at) else {
            return len;
        };
        len += escape(byte).map_or(6, str::len);
        at += 1;
    }
}

/// How a byte that JSON strings cannot hold as it is gets written: `None`
/// for `\u00XX`.
fn escape(byte: u8) -> Option<&'static str> {
    match byte {
        b'"' => Some("\\\""),
        b'\\' => Some("\\\\"),
        b'\n' => Some("\\n"),
        b'\r' => Some("\\r"),
        b'\t' => Some("\\t"),
        _ => None,
    }
}

/// How many bytes at the start of `bytes` need no escaping: a quote, a
/// backslash or a control byte ends the run. Values are mostly plain text,
/// so this looks at eight bytes at a time, as one `u64`: after the bit
/// tricks below, a byte under 0x20, or equal to `"` or `\\`, has its top
/// bit set (bytes of 0x80 and over never do).
fn plain_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const TOPS: u64 = ONES << 7;
    let below = |word: u64, limit: u8| word.wrapping_sub(ONES * u64::from(limit)) & !word;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let special = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1);
        if special & TOPS != 0 {
            break;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
        .unwrap_or(bytes.len() - at)
}

/// Appends `value` as a JSON string. Runs of bytes that need no escaping
/// (the common case) are copied whole.
pub fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let bytes = value.as_bytes();
    let mut at = 0;
    loop {
        // Escaped bytes are ASCII, so each run ends on a char boundary.
        let plain = plain_prefix(&bytes[at..]);
        out.push_str(&value[at..at + plain]);
        at += plain;
        let Some(&byte) = bytes.get(at) else {
            break;
        };
        match escape(byte) {
            Some(escaped) => out.push_str(escaped),
            None => {
                let _ = write!(out, "\\u{byte:04x}");
            }
        }
        at += 1;
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        // Every ASCII byte at every place of an eight-byte word, between
        // plain bytes and multi-byte characters.
        for byte in 0u8..0x80 {
            for at in 0..17 {
                let mut text = "abcdefghijklmnopq".to_string().into_bytes();
                text[at] = byte;
                let text = String::from_utf8(text).unwrap();
                for value in [text.clone(), format!("é{text}✓"), format!("{text}{text}")] {
                    let mut out = String::new();
                    push_string(&mut out, &value);
                    let expected = serde_json::to_string(&value).unwrap();
                    assert_eq!(
                        serde_json::from_str::<String>(&out).unwrap(),
                        value,
                        "{out} for {expected}"
                    );
                    assert_eq!(out.len(), escaped_len(&value) + 2, "{value:?}");
                }
            }
        }
    }

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
