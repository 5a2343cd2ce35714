//! What the theory of strict-quorum, last-write-wins stores predicts for each matrix cell.
//!
//! Written from how such a store works, not from what any run showed: the matrix prints each
//! prediction beside the evidence, and `ci/check-matrix` fails when a predicted break is not
//! found (the search got weaker) or a predicted hold breaks (a store bug, or a wrong
//! prediction). docs/consistency.md explains every rule.
//!
//! The facts the rules rest on, for the reference store with every node's clock at simulated
//! time (no skew):
//! - a write is stamped by its coordinator's clock and goes to every replica (`ordered`,
//!   `shuffled` and `snitch` replica choices), answered once W have applied it; a write that
//!   was not answered ok may still reach any subset of replicas at any later time;
//! - a read asks R replicas and returns the cell with the highest (timestamp, writer);
//!   blocking read repair writes that cell to the replicas it asked that were behind and
//!   answers only once they acknowledged, async repair does not wait, none does nothing;
//! - the search rotates the replicas a read asks (shuffled replica choice) and slows links,
//!   so every read set of size R and every arrival order of a write's messages is reachable.
//!
//! From these: a completed write and a later read meet on a replica exactly when R + W > RF.
//! A read can see a write still in flight and a later read miss it ("inversion") unless the
//! first read left the write on enough replicas that every later read set meets them: with
//! blocking repair that set has R members, so this needs 2R > RF; without a waited-for repair
//! only R = RF (every read asks every replica) prevents it.
use crate::systems::leaderless::ReadRepair;
use quorumlab::check::Guarantee;
use serde::Serialize;

use crate::matrix::{CellSpec, FaultProfile};

/// How theory says a guarantee breaks: what a scenario must make happen for the break to show.
/// The matrix's search aims part of each cell's scenarios at the mechanisms of the guarantees
/// not yet broken (see [`Workload::aims_at`](crate::workload::Workload::aims_at)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// R + W <= RF: a read's replicas miss every replica a completed write reached.
    NotStrict,
    /// A replica forgets an acknowledged write in a crash before the periodic sync.
    Amnesia,
    /// Every replica that holds an acknowledged write forgets it before its sync (a power
    /// failure, or the write's only holder crashing), so the key settles on an earlier write.
    WriteLost,
    /// A skewed clock stamps a later write below an earlier one.
    Reorder,
    /// A read sees a write still in flight and a later read misses it.
    Inversion,
    /// A write reaches some replicas and never the others.
    Divergence,
    /// A leader change: a new leader lacks writes the old one acknowledged, or a deposed
    /// leader that has not heard of its successor still answers.
    Failover,
    /// A follower answers a read before a write its leader acknowledged reached it.
    FollowerLag,
}

/// What theory says of one guarantee in one cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// Why, in one line.
    pub reason: String,
    /// How some run of this configuration can break the guarantee; `None` where it holds.
    pub mechanism: Option<Mechanism>,
}

impl Prediction {
    fn breaks(mechanism: Mechanism, reason: impl Into<String>) -> Self {
        Prediction {
            reason: reason.into(),
            mechanism: Some(mechanism),
        }
    }

    fn holds(reason: impl Into<String>) -> Self {
        Prediction {
            reason: reason.into(),
            mechanism: None,
        }
    }

    /// Whether some run of this configuration can break the guarantee.
    pub fn can_break(&self) -> bool {
        self.mechanism.is_some()
    }

    /// "breaks" or "holds".
    pub fn word(&self) -> &'static str {
        if self.can_break() {
            "breaks"
        } else {
            "holds"
        }
    }
}

/// The mechanisms a cell's faults and settings allow.
struct Mechanisms {
    /// R + W > RF: a completed write and any later read meet on a replica.
    strict: bool,
    /// A read can see a write that a later read misses, with no fault at all.
    inversion: bool,
    /// An acknowledged write can vanish from every replica (crash before the periodic sync).
    amnesia: bool,
    /// Timestamps can disagree with real time (a skewed coordinator clock).
    reorder: bool,
    /// A write can reach some replicas and never the others, with nothing left to repair it.
    divergence: Option<&'static str>,
}

