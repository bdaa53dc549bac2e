//! Requests: one operation with its key, flags, TTL, CAS and data, how to
//! reply (every reply, none, errors only, quiet) and what to send back.

/// Longest key memcached accepts, in every protocol.
pub const KEY_MAX_LENGTH: usize = 250;

/// What a codec needs to know about the server to decode requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A storage request declaring more data than this is answered without
    /// buffering the data (the codec discards it as it arrives).
    pub max_value_len: usize,
}

/// One decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The operation.
    pub command: Command<'a>,
    /// Which replies the client wants to see.
    pub policy: ReplyPolicy,
    /// A token the reply must echo (binary opaque, meta `O`).
    pub opaque: Opaque<'a>,
    /// What a hit returns besides the outcome.
    pub want: Want,
}

impl<'a> Request<'a> {
    /// A request answered in full, with no opaque and nothing extra wanted.
    pub fn new(command: Command<'a>) -> Request<'a> {
        Request {
            command,
            policy: ReplyPolicy::Always,
            opaque: Opaque::None,
            want: Want::NONE,
        }
    }

    /// The same request with another reply policy.
    pub fn with_policy(self, policy: ReplyPolicy) -> Request<'a> {
        Request { policy, ..self }
    }

    /// The same request returning `want` on a hit.
    pub fn with_want(self, want: Want) -> Request<'a> {
        Request { want, ..self }
    }
}

/// Which replies a client wants. Text `noreply`, binary quiet opcodes and
/// meta `q` are each one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyPolicy {
    /// Every reply.
    Always,
    /// No reply at all (text `noreply`).
    Never,
    /// Hits, failures and errors; no success without a value and no read
    /// miss (binary quiet opcodes: GETQ, SETQ, DELETEQ, ...).
    ErrorsOnly,
    /// Meta `q`: memcached hides exactly what [`ReplyPolicy::ErrorsOnly`]
    /// hides: `HD` (a success, and a counter's new value even with `v`)
    /// and `EN` (a read miss). `NF`, `NS`, `EX` and every error are still
    /// sent, by `md` and `ma` too.
    Quiet,
}

/// A token echoed in the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opaque<'a> {
    /// None given.
    None,
    /// The binary header's 32-bit opaque.
    Number(u32),
    /// A meta `O` token (up to 32 bytes).
    Token(&'a [u8]),
}

/// What a read returns for a hit, besides the outcome (a small bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Want(u16);

impl Want {
    /// Nothing but the outcome.
    pub const NONE: Want = Want(0);
    /// The key (text `VALUE` lines, binary GETK, meta `k`).
    pub const KEY: Want = Want(1);
    /// The value (meta `v`).
    pub const VALUE: Want = Want(1 << 1);
    /// The client flags (meta `f`).
    pub const FLAGS: Want = Want(1 << 2);
    /// The CAS (`gets`, meta `c`).
    pub const CAS: Want = Want(1 << 3);
    /// The seconds left to live (meta `t`).
    pub const TTL: Want = Want(1 << 4);
    /// The value's size (meta `s`).
    pub const SIZE: Want = Want(1 << 5);
    /// Seconds since the last access, before this one (meta `l`).
    pub const LAST_ACCESS: Want = Want(1 << 6);
    /// Whether it was read before this request (meta `h`).
    pub const HIT_BEFORE: Want = Want(1 << 7);

