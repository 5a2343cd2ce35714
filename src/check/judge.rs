//! Judging a history: which guarantees held, with a witness for each break.
//!
//! Linearizability is judged against the model the ops belong to: `add` and `members` ops
//! against [`Set`], `enqueue` and `dequeue` against [`Queue`], `acquire` and `release`
//! against [`Mutex`], and any other against the key-value model. A history whose keys belong
//! to different models (a set at one key, a lock at another) is judged key by key, each
//! against its own model (linearizability is compositional: a history is linearizable when
//! each key's ops are). The weaker
//! guarantees are defined for registers (get, put and delete, with a unique value per put):
//! on a history with other kinds of op each is undecided (`held: None`) with the sentence
//! "cannot judge: ... ops are not supported by this guarantee", naming the first such op.
//!
//! ```
//! use quorumlab::check::{judge, Guarantee};
//! use quorumlab::history::History;
//!
//! let h = History::from_json_str(r#"{"format": "quorumlab-history/1", "ops": [
//!   {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1,
//!    "invoke": 0, "complete": 10, "outcome": "ok"},
//!   {"id": 2, "client": 1, "kind": "get", "key": "x",
//!    "invoke": 20, "complete": 30, "outcome": "ok", "read": null}]}"#).unwrap();
//! let j = judge(&h, &[Guarantee::Linearizable, Guarantee::NoStaleReads]);
//! assert_eq!(j.violated(), [Guarantee::Linearizable, Guarantee::NoStaleReads]);
//! assert!(j.sentences()[0].starts_with("get#2 by client 1 [0.00002..0.00003 ms] read absent"));
//! assert_eq!(Guarantee::Linearizable.judge(&h).held, Some(false));
//! ```
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::convergence::ConvergenceError;
use super::linearizable::{self, CheckOptions, Verdict};
use super::observe::ObserveError;
use super::{convergence, session, stale, Guarantee, Violation};
use crate::history::History;
use crate::model::{Mutex, Queue, Set};

/// What one guarantee's checker said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// true: held; false: violated; None: undecided (search limit reached, or the history
    /// lacks what the checker needs).
    pub held: Option<bool>,
    /// How many violations were found (linearizability reports the first only).
    pub violations: usize,
    /// The witness of the first violation.
    pub witness: Option<serde_json::Value>,
    /// The witness's one plain sentence, or why the guarantee could not be judged.
    pub sentence: Option<String>,
}

impl Finding {
    /// Held when there are no violations, violated with the first one as the witness.
    fn from_violations(v: Vec<Violation>) -> Finding {
        match v.first() {
            None => Finding {
                held: Some(true),
                violations: 0,
                witness: None,
                sentence: None,
            },
            Some(first) => Finding {
                held: Some(false),
                violations: v.len(),
                sentence: Some(first.sentence.clone()),
                witness: Some(serde_json::to_value(first).expect("violations serialize")),
            },
        }
    }

    /// Undecided, and why.
    fn undecided(why: String) -> Finding {
        Finding {
            held: None,
            violations: 0,
            witness: None,
            sentence: Some(why),
        }
    }
}

/// The findings for every guarantee judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Judgement {
    /// Findings keyed by guarantee.
    pub findings: BTreeMap<Guarantee, Finding>,
}

impl Judgement {
    /// The guarantees that were violated.
    pub fn violated(&self) -> Vec<Guarantee> {
        self.findings
            .iter()
            .filter(|(_, f)| f.held == Some(false))
            .map(|(g, _)| *g)
            .collect()
    }

    /// Every finding's sentence (witnesses and reasons for undecided), in guarantee order.
    pub fn sentences(&self) -> Vec<String> {
        self.findings
            .values()
            .filter_map(|f| f.sentence.clone())
            .collect()
    }

    /// `{"linearizable": true|false|null, ...}`.
    pub fn verdict_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (g, f) in &self.findings {
            m.insert(g.name().into(), serde_json::to_value(f.held).expect("bool"));
        }
        serde_json::Value::Object(m)
    }

    /// `{"linearizable": witness, ...}` for the violated guarantees.
    pub fn witnesses_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (g, f) in &self.findings {
            if let Some(w) = &f.witness {
                m.insert(g.name().into(), w.clone());
            }
        }
        serde_json::Value::Object(m)
    }
}

/// How long the linearizability search may take on one history before it answers unknown.
pub const LINEARIZABILITY_TIMEOUT: Duration = Duration::from_secs(60);

/// Judges a history on the given guarantees.
pub fn judge(history: &History, guarantees: &[Guarantee]) -> Judgement {
    let options = CheckOptions {
        timeout: Some(LINEARIZABILITY_TIMEOUT),
        ..Default::default()
    };
    let mut judgement = Judgement::default();
    for &g in guarantees {
        let finding = match g {
            Guarantee::Linearizable => {
                Finding::from_verdict(&linearizability(history, &options).verdict)
            }
            _ => finding(history, g),
        };
        judgement.findings.insert(g, finding);
    }
    judgement
}

impl Guarantee {
    /// Judges a history on this guarantee alone (see [`judge`]).
    pub fn judge(self, history: &History) -> Finding {
        finding(history, self)
    }
}

/// The finding for one guarantee (for linearizability, [`Finding::from_verdict`] also turns
/// a checker's own report into one).
pub fn finding(history: &History, g: Guarantee) -> Finding {
    match g {
        Guarantee::Linearizable => judge(history, &[g]).findings.remove(&g).expect("judged"),
        _ => finding_until(history, g, None),
    }
}

