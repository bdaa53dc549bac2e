//! The item store: a lock-striped index with LRU eviction under a memory
//! limit, TTLs, CAS, and memcached's store/arith/touch/flush semantics.
//!
//! It knows nothing of protocols: callers pass keys and values and get
//! outcome values back; reads hand a borrowed [`ItemRef`] to a closure that
//! runs with the stripe lock held, so a reply can be written without copying
//! the value twice.
//!
//! Lock order: a thread holds at most its own stripe lock, and while holding
//! it may only `try_lock` another stripe (eviction), never block on one.

mod item;
mod stripe;

pub use item::memcached_total;
use item::{Entry, NIL};
use stripe::Stripe;
pub use stripe::StripeStats;

use crate::clock::Clock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Longest key memcached accepts.
pub const KEY_MAX_LENGTH: usize = 250;

/// A read is bumped in the LRU at most this often (memcached's ITEM_UPDATE_INTERVAL).
const ITEM_UPDATE_INTERVAL: u32 = 60;

/// How many LRU-tail items `-M` looks at for an expired one before failing.
const RECLAIM_SEARCH_DEPTH: usize = 5;

/// Other stripes whose LRU tails an eviction compares with its own, to pick
/// the least recently used of them (sampled LRU across stripes).
const EVICTION_SAMPLES: usize = 8;

/// How to store.
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

/// What a store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored.
    Stored,
    /// The mode's condition failed (add on a present key, replace on a missing one...).
    NotStored,
    /// CAS mismatch.
    Exists,
    /// CAS on a missing key.
    NotFound,
    /// Larger than `-I`.
    TooLarge,
    /// No room and evictions are disabled (or nothing could be evicted).
    NoMemory,
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A live item.
    Hit,
    /// Nothing.
    Miss,
    /// An item that had expired (now reclaimed).
    Expired,
    /// An item invalidated by flush_all (now reclaimed).
    Flushed,
}

/// Result of incr/decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// The new value.
    Value(u64),
    /// No such item.
    NotFound,
    /// The stored value is not an unsigned decimal.
    NonNumeric,
    /// No memory for the longer value.
    NoMemory,
}

/// Increment or decrement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOp {
    /// Add, wrapping at 2^64.
    Incr,
    /// Subtract, stopping at 0.
    Decr,
}

/// A borrowed view of a live item.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// CAS (0 when CAS is disabled).
    pub cas: u64,
}

/// Store configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Memory limit in bytes.
    pub max_bytes: usize,
    /// Largest item (memcached-style total size).
    pub item_size_max: usize,
    /// Whether CAS values are kept and reported.
    pub use_cas: bool,
    /// Whether a full store evicts (`false` = `-M`).
    pub evictions: bool,
    /// Worker threads, to size the stripe count.
    pub threads: usize,
}

/// Totals over all stripes.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreStats {
    /// Summed stripe counters.
    pub items: StripeStats,
    /// Bytes charged against the limit.
    pub used: u64,
    /// Current limit.
    pub limit: u64,
    /// Stores refused for lack of memory.
    pub out_of_memory: u64,
    /// Bytes held by the index (tables and entry slots).
    pub index_bytes: u64,
    /// Seconds since the least recently used item was last bumped.
    pub oldest_age: u32,
}

/// The store.
pub struct Store {
    stripes: Box<[Mutex<Stripe>]>,
    stripe_shift: u32,
    hasher: ahash::RandomState,
    limit: AtomicUsize,
    used: AtomicUsize,
    next_cas: AtomicU64,
    /// Recency sequence handed to items on store and LRU bump.
    lru_seq: AtomicU64,
    /// Items with a CAS below this were flushed.
    oldest_live_cas: AtomicU64,
    /// Relative time a delayed flush_all takes effect (0 = none pending).
    pending_flush: AtomicU32,
    evict_cursor: AtomicUsize,
    out_of_memory: AtomicU64,
    evictions: AtomicBool,
    item_size_max: usize,
    use_cas: bool,
    clock: Clock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("stripes", &self.stripes.len())
            .field("used", &self.used)
            .field("limit", &self.limit)
            .finish()
    }
}

