//! The JSON error envelope both front ends use, and its error codes.
//!
//! The shape `{"error":"...","errorcode":N,"errors":{}}` and codes 2 to 14
//! come from the Go server kvs replaces, so its clients keep working; codes
//! from 15 on are new cases that server never distinguished.

use crate::storage::StoreError;

/// Error codes of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Code {
    Unknown = 2,
    Decoding = 4,
    MissingParameter = 5,
    ArgumentException = 8,
    NotFound = 10,
    InvalidUrl = 11,
    Stop = 14,
    AlreadyExists = 15,
    PreconditionFailed = 16,
    TooLarge = 17,
    StoreFull = 18,
    MethodNotAllowed = 19,
    Unavailable = 20,
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
        serde_json::json!({
            "error": self.message,
            "errorcode": self.code as u16,
            "errors": {},
        })
        .to_string()
    }
}

/// A refused write as a reply. The store's `too-large` carries only the
/// limit; this names the part over it (the key, the value, or the content
/// type, whose limit the guest is not told), so the client knows what to
/// shorten.
pub fn write_refused(
    error: StoreError,
    key: &str,
    content_type: &str,
    value_len: usize,
) -> ErrorReply {
    let StoreError::TooLarge { limit } = error else {
        return error.into();
    };
    let part = if key.len() as u64 > limit {
        "the key"
    } else if value_len as u64 > limit {
        "the value"
    } else if content_type.len() as u64 > limit {
        "the content type"
    } else {
        return error.into();
    };
    ErrorReply::new(
        Code::TooLarge,
        format!("Error too large: {part} is over the limit of {limit} bytes"),
    )
}

impl From<StoreError> for ErrorReply {
    fn from(err: StoreError) -> Self {
        match err {
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
        }
    }
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
}
