//! The workloads the matrix search mixes: each aims at a race quorum stores have.
//!
//! A search cycles through every workload and, across rounds, through every replica choice
//! (ordered, shuffled, snitch), so each configuration meets hot keys, read-after-write chains,
//! slow replicas, read-mostly registers, writes cut in the middle and faults that outlast the
//! failure detector. Every
//! workload is an ordinary scenario strategy: it shrinks like any other, and a saved case holds
//! the scenario it produced, not the workload's name, so replay needs nothing from here.
use crate::systems::leaderless::{ReplicaChoice, StoreConfig};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use serde::Serialize;
use strum::VariantArray;

use crate::scenario::{
    Fault, FaultKind, NetworkConfig, PartitionShape, PlannedKind, Scenario, SlowLink, SlowWrite,
    SystemConfig,
};
use crate::strategy::{read_after_write, scenario, FaultChoice, ScenarioShape};
use crate::theory::Mechanism;

/// One workload of the search. The order a search's rotation cycles through them is
/// [`VariantArray::VARIANTS`]; the workloads of [`Workload::AIMED_ONLY`] never take part in the
/// rotation and run only in the scenarios aimed at a mechanism they aim at. A workload's name
/// ([`Workload::name`], serde) is its variant's, in kebab case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Workload {
    /// 4 clients, 60 ops over 3 keys, 10 ms think time: the generic mix.
    Standard,
    /// 8 clients on one key with 2 ms think time: writes are always in flight while reads run.
    HotKey,
    /// Read-after-write chains: a client writes and reads back at once while two others read
    /// the key through other coordinators.
    ReadAfterWrite,
    /// One node slow to reach the other nodes (10 to 60 ms more on everything it sends them, not
    /// on its answers to clients), one more slow directed link, and a long tail on every link:
    /// a write that node coordinates is acknowledged while it is still in flight to the other
    /// replicas, and reads through other coordinators reach them first.
    SlowReplica,
    /// Many short faults (2 to 30 ms) over eight keys, and most nodes slow to take writes:
    /// faults that begin in the middle of a write and end before the failure detector notices,
    /// leaving the write on fewer than W replicas (often as the key's last op); every crash
    /// takes the coordinator of a write just after it was issued, while its sends to the slow
    /// replicas still wait in its queue.
    PartialWrites,
    /// Faults that last 1.5 to 3 times the failure timeout over a 3 s workload: replicas are
    /// marked down, requests answer Unavailable, hints are stored and replayed while new writes
    /// arrive.
    DownPath,
    /// Three clients reading and writing one key for most of a second, and every crash a power
    /// failure of the whole cluster in the last third of the workload that lasts past its end:
    /// the key settles on what the commit logs had synced, with no later write to hide a lost
    /// one.
    PowerFailure,
    /// Six clients on one key, 85% reads, 5 ms think time and the long tail: a write stays the
    /// key's newest for long enough that every client reads it (or misses it) several times
    /// through different replica sets, so a write that reached one replica first is seen by one
    /// read and missed by the next; the register workload Jepsen runs.
    ReadMostly,
    /// Six clients on one key, 70% reads, 3 ms think time, a long tail, and all nodes but two,
    /// all but one, or all of them slow to take writes (20 to 150 ms more on every write sent
    /// to them, as a loaded commit-log disk would; their reads stay fast): a write lands on a
    /// fast replica (or its coordinator) at once and on the slow ones much later, so for that
    /// long one read set sees it and another does not.
    SlowWrites,
    /// For a store with one leader per key (leader-follower): six clients on one key, every
    /// node slow to take writes, and a fault armed on a put sent to the key's first leader that
    /// cuts that leader off (or crashes it) for longer than the failover takes, so that the same
    /// sessions go through the old leader and then its successor. Where writes wait for a
    /// majority and nothing fences, about half the scenarios add a second leader change that
    /// loses a write the successor committed, with the old leader's own write on a second key.
    /// Aimed only (see [`Workload::AIMED_ONLY`]): the rotation, and so every leaderless cell,
    /// never runs it.
    LeaderChange,
}

impl VariantArray for Workload {
    /// The rotation: every workload but the aimed-only ones, in this order.
    const VARIANTS: &'static [Workload] = &[
        Workload::Standard,
        Workload::HotKey,
        Workload::ReadAfterWrite,
        Workload::SlowReplica,
        Workload::PartialWrites,
        Workload::DownPath,
        Workload::PowerFailure,
        Workload::ReadMostly,
        Workload::SlowWrites,
    ];
}

impl Workload {
    /// The workloads outside the rotation: a search runs them only in its aimed scenarios, while
    /// a predicted break by a mechanism they aim at is not yet found.
    pub const AIMED_ONLY: &'static [Workload] = &[Workload::LeaderChange];

    /// Every workload: the rotation's, then the aimed-only ones.
    pub fn all() -> impl Iterator<Item = Workload> {
        Workload::VARIANTS
            .iter()
            .chain(Workload::AIMED_ONLY)
            .copied()
    }

