//! Splitting a byte stream into request lines, with a bound on line length.
//!
//! A line ends with `\n`; bytes after the last `\n` when the peer closes are
//! an incomplete request and are dropped, never executed: a client that
//! vanishes mid-line cannot apply half a command.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

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

/// Reads frames of at most `max_line` bytes.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    max_line: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(reader: R, max_line: usize) -> Self {
        Self { reader, max_line }
    }

    /// The next frame, or `None` at the end of the stream.
    pub async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(None);
            }
            let (chunk, consumed, complete) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (&available[..end], end + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long && line.len() + chunk.len() > self.max_line {
                too_long = true;
                line = Vec::new();
            }
            if !too_long {
                line.extend_from_slice(chunk);
            }
            self.reader.consume(consumed);
            if complete {
                return Ok(Some(if too_long {
                    Frame::TooLong
                } else {
                    Frame::Line(line)
                }));
            }
        }
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
    async fn an_overlong_line_is_reported_once_and_the_next_line_survives() {
        let out = frames(b"0123456789\nok\n", 5).await;
        assert_eq!(out, [Frame::TooLong, Frame::Line(b"ok".to_vec())]);
        let out = frames(b"12345\n", 5).await;
        assert_eq!(out, [Frame::Line(b"12345".to_vec())]);
    }
}
