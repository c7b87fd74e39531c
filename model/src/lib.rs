//! What the kvs host and its guest agree on, written once and compiled into
//! both: the host natively, the guest for `wasm32-wasip2`.
//!
//! The WIT contract (`wit/kvs.wit`) carries these across the component
//! boundary; each side's bindings convert its generated types to these at
//! its edge and nowhere else.
//!
//! - [`store`]: an entry, why a store refuses an operation, the limits it
//!   enforces, and the checks every backend applies before it writes; keys,
//!   values and entries read together, packed as they cross.
//! - [`page`]: pages of keys, where to cut them, and page sizes from clients.
//! - [`scan`]: the fixed hash order Redis's `SCAN` walks a store in.
//! - [`envelope`]: the JSON error envelope and its codes, for every error a
//!   client sees, whether the guest or the host answers it.
//! - [`json`]: JSON strings and numbers written straight into a reply.
//! - [`headers`]: HTTP headers packed as a response crosses.
//! - [`resp`]: Redis requests framed out of bytes, and the batch of them the
//!   host hands the guest.

pub mod envelope;
pub mod headers;
pub mod json;
pub mod page;
pub mod resp;
pub mod scan;
pub mod store;

pub use envelope::{Code, ErrorReply, error_json};
pub use page::{KeyPage, parse_page_limit};
pub use scan::ScanPage;
pub use store::{
    Entries, Entry, EntryRef, ExpireCondition, Expiry, Keys, Limits, Pairs, StoreError, StoreStats,
    Values, check_version,
};

/// What the host keeps for one RESP connection between guest calls: guests
/// keep no state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RespSession {
    /// The connection's number, unique in this host (`CLIENT ID`).
    pub id: u64,
    /// Set by `CLIENT SETNAME`.
    pub name: Option<String>,
}

/// The replies to a batch of RESP commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RespReplies {
    /// RESP-encoded, in command order.
    pub out: Vec<u8>,
    pub session: RespSession,
    /// Close the connection once `out` is sent (`QUIT`).
    pub close: bool,
}

/// What the host tells a guest about itself (the WIT `server` interface).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerInfo {
    /// `kvs <version>`.
    pub version: String,
    pub uptime_ms: u64,
    /// Open connections on the TCP and RESP ports.
    pub connected_clients: u32,
    pub resident_bytes: u64,
    /// Connections the TCP and RESP ports accepted, since the start.
    pub connections_received: u64,
    /// Connections refused at the connection limit, since the start.
    pub connections_rejected: u64,
    /// Commands (lines and RESP commands) answered, since the start.
    pub commands_processed: u64,
}

/// The replies to a batch of lines of the TCP command protocol.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineReplies {
    /// One line of JSON per line answered, in order, each ended by `\n`
    /// (JSON text never holds a raw newline).
    pub out: Vec<u8>,
    /// Close the connection once they are sent.
    pub close: bool,
}