    /// The workload's name.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether this workload aims at `mechanism`: makes happen what a break by it needs (see
    /// each workload's description). A cell's search gives part of its scenarios to the
    /// workloads aimed at the mechanisms of the guarantees not yet broken.
    pub fn aims_at(self, mechanism: Mechanism) -> bool {
        use Workload::*;
        match mechanism {
            // A read that misses a completed write, or sees one in flight that a later read
            // misses: reads racing writes on shared keys, with writes kept in flight.
            Mechanism::NotStrict | Mechanism::Inversion | Mechanism::Reorder => {
                matches!(
                    self,
                    HotKey | ReadAfterWrite | SlowReplica | ReadMostly | SlowWrites
                )
            }
            // A replica forgetting a write: crashes that land between a write and its sync.
            Mechanism::Amnesia => matches!(self, PartialWrites | PowerFailure),
            // Every holder of the session's later write forgetting it, with no later write to
            // hide the loss: only a power failure near the end of the writes.
            Mechanism::WriteLost => self == PowerFailure,
            // A write left on some replicas with nothing to bring it to the rest: a crash or a
            // cut in the middle of the write, or faults long enough for hints.
            Mechanism::Divergence => matches!(self, PartialWrites | DownPath),
            // A leader change that the same sessions live through: the old leader cut off (or
            // crashed) just after a put sent to it, while the write is on it alone, for longer
            // than the failover, with the sessions' ops sent to it and then to its successor.
            // The other workloads make failovers too (crashed coordinators, long faults, power
            // failures) and keep running in the rotation, but measured with the hitrate bench
            // (60 scenarios each on the three leader-follower cells that predict a failover
            // break) none broke more than 5 of 60 on any guarantee but partial-writes on
            // linearizability, no stale reads and convergence under crashes (21 of 60), where
            // this one broke 55 of 60 or more.
            Mechanism::Failover => self == LeaderChange,
            // A follower behind its leader: reads racing writes on shared keys.
            Mechanism::FollowerLag => {
                matches!(
                    self,
                    HotKey | ReadAfterWrite | SlowReplica | ReadMostly | SlowWrites
                )
            }
        }
    }

    /// The scenario shape of this workload over `store` with faults drawn from `faults`.
    pub fn shape(self, store: StoreConfig, faults: &[FaultChoice]) -> ScenarioShape {
        let failure_timeout = store.failure_timeout;
        self.shape_for(SystemConfig::Leaderless(store), failure_timeout, faults)
    }

    /// The scenario shape of this workload over any system, whose failure detector (or
    /// failover) reacts after `failure_timeout`: the down-path workload's faults outlast it.
    pub fn shape_for(
        self,
        system: SystemConfig,
        failure_timeout: std::time::Duration,
        faults: &[FaultChoice],
    ) -> ScenarioShape {
        // A second of settling covers the slowest way a write reaches a replica after the heal:
        // the coordinator's request timeout (500 ms) stores a hint, the next heartbeat (100 ms)
        // replays it, and the replay takes at most the longest link delay (under 200 ms).
        let base = ScenarioShape {
            settle_ms: 1000,
            ..ScenarioShape::for_system(system, faults)
        };
        match self {
            Workload::Standard => ScenarioShape { ops: 60, ..base },
            Workload::HotKey => ScenarioShape {
                clients: 8,
                ops: 48,
                keys: 1,
                think_ms: 2,
                network: tail(),
                ..base
            },
            Workload::ReadAfterWrite => ScenarioShape {
                clients: 4,
                ops: 48,
                keys: 2,
                think_ms: 4,
                network: tail(),
                ..base
            },
            Workload::SlowReplica => ScenarioShape {
                clients: 6,
                ops: 48,
                keys: 2,
                think_ms: 3,
                ..base
            },
            Workload::PartialWrites => ScenarioShape {
                clients: 6,
                ops: 48,
                keys: 8,
                think_ms: 2,
                max_faults: 6,
                fault_window_ms: Some((2, 30)),
                ..base
            },
            Workload::DownPath => {
                let timeout = failure_timeout.as_millis() as u64;
                ScenarioShape {
                    clients: 4,
                    ops: 48,
                    keys: 2,
                    think_ms: 250,
                    max_faults: 2,
                    fault_window_ms: Some((timeout * 3 / 2, timeout * 3)),
                    settle_ms: 1500,
                    ..base
                }
            }
            Workload::ReadMostly => ScenarioShape {
                clients: 6,
                ops: 60,
                keys: 1,
                think_ms: 5,
                get_percent: 85,
                put_percent: 15,
                network: tail(),
                ..base
            },
            Workload::SlowWrites => ScenarioShape {
                clients: 6,
                ops: 48,
                keys: 1,
                think_ms: 3,
                get_percent: 70,
                put_percent: 25,
                network: tail(),
                ..base
            },
            // A fault that outlasts the workload (it is healed when the workload ends): the old
            // leader stays cut off, or down, until then, however long the ops it leaves waiting
            // keep the workload going.
            Workload::LeaderChange => {
                let timeout = failure_timeout.as_millis() as u64;
                ScenarioShape {
                    clients: 6,
                    ops: 60,
                    keys: 1,
                    think_ms: 8,
                    get_percent: 50,
                    put_percent: 45,
                    max_faults: 1,
                    fault_window_ms: Some((timeout * 10, timeout * 20)),
                    ..base
                }
            }
            Workload::PowerFailure => ScenarioShape {
                clients: 3,
                ops: 24,
                keys: 1,
                think_ms: 60,
                get_percent: 40,
                put_percent: 55,
                max_faults: 2,
                fault_window_ms: Some((2000, 3000)),
                ..base
            },
        }
    }

