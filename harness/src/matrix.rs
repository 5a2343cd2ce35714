//! The consistency matrix: for each RF, (R, W), repair setting and fault profile, a search for
//! a break of every guarantee, with a shrunk, replayable counterexample for every break, the
//! evidence behind every hold, theory's prediction beside both, and what the configuration
//! costs in availability.
//!
//! Cells are listed in a fixed order; `--shard I/N` takes every N-th cell starting at the I-th,
//! and [`merge`] joins shards back into exactly the unsharded report. A cell's scenarios are
//! seeded from its own name, and the report holds no wall times, so the same profile always
//! renders the same bytes.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::systems::leader_follower;
use crate::systems::leaderless::{
    ConsistencyLevel, FsyncPolicy, ReadRepair, ReplicaChoice, StoreConfig,
};
use proptest::strategy::{BoxedStrategy, Strategy};
use quorumlab::check::observe::is_final;
use quorumlab::check::{stale, Guarantee};
use quorumlab::history::{History, Op, OpKind, Outcome};
use serde::{Deserialize, Serialize};
use strum::VariantArray;

use crate::explore::{generate_with, shrink_with};
use crate::fsutil::{self, Staging};
use crate::runner::RunError;
use crate::scenario::Scenario;
use crate::shrink::{self, Keep, ShrinkTest};
use crate::strategy::{write_then_read, FaultChoice, ScenarioShape};
use crate::theory::{self, Mechanism};
use crate::verdict::judge;
use crate::workload::{Workload, REPLICA_CHOICES};

/// Which cells to run. A profile's name ([`Profile::name`], `FromStr`, serde) is its variant's,
/// in lower case.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Profile {
    /// A documented subset that finishes in minutes: see [`cells`].
    Quick,
    /// Every cell; meant to be sharded.
    Full,
}

/// A profile name that is neither `quick` nor `full`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?}; expected quick or full")]
pub struct UnknownProfile(pub String);

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, UnknownProfile> {
        Profile::VARIANTS
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

impl Profile {
    /// The profile's name.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Seeds per cell unless `--seeds` says otherwise.
    pub fn default_seeds(self) -> u32 {
        match self {
            Profile::Quick => 3,
            Profile::Full => 10,
        }
    }
}

/// A fault profile: which faults a cell's scenarios draw from, and the fsync policy. The
/// profiles in matrix order are [`VariantArray::VARIANTS`]; a profile's name
/// ([`FaultProfile::name`], serde) is its variant's, in kebab case.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum FaultProfile {
    /// No faults.
    None,
    /// Partitions of every shape.
    Partition,
    /// Crashes and restarts, commit log synced before every ack.
    CrashFsyncAlways,
    /// Crashes and restarts, commit log synced every 100 ms (Cassandra's default policy,
    /// periodic, with the period scaled to simulated time).
    CrashFsyncPeriodic,
    /// Message loss windows.
    Loss,
    /// Clock skew of single nodes.
    Skew,
    /// Partitions, crashes (fsync periodic), loss, latency and pauses together.
    Mixed,
}

impl FaultProfile {
    /// The profile's name, as in the report.
    pub fn name(self) -> &'static str {
        self.into()
    }

    fn faults(self) -> Vec<FaultChoice> {
        use FaultChoice::*;
        match self {
            FaultProfile::None => vec![],
            FaultProfile::Partition => vec![Partition, Isolate, Ring, Bridge],
            FaultProfile::CrashFsyncAlways | FaultProfile::CrashFsyncPeriodic => vec![Crash],
            FaultProfile::Loss => vec![Loss],
            FaultProfile::Skew => vec![Skew],
            FaultProfile::Mixed => vec![
                Partition, Isolate, Ring, Bridge, Crash, Loss, Latency, Pause,
            ],
        }
    }

    fn fsync(self) -> FsyncPolicy {
        match self {
            FaultProfile::CrashFsyncAlways => FsyncPolicy::Always,
            // Cassandra syncs its commit log every 10 s against a 2 s write timeout; scaled to
            // the store's 500 ms request timeout that is a couple of seconds. 100 ms keeps the
            // window short next to that and still long enough for a crash to land in it.
            FaultProfile::CrashFsyncPeriodic => FsyncPolicy::Periodic {
                period: std::time::Duration::from_millis(CRASH_FSYNC_PERIOD_MS),
            },
            _ => StoreConfig::default().fsync,
        }
    }
}

/// The commit log sync period of the crash-fsync-periodic profile, in ms.
pub const CRASH_FSYNC_PERIOD_MS: u64 = 100;

/// One cell's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellSpec {
    /// Replication factor.
    pub rf: usize,
    /// Replicas a read waits for.
    pub r: usize,
    /// Replicas a write waits for.
    pub w: usize,
    /// Read repair.
    pub read_repair: ReadRepair,
    /// Hinted handoff.
    pub hints: bool,
    /// Anti-entropy (periodic replica comparison).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anti_entropy: bool,
    /// The fault profile.
    pub faults: FaultProfile,
}

impl CellSpec {
    /// A file-name-safe name, e.g. `rf3-r1-w2-rr-none-hints-on-partition`.
    pub fn slug(&self) -> String {
        format!(
            "rf{}-r{}-w{}-rr-{}-hints-{}{}-{}",
            self.rf,
            self.r,
            self.w,
            self.read_repair,
            if self.hints { "on" } else { "off" },
            if self.anti_entropy { "-ae" } else { "" },
            self.faults.name()
        )
    }

    /// The store configuration of this cell, reading through `choice`.
    pub fn store(&self, choice: ReplicaChoice) -> StoreConfig {
        StoreConfig {
            nodes: 5,
            rf: self.rf,
            read: ConsistencyLevel::Count(self.r),
            write: ConsistencyLevel::Count(self.w),
            read_repair: self.read_repair,
            hints: self.hints,
            anti_entropy: self.anti_entropy,
            fsync: self.faults.fsync(),
            replica_choice: choice,
            ..StoreConfig::default()
        }
    }

    /// The strategy of this cell's scenarios under one workload and replica choice.
    pub fn strategy(&self, workload: Workload, choice: ReplicaChoice) -> BoxedStrategy<Scenario> {
        workload.strategy(&workload.shape(self.store(choice), &self.faults.faults()))
    }
}

/// A cell of a built-in system other than the leaderless store (`matrix --system`): one
/// configuration of it under one fault profile, searched as a leaderless cell is, with the
/// system's own theory beside the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemCellSpec {
    /// The system's name, as `--system` takes it.
    pub system: String,
    /// The configuration's short name, e.g. `sync1-leader-fenced`.
    pub setting: String,
    /// The system's configuration, as its scenarios carry it.
    pub config: serde_json::Value,
    /// The fault profile.
    pub faults: FaultProfile,
}

/// How long the leader-follower cells' followers wait for a heartbeat before an election, ms.
pub const FAILOVER_TIMEOUT_MS: u64 = 300;

impl SystemCellSpec {
    /// A file-name-safe name, e.g. `leader-follower-async-leader-fenced-partition`.
    pub fn slug(&self) -> String {
        format!("{}-{}-{}", self.system, self.setting, self.faults.name())
    }

    /// The system as this cell's scenarios name it: 5 nodes, like every leaderless cell.
    pub fn system_config(&self) -> crate::scenario::SystemConfig {
        crate::scenario::SystemConfig::Named(crate::scenario::SystemSpec {
            name: self.system.clone(),
            nodes: 5,
            config: self.config.clone(),
        })
    }

    /// The cell's configuration, as the leader-follower system reads it (its defaults where
    /// a report read back holds something it does not; the matrix writes only valid ones).
    fn lf_config(&self) -> leader_follower::Config {
        leader_follower::Config::from_json(&self.config).unwrap_or_default()
    }

    /// The setting as theory reads it, for a leader-follower cell.
    pub fn leader_follower(&self) -> theory::LeaderFollower {
        let c = self.lf_config();
        theory::LeaderFollower {
            rf: c.rf,
            sync_followers: match c.replication {
                leader_follower::Replication::Sync => c.sync_followers,
                leader_follower::Replication::Async => 0,
            },
            follower_reads: c.reads == leader_follower::Reads::Any,
            fencing: c.fencing,
            faults: self.faults,
        }
    }

    /// Theory's prediction for `guarantee` in this cell.
    pub fn predict(&self, guarantee: Guarantee) -> theory::Prediction {
        theory::predict_leader_follower(&self.leader_follower(), guarantee)
    }

    /// The strategy of this cell's scenarios under one workload.
    pub fn strategy(&self, workload: Workload) -> BoxedStrategy<Scenario> {
        let failover = std::time::Duration::from_millis(self.lf_config().failover_timeout_ms);
        workload.strategy(&workload.shape_for(
            self.system_config(),
            failover,
            &self.faults.faults(),
        ))
    }
}

/// A matrix cell, of any system, as the search sees it.
trait Searched {
    /// The cell's file-name-safe name.
    fn slug(&self) -> String;
    /// Theory's prediction.
    fn predict(&self, guarantee: Guarantee) -> theory::Prediction;
    /// How many variants of each workload the search rotates through.
    fn variants(&self) -> usize;
    /// The name of a variant, for the record of what found a break.
    fn variant_name(&self, variant: usize) -> Option<&'static str>;
    /// The strategy of the cell's scenarios under a workload and variant.
    fn strategy(&self, workload: Workload, variant: usize) -> BoxedStrategy<Scenario>;
}