/// The finding for one guarantee, undecided ("undecided: timeout") when `deadline` passes
/// before its checker is done; every checker looks at the deadline as it goes. For
/// linearizability the deadline, when given, replaces [`LINEARIZABILITY_TIMEOUT`].
pub fn finding_until(history: &History, g: Guarantee, deadline: Option<Instant>) -> Finding {
    match g {
        Guarantee::Linearizable => {
            let options = CheckOptions {
                timeout: Some(match deadline {
                    Some(d) => d.saturating_duration_since(Instant::now()),
                    None => LINEARIZABILITY_TIMEOUT,
                }),
                ..Default::default()
            };
            Finding::from_verdict(&linearizability(history, &options).verdict)
        }
        Guarantee::NoStaleReads => weak(stale::check_until(history, deadline)),
        Guarantee::ReadYourWrites => weak(session::read_your_writes_until(history, deadline)),
        Guarantee::MonotonicReads => weak(session::monotonic_reads_until(history, deadline)),
        Guarantee::MonotonicWrites => weak(session::monotonic_writes_until(history, deadline)),
        Guarantee::WritesFollowReads => weak(session::writes_follow_reads_until(history, deadline)),
        Guarantee::Convergence => match convergence::check_until(history, deadline) {
            Err(ConvergenceError::Observe(ObserveError::Timeout)) => timed_out(),
            other => cannot_judge(other),
        },
    }
}

/// Checks linearizability against the model the history's ops belong to: the set, queue or
/// mutex model when every op is of that object's kinds, else the key-value model (which
/// refuses other kinds: undecided, naming the op).
/// The model an op kind belongs to: 0 the key-value map, 1 a set, 2 a queue, 3 a lock.
fn family(kind: crate::history::OpKind) -> u8 {
    use crate::history::OpKind as K;
    match kind {
        K::Add | K::Members => 1,
        K::Enqueue | K::Dequeue => 2,
        K::Acquire | K::Release => 3,
        _ => 0,
    }
}

/// Checks `history`, all of whose ops belong to the model `family`.
fn check_family(family: u8, history: &History, options: &CheckOptions) -> linearizable::LinReport {
    match family {
        1 => linearizable::check_model(&Set, history, options),
        2 => linearizable::check_model(&Queue, history, options),
        3 => linearizable::check_model(&Mutex, history, options),
        _ => linearizable::check(history, options),
    }
}

fn linearizability(history: &History, options: &CheckOptions) -> linearizable::LinReport {
    // Each key's model is its first op's; a key that mixes models is refused by its model.
    let mut of_key: BTreeMap<&str, u8> = BTreeMap::new();
    for o in &history.ops {
        of_key
            .entry(o.key.as_str())
            .or_insert_with(|| family(o.kind));
    }
    let mut families: Vec<u8> = of_key.values().copied().collect();
    families.sort_unstable();
    families.dedup();
    if families.len() <= 1 {
        return check_family(families.first().copied().unwrap_or(0), history, options);
    }
    let start = Instant::now();
    if let Err(e) = history.validate() {
        return linearizable::LinReport {
            verdict: Verdict::Unknown(linearizable::Undecided::Invalid(e)),
            ops: history.ops.len(),
            keys: of_key.len(),
            elapsed: start.elapsed(),
        };
    }
    // One history per model, each judged apart: a violation (of the first key in key order
    // among those found), else the first undecided, else linearizable.
    let mut reports: Vec<linearizable::LinReport> = families
        .iter()
        .map(|&f| {
            let ops = history
                .ops
                .iter()
                .filter(|o| of_key[o.key.as_str()] == f)
                .cloned()
                .collect();
            check_family(f, &History::new(ops), options)
        })
        .collect();
    let pick = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.verdict {
            Verdict::Violation(w) => Some((w.key.clone(), i)),
            _ => None,
        })
        .min()
        .map(|(_, i)| i)
        .or_else(|| {
            reports
                .iter()
                .position(|r| matches!(r.verdict, Verdict::Unknown(_)))
        });
    let verdict = match pick {
        Some(i) => reports.swap_remove(i).verdict,
        None => Verdict::Linearizable,
    };
    linearizable::LinReport {
        verdict,
        ops: history.ops.len(),
        keys: of_key.len(),
        elapsed: start.elapsed(),
    }
}

/// Undecided because the deadline passed.
fn timed_out() -> Finding {
    Finding::undecided("undecided: timeout".into())
}

impl Finding {
    /// The finding of a linearizability verdict.
    pub fn from_verdict(verdict: &Verdict) -> Finding {
        match verdict {
            Verdict::Linearizable => Finding {
                held: Some(true),
                violations: 0,
                witness: None,
                sentence: None,
            },
            Verdict::Violation(w) => Finding {
                held: Some(false),
                violations: 1,
                sentence: Some(w.sentence.clone()),
                witness: Some(serde_json::to_value(w).expect("witnesses serialize")),
            },
            Verdict::Unknown(why) => Finding {
                held: None,
                violations: 0,
                witness: None,
                sentence: Some(format!("undecided: {why}")),
            },
        }
    }
}

fn weak(r: Result<Vec<Violation>, ObserveError>) -> Finding {
    match r {
        Err(ObserveError::Timeout) => timed_out(),
        r => cannot_judge(r),
    }
}

fn cannot_judge<E: std::fmt::Display>(r: Result<Vec<Violation>, E>) -> Finding {
    match r {
        Ok(v) => Finding::from_violations(v),
        Err(e) => Finding::undecided(format!("cannot judge: {e}")),
    }
}
