//! Versions as entity tags: `ETag` on responses, `If-Match` on writes.

/// The strong entity tag of a version: the number in quotes.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// No header, or `*`: any current version will do.
    Any,
    /// Exactly this version.
    Version(u64),
    /// A tag this server never issued (weak, malformed, or a list we cannot
    /// honour atomically): it can never match, so the write must get a 412.
    Never,
}

/// Parses `If-Match`. Accepts `*`, a strong tag `"17"`, and for the
/// convenience of hand-typed requests a bare `17`.
pub fn parse_if_match(header: Option<&[u8]>) -> IfMatch {
    let Some(raw) = header else {
        return IfMatch::Any;
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return IfMatch::Never;
    };
    let text = text.trim();
    if text == "*" {
        return IfMatch::Any;
    }
    let unquoted = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    match unquoted.parse::<u64>() {
        Ok(version) => IfMatch::Version(version),
        Err(_) => IfMatch::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_through_if_match() {
        assert_eq!(
            parse_if_match(Some(etag(42).as_bytes())),
            IfMatch::Version(42)
        );
        assert_eq!(parse_if_match(Some(b"7")), IfMatch::Version(7));
        assert_eq!(parse_if_match(Some(b" * ")), IfMatch::Any);
        assert_eq!(parse_if_match(None), IfMatch::Any);
        assert_eq!(parse_if_match(Some(b"W/\"7\"")), IfMatch::Never);
        assert_eq!(parse_if_match(Some(b"\"1\", \"2\"")), IfMatch::Never);
    }
}
