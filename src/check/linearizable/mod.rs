//! Linearizability: does some total order of the ops, consistent with real time, match the
//! sequential model?
//!
//! The history is split per key (linearizability is compositional: a history is linearizable
//! iff each key's sub-history is), and each key is searched with the Wing-Gong/Lowe
//! algorithm, memoizing (set of linearized ops, model state) configurations as Porcupine does.
//! Keys are checked on up to [`CheckOptions::threads`] threads when there are several.
//!
//! Bounds: [`CheckOptions::timeout`] ends the search with [`Verdict::Unknown`], and so does a
//! memo that would outgrow [`CheckOptions::memo_limit_bytes`] (shared out among the threads);
//! apart from the memo the search holds O(ops) memory per key.
//!
//! ```
//! use quorumlab::check::linearizable::{check, CheckOptions, Verdict};
//! use quorumlab::history::History;
//!
//! // put 1 completes, then a later get reads nothing: stale.
//! let h = History::from_json_str(r#"{"format": "quorumlab-history/1", "ops": [
//!   {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1,
//!    "invoke": 0, "complete": 10, "outcome": "ok"},
//!   {"id": 2, "client": 1, "kind": "get", "key": "x",
//!    "invoke": 20, "complete": 30, "outcome": "ok", "read": null}]}"#).unwrap();
//! let report = check(&h, &CheckOptions::default());
//! let Verdict::Violation(w) = report.verdict else { panic!() };
//! assert_eq!(w.op, 2);
//! println!("{}", w.sentence);
//! ```
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::history::{History, HistoryError};
use crate::model::{Kv, Model, Partition};

mod events;
mod explain;
mod linearized;
mod memo;
mod search;

use search::{Found, GaveUp, Goal, Limits, Longer, Longest};

/// How to run the check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Give up with [`Verdict::Unknown`] after this long. Default: no limit.
    pub timeout: Option<Duration>,
    /// Give up with [`Verdict::Unknown`] when the memo of explored configurations would
    /// exceed this many bytes (summed over threads). Default: 1 GiB.
    pub memo_limit_bytes: usize,
    /// Threads for checking keys in parallel; 0 means the machine's parallelism. Default: 0.
    pub threads: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: None,
            memo_limit_bytes: 1 << 30,
            threads: 0,
        }
    }
}

/// One configuration on the way to a violation: an op and the model state after it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// The op's id.
    pub op: u64,
    /// The model state after it (`null` = absent). Given for the prefix's last op always,
    /// and for the ops before it from the last back while the states given stay within
    /// [`PREFIX_STATES_SIZE`]; `None` (left out of the JSON) before that. A prefix of n
    /// ops whose states grow (a set, appended strings) would otherwise take n^2 memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
}

/// How much of a witness's prefix states are given, at most, besides the last one: in JSON
/// scalars, array items and string bytes.
pub const PREFIX_STATES_SIZE: usize = 1 << 22;

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Witness {
    /// The key whose sub-history is not linearizable.
    pub key: String,
    /// The id of the op that could not be linearized after the longest prefix.
    pub op: u64,
    /// A linearizable prefix of the key's ops, in order, with the state after each op: a
    /// longest one when [`Witness::prefix_is_longest`].
    pub prefix: Vec<Step>,
    /// Whether no linearizable prefix is longer than [`Witness::prefix`] (false only when the
    /// search for one ran out of steps; the sentence then says "a linearizable prefix").
    #[serde(skip)]
    pub prefix_is_longest: bool,
    /// One plain sentence.
    pub sentence: String,
}

/// Why the check could not decide.
#[derive(Clone, Debug, PartialEq)]
pub enum Undecided {
    /// The timeout passed.
    Timeout,
    /// The memo of explored configurations reached its limit on this key.
    MemoLimit {
        /// The key.
        key: String,
    },
    /// The history breaks a rule of the format (see [`History::validate`]).
    Invalid(HistoryError),
}

impl std::fmt::Display for Undecided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecided::Timeout => f.write_str("timeout"),
            Undecided::MemoLimit { key } => write!(f, "memo limit reached on key {key:?}"),
            Undecided::Invalid(e) => write!(f, "invalid history: {e}"),
        }
    }
}

/// The answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Some order explains every op.
    Linearizable,
    /// No order does; the witness names one key whose ops no order explains.
    Violation(Box<Witness>),
    /// Not decided.
    Unknown(Undecided),
}

impl Verdict {
    /// `Some(true)`, `Some(false)`, or `None` when undecided.
    pub fn linearizable(&self) -> Option<bool> {
        match self {
            Verdict::Linearizable => Some(true),
            Verdict::Violation(_) => Some(false),
            Verdict::Unknown(_) => None,
        }
    }
}

