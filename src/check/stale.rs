//! No stale reads (a regular register, after Lamport), and how stale reads were.
//!
//! A read is stale when it returns a write W1 (or absent) although some write W2 completed
//! before the read began and W2 itself began after W1 completed: W2 certainly superseded W1,
//! and the read still missed it. How far behind: the number of such W2.
use serde::Serialize;

use super::guarantee::Violation;
use super::observe::{by_key, completed, invoked, is_final, KeyOps, ObserveError, Source};
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

    /// How many acknowledged writes completed before `t` and began after `after`.
    fn count_between(&self, after: i128, t: u64) -> usize {
        let n = self.writes.partition_point(|w| w.0 < t);
        self.writes[..n]
            .iter()
            .filter(|w| w.1 as i128 > after)
            .count()
    }
}

/// Why a read is not regular, if it is not.
fn judge_read(k: &KeyOps<'_>, done: &Completed<'_>, r: &Op) -> Option<Violation> {
    let sources = k.sources(r);
    if sources.is_empty() {
        return Some(Violation {
            key: k.key.to_string(),
            ops: vec![r.id],
            sentence: format!(
                "{} returned a value that no write which may have taken effect wrote",
                r.describe()
            ),
        });
    }
    let superseder = done.latest_before(r.invoke);
    // A source explains the read when it began before the read ended and nothing acknowledged
    // began after it completed and completed before the read began.
    let mut from_future = None;
    let mut stale = None;
    for &s in &sources {
        if invoked(k.op(s)) > completed(Some(r)) {
            from_future.get_or_insert(s);
            continue;
        }
        match superseder {
            Some((w2s, w2)) if w2.invoke as i128 > completed(k.op(s)) => {
                stale.get_or_insert((s, w2s, w2));
            }
            _ => return None,
        }
    }
    let key = k.key.to_string();
    Some(match (stale, from_future) {
        (Some((s, w2s, w2)), _) => Violation {
            key,
            ops: [r.id]
                .into_iter()
                .chain(k.op(s).map(|o| o.id))
                .chain([w2.id])
                .collect(),
            sentence: format!(
                "{} saw {}, but {} began after that and completed before the read began",
                r.describe(),
                k.describe(s),
                k.describe(w2s)
            ),
        },
        (None, Some(s)) => Violation {
            key,
            ops: [r.id].into_iter().chain(k.op(s).map(|o| o.id)).collect(),
            sentence: format!(
                "{} saw {}, which began only after the read completed",
                r.describe(),
                k.describe(s)
            ),
        },
        // Every source either explains the read or is stale or from the future.
        (None, None) => return None,
    })
}

/// Every stale read in the history.
pub fn check(history: &History) -> Result<Vec<Violation>, ObserveError> {
    let mut out = Vec::new();
    for k in by_key(history)? {
        let done = Completed::new(&k);
        for r in &k.reads {
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
        for r in k.reads.iter().filter(|r| !is_final(r)) {
            s.reads += 1;
            let behind = match judge_read(&k, &done, r) {
                None => 0,
                Some(_) => {
                    // Behind by the fewest versions any explanation of the read allows.
                    let sources = k.sources(r);
                    sources
                        .iter()
                        .map(|&src| done.count_between(completed(k.op(src)), r.invoke))
                        .min()
                        .unwrap_or(0)
                        .max(1)
                }
            };
            if behind > 0 {
                s.stale += 1;
            }
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