impl Searched for CellSpec {
    fn slug(&self) -> String {
        CellSpec::slug(self)
    }
    fn predict(&self, guarantee: Guarantee) -> theory::Prediction {
        theory::predict(self, guarantee)
    }
    fn variants(&self) -> usize {
        REPLICA_CHOICES.len()
    }
    fn variant_name(&self, variant: usize) -> Option<&'static str> {
        Some(REPLICA_CHOICES[variant].name())
    }
    fn strategy(&self, workload: Workload, variant: usize) -> BoxedStrategy<Scenario> {
        CellSpec::strategy(self, workload, REPLICA_CHOICES[variant])
    }
}

impl Searched for SystemCellSpec {
    fn slug(&self) -> String {
        SystemCellSpec::slug(self)
    }
    fn predict(&self, guarantee: Guarantee) -> theory::Prediction {
        SystemCellSpec::predict(self, guarantee)
    }
    fn variants(&self) -> usize {
        1
    }
    fn variant_name(&self, _variant: usize) -> Option<&'static str> {
        None
    }
    fn strategy(&self, workload: Workload, _variant: usize) -> BoxedStrategy<Scenario> {
        SystemCellSpec::strategy(self, workload)
    }
}

/// A PBS probe cell: random replica choice, writes sent to exactly W replicas, and the
/// write-then-read workload, so the stale rate can be held against PBS's prediction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSpec {
    /// Replication factor.
    pub rf: usize,
    /// Replicas a read asks.
    pub r: usize,
    /// Replicas a write goes to.
    pub w: usize,
}

impl ProbeSpec {
    /// A file-name-safe name, e.g. `pbs-rf3-r1-w1`.
    pub fn slug(&self) -> String {
        format!("pbs-rf{}-r{}-w{}", self.rf, self.r, self.w)
    }

    /// PBS's predicted chance that a read right after an acknowledged write misses it,
    /// C(RF-W, R) / C(RF, R).
    pub fn predicted(&self) -> f64 {
        binomial(self.rf - self.w, self.r) / binomial(self.rf, self.r)
    }

    fn strategy(&self) -> BoxedStrategy<Scenario> {
        let store = StoreConfig {
            nodes: 5,
            rf: self.rf,
            read: ConsistencyLevel::Count(self.r),
            write: ConsistencyLevel::Count(self.w),
            read_repair: ReadRepair::None,
            hints: false,
            replica_choice: ReplicaChoice::Random,
            ..StoreConfig::default()
        };
        write_then_read(&ScenarioShape::new(store, &[]), PBS_PAIRS).boxed()
    }
}

/// Write-then-read pairs per seed in a PBS probe cell.
pub const PBS_PAIRS: usize = 300;

fn binomial(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// The 99% normal-approximation interval around a predicted rate for `n` reads.
pub fn interval99(p: f64, n: usize) -> (f64, f64) {
    let half = 2.576 * (p * (1.0 - p) / n.max(1) as f64).sqrt();
    ((p - half).max(0.0), (p + half).min(1.0))
}

/// How hard each cell is searched: a guarantee's search stops at its first break, or when the
/// cell has run `cases` scenarios or `ops` client ops, whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Most scenarios per cell.
    pub cases: u32,
    /// Most planned client ops per cell, over all its scenarios.
    pub ops: u64,
}

/// Scenarios per cell in the quick profile: two rounds of the rotation (every workload under
/// every replica choice) and as many aimed scenarios.
const QUICK_CASES: u32 = 2 * 2 * (Workload::VARIANTS.len() * REPLICA_CHOICES.len()) as u32;

impl Profile {
    /// The search budget of every cell.
    pub fn budget(self) -> Budget {
        match self {
            // Half of a cell's scenarios continue the rotation (see `CasePlanner`): quick runs
            // it twice through every workload under every replica choice, full twelve times.
            Profile::Quick => Budget {
                cases: QUICK_CASES,
                ops: QUICK_CASES as u64 * 60,
            },
            Profile::Full => Budget {
                cases: 6 * QUICK_CASES,
                ops: 6 * QUICK_CASES as u64 * 60,
            },
        }
    }

    /// Most shrink steps per counterexample unless `--shrink-steps` says otherwise.
    pub fn shrink_steps(self) -> u32 {
        match self {
            Profile::Quick => 60,
            Profile::Full => 150,
        }
    }

    /// Seeds per PBS probe cell.
    pub fn probe_seeds(self) -> u32 {
        match self {
            Profile::Quick => 3,
            Profile::Full => 10,
        }
    }
}

/// Every cell of a profile, in matrix order.
///
/// - full: RF in {1, 3, 5}, every (R, W) with 1 <= R, W <= RF, read repair none, blocking and
///   async, hints off, hints on, and hints on with anti-entropy, and every fault profile.
/// - quick: RF 3 with (R, W) in {(1,1), (1,2), (2,1), (2,2), (1,3), (3,1)}, read repair none
///   and blocking, hints on, and the fault profiles none, partition, loss, crash-fsync-always,
///   crash-fsync-periodic and skew.
pub fn cells(profile: Profile) -> Vec<CellSpec> {
    let mut out = Vec::new();
    let cell = |rf, r, w, read_repair, hints, anti_entropy, faults| CellSpec {
        rf,
        r,
        w,
        read_repair,
        hints,
        anti_entropy,
        faults,
    };
    match profile {
        Profile::Full => {
            for rf in [1usize, 3, 5] {
                for r in 1..=rf {
                    for w in 1..=rf {
                        for rr in [ReadRepair::None, ReadRepair::Blocking, ReadRepair::Async] {
                            for (hints, ae) in [(false, false), (true, false), (true, true)] {
                                for &faults in FaultProfile::VARIANTS {
                                    out.push(cell(rf, r, w, rr, hints, ae, faults));
                                }
                            }
                        }
                    }
                }
            }
        }
        Profile::Quick => {
            for (r, w) in [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1)] {
                for rr in [ReadRepair::None, ReadRepair::Blocking] {
                    for faults in [
                        FaultProfile::None,
                        FaultProfile::Partition,
                        FaultProfile::Loss,
                        FaultProfile::CrashFsyncAlways,
                        FaultProfile::CrashFsyncPeriodic,
                        FaultProfile::Skew,
                    ] {
                        out.push(cell(3, r, w, rr, true, false, faults));
                    }
                }
            }
        }
    }
    out
}

/// The PBS probe cells of a profile: every R + W <= RF pair of its replication factors.
pub fn probes(profile: Profile) -> Vec<ProbeSpec> {
    let rfs: &[usize] = match profile {
        Profile::Quick => &[3],
        Profile::Full => &[3, 5],
    };
    let mut out = Vec::new();
    for &rf in rfs {
        for r in 1..=rf {
            for w in 1..=rf - r {
                out.push(ProbeSpec { rf, r, w });
            }
        }
    }
    out
}

/// The leader-follower cells of a profile: four settings, each against no faults, partitions
/// and crashes (logs synced before every acknowledgment and vote; the system declines loss,
/// latency and skew):
/// - `sync1-leader-fenced`: writes wait for one follower (a majority of 3), leader reads,
///   fencing: the configuration that claims linearizability;
/// - `async-leader-fenced`: writes acknowledged by the leader alone;
/// - `sync1-any-fenced`: reads answered by whichever replica the client reached;
/// - `sync1-leader-unfenced`: no fencing of a deposed leader.
pub fn system_cells(_profile: Profile, system: &str) -> Vec<SystemCellSpec> {
    if system != leader_follower::NAME {
        return Vec::new();
    }
    let settings = [
        ("sync1-leader-fenced", "sync", "leader", true),
        ("async-leader-fenced", "async", "leader", true),
        ("sync1-any-fenced", "sync", "any", true),
        ("sync1-leader-unfenced", "sync", "leader", false),
    ];
    let mut out = Vec::new();
    for (setting, replication, reads, fencing) in settings {
        for faults in [
            FaultProfile::None,
            FaultProfile::Partition,
            FaultProfile::CrashFsyncAlways,
        ] {
            out.push(SystemCellSpec {
                system: system.to_string(),
                setting: setting.to_string(),
                config: serde_json::json!({
                    "rf": 3,
                    "replication": replication,
                    "sync_followers": 1,
                    "reads": reads,
                    "fencing": fencing,
                    "fsync": "always",
                    "failover_timeout_ms": FAILOVER_TIMEOUT_MS,
                }),
                faults,
            });
        }
    }
    out
}

/// The systems a matrix covers unless `--system` says otherwise: every built-in one.
pub fn default_systems() -> Vec<String> {
    crate::systems::NAMES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn leaderless_only(systems: &[String]) -> bool {
    systems == [crate::systems::leaderless::NAME]
}

fn only_leaderless() -> Vec<String> {
    vec![crate::systems::leaderless::NAME.to_string()]
}

/// Every cell a matrix of `profile` over `systems` runs.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The leaderless store's cells.
    pub cells: Vec<CellSpec>,
    /// The leaderless store's PBS probes.
    pub probes: Vec<ProbeSpec>,
    /// The other systems' cells.
    pub system_cells: Vec<SystemCellSpec>,
}

impl Plan {
    /// The cells of `profile` over `systems`, in matrix order.
    pub fn of(profile: Profile, systems: &[String]) -> Plan {
        let mut plan = Plan::default();
        for system in systems {
            if system == crate::systems::leaderless::NAME {
                plan.cells = cells(profile);
                plan.probes = probes(profile);
            } else {
                plan.system_cells.extend(system_cells(profile, system));
            }
        }
        plan
    }

    /// How many jobs (cells and probes) the plan holds.
    pub fn jobs(&self) -> usize {
        self.cells.len() + self.probes.len() + self.system_cells.len()
    }
}