fn mechanisms(cell: &CellSpec) -> Mechanisms {
    let (rf, r, w) = (cell.rf, cell.r, cell.w);
    let inversion = match cell.read_repair {
        ReadRepair::Blocking => 2 * r <= rf,
        ReadRepair::None | ReadRepair::Async => r < rf,
    };
    let faults = cell.faults;
    let crashes = matches!(
        faults,
        FaultProfile::CrashFsyncAlways | FaultProfile::CrashFsyncPeriodic | FaultProfile::Mixed
    );
    let loses_messages = crashes || matches!(faults, FaultProfile::Partition | FaultProfile::Loss);
    // A key with one replica has no other replica to disagree with.
    let divergence = if cell.anti_entropy || rf < 2 {
        None
    } else if crashes {
        Some("a coordinator that crashes mid-write loses the write's pending sends and hints")
    } else if loses_messages && !cell.hints {
        Some("a lost write message is never resent without hints")
    } else {
        None
    };
    Mechanisms {
        strict: r + w > rf,
        inversion,
        amnesia: matches!(
            faults,
            FaultProfile::CrashFsyncPeriodic | FaultProfile::Mixed
        ),
        reorder: faults == FaultProfile::Skew,
        divergence,
    }
}

const NOT_STRICT: &str = "R + W <= RF: a read can miss a completed write";
const AMNESIA: &str = "a crash before the periodic sync can lose an acknowledged write";
const REORDER: &str = "a skewed clock can stamp a later write below an earlier one";

/// The prediction for `guarantee` in `cell` (not for PBS probe cells, whose workload is fixed).
pub fn predict(cell: &CellSpec, guarantee: Guarantee) -> Prediction {
    let m = mechanisms(cell);
    let inversion = || match cell.read_repair {
        ReadRepair::Blocking => format!(
            "2R <= RF: a read repairs only the R replicas it asked, a later read can miss all {}",
            cell.r
        ),
        _ => "R < RF without a waited-for repair: a read can see a write in flight and a later \
              read miss it"
            .to_string(),
    };
    match guarantee {
        Guarantee::Linearizable => {
            if !m.strict {
                Prediction::breaks(Mechanism::NotStrict, NOT_STRICT)
            } else if m.amnesia {
                Prediction::breaks(Mechanism::Amnesia, AMNESIA)
            } else if m.reorder {
                Prediction::breaks(Mechanism::Reorder, REORDER)
            } else if m.inversion {
                Prediction::breaks(Mechanism::Inversion, inversion())
            } else if cell.read_repair == ReadRepair::Blocking {
                Prediction::holds("R + W > RF, 2R > RF, blocking repair: every read meets the latest write and leaves it on a read quorum")
            } else {
                Prediction::holds("R = RF: every read sees every replica, whose cells only grow")
            }
        }
        Guarantee::NoStaleReads | Guarantee::ReadYourWrites => {
            if !m.strict {
                Prediction::breaks(Mechanism::NotStrict, NOT_STRICT)
            } else if m.amnesia {
                Prediction::breaks(Mechanism::Amnesia, AMNESIA)
            } else if m.reorder {
                Prediction::breaks(Mechanism::Reorder, REORDER)
            } else {
                Prediction::holds(
                    "R + W > RF: a completed write and any later read meet on a replica",
                )
            }
        }
        Guarantee::MonotonicReads => {
            if m.inversion {
                Prediction::breaks(Mechanism::Inversion, inversion())
            } else if m.amnesia {
                Prediction::breaks(Mechanism::Amnesia, AMNESIA)
            } else if m.reorder {
                Prediction::breaks(
                    Mechanism::Reorder,
                    "a read's replicas answer at different times: one before a high-stamped \
                     earlier write reached it, one after a low-stamped later write did",
                )
            } else {
                Prediction::holds("a read leaves what it saw where every later read meets it")
            }
        }
        Guarantee::MonotonicWrites | Guarantee::WritesFollowReads => {
            if m.reorder {
                Prediction::breaks(Mechanism::Reorder, REORDER)
            } else if m.amnesia {
                Prediction::breaks(
                    Mechanism::WriteLost,
                    "a crash can lose the later write from every replica that holds it and keep \
                     the earlier one",
                )
            } else {
                Prediction::holds(
                    "clocks follow real time, so a later write gets a higher timestamp",
                )
            }
        }
        Guarantee::Convergence => {
            if m.amnesia {
                Prediction::breaks(Mechanism::Amnesia, AMNESIA)
            } else if m.reorder {
                Prediction::breaks(
                    Mechanism::Reorder,
                    "a skewed clock lets an earlier write win over an acknowledged later one",
                )
            } else if let Some(why) = m.divergence {
                Prediction::breaks(Mechanism::Divergence, why)
            } else if cell.anti_entropy {
                Prediction::holds("anti-entropy compares and repairs replicas after the heal")
            } else if cell.hints {
                Prediction::holds("every write reaches every replica or is hinted and replayed")
            } else {
                Prediction::holds("no message is lost, so every write reaches every replica")
            }
        }
    }
}

