//! The commands kvs speaks over RESP, as a table (name, arity, flags, key
//! positions: what `COMMAND` reports and what every call is checked
//! against) and as a typed [`Request`], into which arguments are parsed
//! and checked before anything touches the store. Error texts are Redis 7's,
//! since clients match on some of them.

/// One row of the command table, in the shape of Redis's `COMMAND` reply.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    /// `name` as a [`packed`] number, which [`lookup`] compares.
    packed: u128,
    /// Exactly this many arguments, the name included; when negative, at
    /// least its absolute value.
    pub arity: i64,
    pub flags: &'static [&'static str],
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub group: &'static str,
    pub summary: &'static str,
}

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
) -> Spec {
    Spec {
        name,
        packed: match packed(name.as_bytes()) {
            Some(packed) => packed,
            None => panic!("a command's name is at most 15 bytes"),
        },
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group,
        summary,
    }
}

const NONE: (i64, i64, i64) = (0, 0, 0);
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);
const READ: &[&str] = &["readonly", "fast"];
const WRITE: &[&str] = &["write", "denyoom", "fast"];
const CONN: &[&str] = &["fast", "loading", "stale"];

/// Every command kvs answers, in `COMMAND`'s order, which is by name:
/// [`lookup`] searches it by halves.
#[rustfmt::skip]
pub const COMMANDS: &[Spec] = &[
    spec("append", 3, WRITE, ONE, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    spec("auth", -2, CONN, NONE, "connection", "Authenticates the connection."),
    spec("client", -2, &["slow"], NONE, "connection", "A container for client connection commands."),
    spec("command", -1, &["loading", "stale"], NONE, "server", "Returns detailed information about all commands."),
    spec("config", -2, &["admin", "loading", "stale"], NONE, "server", "A container for server configuration commands."),
    spec("dbsize", 1, READ, NONE, "server", "Returns the number of keys in the database."),
    spec("decr", 2, WRITE, ONE, "string", "Decrements the integer value of a key by one."),
    spec("decrby", 3, WRITE, ONE, "string", "Decrements a number from the integer value of a key."),
    spec("del", -2, &["write"], ALL, "generic", "Deletes one or more keys."),
    spec("echo", 2, CONN, NONE, "connection", "Returns the given string."),
    spec("exists", -2, READ, ALL, "generic", "Determines whether one or more keys exist."),
    spec("expire", -3, WRITE, ONE, "generic", "Sets the expiration time of a key in seconds."),
    spec("expireat", -3, WRITE, ONE, "generic", "Sets the expiration time of a key to a Unix timestamp."),
    spec("expiretime", 2, READ, ONE, "generic", "Returns the expiration time of a key as a Unix timestamp."),
    spec("flushall", -1, &["write"], NONE, "server", "Removes all keys."),
    spec("flushdb", -1, &["write"], NONE, "server", "Removes all keys from the current database."),
    spec("get", 2, READ, ONE, "string", "Returns the string value of a key."),
    spec("getdel", 2, &["write", "fast"], ONE, "string", "Returns the string value of a key after deleting the key."),
    spec("getex", -2, &["write", "fast"], ONE, "string", "Returns the string value of a key after setting its expiration time."),
    spec("getset", 3, WRITE, ONE, "string", "Returns the previous string value of a key after setting it to a new value."),
    spec("hello", -1, CONN, NONE, "connection", "Handshakes with the server."),
    spec("incr", 2, WRITE, ONE, "string", "Increments the integer value of a key by one."),
    spec("incrby", 3, WRITE, ONE, "string", "Increments the integer value of a key by a number."),
    spec("incrbyfloat", 3, WRITE, ONE, "string", "Increment the floating point value of a key by a number."),
    spec("info", -1, &["loading", "stale"], NONE, "server", "Returns information and statistics about the server."),
    spec("keys", 2, &["readonly"], NONE, "generic", "Returns all key names that match a pattern."),
    spec("mget", -2, READ, ALL, "string", "Atomically returns the string values of one or more keys."),
    spec("mset", -3, &["write", "denyoom"], (1, -1, 2), "string", "Sets the string values of one or more keys."),
    spec("persist", 2, WRITE, ONE, "generic", "Removes the expiration time of a key."),
    spec("pexpire", -3, WRITE, ONE, "generic", "Sets the expiration time of a key in milliseconds."),
    spec("pexpireat", -3, WRITE, ONE, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    spec("pexpiretime", 2, READ, ONE, "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    spec("ping", -1, CONN, NONE, "connection", "Returns the server's liveliness response."),
    spec("psetex", 4, WRITE, ONE, "string", "Sets both string value and expiration time in milliseconds of a key."),
    spec("pttl", 2, READ, ONE, "generic", "Returns the expiration time in milliseconds of a key."),
    spec("quit", -1, CONN, NONE, "connection", "Closes the connection."),
    spec("randomkey", 1, &["readonly"], NONE, "generic", "Returns a random key name from the database."),
    spec("rename", 3, &["write"], (1, 2, 1), "generic", "Renames a key and overwrites the destination."),
    spec("renamenx", 3, &["write", "fast"], (1, 2, 1), "generic", "Renames a key only when the target key name doesn't exist."),
    spec("scan", -2, &["readonly"], NONE, "generic", "Iterates over the key names in the database."),
    spec("select", 2, CONN, NONE, "connection", "Changes the selected database."),
    spec("set", -3, &["write", "denyoom"], ONE, "string", "Sets the string value of a key, ignoring its type."),
    spec("setex", 4, WRITE, ONE, "string", "Sets the string value and expiration time of a key."),
    spec("setnx", 3, WRITE, ONE, "string", "Set the string value of a key only when the key doesn't exist."),
    spec("strlen", 2, READ, ONE, "string", "Returns the length of a string value."),
    spec("time", 1, CONN, NONE, "server", "Returns the server time."),
    spec("ttl", 2, READ, ONE, "generic", "Returns the expiration time in seconds of a key."),
    spec("type", 2, READ, ONE, "generic", "Determines the type of value stored at a key."),
    spec("unlink", -2, &["write", "fast"], ALL, "generic", "Asynchronously deletes one or more keys."),
];

/// The spec of the command `name`, whatever its case. Every command a
/// client sends is looked up, so this is a binary search on numbers.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    if name.len() > 15 {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..name.len()].copy_from_slice(name);
    // Every name in the table is lowercase letters, so setting bit 5 of
    // each byte of the name is as good as lowercasing it: an uppercase
    // letter becomes its lowercase, and no other byte becomes a letter.
    // (Byte by byte: a shift of a `u128` is a call in WebAssembly.)
    for byte in &mut bytes[..name.len()] {
        *byte |= 0x20;
    }
    bytes[15] = name.len() as u8;
    let packed = u128::from_be_bytes(bytes);
    COMMANDS
        .binary_search_by_key(&packed, |spec| spec.packed)
        .ok()
        .map(|at| &COMMANDS[at])
}

/// Up to 15 bytes and their count as one number: the bytes first, the
/// first highest, zeros after the last, then the count, so that numbers
/// order as their names do and no two names share one. [`lookup`] packs
/// the same way, from a buffer read as one big-endian number.
const fn packed(name: &[u8]) -> Option<u128> {
    if name.len() > 15 {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut i = 0;
    while i < name.len() {
        bytes[i] = name[i];
        i += 1;
    }
    bytes[15] = name.len() as u8;
    Some(u128::from_be_bytes(bytes))
}

/// A RESP error reply's text, without the leading `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespError(pub String);

impl RespError {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn syntax() -> Self {
        Self::new("ERR syntax error")
    }

    pub fn not_an_integer() -> Self {
        Self::new("ERR value is not an integer or out of range")
    }

    pub fn arity(name: &str) -> Self {
        Self(format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    }

    fn unknown_subcommand(sub: &[u8], command: &str) -> Self {
        Self(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(sub),
            command.to_ascii_uppercase()
        ))
    }
}

pub use crate::storage::{ExpireCondition, Expiry};
use crate::storage::{Pairs, now_ms};

/// Which existing state a `SET` requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// `NX`: only if the key holds nothing.
    IfAbsent,
    /// `XX`: only if the key holds a value.
    IfPresent,
}

/// What `CONFIG`, `COMMAND` and `CLIENT` were asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandQuery {
    All,
    Count,
    Docs(Vec<Vec<u8>>),
    Info(Vec<Vec<u8>>),
    List,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRequest {
    SetName(String),
    GetName,
    Id,
    SetInfo,
    Info,
}

/// One command, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Ping(Option<Vec<u8>>),
    Echo(Vec<u8>),
    Quit,
    /// `HELLO [protover [SETNAME name]]`.
    Hello {
        protocol: Option<i64>,
        name: Option<String>,
    },
    Auth,
    Select(i64),
    Client(ClientRequest),
    Command(CommandQuery),
    ConfigGet(Vec<Vec<u8>>),
    Info(Vec<String>),
    DbSize,
    Time,
    Get(String),
    Set {
        key: String,
        value: Vec<u8>,
        condition: Condition,
        /// `EX` and its kin, `KEEPTTL`, or neither (the expiry is cleared).
        expiry: Expiry,
        /// `GET`: reply with the value replaced.
        get: bool,
    },
    /// `SETEX` and `PSETEX`: a `SET` with an expiry, replying `OK`.
    SetEx {
        key: String,
        value: Vec<u8>,
        at: u64,
    },
    /// `GETEX`: the value, and the expiry changed if asked (`PERSIST`
    /// clears it).
    GetEx {
        key: String,
        expiry: Option<Expiry>,
    },
    /// `EXPIRE` and its kin: the instant, in milliseconds since the Unix
    /// epoch, may be past (the key is deleted).
    Expire {
        key: String,
        at: i64,
        condition: ExpireCondition,
    },
    Persist(String),
    /// `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`.
    Ttl {
        key: String,
        milliseconds: bool,
        absolute: bool,
    },
    /// `SETNX`: `SET NX` replying 1 or 0.
    SetNx {
        key: String,
        value: Vec<u8>,
    },
    GetSet {
        key: String,
        value: Vec<u8>,
    },
    GetDel(String),
    MGet(Vec<String>),
    /// The pairs packed as the store's `put_many` takes them.
    MSet(Pairs),
    StrLen(String),
    Append {
        key: String,
        value: Vec<u8>,
    },
    IncrBy {
        key: String,
        by: i64,
    },
    IncrByFloat {
        key: String,
        by: f64,
    },
    Del(Vec<String>),
    Exists(Vec<String>),
    Type(String),
    Keys(Vec<u8>),
    Scan {
        cursor: u64,
        pattern: Option<Vec<u8>>,
        count: u32,
        /// `TYPE`: only keys of this type (every kvs value is a string).
        kind: Option<String>,
    },
    RandomKey,
    /// `RENAME` (`replace`) and `RENAMENX`.
    Rename {
        key: String,
        new_key: String,
        replace: bool,
    },
    Flush,
}

impl Request {
    /// Checks a command's arguments (its name first) against the table and
    /// parses them.
    pub fn parse(args: &[&[u8]]) -> Result<Self, RespError> {
        let Some(name) = args.first() else {
            return Err(RespError::new("ERR empty command"));
        };
        let Some(spec) = lookup(name) else {
            return Err(unknown_command(args));
        };
        let count = args.len() as i64;
        if (spec.arity > 0 && count != spec.arity) || (spec.arity < 0 && count < -spec.arity) {
            return Err(RespError::arity(spec.name));
        }
        let mut args = args.iter().skip(1);
        let mut next = move || args.next().map(|arg| arg.to_vec()).unwrap_or_default();
        Ok(match spec.name {
            "ping" => match count {
                1 => Self::Ping(None),
                2 => Self::Ping(Some(next())),
                _ => return Err(RespError::arity("ping")),
            },
            "echo" => Self::Echo(next()),
            "quit" => Self::Quit,
            "hello" => hello(count, &mut next)?,
            "auth" => Self::Auth,
            "select" => Self::Select(integer(&next())?),
            "client" => client(count, &mut next)?,
            "command" => command(count, &mut next)?,
            "config" => {
                let sub = next();
                if !sub.eq_ignore_ascii_case(b"get") {
                    return Err(RespError::unknown_subcommand(&sub, "config"));
                }
                if count < 3 {
                    return Err(RespError::arity("config|get"));
                }
                Self::ConfigGet((2..count).map(|_| next()).collect())
            }
            "info" => Self::Info(
                (1..count)
                    .map(|_| String::from_utf8_lossy(&next()).to_ascii_lowercase())
                    .collect(),
            ),
            "dbsize" => Self::DbSize,
            "time" => Self::Time,
            "get" => Self::Get(key(next())?),
            "set" => set(count, &mut next)?,
            "setex" | "psetex" => {
                let key = key(next())?;
                let amount = integer(&next())?;
                let unit = if spec.name == "setex" { 1000 } else { 1 };
                let at = expire_at(amount, unit, false, spec.name)?;
                Self::SetEx {
                    key,
                    value: next(),
                    at,
                }
            }
            "getex" => getex(count, &mut next)?,
            "expire" | "pexpire" | "expireat" | "pexpireat" => expire(spec.name, count, &mut next)?,
            "persist" => Self::Persist(key(next())?),
            "ttl" | "pttl" | "expiretime" | "pexpiretime" => Self::Ttl {
                key: key(next())?,
                milliseconds: spec.name.starts_with('p'),
                absolute: spec.name.ends_with("time"),
            },
            "setnx" => Self::SetNx {
                key: key(next())?,
                value: next(),
            },
            "getset" => Self::GetSet {
                key: key(next())?,
                value: next(),
            },
            "getdel" => Self::GetDel(key(next())?),
            "mget" => Self::MGet(keys(count, &mut next)?),
            "mset" => {
                if count % 2 == 0 {
                    return Err(RespError::arity("mset"));
                }
                let mut pairs = Pairs::default();
                for _ in 0..count / 2 {
                    pairs.push(&key(next())?, &next());
                }
                Self::MSet(pairs)
            }
            "strlen" => Self::StrLen(key(next())?),
            "append" => Self::Append {
                key: key(next())?,
                value: next(),
            },
            "incr" => Self::IncrBy {
                key: key(next())?,
                by: 1,
            },
            "decr" => Self::IncrBy {
                key: key(next())?,
                by: -1,
            },
            "incrby" => Self::IncrBy {
                key: key(next())?,
                by: integer(&next())?,
            },
            "decrby" => {
                let key = key(next())?;
                let by = integer(&next())?;
                Self::IncrBy {
                    key,
                    by: by
                        .checked_neg()
                        .ok_or_else(|| RespError::new("ERR decrement would overflow"))?,
                }
            }
            "incrbyfloat" => Self::IncrByFloat {
                key: key(next())?,
                by: float(&next())?,
            },
            "del" | "unlink" => Self::Del(keys(count, &mut next)?),
            "exists" => Self::Exists(keys(count, &mut next)?),
            "type" => Self::Type(key(next())?),
            "keys" => Self::Keys(next()),
            "scan" => scan(count, &mut next)?,
            "randomkey" => Self::RandomKey,
            "rename" | "renamenx" => Self::Rename {
                key: key(next())?,
                new_key: key(next())?,
                replace: spec.name == "rename",
            },
            "flushdb" | "flushall" => {
                for _ in 1..count {
                    let mode = next();
                    if !mode.eq_ignore_ascii_case(b"sync") && !mode.eq_ignore_ascii_case(b"async") {
                        return Err(RespError::syntax());
                    }
                }
                Self::Flush
            }
            other => unreachable!("{other} is in the table but has no parser"),
        })
    }
}

/// Redis's reply to a name it does not know, quoting the first arguments.
fn unknown_command(args: &[&[u8]]) -> RespError {
    let mut quoted = String::new();
    for arg in &args[1..] {
        if quoted.len() >= 128 {
            break;
        }
        let room = 128 - quoted.len();
        let text = String::from_utf8_lossy(arg);
        let text: String = text.chars().take(room).collect();
        quoted.push_str(&format!("'{text}' "));
    }
    let name: String = String::from_utf8_lossy(args[0]).chars().take(128).collect();
    RespError(format!(
        "ERR unknown command '{name}', with args beginning with: {quoted}"
    ))
}

/// A key: kvs keys are UTF-8 text.
pub fn key(bytes: Vec<u8>) -> Result<String, RespError> {
    String::from_utf8(bytes)
        .map_err(|_| RespError::new("ERR invalid key: kvs keys must be UTF-8 text"))
}

fn keys(count: i64, next: &mut impl FnMut() -> Vec<u8>) -> Result<Vec<String>, RespError> {
    (1..count).map(|_| key(next())).collect()
}

/// A decimal integer as Redis reads one: an optional `-`, digits, no
/// spaces, no `+`, no leading zeros, within 64 bits.
pub fn integer(bytes: &[u8]) -> Result<i64, RespError> {
    kvs_model::store::parse_integer(bytes).ok_or_else(RespError::not_an_integer)
}

/// A finite floating-point number.
pub fn float(bytes: &[u8]) -> Result<f64, RespError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| !text.is_empty() && !text.starts_with(char::is_whitespace))
        .and_then(|text| text.parse::<f64>().ok())
        .filter(|value| value.is_finite())
        .ok_or_else(|| RespError::new("ERR value is not a valid float"))
}

