//! Reads: get (optionally touching the item), touch, the meta read, which
//! also reports an item's metadata and hands out win tokens, and the peek
//! of memcached's `me`, which changes nothing.
//!
//! # Expiry steps in line order
//! memcached acts on a meta command's `T`, `N` and `R` flags in the order
//! they are given and reports `t` when its turn comes, so `mg k t T30`
//! shows the TTL before the touch and `mg k T30 t` after it, `R` compares
//! the expiry as it is at its turn, and a created item keeps whichever of
//! `N` and `T` came last. [`ExpiryOrder`] carries that order.
//!
//! # Win tokens
//! When many clients miss or find a value about to expire at once, one of
//! them should recompute it while the others wait or serve what is there
//! (memcached's meta `mg` flags N, R and the reply flags W, X, Z). The
//! store keeps two bits per item for this: TOKEN_SENT (a reader has been
//! told it won) and STALE (the item was invalidated, or stored with an
//! older CAS). A reader wins when it creates the item on a miss
//! ([`ReadOptions::vivify`]), or finds it below the recache threshold
//! ([`ReadOptions::recache`]) or stale, and no token was sent yet; the win
//! sets TOKEN_SENT, so every later reader is told the token is taken
//! until a new version of the item replaces it.

use super::item::{FETCHED, KEY_BINARY, STALE, TOKEN_SENT};
use super::pages::Handle;
use super::{index::Stripe, item::Header, lock, memcached_total, ItemRef, Lookup, Store};

/// What a meta read may do besides reading (memcached's `mg` flags).
/// Expiry times follow the protocol's rules (0 never, up to 30 days
/// relative, else a Unix time, negative already expired).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Give the item this new expiry (`T`, as gat does), at its turn in
    /// `order` (by default before the recache test and the reported TTL).
    pub touch: Option<i64>,
    /// Leave the item's LRU position, its fetched bit and its last-access
    /// time as they are (`u`).
    pub no_bump: bool,
    /// On a miss, create an empty item (no value, no client flags) with
    /// this expiry, in the same stripe-lock hold as the lookup, and let
    /// this reader win its token (`N`). Later readers find the item and
    /// are told the token is taken.
    pub vivify: Option<i64>,
    /// On a hit whose expiry (at this step's turn) comes sooner than this, the
    /// first reader wins the token (`R`): with `R30`, an item with less
    /// than 30 seconds to live. Items that never expire never qualify.
    pub recache: Option<i64>,
    /// The CAS of an item `vivify` creates, instead of the counter's next
    /// value (`E`; ignored under `-C`).
    pub new_cas: Option<u64>,
    /// The order in which `touch`, `vivify` and `recache` act, and when
    /// [`ReadMeta::ttl`] is taken.
    pub order: ExpiryOrder,
}

/// The order of a meta command's expiry steps, as its flags stood on the
/// line (memcached acts on them in that order): `touch` (`T`) sets the
/// expiry; `vivify` (`N`) sets a created item's; `recache` (`R`) compares
/// the expiry as it is then; `ttl` (`t`) reports it as it is then. Each
/// field is a position; only their order counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryOrder {
    /// When the new expiry is set.
    pub touch: u8,
    /// When a created item's expiry is set.
    pub vivify: u8,
    /// When the recache threshold is compared.
    pub recache: u8,
    /// When the TTL is taken.
    pub ttl: u8,
}

impl Default for ExpiryOrder {
    /// Vivify, touch, recache, then the TTL: every step sees the new
    /// expiry, and a created item takes the touch's.
    fn default() -> ExpiryOrder {
        ExpiryOrder {
            vivify: 0,
            touch: 1,
            recache: 2,
            ttl: 3,
        }
    }
}

/// One expiry step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Touch,
    Vivify,
    Recache,
    Ttl,
}

impl ExpiryOrder {
    /// The steps in their order (ties keep this order: vivify, touch,
    /// recache, ttl).
    fn steps(&self) -> [Step; 4] {
        let mut steps = [
            (self.vivify, Step::Vivify),
            (self.touch, Step::Touch),
            (self.recache, Step::Recache),
            (self.ttl, Step::Ttl),
        ];
        steps.sort_by_key(|&(at, _)| at); // stable
        steps.map(|(_, step)| step)
    }
}