/// The result of checking one history.
#[derive(Clone, Debug)]
pub struct LinReport {
    /// The answer.
    pub verdict: Verdict,
    /// Ops in the history.
    pub ops: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Checking time (partitioning and search; not reading or parsing).
    pub elapsed: Duration,
}

/// Checks a history against the key-value model ([`Kv::map`]).
///
/// An invalid history (see [`History::validate`]) gives [`Verdict::Unknown`] with
/// [`Undecided::Invalid`]; use [`try_check`] to get the error instead.
pub fn check(history: &History, options: &CheckOptions) -> LinReport {
    let start = Instant::now();
    match try_check(history, options) {
        Ok(r) => r,
        Err(e) => LinReport {
            verdict: Verdict::Unknown(Undecided::Invalid(e)),
            ops: history.ops.len(),
            keys: history.key_count(),
            elapsed: start.elapsed(),
        },
    }
}

/// Validates, then checks a history against `model` (e.g. [`crate::model::Set`]). An invalid
/// history, or one with ops the model does not have, gives [`Verdict::Unknown`] with
/// [`Undecided::Invalid`].
pub fn check_model<M: Model + Sync>(
    model: &M,
    history: &History,
    options: &CheckOptions,
) -> LinReport {
    let start = Instant::now();
    match history
        .validate()
        .and_then(|()| check_with(model, history, options))
    {
        Ok(r) => r,
        Err(e) => LinReport {
            verdict: Verdict::Unknown(Undecided::Invalid(e)),
            ops: history.ops.len(),
            keys: history.key_count(),
            elapsed: start.elapsed(),
        },
    }
}

/// Validates, then checks a history against the key-value model.
pub fn try_check(history: &History, options: &CheckOptions) -> Result<LinReport, HistoryError> {
    history.validate()?;
    check_with(&Kv::map(), history, options)
}

/// Checks a valid history against any model.
pub fn check_with<M>(
    model: &M,
    history: &History,
    options: &CheckOptions,
) -> Result<LinReport, HistoryError>
where
    M: Model + Sync,
{
    let start = Instant::now();
    // A timeout beyond what an `Instant` can hold (centuries) is no limit at all.
    let deadline = options.timeout.and_then(|t| start.checked_add(t));
    let expired = || deadline.is_some_and(|d| Instant::now() >= d);
    let timed_out = |keys| {
        Ok(LinReport {
            verdict: Verdict::Unknown(Undecided::Timeout),
            ops: history.ops.len(),
            keys,
            elapsed: start.elapsed(),
        })
    };
    if expired() {
        return timed_out(history.key_count());
    }
    let mut parts = model.partition(history)?;
    if expired() {
        return timed_out(parts.len());
    }
    // Per partition: whether the reduction left ops out.
    let reduced: Vec<bool> = parts
        .iter_mut()
        .map(|p| {
            let before = p.ops.len();
            model.reduce(p);
            p.ops.len() != before
        })
        .collect();
    if expired() {
        return timed_out(parts.len());
    }
    let keys = parts.len();
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    // Threads pay off only when there is enough work to share.
    let total: usize = parts.iter().map(|p| p.ops.len()).sum();
    let threads = if keys >= 2 && total >= 512 {
        threads.min(keys)
    } else {
        1
    };
    let cancel = AtomicBool::new(false);
    // Keys are searched in rounds with a growing budget of steps, so that a violation on an
    // easy key ends the check without waiting for a hard key, while the answer stays
    // deterministic: budgets count steps, not time, and the witness is the violating key
    // that first in key order finished within the round's budget.
    let mut results: Vec<Option<Found<M::State>>> = (0..parts.len()).map(|_| None).collect();
    let mut budget: u64 = 1 << 16;
    let mut verdict = Verdict::Linearizable;
    loop {
        let pending: Vec<usize> = (0..parts.len())
            .filter(|&i| matches!(results[i], None | Some(Found::GaveUp(GaveUp::Budget))))
            .collect();
        if pending.is_empty() {
            break;
        }
        let limits = Limits {
            deadline,
            budget,
            memo_bytes: options.memo_limit_bytes / threads,
            cancel: &cancel,
        };
        let mut order = pending;
        if threads > 1 {
            // Largest first, so that no thread is left alone with a long key at the end.
            order.sort_by_key(|&i| (std::cmp::Reverse(parts[i].ops.len()), i));
        }
        // The first violating key in key order is the one explained, and only it needs a
        // longest prefix: a key looks for one (in the search that found its violation, which
        // has everything built) unless a key before it has already found a violation.
        let first_violation = AtomicUsize::new(usize::MAX);
        let found = crate::jobs::run(&order, threads, |&i| {
            let wanted = || first_violation.fetch_min(i, Ordering::Relaxed) > i && !reduced[i];
            let longer = Longer {
                wanted: &wanted,
                min_steps: WITNESS_MIN_STEPS,
                memo_bytes: WITNESS_MEMO_BYTES,
            };
            search::search_verdict(model, &parts[i].ops, &limits, &longer)
        });
        for (i, f) in order.into_iter().zip(found) {
            results[i] = Some(f);
        }
        if let Some((i, Some(Found::Violation(stuck)))) = results
            .iter()
            .enumerate()
            .find(|(_, r)| matches!(r, Some(Found::Violation(_))))
        {
            verdict = match longest_prefix(model, history, &parts[i], stuck, deadline, &cancel)? {
                Some(w) => Verdict::Violation(Box::new(w)),
                None => Verdict::Unknown(Undecided::Timeout),
            };
            break;
        }
        if let Some(why) = results.iter().find_map(|r| match r {
            Some(Found::GaveUp(GaveUp::Timeout)) => Some(Undecided::Timeout),
            _ => None,
        }) {
            verdict = Verdict::Unknown(why);
            break;
        }
        if let Some(i) = results
            .iter()
            .position(|r| matches!(r, Some(Found::GaveUp(GaveUp::MemoLimit))))
        {
            verdict = Verdict::Unknown(Undecided::MemoLimit {
                key: parts[i].key.clone(),
            });
            break;
        }
        budget = budget.saturating_mul(8);
    }
    Ok(LinReport {
        verdict,
        ops: history.ops.len(),
        keys,
        elapsed: start.elapsed(),
    })
}

