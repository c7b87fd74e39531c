//! The JSON error envelope on the answers hyper gives by itself.
//!
//! A request hyper cannot parse never reaches kvs: hyper answers it (400 for
//! a malformed head, 414 for a request target over its limit, 431 for a head
//! over its limit) with an empty body and closes the connection. Every other
//! error kvs sends carries the envelope `{"error":..,"errorcode":N,..}`, so
//! [`EnvelopedErrors`] wraps each HTTP connection's socket and, when hyper
//! writes one of those bodiless answers, writes it with the envelope instead.
//! Everything else passes through untouched.

use kvs_model::{Code, error_json};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A socket whose writes get the envelope added to hyper's own error answers.
#[derive(Debug)]
pub struct EnvelopedErrors<S> {
    inner: S,
    /// A rewritten answer, and how much of it is out; hyper was told it was
    /// all written, so it goes out before anything else.
    pending: Vec<u8>,
    written: usize,
}

impl<S> EnvelopedErrors<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> EnvelopedErrors<S> {
    /// Writes what is left of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes `head` in place of hyper's answer if it is one to rewrite.
    fn rewrite(&mut self, head: &[u8], cx: &mut Context<'_>) -> Option<io::Result<usize>> {
        self.pending = with_envelope(head)?;
        self.written = 0;
        // Whatever does not go out now goes out on the next write or flush.
        match self.poll_pending(cx) {
            Poll::Ready(Err(error)) => Some(Err(error)),
            _ => Some(Ok(head.len())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EnvelopedErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EnvelopedErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(result) = self.rewrite(buf, cx) {
            return Poll::Ready(result);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let mut filled = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && let Some(result) = self.rewrite(only, cx)
        {
            return Poll::Ready(result);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's answer with the envelope, if `head` is one: a whole response head
/// with one of its statuses, an empty body, and no content type (every
/// answer kvs itself gives has one).
fn with_envelope(head: &[u8]) -> Option<Vec<u8>> {
    const ANSWERS: [(&str, Code, &str); 3] = [
        (
            "HTTP/1.1 400 ",
            Code::ArgumentException,
            "Error bad request: the request is not valid HTTP/1.1",
        ),
        (
            "HTTP/1.1 414 ",
            Code::TooLarge,
            "Error too large: the request target (path and query) is over the server's limit",
        ),
        (
            "HTTP/1.1 431 ",
            Code::TooLarge,
            "Error too large: the request's headers are over the server's limit",
        ),
    ];
    // Every write of every response passes here: a cheap look at the first
    // bytes and the size rules out all but a short 4xx head.
    if head.len() > 512 || !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let (_, code, message) = ANSWERS
        .iter()
        .find(|(status, ..)| text.starts_with(status))?;
    let head_only = text.strip_suffix("\r\n\r\n")?;
    if head_only.contains("\r\n\r\n") {
        return None;
    }
    let lower = head_only.to_ascii_lowercase();
    let empty_body = "\r\ncontent-length: 0";
    let at = lower.find(empty_body)?;
    let next = at + empty_body.len();
    if lower.contains("\r\ncontent-type:")
        || !(next == lower.len() || lower[next..].starts_with("\r\n"))
    {
        return None;
    }
    let body = error_json(*code, message);
    let mut out = String::with_capacity(head.len() + body.len() + 48);
    out.push_str(&head_only[..at]);
    out.push_str("\r\ncontent-type: application/json\r\ncontent-length: ");
    out.push_str(&body.len().to_string());
    out.push_str(&head_only[next..]);
    out.push_str("\r\n\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_answers_are_rewritten() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 26 Nov 2026 18:08:54 GMT\r\n\r\n";
        let rewritten = String::from_utf8(with_envelope(hyper).unwrap()).unwrap();
        let (head, body) = rewritten.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
        assert!(head.contains("\r\ndate: "), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["errorcode"], 17);

        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nbody",
            b"not a response",
        ] {
            assert_eq!(with_envelope(other), None, "{:?}", String::from_utf8_lossy(other));
        }
    }
}
