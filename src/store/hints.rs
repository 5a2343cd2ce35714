//! [`HintStore`]: writes a replica missed, kept by the coordinator with their original cell and
//! replayed when the replica is seen up again (hinted handoff).
//!
//! Hints are kept in memory: a coordinator that crashes loses its hints (Cassandra keeps them
//! on disk; anti-entropy or read repair is then the only way back).

use std::collections::{BTreeMap, BTreeSet};

use super::cell::{Cell, NodeId};

/// One missed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The key.
    pub key: String,
    /// The original cell, timestamp unchanged.
    pub cell: Cell,
}

/// Hints by target replica.
#[derive(Debug, Clone, Default)]
pub struct HintStore {
    by_target: BTreeMap<NodeId, BTreeMap<u64, Hint>>,
    in_flight: BTreeSet<(NodeId, u64)>,
    next_id: u64,
}

impl HintStore {
    /// An empty store.
    pub fn new() -> HintStore {
        HintStore::default()
    }

    /// Keeps a hint for `target`.
    pub fn store(&mut self, target: NodeId, key: &str, cell: Cell) {
        self.next_id += 1;
        self.by_target.entry(target).or_default().insert(
            self.next_id,
            Hint {
                key: key.to_string(),
                cell,
            },
        );
    }

    /// Number of hints held.
    pub fn len(&self) -> usize {
        self.by_target.values().map(BTreeMap::len).sum()
    }

    /// Whether no hint is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Targets that have hints, in node order.
    pub fn targets(&self) -> Vec<NodeId> {
        self.by_target
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(t, _)| *t)
            .collect()
    }

    /// Up to `limit` hints for `target` not already being replayed; marks them in flight.
    pub fn take_batch(&mut self, target: NodeId, limit: usize) -> Vec<(u64, Hint)> {
        let Some(hints) = self.by_target.get(&target) else {
            return Vec::new();
        };
        let batch: Vec<(u64, Hint)> = hints
            .iter()
            .filter(|(id, _)| !self.in_flight.contains(&(target, **id)))
            .take(limit)
            .map(|(id, h)| (*id, h.clone()))
            .collect();
        for (id, _) in &batch {
            self.in_flight.insert((target, *id));
        }
        batch
    }

    /// The replica acknowledged hint `id`: it is delivered and forgotten.
    pub fn delivered(&mut self, target: NodeId, id: u64) -> Option<Hint> {
        self.in_flight.remove(&(target, id));
        let hints = self.by_target.get_mut(&target)?;
        let h = hints.remove(&id);
        if hints.is_empty() {
            self.by_target.remove(&target);
        }
        h
    }

    /// The replay of hint `id` got no answer: it may be retried.
    pub fn retry(&mut self, target: NodeId, id: u64) {
        self.in_flight.remove(&(target, id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_skip_in_flight_and_delivery_forgets() {
        let c = Cell {
            timestamp: 1,
            writer: NodeId(0),
            value: Some(1),
        };
        let mut h = HintStore::new();
        h.store(NodeId(1), "a", c);
        h.store(NodeId(1), "b", c);
        let b1 = h.take_batch(NodeId(1), 1);
        assert_eq!(b1.len(), 1);
        let b2 = h.take_batch(NodeId(1), 10);
        assert_eq!(b2.len(), 1);
        assert!(h.take_batch(NodeId(1), 10).is_empty());
        h.retry(NodeId(1), b2[0].0);
        assert!(h.delivered(NodeId(1), b1[0].0).is_some());
        assert_eq!(h.len(), 1);
        assert_eq!(h.take_batch(NodeId(1), 10).len(), 1);
    }
}
