//! The REST API, as plain Rust over [`Storage`](crate::storage::Storage).
//!
//! - [`router`]: picks the handler from the method and path.
//! - [`entry`]: `/kvs/{key}`: read, create, update, delete one entry.
//! - [`listing`]: `/kvs?prefix=&limit=&cursor=`: pages of keys.
//! - [`conditions`]: `ETag` and `If-Match`.
//!
//! The component adapter converts `wasi:http` types to [`Request`] and
//! [`Response`]; nothing here knows about WebAssembly.

pub mod conditions;
pub mod entry;
pub mod listing;
pub mod router;

use crate::envelope::{Code, ErrorReply};
pub use kvs_model::headers::Headers;
use kvs_model::json::Decimal;

pub use router::handle;

/// The collection every key lives under.
pub const PREFIX: &str = "/kvs";

/// Serves a request whose body the caller has already read: the host's
/// one-call `rest` export (where the host keeps the body and the write names
/// it), and the host's native ceiling (where it is bytes).
pub fn handle_read<S, B, V>(
    store: &S,
    method: &str,
    path_with_query: String,
    headers: Headers,
    body: Result<B, BodyError>,
) -> Response<V>
where
    S: crate::storage::Storage + crate::storage::WritesFrom<B> + crate::storage::ReadsAs<V>,
    B: Body,
    V: Body + From<Vec<u8>>,
{
    let request = Request {
        method: Method::from_name(method),
        path_with_query,
        headers,
    };
    handle(store, &request, body)
}

/// Percent-decodes a path or query component. An escape that is not `%`
/// and two hex digits is refused rather than kept as literal text, so
/// `/kvs/bad%G1` is an error, not the key `bad%G1`.
pub fn percent_decode(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(at, &byte)| {
        byte == b'%'
            && !(bytes.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(at + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if malformed {
        return Err("a % is not followed by two hex digits");
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| "it is not valid UTF-8 once percent-decoded")
}

/// The content type of values written without one, as the Go server did.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The parts of an HTTP request the API looks at; the body is read on demand
/// through a [`BodyReader`] so a request that needs none never reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path and query as sent, still percent-encoded.
    pub path_with_query: String,
    /// Packed as they cross from the host (see [`Headers`]).
    pub headers: Headers,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers_named(name).next()
    }

    /// Every value of a header the request repeats, in order.
    pub fn headers_named<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }
}

/// HTTP methods; anything unusual is `Other` and gets a 405.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other(String),
}

impl Method {
    /// The method HTTP spells `name`; methods are case-sensitive.
    pub fn from_name(name: &str) -> Self {
        match name {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            other => Self::Other(other.to_string()),
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is longer than the limit passed to the reader.
    TooLarge,
    /// The connection failed or the client went away mid-body.
    Broken(String),
}

/// A request or response body: its bytes, or a handle to them where the
/// host keeps them (the kvs host's `request-body` and `held-value`), so that
/// writing or sending it never copies the bytes through the guest. A write
/// of a body of type `B` needs a store that takes one
/// ([`WritesFrom`](crate::storage::WritesFrom)); a response of one, a store
/// that reads one ([`ReadsAs`](crate::storage::ReadsAs)).
pub trait Body {
    /// Its length in bytes.
    fn size(&self) -> u64;
}

impl Body for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

/// Reads the whole request body, refusing to buffer more than `limit` bytes.
pub trait BodyReader {
    type Body: Body;
    fn read_body(self, limit: u64) -> Result<Self::Body, BodyError>;
}

impl<F: FnOnce(u64) -> Result<Vec<u8>, BodyError>> BodyReader for F {
    type Body = Vec<u8>;
    fn read_body(self, limit: u64) -> Result<Vec<u8>, BodyError> {
        self(limit)
    }
}

/// A body the caller read before routing (the host's `rest` call), still
/// held to the limit in case the caller used a larger one.
impl<B: Body> BodyReader for Result<B, BodyError> {
    type Body = B;
    fn read_body(self, limit: u64) -> Result<B, BodyError> {
        let body = self?;
        if body.size() > limit {
            return Err(BodyError::TooLarge);
        }
        Ok(body)
    }
}

/// A complete response. Its body is bytes, or (`B`) may be a value the
/// store holds, sent without passing through the guest (see
/// [`ReadsAs`](crate::storage::ReadsAs)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<B = Vec<u8>> {
    pub status: u16,
    /// Packed as they cross to the host (see [`Headers`]).
    pub headers: Headers,
    pub body: B,
}

impl<B> Response<B> {
    /// Overrides the status an error code would otherwise get.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push(name, value.as_ref());
        self
    }

    /// A header whose value is a number, written without allocating.
    pub fn header_u64(mut self, name: &str, n: u64) -> Self {
        self.headers.push(name, Decimal::new(n).as_bytes());
        self
    }

    /// The `ETag` of a version ([`conditions::etag_parts`]).
    pub fn etag(mut self, version: u64) -> Self {
        let digits = Decimal::new(version);
        self.headers
            .push_parts("etag", &conditions::etag_parts(&digits));
        self
    }

    /// Sets the body with its type and length: a known length lets clients
    /// see a truncated transfer, and spares the wire chunked encoding.
    pub fn body<C: Body>(self, content_type: &str, body: C) -> Response<C> {
        let length = body.size();
        Response {
            status: self.status,
            headers: self.headers,
            body,
        }
        .header("content-type", content_type)
        .header_u64("content-length", length)
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            // Room for an entry's response: its ETag, type, length and
            // perhaps its TTL or location, without regrowing either buffer.
            headers: Headers::with_capacity(160, 4),
            body: Vec::new(),
        }
    }

    /// This response, whose body is bytes, as one whose body type can also
    /// be a held value.
    pub fn into_body<B: From<Vec<u8>>>(self) -> Response<B> {
        Response {
            status: self.status,
            headers: self.headers,
            body: B::from(self.body),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status).body("application/json", value.to_string().into_bytes())
    }

    /// An error in the JSON envelope, with the status that fits its code.
    pub fn error(reply: ErrorReply) -> Self {
        let status = match reply.code {
            Code::NotFound => 404,
            Code::AlreadyExists => 409,
            Code::PreconditionFailed => 412,
            Code::TooLarge => 413,
            Code::Decoding => 422,
            Code::StoreFull => 507,
            Code::MethodNotAllowed => 405,
            Code::Unavailable | Code::NotDurable => 503,
            Code::Unknown => 500,
            Code::Unauthorized => 401,
            Code::Forbidden => 403,
            Code::Timeout => 408,
            Code::GuestRejected => 422,
            Code::NotImplemented => 501,
            Code::MissingParameter | Code::ArgumentException | Code::InvalidUrl | Code::Stop => 400,
        };
        Self::new(status).body("application/json", reply.to_json().into_bytes())
    }
}