fn hello(count: i64, next: &mut impl FnMut() -> Vec<u8>) -> Result<Request, RespError> {
    let mut protocol = None;
    let mut name = None;
    if count > 1 {
        let version = next();
        protocol = Some(
            integer(&version)
                .map_err(|_| RespError::new("NOPROTO unsupported protocol version"))?,
        );
        let mut i = 2;
        while i < count {
            let option = next();
            let left = count - i - 1;
            if option.eq_ignore_ascii_case(b"setname") && left >= 1 {
                name = Some(client_name(next())?);
                i += 2;
            } else if option.eq_ignore_ascii_case(b"auth") && left >= 2 {
                next();
                next();
                i += 3;
            } else {
                return Err(RespError(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&option)
                )));
            }
        }
    }
    Ok(Request::Hello { protocol, name })
}

fn client_name(bytes: Vec<u8>) -> Result<String, RespError> {
    let valid = bytes.iter().all(|&b| (b'!'..=b'~').contains(&b));
    match String::from_utf8(bytes) {
        Ok(name) if valid => Ok(name),
        _ => Err(RespError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        )),
    }
}

fn client(count: i64, next: &mut impl FnMut() -> Vec<u8>) -> Result<Request, RespError> {
    let sub = next();
    let lower = sub.to_ascii_lowercase();
    let arity = |expected: i64, name: &str| {
        if count == expected {
            Ok(())
        } else {
            Err(RespError::arity(&format!("client|{name}")))
        }
    };
    let request = match lower.as_slice() {
        b"setname" => {
            arity(3, "setname")?;
            ClientRequest::SetName(client_name(next())?)
        }
        b"getname" => {
            arity(2, "getname")?;
            ClientRequest::GetName
        }
        b"id" => {
            arity(2, "id")?;
            ClientRequest::Id
        }
        b"info" => {
            arity(2, "info")?;
            ClientRequest::Info
        }
        b"setinfo" => {
            arity(4, "setinfo")?;
            let attribute = next();
            if !attribute.eq_ignore_ascii_case(b"lib-name")
                && !attribute.eq_ignore_ascii_case(b"lib-ver")
            {
                return Err(RespError(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(&attribute)
                )));
            }
            ClientRequest::SetInfo
        }
        _ => return Err(RespError::unknown_subcommand(&sub, "client")),
    };
    Ok(Request::Client(request))
}

