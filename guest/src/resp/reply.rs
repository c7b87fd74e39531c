//! RESP2 replies, written straight into the batch's output buffer.

/// The replies of one batch, in command order.
#[derive(Debug, Default)]
pub struct Out {
    pub bytes: Vec<u8>,
}

impl Out {
    /// `+text`: a status such as `OK`.
    pub fn simple(&mut self, text: &str) {
        self.line(b'+', text.as_bytes());
    }

    /// `-text`: an error, its first word the kind (`ERR`, `WRONGTYPE`, ...).
    /// Line breaks in the text would break the framing, so they become
    /// spaces.
    pub fn error(&mut self, text: &str) {
        let clean: String = text
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        self.line(b'-', clean.as_bytes());
    }

    pub fn integer(&mut self, value: i64) {
        self.line(b':', value.to_string().as_bytes());
    }

    pub fn bulk(&mut self, value: &[u8]) {
        self.bytes.push(b'$');
        kvs_model::resp::push_decimal(&mut self.bytes, value.len());
        self.bytes.extend_from_slice(b"\r\n");
        self.bytes.extend_from_slice(value);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// The null bulk string: no value.
    pub fn nil(&mut self) {
        self.bytes.extend_from_slice(b"$-1\r\n");
    }

    /// The head of an array; its `len` elements follow.
    pub fn array(&mut self, len: usize) {
        self.bytes.push(b'*');
        kvs_model::resp::push_decimal(&mut self.bytes, len);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// An array of bulk strings.
    pub fn bulks<T: AsRef<[u8]>>(&mut self, items: &[T]) {
        self.array(items.len());
        for item in items {
            self.bulk(item.as_ref());
        }
    }

    fn line(&mut self, kind: u8, text: &[u8]) {
        self.bytes.push(kind);
        self.bytes.extend_from_slice(text);
        self.bytes.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_framed_as_resp2() {
        let mut out = Out::default();
        out.simple("OK");
        out.error("ERR bad\r\nthing");
        out.integer(-3);
        out.bulk(b"a\r\nb");
        out.nil();
        out.bulks(&["x", ""]);
        assert_eq!(
            out.bytes,
            b"+OK\r\n-ERR bad  thing\r\n:-3\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n$1\r\nx\r\n$0\r\n\r\n"
        );
    }
}
