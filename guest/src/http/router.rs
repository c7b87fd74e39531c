//! Dispatch: which handler serves a method and path.

use super::{Body, BodyReader, Method, PREFIX, Request, Response, entry, listing};
use crate::envelope::{Code, ErrorReply};
use crate::storage::{ReadsAs, Storage, WritesFrom};

const ENTRY_METHODS: &str = "GET, HEAD, POST, PUT, DELETE";
const COLLECTION_METHODS: &str = "GET, HEAD";

/// Serves one request. Never panics on any input: every failure is a response.
pub fn handle<S, R, B>(store: &S, request: &Request, body: R) -> Response<B>
where
    S: Storage + WritesFrom<R::Body> + ReadsAs<B>,
    R: BodyReader,
    B: Body + From<Vec<u8>>,
{
    let (path, query) = match request.path_with_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (request.path_with_query.as_str(), ""),
    };
    let response = match route(path) {
        Route::Collection => match request.method {
            Method::Get | Method::Head => listing::list(store, query),
            _ => not_allowed(COLLECTION_METHODS),
        }
        .into_body(),
        Route::Entry(raw_key) => match decode_key(raw_key) {
            Err(reply) => Response::error(reply).into_body(),
            Ok(key) => match &request.method {
                Method::Get | Method::Head => entry::get(store, &key),
                Method::Post => entry::create(store, &key, query, request, body).into_body(),
                Method::Put => entry::update(store, &key, query, request, body).into_body(),
                Method::Delete => entry::delete(store, &key, request).into_body(),
                Method::Other(_) => not_allowed(ENTRY_METHODS).into_body(),
            },
        },
        Route::Unknown => Response::error(ErrorReply::new(
            Code::InvalidUrl,
            format!("Error invalid URL: no resource at {path}; keys live under {PREFIX}/{{key}}"),
        ))
        .with_status(404)
        .into_body(),
    };
    let response = response.header("kvs-guest", crate::flavor::NAME);
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
    super::percent_decode(raw).map_err(|reason| {
        ErrorReply::new(
            Code::InvalidUrl,
            format!("Error invalid URL: the key is malformed: {reason}"),
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

impl<B: From<Vec<u8>>> Response<B> {
    /// A HEAD response: the headers of the GET, `Content-Length` included,
    /// and no body.
    fn without_body(mut self) -> Self {
        self.body = B::from(Vec::new());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{BodyError, DEFAULT_CONTENT_TYPE};
    use crate::storage::{Limits, MemoryStorage};

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method,
            path_with_query: path.to_string(),
            headers: headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect(),
        }
    }

    fn no_body(_: u64) -> Result<Vec<u8>, BodyError> {
        panic!("this request must not read a body")
    }

    fn send(store: &MemoryStorage, method: Method, path: &str, body: &[u8]) -> Response {
        let body = body.to_vec();
        handle(store, &request(method, path, &[]), move |_| Ok(body))
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        std::str::from_utf8(response.header_value(name).unwrap()).unwrap()
    }

    #[test]
    fn create_read_update_delete() {
        let store = MemoryStorage::default();
        let created = handle(
            &store,
            &request(
                Method::Post,
                "/kvs/a%20b",
                &[("Content-Type", "text/plain")],
            ),
            |_| Ok(b"hi".to_vec()),
        );
        assert_eq!(created.status, 201);
        assert_eq!(header(&created, "location"), "/kvs/a%20b");
        assert_eq!(header(&created, "etag"), "\"1\"");

        let read = handle(&store, &request(Method::Get, "/kvs/a%20b", &[]), no_body);
        assert_eq!((read.status, read.body.as_slice()), (200, &b"hi"[..]));
        assert_eq!(header(&read, "content-type"), "text/plain");
        assert_eq!(header(&read, "content-length"), "2");

        assert_eq!(send(&store, Method::Post, "/kvs/a%20b", b"x").status, 409);
        assert_eq!(send(&store, Method::Put, "/kvs/missing", b"x").status, 404);
        let updated = send(&store, Method::Put, "/kvs/a%20b", b"new");
        assert_eq!((updated.status, header(&updated, "etag")), (200, "\"2\""));

        let deleted = handle(&store, &request(Method::Delete, "/kvs/a%20b", &[]), no_body);
        assert_eq!(deleted.body, b"new");
        assert_eq!(header(&deleted, "content-type"), DEFAULT_CONTENT_TYPE);
        let gone = handle(&store, &request(Method::Get, "/kvs/a%20b", &[]), no_body);
        assert_eq!(gone.status, 404);
        assert_eq!(
            gone.body,
            br#"{"error":"Error not found","errorcode":10,"errors":{}}"#
        );
    }

    #[test]
    fn head_keeps_the_headers_and_drops_the_body() {
        let store = MemoryStorage::default();
        send(&store, Method::Post, "/kvs/k", b"12345");
        let head = handle(&store, &request(Method::Head, "/kvs/k", &[]), no_body);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        assert_eq!(header(&head, "content-length"), "5");
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_without_reading() {
        let store = MemoryStorage::with_limits(Limits {
            max_key_bytes: 64,
            max_value_bytes: 10,
            max_page_size: 10,
        });
        let response = handle(
            &store,
            &request(Method::Post, "/kvs/k", &[("content-length", "11")]),
            no_body,
        );
        assert_eq!(response.status, 413);
        let streamed = handle(&store, &request(Method::Post, "/kvs/k", &[]), |_| {
            Err(BodyError::TooLarge)
        });
        assert_eq!(streamed.status, 413);
        let broken = handle(&store, &request(Method::Post, "/kvs/k", &[]), |_| {
            Err(BodyError::Broken("reset".into()))
        });
        assert_eq!(broken.status, 400);
        assert_eq!(send(&store, Method::Get, "/kvs/k", b"").status, 404);
    }

    #[test]
    fn unknown_methods_and_paths() {
        let store = MemoryStorage::default();
        let patch = handle(
            &store,
            &request(Method::Other("PATCH".into()), "/kvs/k", &[]),
            no_body,
        );
        assert_eq!(patch.status, 405);
        assert_eq!(header(&patch, "allow"), ENTRY_METHODS);
        let post_collection = handle(&store, &request(Method::Post, "/kvs", &[]), no_body);
        assert_eq!(header(&post_collection, "allow"), COLLECTION_METHODS);
        for path in ["/", "/kvsx", "/kv/s", ""] {
            let response = handle(&store, &request(Method::Get, path, &[]), no_body);
            assert_eq!(response.status, 404, "{path}");
        }
    }

    #[test]
    fn listing_with_query_parameters() {
        let store = MemoryStorage::default();
        for key in ["a1", "a2", "a3", "b1"] {
            send(&store, Method::Post, &format!("/kvs/{key}"), b"v");
        }
        let page = handle(
            &store,
            &request(Method::Get, "/kvs?prefix=a&limit=2", &[]),
            no_body,
        );
        let page: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
        assert_eq!(page["keys"], serde_json::json!(["a1", "a2"]));
        let cursor = page["next_cursor"].as_str().unwrap();
        let next = handle(
            &store,
            &request(
                Method::Get,
                &format!("/kvs?prefix=a&limit=2&cursor={cursor}"),
                &[],
            ),
            no_body,
        );
        let next: serde_json::Value = serde_json::from_slice(&next.body).unwrap();
        assert_eq!(next["keys"], serde_json::json!(["a3"]));
        assert!(next["next_cursor"].is_null());
        let bad = handle(&store, &request(Method::Get, "/kvs?limit=x", &[]), no_body);
        assert_eq!(bad.status, 400);
    }

    /// A body held elsewhere (the kvs host's `request-body`): the handlers
    /// write it through the store's [`WritesFrom`] and only ask its size,
    /// which alone decides a 413.
    struct Held(&'static [u8]);

    impl crate::http::Body for Held {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
    }

    impl WritesFrom<Held> for MemoryStorage {
        fn create_from(
            &self,
            key: &str,
            content_type: &str,
            body: &Held,
            expires_at: Option<u64>,
        ) -> Result<u64, crate::storage::StoreError> {
            self.create(key, content_type, body.0, expires_at)
        }

        fn update_from(
            &self,
            key: &str,
            content_type: &str,
            body: &Held,
            if_version: Option<u64>,
            expiry: crate::storage::Expiry,
        ) -> Result<u64, crate::storage::StoreError> {
            self.update(key, content_type, body.0, if_version, expiry)
        }
    }

    #[test]
    fn a_held_body_is_written_by_the_store_and_measured_for_the_limit() {
        let store = MemoryStorage::with_limits(Limits {
            max_key_bytes: 64,
            max_value_bytes: 5,
            max_page_size: 10,
        });
        let typed = [("content-type", "a/b")];
        let created = handle(
            &store,
            &request(Method::Post, "/kvs/k", &typed),
            Ok(Held(b"\0\xffv")),
        );
        assert_eq!(created.status, 201);
        let updated = handle(
            &store,
            &request(Method::Put, "/kvs/k", &[("if-match", "\"1\"")]),
            Ok(Held(b"12345")),
        );
        assert_eq!((updated.status, header(&updated, "etag")), (200, "\"2\""));
        let read = handle(&store, &request(Method::Get, "/kvs/k", &[]), no_body);
        assert_eq!(read.body, b"12345");
        assert_eq!(header(&read, "content-type"), DEFAULT_CONTENT_TYPE);
        let over = handle(
            &store,
            &request(Method::Put, "/kvs/k", &typed),
            Ok(Held(b"123456")),
        );
        assert_eq!(over.status, 413);
        assert_eq!(
            over.body,
            br#"{"error":"Error too large: the limit is 5 bytes","errorcode":17,"errors":{}}"#
        );
        let failed: Result<Held, BodyError> = Err(BodyError::Broken("reset".into()));
        let broken = handle(&store, &request(Method::Put, "/kvs/k", &[]), failed);
        assert_eq!(broken.status, 400);
        let read = handle(&store, &request(Method::Get, "/kvs/k", &[]), no_body);
        assert_eq!(
            (read.body.as_slice(), header(&read, "etag")),
            (&b"12345"[..], "\"2\"")
        );
    }
}
