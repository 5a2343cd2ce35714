//! The nemesis: applies a scenario's fault schedule to the running simulation.
//!
//! Faults overlap freely. Rather than undoing each fault on its own (which goes wrong when two
//! partitions overlap and the first one heals), the nemesis keeps the set of active faults and,
//! whenever it changes, derives the state every link, process and clock should be in and applies
//! only the differences. Links between clients and nodes are untouched by partitions (a client
//! can reach any coordinator; a coordinator on the minority side answers Unavailable or times
//! out), but a paused node is cut from clients too.
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::scenario::{Fault, FaultKind, PartitionShape, Scenario};
use crate::system::{Cluster, FaultChange, LinkState};

/// One entry of the nemesis log, written into the history so a reader sees what happened when.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct NemesisEntry {
    /// Simulated nanoseconds since the start of the run.
    pub time: u64,
    /// `start` or `end`.
    pub action: &'static str,
    /// The fault's index in the scenario's schedule.
    pub index: usize,
    /// The fault's short name.
    pub fault: &'static str,
    /// The fault's details, with node indices resolved to the nodes affected.
    pub detail: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// End events sort before start events at the same instant, so back-to-back windows hand
    /// over cleanly.
    End,
    Start,
}

/// Applies a fault schedule to a simulation.
pub struct Nemesis {
    nodes: usize,
    /// Every node's turmoil host name, by node index.
    hosts: Vec<String>,
    base_max_latency_ms: u64,
    faults: Vec<Fault>,
    /// (time in ms, edge, fault index), sorted; `next` points at the first not yet applied.
    events: Vec<(u64, Edge, usize)>,
    next: usize,
    /// The faults armed by a write (`Fault::after_write`), by the value it writes, until it is
    /// issued.
    armed_by: BTreeMap<i64, Vec<usize>>,
    active: Vec<bool>,
    links: BTreeMap<(usize, usize), LinkState>,
    client_links_held: BTreeMap<usize, bool>,
    fail_rate: f64,
    max_latency_ms: u64,
    down: Vec<bool>,
    clock_offsets: Vec<i64>,
    log: Vec<NemesisEntry>,
}

