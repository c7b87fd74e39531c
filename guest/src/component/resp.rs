//! The `kvs:store/resp` export: a batch of Redis commands in, their replies
//! out, with the connection's session carried by the host.

use super::Component;
use super::bindings::exports::kvs::store::resp;
use super::bindings::kvs::store::server as host;
use super::host_store::HostStore;
use crate::resp::{Server, ServerInfo, Session, handle_batch};

/// The host's facts, through the `kvs:store/server` import.
struct HostServer;

impl Server for HostServer {
    fn info(&self) -> ServerInfo {
        let info = host::info();
        ServerInfo {
            version: info.version,
            uptime_ms: info.uptime_ms,
            connected_clients: info.connected_clients,
            resident_bytes: info.resident_bytes,
            connections_received: info.connections_received,
            connections_rejected: info.connections_rejected,
            commands_processed: info.commands_processed,
        }
    }
}

impl resp::Guest for Component {
    fn handle(session: resp::Session, commands: Vec<u8>) -> resp::BatchReply {
        crate::flavor::trap_if_broken();
        let session = Session {
            id: session.id,
            name: session.name,
        };
        let replies = handle_batch(&HostStore, &HostServer, session, &commands);
        resp::BatchReply {
            out: replies.out,
            session: resp::Session {
                id: replies.session.id,
                name: replies.session.name,
            },
            close: replies.close,
        }
    }
}
