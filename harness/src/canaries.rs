//! Canaries: planted store bugs, each modelled on a real class of bug in replicated stores, and
//! the proof that the harness finds them.
//!
//! For each [`Bug`] the catalog names a configuration in which the guarantee the bug breaks is
//! claimed (the same configuration without the bug keeps it), the fault profile that can
//! trigger it, and the real failure it mimics. [`search`] explores that configuration with the
//! bug planted, as `quorumlab explore` would, and measures how fast a violation is found and how
//! small it shrinks; [`clean`] explores it with no bug planted and must find nothing.
//! [`table`] runs both over many seeds, as `quorumlab canaries` does, and renders
//! docs/canaries.md.
use std::cell::Cell;
use std::time::{Duration, Instant};

use strum::VariantArray;

use crate::systems::leaderless::{
    Bug, ConsistencyLevel, FsyncPolicy, ReadRepair, ReplicaChoice, StoreConfig,
};
use quorumlab::check::Guarantee;

use crate::case::Case;
use crate::explore::{explore, ExploreOptions, Outcome, Progress};
use crate::runner::RunError;
use crate::scenario::{NetworkConfig, SlowWrite, SystemConfig};
use crate::strategy::{FaultChoice, ScenarioShape};

pub mod table;

/// One planted bug and where it is looked for.
#[derive(Clone, Debug)]
pub struct Canary {
    /// The bug.
    pub bug: Bug,
    /// The real failure it mimics.
    pub mimics: &'static str,
    /// Why this configuration claims the guarantee, and how the faults trigger the bug.
    pub why: &'static str,
    /// The guarantees claimed (and judged).
    pub expect: Vec<Guarantee>,
    /// The configuration and workload, without the bug.
    pub shape: ScenarioShape,
}

impl Canary {
    /// The reference store's configuration the bug is planted in (without the bug).
    pub fn store(&self) -> &StoreConfig {
        match &self.shape.system {
            SystemConfig::Leaderless(store) => store,
            // Every canary is built by `catalog` over the reference store: its bugs are
            // planted there.
            SystemConfig::Named(spec) => unreachable!("canary over system {}", spec.name),
        }
    }

    /// The shape with the bug planted.
    pub fn planted(&self) -> ScenarioShape {
        let mut shape = self.shape.clone();
        if let Some(store) = shape.system.store_mut() {
            store.bugs.insert(self.bug);
        }
        shape
    }

    /// A short description of the configuration, e.g. `rf3 r=quorum w=quorum rr=blocking
    /// fsync=always; faults partition+isolate`.
    pub fn config_summary(&self) -> String {
        let s = self.store();
        let faults = self.fault_names("+");
        format!(
            "{} nodes, RF {}, R {}, W {}, read repair {}, hints {}, fsync {}; faults: {faults}; \
             {} clients, {} ops over {} key{}, {} ms think time, {} ms latency",
            s.nodes,
            s.rf,
            s.read,
            s.write,
            s.read_repair,
            if s.hints { "on" } else { "off" },
            s.fsync,
            self.shape.clients,
            self.shape.ops,
            self.shape.keys,
            if self.shape.keys == 1 { "" } else { "s" },
            self.shape.think_ms,
            latency(&self.shape),
        )
    }

    /// The fault kinds drawn from, joined by `sep`, or `none`.
    fn fault_names(&self, sep: &str) -> String {
        if self.shape.faults.is_empty() {
            return "none".to_string();
        }
        let names: Vec<_> = self.shape.faults.iter().map(|f| f.name()).collect();
        names.join(sep)
    }