    /// Both sets.
    pub const fn with(self, other: Want) -> Want {
        Want(self.0 | other.0)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Want) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The operations, whichever protocol asked for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// Read keys, optionally touching each hit (get, gets, gat, gats;
    /// binary GET/GETK/GAT and quiet forms; meta `mg`).
    Get {
        /// Keys to read.
        keys: Keys<'a>,
        /// New expiry for each hit.
        touch: Option<i64>,
        /// What else the read does (meta `mg` flags).
        read: ReadOptions,
    },
    /// Store a value (set, add, replace, append, prepend, cas).
    Store {
        /// How to store.
        mode: StoreMode,
        /// The key.
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// Expiry as given.
        exptime: i64,
        /// CAS to compare (0: none; `Cas` mode compares always, append
        /// and prepend compare a non-zero one).
        cas: u64,
        /// The value.
        payload: Payload<'a>,
        /// What else the store does (meta `ms` flags).
        write: WriteOptions,
    },
    /// Delete a key, if its CAS matches when one is given.
    Delete {
        /// The key.
        key: &'a [u8],
        /// CAS to compare (0: none).
        cas: u64,
        /// Keep the item instead of removing it (meta `md` flags).
        keep: KeepOptions,
    },
    /// Increment or decrement a decimal value.
    Delta {
        /// The key.
        key: &'a [u8],
        /// Up or down.
        mode: DeltaMode,
        /// By how much.
        delta: u64,
        /// Create a missing item instead of answering not found.
        create: Option<Create>,
        /// CAS to compare (0: none).
        cas: u64,
        /// A new expiry once counted (meta `ma T`).
        exptime: Option<i64>,
        /// The item's CAS afterwards, instead of a new one (meta `E`).
        new_cas: Option<u64>,
        /// Where `T`, `N` and `t` stood on a meta `ma` line.
        order: FlagOrder,
    },
    /// Set a key's expiry (touch).
    Touch {
        /// The key.
        key: &'a [u8],
        /// New expiry.
        exptime: i64,
    },
    /// Invalidate every item, now or after `delay` seconds.
    FlushAll {
        /// Delay (0 = now).
        delay: i64,
    },
    /// The server's version.
    Version,
    /// Set the log verbosity.
    Verbosity {
        /// New level.
        level: u32,
    },
    /// Change the memory limit (text `cache_memlimit`).
    CacheMemlimit {
        /// New limit in megabytes.
        megabytes: u32,
    },
    /// Stop the server (text `shutdown [graceful]`).
    Shutdown {
        /// `shutdown graceful`.
        graceful: bool,
        /// Whether the arguments named a known mode.
        valid: bool,
    },
    /// A statistics listing.
    Stats(StatsGroup<'a>),
    /// Move a slab page between classes (text `slabs reassign`).
    SlabsReassign {
        /// Source class id.
        src: i32,
        /// Destination class id.
        dst: i32,
    },
    /// Set the page mover's mode (text `slabs automove`).
    SlabsAutomove {
        /// The mode.
        mode: u32,
    },
    /// Reload the TLS certificates (text `refresh_certs`).
    RefreshCerts,
    /// Read a configuration key (ElastiCache's `config get <key>`, binary
    /// 0x60): `cluster` is the node list of auto-discovery.
    ConfigGet {
        /// The configuration key.
        key: &'a [u8],
    },
    /// List the items held (text `lru_crawler metadump` / `mgdump`).
    Dump(super::Dump),
    /// Replace a configuration key (ElastiCache's `config set <key>
    /// <flags> <bytes>`, binary 0x64): the node list, when enabled.
    ConfigSet {
        /// The configuration key.
        key: &'a [u8],
        /// Client flags (kept by ElastiCache, ignored here).
        flags: u32,
        /// The value: `<version>\n<nodes>\n` for `cluster`.
        payload: Payload<'a>,
    },
    /// Drop a configuration key (`config delete <key>`, binary 0x66).
    ConfigDelete {
        /// The configuration key.
        key: &'a [u8],
    },
    /// Do nothing but answer: ends a quiet batch (binary NOOP, meta `mn`).
    Noop,
    /// Report one item's metadata without touching it (meta `me`): no LRU
    /// bump, no fetched bit, no win token.
    Inspect {
        /// The key.
        key: &'a [u8],
    },
    /// Turn the connection into a log watcher (`watch`).
    Watch(super::WatchArgs),
    /// Close the connection once earlier replies are written.
    Quit,
}

/// What a read does besides returning hits (the meta `mg` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// Take part in win tokens (every meta read): a stale item, a
    /// vivified one or a recache candidate hands its token to the first
    /// reader (`W`) and tells the others it is taken (`Z`). Text and
    /// binary reads leave tokens alone.
    pub leases: bool,
    /// Leave the item's LRU position, fetched bit and last access alone
    /// (`u`).
    pub no_bump: bool,
    /// On a miss, create an empty item with this expiry and win its token
    /// (`N`).
    pub vivify: Option<i64>,
    /// On a hit with less than this many seconds to live, win the token
    /// (`R`).
    pub recache: Option<i64>,
    /// The CAS of an item `vivify` creates (`E`).
    pub new_cas: Option<u64>,
    /// Where `T`, `N`, `R` and `t` stood on the `mg` line.
    pub order: FlagOrder,
}

