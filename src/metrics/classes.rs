//! Operations counted per slab class, as memcached keeps them per thread
//! and shows them in `stats slabs` (`get_hits`, `cmd_set`, `delete_hits`,
//! …): each worker owns a [`ClassCounters`] that only it writes, and a
//! reader sums every worker's [`ClassCounters::snapshot`]. The class is the
//! one the store reports for the item a hit, store, delete or count
//! touched; the store itself counts nothing here.

use super::counters::Counter;

/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES`: class ids are below this.
pub const CLASSES: usize = 64;

/// One per-class operation, in memcached's `stats slabs` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassOp {
    /// A get (or meta / binary read) that found the item.
    GetHit,
    /// A store whose data arrived, by the class of the item it would make.
    Set,
    /// A delete that removed (or kept, invalidated) the item.
    DeleteHit,
    /// An increment of an existing item.
    IncrHit,
    /// A decrement of an existing item.
    DecrHit,
    /// A CAS store that matched.
    CasHit,
    /// A CAS store refused for a different CAS.
    CasBadval,
    /// A touch or gat that found the item.
    TouchHit,
}

const OPS: usize = 8;

crate::described! {
    /// One class's operation counts, named and ordered as memcached's
    /// `stats slabs` prints them.
    pub struct ClassOps {
        get_hits: Counter "Reads that found an item of this class",
        cmd_set: Counter "Stores whose data arrived, by the class of the item they make",
        delete_hits: Counter "Deletes that found an item of this class",
        incr_hits: Counter "Increments of an item of this class",
        decr_hits: Counter "Decrements of an item of this class",
        cas_hits: Counter "CAS stores that matched, by the class of the item they make",
        cas_badval: Counter "CAS stores refused for a different CAS, by the class of the item they would make",
        touch_hits: Counter "Touches and gat hits on an item of this class",
    }
}

impl ClassOps {
    fn from_array(a: [u64; OPS]) -> ClassOps {
        ClassOps {
            get_hits: a[0],
            cmd_set: a[1],
            delete_hits: a[2],
            incr_hits: a[3],
            decr_hits: a[4],
            cas_hits: a[5],
            cas_badval: a[6],
            touch_hits: a[7],
        }
    }

    /// Field-wise sum.
    pub fn plus(self, o: ClassOps) -> ClassOps {
        let mut a = [0; OPS];
        for (i, ((_, x), (_, y))) in self.readings().zip(o.readings()).enumerate() {
            a[i] = x.wrapping_add(y);
        }
        ClassOps::from_array(a)
    }

    /// Field-wise difference.
    pub fn minus(self, o: ClassOps) -> ClassOps {
        let mut a = [0; OPS];
        for (i, ((_, x), (_, y))) in self.readings().zip(o.readings()).enumerate() {
            a[i] = x.wrapping_sub(y);
        }
        ClassOps::from_array(a)
    }
}

/// One worker's per-class counters (written by that worker only).
#[derive(Debug)]
pub struct ClassCounters {
    cells: Box<[[Counter; OPS]]>,
}

impl Default for ClassCounters {
    fn default() -> ClassCounters {
        ClassCounters {
            cells: (0..CLASSES).map(|_| Default::default()).collect(),
        }
    }
}

impl ClassCounters {
    /// Counts `op` on an item of class `class` (ignored if out of range).
    #[inline]
    pub fn incr(&self, class: u8, op: ClassOp) {
        if let Some(row) = self.cells.get(usize::from(class)) {
            row[op as usize].incr();
        }
    }

    /// A copy of every class's counts, indexed by class id.
    pub fn snapshot(&self) -> Vec<ClassOps> {
        self.cells
            .iter()
            .map(|row| ClassOps::from_array(std::array::from_fn(|i| row[i].get())))
            .collect()
    }
}

/// Adds `b` into `a`, class by class.
pub fn add_into(a: &mut Vec<ClassOps>, b: &[ClassOps]) {
    if a.len() < b.len() {
        a.resize(b.len(), ClassOps::default());
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.plus(*y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_class_and_field() {
        let c = ClassCounters::default();
        c.incr(3, ClassOp::GetHit);
        c.incr(3, ClassOp::GetHit);
        c.incr(3, ClassOp::CasBadval);
        c.incr(5, ClassOp::TouchHit);
        c.incr(200, ClassOp::Set); // out of range: ignored
        let s = c.snapshot();
        assert_eq!(s.len(), CLASSES);
        assert_eq!(s[3].get_hits, 2);
        assert_eq!(s[3].cas_badval, 1);
        assert_eq!(s[3].touch_hits, 0);
        assert_eq!(s[5].touch_hits, 1);
        let total: u64 = s.iter().flat_map(|o| o.readings().map(|(_, v)| v)).sum();
        assert_eq!(total, 4);
    }

    #[test]
    fn fields_are_in_memcached_order_and_sum() {
        let names: Vec<&str> = ClassOps::METRICS.iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "get_hits",
                "cmd_set",
                "delete_hits",
                "incr_hits",
                "decr_hits",
                "cas_hits",
                "cas_badval",
                "touch_hits"
            ]
        );
        let a = ClassOps::from_array([1, 2, 3, 4, 5, 6, 7, 8]);
        let b = a.plus(a);
        assert_eq!(b.touch_hits, 16);
        assert_eq!(b.minus(a), a);
        let mut sum = vec![ClassOps::default()];
        add_into(&mut sum, &[a, a]);
        assert_eq!(sum, vec![a, a]);
    }
}
