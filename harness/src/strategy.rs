//! proptest strategies for scenarios.
//!
//! A scenario is generated at the full size the user asked for (every client with all its ops,
//! every node, every key) and shrinks from there: faults, clients and ops are removed (in halves
//! first, then one by one), and the key and node counts fall. What is left keeps its fields as
//! drawn (an op's time, key and coordinator, a fault's window), so every step goes to making the
//! case smaller. The seed never shrinks: it is part of what makes the failure happen.
use crate::systems::leaderless::StoreConfig;
use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::TestRunner;
use strum::VariantArray;

use crate::scenario::{
    unique_value, ClientPlan, Fault, FaultKind, NetworkConfig, PartitionShape, PlannedKind,
    PlannedOp, Scenario, SystemConfig,
};
use crate::system::SystemError;

/// The kinds of fault a scenario may draw from, in a fixed order ([`VariantArray::VARIANTS`]);
/// a kind's name ([`FaultChoice::name`], serde) is its variant's, in lower case.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum FaultChoice {
    /// Random halves.
    Partition,
    /// One node cut off.
    Isolate,
    /// Majorities ring.
    Ring,
    /// Two halves joined by a bridge node.
    Bridge,
    /// Crash and restart.
    Crash,
    /// Message loss window.
    Loss,
    /// Latency spike window.
    Latency,
    /// Clock skew window.
    Skew,
    /// Paused node window.
    Pause,
}

impl FaultChoice {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The class of fault it generates, as a system is asked whether it honours it.
    pub fn class(self) -> crate::system::FaultClass {
        use crate::system::FaultClass;
        match self {
            FaultChoice::Partition
            | FaultChoice::Isolate
            | FaultChoice::Ring
            | FaultChoice::Bridge => FaultClass::Partition,
            FaultChoice::Crash => FaultClass::Crash,
            FaultChoice::Loss => FaultClass::Loss,
            FaultChoice::Latency => FaultClass::Latency,
            FaultChoice::Skew => FaultClass::Skew,
            FaultChoice::Pause => FaultClass::Pause,
        }
    }
}

/// A word of a fault list that names no fault kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault {0:?}; expected a comma-separated list of none, {kinds}, mixed",
    kinds = FaultChoice::VARIANTS.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
)]
pub struct UnknownFault(pub String);

