//! Wire protocols: bytes in, [`Request`]s out; [`Response`]s in, bytes out.
//! Nothing here touches a socket or the store.

pub mod text;
pub mod text_reply;

use crate::store::StoreMode;

/// The keys of a multi-key read, as given on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys<'a>(&'a [u8]);

impl<'a> Keys<'a> {
    /// Keys separated by spaces (the text protocol's key list).
    pub fn space_separated(raw: &'a [u8]) -> Keys<'a> {
        Keys(raw)
    }

    /// Iterates over the keys in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.split(|&b| b == b' ').filter(|k| !k.is_empty())
    }

    /// Length of the whole list in bytes: no key in it is longer.
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }

    /// Byte offset of `key` (a slice yielded by [`Keys::iter`]) in the list.
    pub fn offset_of(&self, key: &[u8]) -> usize {
        key.as_ptr() as usize - self.0.as_ptr() as usize
    }

    /// The keys from byte `n` of the list on.
    pub fn skip_bytes(&self, n: usize) -> Keys<'a> {
        Keys(&self.0[n.min(self.0.len())..])
    }
}

/// Which `stats` group was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsGroup<'a> {
    /// `stats`
    General,
    /// `stats settings`
    Settings,
    /// `stats items`
    Items,
    /// `stats slabs`
    Slabs,
    /// `stats sizes`
    Sizes,
    /// `stats conns`
    Conns,
    /// `stats reset`
    Reset,
    /// `stats detail <on|off|dump>` (`None` when the argument is missing)
    Detail(Option<&'a [u8]>),
    /// Anything else.
    Unknown(&'a [u8]),
}

/// The data block of a storage command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The declared bytes arrived; `terminated` tells whether `\r\n` followed.
    Data {
        /// The value.
        data: &'a [u8],
        /// Whether the block ended in `\r\n`.
        terminated: bool,
    },
    /// The declared length exceeds the item size limit; the block is being
    /// swallowed unread.
    Oversize,
}

/// One parsed request, independent of the protocol it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// get / gets / gat / gats
    Get {
        /// Keys to read.
        keys: Keys<'a>,
        /// Return CAS values.
        cas: bool,
        /// New expiry for each hit (gat/gats).
        touch: Option<i64>,
    },
    /// set / add / replace / append / prepend / cas
    Store {
        /// How to store.
        mode: StoreMode,
        /// The key.
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// Expiry as given.
        exptime: i64,
        /// CAS to compare (cas only).
        cas: u64,
        /// The value.
        payload: Payload<'a>,
        /// Suppress the reply.
        noreply: bool,
    },
    /// delete
    Delete {
        /// The key.
        key: &'a [u8],
        /// Suppress the reply.
        noreply: bool,
    },
    /// incr / decr
    Delta {
        /// The key.
        key: &'a [u8],
        /// Increment or decrement.
        op: crate::store::DeltaOp,
        /// By how much.
        delta: u64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// touch
    Touch {
        /// The key.
        key: &'a [u8],
        /// New expiry.
        exptime: i64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// flush_all
    FlushAll {
        /// Delay (0 = now).
        delay: i64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// version
    Version,
    /// verbosity
    Verbosity {
        /// New level.
        level: u32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// cache_memlimit
    CacheMemlimit {
        /// New limit in megabytes.
        megabytes: u32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// shutdown [graceful]
    Shutdown {
        /// `shutdown graceful`
        graceful: bool,
        /// Whether the arguments were a known mode.
        valid: bool,
    },
    /// stats [group]
    Stats(StatsGroup<'a>),
    /// slabs reassign <src> <dst>
    SlabsReassign {
        /// Source class id.
        src: i32,
        /// Destination class id.
        dst: i32,
    },
    /// slabs automove <0|1|2>
    SlabsAutomove {
        /// The mode.
        mode: u32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// quit
    Quit,
}

impl Request<'_> {
    /// Whether the client asked for no reply.
    pub fn noreply(&self) -> bool {
        match self {
            Request::Store { noreply, .. }
            | Request::Delete { noreply, .. }
            | Request::Delta { noreply, .. }
            | Request::Touch { noreply, .. }
            | Request::FlushAll { noreply, .. }
            | Request::Verbosity { noreply, .. }
            | Request::CacheMemlimit { noreply, .. }
            | Request::SlabsAutomove { noreply, .. } => *noreply,
            _ => false,
        }
    }
}

/// One reply element, independent of the protocol it goes out in.
#[derive(Clone, Copy)]
pub enum Response<'a> {
    /// A hit of a read.
    Value {
        /// The key.
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// The value.
        data: crate::store::Value<'a>,
        /// CAS when asked for.
        cas: Option<u64>,
    },
    /// A miss of a read (silent in the text protocol).
    Miss {
        /// The key.
        key: &'a [u8],
    },
    /// End of a read or of a stats listing.
    End,
    /// STORED
    Stored,
    /// NOT_STORED
    NotStored,
    /// EXISTS
    Exists,
    /// NOT_FOUND
    NotFound,
    /// DELETED
    Deleted,
    /// TOUCHED
    Touched,
    /// OK
    Ok,
    /// RESET
    Reset,
    /// The result of incr/decr.
    Number(u64),
    /// VERSION x
    Version(&'a str),
    /// One statistic.
    Stat(&'a str, &'a dyn std::fmt::Display),
    /// ERROR (unknown command)
    Error,
    /// CLIENT_ERROR <message>
    ClientError(&'a str),
    /// SERVER_ERROR <message>
    ServerError(&'a str),
    /// A reply line that belongs to one text command only (`MEMLIMIT_TOO_SMALL ...`).
    Line(&'a str),
}

/// Where replies go.
pub trait Reply {
    /// Emits one reply element.
    fn reply(&mut self, response: Response<'_>);

    /// Whether the sink takes more without passing its bound; a multi-get
    /// pauses when it does not.
    fn has_room(&self) -> bool {
        true
    }
}
