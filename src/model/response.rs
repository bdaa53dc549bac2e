//! Responses: one reply element each (a hit, a miss, an outcome, a
//! statistic, an error), and the sink the engine emits them into.

use super::ReplyPolicy;
use std::fmt::Display;

/// A value's bytes, as the store lends them: a first piece, and for a value
/// that spans several chunks, the pieces after it. The common value, one
/// piece, is copied without an indirect call.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    len: usize,
    first: &'a [u8],
    rest: Option<&'a dyn Pieces>,
}

/// The pieces of a value after its first.
pub trait Pieces {
    /// Calls `f` with each piece after the first, in order.
    fn for_each_after_first(&self, f: &mut dyn FnMut(&[u8]));
}

impl<'a> Value<'a> {
    /// A value held in one slice.
    pub fn whole(bytes: &'a [u8]) -> Value<'a> {
        Value {
            len: bytes.len(),
            first: bytes,
            rest: None,
        }
    }

    /// A value of `len` bytes: `first`, then what `rest` yields.
    pub fn chained(len: usize, first: &'a [u8], rest: &'a dyn Pieces) -> Value<'a> {
        Value {
            len,
            first,
            rest: (first.len() < len).then_some(rest),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with each piece, in order.
    pub fn for_each_piece(&self, mut f: impl FnMut(&[u8])) {
        f(self.first);
        if let Some(rest) = self.rest {
            rest.for_each_after_first(&mut f);
        }
    }
}

/// A hit: what a read found, lent for the time of one reply.
#[derive(Clone, Copy)]
pub struct Item<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// Its CAS (0 with CAS disabled).
    pub cas: u64,
    /// The value.
    pub value: Value<'a>,
    /// What a leased (meta) read reports besides; `None` for other reads.
    pub meta: Option<ItemMeta>,
}

/// An item's state, as a meta read reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemMeta {
    /// Seconds left to live when `t`'s turn came (see
    /// [`FlagOrder`](super::FlagOrder)); -1: never expires (`t`).
    pub ttl: i64,
    /// Seconds since the last access before this read (`l`).
    pub last_access: u32,
    /// Whether it had been read before this read (`h`).
    pub fetched: bool,
    /// Whether it is stale (`X`).
    pub stale: bool,
    /// The win token (`W`, `Z`).
    pub lease: Lease,
    /// Whether the item was stored by a meta `ms` with a base64 key
    /// (`b`): meta replies then show its key encoded.
    pub binary_key: bool,
    /// Its slab class (`me`'s `cls`).
    pub class: u8,
    /// Its size as memcached counts it, header included (`me`'s `size`).
    pub size: usize,
}

/// An item's win token, from one reader's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// No token is out, and this reader did not win one.
    None,
    /// This reader won it: it should recompute the value (`W`).
    Won,
    /// Another reader won it earlier (`Z`).
    Taken,
}

impl std::fmt::Debug for Item<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("key", &String::from_utf8_lossy(self.key))
            .field("flags", &self.flags)
            .field("cas", &self.cas)
            .field("len", &self.value.len())
            .finish()
    }
}

