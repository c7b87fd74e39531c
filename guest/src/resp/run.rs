//! Runs a checked [`Request`] against the store and writes its reply.

use super::atomic::{self, RESP_CONTENT_TYPE};
use super::command::{COMMANDS, ClientRequest, CommandQuery, Condition, Request, RespError, Spec};
use super::glob;
use super::reply::Out;
use super::{Server, Session};
use crate::storage::{
    ExpireCondition, Expiry, Keys, ModifyError, Pairs, Storage, StoreError, Values, modify, now_ms,
};

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    KeepOpen,
    Close,
}

/// Runs `request`, writing its reply (or its error) to `out`.
pub fn run(
    store: &impl Storage,
    server: &impl Server,
    session: &mut Session,
    request: Request,
    out: &mut Out,
) -> After {
    match execute(store, server, session, request, out) {
        Ok(after) => after,
        Err(error) => {
            out.error(&error.0);
            After::KeepOpen
        }
    }
}

/// Answers a run of `GET`s a client sent one after another, reading their
/// keys in one store call: what they would have answered one by one, since
/// pipelined commands of other clients may run between any two of them.
pub fn gets(store: &impl Storage, keys: &Keys, out: &mut Out) {
    match store.get_values(keys) {
        Ok(values) => bulks(&values, keys.len(), out),
        Err(error) => {
            let error = store_error(error);
            for _ in 0..keys.len() {
                out.error(&error.0);
            }
        }
    }
}

/// `count` replies, one per key read: its value as a bulk string, or nil
/// where it had none (or the packing ran short).
fn bulks(values: &Values, count: usize, out: &mut Out) {
    let mut values = values.iter();
    for _ in 0..count {
        match values.next().flatten() {
            Some(value) => out.bulk(value),
            None => out.nil(),
        }
    }
}

/// Answers a run of `SET`s with no condition, expiry or `GET` a client sent one
/// after another, writing them in one store call (`put_many`, as `MSET`
/// does): what they would have answered one by one, since all of them
/// taking effect at one instant is one of the orders the pipelined
/// commands of other clients allow, and a key set twice keeps its last
/// value. If the store refuses the run (a key or value past the limits,
/// the memory budget), it wrote none of it, and each `SET` is run alone
/// for its own answer.
pub fn sets(
    store: &impl Storage,
    server: &impl Server,
    session: &mut Session,
    pairs: &Pairs,
    out: &mut Out,
) {
    if pairs.len() > 1 && store.put_many(pairs, RESP_CONTENT_TYPE).is_ok() {
        for _ in 0..pairs.len() {
            out.simple("OK");
        }
        return;
    }
    let Ok(each) = pairs.unpacked() else {
        // Not met: the pairs were packed by `handle_batch`. Still one
        // reply per command, so the client stays in step.
        for _ in 0..pairs.len() {
            out.error("ERR the SETs could not be read back from their packing");
        }
        return;
    };
    for (key, value) in each {
        let request = Request::Set {
            key: key.to_owned(),
            value: value.to_vec(),
            condition: Condition::Always,
            expiry: Expiry::Clear,
            get: false,
        };
        run(store, server, session, request, out);
    }
}

/// A store error as Redis would word it.
fn store_error(error: StoreError) -> RespError {
    match error {
        StoreError::StoreFull => {
            RespError::new("OOM command not allowed when used memory > 'maxmemory'.")
        }
        StoreError::NotDurable(reason) => RespError(format!(
            "MISCONF the write-ahead log cannot be written ({reason}); writes are refused until it can"
        )),
        StoreError::TooLarge { limit } => RespError(format!(
            "ERR too large: kvs takes keys and values up to {limit} bytes"
        )),
        StoreError::InvalidKey(reason) => RespError(format!("ERR invalid key: {reason}")),
        StoreError::Unavailable(reason) => RespError(format!("ERR store unavailable: {reason}")),
        StoreError::NotAnInteger => RespError::not_an_integer(),
        StoreError::Overflow => RespError::new("ERR increment or decrement would overflow"),
        other => RespError(format!("ERR {other}")),
    }
}

