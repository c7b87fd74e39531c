//! RESP2 requests out of a byte stream: arrays of bulk strings
//! (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`), and, where allowed, inline commands
//! (`GET k\r\n`, as typed into telnet); and the batch the host hands the
//! guest, which is such arrays back to back.
//!
//! The parser looks at the buffer's start and says how many bytes a whole
//! command takes, or that more bytes are needed, or that the bytes cannot be
//! RESP. It skips over bulk payloads by their length, so a large value that
//! arrives in pieces is not scanned again on every piece. Limits are checked
//! on the headers, before any payload is buffered. The host frames what
//! clients send with it; the guest splits its batch with it ([`commands`]).
//! A batch crosses into the guest as one byte list because each list
//! crossing the component boundary costs a call into the guest's allocator:
//! a list of arguments per command cost three or more per `GET`.

use std::borrow::Cow;

/// How large a request may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest bulk string (the store's value limit).
    pub max_bulk: usize,
    /// The most elements in one command's array.
    pub max_elements: usize,
    /// The most bytes one command may take, framing included.
    pub max_command: usize,
    /// The longest inline command line.
    pub max_inline: usize,
}

impl Limits {
    /// No limits: for a batch the host has already framed within its own.
    pub const NONE: Self = Self {
        max_bulk: usize::MAX,
        max_elements: usize::MAX,
        max_command: usize::MAX,
        max_inline: usize::MAX,
    };
}

/// What the start of the buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole command (its arguments, the name first), and the bytes it
    /// took. Its argument list may be empty (`*0`, a blank inline line),
    /// which runs nothing. An array's arguments are borrowed from the
    /// buffer; an inline command's are unquoted copies.
    Command(Vec<Cow<'a, [u8]>>, usize),
    /// The command is not complete yet.
    Incomplete,
    /// Not RESP, or over a limit: the reason, as the error reply's text
    /// after `ERR Protocol error: `. The stream cannot be followed further.
    Invalid(String),
}

/// Parses the first command in `buffer`, collecting an array's arguments:
/// the reading the tests check framing against. Neither side runs it (the
/// host frames with [`frame`], the guest splits its batch with
/// [`commands`]), so it is built for the tests only.
#[cfg(test)]
fn parse<'a>(buffer: &'a [u8], limits: &Limits, inline: bool) -> Parsed<'a> {
    match buffer.first() {
        None => Parsed::Incomplete,
        Some(b'*') => {
            let mut args = Vec::new();
            match walk_array(buffer, limits, |arg| args.push(Cow::Borrowed(arg))) {
                Walked::Whole { length, .. } => Parsed::Command(args, length),
                Walked::Incomplete => Parsed::Incomplete,
                Walked::Invalid(reason) => Parsed::Invalid(reason),
            }
        }
        Some(_) if inline => parse_inline(buffer, limits),
        Some(&byte) => Parsed::Invalid(not_an_array(byte)),
    }
}

/// Where the first command in `buffer` ends, as [`parse`] finds it but
/// without collecting an array's arguments: for the host, which passes
/// arrays on as they came.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A whole array of `args` bulk strings (0 runs nothing), `length`
    /// bytes long.
    Array {
        args: usize,
        length: usize,
    },
    /// A whole inline command: its arguments, and the bytes it took.
    Inline(Vec<Vec<u8>>, usize),
    Incomplete,
    Invalid(String),
}

/// Frames the first command in `buffer`; see [`Framed`].
pub fn frame(buffer: &[u8], limits: &Limits, inline: bool) -> Framed {
    match buffer.first() {
        None => Framed::Incomplete,
        Some(b'*') => match walk_array(buffer, limits, |_| {}) {
            Walked::Whole { args, length } => Framed::Array { args, length },
            Walked::Incomplete => Framed::Incomplete,
            Walked::Invalid(reason) => Framed::Invalid(reason),
        },
        Some(_) if inline => match parse_inline(buffer, limits) {
            Parsed::Command(args, length) => {
                Framed::Inline(args.into_iter().map(Cow::into_owned).collect(), length)
            }
            Parsed::Incomplete => Framed::Incomplete,
            Parsed::Invalid(reason) => Framed::Invalid(reason),
        },
        Some(&byte) => Framed::Invalid(not_an_array(byte)),
    }
}