/// Where a meta command's expiry flags stood on its line. memcached acts
/// on `T` (a new expiry), `N` (the expiry of an item the command creates)
/// and `R` (the recache test) in the order the flags are given, and `t`
/// reports the expiry as it is when `t`'s turn comes: `mg k t T30` reports
/// the TTL before the touch, `mg k T30 t` after it. Each field is the
/// flag's position on the line; only their order counts, and an absent
/// flag's position is never looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagOrder {
    /// `T`'s position.
    pub touch: u8,
    /// `N`'s position.
    pub vivify: u8,
    /// `R`'s position.
    pub recache: u8,
    /// `t`'s position.
    pub ttl: u8,
}

impl Default for FlagOrder {
    /// `N`, then `T`, then `R`, then `t`: a created item takes `T`'s
    /// expiry when both are given, the recache test and the reported TTL
    /// see the new expiry. (Text and binary requests have no order.)
    fn default() -> FlagOrder {
        FlagOrder {
            vivify: 0,
            touch: 1,
            recache: 2,
            ttl: 3,
        }
    }
}

/// What a store does besides storing (the meta `ms` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// With a CAS compare: a CAS older than the item's stores anyway but
    /// marks the new item stale (`I`).
    pub invalidate: bool,
    /// Append or prepend to a missing item creates it with this expiry
    /// (`N`).
    pub vivify: Option<i64>,
    /// The new item's CAS, instead of a new one (`E`).
    pub new_cas: Option<u64>,
    /// The key was given base64-encoded (`b`): the stored item remembers
    /// it, and meta replies show its key encoded.
    pub binary_key: bool,
    /// A store refused as too large or for want of memory also removes
    /// the key's item, whatever the mode (meta `ms`; text and binary do
    /// so for set only).
    pub remove_on_failure: bool,
}

/// How a delete keeps the item instead of removing it (the meta `md`
/// flags); the default removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeepOptions {
    /// Mark it stale with a new CAS (`I`).
    pub invalidate: bool,
    /// Empty its value (`x`), with client flags `flags`.
    pub empty: bool,
    /// With `invalidate` or `empty`: its new expiry (`T`).
    pub exptime: Option<i64>,
    /// With `empty`: its client flags.
    pub flags: u32,
    /// With `invalidate` or `empty`: its CAS (`E`).
    pub new_cas: Option<u64>,
    /// Compare the delete's CAS even when it is 0 (meta `md C0`, which
    /// memcached compares; elsewhere 0 means no compare).
    pub compare_zero: bool,
    /// Count as memcached counts an `md`: a CAS mismatch is a delete miss,
    /// and an invalidation neither a hit nor a miss (a text or binary
    /// delete counts neither for a mismatch).
    pub meta_counts: bool,
}

/// How a store treats an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// Store unconditionally.
    Set,
    /// Store only if absent.
    Add,
    /// Store only if present.
    Replace,
    /// Add the data after the existing value.
    Append,
    /// Add the data before the existing value.
    Prepend,
    /// Store only if the CAS matches.
    Cas,
}

/// Increment or decrement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaMode {
    /// Add, wrapping at 2^64.
    Incr,
    /// Subtract, stopping at 0.
    Decr,
}

/// How a delta creates a missing item (binary incr/decr, meta `ma N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Create {
    /// The value it starts at.
    pub initial: u64,
    /// Its expiry.
    pub exptime: i64,
}

