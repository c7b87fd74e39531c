//! The request grammar of the TCP line protocol: a line split into its
//! named fields, before anything checks what they mean.
//!
//! ```text
//! line   = field *( "|" field )
//! field  = name "=" value        ; whitespace around name and value trimmed
//! body   = "body" "=" rest-of-line
//! ```
//! `body=` takes everything up to the end of the line, so a body may hold `|`
//! and `=`. Unknown names are ignored, as the Go server did.
//!
//! `key=` cannot carry a key that holds `|` or a line break, or that starts
//! or ends with white space; `key64=` carries any key exactly, as the base64
//! of its UTF-8 bytes.

use crate::envelope::{Code, ErrorReply};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;

/// A request line split into its fields, borrowed from the line where they
/// stand in it as they are (only base64 is decoded into a buffer of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    pub cmd: Option<&'a str>,
    /// From `key=`, or `key64=` decoded.
    pub key: Option<Cow<'a, str>>,
    /// The value, from `body=` (text) or `body64=` (base64, decoded).
    pub body: Option<Cow<'a, [u8]>>,
    /// Whether the body came as `body64=`, which makes it binary by default.
    pub body_is_base64: bool,
    pub content_type: Option<&'a str>,
    pub version: Option<&'a str>,
    pub prefix: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
    /// `ttl=`: seconds to live.
    pub ttl: Option<&'a str>,
}

/// Splits a line (without its `\n`; a trailing `\r` is dropped here).
pub fn parse_line(line: &[u8]) -> Result<Fields<'_>, ErrorReply> {
    let line = simdutf8::basic::from_utf8(line)
        .map_err(|_| argument("the request is not valid UTF-8; send binary values with body64="))?;
    parse_text(line)
}

/// [`parse_line`] for a line already known to be UTF-8 (a batch checked
/// as a whole, which costs less than a check per line).
pub fn parse_text(line: &str) -> Result<Fields<'_>, ErrorReply> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if trim(line).is_empty() {
        return Err(argument("empty request; try cmd=help"));
    }
    let mut fields = Fields::default();
    let mut rest = line;
    while !rest.is_empty() {
        // One pass over each field: up to its `=`, then its value up to the
        // next `|` (a line is a few short fields; a search per separator
        // costs more than the bytes it skips).
        let stop = rest.bytes().position(|b| b == b'|' || b == b'=');
        let Some(equals) = stop.filter(|&at| rest.as_bytes()[at] == b'=') else {
            let (field, after) = match stop {
                Some(bar) => (&rest[..bar], &rest[bar + 1..]),
                None => (rest, ""),
            };
            rest = after;
            if trim(field).is_empty() {
                continue;
            }
            return Err(argument(format!(
                "malformed field {:?}: expected name=value",
                trim(field)
            )));
        };
        let name = trim(&rest[..equals]);
        let value = &rest[equals + 1..];
        if name == "body" {
            // The body runs to the end of the line, `|` included.
            set(
                &mut fields.body,
                name,
                Cow::Borrowed(trim(value).as_bytes()),
            )?;
            break;
        }
        let (value, after) = match value.bytes().position(|b| b == b'|') {
            Some(bar) => (&value[..bar], &value[bar + 1..]),
            None => (value, ""),
        };
        rest = after;
        let value = trim(value);
        match name {
            // Decoded from the line in place: a value of many megabytes is
            // not copied first.
            "body64" => {
                let bytes = STANDARD
                    .decode(value.as_bytes())
                    .map_err(|err| argument(format!("body64 is not valid base64: {err}")))?;
                set(&mut fields.body, name, Cow::Owned(bytes))?;
                fields.body_is_base64 = true;
            }
            "key64" => {
                let key = STANDARD
                    .decode(value.as_bytes())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| argument("key64 is not the base64 of a UTF-8 key"))?;
                set(&mut fields.key, name, Cow::Owned(key))?;
            }
            "cmd" => set(&mut fields.cmd, name, value)?,
            "key" => set(&mut fields.key, name, Cow::Borrowed(value))?,
            "type" => set(&mut fields.content_type, name, value)?,
            "version" => set(&mut fields.version, name, value)?,
            "prefix" => set(&mut fields.prefix, name, value)?,
            "limit" => set(&mut fields.limit, name, value)?,
            "cursor" => set(&mut fields.cursor, name, value)?,
            "ttl" => set(&mut fields.ttl, name, value)?,
            _ => {}
        }
    }
    Ok(fields)
}

