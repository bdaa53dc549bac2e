//! memcached's log lines, as `watch` streams them: every line is
//! `ts=<seconds>.<microseconds> gid=<n> ` and then the event's fields,
//! ended by `\n`. The microseconds are not zero-padded, as memcached
//! prints them (`%d`); keys are percent-encoded as in `metadump`.

use std::io::Write;

/// What a read found, in memcached's words (`status=` of `item_get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// No item.
    NotFound,
    /// A live item.
    Found,
    /// An item invalidated by `flush_all`.
    Flushed,
    /// An expired item.
    Expired,
}

impl Fetched {
    fn word(self) -> &'static str {
        match self {
            Fetched::NotFound => "not_found",
            Fetched::Found => "found",
            Fetched::Flushed => "flushed",
            Fetched::Expired => "expired",
        }
    }
}

/// One `item_get` line's fields.
#[derive(Debug, Clone, Copy)]
pub struct ItemGet<'a> {
    /// The key read.
    pub key: &'a [u8],
    /// What the read found.
    pub status: Fetched,
    /// The item's slab class (0 without an item).
    pub class: u8,
    /// The client's connection id (`cfd`).
    pub client: u64,
    /// The value's length (0 without an item).
    pub size: usize,
}

/// One `item_store` line's fields.
#[derive(Debug, Clone, Copy)]
pub struct ItemStore<'a> {
    /// The key written.
    pub key: &'a [u8],
    /// memcached's word for the outcome: `stored`, `not_stored`, `exists`,
    /// `not_found`, `too_large` or `no_memory`.
    pub status: &'static str,
    /// The command: `set`, `add`, `replace`, `append`, `prepend` or `cas`.
    pub command: &'static str,
    /// Seconds until the item expires (0: never).
    pub ttl: u32,
    /// The new item's slab class.
    pub class: u8,
    /// The client's connection id (`cfd`).
    pub client: u64,
    /// The value's length after the write.
    pub size: usize,
}

/// One `eviction` line's fields.
#[derive(Debug, Clone, Copy)]
pub struct Eviction<'a> {
    /// The key evicted.
    pub key: &'a [u8],
    /// Whether it was ever read.
    pub fetched: bool,
    /// Seconds it had left to live, -1 for never.
    pub ttl: i64,
    /// Seconds since it was last accessed.
    pub last_access: u32,
    /// Its slab class.
    pub class: u8,
    /// Its value's length.
    pub size: usize,
}

/// `ts=<s>.<us> gid=<gid> `.
pub(super) fn prefix(out: &mut Vec<u8>, seconds: u64, micros: u32, gid: u64) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "ts={seconds}.{micros} gid={gid} ");
}

impl ItemGet<'_> {
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"type=item_get key=");
        uri_encode(out, self.key);
        let _ = writeln!(
            out,
            " status={} clsid={} cfd={} size={}",
            self.status.word(),
            self.class,
            self.client,
            self.size
        );
    }
}

impl ItemStore<'_> {
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"type=item_store key=");
        uri_encode(out, self.key);
        let _ = writeln!(
            out,
            " status={} cmd={} ttl={} clsid={} cfd={} size={}",
            self.status, self.command, self.ttl, self.class, self.client, self.size
        );
    }
}

impl Eviction<'_> {
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"type=eviction key=");
        uri_encode(out, self.key);
        let fetch = if self.fetched { "yes" } else { "no" };
        let _ = writeln!(
            out,
            " fetch={fetch} ttl={} la={} clsid={} size={}",
            self.ttl, self.last_access, self.class, self.size
        );
    }
}

/// Percent-encodes every byte but letters, digits and `-._~`, in upper
/// case, as memcached encodes keys in `watch` and `metadump` lines.
pub fn uri_encode(out: &mut Vec<u8>, key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uri_encoded_as_memcached_does() {
        let mut out = Vec::new();
        uri_encode(&mut out, b"a:b%c d-e.f_g~h\xff");
        assert_eq!(out, b"a%3Ab%25c%20d-e.f_g~h%FF");
    }

    /// The lines memcached 1.6.18 printed for the same events (recorded
    /// with `watch fetchers mutations evictions`).
    #[test]
    fn lines_in_memcached_format() {
        let mut out = Vec::new();
        prefix(&mut out, 1796185747, 20506, 19);
        ItemGet {
            key: b"n",
            status: Fetched::Found,
            class: 1,
            client: 26,
            size: 1,
        }
        .write(&mut out);
        prefix(&mut out, 1796185747, 222277, 25);
        ItemStore {
            key: b"k\x01",
            status: "stored",
            command: "set",
            ttl: 0,
            class: 1,
            client: 26,
            size: 1,
        }
        .write(&mut out);
        prefix(&mut out, 1796185747, 585510, 2023);
        Eviction {
            key: b"key3424",
            fetched: false,
            ttl: -1,
            last_access: 0,
            class: 9,
            size: 500,
        }
        .write(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ts=1796185747.20506 gid=19 type=item_get key=n status=found clsid=1 cfd=26 size=1\n\
             ts=1796185747.222277 gid=25 type=item_store key=k%01 status=stored cmd=set ttl=0 clsid=1 cfd=26 size=1\n\
             ts=1796185747.585510 gid=2023 type=eviction key=key3424 fetch=no ttl=-1 la=0 clsid=9 size=500\n"
        );
    }
}
