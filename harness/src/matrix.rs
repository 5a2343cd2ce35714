//! The consistency matrix: for each RF, (R, W), repair setting and fault profile, which
//! guarantees held over S seeds, with a shrunk, replayable counterexample for every break.
//!
//! Cells are listed in a fixed order; `--shard I/N` takes every N-th cell starting at the I-th,
//! and [`merge`] joins shards back into exactly the unsharded report. The report holds no wall
//! times, so the same profile always renders the same bytes.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use quorumlab::check::{stale, Guarantee};
use quorumlab::store::{ConsistencyLevel, FsyncPolicy, ReadRepair, ReplicaChoice, StoreConfig};
use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::explore::{generate_with, shrink_with};
use crate::scenario::Scenario;
use crate::strategy::{scenario, write_then_read};
use crate::strategy::{FaultChoice, ScenarioShape};
use crate::verdict::judge;
use proptest::strategy::{BoxedStrategy, Strategy};

/// Which cells to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A documented subset that finishes in minutes: see [`cells`].
    Quick,
    /// Every cell; meant to be sharded.
    Full,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quick" => Ok(Profile::Quick),
            "full" => Ok(Profile::Full),
            _ => Err(format!("unknown profile {s:?}; expected quick or full")),
        }
    }
}

impl Profile {
    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Quick => "quick",
            Profile::Full => "full",
        }
    }

    /// Seeds per cell unless `--seeds` says otherwise.
    pub fn default_seeds(self) -> u32 {
        match self {
            Profile::Quick => 3,
            Profile::Full => 10,
        }
    }
}

/// A fault profile: which faults a cell's scenarios draw from, and the fsync policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// Every profile, in matrix order.
    pub const ALL: [FaultProfile; 7] = [
        FaultProfile::None,
        FaultProfile::Partition,
        FaultProfile::CrashFsyncAlways,
        FaultProfile::CrashFsyncPeriodic,
        FaultProfile::Loss,
        FaultProfile::Skew,
        FaultProfile::Mixed,
    ];

    /// The profile's name, as in the report.
    pub fn name(self) -> &'static str {
        match self {
            FaultProfile::None => "none",
            FaultProfile::Partition => "partition",
            FaultProfile::CrashFsyncAlways => "crash-fsync-always",
            FaultProfile::CrashFsyncPeriodic => "crash-fsync-periodic",
            FaultProfile::Loss => "loss",
            FaultProfile::Skew => "skew",
            FaultProfile::Mixed => "mixed",
        }
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
    /// The fault profile.
    pub faults: FaultProfile,
    /// A PBS probe cell: random replica choice, writes sent to exactly W replicas, and the
    /// write-then-read workload, so the stale rate can be held against PBS's prediction.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pbs: bool,
}

impl CellSpec {
    /// A file-name-safe name, e.g. `rf3-r1-w2-rr-none-hints-on-partition`.
    pub fn slug(&self) -> String {
        format!(
            "rf{}-r{}-w{}-rr-{}-hints-{}-{}",
            self.rf,
            self.r,
            self.w,
            self.read_repair,
            if self.hints { "on" } else { "off" },
            self.faults.name()
        ) + if self.pbs { "-pbs" } else { "" }
    }

    /// The store configuration of this cell.
    pub fn store(&self) -> StoreConfig {
        StoreConfig {
            nodes: 5,
            rf: self.rf,
            read: ConsistencyLevel::Count(self.r),
            write: ConsistencyLevel::Count(self.w),
            read_repair: self.read_repair,
            hints: self.hints,
            fsync: self.faults.fsync(),
            replica_choice: if self.pbs {
                ReplicaChoice::Random
            } else {
                ReplicaChoice::Ordered
            },
            ..StoreConfig::default()
        }
    }

    /// The shape of this cell's scenarios: 4 clients, 60 ops over 3 keys, up to 3 faults.
    pub fn shape(&self) -> ScenarioShape {
        ScenarioShape {
            ops: 60,
            ..ScenarioShape::new(self.store(), &self.faults.faults())
        }
    }
}

impl CellSpec {
    /// The strategy this cell's scenarios come from.
    pub fn strategy(&self) -> BoxedStrategy<Scenario> {
        if self.pbs {
            write_then_read(&self.shape(), PBS_PAIRS).boxed()
        } else {
            scenario(&self.shape()).boxed()
        }
    }

