//! Redis's writes the store has no single function for (`SET` with its
//! conditions and `GET`, `GETEX`), made atomic over the ones it has: each
//! is a compare-and-swap loop, as [`crate::storage::modify`] is. It reads the key,
//! computes, and writes only if the key still holds what it read (`update`
//! with `if-version`, or `create`, which never overwrites); if another write
//! came between, it reads again. So each of these takes effect at one
//! instant, as if no other write ran concurrently, and a loop retries only
//! because another write succeeded: no client can stall the others.

use super::command::Condition;
use crate::storage::{Entry, ExpireCondition, Expiry, Storage, StoreError};

/// The type of values written over RESP.
pub const RESP_CONTENT_TYPE: &str = "application/octet-stream";

/// What a `SET` did.
#[derive(Debug, Default)]
pub struct SetOutcome {
    /// Whether the value was written (the condition held).
    pub written: bool,
    /// The entry the key held before, when asked for.
    pub previous: Option<Entry>,
}

/// Sets `key` to `value` if `condition` holds, with the previous entry if
/// `want_previous`. A value replaced over RESP takes RESP's content type;
/// `expiry` says what becomes of the key's expiry.
pub fn set(
    store: &impl Storage,
    key: &str,
    value: &[u8],
    condition: Condition,
    expiry: Expiry,
    want_previous: bool,
) -> Result<SetOutcome, StoreError> {
    let expires_at = match expiry {
        Expiry::At(at) => Some(at),
        Expiry::Keep | Expiry::Clear => None,
    };
    let written = |previous| {
        Ok(SetOutcome {
            written: true,
            previous,
        })
    };
    let refused = |previous| {
        Ok(SetOutcome {
            written: false,
            previous,
        })
    };
    loop {
        // Without the previous value, blind writes do: one store call.
        if !want_previous {
            match condition {
                Condition::IfAbsent => {
                    return match store.create(key, RESP_CONTENT_TYPE, value, expires_at) {
                        Ok(_) => written(None),
                        Err(StoreError::AlreadyExists) => refused(None),
                        Err(error) => Err(error),
                    };
                }
                Condition::IfPresent | Condition::Always => {
                    match store.update(key, RESP_CONTENT_TYPE, value, None, expiry) {
                        Ok(_) => return written(None),
                        Err(StoreError::NotFound) if condition == Condition::IfPresent => {
                            return refused(None);
                        }
                        Err(StoreError::NotFound) => {}
                        Err(error) => return Err(error),
                    }
                    match store.create(key, RESP_CONTENT_TYPE, value, expires_at) {
                        Ok(_) => return written(None),
                        // Created meanwhile: overwrite it on the next turn.
                        Err(StoreError::AlreadyExists) => continue,
                        Err(error) => return Err(error),
                    }
                }
            }
        }
        match store.get(key) {
            Ok(current) => {
                if condition == Condition::IfAbsent {
                    return refused(Some(current));
                }
                match store.update(key, RESP_CONTENT_TYPE, value, Some(current.version), expiry) {
                    Ok(_) => return written(Some(current)),
                    Err(StoreError::VersionMismatch { .. } | StoreError::NotFound) => continue,
                    Err(error) => return Err(error),
                }
            }
            Err(StoreError::NotFound) => {
                if condition == Condition::IfPresent {
                    return refused(None);
                }
                match store.create(key, RESP_CONTENT_TYPE, value, expires_at) {
                    Ok(_) => return written(None),
                    Err(StoreError::AlreadyExists) => continue,
                    Err(error) => return Err(error),
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// The entry under `key`, its expiry changed to `expiry` if given
/// (`GETEX`): read and changed at one instant, since the change applies
/// only if the key still holds the version read.
pub fn get_ex(
    store: &impl Storage,
    key: &str,
    expiry: Option<Expiry>,
) -> Result<Entry, StoreError> {
    loop {
        let entry = store.get(key)?;
        let at = match expiry {
            None | Some(Expiry::Keep) => return Ok(entry),
            Some(Expiry::Clear) => None,
            Some(Expiry::At(at)) => Some(at),
        };
        match store.expire(key, at, ExpireCondition::Always, Some(entry.version)) {
            Ok(_) => return Ok(entry),
            Err(StoreError::VersionMismatch { .. } | StoreError::NotFound) => continue,
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    #[test]
    fn set_honours_its_condition_and_reports_the_previous_value() {
        let store = MemoryStorage::default();
        let outcome = set(
            &store,
            "k",
            b"1",
            Condition::IfPresent,
            Expiry::Clear,
            false,
        )
        .unwrap();
        assert!(!outcome.written);
        let outcome = set(&store, "k", b"1", Condition::IfAbsent, Expiry::Clear, true).unwrap();
        assert!(outcome.written && outcome.previous.is_none());
        let outcome = set(&store, "k", b"2", Condition::IfAbsent, Expiry::Clear, true).unwrap();
        assert!(!outcome.written);
        assert_eq!(outcome.previous.unwrap().value, b"1");
        let outcome = set(&store, "k", b"3", Condition::Always, Expiry::Clear, true).unwrap();
        assert_eq!(outcome.previous.unwrap().value, b"1");
        assert_eq!(store.get("k").unwrap().value, b"3");
    }
}