fn execute(
    store: &impl Storage,
    server: &impl Server,
    session: &mut Session,
    request: Request,
    out: &mut Out,
) -> Result<After, RespError> {
    match request {
        Request::Ping(None) => out.simple("PONG"),
        Request::Ping(Some(message)) | Request::Echo(message) => out.bulk(&message),
        Request::Quit => {
            out.simple("OK");
            return Ok(After::Close);
        }
        Request::Hello { protocol, name } => {
            if let Some(version) = protocol
                && version != 2
            {
                return Err(RespError::new("NOPROTO unsupported protocol version"));
            }
            if let Some(name) = name {
                session.name = Some(name);
            }
            out.array(14);
            for (field, value) in [
                ("server", "redis".to_string()),
                ("version", REDIS_VERSION.to_string()),
            ] {
                out.bulk(field.as_bytes());
                out.bulk(value.as_bytes());
            }
            out.bulk(b"proto");
            out.integer(2);
            out.bulk(b"id");
            out.integer(session.id as i64);
            for (field, value) in [("mode", "standalone"), ("role", "master")] {
                out.bulk(field.as_bytes());
                out.bulk(value.as_bytes());
            }
            out.bulk(b"modules");
            out.array(0);
        }
        Request::Auth => {
            return Err(RespError::new(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        Request::Select(0) => out.simple("OK"),
        Request::Select(_) => {
            return Err(RespError::new(
                "ERR DB index is out of range (kvs has one database, 0)",
            ));
        }
        Request::Client(client) => match client {
            ClientRequest::SetName(name) => {
                session.name = Some(name);
                out.simple("OK");
            }
            ClientRequest::GetName => match &session.name {
                Some(name) => out.bulk(name.as_bytes()),
                None => out.nil(),
            },
            ClientRequest::Id => out.integer(session.id as i64),
            ClientRequest::SetInfo => out.simple("OK"),
            ClientRequest::Info => {
                let line = format!(
                    "id={} name={} db=0 resp=2\n",
                    session.id,
                    session.name.as_deref().unwrap_or("")
                );
                out.bulk(line.as_bytes());
            }
        },
        Request::Command(query) => command(query, out),
        Request::ConfigGet(patterns) => config_get(store, &patterns, out),
        Request::Info(sections) => {
            let text = info(store, server, &sections)?;
            out.bulk(text.as_bytes());
        }
        Request::DbSize => out.integer(store.stats().map_err(store_error)?.keys as i64),
        Request::Time => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            out.bulks(&[now.as_secs().to_string(), now.subsec_micros().to_string()]);
        }
        Request::Get(key) => match store.get(&key) {
            Ok(entry) => out.bulk(&entry.value),
            Err(StoreError::NotFound) => out.nil(),
            Err(error) => return Err(store_error(error)),
        },
        Request::Set {
            key,
            value,
            condition,
            expiry,
            get,
        } => {
            let outcome =
                atomic::set(store, &key, &value, condition, expiry, get).map_err(store_error)?;
            if get {
                match outcome.previous {
                    Some(previous) => out.bulk(&previous.value),
                    None => out.nil(),
                }
            } else if outcome.written {
                out.simple("OK");
            } else {
                out.nil();
            }
        }
        Request::SetEx { key, value, at } => {
            atomic::set(
                store,
                &key,
                &value,
                Condition::Always,
                Expiry::At(at),
                false,
            )
            .map_err(store_error)?;
            out.simple("OK");
        }
        Request::SetNx { key, value } => {
            let outcome = atomic::set(
                store,
                &key,
                &value,
                Condition::IfAbsent,
                Expiry::Clear,
                false,
            )
            .map_err(store_error)?;
            out.integer(i64::from(outcome.written));
        }
        Request::GetSet { key, value } => {
            let outcome = atomic::set(store, &key, &value, Condition::Always, Expiry::Clear, true)
                .map_err(store_error)?;
            match outcome.previous {
                Some(previous) => out.bulk(&previous.value),
                None => out.nil(),
            }
        }
        Request::GetDel(key) => match store.delete(&key, None) {
            Ok(entry) => out.bulk(&entry.value),
            Err(StoreError::NotFound) => out.nil(),
            Err(error) => return Err(store_error(error)),
        },
        Request::MGet(keys) => {
            // Every reply element is decided before any is written, so an
            // error cannot leave half an array.
            let packed: Keys = keys.iter().collect();
            let values = store.get_values(&packed).map_err(store_error)?;
            out.array(keys.len());
            bulks(&values, keys.len(), out);
        }
        Request::MSet(pairs) => {
            store
                .put_many(&pairs, atomic::RESP_CONTENT_TYPE)
                .map_err(store_error)?;
            out.simple("OK");
        }
        Request::GetEx { key, expiry } => match atomic::get_ex(store, &key, expiry) {
            Ok(entry) => out.bulk(&entry.value),
            Err(StoreError::NotFound) => out.nil(),
            Err(error) => return Err(store_error(error)),
        },
        Request::Expire { key, at, condition } => {
            let at = u64::try_from(at).unwrap_or(0);
            match store.expire(&key, Some(at), condition, None) {
                Ok(changed) => out.integer(i64::from(changed)),
                Err(StoreError::NotFound) => out.integer(0),
                Err(error) => return Err(store_error(error)),
            }
        }
        Request::Persist(key) => match store.expire(&key, None, ExpireCondition::Always, None) {
            Ok(changed) => out.integer(i64::from(changed)),
            Err(StoreError::NotFound) => out.integer(0),
            Err(error) => return Err(store_error(error)),
        },
        Request::Ttl {
            key,
            milliseconds,
            absolute,
        } => match store.get(&key) {
            Err(StoreError::NotFound) => out.integer(-2),
            Err(error) => return Err(store_error(error)),
            Ok(entry) => match entry.expires_at {
                None => out.integer(-1),
                Some(at) => {
                    let value = match (absolute, milliseconds) {
                        (true, true) => at,
                        (true, false) => at / 1000,
                        (false, true) => at.saturating_sub(now_ms()),
                        // Rounded, as Redis does.
                        (false, false) => (at.saturating_sub(now_ms()) + 500) / 1000,
                    };
                    out.integer(value as i64);
                }
            },
        },
        Request::StrLen(key) => match store.get(&key) {
            Ok(entry) => out.integer(entry.value.len() as i64),
            Err(StoreError::NotFound) => out.integer(0),
            Err(error) => return Err(store_error(error)),
        },
        Request::Append { key, value } => {
            let limit = store.limits().max_value_bytes;
            let (written, _) = modify(store, &key, RESP_CONTENT_TYPE, |current| {
                let mut new = current.unwrap_or_default().to_vec();
                if (new.len() + value.len()) as u64 > limit {
                    return Err(RespError::new(
                        "ERR string exceeds maximum allowed size (kvs's value limit)",
                    ));
                }
                new.extend_from_slice(&value);
                Ok(new)
            })
            .map_err(modify_error)?;
            out.integer(written.len() as i64);
        }
        Request::IncrBy { key, by } => {
            let (sum, _) = store
                .add(&key, by, RESP_CONTENT_TYPE)
                .map_err(store_error)?;
            out.integer(sum);
        }
        Request::IncrByFloat { key, by } => {
            let (written, _) = modify(store, &key, RESP_CONTENT_TYPE, |current| {
                let now = match current {
                    Some(bytes) => super::command::float(bytes)?,
                    None => 0.0,
                };
                let new = now + by;
                if !new.is_finite() {
                    return Err(RespError::new(
                        "ERR increment would produce NaN or Infinity",
                    ));
                }
                Ok(format_float(new).into_bytes())
            })
            .map_err(modify_error)?;
            out.bulk(&written);
        }
        Request::Del(keys) => {
            let removed = store.delete_many(&keys).map_err(store_error)?;
            out.integer(i64::from(removed));
        }
        Request::Rename {
            key,
            new_key,
            replace,
        } => match store.rename(&key, &new_key, replace) {
            Ok(_) if replace => out.simple("OK"),
            Ok(_) => out.integer(1),
            Err(StoreError::AlreadyExists) if !replace => out.integer(0),
            Err(StoreError::NotFound) => return Err(RespError::new("ERR no such key")),
            Err(error) => return Err(store_error(error)),
        },
        Request::Exists(keys) => {
            let mut present = 0;
            for key in &keys {
                match store.get(key) {
                    Ok(_) => present += 1,
                    Err(StoreError::NotFound) => {}
                    Err(error) => return Err(store_error(error)),
                }
            }
            out.integer(present);
        }
        Request::Type(key) => match store.get(&key) {
            Ok(_) => out.simple("string"),
            Err(StoreError::NotFound) => out.simple("none"),
            Err(error) => return Err(store_error(error)),
        },
        Request::Keys(pattern) => {
            let keys = matching_keys(store, &pattern)?;
            out.bulks(&keys);
        }
        Request::Scan {
            cursor,
            pattern,
            count,
            kind,
        } => {
            let page = store.scan(cursor, count).map_err(store_error)?;
            let keys: Vec<&String> = page
                .keys
                .iter()
                .filter(|_| kind.as_deref().is_none_or(|kind| kind == "string"))
                .filter(|key| {
                    pattern
                        .as_deref()
                        .is_none_or(|pattern| glob::matches(pattern, key.as_bytes()))
                })
                .collect();
            out.array(2);
            out.bulk(page.next.to_string().as_bytes());
            out.bulks(&keys.iter().map(|k| k.as_bytes()).collect::<Vec<_>>());
        }
        Request::RandomKey => {
            // Anywhere in the hash order, then from its start.
            let start = random_cursor();
            let mut page = store.scan(start, 1).map_err(store_error)?;
            if page.keys.is_empty() && start != 0 {
                page = store.scan(0, 1).map_err(store_error)?;
            }
            match page.keys.first() {
                Some(key) => out.bulk(key.as_bytes()),
                None => out.nil(),
            }
        }
        Request::Flush => {
            let mut cursor = 0;
            loop {
                let page = store.scan(cursor, 1000).map_err(store_error)?;
                for key in &page.keys {
                    match store.delete(key, None) {
                        Ok(_) | Err(StoreError::NotFound) => {}
                        Err(error) => return Err(store_error(error)),
                    }
                }
                if page.next == 0 {
                    break;
                }
                cursor = page.next;
            }
            out.simple("OK");
        }
    }
    Ok(After::KeepOpen)
}

fn modify_error(error: ModifyError<RespError>) -> RespError {
    match error {
        ModifyError::Value(error) => error,
        ModifyError::Store(error) => store_error(error),
    }
}

/// A float as `INCRBYFLOAT` writes it: the shortest text that reads back
/// as the same number, never in exponent form.
fn format_float(value: f64) -> String {
    let text = format!("{value}");
    if text.contains('e') || text.contains('E') {
        let fixed = format!("{value:.17}");
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        return trimmed.to_string();
    }
    text
}

/// Somewhere in the hash space, from the clock's nanoseconds.
fn random_cursor() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    kvs_model::scan::key_hash(&nanos.to_string())
}

/// Every key that matches `pattern`, listing only keys with its literal
/// prefix.
fn matching_keys(store: &impl Storage, pattern: &[u8]) -> Result<Vec<String>, RespError> {
    let prefix = String::from_utf8_lossy(&glob::literal_prefix(pattern)).into_owned();
    let page_size = store.limits().max_page_size;
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list(&prefix, cursor.as_deref(), page_size)
            .map_err(store_error)?;
        keys.extend(
            page.keys
                .into_iter()
                .filter(|key| glob::matches(pattern, key.as_bytes())),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(keys),
        }
    }
}