fn command(count: i64, next: &mut impl FnMut() -> Vec<u8>) -> Result<Request, RespError> {
    if count == 1 {
        return Ok(Request::Command(CommandQuery::All));
    }
    let sub = next();
    let rest = |next: &mut dyn FnMut() -> Vec<u8>| (2..count).map(|_| next()).collect();
    let query = match sub.to_ascii_lowercase().as_slice() {
        b"count" if count == 2 => CommandQuery::Count,
        b"list" if count == 2 => CommandQuery::List,
        b"docs" => CommandQuery::Docs(rest(next)),
        b"info" => CommandQuery::Info(rest(next)),
        b"count" | b"list" => {
            return Err(RespError::arity(&format!(
                "command|{}",
                String::from_utf8_lossy(&sub).to_ascii_lowercase()
            )));
        }
        _ => return Err(RespError::unknown_subcommand(&sub, "command")),
    };
    Ok(Request::Command(query))
}

/// The absolute expiry of `SET ... EX` and its kin: `amount` in `unit`
/// milliseconds, from now unless `absolute`. It must be positive, as Redis
/// has it.
fn expire_at(amount: i64, unit: i64, absolute: bool, command: &str) -> Result<u64, RespError> {
    let invalid = || RespError(format!("ERR invalid expire time in '{command}' command"));
    if amount <= 0 {
        return Err(invalid());
    }
    let ms = amount.checked_mul(unit).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(now_ms() as i64).ok_or_else(invalid)?
    };
    Ok(at as u64)
}

