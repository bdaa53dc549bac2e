//! The per-class rows of `stats items` and `stats slabs`, each figure
//! described once: a class's counters are [`ClassStats`](super::ClassStats); what `stats
//! items` shows besides them (memcached's segmented LRU, which ferrocache
//! does not have, and the ages) is [`LruRow`]; `stats slabs`'s page and
//! chunk figures are [`SlabRow`]. Listings and the metrics endpoint both
//! read these.

use super::report::ClassReport;
use crate::described::Metric;

crate::described! {
    /// The `stats slabs` figures of one class.
    pub struct SlabRow {
        chunk_size: Gauge "Bytes per chunk",
        chunks_per_page: Gauge "Chunks per page",
        total_pages: Gauge "Pages the class owns",
        total_chunks: Gauge "Chunks in the pages the class owns",
        used_chunks: Gauge "Chunks holding an item",
        free_chunks: Gauge "Chunks on the free list",
        free_chunks_end: Gauge "Chunks not yet carved from the last page",
    }
}

crate::described! {
    /// The `stats items` figures of one class besides its counters.
    pub struct LruRow {
        number_hot: Gauge "Always 0: one flat LRU per class",
        number_warm: Gauge "Always 0: one flat LRU per class",
        number_cold: Gauge "Items in the class's LRU (every item: one flat LRU per class)",
        age_hot: Gauge "Always 0: one flat LRU per class",
        age_warm: Gauge "Always 0: one flat LRU per class",
        age: Gauge "Seconds since the item at the LRU tail was last accessed",
        evicted_time: Gauge "Seconds since the last evicted item was last accessed",
        tailrepairs: Counter "Always 0: items are never pinned, so the tail never needs repair",
        evicted_active: Counter "Always 0: one flat LRU per class",
        moves_to_cold: Counter "Always 0: one flat LRU per class",
        moves_to_warm: Counter "Always 0: one flat LRU per class",
        hits_to_hot: Counter "Always 0: one flat LRU per class",
        hits_to_warm: Counter "Always 0: one flat LRU per class",
        hits_to_cold: Counter "Reads that found an item of this class (every item is cold: one flat LRU per class)",
        hits_to_temp: Counter "Always 0: no temporary LRU",
    }
}

/// memcached's `stats items` fields, in its order (without `number_temp`,
/// which it shows only with `temp_lru`).
const ITEMS: [&str; 28] = [
    "number",
    "number_hot",
    "number_warm",
    "number_cold",
    "age_hot",
    "age_warm",
    "age",
    "mem_requested",
    "evicted",
    "evicted_nonzero",
    "evicted_time",
    "outofmemory",
    "tailrepairs",
    "reclaimed",
    "expired_unfetched",
    "evicted_unfetched",
    "evicted_active",
    "crawler_reclaimed",
    "crawler_items_checked",
    "lrutail_reflocked",
    "moves_to_cold",
    "moves_to_warm",
    "moves_within_lru",
    "direct_reclaims",
    "hits_to_hot",
    "hits_to_warm",
    "hits_to_cold",
    "hits_to_temp",
];

/// `ClassStats` fields `stats items` does not print as they are: the
/// relative time behind `evicted_time`, and `total_items` (summed into
/// `stats`).
const NOT_ITEMS: [&str; 2] = ["evicted_time", "total_items"];

impl ClassReport {
    /// Whether `stats items` shows this class (memcached skips a class that
    /// never held, evicted or failed to allocate an item).
    pub fn has_items(&self) -> bool {
        let c = &self.stats;
        c.number != 0 || c.evicted != 0 || c.outofmemory != 0
    }

    /// The `stats slabs` figures.
    pub fn slab_row(&self) -> SlabRow {
        SlabRow {
            chunk_size: self.chunk_size as u64,
            chunks_per_page: self.chunks_per_page as u64,
            total_pages: self.total_pages as u64,
            total_chunks: (self.total_pages * self.chunks_per_page) as u64,
            used_chunks: self.used_chunks as u64,
            free_chunks: self.free_chunks as u64,
            free_chunks_end: self.free_chunks_end as u64,
        }
    }

    /// The `stats items` figures besides the counters, at relative time
    /// `now`; `hits` are the reads that found an item of the class (counted
    /// by the workers, not the store).
    pub fn lru_row(&self, now: u32, hits: u64) -> LruRow {
        let c = &self.stats;
        LruRow {
            number_cold: c.number,
            age: u64::from(self.age),
            evicted_time: if c.evicted > 0 {
                u64::from(now).saturating_sub(c.evicted_time)
            } else {
                0
            },
            hits_to_cold: hits,
            ..LruRow::default()
        }
    }

    /// Every `stats items` figure with its description, in memcached's
    /// order (`hits`: as for [`ClassReport::lru_row`]).
    pub fn items_rows(&self, now: u32, hits: u64) -> Vec<(&'static Metric, u64)> {
        let lru = self.lru_row(now, hits);
        let mut all: Vec<(&'static Metric, u64)> = lru
            .readings()
            .chain(
                self.stats
                    .readings()
                    .filter(|(m, _)| !NOT_ITEMS.contains(&m.name)),
            )
            .collect();
        ITEMS
            .iter()
            .filter_map(|name| {
                let at = all.iter().position(|(m, _)| m.name == *name);
                debug_assert!(at.is_some(), "no row describes {name}");
                at.map(|i| all.swap_remove(i))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ClassStats;

    /// Every `stats items` field is described exactly once, and every
    /// description is printed.
    #[test]
    fn items_fields_are_described_once() {
        let described: Vec<&str> = LruRow::METRICS
            .iter()
            .map(|m| m.name)
            .chain(
                ClassStats::METRICS
                    .iter()
                    .map(|m| m.name)
                    .filter(|n| !NOT_ITEMS.contains(n)),
            )
            .collect();
        for name in ITEMS {
            let n = described.iter().filter(|d| **d == name).count();
            assert_eq!(n, 1, "{name} is described {n} times");
        }
        assert_eq!(described.len(), ITEMS.len());
    }

    #[test]
    fn rows_read_the_report() {
        let r = ClassReport {
            id: 1,
            chunk_size: 96,
            chunks_per_page: 10,
            total_pages: 2,
            used_chunks: 3,
            free_chunks: 1,
            free_chunks_end: 16,
            age: 7,
            stats: ClassStats {
                number: 3,
                evicted: 1,
                evicted_time: 40,
                ..ClassStats::default()
            },
        };
        assert_eq!(r.slab_row().total_chunks, 20);
        let rows = r.items_rows(100, 9);
        let names: Vec<&str> = rows.iter().map(|(m, _)| m.name).collect();
        assert_eq!(names, ITEMS);
        let value = |n: &str| rows.iter().find(|(m, _)| m.name == n).unwrap().1;
        assert_eq!(value("number_cold"), 3);
        assert_eq!(value("age"), 7);
        assert_eq!(value("evicted_time"), 60);
        assert_eq!(value("hits_to_cold"), 9);
        assert_eq!(value("hits_to_hot"), 0);
        assert!(r.has_items());
    }
}
