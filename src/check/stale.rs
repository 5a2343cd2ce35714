//! No stale reads (a regular register, after Lamport), and how stale reads were.
//!
//! A read is stale when it returns a write W1 (or absent) although some write W2 completed
//! before the read began and W2 itself began after W1 completed: W2 certainly superseded W1,
//! and the read still missed it. How far behind: the number of such W2.
use serde::Serialize;

use super::guarantee::Violation;
use super::observe::{
    by_key, completed, invoked, is_final, Explained, KeyOps, ObserveError, Source,
};
use crate::history::{History, Op, Outcome};

/// Staleness figures of a history (final-phase reads left out).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Staleness {
    /// Ok reads judged.
    pub reads: usize,
    /// Of those, stale ones.
    pub stale: usize,
    /// `stale / reads`, 0 when there are no reads.
    pub rate: f64,
    /// The most versions a read was behind.
    pub max_behind: usize,
    /// Reads by how many versions they were behind: `behind[k]` reads were k behind.
    pub behind: Vec<usize>,
}

/// The acknowledged writes of a key sorted by completion, with the running maximum of their
/// invocation times, to find the latest-starting write completed before an instant.
struct Completed<'h> {
    /// (complete, invoke, index in the key's writes) sorted by complete.
    writes: Vec<(u64, u64, usize)>,
    key: &'h KeyOps<'h>,
    /// prefix_max[i]: index in `writes` of the latest-invoked among writes[..=i].
    prefix_max: Vec<usize>,
}

impl<'h> Completed<'h> {
    fn new(key: &'h KeyOps<'h>) -> Self {
        let mut writes: Vec<(u64, u64, usize)> = key
            .writes
            .iter()
            .enumerate()
            .filter(|(_, w)| w.outcome == Outcome::Ok)
            .filter_map(|(i, w)| w.complete.map(|c| (c, w.invoke, i)))
            .collect();
        writes.sort_unstable();
        let mut prefix_max = Vec::with_capacity(writes.len());
        let mut best = 0;
        for (i, w) in writes.iter().enumerate() {
            if w.1 > writes[best].1 {
                best = i;
            }
            prefix_max.push(best);
        }
        Completed {
            writes,
            key,
            prefix_max,
        }
    }

    /// The latest-invoked acknowledged write that completed before `t`.
    fn latest_before(&self, t: u64) -> Option<(Source, &'h Op)> {
        let n = self.writes.partition_point(|w| w.0 < t);
        (n > 0).then(|| {
            let i = self.writes[self.prefix_max[n - 1]].2;
            (Source::Write(i), self.key.writes[i])
        })
    }

    /// For each query (after, t): how many acknowledged writes completed before `t` and
    /// began after `after`. Answered together, sweeping by `t` over a Fenwick tree of
    /// invocation times: O((writes + queries) log writes).
    fn count_between(&self, queries: &[(i128, u64)]) -> Vec<usize> {
        let mut invokes: Vec<u64> = self.writes.iter().map(|w| w.1).collect();
        invokes.sort_unstable();
        invokes.dedup();
        let mut tree = vec![0usize; invokes.len() + 1];
        let mut order: Vec<usize> = (0..queries.len()).collect();
        order.sort_unstable_by_key(|&q| queries[q].1);
        let mut out = vec![0; queries.len()];
        let mut added = 0;
        for q in order {
            let (after, t) = queries[q];
            while added < self.writes.len() && self.writes[added].0 < t {
                let mut i = invokes.partition_point(|&v| v < self.writes[added].1) + 1;
                while i < tree.len() {
                    tree[i] += 1;
                    i += i & i.wrapping_neg();
                }
                added += 1;
            }
            // Writes added so far, less those that began at or before `after`.
            let mut i = invokes.partition_point(|&v| v as i128 <= after);
            let mut not_after = 0;
            while i > 0 {
                not_after += tree[i];
                i -= i & i.wrapping_neg();
            }
            out[q] = added - not_after;
        }
        out
    }
}

