//! The test a shrink step runs: does a smaller scenario still break what the found one broke?
//!
//! proptest proposes the smaller scenarios (see [`crate::strategy`]); this module decides, for
//! each, as cheaply as it can be decided soundly:
//!
//! - **The workload alone.** A candidate runs without the final phase
//!   ([`crate::runner::run_workload`]): the final reads only add reads that begin after every
//!   workload op ended, so a read guarantee broken without them is broken with them.
//! - **Nothing after the witness.** A violation of a read guarantee is settled once the ops
//!   its witness names have ended: the linearizability search dies at the failing op's
//!   completion, and the weaker checkers' witnesses name every op their sentence rests on.
//!   Until that moment a run is the same whatever the clients would do after it, so no client
//!   issues an op later than that, and the shrunk scenario keeps only the ops its clients
//!   issued by then (a client's ops queue behind each other, so this is a prefix of each
//!   client's plan, whatever times the plan gave them). The moment moves earlier with each
//!   smaller failure, and a candidate that differs from the smallest failure only after it is
//!   answered without running.
//! - **Ops stay when they were.** A candidate's ops are planned at the times they were issued
//!   in the smallest failure's run, so taking one op out does not pull its client's later ops
//!   earlier (a client's ops queue behind each other, and most are issued well after their
//!   planned time), and the race the failure rests on stays as it was.
//!
//! Convergence is judged on the replicas after the final heal and settle, so a break that
//! includes it runs every candidate whole. Which way is used is decided once, on the scenario
//! as found: the cheapest that still shows the break. [`ShrinkTest::finish`] reruns the
//! result whole before it is saved.
use std::time::Duration;

use quorumlab::check::Guarantee;
use quorumlab::history::{History, Op};

use crate::case::Case;
use crate::runner::{self, RunError};
use crate::scenario::{PlannedOp, Scenario};
use crate::verdict::{judge, Judgement};

/// Which guarantees a smaller scenario must still break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Every one of these (the matrix: a case is saved for exactly the guarantees it broke).
    All(Vec<Guarantee>),
    /// At least one of these (`explore`: any expected guarantee broken is a failure).
    Any(Vec<Guarantee>),
    /// The run fails to finish (a simulation error), whatever the guarantees.
    RunFails,
}

impl Keep {
    fn guarantees(&self) -> &[Guarantee] {
        match self {
            Keep::All(g) | Keep::Any(g) => g,
            Keep::RunFails => &[],
        }
    }

    fn holds(&self, judgement: &Judgement) -> bool {
        let violated = judgement.violated();
        match self {
            Keep::All(g) => g.iter().all(|g| violated.contains(g)),
            Keep::Any(g) => g.iter().any(|g| violated.contains(g)),
            Keep::RunFails => false,
        }
    }
}

/// The most specific of `guarantees`, the one to shrink a case for first: a session guarantee
/// before no stale reads, before linearizability (which any of the others breaking breaks
/// too), convergence (judged on replicas, not reads) last.
pub fn most_specific(guarantees: &[Guarantee]) -> Option<Guarantee> {
    const ORDER: [Guarantee; 7] = [
        Guarantee::MonotonicWrites,
        Guarantee::WritesFollowReads,
        Guarantee::MonotonicReads,
        Guarantee::ReadYourWrites,
        Guarantee::NoStaleReads,
        Guarantee::Linearizable,
        Guarantee::Convergence,
    ];
    ORDER.into_iter().find(|g| guarantees.contains(g))
}

/// How candidates are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Whole runs (the break needs the final phase).
    Whole,
    /// The workload alone, no op issued after `until_ns` (if set).
    Workload { until_ns: Option<u64> },
}

/// Tests shrink candidates against one found failure, within a budget of runs.
#[derive(Debug)]
pub struct ShrinkTest {
    keep: Keep,
    mode: Mode,
    runs: u32,
    budget: u32,
    /// `(ops, runs)`: while the smallest failure has more than `ops` client ops, shrinking
    /// may go on up to `runs` runs in all.
    overtime: Option<(usize, u32)>,
    /// The smallest failure, with only the ops issued by the witness's end.
    best: Scenario,
    /// The smallest failure as it ran.
    ran: Scenario,
    found: Scenario,
    /// When each op (as generated) was issued in the smallest failure's run, in ms: a
    /// candidate's ops are planned at those times (see [`ShrinkTest::timed`]).
    issued_at: Vec<(PlannedOp, u32)>,
}

