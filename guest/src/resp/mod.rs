//! The Redis protocol (RESP2): a batch of commands in, their replies out.
//!
//! The host frames the bytes (arrays of bulk strings, inline commands) and
//! keeps each connection's [`Session`]; everything a command means is here:
//! - [`command`]: the command table, and arguments checked into a typed
//!   [`command::Request`], with Redis's error texts. A plain `GET` or `SET`
//!   (the commands pipelined most) is taken from the batch as it stands,
//!   and runs of them reach the store in one call each (`handle_batch`).
//! - [`run`]: a request run against the store, its reply written.
//! - [`atomic`]: the writes the store has no one function for (`SET` with
//!   its conditions and `GET`, `GETEX`), as compare-and-swap loops; the
//!   counters are the store's `add`, `APPEND` and `INCRBYFLOAT` are
//!   [`crate::storage::modify`].
//! - [`glob`]: Redis's patterns, for `KEYS`, `SCAN MATCH`, `CONFIG GET`.
//! - [`reply`]: RESP encoding.
//!
//! Values written over RESP are stored as `application/octet-stream`; any
//! value, whatever its type, reads back as its bytes. Keys are UTF-8 text,
//! as everywhere in kvs.

pub mod atomic;
pub mod command;
pub mod glob;
pub mod reply;
pub mod run;

pub use kvs_model::{RespReplies, RespSession as Session, ServerInfo};

use crate::storage::Storage;
use crate::storage::{Keys, Pairs};
use command::Request;
use reply::Out;
use run::After;

/// What the host tells about itself, for `INFO`.
pub trait Server {
    fn info(&self) -> ServerInfo;
}

/// Runs the commands in `batch` (RESP arrays of bulk strings, back to
/// back; see [`kvs_model::resp`]) in order and encodes their replies. Stops
/// after `QUIT`: commands after it in the batch are not run. A batch that
/// is not such arrays (a host's bug) gets an error for what cannot be read.
pub fn handle_batch(
    store: &impl Storage,
    server: &impl Server,
    mut session: Session,
    batch: &[u8],
) -> RespReplies {
    // Replies are mostly shorter than their commands: one allocation
    // for most batches.
    let mut out = Out {
        bytes: Vec::with_capacity(batch.len().min(64 << 10)),
    };
    let mut close = false;
    let mut requests = kvs_model::resp::commands(batch)
        .filter(|args| args.as_ref().map_or(true, |args| !args.is_empty()))
        .map(|args| match args {
            Ok(args) => plain(&args).unwrap_or_else(|| Parsed::Other(Request::parse(&args))),
            Err(reason) => Parsed::Other(Err(command::RespError::new(format!(
                "ERR the host sent a malformed batch: {reason}"
            )))),
        })
        .peekable();
    while let Some(parsed) = requests.next() {
        let parsed = match parsed {
            Parsed::Get(key) => {
                // A run of GETs crosses into the store once.
                let mut keys = Keys::default();
                keys.push(key);
                while let Some(Parsed::Get(key)) =
                    requests.next_if(|next| matches!(next, Parsed::Get(_)))
                {
                    keys.push(key);
                }
                run::gets(store, &keys, &mut out);
                continue;
            }
            Parsed::Set(key, value) => {
                // A run of SETs crosses into the store once too.
                let mut pairs = Pairs::default();
                pairs.push(key, value);
                while let Some(Parsed::Set(key, value)) =
                    requests.next_if(|next| matches!(next, Parsed::Set(..)))
                {
                    pairs.push(key, value);
                }
                run::sets(store, server, &mut session, &pairs, &mut out);
                continue;
            }
            Parsed::Other(parsed) => parsed,
        };
        let after = match parsed {
            Ok(request) => run::run(store, server, &mut session, request, &mut out),
            Err(error) => {
                out.error(&error.0);
                After::KeepOpen
            }
        };
        if after == After::Close {
            close = true;
            break;
        }
    }
    RespReplies {
        out: out.bytes,
        session,
        close,
    }
}