/// The data block of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The declared bytes arrived; `terminated` tells whether the protocol's
    /// terminator (text `\r\n`) followed them.
    Data {
        /// The value.
        data: &'a [u8],
        /// Whether the block was properly terminated.
        terminated: bool,
    },
    /// The declared length exceeds the item size limit; the codec discards
    /// the block unread.
    Oversize,
}

/// Which statistics listing was asked for.
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
    /// `stats hotkeys` (ferrocache's own: the hottest keys, `-o hotkeys`)
    HotKeys,
    /// `stats detail <on|off|dump>` (`None` when the argument is missing)
    Detail(Option<&'a [u8]>),
    /// `stats cachedump <class> <limit>`
    CacheDump(super::CacheDumpArgs),
    /// Anything else.
    Unknown(&'a [u8]),
}

/// The keys of a read: a text line's space-separated list, or one key
/// (binary and meta keys may hold any byte, spaces included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys<'a> {
    /// Keys separated by spaces, as given on a text line.
    Spaced(&'a [u8]),
    /// Exactly one key.
    One(&'a [u8]),
}

/// The keys of a [`Keys`], in order.
#[derive(Debug)]
pub enum KeyIter<'a> {
    /// The rest of a space-separated list.
    Spaced(&'a [u8]),
    /// One key (taken once).
    One(Option<&'a [u8]>),
}

impl<'a> Iterator for KeyIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            KeyIter::Spaced(rest) => {
                let start = rest.iter().position(|&b| b != b' ')?;
                let tail = &rest[start..];
                let end = tail.iter().position(|&b| b == b' ').unwrap_or(tail.len());
                let (key, after) = tail.split_at(end);
                *rest = after;
                Some(key)
            }
            KeyIter::One(key) => key.take(),
        }
    }
}

impl<'a> Keys<'a> {
    /// Keys separated by spaces (the text protocol's key list).
    pub fn space_separated(raw: &'a [u8]) -> Keys<'a> {
        Keys::Spaced(raw)
    }

    /// Iterates over the keys in order.
    pub fn iter(&self) -> KeyIter<'a> {
        match *self {
            Keys::Spaced(raw) => KeyIter::Spaced(raw),
            Keys::One(key) => KeyIter::One(Some(key)),
        }
    }

    /// Length of the whole list in bytes: no key in it is longer.
    pub fn byte_len(&self) -> usize {
        match self {
            Keys::Spaced(raw) | Keys::One(raw) => raw.len(),
        }
    }

    /// Byte offset of `key` (a slice yielded by [`Keys::iter`]) in the list.
    pub fn offset_of(&self, key: &[u8]) -> usize {
        match self {
            Keys::Spaced(raw) | Keys::One(raw) => key.as_ptr() as usize - raw.as_ptr() as usize,
        }
    }

    /// The keys from byte `n` of the list on (a paused read resumes there).
    pub fn skip_bytes(&self, n: usize) -> Keys<'a> {
        match *self {
            Keys::Spaced(raw) => Keys::Spaced(&raw[n.min(raw.len())..]),
            Keys::One(key) if n == 0 => Keys::One(key),
            Keys::One(key) => Keys::Spaced(&key[key.len()..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_keys_split_and_resume() {
        let keys = Keys::space_separated(b"a  bb c");
        assert_eq!(keys.iter().collect::<Vec<_>>(), [&b"a"[..], b"bb", b"c"]);
        let bb = keys.iter().nth(1).unwrap();
        assert_eq!(keys.offset_of(bb), 3);
        let rest = keys.skip_bytes(3);
        assert_eq!(rest.iter().collect::<Vec<_>>(), [&b"bb"[..], b"c"]);
    }

    #[test]
    fn one_key_may_hold_spaces() {
        let keys = Keys::One(b"a b");
        assert_eq!(keys.iter().collect::<Vec<_>>(), [&b"a b"[..]]);
        assert_eq!(keys.skip_bytes(3).iter().count(), 0);
    }

    #[test]
    fn want_is_a_set() {
        let w = Want::KEY.with(Want::CAS);
        assert!(w.contains(Want::KEY) && w.contains(Want::CAS));
        assert!(!w.contains(Want::VALUE));
        assert!(w.contains(Want::NONE));
    }
}
