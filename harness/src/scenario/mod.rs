//! A scenario: one serializable value that says everything a run does.
//!
//! The store's configuration, the simulated network, every client's planned operations, the
//! fault schedule and the seed. Running the same scenario always produces the same history, byte
//! for byte, so a saved scenario is a complete, replayable test case.
//!
//! A client's key and sticky coordinator are indices below the key and node counts (a scenario
//! that names one beyond is refused); faults' nodes and ops' coordinators are taken modulo the
//! node count. The generator draws them before shrinking lowers the counts, and takes keys and
//! sticky coordinators modulo the counts it ends with, so shrinking can remove nodes and keys
//! without invalidating the rest.
use serde::{Deserialize, Serialize};

use crate::systems::leaderless::StoreConfig;

mod read;
pub use read::{value_with_unique_keys, Header};

/// The schema tag written into every scenario.
pub const SCENARIO_FORMAT: &str = "quorumlab-scenario/1";

/// A complete, replayable test case. It deserializes through the reader in `read.rs`, which
/// refuses duplicate keys, unknown fields and lists past their limits as it reads.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Seeds turmoil (message latency, loss, host order) and the store's own randomness (ring
    /// tokens). Never shrunk: the same seed with the same plan replays the same run.
    pub seed: u64,
    /// The system under test and its configuration: the reference store's as the `store`
    /// field, any other system's as the `system` field.
    #[serde(flatten)]
    pub system: SystemConfig,
    /// Latency of the simulated network.
    pub network: NetworkConfig,
    /// Number of distinct keys, `k0` to `k{keys-1}`.
    pub keys: u32,
    /// Every client's planned operations, run concurrently, each client one op at a time.
    pub clients: Vec<ClientPlan>,
    /// Faults, each starting at a point in simulated time and (except heal-style faults) lasting
    /// for a window.
    pub faults: Vec<Fault>,
    /// Simulated milliseconds to wait after the workload, with every fault healed, before the
    /// final reads (lets hints, repair and anti-entropy settle). Without anti-entropy the
    /// settle ends earlier once no node has had work in hand (a request waiting for replicas, a
    /// hint, a held-back datagram other than a heartbeat) for two heartbeat intervals.
    pub settle_ms: u64,
}

/// The system a scenario runs against.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum SystemConfig {
    /// The reference leaderless store (`--system leaderless`), configured.
    #[serde(rename = "store")]
    Leaderless(StoreConfig),
    /// Any other system, by name: a built-in one ([`crate::systems`]) or a user's own, which
    /// runs through [`crate::runner::run_system`].
    #[serde(rename = "system")]
    Named(SystemSpec),
}

/// A system other than the reference store, as a scenario names it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SystemSpec {
    /// The system's name.
    pub name: String,
    /// How many nodes the cluster has.
    pub nodes: usize,
    /// The system's own configuration, as it reads it.
    #[serde(
        default,
        skip_serializing_if = "serde_json::Value::is_null",
        deserialize_with = "read::config"
    )]
    pub config: serde_json::Value,
}

impl SystemConfig {
    /// The system's name.
    pub fn name(&self) -> &str {
        match self {
            SystemConfig::Leaderless(_) => crate::systems::leaderless::NAME,
            SystemConfig::Named(s) => &s.name,
        }
    }

    /// How many nodes the cluster has.
    pub fn nodes(&self) -> usize {
        match self {
            SystemConfig::Leaderless(c) => c.nodes,
            SystemConfig::Named(s) => s.nodes,
        }
    }

    /// The fewest nodes shrinking may leave: the replication factor for the reference
    /// store, and every node for other systems (they say nothing of how they would shrink).
    pub fn min_nodes(&self) -> usize {
        match self {
            SystemConfig::Leaderless(c) => c.rf.max(1),
            SystemConfig::Named(s) => s.nodes,
        }
    }

    /// The same system with `nodes` nodes.
    pub fn with_nodes(&self, nodes: usize) -> SystemConfig {
        let mut out = self.clone();
        match &mut out {
            SystemConfig::Leaderless(c) => c.nodes = nodes,
            SystemConfig::Named(s) => s.nodes = nodes,
        }
        out
    }