/// How the search for one guarantee in one cell went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuaranteeCell {
    /// What theory predicts: `breaks` or `holds`.
    pub predicted: String,
    /// Why, in one line.
    pub reason: String,
    /// Whether the search broke it.
    pub broken: bool,
    /// Scenarios searched: up to and including the first break, or the whole budget.
    pub cases: u32,
    /// Planned client ops in those scenarios.
    pub ops: u64,
    /// Scenarios the checker could not decide.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown: u32,
    /// The workload and replica choice of the breaking scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_by: Option<String>,
    /// The breaking scenario's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The shrunk counterexample's path, relative to the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// Client ops in the shrunk counterexample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example_ops: Option<usize>,
}

impl GuaranteeCell {
    /// Whether the evidence disagrees with the prediction.
    pub fn disagrees(&self) -> bool {
        self.broken != (self.predicted == "breaks")
    }

    /// For a hold: the 95% upper bound on the chance that one scenario breaks it, by the rule
    /// of three (3 / cases).
    pub fn upper_bound(&self) -> Option<f64> {
        (!self.broken && self.cases > 0).then(|| 3.0 / self.cases as f64)
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Outcomes and latencies of one kind of client op.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    /// Ops issued.
    pub total: u64,
    /// Answered ok.
    pub ok: u64,
    /// Refused as Unavailable (too few replicas seen up).
    pub unavailable: u64,
    /// Outcome unknown: the coordinator or the client timed out.
    pub timed_out: u64,
    /// Median latency of ok ops, simulated ms.
    pub p50_ms: f64,
    /// 99th percentile latency of ok ops, simulated ms.
    pub p99_ms: f64,
}

impl OpStats {
    fn from_ops<'a>(ops: impl Iterator<Item = &'a Op>) -> OpStats {
        let mut s = OpStats::default();
        let mut latencies = Vec::new();
        for op in ops {
            s.total += 1;
            match op.outcome {
                Outcome::Ok => {
                    s.ok += 1;
                    if let Some(c) = op.complete {
                        latencies.push(c.saturating_sub(op.invoke));
                    }
                }
                Outcome::Fail => {
                    let unavailable = op
                        .extra
                        .get("error")
                        .and_then(|e| e.as_str())
                        .is_some_and(|e| e.starts_with("unavailable"));
                    if unavailable {
                        s.unavailable += 1;
                    }
                }
                Outcome::Info => s.timed_out += 1,
            }
        }
        latencies.sort_unstable();
        let pick = |q: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() - 1) as f64 * q).round() as usize;
            // Simulated ns to ms, rounded to 0.1 ms so reports stay short and stable.
            (latencies[i] as f64 / 1e5).round() / 10.0
        };
        s.p50_ms = pick(0.5);
        s.p99_ms = pick(0.99);
        s
    }

    /// Share answered ok, 0 to 1 (1 when none were issued).
    pub fn ok_share(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.ok as f64 / self.total as f64
        }
    }
}

/// What a cell's reads and writes cost in availability, over the first [`COSTED_SCENARIOS`]
/// rotation scenarios of its search (every workload under every replica choice, or three rounds of the workloads
/// where a system has no replica choices): the same workloads in every cell.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// Every workload read.
    pub reads: OpStats,
    /// Every workload write (put or delete).
    pub writes: OpStats,
    /// Reads invoked while a fault was active.
    pub reads_in_faults: OpStats,
    /// Writes invoked while a fault was active.
    pub writes_in_faults: OpStats,
    /// How long keys went unserved.
    #[serde(default)]
    pub outage: Outage,
}

/// How long keys went unserved: per scenario, the longest stretch on one key from an op that
/// failed or timed out to the next op on it answered ok (a leader-follower store's failover
/// window, a leaderless store's replicas down past its consistency level).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// Scenarios in which some op failed or timed out.
    pub scenarios: u32,
    /// The median over those scenarios of each one's longest outage, simulated ms.
    pub p50_ms: f64,
    /// The longest outage of any scenario, simulated ms.
    pub max_ms: f64,
}

impl Outage {
    fn of(mut longest: Vec<u64>) -> Outage {
        longest.sort_unstable();
        // Simulated ns to ms, rounded to 0.1 ms as the latencies are.
        let ms = |ns: u64| (ns as f64 / 1e5).round() / 10.0;
        Outage {
            scenarios: longest.len() as u32,
            p50_ms: longest.get(longest.len() / 2).map_or(0.0, |&n| ms(n)),
            max_ms: longest.last().map_or(0.0, |&n| ms(n)),
        }
    }
}

/// How many of a cell's scenarios took each of the store's less common paths.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathCounts {
    /// Some request was answered Unavailable.
    pub unavailable: u32,
    /// Some coordinator stored a hint.
    pub hints_stored: u32,
    /// Some hint was replayed.
    pub hints_replayed: u32,
    /// Some read repaired a replica.
    pub read_repairs: u32,
    /// Some node restarted from its commit log.
    pub restarts: u32,
}

/// What the search of one cell found, whatever the system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellSearch {
    /// Scenarios run.
    pub cases: u32,
    /// Planned client ops run.
    pub ops: u64,
    /// Each guarantee, by name.
    pub guarantees: BTreeMap<String, GuaranteeCell>,
    /// Share of (non-final) ok reads that were stale, over all scenarios.
    pub stale_rate: f64,
    /// Ok reads judged for the stale rate.
    pub reads: usize,
    /// Of those, stale.
    pub stale_reads: usize,
    /// Availability and latency of the workload's ops.
    pub availability: Availability,
    /// Scenarios that took each rarer path of the system.
    pub paths: PathCounts,
}

/// One leaderless cell's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The cell's position in its profile's order.
    pub index: usize,
    /// The configuration.
    #[serde(flatten)]
    pub spec: CellSpec,
    /// What the search found.
    #[serde(flatten)]
    pub search: CellSearch,
}

/// One cell's results, of a system other than the leaderless store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemCellResult {
    /// The cell's position among the profile's cells of other systems.
    pub index: usize,
    /// The configuration.
    #[serde(flatten)]
    pub spec: SystemCellSpec,
    /// What the search found.
    #[serde(flatten)]
    pub search: CellSearch,
}

/// One PBS probe cell's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe's position in its profile's order.
    pub index: usize,
    /// The configuration.
    #[serde(flatten)]
    pub spec: ProbeSpec,
    /// Seeds run.
    pub seeds: u32,
    /// Reads judged.
    pub reads: usize,
    /// Of those, stale.
    pub stale_reads: usize,
    /// `stale_reads / reads`.
    pub stale_rate: f64,
    /// PBS's prediction.
    pub predicted: f64,
    /// The same RF, R and W as PBS models Dynamo, staleness by time since the write's
    /// acknowledgment (see [`crate::tvisibility`]); absent in matrices from before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tvisibility: Vec<crate::tvisibility::Point>,
}

/// A whole matrix, or one shard of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixReport {
    /// The profile.
    pub profile: Profile,
    /// Every cell's search budget.
    pub budget: Budget,
    /// `I/N` for a shard, absent for a whole matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The cells, in matrix order.
    pub cells: Vec<CellResult>,
    /// The PBS probe cells, in order.
    pub probes: Vec<ProbeResult>,
    /// The example files this report links (names in the examples directory).
    pub examples: Vec<String>,
    /// The systems the report covers (absent: the leaderless store alone).
    #[serde(default = "only_leaderless", skip_serializing_if = "leaderless_only")]
    pub systems: Vec<String>,
    /// The cells of the systems other than the leaderless store, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_cells: Vec<SystemCellResult>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct MatrixOptions {
    /// The profile.
    pub profile: Profile,
    /// Every cell's search budget.
    pub budget: Budget,
    /// `(I, N)`: run cells whose index is I-1 modulo N.
    pub shard: Option<(usize, usize)>,
    /// The path prefix under which examples are named in the report (`histories/matrix`).
    pub examples_prefix: String,
    /// Most shrink steps per counterexample.
    pub shrink_steps: u32,
    /// Worker threads (each runs whole cells).
    pub threads: usize,
    /// The systems to cover (see [`default_systems`]).
    pub systems: Vec<String>,
}

/// Why a shard `I/N` does not parse; each names the text given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// No `/` in it.
    #[error("shard {0:?} is not of the form I/N")]
    NotAFraction(String),
    /// `I` is not a number.
    #[error("shard {0:?}: I is not a number")]
    BadIndex(String),
    /// `N` is not a number.
    #[error("shard {0:?}: N is not a number")]
    BadCount(String),
    /// `I` is 0 or past `N`.
    #[error("shard {0:?}: need 1 <= I <= N")]
    OutOfRange(String),
}

/// Parses `I/N` with 1 <= I <= N.
pub fn parse_shard(s: &str) -> Result<(usize, usize), ShardError> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| ShardError::NotAFraction(s.to_string()))?;
    let i: usize = i
        .trim()
        .parse()
        .map_err(|_| ShardError::BadIndex(s.to_string()))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| ShardError::BadCount(s.to_string()))?;
    if n == 0 || i == 0 || i > n {
        return Err(ShardError::OutOfRange(s.to_string()));
    }
    Ok((i, n))
}

/// The cells a shard runs: indices `i - 1`, `i - 1 + n`, ...
pub fn shard_indices(total: usize, shard: Option<(usize, usize)>) -> Vec<usize> {
    match shard {
        None => (0..total).collect(),
        Some((i, n)) => (i - 1..total).step_by(n).collect(),
    }
}

/// Progress of a matrix run.
pub enum Tick<'a> {
    /// A cell ran one more scenario.
    Case {
        /// The cell's slug.
        cell: &'a str,
        /// Scenarios run in this cell so far.
        cases: u32,
        /// The cell's budget.
        budget: u32,
    },
    /// A cell (or probe) finished.
    Cell {
        /// Cells finished so far.
        done: usize,
        /// Cells in this run.
        total: usize,
        /// The cell's slug.
        cell: &'a str,
    },
}