/// Steps the search for a longest prefix may take once a violation is found: as many as the
/// search that found it took, and at least this many, so that explaining a violation costs
/// at most about as much as finding it. Past them the witness names a linearizable prefix
/// without claiming it is a longest one. Every witness search of the Porcupine, Knossos and
/// saved matrix histories that ends does so within 300 steps when the violation took fewer
/// than this many; one that does not end (kv-c50-bad needs over a million) wastes at most
/// this.
const WITNESS_MIN_STEPS: u64 = 1 << 11;

/// The memo limit of the search for a longest prefix.
const WITNESS_MEMO_BYTES: usize = 64 << 20;

/// The witness of a violation on `part`. Its prefix is the pruned search's own when no
/// linearizable prefix of the key's ops (before [`Model::reduce`]) is longer, so a witness
/// stays the same wherever it was already right; else a longest one, found without pruning;
/// and when that search runs out of steps, the pruned one's, not claimed to be a longest.
///
/// When [`Model::reduce`] left nothing out of the key's ops, the search that found the
/// violation has already looked for a longer prefix, exploring only the configurations it cut
/// that might hold one ([`search::search_verdict`]). Otherwise the key's whole ops are
/// searched again here. `None` when the deadline passed first.
fn longest_prefix<M: Model>(
    model: &M,
    history: &History,
    part: &Partition<M>,
    pruned: &search::Stuck<M::State>,
    deadline: Option<Instant>,
    cancel: &AtomicBool,
) -> Result<Option<Witness>, HistoryError> {
    match pruned.longest {
        Longest::Proven => return Ok(Some(explain::witness(model, history, part, pruned, true))),
        Longest::OutOfSteps => {
            return Ok(Some(explain::witness(model, history, part, pruned, false)))
        }
        Longest::NotSearched => {}
    }
    let limits = Limits {
        deadline,
        budget: pruned.steps.max(WITNESS_MIN_STEPS),
        memo_bytes: WITNESS_MEMO_BYTES,
        cancel,
    };
    let whole = model
        .partition(history)?
        .into_iter()
        .find(|p| p.key == part.key)
        .expect("the key of a partition has a partition");
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(None);
    }
    let longer = Goal::LongerThan(pruned.prefix.len());
    Ok(Some(
        match search::search(model, &whole.ops, &limits, longer) {
            Found::Violation(full) if full.prefix.len() > pruned.prefix.len() => {
                explain::witness(model, history, &whole, &full, true)
            }
            Found::Violation(_) => explain::witness(model, history, part, pruned, true),
            Found::GaveUp(GaveUp::Timeout) => return Ok(None),
            _ => explain::witness(model, history, part, pruned, false),
        },
    ))
}
