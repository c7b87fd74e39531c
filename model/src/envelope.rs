//! The JSON error envelope, `{"error":"...","errorcode":N,"errors":{}}`, and
//! its codes: one format for every error a client sees, whether the guest
//! answers it or the host does (the guest failed, a line was too long, too
//! many connections, an admin request was refused).
//!
//! The shape and codes 2 to 14 come from the Go server kvs replaces, so its
//! clients keep working; codes from 15 on are cases that server never
//! distinguished.

use crate::store::StoreError;

/// Error codes of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Code {
    /// Unknown or internal (the guest failed).
    Unknown = 2,
    Decoding = 4,
    MissingParameter = 5,
    /// A bad argument, or a request the HTTP parser refused.
    ArgumentException = 8,
    NotFound = 10,
    /// No resource at this path.
    InvalidUrl = 11,
    Stop = 14,
    AlreadyExists = 15,
    PreconditionFailed = 16,
    /// A request, line, key or value over a size limit.
    TooLarge = 17,
    StoreFull = 18,
    /// The method is not allowed on this path.
    MethodNotAllowed = 19,
    /// The server cannot take the request now (connection limit, shutting
    /// down, a backend that failed).
    Unavailable = 20,
    /// The admin endpoint refused a new guest (it does not compile, link, or
    /// pass its self-check).
    GuestRejected = 21,
    /// The admin endpoint needs a token that was missing or wrong.
    Unauthorized = 22,
    /// A client took too long to send its request.
    Timeout = 23,
    /// The request uses something kvs does not implement (a transfer coding
    /// other than `chunked`).
    NotImplemented = 24,
    /// A write refused because it cannot be made durable now (the
    /// write-ahead log cannot be written: a full disk, an I/O error); reads
    /// still work, and writes resume once the log can be written.
    NotDurable = 25,
    /// The admin listener refused a request a browser sent for another
    /// site, or one naming a host that is not this loopback listener (DNS
    /// rebinding).
    Forbidden = 26,
}

/// An error reply: a code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: Code,
    pub message: String,
}

impl ErrorReply {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The envelope as one line of JSON (no newline).
    pub fn to_json(&self) -> String {
        error_json(self.code, &self.message)
    }
}

/// `{"error":message,"errorcode":code,"errors":{}}` on one line.
pub fn error_json(code: Code, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 40);
    push_error_json(&mut out, code, message);
    out
}

/// Appends [`error_json`]'s line to `out`, where a batch of replies is
/// being written.
pub fn push_error_json(out: &mut String, code: Code, message: &str) {
    out.push_str(r#"{"error":"#);
    crate::json::push_string(out, message);
    out.push_str(r#","errorcode":"#);
    crate::json::push_u64(out, code as u64);
    out.push_str(r#","errors":{}}"#);
}

impl From<StoreError> for ErrorReply {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::NotFound => Self::new(Code::NotFound, "Error not found"),
            StoreError::AlreadyExists => Self::new(Code::AlreadyExists, "Error key already exists"),
            StoreError::VersionMismatch { current } => Self::new(
                Code::PreconditionFailed,
                format!("Error version mismatch: the current version is {current}"),
            ),
            StoreError::TooLarge { limit } => Self::new(
                Code::TooLarge,
                format!("Error too large: the limit is {limit} bytes"),
            ),
            StoreError::StoreFull => Self::new(
                Code::StoreFull,
                "Error store full: the store's memory limit is reached",
            ),
            StoreError::InvalidKey(reason) => Self::new(
                Code::ArgumentException,
                format!("Error invalid key: {reason}"),
            ),
            StoreError::Unavailable(reason) => Self::new(
                Code::Unavailable,
                format!("Error storage unavailable: {reason}"),
            ),
            StoreError::NotDurable(reason) => Self::new(Code::NotDurable, not_durable(reason)),
            StoreError::NotAnInteger | StoreError::Overflow => {
                Self::new(Code::ArgumentException, format!("Error {err}"))
            }
        }
    }
}

/// The message of a write refused for want of a durable log.
pub fn not_durable(reason: &str) -> String {
    format!(
        "Error not durable: the write-ahead log cannot be written ({reason}); the write was \
         not made, reads still work, and writes resume once the log can be written"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keeps_the_go_shape() {
        let reply = ErrorReply::from(StoreError::NotFound);
        assert_eq!(
            reply.to_json(),
            r#"{"error":"Error not found","errorcode":10,"errors":{}}"#
        );
    }

    #[test]
    fn envelope_is_what_serde_json_writes() {
        for message in ["", "plain", "a\"b\\c\nd\u{1} é ✓ </script>"] {
            let expected = serde_json::json!({
                "error": message,
                "errorcode": Code::ArgumentException as u16,
                "errors": {},
            });
            let line = error_json(Code::ArgumentException, message);
            assert_eq!(line, expected.to_string());
        }
    }
}