/// A shrunk counterexample to write: its file name in the examples directory and its text.
pub type Example = (String, String);

/// Why a matrix run failed.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// A scenario could not be run.
    #[error("cell {cell}: {source}")]
    Run {
        /// The cell's slug.
        cell: String,
        /// The runner's error.
        source: RunError,
    },
    /// Shards that do not add up to one matrix.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// An example would replace a file that quorumlab did not write.
    #[error(
        "{} exists and is not a file quorumlab wrote; move it, or give --examples another \
         directory",
        path.display()
    )]
    Foreign {
        /// The file that would be replaced.
        path: PathBuf,
    },
    /// Writing the report or an example failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Why shards do not add up to one matrix; each names the shard, cell or probe at fault.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No shard was given.
    #[error("no shard to merge")]
    NoShards,
    /// A shard ran another profile, budget or list of systems than the first shard.
    #[error(
        "shard {shard} is profile {} with budget {budget:?} over {}, but the first is profile {} \
         with {first_budget:?} over {}",
        profile.name(),
        systems.join(", "),
        first_profile.name(),
        first_systems.join(", ")
    )]
    Mismatch {
        /// The shard, as it names itself (`(whole)` for an unsharded report).
        shard: String,
        /// Its profile.
        profile: Profile,
        /// Its budget.
        budget: Budget,
        /// Its systems.
        systems: Vec<String>,
        /// The first shard's profile.
        first_profile: Profile,
        /// The first shard's budget.
        first_budget: Budget,
        /// The first shard's systems.
        first_systems: Vec<String>,
    },
    /// A cell (`what` is "cell", of any system) or a probe that two shards both hold.
    #[error("{what} {index} ({slug}) appears in two shards")]
    Twice {
        /// "cell" or "probe".
        what: &'static str,
        /// Its index in the plan.
        index: usize,
        /// Its slug.
        slug: String,
    },
    /// A leaderless cell or a probe of the plan that no shard holds.
    #[error("{what} {index} ({slug}) is in no shard")]
    Missing {
        /// "cell" or "probe".
        what: &'static str,
        /// Its index in the plan.
        index: usize,
        /// Its slug.
        slug: String,
    },
    /// A cell of another system that no shard holds.
    #[error("cell {slug} is in no shard")]
    MissingSystemCell {
        /// Its slug.
        slug: String,
    },
    /// A shard's cell at this index is not the cell this version plans there.
    #[error("cell {index} is {found} in a shard but {planned} in this version")]
    Changed {
        /// The index in the plan.
        index: usize,
        /// The shard's cell.
        found: String,
        /// The planned cell.
        planned: String,
    },
    /// The shards hold more cells or probes than the plan.
    #[error(
        "shards hold {cells} cells, {probes} probes and {system_cells} cells of other systems; \
         the profile has {planned_cells}, {planned_probes} and {planned_system_cells}"
    )]
    Count {
        /// Leaderless cells found.
        cells: usize,
        /// Probes found.
        probes: usize,
        /// Cells of other systems found.
        system_cells: usize,
        /// Leaderless cells planned.
        planned_cells: usize,
        /// Probes planned.
        planned_probes: usize,
        /// Cells of other systems planned.
        planned_system_cells: usize,
    },
}