    /// The reference store's configuration, when that is the system.
    pub fn store(&self) -> Option<&StoreConfig> {
        match self {
            SystemConfig::Leaderless(c) => Some(c),
            SystemConfig::Named(_) => None,
        }
    }

    /// The reference store's configuration, mutable, when that is the system.
    pub fn store_mut(&mut self) -> Option<&mut StoreConfig> {
        match self {
            SystemConfig::Leaderless(c) => Some(c),
            SystemConfig::Named(_) => None,
        }
    }
}

/// The simulated network's per-message latency, drawn between these bounds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Minimum one-way latency in milliseconds. Default 1.
    pub min_latency_ms: u64,
    /// Maximum one-way latency in milliseconds. Default 5.
    pub max_latency_ms: u64,
    /// Percent of messages (0 to 100) that take a long tail on top. Default 0.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub tail_percent: u8,
    /// A message in the tail takes up to this many ms more. Default 0.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub tail_ms: u64,
    /// Links slower than the rest (a slow replica, an asymmetric route). Default none.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "read::slow_links"
    )]
    pub slow_links: Vec<SlowLink>,
    /// `[min, max]` one-way latency between clients and nodes in ms, when it differs from the
    /// nodes' own. Default: the same as between nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_latency_ms: Option<(u64, u64)>,
    /// Nodes whose write path is slow (a loaded commit-log disk, a long mutation queue). Default
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slow_writes: Vec<SlowWrite>,
}

/// A node slow to take writes: every message that writes to it (a coordinator's write, a
/// replayed hint, a read repair, an anti-entropy push; a leader's append to a follower) reaches
/// it `extra_ms` late, while reads it answers and everything else it is sent keep the usual
/// delay. A write the node coordinates itself is applied locally at once. This is how a write
/// stays on one replica while the others still lack it, so reads through different replica
/// sets disagree for as long as the write is in flight.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SlowWrite {
    /// The node (index modulo the node count).
    pub node: u16,
    /// Extra one-way delay of each write message to it, ms.
    pub extra_ms: u64,
}

/// A directed link between nodes slower than the rest: every message from `from` to `to` takes
/// `extra_ms` more. An absent end matches every node, so `{from: 2}` makes everything node 2
/// sends to other nodes slow (its writes reach the other replicas late) while its answers to
/// clients are not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SlowLink {
    /// The sending node (index modulo the node count); absent for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u16>,
    /// The receiving node (index modulo the node count); absent for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u16>,
    /// Extra one-way delay, ms.
    pub extra_ms: u64,
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            min_latency_ms: 1,
            max_latency_ms: 5,
            tail_percent: 0,
            tail_ms: 0,
            slow_links: Vec::new(),
            client_latency_ms: None,
            slow_writes: Vec::new(),
        }
    }
}

impl NetworkConfig {
    /// A fixed or ranged latency with no tail and no slow links.
    pub fn latency(min_latency_ms: u64, max_latency_ms: u64) -> Self {
        NetworkConfig {
            min_latency_ms,
            max_latency_ms,
            ..NetworkConfig::default()
        }
    }

    /// The longest one-way delay a message can take outside latency faults, ms.
    pub fn worst_latency_ms(&self) -> u64 {
        self.max_latency_ms
            + self.tail_ms
            + self
                .slow_links
                .iter()
                .map(|l| l.extra_ms)
                .max()
                .unwrap_or(0)
            + self
                .slow_writes
                .iter()
                .map(|w| w.extra_ms)
                .max()
                .unwrap_or(0)
    }
}

/// The value a client writes for its n-th op when the op names none: unique in the run, and
/// readable (client 3's op 7 writes 4000007).
pub fn unique_value(client: usize, index: usize) -> i64 {
    (client as i64 + 1) * 1_000_000 + index as i64
}

