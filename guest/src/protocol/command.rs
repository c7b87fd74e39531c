//! The commands of the line protocol as types: each request is parsed and
//! checked into a [`Command`] before anything touches the store, so what a
//! command needs is in its variant and [`super::apply`] cannot meet a
//! request with a missing key. A second wire protocol parses into the same
//! commands and shares the same apply and limits.

use super::fields::{Fields, argument};
use crate::envelope::ErrorReply;
use crate::paging::{PageError, PageRequest};
use std::borrow::Cow;

/// The type of values sent with `body=` and no `type=`.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// The type of values sent with `body64=` and no `type=`.
pub const BINARY_CONTENT_TYPE: &str = "application/octet-stream";

/// What `cmd=help` answers: one entry per command.
pub const HELP: &[&str] = &[
    "cmd=get | key=K",
    "cmd=create | key=K | [type=T |] [ttl=SECONDS |] body=TEXT (rest of line) or body64=BASE64",
    "cmd=update | key=K | [type=T |] [version=N |] [ttl=SECONDS |] body=TEXT or body64=BASE64 (no ttl: never expires)",
    "cmd=delete | key=K [| version=N]",
    "cmd=expire | key=K | ttl=SECONDS   cmd=persist | key=K   cmd=ttl | key=K",
    "cmd=keys [| prefix=P] [| limit=N] [| cursor=C]   (alias: getall)",
    "cmd=help",
    "cmd=stop   (closes this connection)",
    "key64=BASE64 names any key exactly (one with |, a line break or outer spaces)",
    "body= stores text/plain; charset=utf-8 and body64= application/octet-stream unless type= says",
    "replies carry body (text) or body64 when the value is not UTF-8 or base64 is shorter",
];

/// One request, checked: keys are present and not empty, versions are
/// numbers, values have their content type.
/// Keys are borrowed from the request line where it holds them as they are,
/// so a run of pipelined `get` lines allocates nothing per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Get {
        key: Cow<'a, str>,
    },
    /// Never overwrites; with `ttl`, the entry expires that many seconds
    /// from now.
    Create {
        key: Cow<'a, str>,
        value: Value<'a>,
        ttl: Option<u64>,
    },
    /// Never creates; with `if_version`, only over that version. Without
    /// `ttl`, the new value never expires.
    Update {
        key: Cow<'a, str>,
        value: Value<'a>,
        if_version: Option<u64>,
        ttl: Option<u64>,
    },
    /// The entry expires `ttl` seconds from now.
    Expire {
        key: Cow<'a, str>,
        ttl: u64,
    },
    /// The entry no longer expires.
    Persist {
        key: Cow<'a, str>,
    },
    /// How long the entry has left.
    Ttl {
        key: Cow<'a, str>,
    },
    /// With `if_version`, only that version.
    Delete {
        key: Cow<'a, str>,
        if_version: Option<u64>,
    },
    Keys(PageRequest),
    Help,
    /// Closes the connection after its reply.
    Stop,
}

/// A value to write, with its content type, borrowed from the request line
/// where it holds them as they are (a `body=` needs no decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    pub content_type: Cow<'a, str>,
    pub bytes: Cow<'a, [u8]>,
}

impl<'a> Command<'a> {
    /// The command a line (without its `\n`, known to be UTF-8) asks for,
    /// or the reason it asks for none.
    ///
    /// The line a client pipelines most, `cmd=get|key=K`, is recognised
    /// as it stands; every other line, a get spelled otherwise included,
    /// goes through the grammar ([`super::fields`]), which parses that
    /// line to the same command. In a pipelined run of gets, the grammar
    /// was a third of the guest's time.
    pub fn parse(line: &'a str) -> Result<Self, ErrorReply> {
        match plain_get(line) {
            Some(key) => Ok(Self::Get {
                key: Cow::Borrowed(key),
            }),
            None => super::fields::parse_text(line).and_then(Self::from_fields),
        }
    }

    /// The command a line's fields name, or the reason they name none.
    pub fn from_fields(mut fields: Fields<'a>) -> Result<Self, ErrorReply> {
        let cmd = fields
            .cmd
            .ok_or_else(|| argument("missing cmd; try cmd=help"))?;
        Ok(match cmd {
            "get" => Self::Get {
                key: key(&mut fields)?,
            },
            "create" => Self::Create {
                value: value(&mut fields)?,
                key: key(&mut fields)?,
                ttl: ttl(&fields)?,
            },
            "update" => Self::Update {
                value: value(&mut fields)?,
                key: key(&mut fields)?,
                if_version: version(&fields)?,
                ttl: ttl(&fields)?,
            },
            "expire" => Self::Expire {
                key: key(&mut fields)?,
                ttl: ttl(&fields)?.ok_or_else(|| argument("missing ttl (seconds)"))?,
            },
            "persist" => Self::Persist {
                key: key(&mut fields)?,
            },
            "ttl" => Self::Ttl {
                key: key(&mut fields)?,
            },
            "delete" => Self::Delete {
                key: key(&mut fields)?,
                if_version: version(&fields)?,
            },
            "keys" | "getall" => Self::Keys(page(fields)?),
            "help" => Self::Help,
            "stop" => Self::Stop,
            other => return Err(argument(format!("unknown command {other:?}; try cmd=help"))),
        })
    }
}