    /// The strategy of this workload's scenarios for `shape` (from [`Workload::shape`]).
    pub fn strategy(self, shape: &ScenarioShape) -> BoxedStrategy<Scenario> {
        match self {
            Workload::ReadAfterWrite => read_after_write(shape, shape.ops / 4).boxed(),
            Workload::SlowReplica => {
                let nodes = shape.system.nodes().max(1) as u16;
                let slow = ((0..nodes, 10u64..=60), (0..nodes, 0..nodes, 10u64..=60));
                (scenario(shape), slow.no_shrink())
                    .prop_map(|(mut s, ((node, node_ms), (from, to, link_ms)))| {
                        s.network.tail_percent = tail().tail_percent;
                        s.network.tail_ms = tail().tail_ms;
                        s.network.slow_links = vec![
                            SlowLink {
                                from: Some(node),
                                to: None,
                                extra_ms: node_ms,
                            },
                            SlowLink {
                                from: Some(from),
                                to: Some(to),
                                extra_ms: link_ms,
                            },
                        ];
                        s
                    })
                    .boxed()
            }
            Workload::SlowWrites => {
                with_slow_writes(scenario(shape).prop_map(skew_coordinators).boxed(), shape)
            }
            Workload::ReadMostly => scenario(shape).prop_map(skew_coordinators).boxed(),
            // The writes the crashed coordinators leave behind wait in its queue for the slow
            // replicas, so the crash cuts them off instead of racing a 1 to 5 ms send.
            Workload::PartialWrites => {
                with_slow_writes(scenario(shape).prop_map(crash_coordinators).boxed(), shape)
            }
            // Every node slow to take writes: a write stays on the leader alone for 20 to 150
            // ms, so the fault that follows a put finds it there.
            Workload::LeaderChange => {
                let nodes = shape.system.nodes().max(1);
                with_slow_writes_on(scenario(shape).boxed(), shape, nodes)
                    .prop_map(change_leader)
                    .boxed()
            }
            Workload::PowerFailure => {
                let third = (shape.horizon_ms() / 3).max(1);
                scenario(shape)
                    .prop_map(move |mut s| {
                        let nodes = s.system.nodes() as u16;
                        for f in &mut s.faults {
                            if let FaultKind::Crash { count, .. } = &mut f.kind {
                                *count = nodes;
                                f.at_ms = 2 * third + f.at_ms % third;
                            }
                        }
                        s.faults.sort_by_key(|f| f.at_ms);
                        s
                    })
                    .boxed()
            }
            _ => scenario(shape).boxed(),
        }
    }
}

/// Which scenarios a search generates (`explore --workload`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkloadChoice {
    /// Scenarios of the shape as given: the flags' clients, ops, keys, think time, network
    /// and fault windows.
    #[default]
    Flags,
    /// Every workload the matrix searches with, drawn at random for each scenario, each over
    /// the given system and faults; for the leaderless store, under every replica choice
    /// unless the shape names one other than the default.
    Mix,
    /// One workload over the given system and faults.
    Only(Workload),
}

/// A `--workload` that is neither `flags`, `mix` nor a workload's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown workload {0:?}; expected flags, mix or one of {names}",
    names = Workload::all().map(|w| w.name()).collect::<Vec<_>>().join(", ")
)]
pub struct UnknownWorkload(pub String);

impl WorkloadChoice {
    /// `flags`, `mix` or a workload's name.
    pub fn parse(s: &str) -> Result<WorkloadChoice, UnknownWorkload> {
        match s.trim() {
            "flags" => Ok(WorkloadChoice::Flags),
            "mix" => Ok(WorkloadChoice::Mix),
            name => Workload::all()
                .find(|w| w.name() == name)
                .map(WorkloadChoice::Only)
                .ok_or_else(|| UnknownWorkload(name.to_string())),
        }
    }

    /// The scenarios of this choice over `shape`'s system and faults.
    pub fn strategy(self, shape: &ScenarioShape) -> BoxedStrategy<Scenario> {
        // A workload keeps its own mix of gets, puts and deletes, and takes the share of cas
        // the shape asks for.
        let of = |w: Workload, system: SystemConfig| {
            let detect = detection_timeout(&system);
            let own = ScenarioShape {
                cas_percent: shape.cas_percent,
                ..w.shape_for(system, detect, &shape.faults)
            };
            w.strategy(&own)
        };
        match self {
            WorkloadChoice::Flags => scenario(shape).boxed(),
            WorkloadChoice::Only(w) => of(w, shape.system.clone()),
            WorkloadChoice::Mix => {
                let systems: Vec<SystemConfig> = match &shape.system {
                    SystemConfig::Leaderless(store)
                        if store.replica_choice == StoreConfig::default().replica_choice =>
                    {
                        REPLICA_CHOICES
                            .iter()
                            .map(|&replica_choice| {
                                SystemConfig::Leaderless(StoreConfig {
                                    replica_choice,
                                    ..store.clone()
                                })
                            })
                            .collect()
                    }
                    system => vec![system.clone()],
                };
                let all: Vec<BoxedStrategy<Scenario>> = Workload::VARIANTS
                    .iter()
                    .copied()
                    .flat_map(|w| systems.iter().map(move |s| (w, s.clone())))
                    .map(|(w, s)| of(w, s))
                    .collect();
                proptest::strategy::Union::new(all).boxed()
            }
        }
    }
}

/// How long `system` takes to act on a failure, which the down-path workload's faults outlast:
/// the leaderless store's failure timeout, another system's `failover_timeout_ms` setting when
/// its configuration has one, else one second.
fn detection_timeout(system: &SystemConfig) -> std::time::Duration {
    let ms = match system {
        SystemConfig::Leaderless(store) => return store.failure_timeout,
        SystemConfig::Named(spec) => spec
            .config
            .get("failover_timeout_ms")
            .and_then(|v| v.as_u64())
            .unwrap_or(1000),
    };
    std::time::Duration::from_millis(ms)
}

