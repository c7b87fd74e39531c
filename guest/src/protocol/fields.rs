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

/// A request line split into its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub cmd: Option<String>,
    /// From `key=`, or `key64=` decoded.
    pub key: Option<String>,
    /// The value, from `body=` (text) or `body64=` (base64, decoded).
    pub body: Option<Vec<u8>>,
    /// Whether the body came as `body64=`, which makes it binary by default.
    pub body_is_base64: bool,
    pub content_type: Option<String>,
    pub version: Option<String>,
    pub prefix: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// `ttl=`: seconds to live.
    pub ttl: Option<String>,
}

/// Splits a line (without its `\n`; a trailing `\r` is dropped here).
pub fn parse_line(line: &[u8]) -> Result<Fields, ErrorReply> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line)
        .map_err(|_| argument("the request is not valid UTF-8; send binary values with body64="))?;
    if line.trim().is_empty() {
        return Err(argument("empty request; try cmd=help"));
    }
    let mut fields = Fields::default();
    let mut rest = line;
    while !rest.is_empty() {
        let (field, after) = rest.split_once('|').unwrap_or((rest, ""));
        rest = after;
        if field.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = field.split_once('=') else {
            return Err(argument(format!(
                "malformed field {:?}: expected name=value",
                field.trim()
            )));
        };
        let name = name.trim();
        if name == "body" {
            // The body runs to the end of the line, `|` included: it is the
            // line from where this value starts, copied once.
            let start = value.as_ptr() as usize - line.as_ptr() as usize;
            set(
                &mut fields.body,
                name,
                line[start..].trim().as_bytes().to_vec(),
            )?;
            break;
        }
        let value = value.trim();
        match name {
            // Decoded from the line in place: a value of many megabytes is
            // not copied first.
            "body64" => {
                let bytes = STANDARD
                    .decode(value.as_bytes())
                    .map_err(|err| argument(format!("body64 is not valid base64: {err}")))?;
                set(&mut fields.body, name, bytes)?;
                fields.body_is_base64 = true;
                continue;
            }
            "key64" => {
                let key = STANDARD
                    .decode(value.as_bytes())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| argument("key64 is not the base64 of a UTF-8 key"))?;
                set(&mut fields.key, name, key)?;
                continue;
            }
            _ => {}
        }
        let value = value.to_string();
        match name {
            "cmd" => set(&mut fields.cmd, name, value)?,
            "key" => set(&mut fields.key, name, value)?,
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
        assert_eq!(fields.cmd.as_deref(), Some("create"));
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
}
