//! [`Storage`]: a replica's cells, last-write-wins merge, tombstone GC and bucket digests.

use std::collections::{BTreeMap, BTreeSet};

use super::cell::Cell;
use super::hash::murmur3_128;
use super::ring::Ring;

/// Number of anti-entropy buckets: the key space is split by the top bits of the key token.
pub const BUCKETS: u16 = 64;

/// The anti-entropy bucket of a key: the top 6 bits of its ring token.
pub fn bucket_of(key: &str) -> u16 {
    (Ring::token(key) >> 58) as u16
}

/// A replica's in-memory table. The commit log is its durability; nothing else is on disk.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    cells: BTreeMap<String, Cell>,
    tombstones: BTreeSet<String>,
    /// The planted [`Bug::LwwTieByArrival`](super::config::Bug::LwwTieByArrival).
    tie_by_arrival: bool,
}

impl Storage {
    /// An empty table.
    pub fn new() -> Storage {
        Storage::default()
    }

    /// An empty table with the planted
    /// [`Bug::LwwTieByArrival`](super::config::Bug::LwwTieByArrival): equal timestamps from
    /// different writers are won by the cell merged last.
    pub fn with_tie_by_arrival() -> Storage {
        Storage {
            tie_by_arrival: true,
            ..Storage::default()
        }
    }

    /// The stored cell of `key`.
    pub fn get(&self, key: &str) -> Option<&Cell> {
        self.cells.get(key)
    }

    /// Number of stored cells, tombstones included.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the table holds no cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Would `cell` replace what is stored for `key` (last write wins)?
    pub fn would_apply(&self, key: &str, cell: &Cell) -> bool {
        // Bug seam (Bug::LwwTieByArrival): the replica merge.
        if self.tie_by_arrival {
            return cell.supersedes_by_arrival(self.cells.get(key));
        }
        cell.supersedes(self.cells.get(key))
    }

    /// Merges `cell` into the table; returns whether it replaced the stored cell.
    pub fn apply(&mut self, key: &str, cell: Cell) -> bool {
        if !self.would_apply(key, &cell) {
            return false;
        }
        if cell.is_tombstone() {
            self.tombstones.insert(key.to_string());
        } else if self.tombstones.contains(key) {
            self.tombstones.remove(key);
        }
        self.cells.insert(key.to_string(), cell);
        true
    }

    /// Drops tombstones whose timestamp is older than `now - grace` (both in microseconds);
    /// returns the keys dropped, in key order.
    pub fn drop_expired_tombstones(&mut self, now: u64, grace: u64) -> Vec<String> {
        let horizon = now.saturating_sub(grace);
        let expired: Vec<String> = self
            .tombstones
            .iter()
            .filter(|k| self.cells.get(*k).is_some_and(|c| c.timestamp < horizon))
            .cloned()
            .collect();
        for k in &expired {
            self.tombstones.remove(k);
            self.cells.remove(k);
        }
        expired
    }

    /// All cells in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Cell)> {
        self.cells.iter()
    }

    /// Digest per bucket of the keys accepted by `shared`: an order-independent sum of the
    /// hashes of `(key, cell)`. Buckets without keys are absent.
    pub fn digests(&self, mut shared: impl FnMut(&str) -> bool) -> BTreeMap<u16, u64> {
        let mut out = BTreeMap::new();
        for (k, c) in &self.cells {
            if !shared(k) {
                continue;
            }
            let mut buf = Vec::with_capacity(k.len() + 19);
            buf.extend_from_slice(k.as_bytes());
            buf.extend_from_slice(&c.timestamp.to_le_bytes());
            buf.extend_from_slice(&c.writer.0.to_le_bytes());
            match c.value {
                None => buf.push(0),
                Some(v) => {
                    buf.push(1);
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            let h = murmur3_128(&buf, 0x5eed).0;
            let d: &mut u64 = out.entry(bucket_of(k)).or_insert(0);
            *d = d.wrapping_add(h);
        }
        out
    }

    /// The cells of the keys accepted by `shared` that fall in `buckets`, in key order.
    pub fn cells_in(
        &self,
        buckets: &BTreeSet<u16>,
        mut shared: impl FnMut(&str) -> bool,
    ) -> Vec<(String, Cell)> {
        self.cells
            .iter()
            .filter(|(k, _)| buckets.contains(&bucket_of(k)) && shared(k))
            .map(|(k, c)| (k.clone(), *c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cell::NodeId;

    fn cell(ts: u64, v: Option<i64>) -> Cell {
        Cell {
            timestamp: ts,
            writer: NodeId(0),
            value: v,
        }
    }

    #[test]
    fn merge_gc_and_digests() {
        let mut s = Storage::new();
        assert!(s.apply("a", cell(5, Some(1))));
        assert!(!s.apply("a", cell(4, Some(2))));
        assert!(s.apply("a", cell(6, None)));
        assert!(s.apply("b", cell(1, Some(3))));
        assert!(s.drop_expired_tombstones(10, 5).is_empty());
        assert_eq!(s.drop_expired_tombstones(20, 5), vec!["a".to_string()]);
        assert!(s.get("a").is_none());
        let mut t = Storage::new();
        t.apply("b", cell(1, Some(3)));
        assert_eq!(s.digests(|_| true), t.digests(|_| true));
        t.apply("c", cell(1, Some(3)));
        assert_ne!(s.digests(|_| true), t.digests(|_| true));
    }
}