/// Why an entry is not live.
enum Dead {
    Expired,
    Flushed,
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Store {
        let count = (config.threads.max(1) * 256)
            .next_power_of_two()
            .clamp(256, 16384);
        Store {
            stripes: (0..count).map(|_| Mutex::new(Stripe::default())).collect(),
            stripe_shift: 64 - count.trailing_zeros(),
            hasher: ahash::RandomState::new(),
            limit: AtomicUsize::new(config.max_bytes),
            used: AtomicUsize::new(0),
            next_cas: AtomicU64::new(1),
            lru_seq: AtomicU64::new(0),
            oldest_live_cas: AtomicU64::new(0),
            pending_flush: AtomicU32::new(0),
            evict_cursor: AtomicUsize::new(0),
            out_of_memory: AtomicU64::new(0),
            evictions: AtomicBool::new(config.evictions),
            item_size_max: config.item_size_max,
            use_cas: config.use_cas,
            clock: Clock::new(),
        }
    }

    /// The store's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Advances the clock and applies a delayed flush_all whose time has come.
    /// Called once a second by the timer thread.
    pub fn tick(&self) {
        self.clock.tick();
        let pending = self.pending_flush.load(Ordering::Acquire);
        if pending != 0
            && pending <= self.clock.now()
            && self
                .pending_flush
                .compare_exchange(pending, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.flush_now();
        }
    }

    /// Whether an item of this shape fits under `-I`.
    pub fn item_fits(&self, klen: usize, vlen: usize, flags: u32) -> bool {
        memcached_total(klen, vlen, flags, self.use_cas) <= self.item_size_max
    }