/// `scenarios` with all nodes but two, all but one, or every node slow to take writes, 20 to
/// 150 ms each: a write sits on its first holder (a coordinator that is a replica applies it
/// at once) while the other replicas still lack it, the shape where one read set holds a write
/// and another does not (at RF 3 and R = 2, two slow replicas; at RF 5, a read that meets the
/// one holder and repairs onto too few). The slow nodes and delays do not shrink: they are the
/// race.
fn with_slow_writes(
    scenarios: BoxedStrategy<Scenario>,
    shape: &ScenarioShape,
) -> BoxedStrategy<Scenario> {
    let least = shape.system.nodes().max(1).saturating_sub(2).max(1);
    with_slow_writes_on(scenarios, shape, least)
}

/// `scenarios` with at least `least` nodes (up to every node) slow to take writes, 20 to 150
/// ms each, drawn as [`with_slow_writes`] draws them.
fn with_slow_writes_on(
    scenarios: BoxedStrategy<Scenario>,
    shape: &ScenarioShape,
    least: usize,
) -> BoxedStrategy<Scenario> {
    let count = shape.system.nodes().max(1);
    let nodes: Vec<u16> = (0..count as u16).collect();
    let picks = (
        proptest::sample::subsequence(nodes, least.min(count)..=count),
        proptest::collection::vec(20u64..=150, count),
    );
    (scenarios, picks.no_shrink())
        .prop_map(|(mut s, (slow, extra))| {
            s.network.slow_writes = slow
                .into_iter()
                .zip(extra)
                .map(|(node, extra_ms)| SlowWrite { node, extra_ms })
                .collect();
            s
        })
        .boxed()
}

/// A long tail on every link: 10% of messages take up to 100 ms more.
fn tail() -> NetworkConfig {
    NetworkConfig {
        tail_percent: 10,
        tail_ms: 100,
        ..NetworkConfig::default()
    }
}

/// Makes each crash a single node's, on the coordinator of a put planned at or after the
/// crash's drawn time, armed by that put (`Fault::after_write`) to start 6 to 15 ms after the
/// client issues it, once the request has reached the coordinator: it dies with the write
/// applied locally and its messages to the slow replicas still queued. Every other crash takes
/// the first such put; the rest take the first that is its key's last planned op (no later
/// write hides it, no later read repairs it), so the replicas it missed stay behind for good:
/// a divergence only anti-entropy would mend. Arming the crash on the put rather than the
/// clock keeps it in the middle of the write however late the client issues it, and keeps the
/// pairing when shrinking removes other ops.
fn crash_coordinators(mut s: Scenario) -> Scenario {
    // (planned at, coordinator, key, the value it writes if it is a put) of every op, in
    // planned order.
    let mut ops: Vec<(u32, u16, u32, Option<i64>)> = Vec::new();
    for (ci, plan) in s.clients.iter().enumerate() {
        for (i, o) in plan.ops.iter().enumerate() {
            let put = (o.kind == PlannedKind::Put).then(|| s.put_value(ci, i));
            ops.push((o.at_ms, o.coordinator, o.key, put));
        }
    }
    ops.sort_unstable();
    // A write no later op of its key writes over or reads (and so repairs).
    let last = |i: usize| !ops[i + 1..].iter().any(|p| p.2 == ops[i].2);
    let mut crashes = 0;
    for f in &mut s.faults {
        if let FaultKind::Crash { node, count, .. } = &mut f.kind {
            *count = 1;
            let drawn = f.at_ms;
            let mut later =
                (0..ops.len()).filter(|&i| ops[i].3.is_some() && ops[i].0 as u64 >= drawn);
            let pick = if crashes % 2 == 0 {
                later.next()
            } else {
                later.find(|&i| last(i))
            };
            crashes += 1;
            if let Some(i) = pick {
                f.at_ms = 6 + drawn % 10;
                f.after_write = ops[i].3;
                *node = ops[i].1;
            }
        }
    }
    s.faults.sort_by_key(|f| f.at_ms);
    s
}