/// `text` without the white space (Unicode's) around it, as `str::trim`,
/// which walks characters: fields are nearly always ASCII, whose white
/// space bytes are taken off first, and `str::trim` runs only when what is
/// left begins or ends with a byte that could still be white space (a
/// vertical tab, which `trim_ascii` keeps, or part of a multi-byte one).
fn trim(text: &str) -> &str {
    let trimmed = text.trim_ascii();
    let maybe_space = |byte: Option<&u8>| byte.is_some_and(|&b| b == 0x0b || b >= 0x80);
    let bytes = trimmed.as_bytes();
    if maybe_space(bytes.first()) || maybe_space(bytes.last()) {
        trimmed.trim()
    } else {
        trimmed
    }
}

#[inline]
fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), ErrorReply> {
    if slot.is_some() {
        let what = match name {
            "body64" => "body",
            "key64" => "key",
            _ => name,
        };
        return Err(argument(format!("field {what} given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// An argument-exception error (code 8), the Go server's code for bad requests.
pub fn argument(message: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(
        Code::ArgumentException,
        format!("Error argument exception: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_client_lines_parse() {
        let fields = parse_line(b"cmd=create | key=1 | body=testk1\r").unwrap();
        assert_eq!(fields.cmd, Some("create"));
        assert_eq!(fields.key.as_deref(), Some("1"));
        assert_eq!(fields.body.as_deref(), Some(&b"testk1"[..]));
    }

    #[test]
    fn body_takes_the_rest_of_the_line() {
        let fields = parse_line(b"cmd=create|key=k|body= a|b=c | d ").unwrap();
        assert_eq!(fields.body.as_deref(), Some(&b"a|b=c | d"[..]));
    }

    #[test]
    fn body64_carries_exact_bytes() {
        let fields = parse_line(b"cmd=create|key=k|body64=AAEC/w==").unwrap();
        assert_eq!(fields.body.as_deref(), Some(&[0u8, 1, 2, 255][..]));
    }

    #[test]
    fn key64_carries_any_key() {
        // "a|b\n " in base64.
        let fields = parse_line(b"cmd=get|key64=YXxiCiA=").unwrap();
        assert_eq!(fields.key.as_deref(), Some("a|b\n "));
        assert!(parse_line(b"cmd=get|key64=!!").is_err());
        assert!(parse_line(b"cmd=get|key64=/w==").is_err(), "not UTF-8");
        assert!(parse_line(b"cmd=get|key=a|key64=YQ==").is_err());
    }

    #[test]
    fn unknown_fields_are_ignored_and_malformed_ones_refused() {
        assert!(parse_line(b"cmd=get|key=1|colour=blue").is_ok());
        assert_eq!(
            parse_line(b"cmd=get|key").unwrap_err().code,
            Code::ArgumentException
        );
        assert!(parse_line(b"").is_err());
        assert!(parse_line(b"  \r").is_err());
        assert!(parse_line(b"cmd=get|key=\xff").is_err());
        assert!(parse_line(b"cmd=get|key=1|key=2").is_err());
        assert!(parse_line(b"cmd=create|key=1|body64=AA==|body=x").is_err());
    }

    #[test]
    fn white_space_around_fields_is_trimmed_as_str_trim_does() {
        for text in [
            "",
            " ",
            "a",
            " a ",
            "\ta b\r",
            "\u{b}a\u{b}",
            "\u{a0}a\u{3000}",
            "é",
            " é\u{85}",
            "\u{b} \u{a0}",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
        let fields = parse_line("cmd=get|key=\u{a0}k\u{b}".as_bytes()).unwrap();
        assert_eq!(fields.key.as_deref(), Some("k"));
    }
}