    /// Number of lock stripes.
    pub fn stripe_count(&self) -> usize {
        self.stripes.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn stripe(&self, hash: u64) -> MutexGuard<'_, Stripe> {
        let i = (hash >> self.stripe_shift) as usize;
        self.stripes[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn visible_cas(&self, cas: u64) -> u64 {
        if self.use_cas {
            cas
        } else {
            0
        }
    }

    fn new_cas(&self) -> u64 {
        self.next_cas.fetch_add(1, Ordering::Relaxed)
    }

    fn bytes_of(&self, e: &Entry) -> u64 {
        memcached_total(e.klen as usize, e.value().len(), e.flags, self.use_cas) as u64
    }

    fn dead(&self, e: &Entry) -> Option<Dead> {
        if self.clock.is_expired(e.exptime) {
            Some(Dead::Expired)
        } else if e.cas < self.oldest_live_cas.load(Ordering::Relaxed) {
            Some(Dead::Flushed)
        } else {
            None
        }
    }

    /// Unlinks `idx` from `s`, releasing its memory charge.
    fn free(&self, s: &mut Stripe, idx: u32) -> Entry {
        let bytes = self.bytes_of(s.entry(idx));
        let e = s.unlink(idx, bytes);
        self.used.fetch_sub(e.charge(), Ordering::Relaxed);
        e
    }

    /// Finds a live entry; a dead one found on the way is reclaimed.
    fn lookup(&self, s: &mut Stripe, hash: u64, key: &[u8]) -> Result<u32, Lookup> {
        let idx = s.find(hash, key).ok_or(Lookup::Miss)?;
        match self.dead(s.entry(idx)) {
            None => Ok(idx),
            Some(why) => {
                self.free(s, idx);
                Err(match why {
                    Dead::Expired => Lookup::Expired,
                    Dead::Flushed => Lookup::Flushed,
                })
            }
        }
    }

    fn bump(&self, s: &mut Stripe, idx: u32) {
        let now = self.clock.now();
        let e = s.entry_mut(idx);
        e.fetched = true;
        if e.time.saturating_add(ITEM_UPDATE_INTERVAL) <= now {
            e.time = now;
            e.seq = self.lru_seq.fetch_add(1, Ordering::Relaxed);
            s.bump(idx);
        }
    }

    /// Looks `key` up; on a hit calls `f` with the item (stripe locked) and
    /// bumps it. `touch` gives the item a new expiry first (gat).
    pub fn get<F: FnOnce(ItemRef<'_>)>(&self, key: &[u8], touch: Option<i64>, f: F) -> Lookup {
        let hash = self.hash(key);
        let mut s = self.stripe(hash);
        match self.lookup(&mut s, hash, key) {
            Ok(idx) => {
                if let Some(exptime) = touch {
                    s.entry_mut(idx).exptime = self.clock.realtime(exptime);
                }
                self.bump(&mut s, idx);
                let e = s.entry(idx);
                f(ItemRef {
                    key: e.key(),
                    value: e.value(),
                    flags: e.flags,
                    cas: self.visible_cas(e.cas),
                });
                Lookup::Hit
            }
            Err(miss) => miss,
        }
    }

    /// Gives a live item a new expiry.
    pub fn touch(&self, key: &[u8], exptime: i64) -> Lookup {
        self.get(key, Some(exptime), |_| {})
    }

    /// Deletes a live item.
    pub fn delete(&self, key: &[u8]) -> Lookup {
        let hash = self.hash(key);
        let mut s = self.stripe(hash);
        match self.lookup(&mut s, hash, key) {
            Ok(idx) => {
                self.free(&mut s, idx);
                Lookup::Hit
            }
            Err(miss) => miss,
        }
    }

    /// Stores `data` under `key` according to `mode`; `cas` is compared in
    /// [`StoreMode::Cas`]. On success returns the new item's CAS.
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        cas: u64,
    ) -> (StoreOutcome, u64) {
        debug_assert!(key.len() <= KEY_MAX_LENGTH);
        if !self.item_fits(key.len(), data.len(), flags) {
            if mode == StoreMode::Set {
                // As memcached: a failed set must not leave the old value readable.
                self.delete(key);
            }
            return (StoreOutcome::TooLarge, 0);
        }
        let hash = self.hash(key);
        let mut s = self.stripe(hash);
        let existing = self.lookup(&mut s, hash, key).ok();
        let (flags, exptime, kv) = match (mode, existing) {
            (StoreMode::Add, Some(idx)) => {
                // memcached refreshes an item that an add collided with.
                self.bump(&mut s, idx);
                return (StoreOutcome::NotStored, 0);
            }
            (StoreMode::Replace | StoreMode::Append | StoreMode::Prepend, None) => {
                return (StoreOutcome::NotStored, 0)
            }
            (StoreMode::Cas, None) => return (StoreOutcome::NotFound, 0),
            (StoreMode::Cas, Some(idx)) if self.visible_cas(s.entry(idx).cas) != cas => {
                return (StoreOutcome::Exists, 0)
            }
            (StoreMode::Append | StoreMode::Prepend, Some(idx)) => {
                let old = s.entry(idx);
                if !self.item_fits(key.len(), old.value().len() + data.len(), old.flags) {
                    return (StoreOutcome::NotStored, 0);
                }
                let mut kv = Vec::with_capacity(old.kv.len() + data.len());
                kv.extend_from_slice(key);
                if mode == StoreMode::Append {
                    kv.extend_from_slice(old.value());
                    kv.extend_from_slice(data);
                } else {
                    kv.extend_from_slice(data);
                    kv.extend_from_slice(old.value());
                }
                (old.flags, old.exptime, kv.into_boxed_slice())
            }
            _ => {
                let mut kv = Vec::with_capacity(key.len() + data.len());
                kv.extend_from_slice(key);
                kv.extend_from_slice(data);
                (flags, self.clock.realtime(exptime), kv.into_boxed_slice())
            }
        };
        if let Some(idx) = existing {
            self.free(&mut s, idx);
        }
        let entry = Entry {
            hash,
            klen: key.len() as u8,
            flags,
            exptime,
            time: self.clock.now(),
            cas: self.new_cas(),
            seq: self.lru_seq.fetch_add(1, Ordering::Relaxed),
            fetched: false,
            prev: NIL,
            next: NIL,
            kv,
        };
        if !self.reserve(&mut s, entry.charge()) {
            return (StoreOutcome::NoMemory, 0);
        }
        let new_cas = self.visible_cas(entry.cas);
        let bytes = self.bytes_of(&entry);
        s.link(entry, bytes);
        (StoreOutcome::Stored, new_cas)
    }

    /// Applies incr/decr to a live item holding an unsigned decimal.
    pub fn delta(&self, key: &[u8], op: DeltaOp, delta: u64) -> Delta {
        let hash = self.hash(key);
        let mut s = self.stripe(hash);
        let Ok(idx) = self.lookup(&mut s, hash, key) else {
            return Delta::NotFound;
        };
        let Some(value) = parse_counter(s.entry(idx).value()) else {
            return Delta::NonNumeric;
        };
        let value = match op {
            DeltaOp::Incr => value.wrapping_add(delta),
            DeltaOp::Decr => value.saturating_sub(delta),
        };
        let mut digits = itoa::Buffer::new().format(value).as_bytes().to_vec();
        self.bump(&mut s, idx);
        let old_len = s.entry(idx).value().len();
        if digits.len() <= old_len {
            // memcached rewrites in place, padding with spaces to the old length.
            digits.resize(old_len, b' ');
            let cas = self.new_cas();
            let e = s.entry_mut(idx);
            let klen = e.klen as usize;
            e.kv[klen..].copy_from_slice(&digits);
            e.cas = cas;
            return Delta::Value(value);
        }
        let (flags, exptime) = {
            let e = s.entry(idx);
            (e.flags, e.exptime)
        };
        self.free(&mut s, idx);
        let mut kv = Vec::with_capacity(key.len() + digits.len());
        kv.extend_from_slice(key);
        kv.extend_from_slice(&digits);
        let entry = Entry {
            hash,
            klen: key.len() as u8,
            flags,
            exptime,
            time: self.clock.now(),
            cas: self.new_cas(),
            seq: self.lru_seq.fetch_add(1, Ordering::Relaxed),
            fetched: false,
            prev: NIL,
            next: NIL,
            kv: kv.into_boxed_slice(),
        };
        if !self.reserve(&mut s, entry.charge()) {
            return Delta::NoMemory;
        }
        let bytes = self.bytes_of(&entry);
        s.link(entry, bytes);
        Delta::Value(value)
    }

    /// flush_all: `delay` ≤ 0 invalidates every item now; otherwise at that
    /// expiry time (relative seconds or Unix time, as for exptime).
    pub fn flush_all(&self, delay: i64) {
        if delay > 0 {
            self.pending_flush
                .store(self.clock.realtime(delay).max(1), Ordering::Release);
        } else {
            self.pending_flush.store(0, Ordering::Release);
            self.flush_now();
        }
    }

    fn flush_now(&self) {
        let next = self.next_cas.load(Ordering::Relaxed);
        self.oldest_live_cas.fetch_max(next, Ordering::Relaxed);
    }

    /// Changes the memory limit; a lower limit evicts down to it at once
    /// (unless evictions are disabled).
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
        if self.evictions.load(Ordering::Relaxed) {
            while self.used.load(Ordering::Relaxed) > bytes {
                if !self.evict_elsewhere(None) {
                    break;
                }
            }
        }
    }