impl Nemesis {
    /// Prepares the schedule of a scenario, for a cluster whose node `i` is the turmoil host
    /// `hosts[i]`.
    pub fn new(scenario: &Scenario, hosts: Vec<String>) -> Self {
        let nodes = scenario.system.nodes();
        let mut events = Vec::with_capacity(scenario.faults.len() * 2);
        let mut armed_by: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, f) in scenario.faults.iter().enumerate() {
            match f.after_write {
                // Scheduled once its write is issued (see `arm`).
                Some(value) => armed_by.entry(value).or_default().push(i),
                None => {
                    events.push((f.at_ms, Edge::Start, i));
                    events.push((f.at_ms.saturating_add(f.kind.duration_ms()), Edge::End, i));
                }
            }
        }
        events.sort();
        let mut links = BTreeMap::new();
        for a in 0..nodes {
            for b in a + 1..nodes {
                links.insert((a, b), LinkState::Healthy);
            }
        }
        Nemesis {
            nodes,
            hosts,
            base_max_latency_ms: scenario.network.max_latency_ms,
            faults: scenario.faults.clone(),
            events,
            next: 0,
            armed_by,
            active: vec![false; scenario.faults.len()],
            links,
            client_links_held: BTreeMap::new(),
            fail_rate: 0.0,
            max_latency_ms: scenario.network.max_latency_ms,
            down: vec![false; nodes],
            clock_offsets: vec![0; nodes],
            log: Vec::new(),
        }
    }

    /// Whether some fault waits for a write to be issued (see [`Nemesis::write_issued`]).
    pub fn waits_for_writes(&self) -> bool {
        !self.armed_by.is_empty()
    }

    /// A client issued the put of `value` at `at_ms`: the faults it arms are scheduled from
    /// then. A value written twice arms them once, at its first put.
    pub fn write_issued(&mut self, value: i64, at_ms: u64) {
        let Some(faults) = self.armed_by.remove(&value) else {
            return;
        };
        for i in faults {
            let f = &self.faults[i];
            let start = at_ms.saturating_add(f.at_ms);
            for event in [
                (start, Edge::Start, i),
                (start.saturating_add(f.kind.duration_ms()), Edge::End, i),
            ] {
                // Among the events still to come, in order; never before `next`, so an event
                // due already is applied at the next `apply_due`.
                let at = self.next + self.events[self.next..].partition_point(|e| *e < event);
                self.events.insert(at, event);
            }
        }
    }

    /// The simulated time in ms of the next scheduled event, if any.
    pub fn next_event_ms(&self) -> Option<u64> {
        self.events.get(self.next).map(|e| e.0)
    }

    /// Applies every event due at or before `now_ms`.
    pub fn apply_due(
        &mut self,
        now_ms: u64,
        now_ns: u64,
        sim: &mut turmoil::Sim<'_>,
        cluster: &dyn Cluster,
        clients: &[String],
    ) {
        let mut changed = false;
        while let Some(&(at, edge, index)) = self.events.get(self.next) {
            if at > now_ms {
                break;
            }
            self.next += 1;
            let start = edge == Edge::Start;
            if self.active[index] == start {
                continue;
            }
            // An end whose start never happened (healed early) is skipped above; a start after
            // heal_all is dropped by heal_all advancing `next` past everything.
            self.active[index] = start;
            self.log_edge(now_ns, if start { "start" } else { "end" }, index);
            changed = true;
        }
        if changed {
            self.reconcile(sim, cluster, clients);
        }
    }

    /// Ends every active fault now and drops those not yet started: the final phase.
    pub fn heal_all(
        &mut self,
        now_ns: u64,
        sim: &mut turmoil::Sim<'_>,
        cluster: &dyn Cluster,
        clients: &[String],
    ) {
        for index in 0..self.active.len() {
            if self.active[index] {
                self.active[index] = false;
                self.log_edge(now_ns, "end", index);
            }
        }
        self.next = self.events.len();
        self.armed_by.clear();
        self.reconcile(sim, cluster, clients);
    }

    /// The entries logged so far.
    pub fn log(&self) -> &[NemesisEntry] {
        &self.log
    }

    /// Consumes the nemesis, returning its log.
    pub fn into_log(self) -> Vec<NemesisEntry> {
        self.log
    }

    fn log_edge(&mut self, now_ns: u64, action: &'static str, index: usize) {
        let kind = &self.faults[index].kind;
        self.log.push(NemesisEntry {
            time: now_ns,
            action,
            index,
            fault: kind.name(),
            detail: self.detail(kind),
        });
    }

    fn detail(&self, kind: &FaultKind) -> serde_json::Value {
        let n = self.nodes;
        match kind {
            FaultKind::Partition { shape, duration_ms } => {
                let (a, b): (Vec<usize>, Vec<usize>) =
                    (0..n).partition(|&x| side_of(shape, n, x) == Side::A);
                let bridge = match shape {
                    PartitionShape::Bridge { node } => Some(*node as usize % n),
                    _ => None,
                };
                match shape {
                    PartitionShape::Ring => json!({"shape": "ring", "duration_ms": duration_ms}),
                    _ => json!({"sides": [a, b], "bridge": bridge, "duration_ms": duration_ms}),
                }
            }
            FaultKind::Crash {
                node,
                count,
                down_ms,
            } => {
                let nodes: Vec<usize> = (0..*count as usize)
                    .map(|i| (*node as usize + i) % n)
                    .collect();
                json!({"nodes": nodes, "down_ms": down_ms})
            }
            FaultKind::Loss {
                percent,
                duration_ms,
            } => {
                json!({"percent": percent, "duration_ms": duration_ms})
            }
            FaultKind::Latency {
                max_ms,
                duration_ms,
            } => {
                json!({"max_ms": max_ms, "duration_ms": duration_ms})
            }
            FaultKind::Skew {
                node,
                offset_ms,
                duration_ms,
            } => {
                json!({"node": *node as usize % n, "offset_ms": offset_ms, "duration_ms": duration_ms})
            }
            FaultKind::Pause { node, duration_ms } => {
                json!({"node": *node as usize % n, "duration_ms": duration_ms})
            }
        }
    }

    /// Derives the wanted state from the active faults and applies the differences.
    fn reconcile(&mut self, sim: &mut turmoil::Sim<'_>, cluster: &dyn Cluster, clients: &[String]) {
        let n = self.nodes;
        let active: Vec<&FaultKind> = self
            .faults
            .iter()
            .zip(&self.active)
            .filter(|(_, &on)| on)
            .map(|(f, _)| &f.kind)
            .collect();

        let mut paused = vec![false; n];
        let mut down = vec![false; n];
        let mut offsets = vec![0i64; n];
        let mut fail_rate = 0.0f64;
        let mut max_latency = self.base_max_latency_ms;
        for kind in &active {
            match **kind {
                FaultKind::Pause { node, .. } => paused[node as usize % n] = true,
                FaultKind::Crash { node, count, .. } => {
                    for i in 0..count as usize {
                        down[(node as usize + i) % n] = true;
                    }
                }
                FaultKind::Skew {
                    node, offset_ms, ..
                } => offsets[node as usize % n] += offset_ms,
                FaultKind::Loss { percent, .. } => {
                    fail_rate = fail_rate.max(percent as f64 / 100.0)
                }
                FaultKind::Latency { max_ms, .. } => max_latency = max_latency.max(max_ms),
                FaultKind::Partition { .. } => {}
            }
        }

        // Node-to-node links.
        let pairs: Vec<(usize, usize)> = self.links.keys().copied().collect();
        for (a, b) in pairs {
            let cut = active.iter().any(|k| match k {
                FaultKind::Partition { shape, .. } => separated(shape, n, a, b),
                _ => false,
            });
            let want = if cut {
                LinkState::Cut
            } else if paused[a] || paused[b] {
                LinkState::Held
            } else {
                LinkState::Healthy
            };
            let have = self.links[&(a, b)];
            if want != have {
                let (ha, hb) = (&self.hosts[a], &self.hosts[b]);
                match want {
                    LinkState::Cut => sim.partition(ha.as_str(), hb.as_str()),
                    LinkState::Held => sim.hold(ha.as_str(), hb.as_str()),
                    // release() both heals a cut and delivers what a hold kept back.
                    LinkState::Healthy => sim.release(ha.as_str(), hb.as_str()),
                }
                cluster.apply(FaultChange::Link { a, b, state: want });
                self.links.insert((a, b), want);
            }
        }

        // Client-to-node links: held only while the node is paused.
        for (node, &p) in paused.iter().enumerate() {
            let was = self.client_links_held.get(&node).copied().unwrap_or(false);
            if p != was {
                let h = &self.hosts[node];
                for c in clients {
                    if p {
                        sim.hold(h.as_str(), c.as_str());
                    } else {
                        sim.release(h.as_str(), c.as_str());
                    }
                }
                cluster.apply(FaultChange::Paused { node, paused: p });
                self.client_links_held.insert(node, p);
            }
        }

        // Loss and latency act through the link model, which decides each message's fate from
        // the message itself, so shrinking keeps the fate of the messages it leaves in.
        if fail_rate != self.fail_rate || max_latency != self.max_latency_ms {
            cluster.apply(FaultChange::Loss {
                percent: (fail_rate * 100.0).round() as u8,
            });
            cluster.apply(FaultChange::MaxLatency {
                ms: if max_latency > self.base_max_latency_ms {
                    max_latency
                } else {
                    0
                },
            });
            self.fail_rate = fail_rate;
            self.max_latency_ms = max_latency;
        }

        for node in 0..n {
            if down[node] != self.down[node] {
                let h = &self.hosts[node];
                if down[node] {
                    sim.crash(h.as_str());
                } else {
                    sim.bounce(h.as_str());
                }
                cluster.apply(FaultChange::Down {
                    node,
                    down: down[node],
                });
                self.down[node] = down[node];
            }
            if offsets[node] != self.clock_offsets[node] {
                cluster.apply(FaultChange::ClockOffset {
                    node,
                    micros: offsets[node] * 1000,
                });
                self.clock_offsets[node] = offsets[node];
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    A,
    B,
    /// A bridge node: on both sides.
    Both,
}

/// Which side of a two-sided partition a node is on (ring partitions have no sides).
fn side_of(shape: &PartitionShape, n: usize, x: usize) -> Side {
    match *shape {
        PartitionShape::Halves { mask } => {
            let m = (0..n).filter(|&i| mask & (1 << (i % 32)) != 0).count();
            if m == 0 || m == n {
                // Degenerate mask: isolate node 0.
                if x == 0 {
                    Side::A
                } else {
                    Side::B
                }
            } else if mask & (1 << (x % 32)) != 0 {
                Side::A
            } else {
                Side::B
            }
        }
        PartitionShape::Isolate { node } => {
            if x == node as usize % n {
                Side::A
            } else {
                Side::B
            }
        }
        PartitionShape::Bridge { node } => {
            let bridge = node as usize % n;
            // Rotate so the bridge is position 0; the others split into two halves.
            let pos = (x + n - bridge) % n;
            if pos == 0 {
                Side::Both
            } else if pos <= (n - 1) / 2 {
                Side::A
            } else {
                Side::B
            }
        }
        PartitionShape::Ring => Side::Both,
    }
}

/// Whether a partition of this shape cuts the link between nodes a and b.
fn separated(shape: &PartitionShape, n: usize, a: usize, b: usize) -> bool {
    match shape {
        PartitionShape::Ring => {
            // Each node sees the nodes within ring distance k, with k the smallest that makes
            // that a majority: n=5 -> 1 (sees 3 of 5), n=7 -> 2 (sees 5 of 7). With 3 nodes
            // every node is within distance 1, so a ring partition of 3 cuts nothing.
            let majority = n / 2 + 1;
            let k = majority / 2;
            let d = a.abs_diff(b);
            d.min(n - d) > k
        }
        _ => {
            let (sa, sb) = (side_of(shape, n, a), side_of(shape, n, b));
            sa != Side::Both && sb != Side::Both && sa != sb
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(shape: &PartitionShape, n: usize) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                if separated(shape, n, a, b) {
                    v.push((a, b));
                }
            }
        }
        v
    }

    #[test]
    fn isolate_cuts_one_node_from_all_others() {
        assert_eq!(
            cut(&PartitionShape::Isolate { node: 7 }, 5),
            vec![(0, 2), (1, 2), (2, 3), (2, 4)]
        );
    }

    #[test]
    fn halves_follow_the_mask_and_degenerate_masks_isolate_node_zero() {
        assert_eq!(
            cut(&PartitionShape::Halves { mask: 0b011 }, 3),
            vec![(0, 2), (1, 2)]
        );
        assert_eq!(
            cut(&PartitionShape::Halves { mask: 0 }, 3),
            vec![(0, 1), (0, 2)]
        );
        assert_eq!(
            cut(&PartitionShape::Halves { mask: 0b111 }, 3),
            vec![(0, 1), (0, 2)]
        );
    }

    #[test]
    fn ring_gives_every_node_a_different_majority() {
        let n = 5;
        let c = cut(&PartitionShape::Ring, n);
        for x in 0..n {
            let sees = (0..n)
                .filter(|&y| y == x || !c.contains(&(x.min(y), x.max(y))))
                .count();
            assert_eq!(sees, 3, "node {x} should see a bare majority");
        }
        assert!(cut(&PartitionShape::Ring, 3).is_empty());
    }

    #[test]
    fn bridge_node_sees_both_sides_which_do_not_see_each_other() {
        let c = cut(&PartitionShape::Bridge { node: 0 }, 5);
        assert!(c.iter().all(|&(a, b)| a != 0 && b != 0));
        assert_eq!(c, vec![(1, 3), (1, 4), (2, 3), (2, 4)]);
    }

    #[test]
    fn a_fault_armed_by_a_write_is_scheduled_from_when_that_write_is_issued() {
        use crate::scenario::Fault;
        use crate::strategy::ScenarioShape;
        use crate::systems::leaderless::StoreConfig;
        let mut s = crate::explore::generate(&ScenarioShape::new(StoreConfig::default(), &[]), 1);
        let crash = |node| FaultKind::Crash {
            node,
            count: 1,
            down_ms: 20,
        };
        s.faults = vec![
            Fault::at(100, crash(0)),
            Fault {
                after_write: Some(77),
                ..Fault::at(8, crash(1))
            },
        ];
        let mut n = Nemesis::new(&s, vec![]);
        assert!(n.waits_for_writes());
        assert_eq!(n.next_event_ms(), Some(100), "the armed fault waits");
        // Another value arms nothing; the put of 77 at 40 ms starts its crash at 48 ms,
        // ahead of the one timed by the clock, and ends it 20 ms later.
        n.write_issued(5, 30);
        assert_eq!(n.next_event_ms(), Some(100));
        n.write_issued(77, 40);
        assert!(!n.waits_for_writes());
        let times: Vec<u64> = n.events.iter().map(|e| e.0).collect();
        assert_eq!(times, vec![48, 68, 100, 120]);
        // A second put of the same value arms nothing again.
        n.write_issued(77, 60);
        assert_eq!(n.events.len(), 4);
    }
}