/// Parses a comma-separated fault list: none, partition, isolate, ring, bridge, crash, loss,
/// latency, skew, pause, or mixed (every kind except skew, which breaks timestamp order by
/// design and is asked for by name).
pub fn parse_fault_list(list: &str) -> Result<Vec<FaultChoice>, UnknownFault> {
    let mut out = Vec::new();
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "none" => {}
            "mixed" => out.extend(
                FaultChoice::VARIANTS
                    .iter()
                    .filter(|f| **f != FaultChoice::Skew),
            ),
            w => match FaultChoice::VARIANTS.iter().find(|f| f.name() == w) {
                Some(f) => out.push(*f),
                None => return Err(UnknownFault(w.to_string())),
            },
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What a generated scenario looks like, before shrinking.
#[derive(Clone, Debug)]
pub struct ScenarioShape {
    /// The system and its configuration (its node count is the largest generated).
    pub system: SystemConfig,
    /// The network.
    pub network: NetworkConfig,
    /// Concurrent clients.
    pub clients: usize,
    /// Total client ops, split evenly between clients.
    pub ops: usize,
    /// Number of keys.
    pub keys: u32,
    /// Fault kinds to draw from; empty for none.
    pub faults: Vec<FaultChoice>,
    /// Most faults in one scenario.
    pub max_faults: usize,
    /// Mean simulated ms a client thinks between ops; with the op count it sets how long the
    /// workload runs.
    pub think_ms: u32,
    /// Percent of ops that are gets, puts and deletes (the rest).
    pub get_percent: u8,
    /// Percent of ops that are puts.
    pub put_percent: u8,
    /// Percent of ops that are compare-and-sets (0 to 100), the rest split between gets, puts
    /// and deletes as `get_percent` and `put_percent` say. Default 0: no cas, and scenarios
    /// generated exactly as before cas existed. Above 0 the system must support cas
    /// ([`System::supports_cas`](crate::system::System::supports_cas)); `explore` refuses a
    /// shape that asks for cas of one that does not. Each cas expects the value of the latest
    /// write planned before it on its key (or the one before that, or the key's absence; see
    /// [`resolve_cas`]) and writes a fresh, unique value.
    pub cas_percent: u8,
    /// Sticky coordinators (one per client) instead of one per op.
    pub sticky: bool,
    /// Settle time after the workload.
    pub settle_ms: u64,
    /// Shortest and longest fault window, ms; `None` for 10 ms to half the workload.
    pub fault_window_ms: Option<(u64, u64)>,
}

impl ScenarioShape {
    /// The standard workload over `store`: 4 clients, 100 ops over 3 keys (50% get, 40% put,
    /// 10% delete), a random coordinator per op, 10 ms think time, up to 3 faults drawn from
    /// `faults`, 2 s to settle. Change fields with struct update syntax.
    pub fn new(store: StoreConfig, faults: &[FaultChoice]) -> Self {
        Self::for_system(SystemConfig::Leaderless(store), faults)
    }

    /// The standard workload (as [`ScenarioShape::new`]) over any system.
    pub fn for_system(system: SystemConfig, faults: &[FaultChoice]) -> Self {
        ScenarioShape {
            system,
            network: NetworkConfig::default(),
            clients: 4,
            ops: 100,
            keys: 3,
            faults: faults.to_vec(),
            max_faults: 3,
            think_ms: 10,
            get_percent: 50,
            put_percent: 40,
            cas_percent: 0,
            sticky: false,
            settle_ms: 2000,
            fault_window_ms: None,
        }
    }

    /// Refuses a shape its system cannot run: a fault kind the system does not honour, or cas
    /// ops (`cas_percent` above 0) when it does not support cas. The error names the system
    /// and what it lacks, before any scenario is generated.
    pub fn check_system(&self) -> Result<(), SystemError> {
        let system = crate::systems::build(&self.system)?;
        if let Some(f) = self.faults.iter().find(|f| !system.honours(f.class())) {
            return Err(SystemError::new(
                system.name(),
                format!(
                    "does not honour {} faults, and the shape draws {} faults",
                    f.class().name(),
                    f.name()
                ),
            ));
        }
        if self.cas_percent > 0 && !system.supports_cas() {
            return Err(SystemError::new(
                system.name(),
                format!(
                    "does not support cas, and the shape asks for {}% cas ops",
                    self.cas_percent
                ),
            ));
        }
        Ok(())
    }

    /// Ops per client.
    pub fn ops_per_client(&self) -> usize {
        self.ops.div_ceil(self.clients.max(1))
    }

    /// The fault schedule's strategy: up to `max_faults` faults drawn from `faults`.
    fn fault_list(&self) -> FullVec<BoxedStrategy<Fault>> {
        let count = if self.faults.is_empty() {
            0
        } else {
            self.max_faults
        };
        FullVec::new(fault_strategy(self), count)
    }

    /// A scenario of this shape from its drawn parts, faults sorted by start. Keys are drawn
    /// before shrinking lowers the key count: each op's is taken modulo the count here, where
    /// a run would take it anyway, so that the scenario names only keys it has.
    fn build(
        &self,
        seed: u64,
        mut faults: Vec<Fault>,
        mut clients: Vec<ClientPlan>,
        keys: u64,
        nodes: u64,
    ) -> Scenario {
        let keys = keys.max(1);
        for op in clients.iter_mut().flat_map(|c| c.ops.iter_mut()) {
            op.key = (u64::from(op.key) % keys) as u32;
        }
        faults.sort_by_key(|f| f.at_ms);
        Scenario {
            seed,
            system: self.system.with_nodes(nodes as usize),
            network: self.network.clone(),
            keys: keys as u32,
            clients,
            faults,
            settle_ms: self.settle_ms,
        }
    }

    /// The simulated span, in ms, over which faults are scheduled: about as long as the workload
    /// runs (think time plus a few round trips per op).
    pub fn horizon_ms(&self) -> u64 {
        let per_op = self.think_ms as u64 + 4 * self.network.max_latency_ms.max(1);
        (self.ops_per_client() as u64 * per_op).max(50)
    }
}

/// The strategy for scenarios of a given shape.
pub fn scenario(shape: &ScenarioShape) -> impl Strategy<Value = Scenario> {
    let shape = shape.clone();
    let nodes_max = shape.system.nodes();
    let nodes_min = shape.system.min_nodes().min(nodes_max);
    let op = op_strategy(&shape);
    let per_client = shape.ops_per_client();
    let sticky = shape.sticky;
    // Shrinking only removes: an op's or a fault's own fields are left as drawn, so every shrink
    // step goes to taking clients, ops and faults out (what makes a counterexample small), and
    // with message delays fixed per message the rest of the run stays as it was.
    let op = op.no_shrink();
    let client = (any::<u16>().no_shrink(), NumberedVec::new(op, per_client)).prop_map(
        move |(node, mut ops)| {
            ops.sort_by_key(|(_, (o, _)): &(usize, (PlannedOp, u8))| o.at_ms);
            (sticky.then_some(node % 64), ops)
        },
    );
    (
        any::<u64>().no_shrink(),
        shape.fault_list(),
        NumberedVec::new(client, shape.clients),
        Down::new(1, shape.keys.max(1) as u64),
        Down::new(nodes_min as u64, nodes_max as u64),
    )
        .prop_map(move |(seed, faults, clients, keys, nodes)| {
            // Each write's value comes from where its client and the op stood as generated,
            // not where they stand after shrinking: see `PlannedOp::value`.
            let mut lookbacks = Vec::new();
            let clients = clients
                .into_iter()
                .map(|(c, (sticky, ops))| {
                    lookbacks.push(ops.iter().map(|(_, (_, back))| *back).collect());
                    ClientPlan {
                        // Drawn before the node count shrinks: taken modulo it here, where a
                        // run takes it anyway, so that the scenario names a node it has.
                        sticky: sticky.map(|s: u16| s % nodes.max(1) as u16),
                        ops: ops
                            .into_iter()
                            .map(|(n, (op, _))| PlannedOp {
                                value: op.kind.writes_value().then(|| unique_value(c, n)),
                                ..op
                            })
                            .collect(),
                    }
                })
                .collect();
            let mut s = shape.build(seed, faults, clients, keys, nodes);
            resolve_cas(&mut s, &lookbacks);
            s
        })
}

/// The probe workload of PBS (Bailis et al. 2012): one client writes a fresh key and, as soon
/// as the write is acknowledged, reads it back, `pairs` times, with no faults. Under random
/// replica choice the read misses the write with probability C(RF-W, R) / C(RF, R).
/// Shrinking removes pairs.
pub fn write_then_read(shape: &ScenarioShape, pairs: usize) -> impl Strategy<Value = Scenario> {
    let shape = shape.clone();
    let pair = (any::<u16>(), any::<u16>());
    (any::<u64>().no_shrink(), NumberedVec::new(pair, pairs)).prop_map(move |(seed, pairs)| {
        let mut ops = Vec::with_capacity(pairs.len() * 2);
        // A pair keeps its key, time and value as generated when others are shrunk away.
        let keys = pairs.last().map_or(1, |(i, _)| *i as u32 + 1);
        for (i, (write_via, read_via)) in pairs {
            // The get is planned at the same instant as the put: it is issued the moment the
            // put completes.
            let at_ms = (i as u32) * 20;
            ops.push(PlannedOp {
                kind: PlannedKind::Put,
                key: i as u32,
                coordinator: write_via % 64,
                at_ms,
                value: Some(unique_value(0, 2 * i)),
            });
            ops.push(PlannedOp {
                kind: PlannedKind::Get,
                key: i as u32,
                coordinator: read_via % 64,
                at_ms,
                value: None,
            });
        }
        Scenario {
            seed,
            system: shape.system.clone(),
            network: shape.network.clone(),
            keys,
            clients: vec![ClientPlan { sticky: None, ops }],
            faults: Vec::new(),
            settle_ms: shape.settle_ms,
        }
    })
}

/// Read-after-write chains: in each, one client writes a key and reads it back the moment the
/// write is acknowledged, while another client reads the same key twice in a row and a third
/// once, through other coordinators, a few ms after the write began (a read that sees the write
/// in flight and one that then misses it). `chains` chains spread over the workload's span, with the
/// shape's faults. Shrinking removes chains, ops of a chain, faults, keys and nodes.
pub fn read_after_write(shape: &ScenarioShape, chains: usize) -> impl Strategy<Value = Scenario> {
    let shape = shape.clone();
    let clients = shape.clients.max(3);
    let horizon = shape.horizon_ms().min(u32::MAX as u64) as u32;
    let chain = (
        0..clients,
        0..shape.keys.max(1),
        [any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>()],
        (0u32..=8, 0u32..=8),
        0..=horizon,
    )
        .no_shrink();
    // Which of a chain's five ops are kept: all when generated, and shrinking drops them one
    // by one, so a chain can shrink to the two or three ops a violation rests on.
    let chain = (chain, Subset::new(5));
    let chains = NumberedVec::new(chain, chains);
    let nodes_max = shape.system.nodes();
    let nodes_min = shape.system.min_nodes().min(nodes_max);
    (
        any::<u64>().no_shrink(),
        shape.fault_list(),
        chains,
        Down::new(1, shape.keys.max(1) as u64),
        Down::new(nodes_min as u64, nodes_max as u64),
    )
        .prop_map(move |(seed, faults, chains, keys, nodes)| {
            let mut plans = vec![
                ClientPlan {
                    sticky: None,
                    ops: Vec::new()
                };
                clients
            ];
            for (n, ((writer, key, via, (d1, d2), at_ms), kept)) in chains {
                let op = |kind, coordinator: u16, at_ms| PlannedOp {
                    kind,
                    key,
                    coordinator: coordinator % 64,
                    at_ms,
                    value: None,
                };
                // The chain's number as generated names its write's value.
                let put = PlannedOp {
                    value: Some(unique_value(writer, n)),
                    ..op(PlannedKind::Put, via[0], at_ms)
                };
                let chain = [
                    (writer, put),
                    (writer, op(PlannedKind::Get, via[1], at_ms)),
                    (writer + 1, op(PlannedKind::Get, via[2], at_ms + d1)),
                    (
                        writer + 1,
                        op(PlannedKind::Get, via[0].wrapping_add(via[3]), at_ms + d1),
                    ),
                    (writer + 2, op(PlannedKind::Get, via[3], at_ms + d2)),
                ];
                for k in kept {
                    let (client, op) = chain[k];
                    plans[client % clients].ops.push(op);
                }
            }
            for p in &mut plans {
                // Stable: a chain's put stays before its own read-back at the same instant.
                p.ops.sort_by_key(|o| o.at_ms);
            }
            plans.retain(|p| !p.ops.is_empty());
            shape.build(seed, faults, plans, keys, nodes)
        })
}

/// One op of a client's plan, with how far back a cas looks for the value it expects (see
/// [`resolve_cas`]; 0 for every other op).
fn op_strategy(shape: &ScenarioShape) -> BoxedStrategy<(PlannedOp, u8)> {
    let (g, p) = (shape.get_percent as u32, shape.put_percent as u32);
    let d = 100u32.saturating_sub(g + p);
    let horizon = shape.horizon_ms().min(u32::MAX as u64) as u32;
    let op = |(kind, key, coordinator, at_ms)| PlannedOp {
        kind,
        key,
        coordinator: coordinator % 64,
        at_ms,
        value: None,
    };
    let c = u32::from(shape.cas_percent.min(100));
    if c == 0 {
        // Exactly the draws made before cas existed, so that every seed without cas still
        // generates the scenario it always did.
        // Weighted so that shrinking (toward the first arm) turns ops into gets.
        let kind = prop_oneof![
            g.max(1) => Just(PlannedKind::Get),
            p.max(1) => Just(PlannedKind::Put),
            d.max(if d == 0 { 0 } else { 1 }) => Just(PlannedKind::Delete),
        ];
        return (kind, 0..shape.keys.max(1), any::<u16>(), 0..=horizon)
            .prop_map(move |drawn| (op(drawn), 0))
            .boxed();
    }
    // In hundredths of a percent: `c`% cas, and the rest in the proportions of the others.
    let rest = 100 - c;
    let kind = prop_oneof![
        (g * rest).max(1) => Just(PlannedKind::Get),
        (p * rest).max(1) => Just(PlannedKind::Put),
        (d * rest).max(if d * rest == 0 { 0 } else { 1 }) => Just(PlannedKind::Delete),
        c * 100 => Just(PlannedKind::Cas { expect: None }),
    ];
    (
        kind,
        0..shape.keys.max(1),
        any::<u16>(),
        0..=horizon,
        0u8..4,
    )
        .prop_map(move |(kind, key, coordinator, at_ms, back)| {
            let back = if matches!(kind, PlannedKind::Cas { .. }) {
                back
            } else {
                0
            };
            (op((kind, key, coordinator, at_ms)), back)
        })
        .boxed()
}

/// Gives every cas of `s` the value it expects, from the writes planned before it on its key
/// (puts and cas by their values, deletes as absence), in the order of their planned times:
/// with `lookback` 0 or 1 the latest such write (a cas that should swap, unless another write
/// comes first), with 2 the one before it (one that should not, unless the latest failed),
/// with 3 the key's absence. `lookbacks` holds one entry per op, client by client. It is taken
/// from the plan as it stands, so a cas keeps its expectation while shrinking removes other
/// ops, and follows its write's predecessor when its write is removed.
pub fn resolve_cas(s: &mut Scenario, lookbacks: &[Vec<u8>]) {
    let mut order: Vec<(u32, usize, usize)> = Vec::new();
    for (ci, plan) in s.clients.iter().enumerate() {
        for (i, op) in plan.ops.iter().enumerate() {
            order.push((op.at_ms, ci, i));
        }
    }
    if !order
        .iter()
        .any(|&(_, ci, i)| matches!(s.clients[ci].ops[i].kind, PlannedKind::Cas { .. }))
    {
        return;
    }
    order.sort_unstable();
    // Per key, the values its writes leave, in planned order (`None`: a delete).
    let mut written: std::collections::BTreeMap<u32, Vec<Option<i64>>> = Default::default();
    for (_, ci, i) in order {
        let op = s.clients[ci].ops[i];
        let history = written.entry(op.key).or_default();
        match op.kind {
            PlannedKind::Get => {}
            PlannedKind::Put => history.push(Some(s.put_value(ci, i))),
            PlannedKind::Delete => history.push(None),
            PlannedKind::Cas { .. } => {
                let back = lookbacks.get(ci).and_then(|l| l.get(i)).copied();
                let expect = match back.unwrap_or(0) {
                    3 => None,
                    b => {
                        let behind = usize::from(b.saturating_sub(1));
                        history.iter().rev().nth(behind).copied().flatten()
                    }
                };
                s.clients[ci].ops[i].kind = PlannedKind::Cas { expect };
                history.push(Some(s.put_value(ci, i)));
            }
        }
    }
}

fn fault_strategy(shape: &ScenarioShape) -> BoxedStrategy<Fault> {
    let horizon = shape.horizon_ms();
    let (lo, hi) = shape.fault_window_ms.unwrap_or((10, (horizon / 2).max(11)));
    let window = move || lo..=hi.max(lo);
    // Crashes take down one node or several consecutive ones at once, up to the whole cluster
    // (a power failure): only then can unsynced acknowledged writes vanish from every replica.
    let nodes = shape.system.nodes().max(1) as u16;
    let choices: Vec<BoxedStrategy<FaultKind>> = shape
        .faults
        .iter()
        .map(|choice| -> BoxedStrategy<FaultKind> {
            match choice {
                FaultChoice::Partition => (any::<u32>(), window())
                    .prop_map(|(mask, duration_ms)| FaultKind::Partition {
                        shape: PartitionShape::Halves { mask },
                        duration_ms,
                    })
                    .boxed(),
                FaultChoice::Isolate => (0u16..64, window())
                    .prop_map(|(node, duration_ms)| FaultKind::Partition {
                        shape: PartitionShape::Isolate { node },
                        duration_ms,
                    })
                    .boxed(),
                FaultChoice::Ring => window()
                    .prop_map(|duration_ms| FaultKind::Partition {
                        shape: PartitionShape::Ring,
                        duration_ms,
                    })
                    .boxed(),
                FaultChoice::Bridge => (0u16..64, window())
                    .prop_map(|(node, duration_ms)| FaultKind::Partition {
                        shape: PartitionShape::Bridge { node },
                        duration_ms,
                    })
                    .boxed(),
                FaultChoice::Crash => (0u16..64, 1u16..=nodes, window())
                    .prop_map(|(node, count, down_ms)| FaultKind::Crash {
                        node,
                        count,
                        down_ms,
                    })
                    .boxed(),
                FaultChoice::Loss => (10u8..=60, window())
                    .prop_map(|(percent, duration_ms)| FaultKind::Loss {
                        percent,
                        duration_ms,
                    })
                    .boxed(),
                FaultChoice::Latency => (20u64..=200, window())
                    .prop_map(|(max_ms, duration_ms)| FaultKind::Latency {
                        max_ms,
                        duration_ms,
                    })
                    .boxed(),
                FaultChoice::Skew => (0u16..64, 10i64..=500, any::<bool>(), window())
                    .prop_map(|(node, ms, behind, duration_ms)| FaultKind::Skew {
                        node,
                        offset_ms: if behind { -ms } else { ms },
                        duration_ms,
                    })
                    .boxed(),
                FaultChoice::Pause => (0u16..64, window())
                    .prop_map(|(node, duration_ms)| FaultKind::Pause { node, duration_ms })
                    .boxed(),
            }
        })
        .collect();
    if choices.is_empty() {
        // Never drawn (the fault count is zero), but a strategy must exist.
        return Just(Fault {
            at_ms: 0,
            kind: FaultKind::Loss {
                percent: 1,
                duration_ms: 0,
            },
            after_write: None,
        })
        .boxed();
    }
    (0..=horizon, proptest::strategy::Union::new(choices))
        .prop_map(|(at_ms, kind)| Fault {
            at_ms,
            kind,
            after_write: None,
        })
        .no_shrink()
        .boxed()
}

/// A vector generated at exactly `len` elements that shrinks by removing elements (halves,
/// then quarters, down to single elements) and then by shrinking the elements, one step on
/// each in turn.
#[derive(Clone, Debug)]
pub struct FullVec<S> {
    element: S,
    len: usize,
}

impl<S> FullVec<S> {
    /// A vector of exactly `len` elements drawn from `element`.
    pub fn new(element: S, len: usize) -> Self {
        Self { element, len }
    }
}

impl<S: Strategy> Strategy for FullVec<S> {
    type Tree = FullVecTree<S::Tree>;
    type Value = Vec<S::Value>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let elements = (0..self.len)
            .map(|_| self.element.new_tree(runner))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FullVecTree::over(elements))
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Delete { chunk: usize, at: usize },
    Shrink { at: usize },
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Deleted { from: usize, to: usize },
    Shrunk { at: usize },
}

