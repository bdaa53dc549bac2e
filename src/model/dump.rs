//! The dump commands' requests: `stats cachedump <class> <limit>` and
//! `lru_crawler metadump|mgdump <all|hash|classes>`, which list what the
//! cache holds (memcached's debugging aids, turned off by `-X`).

/// `stats cachedump`'s arguments as the codec read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheDumpArgs {
    /// A class id and a limit (0: as many as fit the reply's cap).
    Given {
        /// The slab class.
        class: u32,
        /// How many items at most.
        limit: u32,
    },
    /// Not exactly two arguments.
    Missing,
    /// An argument is not a number.
    BadNumber,
}

/// How a dump prints each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `key=… exp=… la=… cas=… fetch=… cls=… size=…`, ending `END`.
    Meta,
    /// `mg <key>`, ending `EN` (memcached 1.6.19's `mgdump`).
    Mg,
}

/// Which items a dump lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpScope {
    /// Every class (`all`).
    All,
    /// Every item, in index order (`hash`).
    Hash,
    /// The classes whose bits are set (bit N: class N, 1 to 63).
    Classes(u64),
    /// A class id that is not a number from 1 to 63.
    BadClass,
}

/// `lru_crawler metadump|mgdump <scope>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dump {
    /// Line format.
    pub format: DumpFormat,
    /// Which items.
    pub scope: DumpScope,
    /// Index stripes already listed by earlier slices of this dump (a dump
    /// pauses when the reply buffer is full and resumes from here).
    pub resume: usize,
}

/// `watch [<kind> ...]`: the connection stops taking commands and is
/// streamed log lines of the kinds named (fetchers alone when none is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchArgs {
    /// The kinds to stream (memcached's proxy kinds are accepted and
    /// stream nothing, as in a memcached built without its proxy).
    Kinds {
        /// `fetchers`: reads.
        fetchers: bool,
        /// `mutations`: writes.
        mutations: bool,
        /// `evictions`: evictions.
        evictions: bool,
    },
    /// A word memcached does not know either (`ERROR`).
    Unknown,
    /// A kind memcached streams but ferrocache does not (`rawcmds`,
    /// `sysevents`, `connevents`).
    Unsupported,
}