impl ShrinkTest {
    /// Prepares to shrink `found`, whose whole run recorded `history` (`None`: the run failed)
    /// and broke what `keep` asks for, with at most `budget` runs (the ones spent choosing how
    /// to run candidates included).
    pub fn new(found: &Scenario, history: Option<&History>, keep: Keep, budget: u32) -> Self {
        let mut test = ShrinkTest {
            mode: Mode::Whole,
            runs: 0,
            budget,
            overtime: None,
            best: found.clone(),
            ran: found.clone(),
            found: found.clone(),
            issued_at: Vec::new(),
            keep,
        };
        let Some(history) = history else {
            return test;
        };
        let judgement = judge(history, test.keep.guarantees());
        // Convergence needs the final phase. Asked for any of several guarantees, the ones
        // the found run broke without it are enough.
        match &test.keep {
            Keep::All(g) if g.contains(&Guarantee::Convergence) => return test,
            Keep::Any(g) if g.contains(&Guarantee::Convergence) => {
                let broken: Vec<_> = judgement
                    .violated()
                    .into_iter()
                    .filter(|g| *g != Guarantee::Convergence)
                    .collect();
                if broken.is_empty() {
                    return test;
                }
                test.keep = Keep::Any(broken);
            }
            _ => {}
        }
        // One try: if the found scenario, run this way, does not break it again, the break
        // rests on the final phase (monotonic writes, say, judged on what the key settled
        // on), and a candidate that broke it some other way would be shrunk toward a
        // different failure.
        let until_ns = witness_end_ns(history, &judgement, test.keep.guarantees());
        test.mode = Mode::Workload { until_ns };
        if test.budget > 0 && test.check(found) == Some(true) {
            return test;
        }
        test.mode = Mode::Whole;
        test.best = found.clone();
        test.ran = found.clone();
        test
    }

