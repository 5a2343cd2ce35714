//! Anti-entropy: a node periodically compares, with one peer at a time, per-bucket digests of
//! the keys both replicate, and the two exchange every cell of the buckets that differ.
//!
//! Three datagrams per round: `AeDigest` (initiator's digests), `AeCells` (responder's cells
//! in the differing buckets, and which buckets it wants), `AePush` (initiator's cells in those
//! buckets). Every cell is merged by last-write-wins, so a lost datagram only delays
//! convergence to a later round. Datagrams are not split: a very large differing range makes a
//! large datagram, which turmoil carries but a real network would not.

use std::collections::{BTreeMap, BTreeSet};

use super::cell::{Cell, NodeId};
use super::control::EventKind;
use super::message::Message;
use super::node::{Node, Now};
use super::ring::Ring;

fn shares(ring: &Ring, rf: usize, a: NodeId, b: NodeId) -> impl Fn(&str) -> bool + '_ {
    move |key: &str| {
        let r = ring.replicas(key, rf);
        r.contains(&a) && r.contains(&b)
    }
}

impl Node {
    /// Starts a round with the next live peer in turn.
    pub(super) fn start_anti_entropy(&mut self, _now: Now) {
        let n = self.config.nodes;
        for _ in 0..n {
            let peer = NodeId((self.ae_next % n) as u16);
            self.ae_next += 1;
            if peer == self.id || !self.detector.is_up(peer) {
                continue;
            }
            let digests = self
                .storage
                .digests(shares(&self.ring, self.config.rf, self.id, peer));
            let round = self.next_req();
            self.counters.anti_entropy_rounds += 1;
            self.trace(EventKind::AntiEntropy { peer });
            self.send(
                peer,
                &Message::AeDigest {
                    round,
                    buckets: digests.into_iter().collect(),
                },
            );
            return;
        }
    }

    pub(super) fn on_ae_digest(&mut self, peer: NodeId, round: u64, buckets: Vec<(u16, u64)>) {
        let shared = shares(&self.ring, self.config.rf, self.id, peer);
        let mine = self.storage.digests(&shared);
        let theirs: BTreeMap<u16, u64> = buckets.into_iter().collect();
        let want: BTreeSet<u16> = mine
            .keys()
            .chain(theirs.keys())
            .copied()
            .filter(|b| mine.get(b) != theirs.get(b))
            .collect();
        let cells = self.storage.cells_in(&want, &shared);
        drop(shared);
        self.send(
            peer,
            &Message::AeCells {
                round,
                cells,
                want: want.into_iter().collect(),
            },
        );
    }

    pub(super) fn on_ae_cells(
        &mut self,
        peer: NodeId,
        round: u64,
        cells: Vec<(String, Cell)>,
        want: Vec<u16>,
    ) {
        self.merge_cells(cells);
        let want: BTreeSet<u16> = want.into_iter().collect();
        let mine = self
            .storage
            .cells_in(&want, shares(&self.ring, self.config.rf, self.id, peer));
        self.send(peer, &Message::AePush { round, cells: mine });
    }

    pub(super) fn on_ae_push(&mut self, cells: Vec<(String, Cell)>) {
        self.merge_cells(cells);
    }

    fn merge_cells(&mut self, cells: Vec<(String, Cell)>) {
        for (key, cell) in cells {
            // Only cells this node replicates: a confused or hostile peer cannot plant others.
            if !self.ring.replicas(&key, self.config.rf).contains(&self.id) {
                self.counters.unexpected_dropped += 1;
                continue;
            }
            if self.apply(&key, cell) {
                self.counters.anti_entropy_cells += 1;
            }
        }
        self.sync_if_always();
    }
}