/// Runs the matrix (or a shard), calling `progress` as it goes. Returns the report and the
/// examples it links, for [`write()`].
pub fn run(
    options: &MatrixOptions,
    progress: &(dyn Fn(Tick<'_>) + Sync),
) -> Result<(MatrixReport, Vec<Example>), MatrixError> {
    run_cells(
        &Plan::of(options.profile, &options.systems),
        options,
        progress,
    )
}

enum Job<'a> {
    Cell(usize, &'a CellSpec),
    Probe(usize, &'a ProbeSpec),
    System(usize, &'a SystemCellSpec),
}

enum Done {
    Cell(Box<CellResult>, Vec<Example>),
    Probe(ProbeResult),
    System(Box<SystemCellResult>, Vec<Example>),
}

/// Runs the cells and probes of `plan` (or the shard of them `options.shard` names: the
/// leaderless cells first, then its probes, then the other systems' cells, in one sequence).
pub fn run_cells(
    plan: &Plan,
    options: &MatrixOptions,
    progress: &(dyn Fn(Tick<'_>) + Sync),
) -> Result<(MatrixReport, Vec<Example>), MatrixError> {
    let jobs: Vec<Job> = plan
        .cells
        .iter()
        .enumerate()
        .map(|(i, s)| Job::Cell(i, s))
        .chain(
            plan.probes
                .iter()
                .enumerate()
                .map(|(i, p)| Job::Probe(i, p)),
        )
        .chain(
            plan.system_cells
                .iter()
                .enumerate()
                .map(|(i, s)| Job::System(i, s)),
        )
        .collect();
    let indices = shard_indices(jobs.len(), options.shard);
    let slug = |index: usize| match &jobs[index] {
        Job::Cell(_, spec) => spec.slug(),
        Job::Probe(_, spec) => spec.slug(),
        Job::System(_, spec) => spec.slug(),
    };
    let results = quorumlab::jobs::run_with_progress(
        &indices,
        options.threads,
        |&index| match &jobs[index] {
            Job::Cell(i, spec) => {
                run_cell(*i, spec, options, progress).map(|(c, e)| Done::Cell(Box::new(c), e))
            }
            Job::Probe(i, spec) => {
                run_probe(*i, spec, options.profile.probe_seeds()).map(Done::Probe)
            }
            Job::System(i, spec) => search_cell(*spec, options, progress).map(|(search, e)| {
                Done::System(
                    Box::new(SystemCellResult {
                        index: *i,
                        spec: (*spec).clone(),
                        search,
                    }),
                    e,
                )
            }),
        },
        |f| {
            progress(Tick::Cell {
                done: f.done,
                total: f.total,
                cell: &slug(indices[f.index]),
            });
        },
    );
    let mut cells = Vec::new();
    let mut probes = Vec::new();
    let mut system_cells = Vec::new();
    let mut examples = Vec::new();
    for r in results {
        match r? {
            Done::Cell(c, e) => {
                cells.push(*c);
                examples.extend(e);
            }
            Done::Probe(p) => probes.push(p),
            Done::System(c, e) => {
                system_cells.push(*c);
                examples.extend(e);
            }
        }
    }
    cells.sort_by_key(|c| c.index);
    probes.sort_by_key(|p| p.index);
    system_cells.sort_by_key(|c| c.index);
    examples.sort();
    Ok((
        MatrixReport {
            profile: options.profile,
            budget: options.budget,
            shard: options.shard.map(|(i, n)| format!("{i}/{n}")),
            cells,
            probes,
            examples: examples.iter().map(|(n, _)| n.clone()).collect(),
            systems: options.systems.clone(),
            system_cells,
        },
        examples,
    ))
}

/// The seed of a cell's `i`-th scenario: a hash of the cell's slug and `i`, so a cell's search
/// does not depend on which other cells a profile or shard holds.
pub fn case_seed(slug: &str, i: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in slug.bytes().chain(i.to_le_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The workload and replica choice of the `i`-th scenario of the full rotation: every workload
/// in turn, and every replica choice once per round of workloads.
pub fn case_plan(i: u32) -> (Workload, ReplicaChoice) {
    let (workload, variant) = rotation(i, REPLICA_CHOICES.len());
    (workload, REPLICA_CHOICES[variant])
}

/// The `i`-th step of a rotation through every workload, and through `variants` variants of
/// each (the leaderless store's replica choices) once per round of workloads.
fn rotation(i: u32, variants: usize) -> (Workload, usize) {
    let n = Workload::VARIANTS.len() as u32;
    (
        Workload::VARIANTS[(i % n) as usize],
        ((i / n) % variants.max(1) as u32) as usize,
    )
}

/// The order of a cell's scenarios. Every other scenario continues the full rotation
/// ([`case_plan`]), so every guarantee, held or not, is searched with every workload and
/// replica choice. The scenarios between go to the workloads aimed at the mechanisms by which
/// theory says the guarantees not yet broken can break ([`Workload::aims_at`]), in turn, each
/// under every replica choice; while no predicted break is left to find, they continue the
/// rotation too. The plan depends only on the cell and on which guarantees broke, so a cell's
/// search is the same in every run and shard.
#[derive(Clone, Debug, Default)]
pub struct CasePlanner {
    scenarios: u32,
    rotation: u32,
    aimed: u32,
}

impl CasePlanner {
    /// The workload and replica choice of the next scenario of a leaderless cell, while
    /// `unbroken` (mechanisms of the predicted breaks not yet found) are searched for.
    pub fn next(&mut self, unbroken: &[Mechanism]) -> (Workload, ReplicaChoice) {
        let (workload, variant) = self.next_variant(unbroken, REPLICA_CHOICES.len());
        (workload, REPLICA_CHOICES[variant])
    }

    /// The workload and variant (of `variants`) of the next scenario, as [`CasePlanner::next`].
    pub fn next_variant(&mut self, unbroken: &[Mechanism], variants: usize) -> (Workload, usize) {
        // The rotation's workloads, then the aimed-only ones (which aim at no mechanism of the
        // leaderless store's theory, so its cells' plans do not include them).
        let aimed: Vec<Workload> = Workload::all()
            .filter(|w| unbroken.iter().any(|m| w.aims_at(*m)))
            .collect();
        let odd = self.scenarios % 2 == 1;
        self.scenarios += 1;
        if odd && !aimed.is_empty() {
            let k = self.aimed;
            self.aimed += 1;
            let n = aimed.len() as u32;
            return (
                aimed[(k % n) as usize],
                ((k / n) % variants.max(1) as u32) as usize,
            );
        }
        let plan = rotation(self.rotation, variants);
        self.rotation += 1;
        plan
    }
}

/// The rotation scenarios of a cell its costs are measured over (see [`Availability`]).
pub const COSTED_SCENARIOS: u32 = (Workload::VARIANTS.len() * REPLICA_CHOICES.len()) as u32;

/// A counterexample larger than this many client ops gets up to three times the shrink steps.
pub const SMALL_CASE_OPS: usize = 10;

/// Searches one leaderless cell: scenarios until every guarantee broke or the budget is spent,
/// then a shrunk counterexample for each scenario that broke something first.
pub fn run_cell(
    index: usize,
    spec: &CellSpec,
    options: &MatrixOptions,
    progress: &(dyn Fn(Tick<'_>) + Sync),
) -> Result<(CellResult, Vec<Example>), MatrixError> {
    let (search, examples) = search_cell(spec, options, progress)?;
    Ok((
        CellResult {
            index,
            spec: spec.clone(),
            search,
        },
        examples,
    ))
}

/// A scenario that broke some guarantee first, kept for shrinking.
struct Break {
    index: u32,
    seed: u64,
    workload: Workload,
    variant: usize,
    broken: Vec<Guarantee>,
    history: History,
}

/// Searches one cell of any system (see [`run_cell`]).
fn search_cell(
    spec: &dyn Searched,
    options: &MatrixOptions,
    progress: &(dyn Fn(Tick<'_>) + Sync),
) -> Result<(CellSearch, Vec<Example>), MatrixError> {
    let slug = spec.slug();
    let err = |source| MatrixError::Run {
        cell: slug.clone(),
        source,
    };
    // How theory says each guarantee breaks (None: it holds), for aiming the search.
    let mut mechanisms: BTreeMap<Guarantee, Option<Mechanism>> = BTreeMap::new();
    let mut guarantees: BTreeMap<Guarantee, GuaranteeCell> = Guarantee::ALL
        .iter()
        .map(|g| {
            let p = spec.predict(*g);
            mechanisms.insert(*g, p.mechanism);
            (
                *g,
                GuaranteeCell {
                    predicted: p.word().to_string(),
                    reason: p.reason,
                    broken: false,
                    cases: 0,
                    ops: 0,
                    unknown: 0,
                    found_by: None,
                    seed: None,
                    example: None,
                    example_ops: None,
                },
            )
        })
        .collect();
    let (mut reads, mut stale_reads) = (0usize, 0usize);
    let (mut cases, mut ops) = (0u32, 0u64);
    let mut paths = PathCounts::default();
    let mut all_ops: Vec<(Op, bool)> = Vec::new();
    let mut outages: Vec<u64> = Vec::new();
    let mut breaks: Vec<Break> = Vec::new();
    let mut planner = CasePlanner::default();
    // What a configuration costs is measured over the same scenarios in every cell: the first
    // full rotation of a leaderless cell (every workload under every replica choice; three
    // rounds of the workloads for a system without replica choices), never the aimed ones,
    // whose mix depends on what broke. A cell whose guarantees all broke early runs on until
    // it has them.
    let costed = COSTED_SCENARIOS;
    while cases < options.budget.cases
        && ops < options.budget.ops
        && (guarantees.values().any(|g| !g.broken) || planner.rotation < costed)
    {
        let i = cases;
        let unbroken: Vec<Mechanism> = guarantees
            .iter()
            .filter(|(_, c)| !c.broken)
            .filter_map(|(g, _)| mechanisms[g])
            .collect();
        let rotation_before = planner.rotation;
        let (workload, variant) = planner.next_variant(&unbroken, spec.variants());
        let costs = planner.rotation > rotation_before && rotation_before < costed;
        let seed = case_seed(&slug, i);
        let scenario = generate_with(&spec.strategy(workload, variant), seed);
        let out = crate::runner::run(&scenario).map_err(err)?;
        cases += 1;
        ops += scenario.op_count() as u64;
        let searching: Vec<Guarantee> = guarantees
            .iter()
            .filter(|(_, c)| !c.broken)
            .map(|(g, _)| *g)
            .collect();
        let judgement = judge(&out.history, &searching);
        let mut newly = Vec::new();
        for (g, finding) in &judgement.findings {
            let cell = guarantees.get_mut(g).expect("every guarantee has a cell");
            cell.cases += 1;
            cell.ops += scenario.op_count() as u64;
            match finding.held {
                Some(true) => {}
                Some(false) => {
                    cell.broken = true;
                    cell.seed = Some(seed);
                    cell.found_by = Some(match spec.variant_name(variant) {
                        Some(v) => format!(
                            "{} workload, {v} replica choice, scenario {}",
                            workload.name(),
                            i + 1
                        ),
                        None => format!("{} workload, scenario {}", workload.name(), i + 1),
                    });
                    newly.push(*g);
                }
                None => cell.unknown += 1,
            }
        }
        if !newly.is_empty() {
            breaks.push(Break {
                index: i,
                seed,
                workload,
                variant,
                broken: newly,
                history: out.history.clone(),
            });
        }
        if let Ok(s) = stale::staleness(&out.history) {
            reads += s.reads;
            stale_reads += s.stale;
        }
        let c = &out.account;
        paths.unavailable += (c.counter("unavailable") > 0) as u32;
        paths.hints_stored += (c.counter("hints_stored") > 0) as u32;
        paths.hints_replayed += (c.counter("hints_replayed") > 0) as u32;
        paths.read_repairs += (c.counter("read_repairs") > 0) as u32;
        paths.restarts += (c.counter("starts") > scenario.system.nodes() as u64) as u32;
        if costs {
            if let Some(o) = longest_outage(&out.history) {
                outages.push(o);
            }
            let windows = fault_windows(&out.history);
            for op in out.history.ops.into_iter().filter(|o| !is_final(o)) {
                let in_fault = windows
                    .iter()
                    .any(|(a, b)| *a <= op.invoke && op.invoke < *b);
                all_ops.push((op, in_fault));
            }
        }
        progress(Tick::Case {
            cell: &slug,
            cases,
            budget: options.budget.cases,
        });
    }
    let mut examples = Vec::new();
    for b in breaks {
        let strategy = spec.strategy(b.workload, b.variant);
        let found = generate_with(&strategy, b.seed);
        // One shrink per guarantee, the most specific first: held to all of them at once a
        // case stays as large as the largest, and a case shrunk for one (monotonic reads, say)
        // usually breaks the stronger ones too (linearizability), which then need no case of
        // their own.
        let mut left = b.broken.clone();
        let mut n = 0;
        while let Some(target) = shrink::most_specific(&left) {
            let keep = Keep::All(vec![target]);
            let mut test = ShrinkTest::new(&found, Some(&b.history), keep, options.shrink_steps)
                .with_overtime(SMALL_CASE_OPS, options.shrink_steps.saturating_mul(3));
            shrink_with(&strategy, b.seed, |s| test.check(s));
            let mut case = test.finish(&left).map_err(err)?;
            let shown: Vec<Guarantee> = case
                .judgement
                .violated()
                .into_iter()
                .filter(|g| left.contains(g))
                .collect();
            left.retain(|g| *g != target && !shown.contains(g));
            if shown.is_empty() {
                continue;
            }
            case.judgement.findings.retain(|g, _| shown.contains(g));
            case.expect = shown.clone();
            n += 1;
            let name = match n {
                1 => format!("{slug}-case{}.json", b.index + 1),
                n => format!("{slug}-case{}-{n}.json", b.index + 1),
            };
            for g in &shown {
                let cell = guarantees.get_mut(g).expect("every guarantee has a cell");
                cell.example = Some(format!("{}/{name}", options.examples_prefix));
                cell.example_ops = Some(case.scenario.op_count());
            }
            examples.push((name, case.to_file_string()));
        }
    }
    let is_read = |o: &Op| o.kind == OpKind::Get;
    let availability = Availability {
        reads: OpStats::from_ops(all_ops.iter().map(|(o, _)| o).filter(|o| is_read(o))),
        writes: OpStats::from_ops(all_ops.iter().map(|(o, _)| o).filter(|o| !is_read(o))),
        reads_in_faults: OpStats::from_ops(
            all_ops
                .iter()
                .filter(|(o, f)| *f && is_read(o))
                .map(|(o, _)| o),
        ),
        writes_in_faults: OpStats::from_ops(
            all_ops
                .iter()
                .filter(|(o, f)| *f && !is_read(o))
                .map(|(o, _)| o),
        ),
        outage: Outage::of(outages),
    };
    Ok((
        CellSearch {
            cases,
            ops,
            guarantees: guarantees
                .into_iter()
                .map(|(g, c)| (g.name().to_string(), c))
                .collect(),
            stale_rate: if reads == 0 {
                0.0
            } else {
                stale_reads as f64 / reads as f64
            },
            reads,
            stale_reads,
            availability,
            paths,
        },
        examples,
    ))
}

/// The longest outage of a run, in simulated ns: the longest stretch, on any one key, from a
/// workload op that failed or timed out to the next op on that key answered ok (or to the last
/// of the unanswered ops, when none was). `None` when every op was answered ok.
fn longest_outage(history: &History) -> Option<u64> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history.ops.iter().filter(|o| !is_final(o)) {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut longest = None;
    for ops in by_key.values_mut() {
        ops.sort_by_key(|o| (o.invoke, o.id));
        // (the run's first invocation, the latest time one of its ops ended)
        let mut run: Option<(u64, u64)> = None;
        for op in ops.iter() {
            let end = op.complete.unwrap_or(op.invoke);
            if op.outcome == Outcome::Ok {
                if let Some((start, _)) = run.take() {
                    longest = longest.max(Some(op.invoke - start));
                }
            } else {
                run = Some(match run {
                    None => (op.invoke, end),
                    Some((start, last)) => (start, last.max(end)),
                });
            }
        }
        if let Some((start, last)) = run {
            longest = longest.max(Some(last - start));
        }
    }
    longest
}

/// The fault windows of a run, `[start, end)` in simulated ns, from its nemesis log.
fn fault_windows(history: &quorumlab::history::History) -> Vec<(u64, u64)> {
    let Some(log) = history.extra.get("nemesis").and_then(|n| n.as_array()) else {
        return Vec::new();
    };
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for e in log {
        let (Some(t), Some(i), Some(a)) = (
            e.get("time").and_then(|v| v.as_u64()),
            e.get("index").and_then(|v| v.as_u64()),
            e.get("action").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        match a {
            "start" => {
                open.insert(i, t);
            }
            _ => {
                if let Some(s) = open.remove(&i) {
                    out.push((s, t));
                }
            }
        }
    }
    out.extend(open.into_values().map(|s| (s, u64::MAX)));
    out
}

/// Runs one PBS probe cell over `seeds` seeds.
pub fn run_probe(index: usize, spec: &ProbeSpec, seeds: u32) -> Result<ProbeResult, MatrixError> {
    let strategy = spec.strategy();
    let (mut reads, mut stale_reads) = (0usize, 0usize);
    for k in 1..=seeds {
        let scenario = generate_with(&strategy, case_seed(&spec.slug(), k));
        let out = crate::runner::run(&scenario).map_err(|source| MatrixError::Run {
            cell: spec.slug(),
            source,
        })?;
        if let Ok(s) = stale::staleness(&out.history) {
            reads += s.reads;
            stale_reads += s.stale;
        }
    }
    Ok(ProbeResult {
        index,
        spec: spec.clone(),
        seeds,
        reads,
        stale_reads,
        stale_rate: if reads == 0 {
            0.0
        } else {
            stale_reads as f64 / reads as f64
        },
        predicted: spec.predicted(),
        tvisibility: crate::tvisibility::measure(spec, seeds).map_err(|source| {
            MatrixError::Run {
                cell: spec.slug(),
                source,
            }
        })?,
    })
}

/// Joins shards into the whole matrix; every cell and probe of the profile must appear exactly
/// once.
pub fn merge(shards: Vec<MatrixReport>) -> Result<MatrixReport, MatrixError> {
    Ok(merge_shards(shards)?)
}

fn merge_shards(shards: Vec<MatrixReport>) -> Result<MatrixReport, MergeError> {
    let first = shards.first().ok_or(MergeError::NoShards)?;
    let (profile, budget, systems) = (first.profile, first.budget, first.systems.clone());
    let mut found: BTreeMap<usize, CellResult> = BTreeMap::new();
    let mut found_probes: BTreeMap<usize, ProbeResult> = BTreeMap::new();
    let mut found_systems: BTreeMap<usize, SystemCellResult> = BTreeMap::new();
    let mut examples = Vec::new();
    let twice = |what, index, slug| MergeError::Twice { what, index, slug };
    for s in &shards {
        if s.profile != profile || s.budget != budget || s.systems != systems {
            return Err(MergeError::Mismatch {
                shard: s.shard.as_deref().unwrap_or("(whole)").to_string(),
                profile: s.profile,
                budget: s.budget,
                systems: s.systems.clone(),
                first_profile: profile,
                first_budget: budget,
                first_systems: systems,
            });
        }
        for c in &s.cells {
            if found.insert(c.index, c.clone()).is_some() {
                return Err(twice("cell", c.index, c.spec.slug()));
            }
        }
        for p in &s.probes {
            if found_probes.insert(p.index, p.clone()).is_some() {
                return Err(twice("probe", p.index, p.spec.slug()));
            }
        }
        for c in &s.system_cells {
            if found_systems.insert(c.index, c.clone()).is_some() {
                return Err(twice("cell", c.index, c.spec.slug()));
            }
        }
        examples.extend(s.examples.iter().cloned());
    }
    let plan = Plan::of(profile, &systems);
    let changed = |index, found: String, planned: String| MergeError::Changed {
        index,
        found,
        planned,
    };
    for (i, spec) in plan.cells.iter().enumerate() {
        match found.get(&i) {
            None => {
                return Err(MergeError::Missing {
                    what: "cell",
                    index: i,
                    slug: spec.slug(),
                })
            }
            Some(c) if &c.spec != spec => return Err(changed(i, c.spec.slug(), spec.slug())),
            _ => {}
        }
    }
    for (i, spec) in plan.probes.iter().enumerate() {
        if !found_probes.contains_key(&i) {
            return Err(MergeError::Missing {
                what: "probe",
                index: i,
                slug: spec.slug(),
            });
        }
    }
    for (i, spec) in plan.system_cells.iter().enumerate() {
        match found_systems.get(&i) {
            None => return Err(MergeError::MissingSystemCell { slug: spec.slug() }),
            Some(c) if &c.spec != spec => return Err(changed(i, c.spec.slug(), spec.slug())),
            _ => {}
        }
    }
    if found.len() != plan.cells.len()
        || found_probes.len() != plan.probes.len()
        || found_systems.len() != plan.system_cells.len()
    {
        return Err(MergeError::Count {
            cells: found.len(),
            probes: found_probes.len(),
            system_cells: found_systems.len(),
            planned_cells: plan.cells.len(),
            planned_probes: plan.probes.len(),
            planned_system_cells: plan.system_cells.len(),
        });
    }
    examples.sort();
    examples.dedup();
    Ok(MatrixReport {
        profile,
        budget,
        shard: None,
        cells: found.into_values().collect(),
        probes: found_probes.into_values().collect(),
        examples,
        systems,
        system_cells: found_systems.into_values().collect(),
    })
}

/// The matrix's columns: short heading and guarantee, in the tables' order.
pub const COLUMNS: [(&str, Guarantee); 7] = [
    ("lin", Guarantee::Linearizable),
    ("stale", Guarantee::NoStaleReads),
    ("ryw", Guarantee::ReadYourWrites),
    ("mr", Guarantee::MonotonicReads),
    ("mw", Guarantee::MonotonicWrites),
    ("wfr", Guarantee::WritesFollowReads),
    ("conv", Guarantee::Convergence),
];

fn percent(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl CellResult {
    fn head(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {}{} | {} |",
            self.spec.rf,
            self.spec.r,
            self.spec.w,
            self.spec.read_repair,
            if self.spec.hints { "on" } else { "off" },
            if self.spec.anti_entropy { " + ae" } else { "" },
            self.spec.faults.name()
        )
    }
}

impl SystemCellResult {
    fn head(&self) -> String {
        let lf = self.spec.leader_follower();
        format!(
            "| {} | {} | {} | {} |",
            if lf.sync_followers == 0 {
                "async".to_string()
            } else {
                format!("sync to {}", lf.sync_followers)
            },
            if lf.follower_reads { "any" } else { "leader" },
            if lf.fencing { "on" } else { "off" },
            self.spec.faults.name()
        )
    }
}

impl CellSearch {
    /// The row's cells from *searched* to *stale%*, each starting with a space and ending
    /// with `|`.
    fn entries(&self, link_prefix: &str) -> String {
        let mut line = format!(
            " {} sc, {} ops, ≤{}% |",
            self.cases,
            thousands(self.ops),
            if self.cases == 0 {
                "100".to_string()
            } else {
                percent(3.0 / self.cases as f64)
            }
        );
        for (_, g) in COLUMNS {
            let gc = &self.guarantees[g.name()];
            let mut entry = if gc.broken {
                let ops = gc
                    .example_ops
                    .map(|n| format!(" ({n} ops)"))
                    .unwrap_or_default();
                match &gc.example {
                    Some(p) => format!("[✗ {}{ops}]({link_prefix}{p})", gc.cases),
                    None => format!("✗ {}{ops}", gc.cases),
                }
            } else if gc.unknown > 0 {
                format!("✓ ({} undecided)", gc.unknown)
            } else {
                "✓".to_string()
            };
            if gc.disagrees() {
                entry.push_str(if gc.broken {
                    " ‼ predicted to hold"
                } else {
                    " ⚠ predicted to break"
                });
            }
            line.push_str(&format!(" {entry} |"));
        }
        line.push_str(&format!(" {} |\n", percent(self.stale_rate)));
        line
    }

    /// The costs row's cells after the configuration, ending with a newline.
    fn costs(&self, paths: &str) -> String {
        let a = &self.availability;
        let in_faults = if a.reads_in_faults.total + a.writes_in_faults.total == 0 {
            "–".to_string()
        } else {
            format!(
                "{} / {}",
                percent(a.reads_in_faults.ok_share()),
                percent(a.writes_in_faults.ok_share())
            )
        };
        let outage = if a.outage.scenarios == 0 {
            "–".to_string()
        } else {
            format!(
                "{} / {} ({} sc)",
                a.outage.p50_ms, a.outage.max_ms, a.outage.scenarios
            )
        };
        format!(
            " {} | {} | {in_faults} | {} / {} | {} / {} | {} / {} | {} / {} | {outage} | {paths} |\n",
            percent(a.reads.ok_share()),
            percent(a.writes.ok_share()),
            a.reads.unavailable,
            a.writes.unavailable,
            a.reads.timed_out,
            a.writes.timed_out,
            a.reads.p50_ms,
            a.reads.p99_ms,
            a.writes.p50_ms,
            a.writes.p99_ms,
        )
    }
}

/// The costs table's columns after the configuration's.
const COSTS_COLUMNS: &str = "reads ok % | writes ok % | in faults: reads / writes ok % | unavailable r / w | timed out r / w | read ms | write ms | outage ms: median / longest |";

impl MatrixReport {
    /// The JSON form (pretty, deterministic).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("reports serialize");
        s.push('\n');
        s
    }

    /// Every cell's slug and search, leaderless cells first, in matrix order.
    pub fn searches(&self) -> Vec<(String, &CellSearch)> {
        self.cells
            .iter()
            .map(|c| (c.spec.slug(), &c.search))
            .chain(self.system_cells.iter().map(|c| (c.spec.slug(), &c.search)))
            .collect()
    }

    /// Every (cell slug, guarantee) whose evidence disagrees with theory.
    pub fn disagreements(&self) -> Vec<(String, Guarantee, &GuaranteeCell)> {
        let mut out = Vec::new();
        for (slug, c) in self.searches() {
            for (_, g) in COLUMNS {
                let gc = &c.guarantees[g.name()];
                if gc.disagrees() {
                    out.push((slug.clone(), g, gc));
                }
            }
        }
        out
    }

    /// The Markdown report. `link_prefix` is prepended to example paths (the way from the
    /// Markdown file's directory to the repository root).
    pub fn to_markdown(&self, link_prefix: &str) -> String {
        let mut out = String::new();
        let b = self.budget;
        out.push_str("# Consistency matrix\n\n");
        if !self.system_cells.is_empty() {
            out.push_str(&format!(
                "Systems: {}. The same fault profiles and the same search for each, so what each \
                 design keeps, and what it costs in availability, can be read side by side.\n\n",
                self.systems
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push_str(&format!(
            "Profile `{profile}`. Every cell is a search: scenarios run until each guarantee breaks \
             or the cell has run {cases} scenarios or {ops} client ops. Every other \
             scenario cycles through the workloads {workloads} and, across rounds, the \
             replica choices {choices}; the scenarios between go to the workloads aimed at \
             the mechanisms of the predicted breaks not yet found. 5 nodes, faults drawn \
             from the cell's fault profile. Each break links \
             its shrunk counterexample (`quorumlab replay FILE` reruns it). Regenerate with \
             `cargo run --release -- matrix --profile {profile}`; what each workload and \
             prediction means is in [consistency.md](consistency.md).\n\n",
            profile = self.profile.name(),
            cases = b.cases,
            ops = thousands(b.ops),
            workloads = Workload::VARIANTS
                .iter()
                .map(|w| format!("`{}`", w.name()))
                .collect::<Vec<_>>()
                .join(", "),
            choices = REPLICA_CHOICES
                .iter()
                .map(|c| format!("`{}`", c.name()))
                .collect::<Vec<_>>()
                .join(", "),
        ));
        out.push_str(
            "An entry is `✗ N (K ops)`: broken by the N-th scenario, shrunk to K client ops, \
             linked; or `✓`: held in every scenario of the cell, whose count and the 95% upper \
             bound on the chance that one scenario breaks it (3/n, the rule of three) are under \
             *searched*. Theory's prediction (docs/consistency.md) agrees with every entry \
             unless it is marked `⚠ predicted to break` (the search did not find a break \
             theory allows) or `‼ predicted to hold` (a break theory rules out). Columns: lin = \
             linearizable, stale = no stale reads, ryw = read your writes, mr = monotonic reads, \
             mw = monotonic writes, wfr = writes follow reads, conv = convergence; stale% = \
             share of reads that were stale.\n\n",
        );
        let guarantee_heads = "searched | lin | stale | ryw | mr | mw | wfr | conv | stale% |";
        for (title, strong) in [("R + W > RF", true), ("R + W <= RF", false)] {
            let rows: Vec<&CellResult> = self
                .cells
                .iter()
                .filter(|c| (c.spec.r + c.spec.w > c.spec.rf) == strong)
                .collect();
            if rows.is_empty() {
                continue;
            }
            out.push_str(&format!("## {title}\n\n"));
            out.push_str(&format!(
                "| RF | R | W | read repair | hints | faults | {guarantee_heads}\n"
            ));
            out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for c in rows {
                out.push_str(&c.head());
                out.push_str(&c.search.entries(link_prefix));
            }
            out.push('\n');
        }
        if !self.system_cells.is_empty() {
            out.push_str("## Leader-follower\n\n");
            out.push_str(&format!(
                "One leader per partition of 3 replicas takes every write; replication is \
                 asynchronous (the leader acknowledges alone) or synchronous to a number of \
                 followers; reads go to the leader or to any replica; a leader not heard from \
                 for {FAILOVER_TIMEOUT_MS} ms is replaced by an election, and fencing stops a \
                 deposed leader from answering. Logs are synced before every acknowledgment and \
                 vote. The system does not model message loss, latency or clock skew, so those \
                 profiles have no cells here. Design and theory: \
                 [leader-follower.md](leader-follower.md).\n\n"
            ));
            out.push_str(&format!(
                "| replication | reads | fencing | faults | {guarantee_heads}\n"
            ));
            out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for c in &self.system_cells {
                out.push_str(&c.head());
                out.push_str(&c.search.entries(link_prefix));
            }
            out.push('\n');
        }

        out.push_str("## Against theory\n\n");
        let searches = self.searches();
        // (pairs, predicted to break, of those broken) over some cells' searches.
        let tally = |cells: &mut dyn Iterator<Item = &CellSearch>| {
            let (mut total, mut predicted, mut found) = (0usize, 0usize, 0usize);
            for c in cells {
                total += COLUMNS.len();
                for g in c.guarantees.values().filter(|g| g.predicted == "breaks") {
                    predicted += 1;
                    found += g.broken as usize;
                }
            }
            (total, predicted, found)
        };
        let (total, predicted_breaks, found) = tally(&mut self.cells.iter().map(|c| &c.search));
        if !self.cells.is_empty() {
            out.push_str(&format!(
                "Of {total} (cell, guarantee) pairs, theory predicts {predicted_breaks} can break; \
                 the search broke {found} of those.{}\n\n",
                if self.system_cells.is_empty() {
                    ""
                } else {
                    " (The leaderless store's cells.)"
                }
            ));
        }
        if !self.system_cells.is_empty() {
            let (total, predicted_breaks, found) =
                tally(&mut self.system_cells.iter().map(|c| &c.search));
            out.push_str(&format!(
                "Leader-follower: of {total} (cell, guarantee) pairs, theory predicts \
                 {predicted_breaks} can break; the search broke {found} of those.\n\n"
            ));
        }
        let dis = self.disagreements();
        if dis.is_empty() {
            out.push_str(
                "No disagreement: every predicted break was found, and no predicted hold broke.\n\n",
            );
        } else {
            out.push_str(
                "| cell | guarantee | predicted | because | evidence |\n|---|---|---|---|---|\n",
            );
            for (slug, g, gc) in dis {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    slug,
                    g.name(),
                    gc.predicted,
                    gc.reason,
                    if gc.broken {
                        format!("broken by scenario {}", gc.cases)
                    } else {
                        format!("held in {} scenarios ({} ops)", gc.cases, thousands(gc.ops))
                    }
                ));
            }
            out.push('\n');
        }

        let mut sizes: Vec<usize> = searches
            .iter()
            .flat_map(|(_, c)| c.guarantees.values())
            .filter_map(|g| g.example.as_ref().and(g.example_ops))
            .collect();
        if !sizes.is_empty() {
            sizes.sort_unstable();
            let median = sizes[sizes.len() / 2];
            let max = sizes[sizes.len() - 1];
            let within = |n: usize| sizes.iter().filter(|&&s| s <= n).count();
            out.push_str(&format!(
                "Shrunk counterexamples (one per break): median {median} client ops, largest \
                 {max}; {} of {} at most 5 ops, {} at most 10.\n\n",
                within(5),
                sizes.len(),
                within(10)
            ));
        }

        out.push_str("## What each configuration costs\n\n");
        out.push_str(&format!(
            "Measured over the same scenarios in every cell: the first {COSTED_SCENARIOS} of its \
             search's rotation (every workload under every replica choice; three rounds of the workloads \
             for the leader-follower store), never the scenarios aimed at a break, run even \
             where every guarantee broke sooner. \
             Share of workload ops answered ok, overall and for ops invoked while a fault was \
             active; ops refused as Unavailable and ops that timed out (outcome unknown); \
             latency of ok ops in simulated ms (median / 99th percentile); outage: per scenario \
             in which some op failed or timed out, the longest stretch on one key from such an \
             op to the next op on it answered ok, median and longest over those scenarios (sc), \
             in simulated ms. Paths: scenarios in \
             which some request was answered Unavailable (U), a hint was stored (H) and \
             replayed (HR), a read repaired a replica (RR), a node restarted (C), over every \
             scenario the cell ran.\n\n",
        ));
        if !self.cells.is_empty() {
            out.push_str(&format!(
                "| RF | R | W | read repair | hints | faults | {COSTS_COLUMNS} paths U / H / HR / RR / C |\n"
            ));
            out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for c in &self.cells {
                let p = &c.search.paths;
                let paths = format!(
                    "{} / {} / {} / {} / {}",
                    p.unavailable, p.hints_stored, p.hints_replayed, p.read_repairs, p.restarts
                );
                out.push_str(&c.head());
                out.push_str(&c.search.costs(&paths));
            }
            out.push('\n');
        }
        if !self.system_cells.is_empty() {
            out.push_str("Leader-follower, with the same columns:\n\n");
            out.push_str(&format!(
                "| replication | reads | fencing | faults | {COSTS_COLUMNS} paths U / C |\n"
            ));
            out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for c in &self.system_cells {
                let p = &c.search.paths;
                out.push_str(&c.head());
                out.push_str(
                    &c.search
                        .costs(&format!("{} / {}", p.unavailable, p.restarts)),
                );
            }
            out.push('\n');
        }

        if !self.probes.is_empty() {
            out.push_str("## Stale reads against PBS\n\n");
            out.push_str(&format!(
                "PBS probe cells (Bailis et al., VLDB 2012): one client writes a fresh key and \
                 reads it back as soon as the write is acknowledged, {PBS_PAIRS} times per seed, no \
                 faults, read repair, hints and anti-entropy off, writes sent to exactly W replicas \
                 and reads to R replicas, both drawn at random. PBS predicts that a read misses \
                 the write with probability C(RF-W, R) / C(RF, R). The interval is the 99% \
                 normal-approximation interval around the prediction for the reads measured.\n\n"
            ));
            out.push_str(
                "| RF | R | W | reads | stale | measured | predicted | 99% interval | within |\n",
            );
            out.push_str("|---|---|---|---|---|---|---|---|---|\n");
            for c in &self.probes {
                let p = c.predicted;
                let (lo, hi) = interval99(p, c.reads);
                let within = (lo..=hi).contains(&c.stale_rate);
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} to {:.3} | {} |\n",
                    c.spec.rf,
                    c.spec.r,
                    c.spec.w,
                    c.reads,
                    c.stale_reads,
                    c.stale_rate,
                    p,
                    lo,
                    hi,
                    if within { "yes" } else { "NO" }
                ));
            }
            out.push('\n');
        }
        out
    }
}

/// The manifest of example files a whole matrix run wrote, kept in the examples directory so
/// the next run removes only its own files.
pub const MANIFEST: &str = "MANIFEST";

/// Refuses to let a matrix replace `path` unless it is absent or quorumlab wrote it (an
/// earlier run's or a shard's case, or its report): a user's file that happens to have an
/// example's name is never overwritten.
pub fn refuse_foreign(path: &Path) -> Result<(), MatrixError> {
    match fsutil::written_by_quorumlab(path) {
        Ok(None | Some(true)) => Ok(()),
        Ok(Some(false)) => Err(MatrixError::Foreign {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(MatrixError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Stages `text` to become `path` (see [`fsutil::Staging`]).
fn stage_file(staging: &mut Staging, path: &Path, text: &str) -> Result<(), MatrixError> {
    staging
        .write(path, text.as_bytes())
        .map(|_| ())
        .map_err(|source| MatrixError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn mkdir(d: &Path) -> Result<(), MatrixError> {
    std::fs::create_dir_all(d).map_err(|source| MatrixError::Io {
        path: d.to_path_buf(),
        source,
    })
}

/// Stages the report and its examples (see [`fsutil::Staging`]): `consistency-matrix.json`
/// and `consistency-matrix.md` in `dir` for a whole matrix, `consistency-matrix.shard-I-of-N.json`
/// for a shard; each example into `examples_dir`. Nothing is in place until [`commit`].
/// Returns the report paths.
pub fn stage(
    report: &MatrixReport,
    examples: &[Example],
    dir: &Path,
    examples_dir: &Path,
    link_prefix: &str,
    staging: &mut Staging,
) -> Result<Vec<PathBuf>, MatrixError> {
    mkdir(dir)?;
    if !examples.is_empty() {
        mkdir(examples_dir)?;
    }
    for (name, text) in examples {
        let path = examples_dir.join(name);
        refuse_foreign(&path)?;
        refuse_foreign(&crate::report::html_path(&path))?;
        stage_file(staging, &path, text)?;
    }
    match &report.shard {
        Some(shard) => {
            let path = dir.join(format!(
                "consistency-matrix.shard-{}.json",
                shard.replace('/', "-of-")
            ));
            stage_file(staging, &path, &report.to_json())?;
            Ok(vec![path])
        }
        None => {
            let json = dir.join("consistency-matrix.json");
            let md = dir.join("consistency-matrix.md");
            stage_file(staging, &json, &report.to_json())?;
            stage_file(staging, &md, &report.to_markdown(link_prefix))?;
            Ok(vec![md, json])
        }
    }
}

/// Puts a run's staged files in place. A whole matrix keeps a manifest of the examples it
/// wrote in `examples_dir` (`old_manifest` is the one read before the run): first the
/// manifest lists the old and the new examples together, so that a run killed while the
/// files move leaves none untracked; then every staged file moves into place; then the
/// manifest lists the new examples alone, and the old examples it no longer links are
/// removed with the reports beside them. Nothing else in the directory is touched. A shard
/// moves its files and leaves the manifest to the merge.
pub fn commit(
    report: &MatrixReport,
    staging: Staging,
    examples_dir: &Path,
    old_manifest: &str,
) -> Result<(), MatrixError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MatrixError::Io { path, source }
    };
    if report.shard.is_some() {
        return staging.commit().map_err(io(examples_dir));
    }
    // Only plain file names the matrix itself wrote; never a path elsewhere.
    let old: Vec<&str> = old_manifest
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.contains('/') && !n.contains(".."))
        .collect();
    let manifest = examples_dir.join(MANIFEST);
    let list = |names: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for name in names {
            text.push_str(name);
            text.push('\n');
        }
        text
    };
    let both: std::collections::BTreeSet<&str> = old
        .iter()
        .copied()
        .chain(report.examples.iter().map(String::as_str))
        .collect();
    let tracked = !both.is_empty();
    if tracked {
        mkdir(examples_dir)?;
        fsutil::write_atomic(&manifest, list(&mut both.iter().copied()).as_bytes())
            .map_err(io(&manifest))?;
    }
    staging.commit().map_err(io(examples_dir))?;
    if tracked {
        fsutil::write_atomic(
            &manifest,
            list(&mut report.examples.iter().map(String::as_str)).as_bytes(),
        )
        .map_err(io(&manifest))?;
    }
    for name in old {
        if report.examples.iter().any(|e| e == name) {
            continue;
        }
        let old_example = examples_dir.join(name);
        let _ = std::fs::remove_file(&old_example);
        // Its report was written beside it from it, and goes with it.
        let _ = std::fs::remove_file(crate::report::html_path(&old_example));
    }
    Ok(())
}

/// Writes the report and its examples at once: [`stage`], then [`commit`] against the
/// manifest `examples_dir` holds now. Returns the report paths written.
pub fn write(
    report: &MatrixReport,
    examples: &[Example],
    dir: &Path,
    examples_dir: &Path,
    link_prefix: &str,
) -> Result<Vec<PathBuf>, MatrixError> {
    let old = crate::report::matrix_page::read_manifest(examples_dir);
    let mut staging = Staging::new();
    let paths = stage(
        report,
        examples,
        dir,
        examples_dir,
        link_prefix,
        &mut staging,
    )?;
    commit(report, staging, examples_dir, &old)?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_and_fault_profile_names_are_derived_in_order() {
        let names: Vec<&str> = Profile::VARIANTS.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["quick", "full"]);
        for &p in Profile::VARIANTS {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
        assert_eq!(
            "Quick".parse::<Profile>().unwrap_err().to_string(),
            "unknown profile \"Quick\"; expected quick or full"
        );
        let names: Vec<&str> = FaultProfile::VARIANTS.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "none",
                "partition",
                "crash-fsync-always",
                "crash-fsync-periodic",
                "loss",
                "skew",
                "mixed",
            ]
        );
        for &f in FaultProfile::VARIANTS {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.name()));
            assert_eq!(serde_json::from_str::<FaultProfile>(&json).unwrap(), f);
        }
    }

    fn history(ops: &str) -> History {
        History::from_json_str(&format!(
            r#"{{"format": "quorumlab-history/1", "ops": [{ops}]}}"#
        ))
        .expect("a valid history")
    }

    #[test]
    fn an_outage_runs_from_the_first_unanswered_op_to_the_next_ok_one_on_its_key() {
        let ms = 1_000_000;
        let h = history(&format!(
            r#"{{"id":0,"client":0,"kind":"put","key":"a","value":1,"invoke":0,"complete":{a},"outcome":"ok"}},
               {{"id":1,"client":1,"kind":"put","key":"a","value":2,"invoke":{b},"complete":{c},"outcome":"info"}},
               {{"id":2,"client":2,"kind":"get","key":"b","invoke":{b},"complete":{d},"outcome":"fail","error":"unavailable"}},
               {{"id":3,"client":0,"kind":"get","key":"a","invoke":{e},"complete":{f},"outcome":"fail"}},
               {{"id":4,"client":3,"kind":"get","key":"a","invoke":{g},"complete":{h},"outcome":"ok","read":2}}"#,
            a = ms,
            b = 10 * ms,
            c = 510 * ms,
            d = 11 * ms,
            e = 20 * ms,
            f = 21 * ms,
            g = 400 * ms,
            h = 401 * ms,
        ));
        // Key a: unanswered from 10 ms until the get invoked at 400 ms was answered ok (390 ms);
        // key b: one refusal, 10 to 11 ms, with no ok op after it.
        assert_eq!(longest_outage(&h), Some(390 * ms));
        let all_ok = history(
            r#"{"id":0,"client":0,"kind":"put","key":"a","value":1,"invoke":0,"complete":5,"outcome":"ok"}"#,
        );
        assert_eq!(longest_outage(&all_ok), None);
        let o = Outage::of(vec![390 * ms, ms, 20 * ms]);
        assert_eq!((o.scenarios, o.p50_ms, o.max_ms), (3, 20.0, 390.0));
    }
}