fn not_an_array(byte: u8) -> String {
    format!("expected '*', got '{}'", char::from(byte).escape_default())
}

/// What [`walk_array`] found.
enum Walked {
    Whole { args: usize, length: usize },
    Incomplete,
    Invalid(String),
}

/// The line at `at`, up to `\r\n`: its text and where the next one starts.
/// `Err(())` when the line would run past [`MAX_HEADER`] bytes.
fn line(buffer: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ()> {
    let max = MAX_HEADER;
    let window = &buffer[at.min(buffer.len())..buffer.len().min(at + max + 2)];
    let mut from = 0;
    // Each `\r` that is not followed by `\n` is part of the line.
    while let Some(cr) = window[from..].iter().position(|&byte| byte == b'\r') {
        let end = from + cr;
        match window.get(end + 1) {
            Some(b'\n') => return Ok(Some((&window[..end], at + end + 2))),
            Some(_) => from = end + 1,
            None => break,
        }
    }
    if window.len() >= max + 2 {
        Err(())
    } else {
        Ok(None)
    }
}

/// A length header's number: digits, maybe a leading `-` or `+` (as
/// `str::parse` reads one, without checking UTF-8 first: this runs twice
/// per argument of every command). Up to 18 digits cannot overflow, so they
/// are summed without the checks (which on wasm32 cost a 128-bit multiply
/// per digit); longer ones go to `str::parse`.
fn number(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 18 {
        return std::str::from_utf8(text).ok()?.parse().ok();
    }
    let value = digits
        .iter()
        .fold(0i64, |value, &digit| value * 10 + i64::from(digit - b'0'));
    Some(if negative { -value } else { value })
}

/// The longest length header line, as Redis bounds it.
const MAX_HEADER: usize = 32;

/// The length header at `at` (after its `*` or `$`): its number (`None` if
/// the line is not one) and where the next line starts; `Ok(None)` while
/// the line is incomplete, `Err(())` past [`MAX_HEADER`]. Plain digits and
/// a CRLF, which is what clients send, are read in one pass; anything else
/// goes by [`line`] and [`number`].
fn header(buffer: &[u8], at: usize) -> Result<Option<(Option<i64>, usize)>, ()> {
    let rest = buffer.get(at..).unwrap_or_default();
    let digits = rest
        .iter()
        .take(19)
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if (1..=18).contains(&digits) && rest.get(digits..digits + 2) == Some(b"\r\n") {
        let value = rest[..digits]
            .iter()
            .fold(0i64, |value, &digit| value * 10 + i64::from(digit - b'0'));
        return Ok(Some((Some(value), at + digits + 2)));
    }
    Ok(line(buffer, at)?.map(|(text, next)| (number(text), next)))
}

/// Walks the array at the start of `buffer`, handing `each` its bulk
/// strings in order; where it ends, that more is needed, or why it is not
/// RESP.
fn walk_array<'a>(buffer: &'a [u8], limits: &Limits, mut each: impl FnMut(&'a [u8])) -> Walked {
    let (count, mut at) = match header(buffer, 1) {
        Ok(Some((Some(count), next))) => (count, next),
        Ok(None) => return Walked::Incomplete,
        Ok(Some((None, _))) | Err(()) => {
            return Walked::Invalid("invalid multibulk length".into());
        }
    };
    if count <= 0 {
        return Walked::Whole {
            args: 0,
            length: at,
        };
    }
    if count as u64 > limits.max_elements as u64 {
        return Walked::Invalid("invalid multibulk length".into());
    }
    for _ in 0..count {
        match buffer.get(at) {
            None => return Walked::Incomplete,
            Some(b'$') => {}
            Some(&byte) => {
                return Walked::Invalid(format!(
                    "expected '$', got '{}'",
                    char::from(byte).escape_default()
                ));
            }
        }
        let (length, start) = match header(buffer, at + 1) {
            Ok(Some((Some(length), start)))
                if length >= 0 && length as u64 <= limits.max_bulk as u64 =>
            {
                (length as usize, start)
            }
            Ok(None) => return Walked::Incomplete,
            _ => return Walked::Invalid("invalid bulk length".into()),
        };
        let end = start.saturating_add(length);
        if end.saturating_add(2) > limits.max_command {
            return Walked::Invalid("command too large".into());
        }
        if buffer.len() < end + 2 {
            return Walked::Incomplete;
        }
        if &buffer[end..end + 2] != b"\r\n" {
            return Walked::Invalid("bulk string not followed by CRLF".into());
        }
        each(&buffer[start..end]);
        at = end + 2;
    }
    Walked::Whole {
        args: count as usize,
        length: at,
    }
}

fn parse_inline<'a>(buffer: &'a [u8], limits: &Limits) -> Parsed<'a> {
    let window = &buffer[..buffer.len().min(limits.max_inline.saturating_add(1))];
    let Some(end) = window.iter().position(|&b| b == b'\n') else {
        if window.len() > limits.max_inline {
            return Parsed::Invalid("too big inline request".into());
        }
        return Parsed::Incomplete;
    };
    let text = buffer[..end].strip_suffix(b"\r").unwrap_or(&buffer[..end]);
    match split_args(text) {
        Some(args) => Parsed::Command(args.into_iter().map(Cow::Owned).collect(), end + 1),
        None => Parsed::Invalid("unbalanced quotes in request".into()),
    }
}