    /// Whether `candidate` still breaks what it must: `None` once the budget is spent (the
    /// caller stops shrinking). A candidate that runs as the smallest failure did up to its
    /// witness's end is answered without running it.
    pub fn check(&mut self, candidate: &Scenario) -> Option<bool> {
        let generated = candidate;
        let candidate = &self.timed(candidate);
        if self.runs > 0 && self.same_as_best(candidate) {
            return Some(true);
        }
        if !self.may_run() {
            return None;
        }
        self.runs += 1;
        let out = match self.mode {
            Mode::Whole => runner::run(candidate),
            Mode::Workload { until_ns } => {
                runner::run_workload(candidate, until_ns.map(Duration::from_nanos))
            }
        };
        let out = match out {
            Ok(out) if self.keep != Keep::RunFails => out,
            Ok(_) => return Some(false),
            Err(_) => return Some(self.keep == Keep::RunFails),
        };
        let judgement = judge(&out.history, self.keep.guarantees());
        if !self.keep.holds(&judgement) {
            return Some(false);
        }
        self.note_issue_times(generated, &out.history);
        self.ran = candidate.clone();
        self.best = candidate.clone();
        if let Mode::Workload { until_ns } = self.mode {
            // A smaller failure can rest on earlier ops: stop issuing earlier from now on.
            let end = witness_end_ns(&out.history, &judgement, self.keep.guarantees());
            let until = match (until_ns, end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(t) = until {
                self.best = issued_by(candidate, &out.history, t);
            }
            self.mode = Mode::Workload { until_ns: until };
        }
        Some(true)
    }

    /// `candidate` with each op planned at the time it was issued in the smallest failure's
    /// run. A client's ops queue behind each other, so an op is often issued long after its
    /// planned time; without this, removing one op would move every later op of its client
    /// earlier and change the race the failure rests on. Planned at those times, the smallest
    /// failure runs exactly as it did (an op issued at its own planned time, or the moment the
    /// previous one completed, is issued then again), and a candidate without one of its ops
    /// keeps the others where they were.
    fn timed(&self, candidate: &Scenario) -> Scenario {
        let mut out = candidate.clone();
        let mut used = vec![false; self.issued_at.len()];
        for op in out.clients.iter_mut().flat_map(|c| c.ops.iter_mut()) {
            let hit = self
                .issued_at
                .iter()
                .enumerate()
                .find(|(i, (generated, _))| !used[*i] && generated == op);
            if let Some((i, (_, at_ms))) = hit {
                used[i] = true;
                op.at_ms = *at_ms;
            }
        }
        out
    }

    /// Records when each op of `generated` (a candidate as proposed) was issued in the run
    /// that recorded `history`: a client's k-th op issued is the k-th op of its plan.
    fn note_issue_times(&mut self, generated: &Scenario, history: &History) {
        let mut times = Vec::new();
        for (ci, plan) in generated.clients.iter().enumerate() {
            let mut issued: Vec<&Op> = history
                .ops
                .iter()
                .filter(|o| session(o) == Some(ci as u64))
                .collect();
            issued.sort_by_key(|o| o.invoke);
            for (op, rec) in plan.ops.iter().zip(issued) {
                let at_ms = u32::try_from(rec.invoke / 1_000_000).unwrap_or(u32::MAX);
                times.push((*op, at_ms.max(op.at_ms)));
            }
        }
        // Ops the run did not issue keep the times an earlier run gave them.
        let mut used = vec![false; times.len()];
        let mut kept = Vec::new();
        for (op, at_ms) in &self.issued_at {
            match (0..used.len()).find(|&i| !used[i] && times[i].0 == *op) {
                Some(i) => used[i] = true,
                None => kept.push((*op, *at_ms)),
            }
        }
        times.extend(kept);
        self.issued_at = times;
    }

    /// Whether `candidate` runs exactly as the smallest failure up to the witness's end: the
    /// same scenario but for ops that follow, in each client's plan, every op the smallest
    /// failure issued, and faults that start later.
    fn same_as_best(&self, candidate: &Scenario) -> bool {
        let best = &self.best;
        let Mode::Workload {
            until_ns: Some(until),
        } = self.mode
        else {
            return *candidate == *best;
        };
        let early = |s: &Scenario| -> Vec<_> {
            s.faults
                .iter()
                .filter(|f| f.at_ms.saturating_mul(1_000_000) <= until)
                .cloned()
                .collect()
        };
        candidate.seed == best.seed
            && candidate.system == best.system
            && candidate.network == best.network
            && candidate.keys == best.keys
            && candidate.settle_ms == best.settle_ms
            && candidate.clients.len() == best.clients.len()
            && candidate.clients.iter().zip(&best.clients).all(|(c, b)| {
                c.sticky == b.sticky && c.ops.len() >= b.ops.len() && c.ops.starts_with(&b.ops)
            })
            && early(candidate) == best.faults
    }

    /// Lets shrinking go on past its budget, up to `runs` runs in all, while the smallest
    /// failure still has more than `ops` client ops: the few cases that need more steps get
    /// them, and the many that shrink fast cost no more.
    pub fn with_overtime(mut self, ops: usize, runs: u32) -> Self {
        self.overtime = Some((ops, runs));
        self
    }

    fn may_run(&self) -> bool {
        self.runs < self.budget
            || self
                .overtime
                .is_some_and(|(ops, runs)| self.runs < runs && self.best.op_count() > ops)
    }

    /// Runs spent so far.
    pub fn runs(&self) -> u32 {
        self.runs
    }

    /// The scenario as found, before shrinking.
    pub fn found(&self) -> &Scenario {
        &self.found
    }

    /// The smallest failing scenario found (the found one if none smaller failed).
    pub fn best(&self) -> &Scenario {
        &self.best
    }

    /// The shrunk case: the smallest failure, run whole and judged on `expect`. Candidates ran
    /// without the final phase, and the smallest failure keeps only what its clients issued
    /// by a moment it never ran alone to, so a whole run confirms it here; should it not break
    /// what it must, the failure as it ran, then the scenario as found, is taken instead.
    pub fn finish(self, expect: &[Guarantee]) -> Result<Case, RunError> {
        let mut tried: Vec<Scenario> = Vec::new();
        let mut last = None;
        for s in [self.best, self.ran, self.found] {
            if tried.contains(&s) {
                continue;
            }
            if self.keep == Keep::RunFails {
                // Still failing is the whole point: the error is the result.
                return Case::run(&s, expect);
            }
            let case = Case::run(&s, expect)?;
            if self.keep.holds(&case.judgement) {
                return Ok(case);
            }
            tried.push(s);
            last = Some(case);
        }
        Ok(last.expect("the scenario as found was run"))
    }
}

/// `s` with only the ops its clients issued by `until_ns` in the run that recorded
/// `history` (a prefix of each client's plan), and the faults that start by then. Every
/// client stays, even with no ops left, so the others keep their index, their socket and the
/// values they write.
pub fn issued_by(s: &Scenario, history: &History, until_ns: u64) -> Scenario {
    let mut out = s.clone();
    for (ci, plan) in out.clients.iter_mut().enumerate() {
        let issued = history
            .ops
            .iter()
            .filter(|o| o.invoke <= until_ns && session(o) == Some(ci as u64))
            .count();
        plan.ops.truncate(issued);
    }
    out.faults
        .retain(|f| f.at_ms.saturating_mul(1_000_000) <= until_ns);
    out
}

/// The workload client an op of a runner's history belongs to.
fn session(op: &Op) -> Option<u64> {
    op.extra.get("session").and_then(|v| v.as_u64())
}

/// The simulated ns by which every op the witnesses of `guarantees` name had ended (the
/// failing op of a linearizability witness, every op of the others); `None` when a witness
/// names none.
fn witness_end_ns(
    history: &History,
    judgement: &Judgement,
    guarantees: &[Guarantee],
) -> Option<u64> {
    let mut end_ns = 0u64;
    for g in guarantees {
        let Some(w) = judgement.findings.get(g).and_then(|f| f.witness.as_ref()) else {
            continue;
        };
        let mut ids: Vec<u64> = w.get("op").and_then(|v| v.as_u64()).into_iter().collect();
        if let Some(ops) = w.get("ops").and_then(|v| v.as_array()) {
            ids.extend(ops.iter().filter_map(|v| v.as_u64()));
        }
        if ids.is_empty() {
            return None;
        }
        for id in ids {
            let op = history.ops.iter().find(|o| o.id == id)?;
            end_ns = end_ns.max(op_end_ns(op));
        }
    }
    (end_ns > 0).then_some(end_ns)
}

/// When an op ended: its completion, or when its client gave up on it, or (never ended) its
/// invocation.
fn op_end_ns(op: &Op) -> u64 {
    op.complete
        .or_else(|| op.extra.get("gave_up").and_then(|v| v.as_u64()))
        .unwrap_or(op.invoke)
}