/// One client's plan: a sequence of operations issued one after another, in `at_ms` order.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ClientPlan {
    /// When set, every op goes to this node (an index below the node count) as coordinator;
    /// otherwise each op names its own.
    pub sticky: Option<u16>,
    /// The operations, in issue order.
    pub ops: Vec<PlannedOp>,
}

/// One planned client operation. Every write gets a value unique in the run, so that each
/// read names the write it saw: the one it names, or else one from its client's index and its
/// place in the client's plan (see [`Scenario::put_value`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlannedOp {
    /// What the op does.
    pub kind: PlannedKind,
    /// The key, as an index below the scenario's key count.
    pub key: u32,
    /// The coordinator, as a node index modulo the node count (ignored for sticky clients).
    pub coordinator: u16,
    /// When the client issues the op, in simulated ms since the start of the run; if its
    /// previous op is still in flight then, it issues this one as soon as that completes.
    /// Absolute times (rather than gaps) keep the other ops in place when shrinking removes one.
    pub at_ms: u32,
    /// The value a put or a cas writes. Generated scenarios name it, from the op's place as
    /// generated, so that shrinking ops away leaves every other write's value (and so the
    /// messages that carry it) as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

/// The kind of a planned operation. A scenario file writes the unit kinds as strings
/// (`"get"`) and a cas as an object: `{"cas": {"expect": 1000003}}`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum PlannedKind {
    /// Read the key.
    Get,
    /// Write a fresh, unique value.
    Put,
    /// Delete the key (write a tombstone).
    Delete,
    /// Compare-and-set: write a fresh, unique value (the op's, as a put's) if the key holds
    /// `expect`. Run only against a system that supports cas
    /// ([`System::supports_cas`](crate::system::System::supports_cas)).
    Cas {
        /// The value the key must hold; `null` (or absent): the key must be absent.
        #[serde(default)]
        expect: Option<i64>,
    },
}

impl PlannedKind {
    /// Whether the op writes a value of its own (a put, or a cas if it swaps): every such
    /// value must be unique in the scenario.
    pub fn writes_value(self) -> bool {
        matches!(self, PlannedKind::Put | PlannedKind::Cas { .. })
    }
}

/// A fault and when it starts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Simulated milliseconds since the start of the run, or, with `after_write`, since that
    /// write was issued.
    pub at_ms: u64,
    /// What happens.
    pub kind: FaultKind,
    /// Arms the fault on a write instead of the clock: it starts `at_ms` after a client issues
    /// the put of this value, and never if none does. A crash timed this way lands in the
    /// middle of that write however late the client issued it (a client issues an op late
    /// when its previous op is still in flight), and stays paired with it when shrinking moves
    /// or removes other ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_write: Option<i64>,
}

impl Fault {
    /// `kind`, starting `at_ms` simulated milliseconds after the start of the run.
    pub fn at(at_ms: u64, kind: FaultKind) -> Fault {
        Fault {
            at_ms,
            kind,
            after_write: None,
        }
    }
}

/// The faults the nemesis can inject. Node indices are taken modulo the node count.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Cut the nodes into two sides for a window; messages between sides are dropped.
    Partition {
        /// The shape of the cut.
        shape: PartitionShape,
        /// How long the partition lasts.
        duration_ms: u64,
    },
    /// Crash a node (losing what its commit log had not synced) and restart it after a delay;
    /// with `count` > 1, that many consecutive nodes at once (a rack or power failure).
    Crash {
        /// The (first) node.
        node: u16,
        /// How many consecutive nodes crash together (default 1).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        count: u16,
        /// How long it stays down.
        down_ms: u64,
    },
    /// Drop messages between nodes at random for a window.
    Loss {
        /// Percentage of messages lost (1 to 100).
        percent: u8,
        /// How long the loss lasts.
        duration_ms: u64,
    },
    /// Raise the maximum message latency between nodes for a window.
    Latency {
        /// The raised maximum one-way latency in milliseconds.
        max_ms: u64,
        /// How long the spike lasts.
        duration_ms: u64,
    },
    /// Move one node's clock by an offset for a window (its timestamps skew).
    Skew {
        /// The node.
        node: u16,
        /// The offset in milliseconds, negative for a clock that runs behind.
        offset_ms: i64,
        /// How long the skew lasts.
        duration_ms: u64,
    },
    /// Pause a node: hold every link to it for a window, then deliver what was held.
    Pause {
        /// The node.
        node: u16,
        /// How long it is paused.
        duration_ms: u64,
    },
}

