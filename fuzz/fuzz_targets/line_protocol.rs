//! The TCP command protocol over a sequence of raw lines on one in-memory
//! store: it never panics, and every line gets exactly one line of JSON that
//! is either a success or the error envelope.

#![no_main]

use kvs_guest::protocol;
use kvs_guest::storage::MemoryStorage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let store = MemoryStorage::default();
    for line in input.split(|&b| b == b'\n').take(64) {
        let mut reply = String::new();
        protocol::handle_line(&store, line, &mut reply);
        assert!(!reply.contains('\n'), "{reply}");
        let parsed: serde_json::Value = serde_json::from_str(&reply).expect("every reply is JSON");
        assert!(
            parsed["ok"] == true || parsed["errorcode"].is_u64(),
            "{reply}"
        );
    }
});