/// A leader-follower cell's setting, as theory reads it (docs/leader-follower.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderFollower {
    /// Replicas per partition.
    pub rf: usize,
    /// Followers a write waits for before it is acknowledged; 0 for asynchronous replication.
    pub sync_followers: usize,
    /// Whether reads may be answered by a follower.
    pub follower_reads: bool,
    /// Whether terms fence a deposed leader (followers refuse it, its reads are confirmed by a
    /// majority of the current term).
    pub fencing: bool,
    /// The fault profile (logs are synced before every acknowledgment and vote).
    pub faults: FaultProfile,
}

/// The prediction for `guarantee` in a leader-follower cell.
///
/// The facts the rules rest on, from the design: one leader per partition orders every write;
/// a write is acknowledged once the leader and `sync_followers` followers logged it (synced to
/// disk); a new leader needs a majority of the partition's votes, and a replica votes only for
/// a candidate whose log is at least as up to date as its own, so a write on a majority is on
/// every later leader (Raft's leader completeness); a leader brings its followers to its own
/// log. A leader changes only under faults: a partition or crash that keeps the followers from
/// hearing it for the failover timeout.
pub fn predict_leader_follower(cell: &LeaderFollower, guarantee: Guarantee) -> Prediction {
    let faults = cell.faults != FaultProfile::None;
    let majority = cell.sync_followers + 1 > cell.rf / 2;
    // An acknowledged write need not be on the majority that elects the next leader.
    let lost = faults && !majority;
    // Without fencing, a deposed leader cut off from its followers, but not from clients,
    // keeps answering reads from what it holds, and a follower that hears both leaders takes
    // writes from both.
    let split_brain = !cell.fencing && cell.faults == FaultProfile::Partition;
    let lag = cell.follower_reads;
    const LOST: &str = "a leader change can elect a follower that lacks writes the old leader \
                        acknowledged before they were replicated to a majority";
    const SPLIT: &str = "without fencing a deposed leader that has not heard of the election \
                         keeps answering reads and taking writes";
    const LAG: &str =
        "a follower answers from what it holds, which can lag the writes its leader acknowledged";
    match guarantee {
        Guarantee::Linearizable
        | Guarantee::NoStaleReads
        | Guarantee::ReadYourWrites
        | Guarantee::MonotonicReads => {
            if lost {
                Prediction::breaks(Mechanism::Failover, LOST)
            } else if split_brain {
                Prediction::breaks(Mechanism::Failover, SPLIT)
            } else if lag {
                Prediction::breaks(Mechanism::FollowerLag, LAG)
            } else if !faults {
                Prediction::holds("no fault, no leader change: one leader orders every write and answers every read")
            } else {
                Prediction::holds("writes wait for a majority and every later leader has them; a leader's reads are confirmed by a majority of its term")
            }
        }
        Guarantee::MonotonicWrites | Guarantee::WritesFollowReads | Guarantee::Convergence => {
            if lost {
                Prediction::breaks(Mechanism::Failover, LOST)
            } else if split_brain {
                Prediction::breaks(Mechanism::Failover, SPLIT)
            } else if !faults {
                Prediction::holds("no fault, no leader change: the leader's log orders every write and reaches every follower")
            } else {
                Prediction::holds("an acknowledged write is on a majority and so on every later leader, which brings every follower to its log")
            }
        }
    }
}