/// An item's expiry after a meta command's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Expiry {
    /// The relative expiry the item ends with.
    pub(super) exptime: u32,
    /// The TTL as the `ttl` step saw it (-1: never expires).
    pub(super) ttl: i64,
    /// Whether the expiry was below the recache threshold when compared.
    pub(super) recache_due: bool,
}

/// Whether a reader got the win token of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// No token is out for the item, and this reader did not win one.
    NotSent,
    /// This reader won the token (memcached's `W`): it should recompute
    /// the value.
    Won,
    /// Another reader won it earlier (`Z`).
    AlreadySent,
}

/// An item's metadata, as a meta read reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMeta {
    /// Seconds the item has left to live, after this read's touch; -1 if
    /// it never expires (`t`).
    pub ttl: i64,
    /// Seconds since the item was last accessed, before this read (`l`).
    /// As in memcached, reads refresh the access time at most once a
    /// minute, so this is up to a minute short.
    pub last_access: u32,
    /// Whether the item had been fetched before this read (`h`).
    pub fetched: bool,
    /// Whether the item is stale (`X`): invalidated by a delete, or stored
    /// with an older CAS.
    pub stale: bool,
    /// The win token (`W` / `Z`).
    pub token: Token,
    /// Whether this read created the item ([`ReadOptions::vivify`]).
    pub created: bool,
    /// Whether the item was stored with a base64 key (meta `ms b`).
    pub binary_key: bool,
    /// The item's slab class.
    pub class: u8,
    /// The item's size as memcached counts it (its `ITEM_ntotal`, what
    /// `-I` limits).
    pub size: usize,
}

impl Store {
    /// Looks `key` up; on a hit calls `f` with the item (stripe locked) and
    /// bumps it. `touch` gives the item a new expiry first (gat). Win
    /// tokens are neither handed out nor consumed.
    #[inline]
    pub fn get<F: FnOnce(ItemRef<'_>)>(&self, key: &[u8], touch: Option<i64>, f: F) -> Lookup {
        let options = ReadOptions {
            touch,
            ..ReadOptions::default()
        };
        self.read_item(key, &options, false, |item, _| f(item))
    }

    /// Gives a live item a new expiry.
    pub fn touch(&self, key: &[u8], exptime: i64) -> Lookup {
        self.get(key, Some(exptime), |_| {})
    }

    /// A meta read: looks `key` up and, for an item found (or created by
    /// [`ReadOptions::vivify`]), calls `f` with it and its metadata while
    /// the stripe lock is held, applying `options` and handing out the win
    /// token (see the module documentation).
    ///
    /// Returns what the lookup found: [`Lookup::Hit`], or why there was no
    /// live item, even when `vivify` then created one (`f` sees
    /// [`ReadMeta::created`]); so a caller can count expired and flushed
    /// items as a get does. If the item cannot be created (no memory),
    /// `f` is not called.
    pub fn read<F: FnOnce(ItemRef<'_>, ReadMeta)>(
        &self,
        key: &[u8],
        options: &ReadOptions,
        f: F,
    ) -> Lookup {
        self.read_item(key, options, true, f)
    }

    /// [`Store::read`], or (without `tokens`) a get that leaves win tokens
    /// alone.
    /// memcached's `me`: an item's metadata without touching it: no LRU
    /// bump, no fetched bit, no win token handed out or taken.
    pub fn peek<F: FnOnce(ItemRef<'_>, ReadMeta)>(&self, key: &[u8], f: F) -> Lookup {
        let options = ReadOptions {
            no_bump: true,
            ..ReadOptions::default()
        };
        self.read_item(key, &options, false, f)
    }

