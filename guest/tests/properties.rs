//! Property tests of the guest's entry points on arbitrary input: the REST
//! router and the TCP command parser never panic, always answer, and keep
//! their framing promises.

use kvs_guest::http::{self, Method, Request};
use kvs_guest::protocol;
use kvs_guest::storage::MemoryStorage;
use proptest::prelude::*;

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Head),
        Just(Method::Post),
        Just(Method::Put),
        Just(Method::Delete),
        "[A-Z]{1,8}".prop_map(Method::Other),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        "/kvs(/[a-zA-Z0-9%._~:/-]{0,20})?(\\?[a-z=&%0-9]{0,30})?",
        "\\PC{0,40}",
    ]
}

/// The reply line to `line`, as the batch it stands in would hold it.
fn reply(store: &MemoryStorage, line: &[u8]) -> String {
    let mut out = String::new();
    protocol::handle_line(store, line, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_router_answers_every_request_with_a_valid_status(
        method in method(),
        path in path(),
        headers in proptest::collection::vec(("[a-zA-Z-]{1,16}", proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let store = MemoryStorage::default();
        let head = method == Method::Head;
        let headers = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        let request = Request { method, path_with_query: path, headers };
        let response = http::handle(&store, &request, move |_| Ok(body));
        prop_assert!((200..600).contains(&response.status));
        // HEAD answers carry no body, errors included.
        if response.status >= 400 && !head {
            let envelope: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            prop_assert!(envelope["errorcode"].is_u64());
        }
    }

    #[test]
    fn every_line_gets_exactly_one_reply_line(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        let store = MemoryStorage::default();
        let reply = reply(&store, &line);
        prop_assert!(!reply.contains('\n'));
        let parsed: serde_json::Value = serde_json::from_str(&reply).unwrap();
        prop_assert!(parsed["ok"] == true || parsed["errorcode"].is_u64());
    }

    /// A get line in the one spelling the parser takes without its grammar
    /// parses exactly as the grammar parses it, whatever the key: white
    /// space, `|`, `=`, `\r` and non-ASCII characters at either end or in
    /// between.
    #[test]
    fn a_get_line_parses_as_the_grammar_parses_it(
        head in prop_oneof![Just("cmd=get|key="), Just("cmd=get|key= "), Just("cmd=get | key="), Just("cmd=get|")],
        key in "[a-z0-9|= \t\r\u{b}\u{85}\u{a0}é✓-]{0,12}",
    ) {
        let line = format!("{head}{key}");
        let grammar = protocol::fields::parse_text(&line).and_then(protocol::Command::from_fields);
        prop_assert_eq!(protocol::Command::parse(&line), grammar);
    }

    #[test]
    fn the_reply_writer_escapes_any_string_so_json_reads_it_back(text in "\\PC*|[\\x00-\\x7f]{0,64}") {
        let mut line = String::new();
        kvs_guest::json::ObjectWriter::open(&mut line)
            .str("body", &text)
            .finish();
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        prop_assert_eq!(parsed["body"].as_str(), Some(text.as_str()));
    }

    #[test]
    fn stored_values_come_back_exactly_over_the_line_protocol(
        key in "[a-zA-Z0-9]{1,20}",
        value in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let store = MemoryStorage::default();
        let create = format!("cmd=create | key={key} | body64={}", engine.encode(&value));
        let created = reply(&store, create.as_bytes());
        prop_assert!(created.contains("\"ok\":true"), "{}", created);
        let got = reply(&store, format!("cmd=get | key={key}").as_bytes());
        let parsed: serde_json::Value = serde_json::from_str(&got).unwrap();
        let back = match (parsed["body"].as_str(), parsed["body64"].as_str()) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(encoded)) => engine.decode(encoded).unwrap(),
            _ => panic!("a value comes back as body or body64: {}", got),
        };
        prop_assert_eq!(back, value);
    }
}