    /// Current memory limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sums counters over all stripes (takes each stripe lock in turn).
    pub fn stats(&self) -> StoreStats {
        let mut out = StoreStats::default();
        let now = self.clock.now();
        for stripe in self.stripes.iter() {
            let guard = stripe.lock().unwrap_or_else(|p| p.into_inner());
            out.index_bytes += guard.index_bytes() as u64;
            if let Some(tail) = guard.tail() {
                out.oldest_age = out
                    .oldest_age
                    .max(now.saturating_sub(guard.entry(tail).time));
            }
            let s = guard.stats;
            drop(guard);
            let t = &mut out.items;
            t.curr_items += s.curr_items;
            t.bytes += s.bytes;
            t.total_items += s.total_items;
            t.evictions += s.evictions;
            t.evicted_unfetched += s.evicted_unfetched;
            t.reclaimed += s.reclaimed;
            t.expired_unfetched += s.expired_unfetched;
        }
        out.used = self.used.load(Ordering::Relaxed) as u64;
        out.limit = self.limit() as u64;
        out.out_of_memory = self.out_of_memory.load(Ordering::Relaxed);
        out
    }

    /// `stats reset`: zeroes the cumulative counters (not the gauges).
    pub fn reset_stats(&self) {
        for stripe in self.stripes.iter() {
            let mut s = stripe.lock().unwrap_or_else(|p| p.into_inner());
            let st = &mut s.stats;
            *st = StripeStats {
                curr_items: st.curr_items,
                bytes: st.bytes,
                ..StripeStats::default()
            };
        }
        self.out_of_memory.store(0, Ordering::Relaxed);
    }