/// Reads the argument after an expiry option (`EX 10`) as the instant it
/// names.
fn expiry_option(
    option: &[u8],
    next: &mut impl FnMut() -> Vec<u8>,
    command: &str,
) -> Result<u64, RespError> {
    let amount = integer(&next())?;
    let (unit, absolute) = match option {
        b"EX" => (1000, false),
        b"PX" => (1, false),
        b"EXAT" => (1000, true),
        _ => (1, true),
    };
    expire_at(amount, unit, absolute, command)
}

fn set(count: i64, next: &mut impl FnMut() -> Vec<u8>) -> Result<Request, RespError> {
    let key = key(next())?;
    let value = next();
    let mut condition = Condition::Always;
    let mut get = false;
    let mut expiry: Option<Expiry> = None;
    let mut i = 3;
    while i < count {
        let option = next().to_ascii_uppercase();
        match option.as_slice() {
            b"NX" if condition == Condition::Always => condition = Condition::IfAbsent,
            b"XX" if condition == Condition::Always => condition = Condition::IfPresent,
            b"GET" if !get => get = true,
            b"KEEPTTL" if expiry.is_none() => expiry = Some(Expiry::Keep),
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if expiry.is_none() && i + 1 < count => {
                expiry = Some(Expiry::At(expiry_option(&option, next, "set")?));
                i += 1;
            }
            _ => return Err(RespError::syntax()),
        }
        i += 1;
    }
    Ok(Request::Set {
        key,
        value,
        condition,
        expiry: expiry.unwrap_or(Expiry::Clear),
        get,
    })
}