    /// The `quorumlab explore` command that searches this canary by hand.
    pub fn explore_command(&self, seed: u64) -> String {
        let s = self.store();
        let faults = self.fault_names(",");
        let expect: Vec<_> = self.expect.iter().map(|g| g.name()).collect();
        format!(
            "quorumlab explore --bug {} --expect {} --nodes {} --rf {} --read {} --write {} \
             --read-repair {} --hints {} --fsync {} --faults {faults} --max-faults {} \
             --clients {} --ops {} --keys {} --think-ms {} --latency {} --seed {seed}",
            self.bug,
            expect.join(","),
            s.nodes,
            s.rf,
            s.read,
            s.write,
            s.read_repair,
            if s.hints { "on" } else { "off" },
            match s.fsync {
                FsyncPolicy::Always => "always",
                FsyncPolicy::Never => "never",
                FsyncPolicy::Periodic { .. } => "periodic",
            },
            self.shape.max_faults,
            self.shape.clients,
            self.shape.ops,
            self.shape.keys,
            self.shape.think_ms,
            latency(&self.shape),
        ) + &self.optional_flags()
    }

    /// The flags of the settings a canary changes from `explore`'s defaults, each with a
    /// leading space.
    fn optional_flags(&self) -> String {
        let mut out = String::new();
        if let Some((lo, hi)) = self.shape.fault_window_ms {
            out += &format!(" --fault-ms {lo}-{hi}");
        }
        if self.shape.settle_ms != ScenarioShape::new(StoreConfig::default(), &[]).settle_ms {
            out += &format!(" --settle-ms {}", self.shape.settle_ms);
        }
        for w in &self.shape.network.slow_writes {
            out += &format!(" --slow-writes {}:{}", w.node, w.extra_ms);
        }
        if self.shape.network.tail_percent > 0 {
            out += &format!(
                " --tail {}:{}",
                self.shape.network.tail_percent, self.shape.network.tail_ms
            );
        }
        if self.store().replica_choice != StoreConfig::default().replica_choice {
            out += &format!(" --replica-choice {}", self.store().replica_choice.name());
        }
        out
    }
}

/// The network latency as `--latency` takes it: `1` (fixed) or `1-5` (a range).
fn latency(shape: &ScenarioShape) -> String {
    let n = &shape.network;
    if n.min_latency_ms == n.max_latency_ms {
        n.min_latency_ms.to_string()
    } else {
        format!("{}-{}", n.min_latency_ms, n.max_latency_ms)
    }
}

/// RF 3 at quorum reads and writes, blocking read repair, fsync always: linearizable for plain
/// reads and writes under partitions, crashes, loss and pauses.
fn quorum_store() -> StoreConfig {
    StoreConfig {
        nodes: 5,
        rf: 3,
        read: ConsistencyLevel::Quorum,
        write: ConsistencyLevel::Quorum,
        read_repair: ReadRepair::Blocking,
        fsync: FsyncPolicy::Always,
        ..StoreConfig::default()
    }
}

/// One copy of each key (RF 1, R = W = 1) with fsync always: a single durable replica, so
/// linearizable under crashes.
fn single_copy_store() -> StoreConfig {
    StoreConfig {
        nodes: 3,
        rf: 1,
        read: ConsistencyLevel::One,
        write: ConsistencyLevel::One,
        read_repair: ReadRepair::Blocking,
        fsync: FsyncPolicy::Always,
        ..StoreConfig::default()
    }
}

fn shape(store: StoreConfig, faults: &[FaultChoice]) -> ScenarioShape {
    ScenarioShape {
        ops: 24,
        ..ScenarioShape::new(store, faults)
    }
}

const PARTITIONS: &[FaultChoice] = &[
    FaultChoice::Partition,
    FaultChoice::Isolate,
    FaultChoice::Ring,
    FaultChoice::Bridge,
];

