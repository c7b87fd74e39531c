//! The `kvs:store/command` export: the request lines of the TCP command
//! protocol a client sent together in, one reply line each out.

use super::Component;
use super::bindings::exports::kvs::store::command;
use super::host_store::HostStore;
use crate::protocol;

impl command::Guest for Component {
    fn handle_lines(lines: Vec<u8>) -> command::Replies {
        crate::flavor::trap_if_broken();
        let replies = protocol::handle_lines(&HostStore, &lines);
        command::Replies {
            out: replies.out,
            close: replies.close,
        }
    }
}
