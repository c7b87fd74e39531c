//! A writer for the flat JSON objects the line protocol answers with most
//! often (`get`, `create`, `update`, `delete`): written straight into the
//! batch's reply text in field order, where building a `serde_json::Value`
//! first costs a map, its hashing, a second pass and a string per reply.

use kvs_model::json::{push_string, push_u64};

/// One JSON object being written at the end of `out`; fields appear in the
/// order they are added. Field names are the protocol's own, plain ASCII
/// needing no escape, so they are written as they are.
#[derive(Debug)]
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object at the end of `out`.
    #[inline]
    pub fn open(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, empty: true }
    }

    #[inline]
    fn key(&mut self, key: &str) {
        debug_assert!(
            key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{key} needs escaping"
        );
        self.out.push_str(if std::mem::take(&mut self.empty) {
            "\""
        } else {
            ",\""
        });
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    #[inline]
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    #[inline]
    pub fn u64(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        push_u64(self.out, value);
        self
    }

    #[inline]
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(self.out, value);
        self
    }

    /// `bytes` as a base64 string, encoded straight into the object: a
    /// large value is not held twice as base64 (once alone, once copied in).
    pub fn base64(mut self, key: &str, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        self.key(key);
        self.out.push('"');
        // The base64 alphabet needs no JSON escaping.
        base64::engine::general_purpose::STANDARD.encode_string(bytes, self.out);
        self.out.push('"');
        self
    }

    /// `value` as text (`text_key`) when it is UTF-8 and escaping it takes
    /// no more room than base64 would, else as base64 (`base64_key`), so the
    /// field is never more than about 4/3 of the value, whatever its bytes
    /// (a value of control characters would take six bytes each as escaped
    /// text). A small value is escaped once, straight into the object, and
    /// taken back in the rare case it came out longer; a large one is
    /// measured first, since escaping it could need more memory than the
    /// guest is given for a value of that size.
    pub fn text_or_base64(mut self, text_key: &str, base64_key: &str, value: &[u8]) -> Self {
        /// Past this size a value's escaped length is counted before it is written.
        const MEASURED: usize = 64 << 10;
        let base64_len = value.len().div_ceil(3) * 4;
        let text = simdutf8::basic::from_utf8(value).ok().filter(|text| {
            text.len() <= MEASURED || kvs_model::json::escaped_len(text) <= base64_len
        });
        if let Some(text) = text {
            let start = self.out.len();
            let empty = self.empty;
            self.key(text_key);
            let value_start = self.out.len();
            push_string(self.out, text);
            if self.out.len() - value_start - 2 <= base64_len {
                return self;
            }
            self.out.truncate(start);
            self.empty = empty;
        }
        self.base64(base64_key, value)
    }

    #[inline]
    pub fn finish(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(write: impl FnOnce(ObjectWriter<'_>) -> ObjectWriter<'_>) -> String {
        let mut out = String::new();
        write(ObjectWriter::open(&mut out)).finish();
        out
    }

    #[test]
    fn writes_what_serde_json_reads_back() {
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{7f}h é ✓ 😀 </script>";
        let line = object(|o| {
            o.bool("ok", true)
                .str("key", "k")
                .u64("version", u64::MAX)
                .str("body", nasty)
        });
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
        assert_eq!(object(|o| o), "{}");
    }

    #[test]
    fn a_value_goes_as_text_unless_base64_is_shorter_or_it_is_not_utf8() {
        let field = |value: &[u8]| {
            let line = object(|o| o.bool("ok", true).text_or_base64("body", "body64", value));
            serde_json::from_str::<serde_json::Value>(&line).unwrap()
        };
        assert_eq!(
            field(b"plain \"text\""),
            serde_json::json!({"ok": true, "body": "plain \"text\""})
        );
        assert_eq!(
            field(&[0, 1, 2, 255]),
            serde_json::json!({"ok": true, "body64": "AAEC/w=="})
        );
        // Six bytes per control character escaped, four per three as base64.
        assert_eq!(
            field(&[1; 6]),
            serde_json::json!({"ok": true, "body64": "AQEBAQEB"})
        );
        let line = object(|o| o.text_or_base64("body", "body64", &[1; 3]));
        assert_eq!(line, r#"{"body64":"AQEB"}"#, "the first field has no comma");
        assert_eq!(field(b""), serde_json::json!({"ok": true, "body": ""}));
        // Large values are measured before they are written; the choice is the same.
        assert_eq!(
            field(&[1; 100_000])["body64"].as_str().unwrap().len(),
            133_336
        );
        assert_eq!(
            field(&[b'a'; 100_000])["body"].as_str().unwrap().len(),
            100_000
        );
    }
}
