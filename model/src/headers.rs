//! HTTP headers packed as they cross the component boundary, both ways:
//! each name and then its value back to back in one buffer, and two lengths
//! per header in another. A request's or response's headers as a list of
//! pairs cost each side an allocation per name and per value (and the host
//! a call into the guest's allocator for each); packed, they cost two
//! buffers.

/// Headers in order, packed (see the module).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers {
    pub bytes: Vec<u8>,
    /// Per header: its name's length, then its value's.
    pub lengths: Vec<u32>,
}

impl Headers {
    /// Room for `count` headers of `bytes` bytes in all, names included, so
    /// a response's few headers are packed without growing the buffers at
    /// each one.
    pub fn with_capacity(bytes: usize, count: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            lengths: Vec::with_capacity(count * 2),
        }
    }

    /// Appends a header. Headers are bounded far below 4 GiB (a value
    /// rarely passes a few hundred bytes).
    pub fn push(&mut self, name: &str, value: &[u8]) {
        self.push_parts(name, &[value]);
    }

    /// Appends a header whose value is `parts` one after another, such as
    /// an ETag's quotes around its digits, with nothing formatted apart.
    pub fn push_parts(&mut self, name: &str, parts: &[&[u8]]) {
        let length = |len: usize| u32::try_from(len).expect("a header under 4 GiB");
        self.bytes.extend_from_slice(name.as_bytes());
        let mut value_len = 0;
        for part in parts {
            self.bytes.extend_from_slice(part);
            value_len += part.len();
        }
        self.lengths.extend([length(name.len()), length(value_len)]);
    }

    /// Each header's name and value, in order. A length past the bytes (a
    /// malformed packing) ends the walk early rather than panic.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest = self.bytes.as_slice();
        self.lengths.chunks_exact(2).map_while(move |lengths| {
            let (name, after) = rest.split_at_checked(lengths[0] as usize)?;
            let (value, after) = after.split_at_checked(lengths[1] as usize)?;
            rest = after;
            Some((name, value))
        })
    }

    /// The first value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }
}

impl<'a> FromIterator<(&'a str, &'a [u8])> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a [u8])>>(headers: I) -> Self {
        let mut packed = Self::default();
        for (name, value) in headers {
            packed.push(name, value);
        }
        packed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_come_back_in_order_and_a_malformed_packing_stops_short() {
        let mut headers = Headers::with_capacity(8, 1);
        headers.push("content-type", b"text/plain");
        headers.push_parts("etag", &[b"\"", b"7", b"\""]);
        headers.push_parts("x-empty", &[]);
        headers.push("etag", b"\"8\"");
        let read: Vec<(&[u8], &[u8])> = headers.iter().collect();
        assert_eq!(
            read,
            [
                (&b"content-type"[..], &b"text/plain"[..]),
                (b"etag", b"\"7\""),
                (b"x-empty", b""),
                (b"etag", b"\"8\"")
            ]
        );
        assert_eq!(headers.get("ETag"), Some(&b"\"7\""[..]));
        assert_eq!(headers.get("x-empty"), Some(&b""[..]));
        assert_eq!(headers.get("location"), None);
        let mut broken = headers.clone();
        broken.lengths[3] = 99;
        assert_eq!(broken.iter().count(), 1);
        let mut broken = headers;
        broken.lengths.pop();
        assert_eq!(broken.iter().count(), 3);
    }
}