/// The catalog: every planted bug, in the store's catalog order ([`Bug::VARIANTS`]).
pub fn catalog() -> Vec<Canary> {
    use Guarantee::*;
    Bug::VARIANTS
        .iter()
        .copied()
        .map(|bug| match bug {
            Bug::AckEarly => Canary {
                bug,
                mimics: "an off-by-one in the coordinator's ack counter (counting from one, or \
                         counting its own local write twice), so a write is acknowledged before \
                         a quorum holds it",
                why: "R + W > RF makes every read quorum meet every write quorum; a partition \
                      leaves the early-acked write on a minority that the next read misses",
                expect: vec![Linearizable],
                shape: shape(quorum_store(), PARTITIONS),
            },
            Bug::ReadFirstResponse => Canary {
                bug,
                mimics: "a read path that returns the fastest replica's answer (a digest-read \
                         shortcut gone wrong) instead of reconciling the R responses",
                why: "quorum reads are linearizable only if the newest of the R cells wins; a \
                      partition leaves a replica behind whose answer comes first",
                expect: vec![Linearizable],
                shape: shape(quorum_store(), PARTITIONS),
            },
            Bug::RepairFreshTimestamp => Canary {
                bug,
                mimics: "read repair that re-issues the value as a new mutation stamped now \
                         (as a naive client-side repair does) instead of copying the cell",
                why: "blocking read repair keeps quorum reads linearizable only when it \
                      copies cells as they are; with replicas left behind by partitions and \
                      loss, a fresh timestamp lets a repaired old value overwrite a newer write",
                expect: vec![Linearizable],
                shape: ScenarioShape {
                    clients: 6,
                    ops: 24,
                    keys: 1,
                    // A fixed latency keeps the other messages' timing when shrinking removes an
                    // op, so this timing-sensitive bug shrinks to a few ops.
                    network: NetworkConfig::latency(1, 1),
                    ..shape(quorum_store(), &[FaultChoice::Partition, FaultChoice::Loss])
                },
            },
            Bug::RingOffByOne => Canary {
                bug,
                mimics: "a vnode replica walk that does not skip tokens of an already chosen \
                         host (Riak and Cassandra preference lists with two vnodes of one \
                         machine), so a key has fewer distinct replicas than RF",
                why: "with no faults every write reaches all RF replicas and the final reads \
                      at ALL repair the rest, so every replica of a key converges; a replica \
                      the walk skipped never receives the key",
                expect: vec![Linearizable, Convergence],
                shape: shape(quorum_store(), &[]),
            },
            Bug::TombstoneLostOnReplay => Canary {
                bug,
                mimics: "commit log replay that drops delete records (a replay filter or a \
                         record type the reader skips), resurrecting deleted data after a \
                         restart",
                why: "a single copy synced before every ack is linearizable under crashes; a \
                      delete then a crash of the key's node brings the deleted value back",
                expect: vec![Linearizable],
                shape: ScenarioShape {
                    get_percent: 40,
                    put_percent: 30,
                    ..shape(single_copy_store(), &[FaultChoice::Crash])
                },
            },
            Bug::AckBeforeSync => Canary {
                bug,
                mimics: "group commit that acknowledges before the batch's fsync completes, \
                         so fsync=always is not what it says",
                why: "a single copy synced before every ack loses no acknowledged write in a \
                      crash; with the sync put off, a crash loses acked writes",
                expect: vec![Linearizable],
                shape: shape(single_copy_store(), &[FaultChoice::Crash]),
            },
            Bug::HintNewTimestamp => Canary {
                bug,
                mimics: "hinted handoff that replays a stored mutation as a new write stamped \
                         at replay time, so an old value overwrites everything written \
                         meanwhile",
                why: "quorum reads and writes stay linearizable under partitions with hints \
                      on, because a replayed hint keeps its original timestamp and loses to \
                      newer writes",
                expect: vec![Linearizable],
                shape: shape(quorum_store(), PARTITIONS),
            },
            Bug::LwwTieByArrival => Canary {
                bug,
                mimics: "last-write-wins that breaks timestamp ties by arrival order instead \
                         of a deterministic tiebreak (Cassandra's tie on equal timestamps), so \
                         replicas pick different winners",
                why: "without faults, quorum reads and writes are linearizable when every \
                      replica orders equal timestamps the same way; concurrent writes in one \
                      millisecond tie and arrive in different orders",
                expect: vec![Linearizable],
                shape: ScenarioShape {
                    clients: 6,
                    ops: 24,
                    keys: 1,
                    think_ms: 3,
                    // Requests reach their coordinators in the same tick (a fixed client
                    // latency), so concurrent writes tie on their timestamps, while links
                    // between nodes vary, so replicas see the tied writes in different orders.
                    network: NetworkConfig {
                        client_latency_ms: Some((1, 1)),
                        ..NetworkConfig::latency(1, 2)
                    },
                    ..shape(quorum_store(), &[])
                },
            },
            Bug::UnavailableIgnored => Canary {
                bug,
                mimics: "a coordinator that skips the availability check and maps a write \
                         timeout to success, so clients believe writes no quorum holds",
                why: "at quorum a write that is acknowledged is on W replicas; a partition \
                      makes writes time out, and the bug reports them as successes",
                expect: vec![Linearizable],
                shape: shape(quorum_store(), PARTITIONS),
            },
            Bug::ClockResetOnRestart => Canary {
                bug,
                mimics: "a node whose timestamp source restarts from zero (or from a stale \
                         persisted value) after a reboot, so its writes lose to older ones \
                         under last-write-wins",
                why: "quorum reads and writes with fsync always are linearizable under \
                      crashes because a restarted node's timestamps keep increasing; after a \
                      crash, its new writes carry timestamps behind acknowledged ones",
                expect: vec![Linearizable],
                shape: shape(quorum_store(), &[FaultChoice::Crash]),
            },
            Bug::HintWrongTarget => Canary {
                bug,
                mimics: "hinted handoff that addresses a stored hint by a ring position gone \
                         stale (or an off-by-one in the hint store's host index), so the replay \
                         reaches the wrong node and the replica that missed the write never \
                         gets it",
                why: "with hints on and no crashes, every replica of a key converges after a \
                      partition heals: the writes it missed wait as hints and are replayed \
                      when it is seen up again; partitions longer than the failure timeout \
                      leave writes that only a hint can deliver",
                expect: vec![Convergence],
                shape: down_path(quorum_store(), PARTITIONS),
            },
            Bug::HintsCountAsAcks => Canary {
                bug,
                mimics: "a coordinator that counts a hint stored for a down replica toward the \
                         consistency level (the rule of Cassandra's ANY, or a sloppy quorum \
                         without a stand-in replica, applied at every level)",
                why: "at quorum a write is acknowledged only once W replicas hold it, whatever \
                      the failure detector says; once a partition outlasts the failure \
                      timeout, the bug acknowledges writes that only one replica holds",
                expect: vec![Linearizable],
                shape: down_path(quorum_store(), PARTITIONS),
            },
            Bug::PartialReadRepair => Canary {
                bug,
                mimics: "a read repair loop that stops after its first target (a `break` left \
                         in, or repairs collected in a map keyed by the key, not the replica)",
                why: "at RF 5 with quorum reads and writes and blocking repair, a read that \
                      saw a write on one replica must leave it on the three it asked, so \
                      that every later read of three meets it; with every replica slow to \
                      take writes, a write sits on its coordinator alone long enough for a \
                      read to see it and, repaired onto only one more, for a later read to \
                      miss both",
                expect: vec![Linearizable],
                shape: ScenarioShape {
                    clients: 6,
                    ops: 48,
                    keys: 1,
                    think_ms: 3,
                    network: NetworkConfig {
                        slow_writes: (0..5)
                            .map(|node| SlowWrite {
                                node,
                                extra_ms: 20 + 20 * u64::from(node),
                            })
                            .collect(),
                        ..NetworkConfig::latency(1, 5)
                    },
                    ..shape(
                        StoreConfig {
                            rf: 5,
                            replica_choice: ReplicaChoice::Shuffled,
                            ..quorum_store()
                        },
                        &[],
                    )
                },
            },
        })
        .collect()
}