/// The value tree of [`FullVec`].
#[derive(Clone, Debug)]
pub struct FullVecTree<T> {
    elements: Vec<T>,
    included: Vec<bool>,
    phase: Phase,
    last: Option<Step>,
    /// Which elements of the last deleted range were included before, to restore them.
    saved: Vec<bool>,
    /// Whether any step of the current pass was kept.
    progress: bool,
    /// Elements that can shrink no further in this pass.
    exhausted: Vec<bool>,
}

impl<T> FullVecTree<T> {
    /// Every one of `elements` included, nothing tried yet.
    fn over(elements: Vec<T>) -> Self {
        let len = elements.len();
        FullVecTree {
            included: vec![true; len],
            elements,
            phase: Phase::Delete {
                chunk: (len / 2).max(1),
                at: 0,
            },
            last: None,
            saved: Vec::new(),
            progress: false,
            exhausted: vec![false; len],
        }
    }
}

impl<T: ValueTree> ValueTree for FullVecTree<T> {
    type Value = Vec<T::Value>;

    fn current(&self) -> Self::Value {
        self.elements
            .iter()
            .zip(&self.included)
            .filter(|(_, &inc)| inc)
            .map(|(e, _)| e.current())
            .collect()
    }

    fn simplify(&mut self) -> bool {
        let len = self.elements.len();
        // A step not undone by complicate() was kept: the vector got simpler this pass.
        if self.last.is_some() {
            self.progress = true;
        }
        loop {
            match self.phase {
                Phase::Delete { chunk, at } => {
                    if at >= len {
                        self.phase = if chunk > 1 {
                            Phase::Delete {
                                chunk: chunk / 2,
                                at: 0,
                            }
                        } else {
                            Phase::Shrink { at: 0 }
                        };
                        continue;
                    }
                    let to = (at + chunk).min(len);
                    self.phase = Phase::Delete { chunk, at: to };
                    if self.included[at..to].iter().any(|&i| i) {
                        self.saved = self.included[at..to].to_vec();
                        self.included[at..to].fill(false);
                        self.last = Some(Step::Deleted { from: at, to });
                        return true;
                    }
                }
                Phase::Shrink { at } => {
                    // One step on each element in turn, not one element to the end before
                    // the next: with a budget of runs, every client's ops get their halves
                    // tried before any client's ops are tried one by one.
                    let next = (0..len)
                        .map(|off| (at + off) % len.max(1))
                        .find(|&i| self.included[i] && !self.exhausted[i]);
                    let Some(i) = next else {
                        // Shrinking elements can make more of them removable (an op that
                        // moved or lost its fault no longer matters): pass again while the
                        // last pass changed anything.
                        if std::mem::take(&mut self.progress) {
                            self.exhausted.fill(false);
                            self.phase = Phase::Delete {
                                chunk: (len / 2).max(1),
                                at: 0,
                            };
                            continue;
                        }
                        return false;
                    };
                    if self.elements[i].simplify() {
                        self.last = Some(Step::Shrunk { at: i });
                        self.phase = Phase::Shrink { at: i + 1 };
                        return true;
                    }
                    self.exhausted[i] = true;
                }
            }
        }
    }

