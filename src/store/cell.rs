//! [`Cell`]: one versioned value of a key, and last-write-wins.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A node's identity: node `i` is the turmoil host `n{i}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct NodeId(pub u16);

impl NodeId {
    /// The index of this node in `0..nodes`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A versioned value: `(timestamp, writer, value or tombstone)`.
///
/// `timestamp` is microseconds of the coordinator's clock; `writer` is that coordinator.
/// `value: None` is a tombstone (a delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cell {
    /// Coordinator clock, in microseconds.
    pub timestamp: u64,
    /// The coordinator that issued the timestamp: it breaks timestamp ties.
    pub writer: NodeId,
    /// The value, or `None` for a tombstone.
    pub value: Option<i64>,
}

impl Cell {
    /// The version that decides last-write-wins: `(timestamp, writer)`.
    pub fn version(&self) -> (u64, NodeId) {
        (self.timestamp, self.writer)
    }

    /// Whether this cell is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// Last write wins: does `self` replace `current`? Ties on `(timestamp, writer)` can only
    /// come from the same write, so they keep the current cell.
    pub fn supersedes(&self, current: Option<&Cell>) -> bool {
        match current {
            None => true,
            Some(c) => self.version().cmp(&c.version()) == Ordering::Greater,
        }
    }

    /// [`Cell::supersedes`] with the planted [`Bug::LwwTieByArrival`](super::config::Bug):
    /// equal timestamps from different writers go to the cell that arrives last.
    // Bug seam (Bug::LwwTieByArrival): a tie resolved by arrival order.
    pub fn supersedes_by_arrival(&self, current: Option<&Cell>) -> bool {
        match current {
            Some(c) if c.timestamp == self.timestamp && c.writer != self.writer => true,
            _ => self.supersedes(current),
        }
    }
}

/// The newest of a set of optional cells, by last-write-wins.
pub fn resolve<'a>(cells: impl IntoIterator<Item = Option<&'a Cell>>) -> Option<Cell> {
    let mut best: Option<Cell> = None;
    for c in cells.into_iter().flatten() {
        if c.supersedes(best.as_ref()) {
            best = Some(*c);
        }
    }
    best
}

/// [`resolve`] with the planted [`Bug::LwwTieByArrival`](super::config::Bug::LwwTieByArrival):
/// of cells with equal timestamps, the one met last wins.
pub fn resolve_by_arrival<'a>(cells: impl IntoIterator<Item = Option<&'a Cell>>) -> Option<Cell> {
    let mut best: Option<Cell> = None;
    for c in cells.into_iter().flatten() {
        if c.supersedes_by_arrival(best.as_ref()) {
            best = Some(*c);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ts: u64, w: u16, v: Option<i64>) -> Cell {
        Cell {
            timestamp: ts,
            writer: NodeId(w),
            value: v,
        }
    }

    #[test]
    fn last_write_wins_by_timestamp_then_writer() {
        let a = cell(10, 1, Some(1));
        let b = cell(10, 2, Some(2));
        let c = cell(11, 0, None);
        assert!(b.supersedes(Some(&a)));
        assert!(!a.supersedes(Some(&b)));
        assert!(c.supersedes(Some(&b)));
        assert!(!a.supersedes(Some(&a)));
        assert_eq!(resolve([Some(&a), None, Some(&c), Some(&b)]), Some(c));
        assert_eq!(resolve([None, None]), None);
    }
}
