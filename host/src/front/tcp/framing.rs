//! Splitting a byte stream into request lines, with a bound on line length.
//!
//! A line ends with `\n`; bytes after the last `\n` when the peer closes are
//! an incomplete request and are dropped, never executed: a client that
//! vanishes mid-line cannot apply half a command.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// One unit read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its `\n` (a trailing `\r` is left for the
    /// protocol to strip).
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were read and discarded, so the
    /// next frame starts at the next line.
    TooLong,
}

impl Frame {
    /// The bytes of the line the frame holds (none for one too long, whose
    /// bytes were dropped).
    pub fn bytes(&self) -> usize {
        match self {
            Self::Line(line) => line.len(),
            Self::TooLong => 0,
        }
    }
}

/// Reads frames of at most `max_line` bytes.
///
/// The line being assembled lives in the reader, not in a pending future, so
/// [`LineReader::next_frame`] is cancel-safe: a connection loop may drop it
/// in a `select!` (to write replies) and call it again without losing bytes.
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

    /// The next frame, or `None` at the end of the stream.
    pub async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            let available = self.reader.fill_buf().await?.len();
            if available == 0 {
                return Ok(None);
            }
            let (consumed, frame) = self.take(available);
            self.reader.consume(consumed);
            if frame.is_some() {
                return Ok(frame);
            }
        }
    }

    /// The next frame if it is already complete in the read buffer; never
    /// waits. Lets a connection answer a pipelined batch with one write.
    pub fn buffered_frame(&mut self) -> Option<Frame> {
        if !self.reader.buffer().contains(&b'\n') {
            return None;
        }
        let (consumed, frame) = self.take(self.reader.buffer().len());
        self.reader.consume(consumed);
        frame
    }

    /// Moves buffered bytes (of the first `available`) into the current
    /// line, up to and including the first newline; returns how many bytes
    /// to consume, and the frame when the line is complete.
    fn take(&mut self, available: usize) -> (usize, Option<Frame>) {
        let buffered = &self.reader.buffer()[..available];
        let (chunk, consumed, complete) = match buffered.iter().position(|&b| b == b'\n') {
            Some(end) => (&buffered[..end], end + 1, true),
            None => (buffered, buffered.len(), false),
        };
        if !self.too_long && self.line.len() + chunk.len() > self.max_line {
            self.too_long = true;
            self.line = Vec::new();
        }
        if !self.too_long {
            self.line.extend_from_slice(chunk);
        }
        if !complete {
            return (consumed, None);
        }
        let frame = if std::mem::take(&mut self.too_long) {
            Frame::TooLong
        } else {
            Frame::Line(std::mem::take(&mut self.line))
        };
        (consumed, Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max_line: usize) -> Vec<Frame> {
        // A tiny buffer makes lines span many reads.
        let reader = tokio::io::BufReader::with_capacity(3, input);
        let mut lines = LineReader::new(reader, max_line);
        let mut out = Vec::new();
        while let Some(frame) = lines.next_frame().await.unwrap() {
            out.push(frame);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_drops_an_unterminated_tail() {
        let out = frames(b"a=1\r\n\nbb\npartial", 100).await;
        assert_eq!(
            out,
            [
                Frame::Line(b"a=1\r".to_vec()),
                Frame::Line(vec![]),
                Frame::Line(b"bb".to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn a_frame_survives_its_future_being_dropped_mid_line() {
        let (client, server) = tokio::io::duplex(64);
        let mut lines = LineReader::new(BufReader::new(server), 100);
        let mut client = client;
        use tokio::io::AsyncWriteExt as _;
        client.write_all(b"cmd=get | ").await.unwrap();
        // The first half arrives, then the wait for the rest is abandoned.
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), lines.next_frame()).await;
        assert!(waited.is_err());
        assert_eq!(lines.buffered_frame(), None);
        client.write_all(b"key=1\nnext\n").await.unwrap();
        assert_eq!(
            lines.next_frame().await.unwrap(),
            Some(Frame::Line(b"cmd=get | key=1".to_vec()))
        );
        assert_eq!(lines.buffered_frame(), Some(Frame::Line(b"next".to_vec())));
        assert_eq!(lines.buffered_frame(), None);
    }

    #[tokio::test]
    async fn an_overlong_line_is_reported_once_and_the_next_line_survives() {
        let out = frames(b"0123456789\nok\n", 5).await;
        assert_eq!(out, [Frame::TooLong, Frame::Line(b"ok".to_vec())]);
        let out = frames(b"12345\n", 5).await;
        assert_eq!(out, [Frame::Line(b"12345".to_vec())]);
    }
}
