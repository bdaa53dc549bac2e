//! The crawler: once a tick, walks each class's LRU from the tail and frees
//! expired and flushed items, so their memory is reused before anything
//! live is evicted.

use super::index::Removal;
use super::item;
use super::pages::NIL;
use super::Store;
use std::sync::atomic::Ordering;

/// Items the crawler looks at per class per tick.
const CRAWL_PER_TICK: usize = 20_000;

/// Items the crawler looks at per class lock hold (short holds: workers
/// allocating in the class wait for it).
const CRAWL_BATCH: usize = 50;

impl Store {
    /// The crawler (once a tick): walks each class's LRU from the tail,
    /// freeing expired and flushed items so their memory is reused before
    /// anything live is evicted.
    pub(super) fn crawl(&self) {
        // After a flush_all every class may hold dead items; otherwise only
        // classes holding items with an expiry time need crawling.
        let flushed = self.crawl_after_flush.swap(false, Ordering::AcqRel);
        for id in self.sizes.ids() {
            {
                let mut c = self.class(id);
                if flushed {
                    c.crawl_all = true;
                }
                if c.with_ttl == 0 && !c.crawl_all {
                    continue;
                }
            }
            let mut budget = CRAWL_PER_TICK;
            while budget > 0 {
                let mut c = self.class(id);
                let mut h = if c.crawl == NIL { c.tail } else { c.crawl };
                let mut n = 0;
                while h != NIL && n < CRAWL_BATCH {
                    n += 1;
                    let prev = c.prev_of(&self.pages, h);
                    c.stats.crawler_items_checked += 1;
                    // SAFETY: the class lock is held and `h` is LINKED.
                    let key = unsafe { self.key_of(h) };
                    let hash = self.hash(key);
                    if let Ok(mut stripe) = self.stripe(hash).try_lock() {
                        // SAFETY: the stripe lock is held.
                        let hdr = unsafe { item::read(&self.pages, h) };
                        if self.dead(&hdr).is_some() {
                            self.remove(&mut stripe, &mut c, hash, h, &hdr, Removal::Crawl);
                        }
                    }
                    h = prev;
                }
                c.crawl = h;
                if h == NIL {
                    // A full pass is done: flushed items are all freed.
                    c.crawl_all = false;
                }
                drop(c);
                budget = budget.saturating_sub(n);
                if h == NIL {
                    break;
                }
                std::thread::yield_now();
            }
        }
    }
}
