//! The protocol-neutral request and response model: what a client asked
//! for and what the server answers, whichever protocol carried it.
//!
//! The text, binary and meta codecs turn bytes into a [`Request`] and
//! [`Response`]s back into bytes; the engine executes requests against the
//! store. This module imports nothing else in the crate, so every layer
//! above may share it. `docs/protocol-model.md` maps each text command,
//! binary opcode and meta flag onto it.

mod dump;
mod request;
mod response;

pub use dump::{CacheDumpArgs, Dump, DumpFormat, DumpScope, WatchArgs};
pub use request::{
    Command, Create, DeltaMode, FlagOrder, KeepOptions, KeyIter, Keys, Limits, Opaque, Payload,
    ReadOptions, ReplyPolicy, Request, StatsGroup, StoreMode, Want, WriteOptions, KEY_MAX_LENGTH,
};
pub use response::{Error, Item, ItemMeta, Lease, Pieces, Reply, Response, Value};
