//! Runs a [`Command`] against the store, the one place a command of any
//! wire protocol takes effect. The result is an [`Outcome`], which each
//! protocol encodes its own way.

use super::command::{Command, Value};
use crate::envelope::{ErrorReply, write_refused};
use crate::storage::{Entry, KeyPage, Storage};

/// What a command did, before it is encoded for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The entry under `key`: read, or just deleted.
    Entry {
        key: String,
        entry: Entry,
    },
    /// A write took effect under this new version.
    Written {
        key: String,
        version: u64,
    },
    /// A page of keys.
    Keys(KeyPage),
    Help,
    Stop,
}

/// Applies one command. Store errors become error replies here, so every
/// protocol refuses the same writes with the same reasons.
pub fn apply(store: &impl Storage, command: Command) -> Result<Outcome, ErrorReply> {
    Ok(match command {
        Command::Get { key } => {
            let entry = store.get(&key)?;
            Outcome::Entry { key, entry }
        }
        Command::Create { key, value } => {
            let Value {
                content_type,
                bytes,
            } = &value;
            let version = store
                .create(&key, content_type, bytes)
                .map_err(|e| write_refused(e, &key, content_type, bytes.len()))?;
            Outcome::Written { key, version }
        }
        Command::Update {
            key,
            value,
            if_version,
        } => {
            let Value {
                content_type,
                bytes,
            } = &value;
            let version = store
                .update(&key, content_type, bytes, if_version)
                .map_err(|e| write_refused(e, &key, content_type, bytes.len()))?;
            Outcome::Written { key, version }
        }
        Command::Delete { key, if_version } => {
            let entry = store.delete(&key, if_version)?;
            Outcome::Entry { key, entry }
        }
        Command::Keys(page) => Outcome::Keys(page.fetch(store)?),
        Command::Help => Outcome::Help,
        Command::Stop => Outcome::Stop,
    })
}
