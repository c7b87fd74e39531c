//! Dispatch: which handler serves a method and path.

use super::{BodyReader, Method, Request, Response, entry, listing};
use crate::envelope::{Code, ErrorReply};
use crate::storage::Storage;

/// The collection every key lives under.
pub const PREFIX: &str = "/kvs";

const ENTRY_METHODS: &str = "GET, HEAD, POST, PUT, DELETE";
const COLLECTION_METHODS: &str = "GET, HEAD";

/// Serves one request. Never panics on any input: every failure is a response.
pub fn handle(store: &impl Storage, request: &Request, body: impl BodyReader) -> Response {
    let (path, query) = match request.path_with_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (request.path_with_query.as_str(), ""),
    };
    let response = match route(path) {
        Route::Collection => match request.method {
            Method::Get | Method::Head => listing::list(store, query),
            _ => not_allowed(COLLECTION_METHODS),
        },
        Route::Entry(raw_key) => match decode_key(raw_key) {
            Err(reply) => Response::error(reply),
            Ok(key) => match &request.method {
                Method::Get | Method::Head => entry::get(store, &key),
                Method::Post => entry::create(store, &key, request, body),
                Method::Put => entry::update(store, &key, request, body),
                Method::Delete => entry::delete(store, &key, request),
                Method::Other(_) => not_allowed(ENTRY_METHODS),
            },
        },
        Route::Unknown => Response::error(ErrorReply::new(
            Code::InvalidUrl,
            format!("Error invalid URL: no resource at {path}; keys live under {PREFIX}/{{key}}"),
        ))
        .with_status(404),
    };
    if request.method == Method::Head {
        response.without_body()
    } else {
        response
    }
}

enum Route<'a> {
    Collection,
    Entry(&'a str),
    Unknown,
}

fn route(path: &str) -> Route<'_> {
    match path.strip_prefix(PREFIX) {
        Some("" | "/") => Route::Collection,
        Some(rest) => match rest.strip_prefix('/') {
            Some(key) => Route::Entry(key),
            None => Route::Unknown,
        },
        None => Route::Unknown,
    }
}

/// The key is the rest of the path, percent-decoded, so `/kvs/a%2Fb` and
/// `/kvs/a/b` both name the key `a/b`.
fn decode_key(raw: &str) -> Result<String, ErrorReply> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| {
            ErrorReply::new(
                Code::InvalidUrl,
                "Error invalid URL: the key is not valid UTF-8 once percent-decoded",
            )
        })
}

fn not_allowed(allow: &str) -> Response {
    Response::error(ErrorReply::new(
        Code::MethodNotAllowed,
        format!("Error method not allowed: use one of {allow}"),
    ))
    .header("allow", allow)
}

impl Response {
    /// A HEAD response: the headers of the GET, `Content-Length` included,
    /// and no body.
    fn without_body(mut self) -> Self {
        self.body.clear();
        self
    }
}
