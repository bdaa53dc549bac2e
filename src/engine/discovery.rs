//! Auto-discovery's reads: `config get <key>` and the legacy
//! `AmazonElastiCache:cluster` key, answered from the server's node list
//! (`crate::cluster`). A server started without a node list answers
//! `config` as memcached does (an unknown command) and keeps no legacy key.

use super::context::Context;
use crate::cluster::{CONFIG_KEY, LEGACY_KEY};
use crate::model::{Error, Item, Reply, Response, Value};

/// `config get <key>`: `cluster` is the node list; any other key is a
/// miss (`END` alone in text, KEY_ENOENT in binary).
pub fn config_get(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8]) {
    let Some(cluster) = ctx.cluster else {
        out.reply(Response::Error(Error::UnknownCommand));
        return;
    };
    if key == CONFIG_KEY {
        let nodes = cluster.current();
        out.reply(Response::Config(Item {
            key,
            flags: 0,
            cas: 0,
            value: Value::whole(nodes.payload()),
            meta: None,
        }));
    } else {
        out.reply(Response::Miss { key });
    }
    out.reply(Response::End);
}

/// A read of the legacy key: the node list as an ordinary hit (flags 0,
/// CAS 0). `false` when `key` is not the legacy key or there is no node
/// list, and the store is to be asked.
#[inline]
pub fn legacy_get(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8]) -> bool {
    let Some(cluster) = ctx.cluster else {
        return false;
    };
    if key != LEGACY_KEY {
        return false;
    }
    let nodes = cluster.current();
    out.reply(Response::Value(Item {
        key,
        flags: 0,
        cas: 0,
        value: Value::whole(nodes.payload()),
        meta: None,
    }));
    true
}
