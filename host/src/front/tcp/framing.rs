//! Splitting a byte stream into request lines, with a bound on line length.
//!
//! A line ends with `\n`; bytes after the last `\n` when the peer closes are
//! an incomplete request and are dropped, never executed: a client that
//! vanishes mid-line cannot apply half a command.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// One unit read from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, appended to the caller's buffer with its `\n` (a
    /// trailing `\r` is left for the protocol to strip).
    Line,
    /// A line longer than the limit; its bytes were read and discarded, so the
    /// next frame starts at the next line.
    TooLong,
}

/// Reads frames of at most `max_line` bytes.
///
/// A line that came whole in one read goes straight from the read buffer to
/// the caller's, where a batch of lines is gathered. One that spans reads is
/// assembled in the reader, not in a pending future, so
/// [`LineReader::next_frame`] is cancel-safe: a connection loop may drop it
/// in a `select!` (to write replies) and call it again without losing bytes;
/// the caller's buffer is written only when a frame is returned.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: BufReader<R>,
    max_line: usize,
    /// The current line so far (empty once it went over the limit).
    line: Vec<u8>,
    too_long: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(reader: BufReader<R>, max_line: usize) -> Self {
        Self {
            reader,
            max_line,
            line: Vec::new(),
            too_long: false,
        }
    }

    /// The next frame, or `None` at the end of the stream; a line is
    /// appended to `lines`.
    pub async fn next_frame(&mut self, lines: &mut Vec<u8>) -> std::io::Result<Option<Frame>> {
        loop {
            let available = self.reader.fill_buf().await?.len();
            if available == 0 {
                return Ok(None);
            }
            let (consumed, frame) = self.take(available, lines);
            self.reader.consume(consumed);
            if frame.is_some() {
                return Ok(frame);
            }
        }
    }

    /// The next frame if it is already complete in the read buffer; never
    /// waits. Lets a connection answer a pipelined batch with one write.
    pub fn buffered_frame(&mut self, lines: &mut Vec<u8>) -> Option<Frame> {
        if !self.reader.buffer().contains(&b'\n') {
            return None;
        }
        let (consumed, frame) = self.take(self.reader.buffer().len(), lines);
        self.reader.consume(consumed);
        frame
    }

    /// Moves buffered bytes (of the first `available`) into the current
    /// line, up to and including the first newline; returns how many bytes
    /// to consume, and the frame when the line is complete, whose bytes are
    /// then appended to `lines`.
    fn take(&mut self, available: usize, lines: &mut Vec<u8>) -> (usize, Option<Frame>) {
        let buffered = &self.reader.buffer()[..available];
        let (chunk, consumed, complete) = match buffered.iter().position(|&b| b == b'\n') {
            Some(end) => (&buffered[..end], end + 1, true),
            None => (buffered, buffered.len(), false),
        };
        if !self.too_long && self.line.len() + chunk.len() > self.max_line {
            self.too_long = true;
            self.line = Vec::new();
        }
        if !complete {
            if !self.too_long {
                self.line.extend_from_slice(chunk);
            }
            return (consumed, None);
        }
        if std::mem::take(&mut self.too_long) {
            return (consumed, Some(Frame::TooLong));
        }
        // A line that spanned reads hands over its buffer (a large value is
        // not copied when it starts the batch) and its memory with it.
        let start = std::mem::take(&mut self.line);
        if lines.is_empty() {
            *lines = start;
        } else {
            lines.extend_from_slice(&start);
        }
        lines.extend_from_slice(chunk);
        lines.push(b'\n');
        (consumed, Some(Frame::Line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of `input`, and the lines they appended.
    async fn frames(input: &[u8], max_line: usize) -> (Vec<Frame>, String) {
        // A tiny buffer makes lines span many reads.
        let reader = tokio::io::BufReader::with_capacity(3, input);
        let mut lines = LineReader::new(reader, max_line);
        let mut out = Vec::new();
        let mut text = Vec::new();
        while let Some(frame) = lines.next_frame(&mut text).await.unwrap() {
            out.push(frame);
        }
        (out, String::from_utf8(text).unwrap())
    }

    #[tokio::test]
    async fn splits_lines_and_drops_an_unterminated_tail() {
        let (out, text) = frames(b"a=1\r\n\nbb\npartial", 100).await;
        assert_eq!(out, [Frame::Line; 3]);
        assert_eq!(text, "a=1\r\n\nbb\n");
    }

    #[tokio::test]
    async fn a_frame_survives_its_future_being_dropped_mid_line() {
        let (client, server) = tokio::io::duplex(64);
        let mut lines = LineReader::new(BufReader::new(server), 100);
        let mut client = client;
        use tokio::io::AsyncWriteExt as _;
        client.write_all(b"cmd=get | ").await.unwrap();
        // The first half arrives, then the wait for the rest is abandoned.
        let mut text = Vec::new();
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            lines.next_frame(&mut text),
        )
        .await;
        assert!(waited.is_err());
        assert_eq!(lines.buffered_frame(&mut text), None);
        assert!(text.is_empty(), "half a line was handed out");
        client.write_all(b"key=1\nnext\n").await.unwrap();
        assert_eq!(
            lines.next_frame(&mut text).await.unwrap(),
            Some(Frame::Line)
        );
        assert_eq!(text, b"cmd=get | key=1\n");
        assert_eq!(lines.buffered_frame(&mut text), Some(Frame::Line));
        assert_eq!(lines.buffered_frame(&mut text), None);
        assert_eq!(text, b"cmd=get | key=1\nnext\n");
    }

    #[tokio::test]
    async fn an_overlong_line_is_reported_once_and_the_next_line_survives() {
        let (out, text) = frames(b"0123456789\nok\n", 5).await;
        assert_eq!(out, [Frame::TooLong, Frame::Line]);
        assert_eq!(text, "ok\n");
        let (out, text) = frames(b"12345\n", 5).await;
        assert_eq!(out, [Frame::Line]);
        assert_eq!(text, "12345\n");
    }
}