/// The Redis version kvs answers as, for clients that pick features by it:
/// the commands kvs has behave as Redis 7.2's do.
pub const REDIS_VERSION: &str = "7.2.0";

fn command(query: CommandQuery, out: &mut Out) {
    match query {
        CommandQuery::Count => out.integer(COMMANDS.len() as i64),
        CommandQuery::List => {
            out.bulks(&COMMANDS.iter().map(|spec| spec.name).collect::<Vec<_>>());
        }
        CommandQuery::All => {
            out.array(COMMANDS.len());
            for spec in COMMANDS {
                command_info(spec, out);
            }
        }
        CommandQuery::Info(names) => {
            if names.is_empty() {
                return command(CommandQuery::All, out);
            }
            out.array(names.len());
            for name in names {
                match super::command::lookup(&name) {
                    Some(spec) => command_info(spec, out),
                    None => out.nil(),
                }
            }
        }
        CommandQuery::Docs(names) => {
            let specs: Vec<&Spec> = if names.is_empty() {
                COMMANDS.iter().collect()
            } else {
                names
                    .iter()
                    .filter_map(|name| super::command::lookup(name))
                    .collect()
            };
            out.array(specs.len() * 2);
            for spec in specs {
                out.bulk(spec.name.as_bytes());
                out.array(8);
                out.bulk(b"summary");
                out.bulk(spec.summary.as_bytes());
                out.bulk(b"since");
                out.bulk(b"1.0.0");
                out.bulk(b"group");
                out.bulk(spec.group.as_bytes());
                out.bulk(b"arguments");
                out.array(0);
            }
        }
    }
}

