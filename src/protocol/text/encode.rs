//! memcached's classic text protocol: reply encoding.

use crate::model::{Error, Reply, ReplyPolicy, Request, Response, Want};
use std::io::Write;

/// Encodes [`Response`]s as text-protocol lines into a buffer, writing
/// nothing the request's reply policy hides (`noreply`).
#[derive(Debug)]
pub struct TextReply<'a> {
    out: &'a mut Vec<u8>,
    policy: ReplyPolicy,
    want: Want,
    limit: usize,
}

impl<'a> TextReply<'a> {
    /// A writer appending the replies to `request` to `out`.
    pub fn new(out: &'a mut Vec<u8>, request: &Request<'_>) -> TextReply<'a> {
        TextReply {
            out,
            policy: request.policy,
            want: request.want,
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
        if !self.policy.allows(&response) {
            return;
        }
        let out = &mut *self.out;
        match response {
            Response::Value(item) => {
                let mut f = itoa::Buffer::new();
                let mut l = itoa::Buffer::new();
                let len = item.value.len();
                out.extend_from_slice(b"VALUE ");
                out.extend_from_slice(item.key);
                out.push(b' ');
                out.extend_from_slice(f.format(item.flags).as_bytes());
                out.push(b' ');
                out.extend_from_slice(l.format(len).as_bytes());
                if self.want.contains(Want::CAS) {
                    out.push(b' ');
                    out.extend_from_slice(itoa::Buffer::new().format(item.cas).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.reserve(len + 2);
                item.value.for_each_piece(|p| out.extend_from_slice(p));
                out.extend_from_slice(b"\r\n");
            }
            Response::Config(item) => {
                // ElastiCache's reply: the item's bytes, then END from the
                // engine; one contiguous append, so one write.
                let _ = write!(out, "CONFIG ");
                out.extend_from_slice(item.key);
                let _ = write!(out, " {} {}\r\n", item.flags, item.value.len());
                item.value.for_each_piece(|p| out.extend_from_slice(p));
                out.extend_from_slice(b"\r\n");
            }
            Response::Miss { .. } => {}
            Response::End => line(out, &[b"END"]),
            Response::Stored { .. } => line(out, &[b"STORED"]),
            Response::NotStored => line(out, &[b"NOT_STORED"]),
            Response::Exists => line(out, &[b"EXISTS"]),
            Response::NotFound => line(out, &[b"NOT_FOUND"]),
            Response::Deleted => line(out, &[b"DELETED"]),
            Response::Touched => line(out, &[b"TOUCHED"]),
            Response::Ok => line(out, &[b"OK"]),
            Response::Reset => line(out, &[b"RESET"]),
            Response::Number { value, .. } => {
                line(out, &[itoa::Buffer::new().format(value).as_bytes()])
            }
            Response::Version(v) => line(out, &[b"VERSION ", v.as_bytes()]),
            Response::Stat(name, value) => {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "STAT {name} {value}\r\n");
            }
            Response::Error(e) => error_line(out, e),
            Response::Line(s) => line(out, &[s.as_bytes()]),
            Response::Raw(lines) => out.extend_from_slice(lines),
        }
    }
}

/// memcached's wording of each error.
fn error_line(out: &mut Vec<u8>, error: Error<'_>) {
    match error {
        Error::UnknownCommand => line(out, &[b"ERROR"]),
        Error::TooLarge => line(out, &[b"SERVER_ERROR object too large for cache"]),
        Error::NoMemory => line(out, &[b"SERVER_ERROR out of memory storing object"]),
        Error::NonNumeric => line(
            out,
            &[b"CLIENT_ERROR cannot increment or decrement non-numeric value"],
        ),
        Error::BadDataChunk => line(out, &[b"CLIENT_ERROR bad data chunk"]),
        Error::Client(m) => line(out, &[b"CLIENT_ERROR ", m.as_bytes()]),
        Error::Server(m) => line(out, &[b"SERVER_ERROR ", m.as_bytes()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Command, Item, ReplyPolicy, Value};

    fn encode_as(r: Response<'_>, request: &Request<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        TextReply::new(&mut out, request).reply(r);
        out
    }

    fn encode(r: Response<'_>, noreply: bool) -> Vec<u8> {
        let policy = if noreply {
            ReplyPolicy::Never
        } else {
            ReplyPolicy::Always
        };
        encode_as(r, &Request::new(Command::Version).with_policy(policy))
    }

    /// The pieces after the first of a value spanning chunks.
    struct After<'a>(&'a [&'a [u8]]);

    impl crate::model::Pieces for After<'_> {
        fn for_each_after_first(&self, f: &mut dyn FnMut(&[u8])) {
            self.0.iter().skip(1).for_each(|p| f(p))
        }
    }

    fn encode_value(pieces: &[&[u8]], flags: u32, cas: Option<u64>) -> Vec<u8> {
        let want = match cas {
            Some(_) => Want::KEY.with(Want::CAS),
            None => Want::KEY,
        };
        let read = Request::new(Command::Version).with_want(want);
        let after = After(pieces);
        let len = pieces.iter().map(|p| p.len()).sum();
        let first = pieces.first().copied().unwrap_or_default();
        let item = Item {
            key: b"k",
            flags,
            cas: cas.unwrap_or(0),
            value: Value::chained(len, first, &after),
            meta: None,
        };
        encode_as(Response::Value(item), &read)
    }

    #[test]
    fn lines_are_memcached_s() {
        assert_eq!(encode_value(&[b"abc"], 5, None), b"VALUE k 5 3\r\nabc\r\n");
        assert_eq!(encode_value(&[], 0, Some(42)), b"VALUE k 0 0 42\r\n\r\n");
        let big = vec![b'x'; 700_000];
        let mut expected = b"VALUE k 0 700000\r\n".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(
            encode_value(&[&big[..524_000], &big[524_000..]], 0, None),
            expected,
            "a value spanning chunks"
        );
        assert_eq!(
            encode(
                Response::Number {
                    value: 7,
                    cas: 1,
                    ttl: -1,
                    created: false,
                },
                false
            ),
            b"7\r\n"
        );
        assert_eq!(
            encode(Response::Stat("pid", &12), false),
            b"STAT pid 12\r\n"
        );
        assert_eq!(
            encode(Response::Error(Error::BadDataChunk), false),
            b"CLIENT_ERROR bad data chunk\r\n"
        );
        assert_eq!(encode(Response::Stored { cas: 1, len: 1 }, true), b"");
    }

    #[test]
    fn config_is_elasticache_s_block() {
        let payload = b"12\nh|10.0.0.1|11211 g||11212\n";
        let item = Item {
            key: b"cluster",
            flags: 0,
            cas: 0,
            value: Value::whole(payload),
            meta: None,
        };
        // 3 + 16 + 1 + 8 + 1 bytes of payload, counted by hand.
        assert_eq!(payload.len(), 29);
        assert_eq!(
            encode(Response::Config(item), false),
            b"CONFIG cluster 0 29\r\n12\nh|10.0.0.1|11211 g||11212\n\r\n"
        );
    }
}
