//! Versions as entity tags: `ETag` on responses, `If-Match` on writes, with
//! the semantics of RFC 9110 §13.1.1.

use crate::envelope::{Code, ErrorReply};
use crate::storage::{Storage, StoreError};
use kvs_model::json::Decimal;

/// The strong entity tag of a version, the number in quotes, as the parts
/// of a header's value ([`kvs_model::headers::Headers::push_parts`]).
pub fn etag_parts(digits: &Decimal) -> [&[u8]; 3] {
    [b"\"", digits.as_bytes(), b"\""]
}

/// What the `If-Match` headers of a request ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No `If-Match` header: the write is unconditional.
    Absent,
    /// `*`: any current entry will do, but there must be one.
    Exists,
    /// One of these versions must be current. Tags this server never issues
    /// (weak, malformed) are left out, so an empty list never matches.
    AnyOf(Vec<u64>),
}

/// Parses every `If-Match` header of a request as one list (repeated headers
/// are one comma-separated list). Accepts `*`, strong tags `"17"`, and for
/// the convenience of hand-typed requests a bare `17`.
pub fn parse_if_match<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> IfMatch {
    let mut condition = IfMatch::Absent;
    let mut versions = Vec::new();
    for raw in headers {
        condition = IfMatch::AnyOf(Vec::new());
        let Ok(text) = std::str::from_utf8(raw) else {
            continue;
        };
        for member in text.split(',').map(str::trim) {
            if member == "*" {
                return IfMatch::Exists;
            }
            let unquoted = member
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(member);
            if let Ok(version) = unquoted.parse::<u64>() {
                versions.push(version);
            }
        }
    }
    match condition {
        IfMatch::AnyOf(_) => IfMatch::AnyOf(versions),
        other => other,
    }
}

/// Runs `write` (a conditional store write taking the version it requires)
/// under `condition`, atomically: the write itself checks the version, so a
/// concurrent writer can never slip in between the check and the write.
/// Refusals other than the condition's are described by `describe`.
///
/// A list of several versions is served by reading the current version and
/// writing on condition of exactly that one; if another write lands in
/// between, the check is made again on the newer version.
pub fn write_if<T>(
    store: &impl Storage,
    key: &str,
    condition: &IfMatch,
    mut write: impl FnMut(Option<u64>) -> Result<T, StoreError>,
    describe: impl Fn(StoreError) -> ErrorReply,
) -> Result<T, ErrorReply> {
    /// Rounds of "another write landed in between" before giving up.
    const ATTEMPTS: usize = 16;
    let refused = |error: StoreError| match error {
        StoreError::NotFound | StoreError::VersionMismatch { .. }
            if *condition != IfMatch::Absent =>
        {
            precondition(error)
        }
        other => describe(other),
    };
    let required = match condition {
        IfMatch::Absent | IfMatch::Exists => return write(None).map_err(refused),
        IfMatch::AnyOf(versions) => versions,
    };
    if let [only] = required.as_slice() {
        return write(Some(*only)).map_err(refused);
    }
    for _ in 0..ATTEMPTS {
        let current = store.get(key).map_err(refused)?.version;
        if !required.contains(&current) {
            return Err(precondition(StoreError::VersionMismatch { current }));
        }
        match write(Some(current)) {
            Err(StoreError::VersionMismatch { .. }) => continue,
            done => return done.map_err(refused),
        }
    }
    let current = store.get(key).map_err(refused)?.version;
    Err(precondition(StoreError::VersionMismatch { current }))
}

/// `If-Match` failed: the key has no entry, or not one of the versions.
pub fn precondition(error: StoreError) -> ErrorReply {
    match error {
        StoreError::NotFound => ErrorReply::new(
            Code::PreconditionFailed,
            "Error precondition failed: If-Match needs an entry, and the key has none",
        ),
        StoreError::VersionMismatch { current } => ErrorReply::new(
            Code::PreconditionFailed,
            format!(
                "Error precondition failed: If-Match names no current version; the current \
                 version is {current}"
            ),
        ),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(headers: &[&str]) -> IfMatch {
        parse_if_match(headers.iter().map(|h| h.as_bytes()))
    }

    #[test]
    fn etags_round_trip_through_if_match() {
        let etag = etag_parts(&Decimal::new(42)).concat();
        assert_eq!(etag, b"\"42\"");
        assert_eq!(
            parse(&[std::str::from_utf8(&etag).unwrap()]),
            IfMatch::AnyOf(vec![42])
        );
        assert_eq!(parse(&["7"]), IfMatch::AnyOf(vec![7]));
        assert_eq!(parse(&[" * "]), IfMatch::Exists);
        assert_eq!(parse(&[]), IfMatch::Absent);
        assert_eq!(parse(&["W/\"7\""]), IfMatch::AnyOf(vec![]));
        assert_eq!(parse(&["garbage"]), IfMatch::AnyOf(vec![]));
    }

    #[test]
    fn lists_and_repeated_headers_are_one_list() {
        assert_eq!(parse(&["\"1\", \"2551\""]), IfMatch::AnyOf(vec![1, 2551]));
        assert_eq!(
            parse(&["\"1\"", "\"2\", W/\"3\""]),
            IfMatch::AnyOf(vec![1, 2])
        );
    }
}