    fn complicate(&mut self) -> bool {
        match self.last.take() {
            None => false,
            Some(Step::Deleted { from, to }) => {
                for (i, was) in (from..to).zip(std::mem::take(&mut self.saved)) {
                    self.included[i] = was;
                }
                true
            }
            Some(Step::Shrunk { at }) => {
                if self.elements[at].complicate() {
                    self.last = Some(Step::Shrunk { at });
                    true
                } else {
                    // This element is back where it last failed and can go no further that
                    // way: say so (the same value is tested again, and fails) rather than
                    // end the whole shrink, and leave it be from now on.
                    self.exhausted[at] = true;
                    true
                }
            }
        }
    }
}

/// A [`FullVec`] whose elements come numbered by their place as generated: shrinking removes
/// elements and leaves the others' numbers as they were.
#[derive(Clone, Debug)]
pub struct NumberedVec<S>(FullVec<S>);

impl<S> NumberedVec<S> {
    /// A vector of exactly `len` numbered elements drawn from `element`.
    pub fn new(element: S, len: usize) -> Self {
        Self(FullVec::new(element, len))
    }
}

impl<S: Strategy> Strategy for NumberedVec<S> {
    type Tree = NumberedTree<S::Tree>;
    type Value = Vec<(usize, S::Value)>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        self.0.new_tree(runner).map(NumberedTree)
    }
}