/// A command of a batch: the two pipelined most, taken as they stand with
/// their arguments borrowed from the batch and read or written in runs, or
/// any other, parsed.
enum Parsed<'a> {
    /// `GET key`, the key UTF-8.
    Get(&'a str),
    /// `SET key value` with no option, the key UTF-8.
    Set(&'a str, &'a [u8]),
    Other(Result<Request, command::RespError>),
}

/// What [`Request::parse`] would make a plain [`Request::Get`] or
/// [`Request::Set`] of, without looking the name up in the command table
/// or copying the arguments. `None` for any other command, a `GET` or `SET`
/// with other arguments or a key that is not UTF-8 included, which the
/// parser then answers.
fn plain<'a>(args: &[&'a [u8]]) -> Option<Parsed<'a>> {
    match args {
        [name, key] if name.eq_ignore_ascii_case(b"get") => {
            std::str::from_utf8(key).ok().map(Parsed::Get)
        }
        [name, key, value] if name.eq_ignore_ascii_case(b"set") => std::str::from_utf8(key)
            .ok()
            .map(|key| Parsed::Set(key, value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    struct NoServer;

    impl Server for NoServer {
        fn info(&self) -> ServerInfo {
            ServerInfo::default()
        }
    }

    fn batch(commands: &[&[&str]]) -> Vec<u8> {
        let mut batch = Vec::new();
        for args in commands {
            kvs_model::resp::encode_command(args, &mut batch);
        }
        batch
    }

    fn run(store: &MemoryStorage, commands: &[&[&str]]) -> String {
        let replies = handle_batch(store, &NoServer, Session::default(), &batch(commands));
        String::from_utf8(replies.out).unwrap()
    }

    #[test]
    fn strings_and_counters_answer_as_redis_does() {
        let store = MemoryStorage::default();
        assert_eq!(
            run(
                &store,
                &[
                    &["SET", "k", "v"],
                    &["GET", "k"],
                    &["SET", "k", "w", "NX"],
                    &["SET", "k", "w", "XX", "GET"],
                    &["GET", "missing"],
                    &["INCR", "n"],
                    &["INCRBY", "n", "41"],
                    &["DECR", "n"],
                    &["INCR", "k"],
                    &["INCRBYFLOAT", "f", "10.5"],
                    &["INCRBYFLOAT", "f", "0.1"],
                    &["APPEND", "k", "xyz"],
                    &["STRLEN", "k"],
                    &["MSET", "a", "1", "b", "2"],
                    &["MGET", "a", "missing", "b"],
                    &["EXISTS", "a", "a", "missing"],
                    &["DEL", "a", "b", "missing"],
                    &["GETDEL", "k"],
                    &["TYPE", "k"],
                    &["TYPE", "n"],
                ]
            ),
            concat!(
                "+OK\r\n$1\r\nv\r\n$-1\r\n$1\r\nv\r\n$-1\r\n",
                ":1\r\n:42\r\n:41\r\n-ERR value is not an integer or out of range\r\n",
                "$4\r\n10.5\r\n$4\r\n10.6\r\n:4\r\n:4\r\n+OK\r\n",
                "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n:2\r\n:2\r\n$4\r\nwxyz\r\n",
                "+none\r\n+string\r\n"
            )
        );
    }

    #[test]
    fn quit_closes_after_its_reply_and_runs_nothing_after_it() {
        let store = MemoryStorage::default();
        let replies = handle_batch(
            &store,
            &NoServer,
            Session::default(),
            &batch(&[&["QUIT"], &["SET", "k", "v"]]),
        );
        assert_eq!(replies.out, b"+OK\r\n");
        assert!(replies.close);
        assert!(store.get("k").is_err());
    }

    #[test]
    fn a_run_of_gets_reads_what_the_writes_before_it_left_and_not_those_after() {
        let store = MemoryStorage::default();
        assert_eq!(
            run(
                &store,
                &[
                    &["SET", "a", "1"],
                    &["GET", "a"],
                    &["GET", "missing"],
                    &["get", "a"],
                    &["SET", "a", "2"],
                    &["GET", "a"],
                    &["GET"],
                    &["GET", "a"],
                ]
            ),
            concat!(
                "+OK\r\n$1\r\n1\r\n$-1\r\n$1\r\n1\r\n+OK\r\n$1\r\n2\r\n",
                "-ERR wrong number of arguments for 'get' command\r\n$1\r\n2\r\n"
            )
        );
    }

    /// The GETs and SETs taken without the parser answer as the parser
    /// would have: a key that is not UTF-8, a GET with one argument too
    /// many and a SET with an unknown option get their errors, in their
    /// place in the run, and write nothing.
    #[test]
    fn a_get_or_set_the_fast_path_leaves_to_the_parser_gets_its_error_in_place() {
        let store = MemoryStorage::default();
        let mut bytes = Vec::new();
        for args in [
            &[&b"sEt"[..], b"a", b"1"][..],
            &[b"SET", b"\xff", b"2"],
            &[b"SET", b"a", b"3", b"FROB"],
            &[b"GET", b"a"],
            &[b"gEt", b"\xff\xfe"],
            &[b"GET", b"a", b"b"],
            &[b"GET", b"a"],
        ] {
            kvs_model::resp::encode_command(args, &mut bytes);
        }
        let replies = handle_batch(&store, &NoServer, Session::default(), &bytes);
        assert_eq!(
            String::from_utf8(replies.out).unwrap(),
            concat!(
                "+OK\r\n-ERR invalid key: kvs keys must be UTF-8 text\r\n",
                "-ERR syntax error\r\n$1\r\n1\r\n",
                "-ERR invalid key: kvs keys must be UTF-8 text\r\n",
                "-ERR wrong number of arguments for 'get' command\r\n$1\r\n1\r\n"
            )
        );
    }

    #[test]
    fn a_run_of_sets_answers_each_and_one_refused_costs_only_its_own() {
        let store = MemoryStorage::with_limits(crate::storage::Limits {
            max_value_bytes: 4,
            ..MemoryStorage::default().limits()
        });
        assert_eq!(
            run(
                &store,
                &[
                    &["SET", "a", "1"],
                    &["SET", "a", "2"],
                    &["set", "b", "3"],
                    &["GET", "a"],
                    &["SET", "c", "4"],
                    &["SET", "d", "too long"],
                    &["SET", "e", "5"],
                    &["SET", "a", "6", "NX"],
                    &["MGET", "a", "b", "c", "d", "e"],
                ]
            ),
            concat!(
                "+OK\r\n+OK\r\n+OK\r\n$1\r\n2\r\n+OK\r\n",
                "-ERR too large: kvs takes keys and values up to 4 bytes\r\n+OK\r\n$-1\r\n",
                "*5\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$-1\r\n$1\r\n5\r\n"
            )
        );
        assert_eq!(
            store.get("a").unwrap().content_type,
            "application/octet-stream"
        );
    }

    #[test]
    fn a_malformed_batch_gets_an_error_after_the_commands_before_it() {
        let store = MemoryStorage::default();
        let mut bytes = batch(&[&["SET", "k", "v"]]);
        bytes.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1");
        let replies = handle_batch(&store, &NoServer, Session::default(), &bytes);
        assert_eq!(
            String::from_utf8(replies.out).unwrap(),
            "+OK\r\n-ERR the host sent a malformed batch: the batch ends inside a command\r\n"
        );
        assert!(!replies.close);
    }

    #[test]
    fn keys_and_scan_find_every_matching_key() {
        let store = MemoryStorage::default();
        for i in 0..50 {
            run(
                &store,
                &[
                    &["SET", &format!("user:{i}"), "x"],
                    &["SET", &format!("other:{i}"), "y"],
                ],
            );
        }
        let keys = run(&store, &[&["KEYS", "user:*"]]);
        assert!(keys.starts_with("*50\r\n"), "{keys}");
        assert_eq!(run(&store, &[&["DBSIZE"]]), ":100\r\n");
        assert_eq!(run(&store, &[&["FLUSHDB"], &["DBSIZE"]]), "+OK\r\n:0\r\n");
    }
}