/// Appends `args` to `batch` as one RESP array of bulk strings: how the host
/// writes an inline command into the batch it hands the guest.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], batch: &mut Vec<u8>) {
    batch.push(b'*');
    push_decimal(batch, args.len());
    batch.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        batch.push(b'$');
        push_decimal(batch, arg.len());
        batch.extend_from_slice(b"\r\n");
        batch.extend_from_slice(arg);
        batch.extend_from_slice(b"\r\n");
    }
}

/// Appends `n` in decimal (this runs for every argument of every command a
/// client sends).
pub fn push_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(crate::json::Decimal::new(n as u64).as_bytes());
}

/// The commands of a batch (arrays of bulk strings back to back), each as
/// its arguments borrowed from it; an `Err` with the reason, and nothing
/// after it, where the batch is not such arrays (a host's bug).
pub fn commands(batch: &[u8]) -> impl Iterator<Item = Result<Vec<&[u8]>, String>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = batch.get(at..).filter(|rest| !rest.is_empty())?;
        if rest[0] != b'*' {
            at = batch.len();
            return Some(Err(not_an_array(rest[0])));
        }
        let mut args = Vec::new();
        match walk_array(rest, &Limits::NONE, |arg| args.push(arg)) {
            Walked::Whole { length, .. } => {
                at += length;
                Some(Ok(args))
            }
            Walked::Incomplete => {
                at = batch.len();
                Some(Err("the batch ends inside a command".into()))
            }
            Walked::Invalid(reason) => {
                at = batch.len();
                Some(Err(reason))
            }
        }
    })
}