    /// Charges `charge` bytes, making room by reclaiming or evicting from the
    /// LRU tails; false (and nothing charged) when no room can be made.
    fn reserve(&self, s: &mut Stripe, charge: usize) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        let evict = self.evictions.load(Ordering::Relaxed);
        let mut used = self.used.fetch_add(charge, Ordering::Relaxed) + charge;
        let mut attempts = self.stripes.len() * 2;
        while used > limit {
            let made_room = self.reclaim_expired_tail(s)
                || (evict && (self.evict_sampled(s) || self.evict_elsewhere(Some(&*s))));
            attempts = attempts.saturating_sub(1);
            if !made_room || attempts == 0 {
                self.used.fetch_sub(charge, Ordering::Relaxed);
                self.out_of_memory.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            used = self.used.load(Ordering::Relaxed);
        }
        true
    }

    /// Frees the first dead item among the stripe's LRU tail.
    fn reclaim_expired_tail(&self, s: &mut Stripe) -> bool {
        let mut cur = s.tail();
        for _ in 0..RECLAIM_SEARCH_DEPTH {
            let Some(idx) = cur else { return false };
            if let Some(why) = self.dead(s.entry(idx)) {
                let e = self.free(s, idx);
                s.stats.reclaimed += 1;
                if matches!(why, Dead::Expired) && !e.fetched {
                    s.stats.expired_unfetched += 1;
                }
                return true;
            }
            cur = s.towards_head(idx);
        }
        false
    }

    /// Evicts the stripe's LRU tail.
    fn evict_tail(&self, s: &mut Stripe) -> bool {
        let Some(idx) = s.tail() else { return false };
        let dead = self.dead(s.entry(idx));
        let e = self.free(s, idx);
        match dead {
            Some(why) => {
                s.stats.reclaimed += 1;
                if matches!(why, Dead::Expired) && !e.fetched {
                    s.stats.expired_unfetched += 1;
                }
            }
            None => {
                s.stats.evictions += 1;
                if !e.fetched {
                    s.stats.evicted_unfetched += 1;
                }
            }
        }
        true
    }

    /// Evicts the least recently used among the LRU tails of the held stripe
    /// and of a few other stripes that are free to lock; false if all are empty.
    fn evict_sampled(&self, held: &mut Stripe) -> bool {
        let n = self.stripes.len();
        let own = held.tail().map(|t| held.entry(t).seq);
        let mut best: Option<(u64, MutexGuard<'_, Stripe>)> = None;
        let start = self
            .evict_cursor
            .fetch_add(EVICTION_SAMPLES, Ordering::Relaxed);
        for i in 0..EVICTION_SAMPLES {
            // A stride coprime with the (power of two) stripe count spreads the samples.
            let stripe = &self.stripes[(start + i).wrapping_mul(0x9E37_79B1) % n];
            let Ok(other) = stripe.try_lock() else {
                continue;
            };
            if std::ptr::eq(&*other, &*held) {
                continue;
            }
            let Some(tail) = other.tail() else { continue };
            let seq = other.entry(tail).seq;
            let beats_best = best.as_ref().is_none_or(|(b, _)| seq < *b);
            if beats_best && own.is_none_or(|o| seq < o) {
                best = Some((seq, other));
            }
        }
        match best {
            Some((_, mut other)) => self.evict_tail(&mut other),
            None => self.evict_tail(held),
        }
    }

    /// Evicts one item from some other stripe, skipping busy ones.
    fn evict_elsewhere(&self, held: Option<&Stripe>) -> bool {
        let n = self.stripes.len();
        let start = self.evict_cursor.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let stripe = &self.stripes[(start + i) % n];
            let Ok(mut other) = stripe.try_lock() else {
                continue;
            };
            if held.is_some_and(|h| std::ptr::eq(h, &*other)) {
                continue;
            }
            if self.evict_tail(&mut other) {
                return true;
            }
        }
        false
    }
}

/// Parses a stored counter as memcached's `safe_strtoull` does: optional
/// leading white space, digits, then only white space (the `\r\n` in
/// memcached's buffer) or the end; no minus sign; must fit 64 bits.
fn parse_counter(value: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let mut i = value.iter().take_while(|&&b| is_space(b)).count();
    if value.get(i) == Some(&b'+') {
        i += 1;
    }
    let digits = value[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let rest = &value[i + digits..];
    if !rest.is_empty() && !is_space(rest[0]) {
        return None;
    }
    std::str::from_utf8(&value[i..i + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;