fn one() -> u16 {
    1
}

fn is_one(n: &u16) -> bool {
    *n == 1
}

/// How a partition cuts the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "shape", rename_all = "snake_case", deny_unknown_fields)]
pub enum PartitionShape {
    /// Two random halves: the nodes whose bit is set in `mask` (modulo the node count) on one
    /// side, the rest on the other. A mask that puts every node on one side isolates node 0.
    Halves {
        /// Bit i set: node i is on the first side.
        mask: u32,
    },
    /// One node cut off from all others.
    Isolate {
        /// The node.
        node: u16,
    },
    /// Every node sees only its ring neighbours within distance n/2: each node sees a majority,
    /// but no two nodes see the same majority.
    Ring,
    /// Two halves joined by one bridge node that sees both.
    Bridge {
        /// The bridge node.
        node: u16,
    },
}

impl FaultKind {
    /// The class of fault, as a system is asked whether it honours it.
    pub fn class(&self) -> crate::system::FaultClass {
        use crate::system::FaultClass;
        match self {
            FaultKind::Partition { .. } => FaultClass::Partition,
            FaultKind::Crash { .. } => FaultClass::Crash,
            FaultKind::Loss { .. } => FaultClass::Loss,
            FaultKind::Latency { .. } => FaultClass::Latency,
            FaultKind::Skew { .. } => FaultClass::Skew,
            FaultKind::Pause { .. } => FaultClass::Pause,
        }
    }

    /// How long the fault lasts, in simulated milliseconds.
    pub fn duration_ms(&self) -> u64 {
        match *self {
            FaultKind::Partition { duration_ms, .. }
            | FaultKind::Loss { duration_ms, .. }
            | FaultKind::Latency { duration_ms, .. }
            | FaultKind::Skew { duration_ms, .. }
            | FaultKind::Pause { duration_ms, .. } => duration_ms,
            FaultKind::Crash { down_ms, .. } => down_ms,
        }
    }

    /// A short name for tables and nemesis entries.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { shape, .. } => match shape {
                PartitionShape::Halves { .. } => "partition",
                PartitionShape::Isolate { .. } => "isolate",
                PartitionShape::Ring => "ring",
                PartitionShape::Bridge { .. } => "bridge",
            },
            FaultKind::Crash { .. } => "crash",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Skew { .. } => "skew",
            FaultKind::Pause { .. } => "pause",
        }
    }
}

/// The serialized form of a scenario file: the scenario under a format tag.
#[derive(Serialize, Debug)]
struct ScenarioFile {
    format: String,
    scenario: Scenario,
}

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The JSON did not parse or did not have the scenario's shape: the field's path and
    /// what was wrong with it.
    #[error("{0}")]
    Json(String),
    /// The format tag named something else.
    #[error("unknown scenario format {found:?}, expected {SCENARIO_FORMAT:?}")]
    Format {
        /// The tag found.
        found: String,
    },
    /// The store configuration is inconsistent (the message names the store setting).
    #[error("{0}")]
    Store(String),
    /// The scenario itself is inconsistent.
    #[error("invalid scenario: {0}")]
    Invalid(String),
    /// A setting is beyond what the simulator runs (see [`limits`]).
    #[error("{what} is {value}, over the limit of {limit} (see docs/limits.md)")]
    Limit {
        /// The setting, as it is named in a scenario file.
        what: String,
        /// Its value.
        value: String,
        /// The largest value allowed.
        limit: u64,
    },
}

impl Scenario {
    /// Total planned client operations.
    pub fn op_count(&self) -> usize {
        self.clients.iter().map(|c| c.ops.len()).sum()
    }

