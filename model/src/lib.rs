//! What the kvs host and its guest agree on, written once and compiled into
//! both: the host natively, the guest for `wasm32-wasip2`.
//!
//! The WIT contract (`wit/kvs.wit`) carries these across the component
//! boundary; each side's bindings convert its generated types to these at
//! its edge and nowhere else.
//!
//! - [`store`]: an entry, why a store refuses an operation, the limits it
//!   enforces, and the checks every backend applies before it writes.
//! - [`page`]: pages of keys, where to cut them, and page sizes from clients.
//! - [`envelope`]: the JSON error envelope and its codes, for every error a
//!   client sees, whether the guest or the host answers it.

pub mod envelope;
pub mod page;
pub mod store;

pub use envelope::{Code, ErrorReply, error_json};
pub use page::{KeyPage, parse_page_limit};
pub use store::{Entry, Limits, StoreError, check_version};

/// The reply to one line of the TCP command protocol, and whether the
/// connection closes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReply {
    /// One line of JSON, without the newline.
    pub line: String,
    pub close: bool,
}
