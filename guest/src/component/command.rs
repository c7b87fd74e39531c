//! The `kvs:store/command` export: the request lines of the TCP command
//! protocol a client sent together in, one reply line each out.

use super::Component;
use super::bindings::exports::kvs::store::command::{self, After};
use super::host_store::HostStore;
use crate::protocol;

impl command::Guest for Component {
    fn handle_lines(lines: Vec<Vec<u8>>) -> Vec<command::Reply> {
        crate::flavor::trap_if_broken();
        protocol::handle_lines(&HostStore, &lines)
            .into_iter()
            .map(|reply| command::Reply {
                line: reply.line,
                after: if reply.close {
                    After::Close
                } else {
                    After::KeepOpen
                },
            })
            .collect()
    }
}