/// Aims a leader-follower scenario at a leader change that the same sessions live through.
/// Its first fault takes the first leader of key 0 (node p leads partition p in term 1), armed
/// (`Fault::after_write`) 6 to 15 ms after a put sent to that leader (the first put at or after
/// the fault's drawn time whose client has just read, if there is one): a partition cuts the leader off from
/// every other node (clients still reach it), a crash takes it down. The fault outlasts the
/// workload, whose ops left waiting on the old leader keep it going past the failover. Every op
/// up to that put goes to the leader, so reads and writes race there. After it, ops go one of
/// two ways:
///
/// - writes to the old leader, reads through the other nodes: the writes a leader acknowledges
///   alone (asynchronous replication, or too few synced followers) until it steps down are the
///   key's last (a write through the successor would hide their loss), and the reads after the
///   failover ask the successor for what it kept;
/// - writes through the other nodes, reads through the old leader (even drawn coordinators) or
///   the others: the successor takes the writes while a deposed leader nothing fences still
///   answers reads from its own copy.
///
/// The first way for a configuration that acknowledges alone and fences, the second for one
/// that waits for a majority and does not fence, and either (by the seed) otherwise. The other
/// faults are left as drawn; another system's scenario is left as drawn.
///
/// Where writes wait for a majority and nothing fences, odd seeds whose first fault is a
/// partition play a longer chain instead, when their plan has a session that fits it: a second
/// leader change that loses a write the successor committed ([`SecondFailover`]).
fn change_leader(mut s: Scenario) -> Scenario {
    use crate::systems::leader_follower;
    let nodes = s.system.nodes();
    let (leader, config) = match &s.system {
        SystemConfig::Named(spec) if spec.name == leader_follower::NAME => (
            // Partition p is led by node p in term 1 (docs/leader-follower.md).
            leader_follower::partition_of(&s.key_name(0), nodes) as u16,
            leader_follower::Config::from_json(&spec.config).unwrap_or_default(),
        ),
        _ => return s,
    };
    let nodes = nodes.max(1) as u16;
    // (planned at, client, op) of every op, in planned order.
    let mut ops: Vec<(u32, usize, usize)> = Vec::new();
    for (ci, plan) in s.clients.iter().enumerate() {
        for (i, o) in plan.ops.iter().enumerate() {
            ops.push((o.at_ms, ci, i));
        }
    }
    ops.sort_unstable();
    let Some(drawn) = s.faults.first().map(|f| f.at_ms) else {
        return s;
    };
    // The first put planned at or after the fault's drawn time whose client read just before
    // (a session that read a value and then writes), else the first put from then on, else
    // the last put.
    let put = |&(_, ci, i): &(u32, usize, usize)| s.clients[ci].ops[i].kind == PlannedKind::Put;
    let from_drawn = |o: &(u32, usize, usize)| put(o) && o.0 as u64 >= drawn;
    let after_get = |&(_, ci, i): &(u32, usize, usize)| {
        i > 0 && s.clients[ci].ops[i - 1].kind == PlannedKind::Get
    };
    let armed = ops
        .iter()
        .position(|o| from_drawn(o) && after_get(o))
        .or_else(|| ops.iter().position(from_drawn))
        .or_else(|| ops.iter().rposition(put));
    let Some(armed) = armed else {
        return s;
    };
    // Where writes wait for a majority and nothing fences, odd seeds (with a partition to
    // shape) play the chain that loses a committed write instead, where one qualifies (see
    // `SecondFailover`).
    let majority_unfenced = config.replication == leader_follower::Replication::Sync
        && config.sync_followers >= config.rf / 2
        && !config.fencing;
    if majority_unfenced
        && !s.seed.is_multiple_of(2)
        && matches!(s.faults[0].kind, FaultKind::Partition { .. })
    {
        if let Some(chain) = SecondFailover::find(&s, &ops, drawn) {
            return chain.apply(s, &ops, drawn, leader, &config);
        }
    }
    let (_, ci, i) = ops[armed];
    let value = s.put_value(ci, i);
    let f = &mut s.faults[0];
    match &mut f.kind {
        FaultKind::Partition { shape, .. } => *shape = PartitionShape::Isolate { node: leader },
        FaultKind::Crash { node, count, .. } => {
            *node = leader;
            *count = 1;
        }
        _ => return s,
    }
    f.at_ms = 6 + drawn % 10;
    f.after_write = Some(value);
    s.faults.sort_by_key(|f| f.at_ms);
    let other = |c: u16| other_than(leader, nodes, c);
    // A leader that acknowledges a write before a majority has it loses it to its successor;
    // a deposed leader nothing fences still answers reads. Where both can happen, the seed
    // picks.
    let acks_alone = match config.replication {
        leader_follower::Replication::Async => true,
        leader_follower::Replication::Sync => config.sync_followers < config.rf / 2,
    };
    let lost_writes_last = match (acks_alone, config.fencing) {
        (true, true) => true,
        (false, false) => false,
        _ => s.seed.is_multiple_of(2),
    };
    for (k, &(_, ci, i)) in ops.iter().enumerate() {
        let op = &mut s.clients[ci].ops[i];
        let drawn = op.coordinator;
        let write = op.kind != PlannedKind::Get;
        op.coordinator = if k <= armed {
            leader
        } else if lost_writes_last {
            if write {
                leader
            } else {
                other(drawn / 2)
            }
        } else if write || drawn % 2 == 1 {
            other(drawn / 2)
        } else {
            leader
        };
    }
    s
}

/// A node other than `leader` of `nodes`, picked by `c` (an op's drawn coordinator); the
/// leader itself when it is the only node.
fn other_than(leader: u16, nodes: u16, c: u16) -> u16 {
    if nodes < 2 {
        leader
    } else {
        (leader + 1 + c % (nodes - 1)) % nodes
    }
}

/// A leader change followed by a second one that loses a write the first successor
/// committed: what breaks monotonic writes and writes follow reads where writes wait for a
/// majority and nothing fences (docs/consistency.md, "The leader-follower store"). The chain:
///
/// 1. the session writes key 0 through the first leader, reads it back, and then puts a value
///    of another key of the same partition through it; 6 to 15 ms later the leader is cut off
///    with that entry on it alone (every node is slow to take writes), and it keeps it, as
///    nothing fences it;
/// 2. its successor is elected, and the session's next put of key 0 (issued once the put left
///    on the old leader timed out) commits on the successor and one follower;
/// 3. the old leader's isolation ends and one of its two followers is cut off in its place,
///    for longer than a failover: the one quicker to take writes, guessed to be the successor
///    (it is more likely to hold an entry the other lacks when the old leader is cut off, and
///    then only it can win);
/// 4. the follower takes the old leader's conflicting entry and drops the committed write, and
///    it or the old leader is elected without it: key 0 settles on the session's earlier write,
///    the value it read.
///
/// With one key the old leader's entry would be a write of key 0, which the last leader
/// commits, and the key would settle on it (answered info) instead. So every write goes to the
/// other key but the session's writes before the armed put and its lost put: nothing else
/// writes key 0, and no later write hides the loss.
struct SecondFailover {
    /// The session's client.
    client: usize,
    /// Its put left on the old leader, which arms both faults.
    armed: usize,
    /// Its put of key 0 after it, through the successor.
    lost: usize,
    /// A key of the same partition as key 0.
    other_key: u32,
}

