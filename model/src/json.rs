//! JSON text written straight into a `String`, for the replies that are
//! written for every request (the line protocol's entries, the error
//! envelope): building a `serde_json::Value` first costs a map, its hashing
//! and a second pass per reply. What this writes, serde_json reads back
//! unchanged (the tests check it against serde_json byte for byte).

use std::fmt::Write as _;

/// Appends `n` in decimal, without the formatting machinery.
pub fn push_u64(out: &mut String, n: u64) {
    // Digit by digit: they are ASCII, and a `str` of them would be checked
    // as UTF-8 first, which in the guest costs more than the digits.
    out.extend(
        Decimal::new(n)
            .as_bytes()
            .iter()
            .map(|&digit| char::from(digit)),
    );
}

/// A number's decimal digits, written without the formatting machinery
/// (which costs a dynamic call per piece): this runs for every version in a
/// reply and every length in a RESP frame.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub fn new(n: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = n;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        Self { digits, start }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("decimal digits are ASCII")
    }
}

/// How many bytes `value` takes as a JSON string, quotes excluded: what
/// [`push_string`] writes for it, counted without writing it.
pub fn escaped_len(value: &str) -> usize {
    let bytes = value.as_bytes();
    let mut len = 0;
    let mut at = 0;
    loop {
        let plain = plain_prefix(&bytes[at..]);
        len += plain;
        at += plain;
        let Some(&byte) = bytes.get(at) else {
            return len;
        };
        len += escape(byte).map_or(6, str::len);
        at += 1;
    }
}

/// How a byte that JSON strings cannot hold as it is gets written: `None`
/// for `\u00XX`.
fn escape(byte: u8) -> Option<&'static str> {
    match byte {
        b'"' => Some("\\\""),
        b'\\' => Some("\\\\"),
        b'\n' => Some("\\n"),
        b'\r' => Some("\\r"),
        b'\t' => Some("\\t"),
        _ => None,
    }
}

/// How many bytes at the start of `bytes` need no escaping: a quote, a
/// backslash or a control byte ends the run. Values are mostly plain text,
/// so this looks at eight bytes at a time, as one `u64`: after the bit
/// tricks below, a byte under 0x20, or equal to `"` or `\\`, has its top
/// bit set (bytes of 0x80 and over never do).
fn plain_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const TOPS: u64 = ONES << 7;
    let below = |word: u64, limit: u8| word.wrapping_sub(ONES * u64::from(limit)) & !word;
    let mut at = plain_blocks(bytes);
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let special = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1);
        if special & TOPS != 0 {
            break;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
        .unwrap_or(bytes.len() - at)
}

/// How many bytes at the start of `bytes` are plain, counted sixteen at a
/// time with the guest's 128-bit SIMD: the whole blocks before the first
/// that holds a byte to escape. In the guest, where a `u64` holds only
/// eight, this is where every value and key of a reply is scanned.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn plain_blocks(bytes: &[u8]) -> usize {
    use core::arch::wasm32::{u8x16, u8x16_eq, u8x16_lt, u8x16_splat, v128_any_true, v128_or};
    let mut at = 0;
    while let Some(block) = bytes.get(at..at + 16) {
        let [
            b0,
            b1,
            b2,
            b3,
            b4,
            b5,
            b6,
            b7,
            b8,
            b9,
            b10,
            b11,
            b12,
            b13,
            b14,
            b15,
        ] = *<&[u8; 16]>::try_from(block).expect("sixteen bytes");
        let lanes = u8x16(
            b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15,
        );
        let special = v128_or(
            u8x16_lt(lanes, u8x16_splat(0x20)),
            v128_or(
                u8x16_eq(lanes, u8x16_splat(b'"')),
                u8x16_eq(lanes, u8x16_splat(b'\\')),
            ),
        );
        if v128_any_true(special) {
            break;
        }
        at += 16;
    }
    at
}

/// Without SIMD the eight-byte words of [`plain_prefix`] do all the work.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn plain_blocks(_bytes: &[u8]) -> usize {
    0
}

/// Appends `value` as a JSON string. Runs of bytes that need no escaping
/// (the common case) are copied whole.
pub fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let bytes = value.as_bytes();
    let mut at = 0;
    loop {
        // Escaped bytes are ASCII, so each run ends on a char boundary.
        let plain = plain_prefix(&bytes[at..]);
        out.push_str(&value[at..at + plain]);
        at += plain;
        let Some(&byte) = bytes.get(at) else {
            break;
        };
        match escape(byte) {
            Some(escaped) => out.push_str(escaped),
            None => {
                let _ = write!(out, "\\u{byte:04x}");
            }
        }
        at += 1;
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_as_display_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            12_345,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        // Every ASCII byte at every place of an eight-byte word, between
        // plain bytes and multi-byte characters.
        for byte in 0u8..0x80 {
            for at in 0..17 {
                let mut text = "abcdefghijklmnopq".to_string().into_bytes();
                text[at] = byte;
                let text = String::from_utf8(text).unwrap();
                for value in [text.clone(), format!("é{text}✓"), format!("{text}{text}")] {
                    let mut out = String::new();
                    push_string(&mut out, &value);
                    let expected = serde_json::to_string(&value).unwrap();
                    assert_eq!(
                        serde_json::from_str::<String>(&out).unwrap(),
                        value,
                        "{out} for {expected}"
                    );
                    assert_eq!(out.len(), escaped_len(&value) + 2, "{value:?}");
                }
            }
        }
    }

    #[test]
    fn escaped_len_counts_what_push_string_writes() {
        for value in [
            "",
            "plain",
            "a\"b\\c\nd\re\tf\u{1}g\u{7f}h é ✓ 😀",
            "\u{0}\u{1f}",
        ] {
            let mut out = String::new();
            push_string(&mut out, value);
            assert_eq!(out.len(), escaped_len(value) + 2, "{value:?}");
        }
    }
}