    /// [`Store::read`], or (without `tokens`) a get that leaves win tokens
    /// alone.
    #[inline]
    fn read_item<F: FnOnce(ItemRef<'_>, ReadMeta)>(
        &self,
        key: &[u8],
        options: &ReadOptions,
        tokens: bool,
        f: F,
    ) -> Lookup {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        let (found, h, mut hdr, created, expiry) = match self.lookup(&mut stripe, hash, key) {
            Ok((h, hdr)) => {
                let expiry = self.expiry(hdr.exptime, false, options.touch, None, options);
                (Lookup::Hit, h, hdr, false, expiry)
            }
            Err(miss) => match options.vivify {
                Some(exptime) => {
                    let expiry = self.expiry(0, true, options.touch, Some(exptime), options);
                    match self.vivify(&mut stripe, hash, key, expiry.exptime, options) {
                        Some((h, hdr)) => (miss, h, hdr, true, expiry),
                        None => return miss,
                    }
                }
                None => return miss,
            },
        };
        let fetched = hdr.bits & FETCHED != 0;
        let last_access = self.clock.now().saturating_sub(hdr.time);
        if !created && options.touch.is_some() {
            self.rewrite(h, &hdr, expiry.exptime, hdr.cas, hdr.bits);
            hdr.exptime = expiry.exptime;
        }
        let stale = hdr.bits & STALE != 0;
        let sent = hdr.bits & TOKEN_SENT != 0;
        let token = if created {
            Token::Won // TOKEN_SENT was set when the item was made
        } else if sent {
            Token::AlreadySent
        } else if tokens && (stale || expiry.recache_due) {
            Token::Won
        } else {
            Token::NotSent
        };
        let mut bits = if options.no_bump { 0 } else { FETCHED };
        if token == Token::Won {
            bits |= TOKEN_SENT;
        }
        self.note_read(h, &hdr, !options.no_bump, bits);
        let meta = ReadMeta {
            ttl: expiry.ttl,
            last_access,
            fetched,
            stale,
            token,
            created,
            binary_key: hdr.bits & KEY_BINARY != 0,
            class: hdr.class,
            size: memcached_total(
                hdr.klen as usize,
                hdr.vlen as usize,
                hdr.flags,
                self.use_cas,
            ),
        };
        f(
            ItemRef {
                key,
                value: self.value(h, &hdr),
                flags: hdr.flags,
                cas: self.visible_cas(hdr.cas),
                class: hdr.class,
            },
            meta,
        );
        found
    }

    /// Walks a meta command's expiry steps in `steps.order`, from an
    /// item's relative expiry `start` (0 for an item being created, as
    /// memcached creates it, so a TTL taken before `N` is -1): the touch
    /// sets `touch`'s expiry, vivify (only on a `created` item) sets
    /// `vivify`'s, recache (only on a found item) compares the expiry with
    /// `steps.recache`, and the TTL is taken when its turn comes. (Of
    /// `steps`, only `recache` and `order` are read.)
    pub(super) fn expiry(
        &self,
        start: u32,
        created: bool,
        touch: Option<i64>,
        vivify: Option<i64>,
        steps: &ReadOptions,
    ) -> Expiry {
        let mut walk = Expiry {
            exptime: start,
            ttl: -1,
            recache_due: false,
        };
        for step in steps.order.steps() {
            match step {
                Step::Touch => {
                    if let Some(t) = touch {
                        walk.exptime = self.clock.realtime(t);
                    }
                }
                Step::Vivify => {
                    if let (true, Some(n)) = (created, vivify) {
                        walk.exptime = self.clock.realtime(n);
                    }
                }
                Step::Recache => {
                    walk.recache_due = !created && self.recache_due(walk.exptime, steps.recache);
                }
                Step::Ttl => walk.ttl = self.ttl_left(walk.exptime),
            }
        }
        walk
    }

    /// Whether an item with relative expiry `exptime` expires sooner than
    /// the recache threshold `recache` (a protocol expiry time, compared as
    /// memcached compares it: the item's expiry against the threshold made
    /// absolute).
    fn recache_due(&self, exptime: u32, recache: Option<i64>) -> bool {
        recache.is_some_and(|r| exptime != 0 && exptime < self.clock.realtime(r))
    }

    /// Creates the empty item a read asked for on a miss, its token already
    /// sent (to this reader), and links it; the caller holds the stripe
    /// lock, so no other reader can miss and create it too. `None`: no
    /// memory.
    fn vivify(
        &self,
        stripe: &mut Stripe,
        hash: u64,
        key: &[u8],
        exptime: u32,
        options: &ReadOptions,
    ) -> Option<(Handle, Header)> {
        let (h, mut hdr) = self.allocate(key, 0, exptime, &[])?;
        hdr.bits |= TOKEN_SENT;
        hdr.cas = self.link(
            stripe,
            hash,
            h,
            &hdr,
            None,
            self.explicit_cas(options.new_cas),
        );
        Some((h, hdr))
    }
}