/// Why a read is not regular, if it is not.
fn judge_read(k: &KeyOps<'_>, done: &Completed<'_>, r: &Op) -> Option<Violation> {
    let key = k.key.to_string();
    let superseder = done.latest_before(r.invoke);
    let stale = |s: Source, w2s: Source, w2: &Op| Violation {
        key: key.clone(),
        ops: [r.id]
            .into_iter()
            .chain(k.op(s).map(|o| o.id))
            .chain([w2.id])
            .collect(),
        sentence: format!(
            "{} saw {}, but {} began after that and completed before the read began",
            r.describe_in(k.unit),
            k.describe(s),
            k.describe(w2s)
        ),
    };
    // A source explains the read when it began before the read ended and nothing acknowledged
    // began after it completed and completed before the read began.
    match k.explain(r) {
        Explained::Nothing => Some(Violation {
            key,
            ops: vec![r.id],
            sentence: format!(
                "{} returned a value that no write which may have taken effect wrote",
                r.describe_in(k.unit)
            ),
        }),
        Explained::One(s) => {
            if invoked(k.op(s)) > completed(Some(r)) {
                return Some(Violation {
                    key: key.clone(),
                    ops: [r.id].into_iter().chain(k.op(s).map(|o| o.id)).collect(),
                    sentence: format!(
                        "{} saw {}, which began only after the read completed",
                        r.describe_in(k.unit),
                        k.describe(s)
                    ),
                });
            }
            match superseder {
                Some((w2s, w2)) if w2.invoke as i128 > completed(k.op(s)) => {
                    Some(stale(s, w2s, w2))
                }
                _ => None,
            }
        }
        // The initial state and every candidate delete began before the read ended; one of
        // them explains it unless the superseder began after even the latest of them ended.
        Explained::Absent { latest_delete_end } => match superseder {
            Some((w2s, w2)) if w2.invoke as i128 > latest_delete_end => {
                Some(stale(Source::Initial, w2s, w2))
            }
            _ => None,
        },
    }
}

/// Every stale read in the history.
pub fn check(history: &History) -> Result<Vec<Violation>, ObserveError> {
    check_until(history, None)
}

/// [`check`], giving up with [`ObserveError::Timeout`] once `deadline` has passed.
pub fn check_until(
    history: &History,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<Violation>, ObserveError> {
    let mut ticker = super::observe::Ticker::new(deadline);
    let mut out = Vec::new();
    let keys = by_key(history)?;
    for k in keys {
        ticker.tick()?;
        let done = Completed::new(&k);
        for r in &k.reads {
            ticker.tick()?;
            if let Some(v) = judge_read(&k, &done, r) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// The share of stale reads and how many versions behind they were.
pub fn staleness(history: &History) -> Result<Staleness, ObserveError> {
    let mut s = Staleness::default();
    for k in by_key(history)? {
        let done = Completed::new(&k);
        // For each stale read, the latest completion among its explanations: the one that
        // leaves it the fewest versions behind.
        let mut queries = Vec::new();
        for r in k.reads.iter().filter(|r| !is_final(r)) {
            s.reads += 1;
            if judge_read(&k, &done, r).is_none() {
                s.behind.resize(s.behind.len().max(1), 0);
                s.behind[0] += 1;
                continue;
            }
            let after = match k.explain(r) {
                Explained::Nothing => None,
                Explained::One(src) => Some(completed(k.op(src))),
                Explained::Absent { latest_delete_end } => Some(latest_delete_end),
            };
            queries.push((after, r.invoke));
        }
        let asked: Vec<(i128, u64)> = queries
            .iter()
            .filter_map(|&(a, t)| a.map(|a| (a, t)))
            .collect();
        let mut counts = done.count_between(&asked).into_iter();
        for (after, _) in queries {
            let behind = match after {
                Some(_) => counts.next().expect("one count per query"),
                None => 0,
            }
            .max(1);
            s.stale += 1;
            if s.behind.len() <= behind {
                s.behind.resize(behind + 1, 0);
            }
            s.behind[behind] += 1;
            s.max_behind = s.max_behind.max(behind);
        }
    }
    s.rate = if s.reads == 0 {
        0.0
    } else {
        s.stale as f64 / s.reads as f64
    };
    Ok(s)
}
