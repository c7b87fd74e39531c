//! The JSON error envelope, for the errors the host answers itself (the guest
//! failed, a line was too long, too many connections). Same shape and codes as
//! the guest's, so clients handle one format.

/// Unknown / internal error (the guest failed).
pub const UNKNOWN: u16 = 2;
/// A request the HTTP parser refused (malformed line or header).
pub const BAD_REQUEST: u16 = 8;
/// No resource at this path.
pub const INVALID_URL: u16 = 11;
/// The method is not allowed on this path.
pub const METHOD_NOT_ALLOWED: u16 = 19;
/// A request or line over a size limit.
pub const TOO_LARGE: u16 = 17;
/// The server cannot take the request now (connection limit, shutting down).
pub const UNAVAILABLE: u16 = 20;
/// A client took too long to send its request.
pub const TIMEOUT: u16 = 23;
/// The admin endpoint refused a new guest (does not compile, link, or pass
/// its self-check).
pub const GUEST_REJECTED: u16 = 21;
/// The admin endpoint needs a token that was missing or wrong.
pub const UNAUTHORIZED: u16 = 22;
/// The request uses something kvs does not implement (a transfer coding
/// other than `chunked`).
pub const NOT_IMPLEMENTED: u16 = 24;

/// `{"error":message,"errorcode":code,"errors":{}}` on one line.
pub fn error_json(code: u16, message: &str) -> String {
    serde_json::json!({ "error": message, "errorcode": code, "errors": {} }).to_string()
}