/// Partitions that outlast the failure detector: faults of 1.5 to 3 times its timeout over a
/// 2 s workload, so replicas are marked down, writes answer Unavailable or store hints, and
/// hints are replayed when the partition heals.
fn down_path(store: StoreConfig, faults: &[FaultChoice]) -> ScenarioShape {
    let timeout = store.failure_timeout.as_millis() as u64;
    ScenarioShape {
        clients: 4,
        ops: 32,
        keys: 2,
        think_ms: 250,
        max_faults: 2,
        fault_window_ms: Some((timeout * 3 / 2, timeout * 3)),
        ..shape(store, faults)
    }
}

/// The canary of one bug.
pub fn canary(bug: Bug) -> Canary {
    catalog()
        .into_iter()
        .find(|c| c.bug == bug)
        .expect("every bug has a canary")
}

/// The size of a scenario: what shrinking reduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Client ops.
    pub ops: usize,
    /// Faults.
    pub faults: usize,
    /// Nodes.
    pub nodes: usize,
}

impl Size {
    fn of(s: &crate::scenario::Scenario) -> Size {
        Size {
            ops: s.op_count(),
            faults: s.faults.len(),
            nodes: s.system.nodes(),
        }
    }
}

/// One search for a planted bug.
#[derive(Debug)]
pub enum Search {
    /// Not found within the case budget.
    Missed {
        /// Cases run.
        cases: u32,
        /// Wall time.
        wall: Duration,
    },
    /// Found and shrunk.
    Found(Box<Found>),
}

