//! The REST router over a sequence of requests on one in-memory store: it
//! never panics, every status is valid, every error is the JSON envelope,
//! and a value read back is exactly the value last written.

#![no_main]

use kvs_guest::http::{self, BodyError, Method, Request};
use kvs_guest::storage::MemoryStorage;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

#[derive(Debug, Arbitrary)]
enum Verb {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Target {
    /// `/kvs/k{n}`: a key the model tracks.
    Key(u8),
    /// Anything at all, percent-encoding and queries included.
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct Step {
    verb: Verb,
    target: Target,
    headers: Vec<(String, Vec<u8>)>,
    body: Result<Vec<u8>, bool>,
}

fuzz_target!(|steps: Vec<Step>| {
    let store = MemoryStorage::default();
    // What each tracked key must hold, as far as successful answers tell.
    let mut model: HashMap<u8, Vec<u8>> = HashMap::new();
    for step in steps.into_iter().take(64) {
        let method = match step.verb {
            Verb::Get => Method::Get,
            Verb::Head => Method::Head,
            Verb::Post => Method::Post,
            Verb::Put => Method::Put,
            Verb::Delete => Method::Delete,
            Verb::Other(name) => Method::from_name(&name),
        };
        let tracked = match &step.target {
            Target::Key(n) => Some(*n),
            Target::Raw(_) => None,
        };
        let path_with_query = match step.target {
            Target::Key(n) => format!("/kvs/k{n}"),
            Target::Raw(raw) => raw,
        };
        let body = step.body.map_err(|too_large| {
            if too_large {
                BodyError::TooLarge
            } else {
                BodyError::Broken("fuzzed".into())
            }
        });
        let sent = body.clone().ok();
        let request = Request {
            method: method.clone(),
            path_with_query,
            headers: step
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_slice()))
                .collect(),
        };
        let response = http::handle(&store, &request, body);
        assert!((100..600).contains(&response.status), "{response:?}");
        if response.status >= 400 && method != Method::Head {
            let envelope: serde_json::Value =
                serde_json::from_slice(&response.body).expect("errors are JSON");
            assert!(envelope["errorcode"].is_u64(), "{envelope}");
        }
        if method != Method::Head {
            if let Some(length) = response.header_value("content-length") {
                let length: usize = std::str::from_utf8(length).unwrap().parse().unwrap();
                assert_eq!(length, response.body.len());
            }
        }
        let Some(n) = tracked else {
            // A raw path may have written a tracked key; stop checking.
            model.clear();
            continue;
        };
        let ok = (200..300).contains(&response.status);
        match method {
            Method::Post | Method::Put if ok => {
                model.insert(n, sent.expect("a write succeeded with a body"));
            }
            Method::Delete if ok => {
                if let Some(expected) = model.remove(&n) {
                    assert_eq!(response.body, expected, "delete returns the value");
                }
            }
            Method::Get if ok => {
                if let Some(expected) = model.get(&n) {
                    assert_eq!(&response.body, expected, "get returns the last write");
                }
            }
            Method::Get if response.status == 404 => {
                assert!(!model.contains_key(&n), "a written key went missing");
            }
            _ => {}
        }
    }
});
