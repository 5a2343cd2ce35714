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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::config::{FsyncPolicy, StoreConfig};
    use crate::store::outbox::Effect;
    use crate::store::storage::{bucket_of, Storage};
    use crate::store::testkit::{at, cell, cx, ring, sends};
    use std::time::Duration;

    fn config(nodes: usize, rf: usize) -> StoreConfig {
        StoreConfig {
            nodes,
            rf,
            anti_entropy: true,
            anti_entropy_interval: Duration::from_secs(1),
            ..StoreConfig::default()
        }
    }

    fn detector(config: &StoreConfig, me: u16) -> FailureDetector {
        let timeout = config.failure_timeout.as_micros() as u64;
        FailureDetector::new(NodeId(me), config.nodes, timeout, 0)
    }

    /// A replica holding `cells`, applied without effects.
    fn replica_of(config: &StoreConfig, cells: &[(&str, Cell)]) -> Replica {
        let mut r = Replica::new(Storage::new());
        let mut cx = cx(0, config, 0);
        for (k, c) in cells {
            r.apply(&mut cx, k, *c);
        }
        r
    }

    /// Keys `k0`, `k1`, ... each in a bucket of its own, `n` of them.
    fn keys_in_distinct_buckets(n: usize) -> Vec<String> {
        let mut seen = BTreeSet::new();
        (0..)
            .map(|i| format!("k{i}"))
            .filter(|k| seen.insert(bucket_of(k)))
            .take(n)
            .collect()
    }

    #[test]
    fn a_round_sends_the_next_live_peer_the_digests_of_the_keys_both_replicate() {
        let config = config(5, 3);
        let ring = ring(&config);
        let both = |k: &str, a: u16, b: u16| {
            let r = ring.replicas(k, 3);
            r.contains(&NodeId(a)) && r.contains(&NodeId(b))
        };
        // Node 0's keys: some it shares with node 1, some it does not.
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let mine: Vec<(&str, Cell)> = (keys.iter())
            .filter(|k| ring.replicas(k, 3).contains(&NodeId(0)))
            .map(|k| (k.as_str(), cell(1_000, 0, Some(1))))
            .collect();
        assert!(mine.iter().any(|(k, _)| !both(k, 0, 1)));
        let replica = replica_of(&config, &mine);
        let mut ae = AntiEntropy::new(NodeId(0));
        let mut cx = cx(0, &config, 2_000);
        let mut fd = detector(&config, 0);
        ae.on_timer(&mut cx, &replica, &fd);
        let effects = cx.out().take();
        let Effect::Send {
            to: Dest::Node(NodeId(1)),
            msg:
                Message::AeDigest {
                    round: 101,
                    buckets,
                },
        } = &effects[0]
        else {
            panic!("{effects:?}")
        };
        let shared: Storage = {
            let mut s = Storage::new();
            for (k, c) in mine.iter().filter(|(k, _)| both(k, 0, 1)) {
                s.apply(k, *c);
            }
            s
        };
        let expected: Vec<(u16, u64)> = shared.digests(|_| true).into_iter().collect();
        assert_eq!(*buckets, expected);
        assert_eq!(
            effects[1..],
            [Effect::SetTimer {
                at: 3_000_000,
                timer: Timer::AntiEntropy
            }]
        );
        // The next round goes to node 2, or, with node 2 seen down, node 3.
        fd.heard(NodeId(1), 2_500_000);
        fd.heard(NodeId(3), 2_500_000);
        fd.expire(2_600_000);
        cx.set_now(at(3_000));
        ae.on_timer(&mut cx, &replica, &fd);
        let to: Vec<Dest> = sends(&cx.out().take())
            .into_iter()
            .map(|(to, _)| to)
            .collect();
        assert_eq!(to, [Dest::Node(NodeId(3))]);
        assert_eq!(cx.outbox().counters().anti_entropy_rounds, 2);
    }

    #[test]
    fn only_the_cells_of_differing_buckets_are_exchanged_and_the_newer_ones_kept() {
        // Two nodes replicating every key, so that each key is shared.
        let config = config(2, 2);
        let k = keys_in_distinct_buckets(4);
        let (same, same2, diff, only_b) = (&k[0], &k[1], &k[2], &k[3]);
        let (old, new) = (cell(1_000, 1, Some(1)), cell(2_000, 0, Some(2)));
        let agreed = cell(500, 0, Some(0));
        let mut a = replica_of(&config, &[(same, agreed), (same2, agreed), (diff, new)]);
        let mut b = replica_of(
            &config,
            &[(same, agreed), (same2, agreed), (diff, old), (only_b, old)],
        );
        let (mut cx_a, mut cx_b) = (cx(0, &config, 10), cx(1, &config, 10));
        let digests: Vec<(u16, u64)> = a.storage().digests(|_| true).into_iter().collect();
        let ae_a = AntiEntropy::new(NodeId(0));
        let ae_b = AntiEntropy::new(NodeId(1));

        // B answers with its cells in the two buckets that differ, and asks for A's.
        ae_b.on_digest(&mut cx_b, &b, NodeId(0), 7, digests);
        let mut want = vec![bucket_of(diff), bucket_of(only_b)];
        want.sort();
        let mut b_cells = vec![(diff.clone(), old), (only_b.clone(), old)];
        b_cells.sort_by(|x, y| x.0.cmp(&y.0));
        let cells_msg = Message::AeCells {
            round: 7,
            cells: b_cells.clone(),
            want: want.clone(),
        };
        assert_eq!(
            cx_b.out().take(),
            [Effect::Send {
                to: Dest::Node(NodeId(0)),
                msg: cells_msg
            }]
        );

        // A keeps its newer cell, takes the one it lacked, and pushes its cells in those
        // buckets back.
        ae_a.on_cells(&mut cx_a, &mut a, NodeId(1), 7, b_cells, want);
        let mut pushed = vec![(diff.clone(), new), (only_b.clone(), old)];
        pushed.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            cx_a.out().take(),
            [
                Effect::Append {
                    key: only_b.clone(),
                    cell: old
                },
                Effect::Send {
                    to: Dest::Node(NodeId(1)),
                    msg: Message::AePush {
                        round: 7,
                        cells: pushed.clone()
                    }
                },
            ]
        );
        assert_eq!(cx_a.outbox().counters().anti_entropy_cells, 1);

        // B takes the newer cell; the two now agree.
        ae_b.on_push(&mut cx_b, &mut b, pushed);
        assert_eq!(
            cx_b.out().take(),
            [Effect::Append {
                key: diff.clone(),
                cell: new
            }]
        );
        assert_eq!(a.storage().digests(|_| true), b.storage().digests(|_| true));
    }

    #[test]
    fn merged_cells_are_synced_under_always_and_foreign_keys_are_refused() {
        let config = StoreConfig {
            fsync: FsyncPolicy::Always,
            ..config(5, 3)
        };
        let ring = ring(&config);
        let replicates = |k: &String| ring.replicas(k, 3).contains(&NodeId(0));
        let keys: Vec<String> = (0..).map(|i| format!("k{i}")).take(40).collect();
        let mine = keys.iter().find(|k| replicates(k)).unwrap().clone();
        let foreign = keys.iter().find(|k| !replicates(k)).unwrap().clone();
        let c = cell(1_000, 2, Some(3));
        let mut r = Replica::new(Storage::new());
        let mut cx = cx(0, &config, 10);
        AntiEntropy::new(NodeId(0)).on_push(
            &mut cx,
            &mut r,
            vec![(foreign.clone(), c), (mine.clone(), c)],
        );
        assert_eq!(
            cx.out().take(),
            [
                Effect::Append {
                    key: mine.clone(),
                    cell: c
                },
                Effect::Sync
            ]
        );
        assert!(r.get(&foreign).is_none());
        assert_eq!(cx.outbox().counters().unexpected_dropped, 1);
    }
}