impl SecondFailover {
    /// The chain for `s`, whose ops in planned order are `ops`, with its first fault drawn at
    /// `drawn`: the first put planned from then on (else the last before) whose client last
    /// wrote with a put, then read, and puts again within its next three ops. None when no put
    /// qualifies or no key of the first 64 shares key 0's partition.
    fn find(s: &Scenario, ops: &[(u32, usize, usize)], drawn: u64) -> Option<SecondFailover> {
        use crate::systems::leader_follower::partition_of;
        let nodes = s.system.nodes();
        let home = partition_of("k0", nodes);
        let other_key = (1..64u32).find(|k| partition_of(&format!("k{k}"), nodes) == home)?;
        let chain = |&(_, ci, i): &(u32, usize, usize)| {
            let plan = &s.clients[ci].ops;
            let put = |j: usize| plan[j].kind == PlannedKind::Put;
            let get = |j: usize| plan[j].kind == PlannedKind::Get;
            // The session's last write before the armed put, and a read after it.
            let wrote = (0..i).rev().find(|&j| !get(j)).filter(|&j| put(j));
            let read = wrote.is_some_and(|w| (w + 1..i).any(get));
            // Two more ops after the lost put keep the workload going past the second
            // failover (see `apply`).
            let lost = (i + 1..plan.len().min(i + 4)).find(|&j| put(j) && j + 2 < plan.len());
            match (put(i) && read, lost) {
                (true, Some(lost)) => Some(SecondFailover {
                    client: ci,
                    armed: i,
                    lost,
                    other_key,
                }),
                _ => None,
            }
        };
        let (before, from) = ops.split_at(ops.partition_point(|o| (o.0 as u64) < drawn));
        from.iter()
            .find_map(chain)
            .or_else(|| before.iter().rev().find_map(chain))
    }

    /// `s` aimed at the chain, with `leader` the first leader of key 0's partition.
    fn apply(
        &self,
        mut s: Scenario,
        ops: &[(u32, usize, usize)],
        drawn: u64,
        leader: u16,
        config: &crate::systems::leader_follower::Config,
    ) -> Scenario {
        let nodes = s.system.nodes().max(1) as u16;
        let other = |c: u16| other_than(leader, nodes, c);
        // The partition's two followers (it is replicated on the `rf` nodes from its first
        // leader on): one is guessed to be the successor, which the second fault cuts off.
        let followers = (config.rf as u16).saturating_sub(1).max(1);
        let follower = |n: u16| (leader + 1 + n % followers) % nodes;
        // The follower quicker to take writes is more likely to hold an entry the other lacks
        // when the first leader is cut off, and then only it can win the election.
        let slow = |n: u16| {
            s.network
                .slow_writes
                .iter()
                .find(|w| w.node == n)
                .map_or(0, |w| w.extra_ms)
        };
        let (a, b) = (follower(0), follower(1));
        let (successor, survivor) = if slow(b) < slow(a) { (b, a) } else { (a, b) };
        s.keys = self.other_key + 1;
        let session = self.client;
        for (ci, plan) in s.clients.iter_mut().enumerate() {
            for (i, op) in plan.ops.iter_mut().enumerate() {
                let own = ci == session && (i < self.armed || i == self.lost);
                op.key = if op.kind == PlannedKind::Get || own {
                    0
                } else {
                    self.other_key
                };
            }
        }
        // Up to the armed put every op goes to the first leader; after it, writes through the
        // other nodes, reads through either.
        let armed_at = ops
            .iter()
            .position(|&(_, ci, i)| ci == session && i == self.armed)
            .unwrap_or(0);
        for (k, &(_, ci, i)) in ops.iter().enumerate() {
            let op = &mut s.clients[ci].ops[i];
            let drawn = op.coordinator;
            op.coordinator =
                if k <= armed_at || (op.kind == PlannedKind::Get && drawn.is_multiple_of(2)) {
                    leader
                } else {
                    other(drawn / 2)
                };
        }
        // The session's next op after the lost put waits on the old leader until its isolation
        // ends (a write it logs is answered info when it steps down); the one after that asks
        // the follower, which forwards it to the successor, cut off by then: the client waits
        // for its request timeout, past the second election.
        let plan = &mut s.clients[session].ops;
        plan[self.lost + 1].coordinator = leader;
        plan[self.lost + 2].coordinator = survivor;
        // The old leader stays cut off until the session's put through the successor (issued
        // once the armed put timed out on it) has committed; then the node guessed to be the
        // successor is cut off for four failover timeouts, and the followers hear the old
        // leader again.
        let value = s.put_value(session, self.armed);
        let start = 6 + drawn % 10;
        let cut = config.request_timeout_ms + config.failover_timeout_ms + drawn % 100;
        s.faults[0] = Fault {
            at_ms: start,
            kind: FaultKind::Partition {
                shape: PartitionShape::Isolate { node: leader },
                duration_ms: cut,
            },
            after_write: Some(value),
        };
        s.faults.push(Fault {
            at_ms: start + cut,
            kind: FaultKind::Partition {
                shape: PartitionShape::Isolate { node: successor },
                duration_ms: 4 * config.failover_timeout_ms,
            },
            after_write: Some(value),
        });
        s.faults.sort_by_key(|f| f.at_ms);
        s
    }
}

