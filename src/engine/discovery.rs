//! Auto-discovery: `config get <key>` and the legacy
//! `AmazonElastiCache:cluster` key, answered from the server's node list
//! (`crate::cluster`), and the admin path `config set` / `config delete`.
//! A server started without a node source answers `config` as memcached
//! does (an unknown command) and keeps no legacy key; one started without
//! `-o cluster_admin` answers `config set` and `config delete` so too.

use super::context::Context;
use crate::cluster::{Admin, Refused, Reload, CONFIG_KEY, LEGACY_KEY};
use crate::model::{Error, Item, Payload, Reply, Response, Value};

/// `config get <key>`: `cluster` is the node list; any other key, or no
/// list yet, is a miss (`END` alone in text, KEY_ENOENT in binary).
pub fn config_get(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8]) {
    let Some(cluster) = ctx.cluster else {
        out.reply(Response::Error(Error::UnknownCommand));
        return;
    };
    if let Some(nodes) = cluster.current().filter(|_| key == CONFIG_KEY) {
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
/// CAS 0), a miss while there is no list yet. `false` when `key` is not
/// the legacy key or the server has no node source, and the store is to
/// be asked.
#[inline]
pub fn legacy_get(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8]) -> bool {
    let Some(cluster) = ctx.cluster else {
        return false;
    };
    if key != LEGACY_KEY {
        return false;
    }
    match cluster.current() {
        Some(nodes) => out.reply(Response::Value(Item {
            key,
            flags: 0,
            cas: 0,
            value: Value::whole(nodes.payload()),
            meta: None,
        })),
        None => out.reply(Response::Miss { key }),
    }
    true
}

/// `config set cluster <flags> <bytes>`: the payload (what `config get
/// cluster` answers: `<version>\n<nodes>\n`) becomes the node list;
/// `STORED`. A payload that is not a node list is a client error; another
/// key is `NOT_STORED`. Without `-o cluster_admin`: an unknown command.
pub fn config_set(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8], payload: Payload<'_>) {
    let Some(cluster) = ctx.cluster.filter(|c| c.admin()) else {
        out.reply(Response::Error(Error::UnknownCommand));
        return;
    };
    let data = match payload {
        Payload::Data {
            data,
            terminated: true,
        } => data,
        Payload::Data { .. } => return out.reply(Response::Error(Error::BadDataChunk)),
        Payload::Oversize => return out.reply(Response::Error(Error::TooLarge)),
    };
    if key != CONFIG_KEY {
        return out.reply(Response::NotStored);
    }
    match cluster.admin_set(data) {
        Ok(reload) => {
            log_admin("config set cluster", &reload);
            out.reply(Response::Stored { cas: 0, len: 0 });
        }
        Err(Refused::BadList(why)) => {
            log::warn!("config set cluster refused: {why}");
            out.reply(Response::Error(Error::Client("bad cluster config")));
        }
        Err(Refused::NotKept(_)) => {
            // Logged where the write failed.
            out.reply(Response::Error(Error::Server("cluster config not kept")));
        }
    }
}

/// `config delete cluster`: drops a list `config set` gave, the source's
/// list (or none) being in force again; `DELETED`, or `NOT_FOUND` when no
/// set list is in force or for another key. Without `-o cluster_admin`:
/// an unknown command.
pub fn config_delete(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8]) {
    let Some(cluster) = ctx.cluster.filter(|c| c.admin()) else {
        out.reply(Response::Error(Error::UnknownCommand));
        return;
    };
    if key != CONFIG_KEY {
        return out.reply(Response::NotFound);
    }
    match cluster.admin_delete() {
        Admin::Done(reload) => {
            log_admin("config delete cluster", &reload);
            out.reply(Response::Deleted);
        }
        Admin::NotFound => out.reply(Response::NotFound),
        Admin::NotKept(_) => out.reply(Response::Error(Error::Server("cluster config not kept"))),
    }
}

fn log_admin(what: &str, reload: &Reload) {
    match reload {
        Reload::Changed { from, to, nodes } => {
            log::info!("{what}: {nodes} nodes, config version {from} -> {to}")
        }
        Reload::Unchanged { version, nodes } => {
            log::info!("{what}: the same {nodes} nodes, config version {version} stays")
        }
    }
}
