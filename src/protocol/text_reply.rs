//! memcached's classic text protocol: reply encoding.

use super::{Reply, Response};
use std::io::Write;

/// Encodes [`Response`]s as text-protocol lines into a buffer, writing
/// nothing when the request asked for `noreply`.
#[derive(Debug)]
pub struct TextReply<'a> {
    out: &'a mut Vec<u8>,
    noreply: bool,
    limit: usize,
}

impl<'a> TextReply<'a> {
    /// A writer appending to `out`; silent if `noreply`.
    pub fn new(out: &'a mut Vec<u8>, noreply: bool) -> TextReply<'a> {
        TextReply {
            out,
            noreply,
            limit: usize::MAX,
        }
    }

    /// Reports no room once `out` holds `limit` bytes.
    pub fn limit(self, limit: usize) -> TextReply<'a> {
        TextReply { limit, ..self }
    }
}

fn line(out: &mut Vec<u8>, parts: &[&[u8]]) {
    for p in parts {
        out.extend_from_slice(p);
    }
    out.extend_from_slice(b"\r\n");
}

impl Reply for TextReply<'_> {
    fn has_room(&self) -> bool {
        self.out.len() < self.limit
    }

    fn reply(&mut self, response: Response<'_>) {
        if self.noreply {
            return;
        }
        let out = &mut *self.out;
        match response {
            Response::Value {
                key,
                flags,
                data,
                cas,
            } => {
                let mut f = itoa::Buffer::new();
                let mut l = itoa::Buffer::new();
                out.extend_from_slice(b"VALUE ");
                out.extend_from_slice(key);
                out.push(b' ');
                out.extend_from_slice(f.format(flags).as_bytes());
                out.push(b' ');
                out.extend_from_slice(l.format(data.len()).as_bytes());
                if let Some(cas) = cas {
                    out.push(b' ');
                    out.extend_from_slice(itoa::Buffer::new().format(cas).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.reserve(data.len() + 2);
                data.pieces().for_each(|p| out.extend_from_slice(p));
                out.extend_from_slice(b"\r\n");
            }
            Response::Miss { .. } => {}
            Response::End => line(out, &[b"END"]),
            Response::Stored => line(out, &[b"STORED"]),
            Response::NotStored => line(out, &[b"NOT_STORED"]),
            Response::Exists => line(out, &[b"EXISTS"]),
            Response::NotFound => line(out, &[b"NOT_FOUND"]),
            Response::Deleted => line(out, &[b"DELETED"]),
            Response::Touched => line(out, &[b"TOUCHED"]),
            Response::Ok => line(out, &[b"OK"]),
            Response::Reset => line(out, &[b"RESET"]),
            Response::Number(n) => line(out, &[itoa::Buffer::new().format(n).as_bytes()]),
            Response::Version(v) => line(out, &[b"VERSION ", v.as_bytes()]),
            Response::Stat(name, value) => {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "STAT {name} {value}\r\n");
            }
            Response::Error => line(out, &[b"ERROR"]),
            Response::ClientError(m) => line(out, &[b"CLIENT_ERROR ", m.as_bytes()]),
            Response::ServerError(m) => line(out, &[b"SERVER_ERROR ", m.as_bytes()]),
            Response::Line(s) => line(out, &[s.as_bytes()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreConfig, StoreMode};

    fn encode(r: Response<'_>, noreply: bool) -> Vec<u8> {
        let mut out = Vec::new();
        TextReply::new(&mut out, noreply).reply(r);
        out
    }

    fn encode_value(value: &[u8], flags: u32, cas: Option<u64>) -> Vec<u8> {
        let store = Store::new(StoreConfig::default());
        store.store(StoreMode::Set, b"k", flags, 0, value, 0);
        let mut out = Vec::new();
        store.get(b"k", None, |item| {
            TextReply::new(&mut out, false).reply(Response::Value {
                key: item.key,
                flags: item.flags,
                data: item.value,
                cas,
            })
        });
        out
    }

    #[test]
    fn lines_are_memcached_s() {
        assert_eq!(encode_value(b"abc", 5, None), b"VALUE k 5 3\r\nabc\r\n");
        assert_eq!(encode_value(b"", 0, Some(42)), b"VALUE k 0 0 42\r\n\r\n");
        let big = vec![b'x'; 700_000];
        let mut expected = b"VALUE k 0 700000\r\n".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(
            encode_value(&big, 0, None),
            expected,
            "a value spanning chunks"
        );
        assert_eq!(encode(Response::Number(7), false), b"7\r\n");
        assert_eq!(
            encode(Response::Stat("pid", &12), false),
            b"STAT pid 12\r\n"
        );
        assert_eq!(
            encode(Response::ClientError("bad data chunk"), false),
            b"CLIENT_ERROR bad data chunk\r\n"
        );
        assert_eq!(encode(Response::Stored, true), b"");
    }
}