    /// Checks the scenario's internal consistency and that it stays within [`limits`].
    pub fn validate(&self) -> Result<(), ScenarioError> {
        match &self.system {
            SystemConfig::Leaderless(store) => {
                limits::check_store(store)?;
                store
                    .validate()
                    .map_err(|e| ScenarioError::Store(e.to_string()))?;
            }
            SystemConfig::Named(spec) => {
                limits::at_most("system.nodes", spec.nodes as u64, limits::MAX_NODES)?;
                if spec.nodes == 0 {
                    return Err(ScenarioError::Invalid(format!(
                        "system {}: nodes must be at least 1",
                        spec.name
                    )));
                }
            }
        }
        if self.keys == 0 {
            return Err(ScenarioError::Invalid("keys must be at least 1".into()));
        }
        if self.network.tail_percent > 100 {
            return Err(ScenarioError::Invalid(format!(
                "network tail_percent {} is outside 0..=100",
                self.network.tail_percent
            )));
        }
        if let Some((lo, hi)) = self.network.client_latency_ms {
            if lo > hi {
                return Err(ScenarioError::Invalid(format!(
                    "network client_latency_ms [{lo}, {hi}]: min exceeds max"
                )));
            }
        }
        if self.network.min_latency_ms > self.network.max_latency_ms {
            return Err(ScenarioError::Invalid(format!(
                "network min_latency_ms {} exceeds max_latency_ms {}",
                self.network.min_latency_ms, self.network.max_latency_ms
            )));
        }
        for (i, f) in self.faults.iter().enumerate() {
            if let FaultKind::Loss { percent, .. } = f.kind {
                if percent == 0 || percent > 100 {
                    return Err(ScenarioError::Invalid(format!(
                        "fault {i}: loss percent {percent} is outside 1..=100"
                    )));
                }
            }
        }
        // After the limits: a file with a million clients is refused for that, at once.
        limits::check_scenario(self)?;
        let nodes = self.system.nodes();
        for (ci, plan) in self.clients.iter().enumerate() {
            if let Some(s) = plan.sticky.filter(|&s| usize::from(s) >= nodes) {
                return Err(ScenarioError::Invalid(format!(
                    "clients[{ci}].sticky is {s}, beyond the {nodes} nodes (0 to {})",
                    nodes - 1
                )));
            }
            if let Some((i, op)) = plan
                .ops
                .iter()
                .enumerate()
                .find(|(_, o)| o.key >= self.keys)
            {
                return Err(ScenarioError::Invalid(format!(
                    "clients[{ci}].ops[{i}].key is {}, beyond the {} keys (0 to {})",
                    op.key,
                    self.keys,
                    self.keys - 1
                )));
            }
        }
        let mut written = std::collections::BTreeMap::new();
        for (ci, plan) in self.clients.iter().enumerate() {
            for (i, op) in plan.ops.iter().enumerate() {
                if !op.kind.writes_value() {
                    continue;
                }
                let v = self.put_value(ci, i);
                if let Some((c0, i0)) = written.insert(v, (ci, i)) {
                    return Err(ScenarioError::Invalid(format!(
                        "client {ci} op {i} writes {v}, as client {c0} op {i0} does: every \
                         write's value must be unique"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Serializes the scenario on its own, under its format tag.
    pub fn to_json(&self) -> String {
        let file = ScenarioFile {
            format: SCENARIO_FORMAT.to_string(),
            scenario: self.clone(),
        };
        let mut s = serde_json::to_string_pretty(&file).expect("a scenario always serializes");
        s.push('\n');
        s
    }

    /// Reads a scenario from a scenario file, or from any JSON object that carries a
    /// `scenario` field (such as a saved history), and validates it.
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        Ok(Scenario::read_header(text)?.scenario)
    }

    /// Reads a scenario file or saved case as [`Scenario::from_json`] does, with the
    /// guarantees a saved case names in its `expect` field. The rest of a case (its ops,
    /// events, witnesses) is skipped unread.
    pub fn read_header(text: &str) -> Result<Header, ScenarioError> {
        let header = read::header(text)?;
        header.scenario.validate()?;
        Ok(header)
    }

    /// The value op `i` of client `ci` writes if it is a put or a cas: the value it names, or
    /// else [`unique_value`]`(ci, i)`.
    pub fn put_value(&self, ci: usize, i: usize) -> i64 {
        self.clients[ci].ops[i]
            .value
            .unwrap_or_else(|| unique_value(ci, i))
    }

    /// The node index an op or fault names, modulo the node count.
    pub fn node(&self, index: u16) -> u16 {
        index % self.system.nodes().max(1) as u16
    }

    /// Where the first cas op is, as `(client, op)`, if the scenario has one.
    pub fn first_cas(&self) -> Option<(usize, usize)> {
        self.clients.iter().enumerate().find_map(|(ci, plan)| {
            let i = plan
                .ops
                .iter()
                .position(|o| matches!(o.kind, PlannedKind::Cas { .. }))?;
            Some((ci, i))
        })
    }

    /// The key name for a key index, modulo the key count.
    pub fn key_name(&self, index: u32) -> String {
        format!("k{}", index % self.keys.max(1))
    }
}

/// The largest scenarios the simulator runs. Each bound keeps one run within a few GB of
/// memory and well within the simulated time limit, so that a scenario is refused up front
/// with the setting named instead of exhausting memory or running until it is declared
/// stuck. docs/limits.md lists them with the reasons.
pub mod limits {
    use super::{FaultKind, Scenario, ScenarioError};
    use crate::systems::leaderless::{FsyncPolicy, StoreConfig};

    /// Nodes: turmoil's cost per step grows faster than the host count (one run of 10 ops
    /// took 1.2 s at 32 nodes and 14 s at 64). The store's own bound, for every system.
    pub const MAX_NODES: u64 = StoreConfig::MAX_NODES as u64;
    /// Ring tokens per node.
    pub const MAX_VNODES: u64 = StoreConfig::MAX_VNODES as u64;
    /// Concurrent clients.
    pub const MAX_CLIENTS: u64 = 1_000;
    /// Planned client ops in total.
    pub const MAX_OPS: u64 = 100_000;
    /// Distinct keys (the final phase reads every key through every node).
    pub const MAX_KEYS: u64 = 1_000;
    /// Final-phase reads, nodes x keys: every key is read through every node, one at a time.
    pub const MAX_FINAL_READS: u64 = 5_000;
    /// Faults in one scenario.
    pub const MAX_FAULTS: u64 = 1_000;
    /// One-way network latency, in ms (also a latency fault's maximum).
    pub const MAX_LATENCY_MS: u64 = 10_000;
    /// When an op or fault may start, in simulated ms (30 minutes).
    pub const MAX_START_MS: u64 = 1_800_000;
    /// How long one fault lasts, and the settle time, in simulated ms (15 minutes: generated
    /// faults last up to half the span ops are planned over, itself at most MAX_START_MS).
    pub const MAX_WINDOW_MS: u64 = 900_000;
    /// Slow links: at most one per ordered pair of nodes.
    pub const MAX_SLOW_LINKS: u64 = MAX_NODES * MAX_NODES;
    /// A clock skew, either way, in ms (one day).
    pub const MAX_SKEW_MS: u64 = 86_400_000;
    /// The store's request timeout, in ms.
    pub const MAX_REQUEST_TIMEOUT_MS: u64 = 60_000;
    /// Any other store period (heartbeat, failure detection, anti-entropy, hint window,
    /// tombstone grace, fsync), in ms (one day).
    pub const MAX_STORE_PERIOD_MS: u64 = 86_400_000;

    /// `Err` naming `what` when `value` exceeds `limit`.
    pub fn at_most(what: &str, value: u64, limit: u64) -> Result<(), ScenarioError> {
        if value > limit {
            return Err(ScenarioError::Limit {
                what: what.to_string(),
                value: value.to_string(),
                limit,
            });
        }
        Ok(())
    }

    fn ms(d: std::time::Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// The store configuration's sizes and periods.
    pub fn check_store(store: &StoreConfig) -> Result<(), ScenarioError> {
        at_most("store.nodes", store.nodes as u64, MAX_NODES)?;
        at_most("store.vnodes", store.vnodes as u64, MAX_VNODES)?;
        at_most(
            "store.request_timeout",
            ms(store.request_timeout),
            MAX_REQUEST_TIMEOUT_MS,
        )?;
        for (what, d) in [
            ("store.heartbeat_interval", store.heartbeat_interval),
            ("store.failure_timeout", store.failure_timeout),
            ("store.anti_entropy_interval", store.anti_entropy_interval),
            ("store.hint_window", store.hint_window),
            ("store.tombstone_grace", store.tombstone_grace),
        ] {
            at_most(what, ms(d), MAX_STORE_PERIOD_MS)?;
        }
        if let FsyncPolicy::Periodic { period } = store.fsync {
            at_most("store.fsync period", ms(period), MAX_STORE_PERIOD_MS)?;
        }
        Ok(())
    }

    /// The workload, network and fault schedule.
    pub fn check_scenario(s: &Scenario) -> Result<(), ScenarioError> {
        at_most("keys", u64::from(s.keys), MAX_KEYS)?;
        at_most(
            "store.nodes x keys (final reads)",
            s.system.nodes() as u64 * u64::from(s.keys),
            MAX_FINAL_READS,
        )?;
        at_most("clients", s.clients.len() as u64, MAX_CLIENTS)?;
        at_most("ops (all clients)", s.op_count() as u64, MAX_OPS)?;
        at_most("faults", s.faults.len() as u64, MAX_FAULTS)?;
        at_most(
            "network.max_latency_ms",
            s.network.max_latency_ms,
            MAX_LATENCY_MS,
        )?;
        at_most("network.tail_ms", s.network.tail_ms, MAX_LATENCY_MS)?;
        at_most(
            "network.slow_links",
            s.network.slow_links.len() as u64,
            MAX_SLOW_LINKS,
        )?;
        for (i, l) in s.network.slow_links.iter().enumerate() {
            at_most(
                &format!("network.slow_links[{i}].extra_ms"),
                l.extra_ms,
                MAX_LATENCY_MS,
            )?;
        }
        at_most(
            "network.slow_writes",
            s.network.slow_writes.len() as u64,
            MAX_NODES,
        )?;
        for (i, w) in s.network.slow_writes.iter().enumerate() {
            at_most(
                &format!("network.slow_writes[{i}].extra_ms"),
                w.extra_ms,
                MAX_LATENCY_MS,
            )?;
        }
        at_most("settle_ms", s.settle_ms, MAX_WINDOW_MS)?;
        for (c, plan) in s.clients.iter().enumerate() {
            for (i, op) in plan.ops.iter().enumerate() {
                at_most(
                    &format!("clients[{c}].ops[{i}].at_ms"),
                    u64::from(op.at_ms),
                    MAX_START_MS,
                )?;
            }
        }
        for (i, f) in s.faults.iter().enumerate() {
            at_most(&format!("faults[{i}].at_ms"), f.at_ms, MAX_START_MS)?;
            at_most(
                &format!("faults[{i}] duration"),
                f.kind.duration_ms(),
                MAX_WINDOW_MS,
            )?;
            match f.kind {
                FaultKind::Latency { max_ms, .. } => {
                    at_most(&format!("faults[{i}].max_ms"), max_ms, MAX_LATENCY_MS)?
                }
                FaultKind::Skew { offset_ms, .. } => at_most(
                    &format!("faults[{i}].offset_ms"),
                    offset_ms.unsigned_abs(),
                    MAX_SKEW_MS,
                )?,
                FaultKind::Crash { count, .. } => {
                    at_most(&format!("faults[{i}].count"), u64::from(count), MAX_NODES)?
                }
                _ => {}
            }
        }
        Ok(())
    }
}
