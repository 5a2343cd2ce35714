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
use super::failure::FailureDetector;
use super::message::Message;
use super::outbox::{Ctx, Dest, Timer};
use super::replica::Replica;
use super::ring::Ring;

fn shares(ring: &Ring, rf: usize, a: NodeId, b: NodeId) -> impl Fn(&str) -> bool + '_ {
    move |key: &str| {
        let r = ring.replicas(key, rf);
        r.contains(&a) && r.contains(&b)
    }
}

/// Whose turn it is: this node's anti-entropy rounds go to its peers one after another.
#[derive(Debug, Clone)]
pub struct AntiEntropy {
    /// The peer to try next (modulo the node count).
    next: usize,
}

impl AntiEntropy {
    /// Node `me`'s rounds start with the node after it.
    pub(super) fn new(me: NodeId) -> AntiEntropy {
        AntiEntropy {
            next: me.index() + 1,
        }
    }

    /// Arms the first round, if anti-entropy is on, at a random point of the first interval
    /// so the nodes' rounds do not all start together.
    pub(super) fn start(&self, cx: &mut Ctx) {
        if cx.config().anti_entropy {
            let ae = cx.config().anti_entropy_interval.as_micros() as u64;
            let jitter = cx.random() % ae.max(1);
            let at = cx.now().mono + ae + jitter;
            cx.out().set_timer(at, Timer::AntiEntropy);
        }
    }

    /// The round timer fired: start a round and arm the next.
    pub(super) fn on_timer(&mut self, cx: &mut Ctx, replica: &Replica, detector: &FailureDetector) {
        self.start_round(cx, replica, detector);
        let ae = cx.config().anti_entropy_interval.as_micros() as u64;
        let at = cx.now().mono + ae;
        cx.out().set_timer(at, Timer::AntiEntropy);
    }

    /// Starts a round with the next live peer in turn.
    fn start_round(&mut self, cx: &mut Ctx, replica: &Replica, detector: &FailureDetector) {
        let n = cx.config().nodes;
        for _ in 0..n {
            let peer = NodeId((self.next % n) as u16);
            self.next += 1;
            if peer == cx.id() || !detector.is_up(peer) {
                continue;
            }
            let digests =
                replica
                    .storage()
                    .digests(shares(cx.ring(), cx.config().rf, cx.id(), peer));
            let round = cx.next_req();
            cx.out().count().anti_entropy_rounds += 1;
            cx.out().trace(EventKind::AntiEntropy { peer });
            cx.out().send(
                Dest::Node(peer),
                Message::AeDigest {
                    round,
                    buckets: digests.into_iter().collect(),
                },
            );
            return;
        }
    }

    /// Step 2, at the responder: compare digests, send the cells of the buckets that differ
    /// and ask for the initiator's.
    pub(super) fn on_digest(
        &self,
        cx: &mut Ctx,
        replica: &Replica,
        peer: NodeId,
        round: u64,
        buckets: Vec<(u16, u64)>,
    ) {
        let shared = shares(cx.ring(), cx.config().rf, cx.id(), peer);
        let mine = replica.storage().digests(&shared);
        let theirs: BTreeMap<u16, u64> = buckets.into_iter().collect();
        let want: BTreeSet<u16> = mine
            .keys()
            .chain(theirs.keys())
            .copied()
            .filter(|b| mine.get(b) != theirs.get(b))
            .collect();
        let cells = replica.storage().cells_in(&want, &shared);
        drop(shared);
        cx.out().send(
            Dest::Node(peer),
            Message::AeCells {
                round,
                cells,
                want: want.into_iter().collect(),
            },
        );
    }

    /// Step 3, at the initiator: merge the responder's cells and push back its own in the
    /// buckets it wants.
    pub(super) fn on_cells(
        &self,
        cx: &mut Ctx,
        replica: &mut Replica,
        peer: NodeId,
        round: u64,
        cells: Vec<(String, Cell)>,
        want: Vec<u16>,
    ) {
        merge_cells(cx, replica, cells);
        let want: BTreeSet<u16> = want.into_iter().collect();
        let mine = replica
            .storage()
            .cells_in(&want, shares(cx.ring(), cx.config().rf, cx.id(), peer));
        cx.out()
            .send(Dest::Node(peer), Message::AePush { round, cells: mine });
    }

    /// The round's end, at the responder: merge the initiator's cells.
    pub(super) fn on_push(&self, cx: &mut Ctx, replica: &mut Replica, cells: Vec<(String, Cell)>) {
        merge_cells(cx, replica, cells);
    }
}

fn merge_cells(cx: &mut Ctx, replica: &mut Replica, cells: Vec<(String, Cell)>) {
    for (key, cell) in cells {
        // Only cells this node replicates: a confused or hostile peer cannot plant others.
        if !cx.ring().replicas(&key, cx.config().rf).contains(&cx.id()) {
            cx.out().count().unexpected_dropped += 1;
            continue;
        }
        if replica.apply(cx, &key, cell) {
            cx.out().count().anti_entropy_cells += 1;
        }
    }
    replica.sync_if_always(cx);
}