/// The value tree of [`NumberedVec`].
#[derive(Clone, Debug)]
pub struct NumberedTree<T>(FullVecTree<T>);

impl<T: ValueTree> ValueTree for NumberedTree<T> {
    type Value = Vec<(usize, T::Value)>;

    fn current(&self) -> Self::Value {
        let t = &self.0;
        (t.elements.iter().zip(&t.included).enumerate())
            .filter(|(_, (_, &inc))| inc)
            .map(|(i, (e, _))| (i, e.current()))
            .collect()
    }

    fn simplify(&mut self) -> bool {
        self.0.simplify()
    }

    fn complicate(&mut self) -> bool {
        self.0.complicate()
    }
}

/// The indices `0..n`, all of them when generated; shrinking removes them (halves first, then
/// one by one), as [`FullVec`] removes elements.
#[derive(Clone, Copy, Debug)]
pub struct Subset {
    n: usize,
}

impl Subset {
    /// All of `0..n`.
    pub fn new(n: usize) -> Self {
        Self { n }
    }
}

impl Strategy for Subset {
    type Tree = FullVecTree<<Just<usize> as Strategy>::Tree>;
    type Value = Vec<usize>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let elements = (0..self.n)
            .map(|i| Just(i).new_tree(runner))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FullVecTree::over(elements))
    }
}

/// An integer generated at its maximum that shrinks toward its minimum by binary search.
#[derive(Clone, Copy, Debug)]
pub struct Down {
    lo: u64,
    hi: u64,
}

