//! Reading the dump commands' arguments: `stats cachedump <class> <limit>`
//! and `lru_crawler metadump|mgdump <all|hash|id[,id…]>`, as memcached
//! reads them (numbers with C's `strtoul` rules; class ids 1 to 63);
//! and `watch`'s kinds.

use crate::cnum::c_strtoul32;
use crate::model::{CacheDumpArgs, Dump, DumpFormat, DumpScope, WatchArgs};

/// `stats cachedump`'s two arguments (`None`: not given).
pub(super) fn cache_dump(class: Option<&[u8]>, limit: Option<&[u8]>) -> CacheDumpArgs {
    let (Some(class), Some(limit)) = (class, limit) else {
        return CacheDumpArgs::Missing;
    };
    match (c_strtoul32(class), c_strtoul32(limit)) {
        (Some(class), Some(limit)) => CacheDumpArgs::Given { class, limit },
        _ => CacheDumpArgs::BadNumber,
    }
}

/// `watch`'s kinds, as memcached 1.6 names them; none means fetchers.
pub(super) fn watch(words: &[&[u8]]) -> WatchArgs {
    let (mut fetchers, mut mutations, mut evictions) = (words.is_empty(), false, false);
    for word in words {
        match *word {
            b"fetchers" => fetchers = true,
            b"mutations" => mutations = true,
            b"evictions" => evictions = true,
            b"proxyreqs" | b"proxyevents" | b"proxyuser" => {}
            b"rawcmds" | b"sysevents" | b"connevents" => return WatchArgs::Unsupported,
            _ => return WatchArgs::Unknown,
        }
    }
    WatchArgs::Kinds {
        fetchers,
        mutations,
        evictions,
    }
}

/// `lru_crawler <mode> <scope>` when `mode` is `metadump` or `mgdump`.
pub(super) fn lru_dump(mode: &[u8], scope: &[u8]) -> Option<Dump> {
    let format = match mode {
        b"metadump" => DumpFormat::Meta,
        b"mgdump" => DumpFormat::Mg,
        _ => return None,
    };
    Some(Dump {
        format,
        scope: dump_scope(scope),
        resume: 0,
    })
}

fn dump_scope(scope: &[u8]) -> DumpScope {
    match scope {
        b"all" => DumpScope::All,
        b"hash" => DumpScope::Hash,
        list => {
            let mut bits = 0u64;
            for id in list.split(|&b| b == b',') {
                match c_strtoul32(id) {
                    Some(id @ 1..=63) => bits |= 1 << id,
                    _ => return DumpScope::BadClass,
                }
            }
            DumpScope::Classes(bits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cachedump_arguments() {
        assert_eq!(
            cache_dump(Some(b"3"), Some(b"10")),
            CacheDumpArgs::Given {
                class: 3,
                limit: 10
            }
        );
        assert_eq!(cache_dump(Some(b"3"), None), CacheDumpArgs::Missing);
        assert_eq!(cache_dump(Some(b"x"), Some(b"1")), CacheDumpArgs::BadNumber);
    }

    #[test]
    fn dump_scopes() {
        let scope = |s: &[u8]| lru_dump(b"metadump", s).unwrap().scope;
        assert_eq!(scope(b"all"), DumpScope::All);
        assert_eq!(scope(b"hash"), DumpScope::Hash);
        assert_eq!(scope(b"1,3"), DumpScope::Classes(0b1010));
        assert_eq!(scope(b"63"), DumpScope::Classes(1 << 63));
        for bad in [&b"0"[..], b"64", b"x", b"1,,2", b""] {
            assert_eq!(scope(bad), DumpScope::BadClass, "{bad:?}");
        }
        assert_eq!(lru_dump(b"mgdump", b"all").unwrap().format, DumpFormat::Mg);
        assert!(lru_dump(b"crawl", b"all").is_none());
    }
}