/// One reply element.
#[derive(Clone, Copy)]
pub enum Response<'a> {
    /// A hit of a read.
    Value(Item<'a>),
    /// A configuration value (`config get`): sent as `CONFIG <key> <flags>
    /// <bytes>` in text, as a hit in binary.
    Config(Item<'a>),
    /// A miss of a read.
    Miss {
        /// The key.
        key: &'a [u8],
    },
    /// End of a read of several keys, or of a statistics listing.
    End,
    /// Stored.
    Stored {
        /// The new item's CAS.
        cas: u64,
        /// The stored value's length (after an append or prepend, the
        /// whole value's).
        len: usize,
    },
    /// The store's condition failed (add of a present key, ...).
    NotStored,
    /// CAS mismatch.
    Exists,
    /// No such item (for anything but a read).
    NotFound,
    /// Deleted.
    Deleted,
    /// Touched.
    Touched,
    /// Done (admin commands, flush_all, verbosity).
    Ok,
    /// Statistics reset.
    Reset,
    /// The result of an increment or decrement.
    Number {
        /// The new value.
        value: u64,
        /// The item's new CAS.
        cas: u64,
        /// Seconds it has left to live; -1: never expires.
        ttl: i64,
        /// The delta created the counter (binary initial value, meta `N`).
        created: bool,
    },
    /// The server's version.
    Version(&'a str),
    /// One statistic.
    Stat(&'a str, &'a dyn Display),
    /// The request failed.
    Error(Error<'a>),
    /// A reply line that belongs to one text admin command only
    /// (`MEMLIMIT_TOO_SMALL ...`, `BUSY ...`, a `stats detail dump` line).
    Line(&'a str),
    /// Lines already in the text protocol's form, each ending `\r\n`,
    /// appended as they are (a batch of `stats cachedump` /
    /// `lru_crawler metadump` lines; keys are bytes, not always UTF-8).
    Raw(&'a [u8]),
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<'a> {
    /// Unknown command.
    UnknownCommand,
    /// The item would be larger than the item size limit.
    TooLarge,
    /// No memory for the item, and nothing could be evicted (or `-M`).
    NoMemory,
    /// An increment or decrement of a value that is not a decimal number.
    NonNumeric,
    /// A data block not followed by its terminator.
    BadDataChunk,
    /// Another client error, described.
    Client(&'a str),
    /// Another server error, described.
    Server(&'a str),
}

impl ReplyPolicy {
    /// Whether a client with this policy is sent `response`.
    pub fn allows(self, response: &Response<'_>) -> bool {
        match self {
            ReplyPolicy::Always => true,
            ReplyPolicy::Never => false,
            // memcached's ma q hides an existing counter's new value, not
            // one that N created.
            ReplyPolicy::Quiet if matches!(response, Response::Number { created: true, .. }) => {
                true
            }
            ReplyPolicy::ErrorsOnly | ReplyPolicy::Quiet => {
                !(is_success(response) || is_read_miss(response))
            }
        }
    }
}

/// A success that carries no value.
fn is_success(response: &Response<'_>) -> bool {
    matches!(
        response,
        Response::Stored { .. }
            | Response::Deleted
            | Response::Touched
            | Response::Ok
            | Response::Number { .. }
    )
}

fn is_read_miss(response: &Response<'_>) -> bool {
    matches!(response, Response::Miss { .. })
}

/// Where the engine sends replies: a codec's encoder.
pub trait Reply {
    /// Emits one reply element.
    fn reply(&mut self, response: Response<'_>);

    /// Whether the sink takes more without passing its bound; a read of
    /// many keys pauses when it does not.
    fn has_room(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_choose_what_the_client_sees() {
        let hit = Response::Value(Item {
            key: b"k",
            flags: 0,
            cas: 1,
            value: Value::whole(b"v"),
            meta: None,
        });
        let miss = Response::Miss { key: b"k" };
        let stored = Response::Stored { cas: 1, len: 1 };
        let not_found = Response::NotFound;
        let exists = Response::Exists;
        let error = Response::Error(Error::TooLarge);
        let seen =
            |p: ReplyPolicy| [hit, miss, stored, not_found, exists, error].map(|r| p.allows(&r));
        assert_eq!(seen(ReplyPolicy::Always), [true; 6]);
        assert_eq!(seen(ReplyPolicy::Never), [false; 6]);
        assert_eq!(
            seen(ReplyPolicy::ErrorsOnly),
            [true, false, false, true, true, true]
        );
        assert_eq!(
            seen(ReplyPolicy::Quiet),
            [true, false, false, true, true, true],
            "meta q hides HD and EN only: md and ma still answer NF"
        );
    }
}