fn getex(count: i64, next: &mut impl FnMut() -> Vec<u8>) -> Result<Request, RespError> {
    let key = key(next())?;
    let option = if count > 2 {
        next().to_ascii_uppercase()
    } else {
        Vec::new()
    };
    let expiry = match (option.as_slice(), count) {
        (_, 2) => None,
        (b"PERSIST", 3) => Some(Expiry::Clear),
        (b"EX" | b"PX" | b"EXAT" | b"PXAT", 4) => {
            Some(Expiry::At(expiry_option(&option, next, "getex")?))
        }
        _ => return Err(RespError::syntax()),
    };
    Ok(Request::GetEx { key, expiry })
}

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` with `NX|XX|GT|LT`.
fn expire(
    name: &str,
    count: i64,
    next: &mut impl FnMut() -> Vec<u8>,
) -> Result<Request, RespError> {
    let key = key(next())?;
    let amount = integer(&next())?;
    let unit = if name.starts_with('p') { 1 } else { 1000 };
    let absolute = name.ends_with("at");
    let at = amount
        .checked_mul(unit)
        .and_then(|ms| {
            if absolute {
                Some(ms)
            } else {
                ms.checked_add(now_ms() as i64)
            }
        })
        .ok_or_else(|| RespError(format!("ERR invalid expire time in '{name}' command")))?;
    let mut condition = ExpireCondition::Always;
    for _ in 3..count {
        let option = next().to_ascii_uppercase();
        let wanted = match option.as_slice() {
            b"NX" => ExpireCondition::IfNone,
            b"XX" => ExpireCondition::IfSome,
            b"GT" => ExpireCondition::IfLater,
            b"LT" => ExpireCondition::IfEarlier,
            _ => {
                return Err(RespError(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(&option)
                )));
            }
        };
        condition = match (condition, wanted) {
            (ExpireCondition::Always, wanted) => wanted,
            (current, wanted) if current == wanted => wanted,
            (ExpireCondition::IfLater, ExpireCondition::IfEarlier)
            | (ExpireCondition::IfEarlier, ExpireCondition::IfLater) => {
                return Err(RespError::new(
                    "ERR GT and LT options at the same time are not compatible",
                ));
            }
            _ => {
                return Err(RespError::new(
                    "ERR NX and XX, GT or LT options at the same time are not compatible",
                ));
            }
        };
    }
    Ok(Request::Expire { key, at, condition })
}

fn scan(count: i64, next: &mut impl FnMut() -> Vec<u8>) -> Result<Request, RespError> {
    let raw = next();
    let cursor = std::str::from_utf8(&raw)
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| RespError::new("ERR invalid cursor"))?;
    let mut pattern = None;
    let mut page = 10;
    let mut kind = None;
    let mut i = 2;
    while i < count {
        let option = next().to_ascii_uppercase();
        if i + 1 >= count {
            return Err(RespError::syntax());
        }
        let value = next();
        match option.as_slice() {
            b"MATCH" => pattern = Some(value),
            b"COUNT" => {
                let n = integer(&value)?;
                if n < 1 {
                    return Err(RespError::syntax());
                }
                page = u32::try_from(n).unwrap_or(u32::MAX);
            }
            b"TYPE" => kind = Some(String::from_utf8_lossy(&value).to_ascii_lowercase()),
            _ => return Err(RespError::syntax()),
        }
        i += 2;
    }
    Ok(Request::Scan {
        cursor,
        pattern,
        count: page,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(words: &[&'a str]) -> Vec<&'a [u8]> {
        words.iter().map(|w| w.as_bytes()).collect()
    }

    #[test]
    fn every_command_is_found_in_any_case_and_no_other() {
        assert!(
            COMMANDS.windows(2).all(|pair| pair[0].name < pair[1].name),
            "sorted by name"
        );
        for spec in COMMANDS {
            assert!(
                spec.name.bytes().all(|b| b.is_ascii_lowercase()),
                "{}",
                spec.name
            );
            assert_eq!(lookup(spec.name.as_bytes()).unwrap().name, spec.name);
            let upper = spec.name.to_ascii_uppercase();
            assert_eq!(lookup(upper.as_bytes()).unwrap().name, spec.name);
        }
        for name in [
            "",
            "ge",
            "gett",
            "zzz",
            "a",
            "sét",
            "GET\0",
            "GE\0",
            "G\x05T",
            "[et",
            "incrbyfloatincrbyfloat",
        ] {
            assert!(lookup(name.as_bytes()).is_none(), "{name}");
        }
    }

    #[test]
    fn errors_read_as_redis_writes_them() {
        let error = |words: &[&str]| Request::parse(&args(words)).unwrap_err().0;
        assert_eq!(
            error(&["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            error(&["get", "a", "b"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            error(&["FOO", "a", "b"]),
            "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
        );
        assert_eq!(error(&["SET", "k", "v", "NX", "XX"]), "ERR syntax error");
        assert_eq!(
            error(&["INCRBY", "k", "1.5"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&["INCRBY", "k", "+1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&["INCRBY", "k", "01"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&["CLIENT", "KILL"]),
            "ERR unknown subcommand 'KILL'. Try CLIENT HELP."
        );
        assert_eq!(
            error(&["HELLO", "x"]),
            "NOPROTO unsupported protocol version"
        );
        assert_eq!(
            error(&["SET", "k", "v", "EX", "0"]),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            error(&["SET", "k", "v", "EX", "1", "PX", "1"]),
            "ERR syntax error"
        );
        assert_eq!(error(&["SET", "k", "v", "EX"]), "ERR syntax error");
        assert_eq!(
            error(&["SETEX", "k", "-1", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            error(&["EXPIRE", "k", "10", "NX", "XX"]),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            error(&["EXPIRE", "k", "10", "GT", "LT"]),
            "ERR GT and LT options at the same time are not compatible"
        );
    }

    #[test]
    fn set_options_parse_in_any_case_and_order() {
        let parsed = Request::parse(&args(&["set", "k", "v", "get", "nx"])).unwrap();
        assert_eq!(
            parsed,
            Request::Set {
                key: "k".into(),
                value: b"v".to_vec(),
                condition: Condition::IfAbsent,
                expiry: Expiry::Clear,
                get: true
            }
        );
        assert_eq!(integer(b"-9223372036854775808"), Ok(i64::MIN));
        assert!(integer(b"9223372036854775808").is_err());
    }
}