    /// PBS's predicted chance that a read right after an acknowledged write misses it,
    /// C(RF-W, R) / C(RF, R), for a PBS probe cell.
    pub fn pbs_predicted(&self) -> Option<f64> {
        self.pbs
            .then(|| binomial(self.rf - self.w, self.r) / binomial(self.rf, self.r))
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

/// Every cell of a profile, in matrix order.
///
/// - full: RF in {1, 3, 5}, every (R, W) with 1 <= R, W <= RF, read repair none and blocking,
///   hints off and on, and every fault profile.
/// - quick: RF 3 with (R, W) in {(1,1), (1,2), (2,1), (2,2), (1,3), (3,1)}, read repair none
///   and blocking, hints on, and the fault profiles none, partition, crash-fsync-always,
///   crash-fsync-periodic and skew.
pub fn cells(profile: Profile) -> Vec<CellSpec> {
    let mut out = Vec::new();
    match profile {
        Profile::Full => {
            for rf in [1usize, 3, 5] {
                for r in 1..=rf {
                    for w in 1..=rf {
                        for read_repair in [ReadRepair::None, ReadRepair::Blocking] {
                            for hints in [false, true] {
                                for faults in FaultProfile::ALL {
                                    out.push(CellSpec {
                                        rf,
                                        r,
                                        w,
                                        read_repair,
                                        hints,
                                        faults,
                                        pbs: false,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        Profile::Quick => {
            for (r, w) in [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1)] {
                for read_repair in [ReadRepair::None, ReadRepair::Blocking] {
                    for faults in [
                        FaultProfile::None,
                        FaultProfile::Partition,
                        FaultProfile::CrashFsyncAlways,
                        FaultProfile::CrashFsyncPeriodic,
                        FaultProfile::Skew,
                    ] {
                        out.push(CellSpec {
                            rf: 3,
                            r,
                            w,
                            read_repair,
                            hints: true,
                            faults,
                            pbs: false,
                        });
                    }
                }
            }
        }
    }
    // PBS probe cells: every R + W <= RF pair of the profile's replication factors.
    let rfs: &[usize] = match profile {
        Profile::Quick => &[3],
        Profile::Full => &[3, 5],
    };
    for &rf in rfs {
        for r in 1..=rf {
            for w in 1..=rf - r {
                out.push(CellSpec {
                    rf,
                    r,
                    w,
                    read_repair: ReadRepair::None,
                    hints: false,
                    faults: FaultProfile::None,
                    pbs: true,
                });
            }
        }
    }
    out
}

/// How one guarantee fared in one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuaranteeCell {
    /// Seeds where it held.
    pub held: u32,
    /// Seeds where it was violated.
    pub violated: u32,
    /// Seeds where the checker could not decide.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown: u32,
    /// The first violating seed.
    pub first_seed: Option<u64>,
    /// The shrunk counterexample's path, relative to the repository root.
    pub example: Option<String>,
    /// Client ops in the shrunk counterexample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example_ops: Option<usize>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One cell's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The cell's position in its profile's order.
    pub index: usize,
    /// The configuration.
    #[serde(flatten)]
    pub spec: CellSpec,
    /// Seeds run.
    pub seeds: u32,
    /// Each guarantee, by name.
    pub guarantees: BTreeMap<String, GuaranteeCell>,
    /// Share of (non-final) ok reads that were stale, over all seeds.
    pub stale_rate: f64,
    /// Ok reads judged for the stale rate.
    pub reads: usize,
    /// Of those, stale.
    pub stale_reads: usize,
    /// The PBS prediction of the stale rate, where the model's assumptions hold.
    pub pbs_predicted: Option<f64>,
}

/// A whole matrix, or one shard of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixReport {
    /// The profile.
    pub profile: Profile,
    /// Seeds per cell.
    pub seeds: u32,
    /// `I/N` for a shard, absent for a whole matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The cells, in matrix order.
    pub cells: Vec<CellResult>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct MatrixOptions {
    /// The profile.
    pub profile: Profile,
    /// Seeds per cell.
    pub seeds: u32,
    /// `(I, N)`: run cells whose index is I-1 modulo N.
    pub shard: Option<(usize, usize)>,
    /// Where shrunk counterexamples go (`histories/matrix`).
    pub examples_dir: PathBuf,
    /// The path prefix under which examples are named in the report (`histories/matrix`).
    pub examples_prefix: String,
    /// Most shrink steps per counterexample.
    pub shrink_steps: u32,
    /// Worker threads (each runs whole cells).
    pub threads: usize,
}

/// Parses `I/N` with 1 <= I <= N.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("shard {s:?} is not of the form I/N"))?;
    let i: usize = i
        .trim()
        .parse()
        .map_err(|_| format!("shard {s:?}: I is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("shard {s:?}: N is not a number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {s:?}: need 1 <= I <= N"));
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

/// Runs the matrix (or a shard), calling `progress(done, total, cell)` after each cell.
pub fn run(
    options: &MatrixOptions,
    progress: &(dyn Fn(usize, usize, &CellResult) + Sync),
) -> Result<MatrixReport, String> {
    run_cells(&cells(options.profile), options, progress)
}

/// Runs the given cells (or the shard of them `options.shard` names); `profile` and `seeds`
/// of the report come from `options`.
pub fn run_cells(
    specs: &[CellSpec],
    options: &MatrixOptions,
    progress: &(dyn Fn(usize, usize, &CellResult) + Sync),
) -> Result<MatrixReport, String> {
    let indices = shard_indices(specs.len(), options.shard);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Result<CellResult, String>>> = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&index) = indices.get(k) else { break };
                let result = run_cell(index, &specs[index], options);
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                if let Ok(cell) = &result {
                    progress(n, indices.len(), cell);
                }
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(result);
            });
        }
    });
    let mut cells = Vec::new();
    for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        cells.push(r?);
    }
    cells.sort_by_key(|c| c.index);
    Ok(MatrixReport {
        profile: options.profile,
        seeds: options.seeds,
        shard: options.shard.map(|(i, n)| format!("{i}/{n}")),
        cells,
    })
}

/// Runs one cell: every seed, then a shrunk counterexample for each guarantee broken.
pub fn run_cell(
    index: usize,
    spec: &CellSpec,
    options: &MatrixOptions,
) -> Result<CellResult, String> {
    let strategy = spec.strategy();
    let mut guarantees: BTreeMap<Guarantee, GuaranteeCell> = Guarantee::ALL
        .iter()
        .map(|g| {
            (
                *g,
                GuaranteeCell {
                    held: 0,
                    violated: 0,
                    unknown: 0,
                    first_seed: None,
                    example: None,
                    example_ops: None,
                },
            )
        })
        .collect();
    let (mut reads, mut stale_reads) = (0usize, 0usize);
    for seed in 1..=options.seeds as u64 {
        let scenario = generate_with(&strategy, seed);
        let case = Case::run(&scenario, &Guarantee::ALL)
            .map_err(|e| format!("cell {} seed {seed}: {e}", spec.slug()))?;
        for (g, finding) in &case.judgement.findings {
            let cell = guarantees.get_mut(g).expect("every guarantee has a cell");
            match finding.held {
                Some(true) => cell.held += 1,
                Some(false) => {
                    cell.violated += 1;
                    cell.first_seed.get_or_insert(seed);
                }
                None => cell.unknown += 1,
            }
        }
        if let Ok(s) = stale::staleness(&case.history) {
            reads += s.reads;
            stale_reads += s.stale;
        }
    }
    // One shrunk counterexample per distinct first violating seed, which must keep breaking
    // every guarantee that seed was the first to break: usually one shrink per cell.
    let mut by_seed: BTreeMap<u64, Vec<Guarantee>> = BTreeMap::new();
    for (g, cell) in &guarantees {
        if let Some(seed) = cell.first_seed {
            by_seed.entry(seed).or_default().push(*g);
        }
    }
    for (seed, broken) in by_seed {
        let (shrunk, _) = shrink_with(&strategy, seed, options.shrink_steps, |s| {
            crate::runner::run(s)
                .map(|out| judge(&out.history, &broken).violated() == broken)
                .unwrap_or(false)
        });
        let case = Case::run(&shrunk, &broken).map_err(|e| {
            format!(
                "cell {} seed {seed}: rerunning the shrunk case: {e}",
                spec.slug()
            )
        })?;
        let name = format!("{}-s{seed}.json", spec.slug());
        case.save(&options.examples_dir.join(&name))
            .map_err(|e| format!("{e:#}"))?;
        for g in &broken {
            let cell = guarantees.get_mut(g).expect("every guarantee has a cell");
            cell.example = Some(format!("{}/{name}", options.examples_prefix));
            cell.example_ops = Some(shrunk.op_count());
        }
    }
    Ok(CellResult {
        index,
        spec: spec.clone(),
        seeds: options.seeds,
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
        pbs_predicted: spec.pbs_predicted(),
    })
}

/// Joins shards into the whole matrix; every cell of the profile must appear exactly once.
pub fn merge(shards: Vec<MatrixReport>) -> Result<MatrixReport, String> {
    let first = shards.first().ok_or("no shard to merge")?;
    let (profile, seeds) = (first.profile, first.seeds);
    let mut found: BTreeMap<usize, CellResult> = BTreeMap::new();
    for s in &shards {
        if s.profile != profile || s.seeds != seeds {
            return Err(format!(
                "shard {} is profile {} with {} seeds, but the first is profile {} with {seeds}",
                s.shard.as_deref().unwrap_or("(whole)"),
                s.profile.name(),
                s.seeds,
                profile.name()
            ));
        }
        for c in &s.cells {
            if found.insert(c.index, c.clone()).is_some() {
                return Err(format!(
                    "cell {} ({}) appears in two shards",
                    c.index,
                    c.spec.slug()
                ));
            }
        }
    }
    let specs = cells(profile);
    for (i, spec) in specs.iter().enumerate() {
        match found.get(&i) {
            None => return Err(format!("cell {i} ({}) is in no shard", spec.slug())),
            Some(c) if &c.spec != spec => {
                return Err(format!(
                    "cell {i} is {} in a shard but {} in this version",
                    c.spec.slug(),
                    spec.slug()
                ))
            }
            _ => {}
        }
    }
    if found.len() != specs.len() {
        return Err(format!(
            "shards hold {} cells, the profile has {}",
            found.len(),
            specs.len()
        ));
    }
    Ok(MatrixReport {
        profile,
        seeds,
        shard: None,
        cells: found.into_values().collect(),
    })
}

impl MatrixReport {
    /// The JSON form (pretty, deterministic).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("reports serialize");
        s.push('\n');
        s
    }

    /// The Markdown table, grouped by R + W > RF and R + W <= RF. `link_prefix` is prepended to
    /// example paths (the way from the Markdown file's directory to the repository root).
    pub fn to_markdown(&self, link_prefix: &str) -> String {
        let mut out = String::new();
        out.push_str("# Consistency matrix\n\n");
        out.push_str(&format!(
            "Profile `{}`, {} seeds per cell, 5 nodes, 4 clients, 60 ops over 3 keys, up to 3 \
             faults per scenario. Regenerate with `cargo run --release -- matrix --profile {}`.\n\n",
            self.profile.name(),
            self.seeds,
            self.profile.name()
        ));
        out.push_str(
            "Each entry: `held/seeds` when the guarantee held in every seed, otherwise \
             `✗ violated/seeds` with the first violating seed and a link to its shrunk, \
             replayable counterexample (`quorumlab replay FILE`). Columns: lin = linearizable, \
             stale = no stale reads, ryw = read your writes, mr = monotonic reads, mw = monotonic \
             writes, wfr = writes follow reads, conv = convergence; stale% = share of reads that \
             were stale.\n\n",
        );
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
            out.push_str("| RF | R | W | read repair | hints | faults | lin | stale | ryw | mr | mw | wfr | conv | stale% | PBS% |\n");
            out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for c in rows {
                let mut line = format!(
                    "| {} | {} | {} | {} | {} | {}{} |",
                    c.spec.rf,
                    c.spec.r,
                    c.spec.w,
                    c.spec.read_repair,
                    if c.spec.hints { "on" } else { "off" },
                    c.spec.faults.name(),
                    if c.spec.pbs { " (PBS probe)" } else { "" }
                );
                for g in Guarantee::ALL {
                    let gc = &c.guarantees[g.name()];
                    let entry = if gc.violated == 0 && gc.unknown == 0 {
                        format!("{}/{}", gc.held, c.seeds)
                    } else if gc.violated == 0 {
                        format!("? {} unknown", gc.unknown)
                    } else {
                        let seed = gc.first_seed.map(|s| format!(" s{s}")).unwrap_or_default();
                        match &gc.example {
                            Some(p) => format!(
                                "✗ {}/{} [{seed}]({link_prefix}{p})",
                                gc.violated,
                                c.seeds,
                                seed = seed.trim()
                            ),
                            None => format!("✗ {}/{}{seed}", gc.violated, c.seeds),
                        }
                    };
                    line.push_str(&format!(" {entry} |"));
                }
                line.push_str(&format!(" {:.1} |", c.stale_rate * 100.0));
                match c.pbs_predicted {
                    Some(p) => line.push_str(&format!(" {:.1} |", p * 100.0)),
                    None => line.push_str(" – |"),
                }
                out.push_str(&line);
                out.push('\n');
            }
            out.push('\n');
        }
        let probes: Vec<&CellResult> = self.cells.iter().filter(|c| c.spec.pbs).collect();
        if !probes.is_empty() {
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
            for c in probes {
                let p = c.pbs_predicted.unwrap_or(0.0);
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

/// Writes the report: `consistency-matrix.json` and `consistency-matrix.md` in `dir` for a whole
/// matrix, `consistency-matrix.shard-I-of-N.json` for a shard. Returns the paths written.
pub fn write(
    report: &MatrixReport,
    dir: &Path,
    link_prefix: &str,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    match &report.shard {
        Some(shard) => {
            let path = dir.join(format!(
                "consistency-matrix.shard-{}.json",
                shard.replace('/', "-of-")
            ));
            std::fs::write(&path, report.to_json())?;
            Ok(vec![path])
        }
        None => {
            let json = dir.join("consistency-matrix.json");
            let md = dir.join("consistency-matrix.md");
            std::fs::write(&json, report.to_json())?;
            std::fs::write(&md, report.to_markdown(link_prefix))?;
            Ok(vec![md, json])
        }
    }
}
