//! Reading the scripts' replies back into the store's types. A reply of
//! another shape than the script returns is a fault of the backend (a
//! foreign script under the same SHA, a proxy that mangles replies), and
//! is reported as the backend being unavailable, never guessed at.

use crate::store::{Entry, StoreError};
use redis::Value;

/// The status codes the scripts put first in their replies.
pub const OK: i64 = 0;
pub const NOT_FOUND: i64 = 1;
pub const EXISTS: i64 = 2;
pub const MISMATCH: i64 = 3;
pub const NOT_AN_INTEGER: i64 = 4;
pub const OVERFLOW: i64 = 5;

pub fn malformed(what: &str) -> StoreError {
    StoreError::Unavailable(format!("the Redis store sent a malformed reply ({what})"))
}

pub fn array(value: Value) -> Result<Vec<Value>, StoreError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(malformed("expected an array")),
    }
}

pub fn int(value: &Value) -> Result<i64, StoreError> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| malformed("expected an integer")),
        _ => Err(malformed("expected an integer")),
    }
}

pub fn version(value: &Value) -> Result<u64, StoreError> {
    u64::try_from(int(value)?).map_err(|_| malformed("a negative version"))
}

pub fn bytes(value: Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(text) => Ok(text.into_bytes()),
        _ => Err(malformed("expected a string")),
    }
}

pub fn string(value: Value) -> Result<String, StoreError> {
    String::from_utf8(bytes(value)?).map_err(|_| malformed("a key that is not UTF-8"))
}

/// `key`'s entry as the scripts send it: `{type, value, version, expiry
/// or -1}`.
pub fn entry(key: &str, value: Value) -> Result<Entry, StoreError> {
    let mut fields = array(value)?.into_iter();
    let (Some(content_type), Some(value), Some(number), Some(expiry)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed("an entry of fewer than four fields"));
    };
    let expires_at = int(&expiry)?;
    Ok(Entry::new(
        key,
        &String::from_utf8_lossy(&bytes(content_type)?),
        &bytes(value)?,
        version(&number)?,
        u64::try_from(expires_at).ok(),
    ))
}

/// The fields after a script's [`OK`], or the error its status stands for.
pub fn succeeded(value: Value) -> Result<Fields, StoreError> {
    let mut items = array(value)?.into_iter();
    let code = int(&items.next().ok_or_else(|| malformed("an empty reply"))?)?;
    if code == OK {
        Ok(Fields(items))
    } else {
        Err(failure(code, items))
    }
}

/// What follows the status of a reply that succeeded, read in order.
pub struct Fields(std::vec::IntoIter<Value>);

impl Fields {
    fn next(&mut self, what: &str) -> Result<Value, StoreError> {
        self.0.next().ok_or_else(|| malformed(what))
    }

    pub fn version(&mut self) -> Result<u64, StoreError> {
        version(&self.next("no version")?)
    }

    pub fn int(&mut self) -> Result<i64, StoreError> {
        int(&self.next("no number")?)
    }

    pub fn entry(&mut self, key: &str) -> Result<Entry, StoreError> {
        entry(key, self.next("no entry")?)
    }

    /// An entry the script sends only when there is one.
    pub fn optional_entry(&mut self, key: &str) -> Result<Option<Entry>, StoreError> {
        self.0.next().map(|value| entry(key, value)).transpose()
    }
}

/// The error a status other than [`OK`] stands for.
fn failure(code: i64, mut rest: impl Iterator<Item = Value>) -> StoreError {
    match code {
        NOT_FOUND => StoreError::NotFound,
        EXISTS => StoreError::AlreadyExists,
        MISMATCH => match rest.next().as_ref().map(version) {
            Some(Ok(current)) => StoreError::VersionMismatch { current },
            _ => malformed("a version mismatch without the version"),
        },
        NOT_AN_INTEGER => StoreError::NotAnInteger,
        OVERFLOW => StoreError::Overflow,
        _ => malformed("an unknown status"),
    }
}