/// Puts every other clock skew on the coordinator of a put planned at or after the skew's
/// drawn time, armed by that put (`Fault::after_write`) so the clock is off when the write is
/// stamped, however late the client issues it: a write stamped ahead of the writes after it,
/// or behind the writes before it, which last write wins then orders against real time. The
/// other skews stay on the node and time drawn, so a skew that spans several writes (and
/// reads) is still searched. Faults other than skew are left as drawn.
fn skew_coordinators(mut s: Scenario) -> Scenario {
    let mut puts: Vec<(u32, u16, i64)> = Vec::new();
    for (ci, plan) in s.clients.iter().enumerate() {
        for (i, o) in plan.ops.iter().enumerate() {
            if o.kind == PlannedKind::Put {
                puts.push((o.at_ms, o.coordinator, s.put_value(ci, i)));
            }
        }
    }
    puts.sort_unstable();
    let mut skews = 0;
    for f in &mut s.faults {
        if let FaultKind::Skew { node, .. } = &mut f.kind {
            skews += 1;
            if skews % 2 == 0 {
                continue;
            }
            if let Some(&(_, coordinator, value)) = puts.iter().find(|p| p.0 as u64 >= f.at_ms) {
                f.at_ms = 0;
                f.after_write = Some(value);
                *node = coordinator;
            }
        }
    }
    s.faults.sort_by_key(|f| f.at_ms);
    s
}

