//! The JSON error envelope both protocols use. Its shape, codes and the
//! reply for each store error are `kvs-model`'s, shared with the host; this
//! adds what only the guest knows, which part of a write was too large.

use kvs_model::StoreError;
pub use kvs_model::envelope::{Code, ErrorReply};

/// A refused write as a reply. The store's `too-large` carries only the
/// limit; this names the part over it (the key, the value, or the content
/// type, whose limit the guest is not told), so the client knows what to
/// shorten.
pub fn write_refused(
    error: StoreError,
    key: &str,
    content_type: &str,
    value_len: u64,
) -> ErrorReply {
    let StoreError::TooLarge { limit } = error else {
        return error.into();
    };
    let part = if key.len() as u64 > limit {
        "the key"
    } else if value_len > limit {
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