/// One command's entry in `COMMAND`'s reply, in Redis 7's ten fields.
fn command_info(spec: &Spec, out: &mut Out) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.integer(spec.arity);
    out.array(spec.flags.len());
    for flag in spec.flags {
        out.simple(flag);
    }
    out.integer(spec.first_key);
    out.integer(spec.last_key);
    out.integer(spec.step);
    // ACL categories, tips, key specifications, subcommands.
    for _ in 0..4 {
        out.array(0);
    }
}

/// The settings `CONFIG GET` reports: enough for clients and
/// `redis-benchmark`, which read a few at start-up.
fn config_get(store: &impl Storage, patterns: &[Vec<u8>], out: &mut Out) {
    let limits = store.limits();
    let settings = [
        ("appendonly", "no".to_string()),
        ("databases", "1".to_string()),
        ("maxmemory", "0".to_string()),
        ("maxmemory-policy", "noeviction".to_string()),
        ("proto-max-bulk-len", limits.max_value_bytes.to_string()),
        ("save", String::new()),
    ];
    let mut found = Vec::new();
    for (name, value) in &settings {
        if patterns
            .iter()
            .any(|pattern| glob::matches(&pattern.to_ascii_lowercase(), name.as_bytes()))
        {
            found.push(name.to_string());
            found.push(value.clone());
        }
    }
    out.bulks(&found);
}

