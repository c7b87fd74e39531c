//! The `kvs:store/command` export: one line of the TCP command protocol in,
//! one reply line out.

use super::Component;
use super::bindings::exports::kvs::store::command::{self, After};
use super::host_store::HostStore;
use crate::protocol;

impl command::Guest for Component {
    fn handle_line(line: Vec<u8>) -> command::Reply {
        crate::flavor::trap_if_broken();
        let reply = protocol::handle_line(&HostStore, &line);
        command::Reply {
            line: reply.line,
            after: if reply.close {
                After::Close
            } else {
                After::KeepOpen
            },
        }
    }
}