impl Down {
    /// Generates `hi`, shrinks toward `lo`.
    pub fn new(lo: u64, hi: u64) -> Self {
        Self { lo: lo.min(hi), hi }
    }
}

impl Strategy for Down {
    type Tree = DownTree;
    type Value = u64;

    fn new_tree(&self, _: &mut TestRunner) -> NewTree<Self> {
        Ok(DownTree {
            lo: self.lo,
            curr: self.hi,
            hi: self.hi,
        })
    }
}

/// The value tree of [`Down`]: `lo` is the smallest value not yet known to pass, `hi` the
/// smallest known to fail.
#[derive(Clone, Copy, Debug)]
pub struct DownTree {
    lo: u64,
    curr: u64,
    hi: u64,
}

impl ValueTree for DownTree {
    type Value = u64;

    fn current(&self) -> u64 {
        self.curr
    }

    fn simplify(&mut self) -> bool {
        if self.lo >= self.hi {
            return false;
        }
        self.hi = self.curr;
        self.curr = self.lo + (self.hi - self.lo) / 2;
        self.curr != self.hi
    }

    fn complicate(&mut self) -> bool {
        if self.curr >= self.hi {
            return false;
        }
        self.lo = self.curr + 1;
        self.curr = self.lo + (self.hi - self.lo) / 2;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shrinks `tree` as proptest's runner does (simplify after a failure, complicate after
    /// a pass) while `fails` holds, and returns the last failing value and the tests run.
    fn shrink<T: ValueTree>(mut tree: T, fails: impl Fn(&T::Value) -> bool) -> (T::Value, usize) {
        let mut best = tree.current();
        assert!(fails(&best), "the generated value must fail");
        let mut tests = 0;
        if !tree.simplify() {
            return (best, tests);
        }
        loop {
            tests += 1;
            assert!(tests < 10_000, "shrinking must end");
            let v = tree.current();
            let more = if fails(&v) {
                best = v;
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !more {
                return (best, tests);
            }
        }
    }

    fn runner() -> TestRunner {
        TestRunner::deterministic()
    }

    #[test]
    fn fault_choice_names_are_derived_in_order() {
        let names: Vec<&str> = FaultChoice::VARIANTS.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "partition",
                "isolate",
                "ring",
                "bridge",
                "crash",
                "loss",
                "latency",
                "skew",
                "pause"
            ]
        );
        for &f in FaultChoice::VARIANTS {
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.name())
            );
            assert_eq!(parse_fault_list(f.name()), Ok(vec![f]));
        }
        let mixed: Vec<_> = (FaultChoice::VARIANTS.iter().copied())
            .filter(|&f| f != FaultChoice::Skew)
            .collect();
        assert_eq!(parse_fault_list("none, mixed,crash"), Ok(mixed));
        assert_eq!(parse_fault_list("none"), Ok(vec![]));
        assert_eq!(
            parse_fault_list("crash,x").unwrap_err().to_string(),
            "unknown fault \"x\"; expected a comma-separated list of none, partition, isolate, \
             ring, bridge, crash, loss, latency, skew, pause, mixed"
        );
    }

    #[test]
    fn full_vec_is_generated_whole_and_shrinks_to_the_elements_a_failure_needs() {
        let strategy = FullVec::new(0u32..1_000_000, 40);
        let tree = strategy.new_tree(&mut runner()).unwrap();
        let all = tree.current();
        assert_eq!(all.len(), 40);
        let (a, b) = (all[3], all[31]);
        let (min, _) = shrink(tree, |v| v.contains(&a) && v.contains(&b));
        assert_eq!(min, vec![a, b]);
    }

    #[test]
    fn full_vec_shrinks_inner_vectors_in_turn_and_reaches_the_minimum() {
        // Four clients of ten ops; the failure needs one op of client 0 and one of client 2.
        let strategy = FullVec::new(FullVec::new(0u32..1_000_000, 10), 4);
        let tree = strategy.new_tree(&mut runner()).unwrap();
        let all = tree.current();
        let (a, b) = (all[0][7], all[2][1]);
        let (min, _) = shrink(tree, |v| {
            let flat: Vec<u32> = v.iter().flatten().copied().collect();
            flat.contains(&a) && flat.contains(&b)
        });
        let flat: Vec<u32> = min.iter().flatten().copied().collect();
        assert_eq!(flat, vec![a, b]);
    }

    #[test]
    fn a_value_that_always_passes_leaves_the_vector_as_generated() {
        let strategy = FullVec::new(0u32..10, 8);
        let tree = strategy.new_tree(&mut runner()).unwrap();
        let all = tree.current();
        let (min, tests) = shrink(tree, |v| *v == all);
        assert_eq!(min, all);
        assert!(tests > 0);
    }

    #[test]
    fn numbered_vec_keeps_each_elements_number_as_generated() {
        let strategy = NumberedVec::new(0u32..1_000_000, 12);
        let tree = strategy.new_tree(&mut runner()).unwrap();
        let all = tree.current();
        assert_eq!(
            all.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..12).collect::<Vec<_>>()
        );
        let keep = [all[2], all[9]];
        let (min, _) = shrink(tree, |v| keep.iter().all(|k| v.contains(k)));
        assert_eq!(min, keep.to_vec());
    }

    #[test]
    fn subset_starts_full_and_shrinks_to_the_indices_needed() {
        let tree = Subset::new(5).new_tree(&mut runner()).unwrap();
        assert_eq!(tree.current(), vec![0, 1, 2, 3, 4]);
        let (min, _) = shrink(tree, |v| v.contains(&1) && v.contains(&4));
        assert_eq!(min, vec![1, 4]);
    }

    #[test]
    fn down_starts_at_its_maximum_and_finds_the_smallest_failing_value() {
        for threshold in [1u64, 2, 7, 13, 20] {
            let tree = Down::new(1, 20).new_tree(&mut runner()).unwrap();
            assert_eq!(tree.current(), 20);
            let (min, _) = shrink(tree, |v| *v >= threshold);
            assert_eq!(min, threshold, "threshold {threshold}");
        }
    }

    /// Drives `tree` as proptest's runner does (simplify after a failure, complicate after a
    /// pass), `fails` deciding each value, and checks the contract of a value tree at every
    /// step:
    /// - a simplify that changes the value makes it smaller than the last failing value, and a
    ///   simplify that says it did not changes nothing;
    /// - the first complicate after a simplify says yes, and every complicate lands between the
    ///   value that passed and the last failing value; when `restores(failing, simplified)`, it
    ///   is the failing value exactly;
    /// - the passes end.
    ///
    /// Returns the number of values tested.
    fn check_contract<T>(
        mut tree: T,
        size: impl Fn(&T::Value) -> u64,
        restores: impl Fn(&T::Value, &T::Value) -> bool,
        mut fails: impl FnMut(&T::Value) -> bool,
    ) -> usize
    where
        T: ValueTree,
        T::Value: Clone + PartialEq,
    {
        // The generated value is the first failure.
        let mut failing = tree.current();
        let mut tests = 0;
        loop {
            if !tree.simplify() {
                assert_eq!(
                    tree.current(),
                    failing,
                    "a simplify that says no changes nothing"
                );
                return tests;
            }
            let simplified = tree.current();
            assert!(
                size(&simplified) < size(&failing),
                "simplify must make the value smaller: {failing:?} -> {simplified:?}"
            );
            let mut now = simplified.clone();
            let mut first = true;
            loop {
                tests += 1;
                assert!(tests < 100_000, "shrinking must end");
                if fails(&now) {
                    failing = now;
                    break;
                }
                let changed = tree.complicate();
                let after = tree.current();
                if first {
                    assert!(
                        changed,
                        "complicate must answer a simplify that changed the value"
                    );
                    if restores(&failing, &simplified) {
                        assert_eq!(
                            after, failing,
                            "complicate restores what a simplify removed"
                        );
                    }
                }
                first = false;
                if !changed {
                    assert_eq!(after, now, "a complicate that says no changes nothing");
                    return tests;
                }
                assert!(
                    size(&now) <= size(&after) && size(&after) <= size(&failing),
                    "complicate must land between the value that passed ({now:?}) and the last \
                     failing one ({failing:?}): {after:?}"
                );
                now = after;
            }
        }
    }

    /// A vector's size: one per element plus the element's own size, so removing an element
    /// and shrinking one both make it smaller.
    fn vec_size<V>(v: &[V], element: impl Fn(&V) -> u64) -> u64 {
        v.iter().map(|e| 1 + element(e)).sum()
    }

    /// A simplify that removed elements (the vector got shorter) is undone exactly.
    fn shorter<V>() -> impl Fn(&Vec<V>, &Vec<V>) -> bool {
        |failing, simplified| simplified.len() < failing.len()
    }

    /// Answers from `decisions` in turn (true: the value fails), then `rest` for ever.
    fn scripted<V>(decisions: Vec<bool>, rest: bool) -> impl FnMut(&V) -> bool {
        let mut d = decisions.into_iter();
        move |_| d.next().unwrap_or(rest)
    }

    fn seeded(seed: u64) -> TestRunner {
        use proptest::test_runner::{Config, RngAlgorithm, TestRng};
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        )
    }

    #[test]
    fn every_shrinker_keeps_the_contract_when_everything_fails_or_everything_passes() {
        for rest in [true, false] {
            let tree = FullVec::new(0u32..1000, 30)
                .new_tree(&mut runner())
                .unwrap();
            let size = |v: &Vec<u32>| vec_size(v, |&e| e.into());
            let tests = check_contract(tree, size, shorter(), scripted(vec![], rest));
            assert!(tests > 0);
            let tree = Subset::new(7).new_tree(&mut runner()).unwrap();
            check_contract(tree, |v| v.len() as u64, shorter(), scripted(vec![], rest));
            let tree = Down::new(3, 1000).new_tree(&mut runner()).unwrap();
            check_contract(tree, |&v| v, |_, _| false, scripted(vec![], rest));
        }
        // Everything failing shrinks each to its smallest value.
        let mut tree = Down::new(3, 1000).new_tree(&mut runner()).unwrap();
        while tree.simplify() {}
        assert_eq!(tree.current(), 3);
    }

    #[test]
    fn down_at_its_bounds_neither_simplifies_nor_complicates() {
        let mut tree = Down::new(5, 5).new_tree(&mut runner()).unwrap();
        assert!(!tree.simplify());
        assert!(!tree.complicate());
        assert_eq!(tree.current(), 5);
        // A low bound above the high one is lowered to it.
        let mut tree = Down::new(9, 4).new_tree(&mut runner()).unwrap();
        assert_eq!(tree.current(), 4);
        assert!(!tree.simplify());
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn full_vec_keeps_the_contract_under_any_verdicts(
            seed in any::<u64>(),
            len in 0usize..40,
            decisions in proptest::collection::vec(any::<bool>(), 0..300),
            rest in any::<bool>(),
        ) {
            let tree = FullVec::new(0u32..1_000_000, len).new_tree(&mut seeded(seed)).unwrap();
            let size = |v: &Vec<u32>| vec_size(v, |&e| e.into());
            check_contract(tree, size, shorter(), scripted(decisions, rest));
        }

        #[test]
        fn nested_full_vecs_of_downs_keep_the_contract_under_any_verdicts(
            seed in any::<u64>(),
            clients in 0usize..6,
            ops in 0usize..12,
            decisions in proptest::collection::vec(any::<bool>(), 0..400),
            rest in any::<bool>(),
        ) {
            // Clients of ops, as a scenario's, with elements that shrink by Down's binary search.
            let strategy = FullVec::new(FullVec::new(Down::new(2, 300), ops), clients);
            let tree = strategy.new_tree(&mut seeded(seed)).unwrap();
            let size = |v: &Vec<Vec<u64>>| vec_size(v, |c| vec_size(c, |&e| e));
            check_contract(tree, size, shorter(), scripted(decisions, rest));
        }

        #[test]
        fn numbered_vec_keeps_the_contract_and_its_numbers_under_any_verdicts(
            seed in any::<u64>(),
            len in 0usize..30,
            decisions in proptest::collection::vec(any::<bool>(), 0..300),
            rest in any::<bool>(),
        ) {
            let tree = NumberedVec::new(0u32..1000, len).new_tree(&mut seeded(seed)).unwrap();
            let generated = tree.current();
            let mut check = scripted(decisions, rest);
            let size = |v: &Vec<(usize, u32)>| vec_size(v, |&(_, e)| e.into());
            check_contract(tree, size, shorter(), |v: &Vec<(usize, u32)>| {
                // Numbers stay as generated: increasing, and each one of the generated.
                assert!(v.windows(2).all(|w| w[0].0 < w[1].0), "{v:?}");
                assert!(v.iter().all(|(n, _)| *n < generated.len()), "{v:?}");
                check(v)
            });
        }

        #[test]
        fn subset_keeps_the_contract_under_any_verdicts(
            n in 0usize..20,
            decisions in proptest::collection::vec(any::<bool>(), 0..100),
            rest in any::<bool>(),
        ) {
            let tree = Subset::new(n).new_tree(&mut runner()).unwrap();
            let mut check = scripted(decisions, rest);
            check_contract(tree, |v| v.len() as u64, shorter(), |v: &Vec<usize>| {
                assert!(v.windows(2).all(|w| w[0] < w[1]) && v.iter().all(|&i| i < n));
                check(v)
            });
        }

        #[test]
        fn down_keeps_the_contract_under_any_verdicts(
            lo in 0u64..1000,
            span in 0u64..100_000,
            decisions in proptest::collection::vec(any::<bool>(), 0..100),
            rest in any::<bool>(),
        ) {
            let tree = Down::new(lo, lo + span).new_tree(&mut runner()).unwrap();
            let mut check = scripted(decisions, rest);
            check_contract(tree, |&v| v, |_, _| false, |v: &u64| {
                assert!((lo..=lo + span).contains(v), "{v} out of {lo}..={}", lo + span);
                check(v)
            });
        }
    }

    fn leader_follower(nodes: usize) -> SystemConfig {
        SystemConfig::Named(crate::scenario::SystemSpec {
            name: crate::systems::leader_follower::NAME.into(),
            nodes,
            config: serde_json::Value::Null,
        })
    }

    #[test]
    fn a_cas_expects_a_value_written_before_it_on_its_key() {
        let shape = ScenarioShape {
            keys: 2,
            ops: 80,
            cas_percent: 40,
            ..ScenarioShape::for_system(leader_follower(3), &[])
        };
        let (mut cas, mut matched, mut absent) = (0, 0, 0);
        for seed in 1..=5 {
            let s = crate::explore::generate(&shape, seed);
            s.validate().expect("every written value is unique");
            // (planned at, key, value written) of every put and cas.
            let writes: Vec<(u32, u32, i64)> = (s.clients.iter().enumerate())
                .flat_map(|(ci, p)| p.ops.iter().enumerate().map(move |(i, o)| (ci, i, o)))
                .filter(|(_, _, o)| o.kind.writes_value())
                .map(|(ci, i, o)| (o.at_ms, o.key, s.put_value(ci, i)))
                .collect();
            for op in s.clients.iter().flat_map(|p| &p.ops) {
                let PlannedKind::Cas { expect } = op.kind else {
                    continue;
                };
                cas += 1;
                match expect {
                    None => absent += 1,
                    Some(v) => {
                        assert!(
                            writes
                                .iter()
                                .any(|w| *w == (w.0, op.key, v) && w.0 <= op.at_ms),
                            "cas expects {v}, which no earlier write of key {} wrote",
                            op.key
                        );
                        matched += 1;
                    }
                }
            }
        }
        // About 40% of 400 ops; most expect a value, some the key's absence.
        assert!((100..=220).contains(&cas), "{cas} cas ops");
        assert!(matched > cas / 2 && absent > 0, "{matched} {absent}");
    }

    #[test]
    fn a_shape_with_cas_is_refused_for_a_system_without_it() {
        let shape = ScenarioShape {
            cas_percent: 5,
            ..ScenarioShape::new(StoreConfig::default(), &[])
        };
        let e = shape.check_system().unwrap_err().to_string();
        assert_eq!(
            e,
            "system leaderless: does not support cas, and the shape asks for 5% cas ops"
        );
        let lf = ScenarioShape {
            cas_percent: 5,
            ..ScenarioShape::for_system(leader_follower(3), &[FaultChoice::Crash])
        };
        lf.check_system().unwrap();
        let skew = ScenarioShape {
            faults: vec![FaultChoice::Skew],
            ..lf
        };
        let e = skew.check_system().unwrap_err().to_string();
        assert!(e.contains("does not honour skew faults"), "{e}");
    }

    #[test]
    fn chains_shrink_to_single_ops_and_keep_their_write_values() {
        let shape = ScenarioShape {
            clients: 3,
            ops: 40,
            ..ScenarioShape::new(StoreConfig::default(), &[])
        };
        let strategy = read_after_write(&shape, 10);
        let tree = strategy.new_tree(&mut runner()).unwrap();
        let all = tree.current();
        let puts: Vec<PlannedOp> = all
            .clients
            .iter()
            .flat_map(|c| c.ops.iter().copied())
            .filter(|o| o.kind == PlannedKind::Put)
            .collect();
        assert_eq!(puts.len(), 10);
        let target = puts[6];
        let (min, _) = shrink(tree, |s| s.clients.iter().any(|c| c.ops.contains(&target)));
        // One op left, the same put with the same value, even with every other chain gone.
        assert_eq!(min.op_count(), 1);
        assert!(min.clients.iter().any(|c| c.ops == vec![target]));
        assert!(target.value.is_some());
    }
}