/// `INFO`'s text: the sections asked for, or the default ones.
fn info(
    store: &impl Storage,
    server: &impl Server,
    sections: &[String],
) -> Result<String, RespError> {
    let host = server.info();
    let stats = store.stats().map_err(store_error)?;
    let wanted = |name: &str| {
        sections.is_empty()
            || sections
                .iter()
                .any(|s| s == name || s == "all" || s == "default" || s == "everything")
    };
    let mut text = String::new();
    let uptime = host.uptime_ms / 1000;
    if wanted("server") {
        text.push_str(&format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nserver_name:kvs\r\nkvs_version:{}\r\narch_bits:64\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n\r\n",
            host.version, uptime / 86_400
        ));
    }
    if wanted("clients") {
        text.push_str(&format!(
            "# Clients\r\nconnected_clients:{}\r\n\r\n",
            host.connected_clients
        ));
    }
    if wanted("memory") {
        text.push_str(&format!(
            "# Memory\r\nused_memory:{}\r\nused_memory_rss:{}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\r\n",
            stats.bytes, host.resident_bytes
        ));
    }
    if wanted("stats") {
        // kvs never evicts: a full store refuses writes (`-OOM`) instead.
        text.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\n\r\n",
            host.connections_received, host.commands_processed, host.connections_rejected, stats.expired
        ));
    }
    if wanted("keyspace") {
        text.push_str("# Keyspace\r\n");
        if stats.keys > 0 {
            text.push_str(&format!(
                "db0:keys={},expires={},avg_ttl=0\r\n",
                stats.keys, stats.expiring
            ));
        }
    }
    Ok(text)
}