/// A planted bug found.
#[derive(Debug)]
pub struct Found {
    /// Cases run up to and including the first failing one.
    pub cases: u32,
    /// Wall time to the first failing case.
    pub to_detection: Duration,
    /// Wall time spent shrinking.
    pub shrinking: Duration,
    /// Shrink steps.
    pub shrink_steps: u32,
    /// The scenario as first found.
    pub original: Size,
    /// The shrunk scenario.
    pub shrunk: Size,
    /// The guarantee broken in the shrunk case.
    pub broken: Guarantee,
    /// The witness sentence of the shrunk case.
    pub witness: String,
    /// The shrunk case.
    pub case: Box<Case>,
}

struct Timer {
    start: Instant,
    detected: Cell<Option<Duration>>,
}

impl Progress for Timer {
    fn shrinking(&self, _n: u32) {
        if self.detected.get().is_none() {
            self.detected.set(Some(self.start.elapsed()));
        }
    }
}

/// Explores a canary's configuration with its bug planted, with search seed `seed`, for at
/// most `cases` cases and `max_shrink_iters` shrink steps.
pub fn search(
    canary: &Canary,
    seed: u64,
    cases: u32,
    max_shrink_iters: u32,
) -> Result<Search, RunError> {
    let options = ExploreOptions {
        workload: Default::default(),
        shape: canary.planted(),
        expect: canary.expect.clone(),
        cases,
        seed,
        max_shrink_iters,
    };
    let timer = Timer {
        start: Instant::now(),
        detected: Cell::new(None),
    };
    let outcome = explore(&options, &timer)?;
    let wall = timer.start.elapsed();
    Ok(match outcome {
        Outcome::Held { cases } => Search::Missed { cases, wall },
        Outcome::Found {
            cases_to_failure,
            shrink_steps,
            case,
            original,
        } => {
            let to_detection = timer.detected.get().unwrap_or(wall);
            let violated = case.judgement.violated();
            let broken = violated.first().copied().unwrap_or(canary.expect[0]);
            let witness = case
                .judgement
                .findings
                .get(&broken)
                .and_then(|f| f.sentence.clone())
                .unwrap_or_else(|| "(the shrunk case did not fail again on rerun)".into());
            Search::Found(Box::new(Found {
                cases: cases_to_failure,
                to_detection,
                shrinking: wall.saturating_sub(to_detection),
                shrink_steps,
                original: Size::of(&original),
                shrunk: Size::of(&case.scenario),
                broken,
                witness,
                case,
            }))
        }
    })
}

/// Explores a canary's configuration with no bug planted: `Ok(cases)` when every case kept the
/// claimed guarantees, `Err` with the shrunk case when one did not (a false alarm).
pub fn clean(canary: &Canary, seed: u64, cases: u32) -> Result<Result<u32, Box<Case>>, RunError> {
    let options = ExploreOptions {
        workload: Default::default(),
        shape: canary.shape.clone(),
        expect: canary.expect.clone(),
        cases,
        seed,
        max_shrink_iters: 200,
    };
    Ok(match explore(&options, &crate::explore::Quiet)? {
        Outcome::Held { cases } => Ok(cases),
        Outcome::Found { case, .. } => Err(case),
    })
}