/// The replica choices a search cycles through: the fixed ring order Cassandra's static
/// snitch gives, a random set per read, and the fastest replicas first.
pub const REPLICA_CHOICES: [ReplicaChoice; 3] = [
    ReplicaChoice::Ordered,
    ReplicaChoice::Shuffled,
    ReplicaChoice::Snitch,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The client and place of the planned op that writes `value` (the put a fault is armed on).
    fn planned_put(s: &Scenario, value: i64) -> (usize, usize) {
        s.clients
            .iter()
            .enumerate()
            .find_map(|(ci, c)| {
                c.ops
                    .iter()
                    .position(|o| o.value == Some(value))
                    .map(|i| (ci, i))
            })
            .expect("the armed put is planned")
    }

    #[test]
    fn workload_names_are_derived_in_search_order() {
        let names: Vec<&str> = Workload::VARIANTS.iter().map(|w| w.name()).collect();
        assert_eq!(
            names,
            [
                "standard",
                "hot-key",
                "read-after-write",
                "slow-replica",
                "partial-writes",
                "down-path",
                "power-failure",
                "read-mostly",
                "slow-writes",
            ]
        );
        for &w in Workload::VARIANTS {
            assert_eq!(
                serde_json::to_string(&w).unwrap(),
                format!("\"{}\"", w.name())
            );
            assert_eq!(
                WorkloadChoice::parse(&format!(" {} ", w.name())),
                Ok(WorkloadChoice::Only(w))
            );
        }
        assert_eq!(WorkloadChoice::parse("mix"), Ok(WorkloadChoice::Mix));
        assert_eq!(
            WorkloadChoice::parse("hot").unwrap_err().to_string(),
            "unknown workload \"hot\"; expected flags, mix or one of standard, hot-key, \
             read-after-write, slow-replica, partial-writes, down-path, power-failure, \
             read-mostly, slow-writes, leader-change"
        );
        // The aimed-only workloads are named and parsed like the others, outside the rotation.
        assert_eq!(
            WorkloadChoice::parse("leader-change"),
            Ok(WorkloadChoice::Only(Workload::LeaderChange))
        );
        assert!(!Workload::VARIANTS.contains(&Workload::LeaderChange));
        assert_eq!(
            Workload::all().collect::<Vec<_>>().len(),
            Workload::VARIANTS.len() + Workload::AIMED_ONLY.len()
        );
    }

    /// The leader-follower system with `config`, on 5 nodes.
    fn leader_follower(config: serde_json::Value) -> SystemConfig {
        SystemConfig::Named(crate::scenario::SystemSpec {
            name: crate::systems::leader_follower::NAME.into(),
            nodes: 5,
            config,
        })
    }

    /// (planned at, op) of every op of `s`, in planned order.
    fn planned(s: &Scenario) -> Vec<(u32, crate::scenario::PlannedOp)> {
        let mut ops: Vec<_> = s
            .clients
            .iter()
            .flat_map(|c| c.ops.iter().map(|o| (o.at_ms, *o)))
            .collect();
        ops.sort_by_key(|(at, o)| (*at, o.coordinator, o.value));
        ops
    }

    #[test]
    fn leader_change_cuts_off_the_keys_leader_after_a_put_sent_to_it() {
        use crate::explore::generate_with;
        use crate::strategy::FaultChoice;
        let faults = [
            FaultChoice::Partition,
            FaultChoice::Isolate,
            FaultChoice::Ring,
            FaultChoice::Bridge,
        ];
        let async_fenced = serde_json::json!({"replication": "async"});
        let unfenced = serde_json::json!({"fencing": false});
        let leader = crate::systems::leader_follower::partition_of("k0", 5) as u16;
        for (config, writes_to_leader) in [(async_fenced, true), (unfenced, false)] {
            let system = leader_follower(config);
            let w = Workload::LeaderChange;
            let shape = w.shape_for(system, std::time::Duration::from_millis(300), &faults);
            let strategy = w.strategy(&shape);
            for seed in 0..20 {
                let s = generate_with(&strategy, seed);
                if !writes_to_leader && s.faults.len() == 2 {
                    // The second failover's chain (see the test below).
                    continue;
                }
                assert_eq!(s.faults.len(), 1);
                let f = &s.faults[0];
                let FaultKind::Partition { shape, duration_ms } = &f.kind else {
                    panic!("seed {seed}: {f:?}");
                };
                assert_eq!(*shape, PartitionShape::Isolate { node: leader });
                // Longer than ten failover timeouts: it lasts until the workload ends.
                assert!(*duration_ms >= 3000, "{duration_ms}");
                assert!((6..=15).contains(&f.at_ms));
                // Armed on a put sent to the leader, after its client read.
                let value = f.after_write.expect("armed on a put");
                let (ci, i) = planned_put(&s, value);
                let put = s.clients[ci].ops[i];
                assert_eq!(put.kind, PlannedKind::Put);
                assert_eq!(put.coordinator, leader);
                // Every node is slow to take writes.
                assert_eq!(s.network.slow_writes.len(), 5);
                // Before the armed put every op goes to the leader; after it, writes go to the
                // old leader only where acknowledged writes can be lost.
                let ops = planned(&s);
                let at = ops
                    .iter()
                    .position(|(_, o)| o.value == Some(value))
                    .unwrap();
                assert!(ops[..at].iter().all(|(_, o)| o.coordinator == leader));
                for (_, o) in &ops[at + 1..] {
                    if o.kind != PlannedKind::Get {
                        assert_eq!(o.coordinator == leader, writes_to_leader, "{o:?}");
                    } else if writes_to_leader {
                        assert_ne!(o.coordinator, leader, "{o:?}");
                    }
                }
            }
        }
        // Crashes take the leader alone.
        let system = leader_follower(serde_json::json!({"replication": "async"}));
        let w = Workload::LeaderChange;
        let shape = w.shape_for(
            system,
            std::time::Duration::from_millis(300),
            &[FaultChoice::Crash],
        );
        let s = generate_with(&w.strategy(&shape), 7);
        assert!(matches!(
            s.faults[0].kind,
            FaultKind::Crash { node, count: 1, .. } if node == leader
        ));
    }

    #[test]
    fn leader_change_without_fencing_aims_part_of_its_scenarios_at_a_second_failover() {
        use crate::explore::generate_with;
        use crate::strategy::FaultChoice;
        use crate::systems::leader_follower::partition_of;
        let system = leader_follower(serde_json::json!({"fencing": false}));
        let w = Workload::LeaderChange;
        let shape = w.shape_for(
            system,
            std::time::Duration::from_millis(300),
            &[FaultChoice::Isolate],
        );
        let strategy = w.strategy(&shape);
        let mut chains = 0;
        for seed in 0..40 {
            let s = generate_with(&strategy, seed);
            if s.faults.len() == 1 {
                continue;
            }
            chains += 1;
            let nodes = s.system.nodes();
            let leader = partition_of("k0", nodes) as u16;
            // A second key of key 0's partition.
            let other = s.keys - 1;
            assert!(other > 0);
            assert_eq!(partition_of(&s.key_name(other), nodes) as u16, leader);
            // Both faults armed on one put of that key sent to the leader: the leader cut off
            // past the request timeout and a failover, then one of its followers for four
            // failover timeouts from the moment the leader is back.
            let (first, second) = (&s.faults[0], &s.faults[1]);
            let value = first.after_write.expect("armed on a put");
            assert_eq!(second.after_write, Some(value));
            let FaultKind::Partition {
                shape: PartitionShape::Isolate { node },
                duration_ms,
            } = first.kind
            else {
                panic!("{first:?}");
            };
            assert_eq!(node, leader);
            assert!((1300..1400).contains(&duration_ms), "{duration_ms}");
            assert_eq!(second.at_ms, first.at_ms + duration_ms);
            let FaultKind::Partition {
                shape: PartitionShape::Isolate { node },
                duration_ms,
            } = second.kind
            else {
                panic!("{second:?}");
            };
            assert!([1, 2].contains(&((node + nodes as u16 - leader) % nodes as u16)));
            assert_eq!(duration_ms, 1200);
            let (session, armed) = planned_put(&s, value);
            let put = s.clients[session].ops[armed];
            assert_eq!(
                (put.kind, put.key, put.coordinator),
                (PlannedKind::Put, other, leader)
            );
            // Only the session writes key 0: before the armed put, and once after it through
            // another node.
            let mut after = 0;
            for (ci, c) in s.clients.iter().enumerate() {
                for (i, o) in c.ops.iter().enumerate() {
                    if o.kind == PlannedKind::Get || o.key != 0 {
                        continue;
                    }
                    assert_eq!(ci, session, "{o:?}");
                    if i > armed {
                        after += 1;
                        assert_ne!(o.coordinator, leader);
                    }
                }
            }
            assert_eq!(after, 1);
        }
        assert!(chains >= 5, "{chains} chains in 40 seeds");
    }

    #[test]
    fn leader_change_leaves_other_systems_scenarios_as_drawn() {
        let store = crate::systems::leaderless::StoreConfig::default();
        let faults = [crate::strategy::FaultChoice::Isolate];
        let shape = Workload::LeaderChange.shape(store, &faults);
        let plain = crate::explore::generate_with(
            &with_slow_writes_on(scenario(&shape).boxed(), &shape, 5),
            3,
        );
        let aimed = crate::explore::generate_with(&Workload::LeaderChange.strategy(&shape), 3);
        assert_eq!(plain, aimed);
    }
}
