//! Runs a [`Command`] against the store, the one place a command of any
//! wire protocol takes effect. The result is an [`Outcome`], which each
//! protocol encodes its own way.

use super::command::{Command, Value};
use crate::envelope::{ErrorReply, write_refused};
use crate::storage::{Entry, ExpireCondition, Expiry, KeyPage, Storage, now_ms};
use std::borrow::Cow;

/// What a command did, before it is encoded for the wire. Its key is
/// still the request line's, borrowed where the line holds it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The entry under `key`: read, or just deleted.
    Entry {
        key: Cow<'a, str>,
        entry: Entry,
    },
    /// A write took effect under this new version.
    Written {
        key: Cow<'a, str>,
        version: u64,
    },
    /// A page of keys.
    Keys(KeyPage),
    /// The seconds `key` has left (rounded up), or `None`: it never
    /// expires.
    Ttl {
        key: Cow<'a, str>,
        seconds: Option<u64>,
    },
    /// Whether `persist` removed an expiry.
    Persisted {
        key: Cow<'a, str>,
        changed: bool,
    },
    Help,
    Stop,
}

/// Applies one command. Store errors become error replies here, so every
/// protocol refuses the same writes with the same reasons.
pub fn apply<'a>(store: &impl Storage, command: Command<'a>) -> Result<Outcome<'a>, ErrorReply> {
    Ok(match command {
        Command::Get { key } => {
            let entry = store.get(&key)?;
            Outcome::Entry { key, entry }
        }
        Command::Create { key, value, ttl } => {
            let Value {
                content_type,
                bytes,
            } = &value;
            let expires_at = ttl.map(|seconds| now_ms() + seconds * 1000);
            let version = store
                .create(&key, content_type, bytes, expires_at)
                .map_err(|e| write_refused(e, &key, content_type, bytes.len() as u64))?;
            Outcome::Written { key, version }
        }
        Command::Update {
            key,
            value,
            if_version,
            ttl,
        } => {
            let Value {
                content_type,
                bytes,
            } = &value;
            let expiry = match ttl {
                Some(seconds) => Expiry::At(now_ms() + seconds * 1000),
                None => Expiry::Clear,
            };
            let version = store
                .update(&key, content_type, bytes, if_version, expiry)
                .map_err(|e| write_refused(e, &key, content_type, bytes.len() as u64))?;
            Outcome::Written { key, version }
        }
        Command::Delete { key, if_version } => {
            let entry = store.delete(&key, if_version)?;
            Outcome::Entry { key, entry }
        }
        Command::Keys(page) => Outcome::Keys(page.fetch(store)?),
        Command::Expire { key, ttl } => {
            let at = now_ms() + ttl * 1000;
            store.expire(&key, Some(at), ExpireCondition::Always, None)?;
            Outcome::Ttl {
                key,
                seconds: Some(ttl),
            }
        }
        Command::Persist { key } => {
            let changed = store.expire(&key, None, ExpireCondition::Always, None)?;
            Outcome::Persisted { key, changed }
        }
        Command::Ttl { key } => {
            let entry = store.get(&key)?;
            let seconds = entry
                .expires_at
                .map(|at| kvs_model::store::seconds_left(at, now_ms()));
            Outcome::Ttl { key, seconds }
        }
        Command::Help => Outcome::Help,
        Command::Stop => Outcome::Stop,
    })
}