/// Splits an inline command as Redis does: on spaces, with `"..."` (and
/// its `\n`, `\r`, `\t`, `\"`, `\\`, `\xHH` escapes) and `'...'` quoting.
/// `None` for unbalanced quotes, or a closing quote not followed by a space.
fn split_args(text: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < text.len() && text[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == text.len() {
            return Some(args);
        }
        let mut arg = Vec::new();
        match text[i] {
            b'"' => {
                i += 1;
                loop {
                    match text.get(i)? {
                        b'\\'
                            if i + 3 < text.len()
                                && text[i + 1] == b'x'
                                && text[i + 2].is_ascii_hexdigit()
                                && text[i + 3].is_ascii_hexdigit() =>
                        {
                            let hex = std::str::from_utf8(&text[i + 2..i + 4]).ok()?;
                            arg.push(u8::from_str_radix(hex, 16).ok()?);
                            i += 4;
                        }
                        b'\\' if i + 1 < text.len() => {
                            arg.push(match text[i + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 0x08,
                                b'a' => 0x07,
                                other => other,
                            });
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        &byte => {
                            arg.push(byte);
                            i += 1;
                        }
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    match text.get(i)? {
                        b'\\' if text.get(i + 1) == Some(&b'\'') => {
                            arg.push(b'\'');
                            i += 2;
                        }
                        b'\'' => {
                            i += 1;
                            break;
                        }
                        &byte => {
                            arg.push(byte);
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                while i < text.len() && !text[i].is_ascii_whitespace() {
                    arg.push(text[i]);
                    i += 1;
                }
            }
        }
        // A closing quote must end the argument.
        if text.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
            return None;
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_as_a_line_and_its_number() {
        let slow = |buffer: &[u8]| {
            line(buffer, 1).map(|found| found.map(|(text, next)| (number(text), next)))
        };
        for buffer in [
            "$3\r\nabc",
            "$0\r\n",
            "$3\r",
            "$3",
            "$",
            "$-1\r\n",
            "$+2\r\n",
            "$12x\r\n",
            "$1\r2\r\n",
            "$123456789012345678\r\n",
            "$1234567890123456789\r\n",
            "$99999999999999999999\r\n",
            "$00000000000000000000000000000001\r\n",
            "$000000000000000000000000000000001\r\n",
            "$1\n",
            "$\r\n",
        ] {
            assert_eq!(
                header(buffer.as_bytes(), 1),
                slow(buffer.as_bytes()),
                "{buffer:?}"
            );
        }
    }

    #[test]
    fn decimals_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 12345, usize::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn numbers_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "-0",
            "+7",
            "-1",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "00000000000000000000042",
            "",
            "-",
            "+",
            "1a",
            " 1",
            "1 ",
            "--1",
            "+-1",
            "١",
        ] {
            assert_eq!(
                number(text.as_bytes()),
                text.parse::<i64>().ok(),
                "{text:?}"
            );
        }
    }

    const LIMITS: Limits = Limits {
        max_bulk: 16,
        max_elements: 8,
        max_command: 64,
        max_inline: 32,
    };

    fn args(words: &[&str]) -> Vec<Cow<'static, [u8]>> {
        words
            .iter()
            .map(|w| Cow::Owned(w.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn arrays_of_bulk_strings_parse_whole_or_wait_for_more() {
        let frame = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1";
        assert_eq!(
            parse(frame, &LIMITS, false),
            Parsed::Command(args(&["GET", "k"]), 20)
        );
        for cut in 1..20 {
            assert_eq!(
                parse(&frame[..cut], &LIMITS, false),
                Parsed::Incomplete,
                "{cut}"
            );
        }
        assert_eq!(parse(b"*0\r\n", &LIMITS, false), Parsed::Command(vec![], 4));
        assert_eq!(
            parse(b"*1\r\n$0\r\n\r\n", &LIMITS, false),
            Parsed::Command(vec![Cow::Borrowed(&b""[..])], 10)
        );
    }

    #[test]
    fn malformed_or_oversized_frames_are_refused() {
        let invalid = |bytes: &[u8]| match parse(bytes, &LIMITS, false) {
            Parsed::Invalid(reason) => reason,
            other => panic!("{other:?} for {bytes:?}"),
        };
        assert_eq!(invalid(b"*x\r\n"), "invalid multibulk length");
        assert_eq!(invalid(b"*9\r\n"), "invalid multibulk length");
        assert_eq!(invalid(b"*1\r\n$-1\r\n"), "invalid bulk length");
        assert_eq!(invalid(b"*1\r\n$17\r\n"), "invalid bulk length");
        assert_eq!(invalid(b"*1\r\n+OK\r\n"), "expected '$', got '+'");
        assert_eq!(
            invalid(b"*1\r\n$1\r\nab\r\n"),
            "bulk string not followed by CRLF"
        );
        assert_eq!(
            invalid(b"*1\r\n$99999999999999999999999\r\n"),
            "invalid bulk length"
        );
        assert_eq!(invalid(b"GET k\r\n"), "expected '*', got 'G'");
        assert_eq!(invalid(&[b'*'; 40]), "invalid multibulk length");
    }

    #[test]
    fn inline_commands_split_like_redis() {
        let parsed = parse(b"SET k \"a b\\x41\\n\" 'c d'\r\nrest", &LIMITS, true);
        assert_eq!(
            parsed,
            Parsed::Command(args(&["SET", "k", "a bA\n", "c d"]), 25)
        );
        assert_eq!(
            parse(b"PING\n", &LIMITS, true),
            Parsed::Command(args(&["PING"]), 5)
        );
        assert_eq!(parse(b"\r\n", &LIMITS, true), Parsed::Command(vec![], 2));
        assert_eq!(
            parse(b"GET \"k\r\n", &LIMITS, true),
            Parsed::Invalid("unbalanced quotes in request".into())
        );
        assert_eq!(parse(b"PING", &LIMITS, true), Parsed::Incomplete);
        assert_eq!(
            parse(&[b'a'; 40], &LIMITS, true),
            Parsed::Invalid("too big inline request".into())
        );
    }

    #[test]
    fn a_batch_is_arrays_back_to_back_and_splits_back_into_its_commands() {
        let mut batch = Vec::new();
        encode_command(&["SET", "k", "a\r\nb"], &mut batch);
        encode_command(&[b"GET".as_slice(), b"k"], &mut batch);
        encode_command::<&str>(&[], &mut batch);
        let split: Vec<_> = commands(&batch).collect();
        assert_eq!(
            split,
            vec![
                Ok(vec![&b"SET"[..], b"k", b"a\r\nb"]),
                Ok(vec![&b"GET"[..], b"k"]),
                Ok(vec![]),
            ]
        );
        let cut = &batch[..batch.len() - 6];
        assert_eq!(
            commands(cut).last(),
            Some(Err("the batch ends inside a command".to_string()))
        );
        assert_eq!(
            commands(b"+OK\r\n").collect::<Vec<_>>(),
            vec![Err("expected '*', got '+'".to_string())]
        );
    }

    #[test]
    fn framing_finds_the_same_ends_without_collecting_arguments() {
        let frame_of = |bytes: &[u8], inline| frame(bytes, &LIMITS, inline);
        assert_eq!(
            frame_of(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1", false),
            Framed::Array {
                args: 2,
                length: 20
            }
        );
        assert_eq!(
            frame_of(b"*0\r\n", false),
            Framed::Array { args: 0, length: 4 }
        );
        assert_eq!(frame_of(b"*2\r\n$3\r\nGET\r\n", false), Framed::Incomplete);
        assert_eq!(
            frame_of(b"GET 'a b'\r\n", true),
            Framed::Inline(vec![b"GET".to_vec(), b"a b".to_vec()], 11)
        );
        assert_eq!(
            frame_of(b"*1\r\n$-1\r\n", false),
            Framed::Invalid("invalid bulk length".into())
        );
        assert_eq!(
            frame_of(b"GET k\r\n", false),
            Framed::Invalid("expected '*', got 'G'".into())
        );
    }

    #[test]
    fn length_numbers_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "7",
            "-1",
            "+5",
            "007",
            "-",
            "+",
            "",
            "1a",
            " 1",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
        ] {
            assert_eq!(
                number(text.as_bytes()),
                text.parse::<i64>().ok(),
                "{text:?}"
            );
        }
    }
}
