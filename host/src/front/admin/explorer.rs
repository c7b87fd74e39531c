//! The key explorer: one page (`page/`), embedded in the binary, and the
//! data it reads and writes.
//!
//! The page's three files are public: they hold no data, and a browser
//! cannot send a bearer token with a navigation, so the page itself asks for
//! the token and sends it with every call. The calls go to the admin
//! listener's `/kvs` routes, which run the public REST API's own handling
//! (guest, limits, metrics), so the explorer shows exactly what clients get.

use crate::app::App;
use crate::front::http::{self, HttpConfig};
use crate::logic::rest::full;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/explorer.js");
const STYLE: &str = include_str!("page/explorer.css");

/// The page runs only its own script and style, shows images only from the
/// values it fetched (`blob:`), calls only this listener, and cannot be
/// framed: a stored value can never bring in script.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// A value opened directly on the admin listener (`/kvs/page.html` typed
/// into the address bar) is shown in a sandbox with nothing allowed, so a
/// stored page cannot act with the listener's authority.
const DATA_POLICY: &str = "sandbox; default-src 'none'; frame-ancestors 'none'";

/// The page's file at `path` with its content type, if `path` names one:
/// the one list of the page's files.
fn file(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/index.html" => Some((INDEX, "text/html; charset=utf-8")),
        "/explorer.js" => Some((SCRIPT, "text/javascript; charset=utf-8")),
        "/explorer.css" => Some((STYLE, "text/css; charset=utf-8")),
        _ => None,
    }
}

/// Whether `path` names one of the page's files.
pub fn is_page_file(path: &str) -> bool {
    file(path).is_some()
}

/// The page's file at `path`, if `path` names one.
pub fn page_file(path: &str) -> Option<Response<HyperOutgoingBody>> {
    let (text, content_type) = file(path)?;
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, content_type)
        // A new kvs binary may bring a new page: always ask.
        .header(CACHE_CONTROL, "no-cache")
        .body(full(Bytes::from_static(text.as_bytes())))
        .expect("a static response is valid");
    harden(&mut response, PAGE_POLICY);
    Some(response)
}

/// Whether `path` belongs to the REST API (`/kvs`, `/kvs/...`).
pub fn is_data(path: &str) -> bool {
    path == "/kvs" || path.starts_with("/kvs/")
}

/// Serves a REST request through the public API's handling. The admin
/// token is the admin listener's business and is not passed on to the guest.
pub async fn data(
    app: App,
    config: HttpConfig,
    mut request: Request<Incoming>,
) -> Response<HyperOutgoingBody> {
    request.headers_mut().remove(AUTHORIZATION);
    let mut response = http::answer(app, config, request).await;
    harden(&mut response, DATA_POLICY);
    response
}

/// The headers every explorer response carries: its content policy, no
/// type sniffing, no referrer, no framing.
fn harden(response: &mut Response<HyperOutgoingBody>, policy: &'static str) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}