/// The key of a line that is exactly `cmd=get|key=K` (and maybe a `\r`),
/// where `K` is what the grammar would take as the key: no `|` in it (the
/// grammar would end the field there) and no byte at either end that could
/// be white space (which the grammar would trim off). `None` for any other
/// line.
fn plain_get(line: &str) -> Option<&str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let key = line.strip_prefix("cmd=get|key=")?;
    let bytes = key.as_bytes();
    let kept = |byte: &u8| byte.is_ascii_graphic();
    (bytes.first().is_some_and(kept) && bytes.last().is_some_and(kept) && !bytes.contains(&b'|'))
        .then_some(key)
}

fn key<'a>(fields: &mut Fields<'a>) -> Result<Cow<'a, str>, ErrorReply> {
    match fields.key.take() {
        Some(key) if !key.is_empty() => Ok(key),
        _ => Err(argument("missing key")),
    }
}

fn value<'a>(fields: &mut Fields<'a>) -> Result<Value<'a>, ErrorReply> {
    let bytes = fields
        .body
        .take()
        .ok_or_else(|| argument("missing body (body=TEXT or body64=BASE64)"))?;
    let content_type = Cow::Borrowed(match fields.content_type {
        Some(content_type) if !content_type.is_empty() => content_type,
        _ if fields.body_is_base64 => BINARY_CONTENT_TYPE,
        _ => TEXT_CONTENT_TYPE,
    });
    Ok(Value {
        content_type,
        bytes,
    })
}

fn version(fields: &Fields<'_>) -> Result<Option<u64>, ErrorReply> {
    fields
        .version
        .map(|raw| {
            raw.parse()
                .map_err(|_| argument(format!("bad version {raw:?}: expected a number")))
        })
        .transpose()
}

fn ttl(fields: &Fields<'_>) -> Result<Option<u64>, ErrorReply> {
    fields
        .ttl
        .map(|raw| {
            kvs_model::store::parse_ttl_seconds(raw).ok_or_else(|| {
                argument(format!(
                    "bad ttl {raw:?}: expected whole seconds from 1 to {}",
                    kvs_model::store::MAX_TTL_SECONDS
                ))
            })
        })
        .transpose()
}

fn page(fields: Fields<'_>) -> Result<PageRequest, ErrorReply> {
    let mut page = PageRequest {
        prefix: fields.prefix.unwrap_or_default().to_string(),
        ..PageRequest::default()
    };
    if let Some(raw) = fields.limit {
        page.set_limit(raw).map_err(|_: PageError| {
            argument(format!("bad limit {raw:?}: expected a positive integer"))
        })?;
    }
    if let Some(raw) = fields.cursor {
        page.set_cursor(raw).map_err(|_: PageError| {
            argument("bad cursor: pass back the next_cursor of a previous reply")
        })?;
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::fields::parse_line;

    fn command(line: &str) -> Result<Command<'_>, ErrorReply> {
        Command::from_fields(parse_line(line.as_bytes())?)
    }

    #[test]
    fn lines_parse_into_typed_commands() {
        assert_eq!(
            command("cmd=update | key=k | version=3 | body64=AAE=").unwrap(),
            Command::Update {
                key: "k".into(),
                value: Value {
                    content_type: BINARY_CONTENT_TYPE.into(),
                    bytes: vec![0, 1].into(),
                },
                if_version: Some(3),
                ttl: None,
            }
        );
        assert_eq!(
            command("cmd=expire | key=k | ttl=10").unwrap(),
            Command::Expire {
                key: "k".into(),
                ttl: 10
            }
        );
        assert_eq!(
            command("cmd=getall | prefix=a | limit=5").unwrap(),
            Command::Keys(PageRequest {
                prefix: "a".into(),
                after: None,
                limit: 5,
            })
        );
    }

    /// The lines the fast path takes parse as the grammar parses them, and
    /// the gets it leaves to the grammar still parse (or fail) there.
    #[test]
    fn a_plain_get_parses_as_the_grammar_parses_it() {
        let grammar =
            |line| crate::protocol::fields::parse_text(line).and_then(Command::from_fields);
        for (line, fast) in [
            ("cmd=get|key=k", true),
            ("cmd=get|key=bench-17\r", true),
            ("cmd=get|key=a=b", true),
            ("cmd=get|key=a b", true),
            ("cmd=get|key=a\rb", true),
            ("cmd=get|key=a\r\r", false),
            ("cmd=get|key= a", false),
            ("cmd=get|key=a\t", false),
            ("cmd=get|key=\u{b}a", false),
            ("cmd=get|key=\u{a0}a", false),
            ("cmd=get|key=é", false),
            ("cmd=get|key=a|", false),
            ("cmd=get|key=a|key=b", false),
            ("cmd=get|key=a|body=x", false),
            ("cmd=get|key=", false),
            ("cmd=get|key=\r", false),
            ("cmd=get | key=k", false),
            ("cmd=get|key64=aw==", false),
            ("cmd=GET|key=k", false),
        ] {
            assert_eq!(plain_get(line).is_some(), fast, "{line:?}");
            assert_eq!(Command::parse(line), grammar(line), "{line:?}");
        }
    }

    #[test]
    fn incomplete_commands_are_refused_before_they_run() {
        for line in [
            "key=k",
            "cmd=get",
            "cmd=get | key=",
            "cmd=create | key=k",
            "cmd=delete | key=k | version=x",
            "cmd=keys | limit=0",
            "cmd=keys | cursor=!",
            "cmd=expire | key=k",
            "cmd=expire | key=k | ttl=0",
            "cmd=create | key=k | ttl=-1 | body=x",
            "cmd=frobnicate",
        ] {
            assert!(command(line).is_err(), "{line}");
        }
    }
}
