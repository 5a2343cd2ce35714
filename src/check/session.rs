//! Session guarantees: read-your-writes, monotonic reads, monotonic writes, writes-follow-reads.
//!
//! A session is a client's sequence of ops on one key, in invocation order (see
//! [`observe::session`](super::observe::session) for clients renumbered after an info op).
//!
//! - read-your-writes: after a session's acknowledged write Wc, its reads never return a write
//!   that completed before Wc began (or the initial state).
//! - monotonic reads: a read never returns a write that completed before a write the session
//!   read earlier began.
//! - monotonic writes and writes-follow-reads need the store's version order: the `timestamp`
//!   and `writer` the store recorded on writes and reads, and the final-phase reads (what the
//!   store settled on). A later write of the session with a lower version, or a final value
//!   that the session's later write should have superseded, is a violation.
use std::collections::BTreeMap;
use std::time::Instant;

use super::guarantee::Violation;
use super::observe::{
    by_key, completed, invoked, is_final, session, version, Explained, KeyOps, ObserveError,
    Source, Ticker,
};
use crate::history::{History, Op, OpKind, Outcome};

/// A key's ops grouped by session, each in invocation order: its ok reads and ok writes.
fn sessions<'h>(k: &KeyOps<'h>) -> BTreeMap<u64, Vec<&'h Op>> {
    let mut out: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    let ok_writes = k.writes.iter().filter(|o| o.outcome == Outcome::Ok);
    for &op in k.reads.iter().chain(ok_writes) {
        out.entry(session(op)).or_default().push(op);
    }
    for ops in out.values_mut() {
        ops.sort_by_key(|o| (o.invoke, o.id));
    }
    out
}

/// Every read-your-writes violation.
pub fn read_your_writes(history: &History) -> Result<Vec<Violation>, ObserveError> {
    read_your_writes_until(history, None)
}

/// [`read_your_writes`], giving up with [`ObserveError::Timeout`] once `deadline` has passed.
pub fn read_your_writes_until(
    history: &History,
    deadline: Option<Instant>,
) -> Result<Vec<Violation>, ObserveError> {
    let mut ticker = Ticker::new(deadline);
    let mut out = Vec::new();
    let keys = by_key(history)?;
    for k in keys {
        ticker.tick()?;
        for ops in sessions(&k).values() {
            ticker.tick()?;
            let mut last_write: Option<&Op> = None;
            for &op in ops {
                ticker.tick()?;
                if op.kind != OpKind::Get {
                    last_write = Some(op);
                    continue;
                }
                let Some(wc) = last_write else { continue };
                // Superseded: every write the read may have seen is not Wc and completed
                // before Wc began. For an ambiguous absent, the initial state always is, and
                // the deletes are when the latest-completing one is (Wc itself, if a
                // candidate, completed after it began).
                let (superseded, seen) = match k.explain(op) {
                    // A read of a value nobody wrote: no-stale-reads reports it.
                    Explained::Nothing => continue,
                    Explained::One(s) => (
                        k.op(s).map(|o| o.id) != Some(wc.id)
                            && completed(k.op(s)) < wc.invoke as i128,
                        s,
                    ),
                    Explained::Absent { latest_delete_end } => {
                        (latest_delete_end < wc.invoke as i128, Source::Initial)
                    }
                };
                if superseded {
                    out.push(Violation {
                        key: k.key.to_string(),
                        ops: [op.id, wc.id]
                            .into_iter()
                            .chain(k.op(seen).map(|o| o.id))
                            .collect(),
                        sentence: format!(
                            "{} saw {}, but the same client's {} began after that write completed",
                            op.describe_in(k.unit),
                            k.describe(seen),
                            k.describe(k.write_source(wc))
                        ),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Every monotonic-reads violation.
pub fn monotonic_reads(history: &History) -> Result<Vec<Violation>, ObserveError> {
    monotonic_reads_until(history, None)
}

/// [`monotonic_reads`], giving up with [`ObserveError::Timeout`] once `deadline` has passed.
pub fn monotonic_reads_until(
    history: &History,
    deadline: Option<Instant>,
) -> Result<Vec<Violation>, ObserveError> {
    let mut ticker = Ticker::new(deadline);
    let mut out = Vec::new();
    let keys = by_key(history)?;
    for k in keys {
        ticker.tick()?;
        for ops in sessions(&k).values() {
            ticker.tick()?;
            // The earlier read whose observed write began latest (taking, for an ambiguous
            // read, the explanation that began earliest), with that write.
            let mut high: Option<(i128, &Op, Source)> = None;
            for &r in ops.iter().filter(|o| o.kind == OpKind::Get) {
                ticker.tick()?;
                // (latest completion, earliest invocation) over the read's explanations; the
                // initial state of an ambiguous absent begins earliest.
                let (latest_end, lo, first) = match k.explain(r) {
                    Explained::Nothing => continue,
                    Explained::One(s) => (completed(k.op(s)), invoked(k.op(s)), s),
                    Explained::Absent { latest_delete_end } => {
                        (latest_delete_end, i128::MIN, Source::Initial)
                    }
                };
                if let Some((floor, earlier, seen)) = high {
                    if latest_end < floor {
                        out.push(Violation {
                            key: k.key.to_string(),
                            ops: [r.id, earlier.id]
                                .into_iter()
                                .chain(k.op(seen).map(|o| o.id))
                                .chain(k.op(first).map(|o| o.id))
                                .collect(),
                            sentence: format!(
                                "{} saw {}, which completed before {} began, and the same \
                                 client's earlier {} had already seen that later write",
                                r.describe_in(k.unit),
                                k.describe(first),
                                k.describe(seen),
                                earlier.name()
                            ),
                        });
                    }
                }
                if high.is_none_or(|(h, _, _)| lo > h) {
                    high = Some((lo, r, first));
                }
            }
        }
    }
    Ok(out)
}

/// The version a final-phase read settled on for this key, as a source.
fn final_source(k: &KeyOps<'_>) -> Option<Source> {
    let finals: Vec<&Op> = k.reads.iter().copied().filter(|r| is_final(r)).collect();
    let last = finals.last()?;
    let sources = k.sources(last);
    (sources.len() == 1).then(|| sources[0])
}

/// For each entry, the first later entry that is not greater (both present): the next write
/// of a session the store ordered at or before this one. One pass with a stack, O(n).
fn next_not_greater<T: Ord + Copy>(versions: &[Option<T>]) -> Vec<Option<usize>> {
    let mut next = vec![None; versions.len()];
    // Indices to the right whose versions, from the top, never increase.
    let mut stack: Vec<(usize, T)> = Vec::new();
    for (i, v) in versions.iter().enumerate().rev() {
        let Some(v) = *v else { continue };
        while stack.last().is_some_and(|&(_, top)| top > v) {
            stack.pop();
        }
        next[i] = stack.last().map(|&(j, _)| j);
        stack.push((i, v));
    }
    next
}

/// Every monotonic-writes violation.
pub fn monotonic_writes(history: &History) -> Result<Vec<Violation>, ObserveError> {
    monotonic_writes_until(history, None)
}

/// [`monotonic_writes`], giving up with [`ObserveError::Timeout`] once `deadline` has passed.
pub fn monotonic_writes_until(
    history: &History,
    deadline: Option<Instant>,
) -> Result<Vec<Violation>, ObserveError> {
    let mut ticker = Ticker::new(deadline);
    let mut out = Vec::new();
    let keys = by_key(history)?;
    for k in keys {
        ticker.tick()?;
        let settled = final_source(&k);
        for ops in sessions(&k).values() {
            ticker.tick()?;
            let writes: Vec<&Op> = ops
                .iter()
                .copied()
                .filter(|o| o.kind != OpKind::Get)
                .collect();
            let versions: Vec<Option<(i64, i64)>> = writes.iter().map(|w| version(w)).collect();
            let next = next_not_greater(&versions);
            // Each write is reported with the first later write of the session that breaks the
            // order: if the key settled on this write, the very next one does; otherwise the
            // first the store ordered at or before it.
            for (i, &w1) in writes.iter().enumerate() {
                ticker.tick()?;
                let settled_here = settled == Some(k.write_source(w1));
                let j = if settled_here {
                    Some(i + 1).filter(|&j| j < writes.len())
                } else {
                    next[i]
                };
                let Some(j) = j else { continue };
                let w2 = writes[j];
                let reason = match (versions[i], versions[j]) {
                    (Some(v1), Some(v2)) if v2 <= v1 => format!(
                        "the store ordered it before the earlier write (timestamp {} < {})",
                        v2.0, v1.0
                    ),
                    _ => "the key settled on the earlier write after the final heal".to_string(),
                };
                out.push(Violation {
                    key: k.key.to_string(),
                    ops: vec![w2.id, w1.id],
                    sentence: format!(
                        "{} was issued after the same client's {} completed, but {reason}",
                        k.describe(k.write_source(w2)),
                        k.describe(k.write_source(w1)),
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Every writes-follow-reads violation.
pub fn writes_follow_reads(history: &History) -> Result<Vec<Violation>, ObserveError> {
    writes_follow_reads_until(history, None)
}

/// [`writes_follow_reads`], giving up with [`ObserveError::Timeout`] once `deadline` has passed.
pub fn writes_follow_reads_until(
    history: &History,
    deadline: Option<Instant>,
) -> Result<Vec<Violation>, ObserveError> {
    let mut ticker = Ticker::new(deadline);
    let mut out = Vec::new();
    let keys = by_key(history)?;
    for k in keys {
        ticker.tick()?;
        let settled = final_source(&k);
        for ops in sessions(&k).values() {
            ticker.tick()?;
            // next_write[i]: the session's first write after position i.
            let mut next_write = vec![None; ops.len()];
            let mut later = None;
            for (i, &o) in ops.iter().enumerate().rev() {
                next_write[i] = later;
                if o.kind != OpKind::Get {
                    later = Some(o);
                }
            }
            for (i, &r) in ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.kind == OpKind::Get)
            {
                ticker.tick()?;
                // Only a read that names exactly one write is judged.
                let Explained::One(seen @ Source::Write(_)) = k.explain(r) else {
                    continue;
                };
                let Some(w) = next_write[i] else {
                    continue;
                };
                let seen_op = k.op(seen).expect("a write source has an op");
                if seen_op.id == w.id {
                    continue;
                }
                let reason = match (version(seen_op).or_else(|| version(r)), version(w)) {
                    (Some(vs), Some(vw)) if vw <= vs => Some(format!(
                        "the store ordered it before the write read (timestamp {} <= {})",
                        vw.0, vs.0
                    )),
                    _ if settled == Some(seen) => {
                        Some("the key settled on the write read after the final heal".to_string())
                    }
                    _ => None,
                };
                if let Some(reason) = reason {
                    out.push(Violation {
                        key: k.key.to_string(),
                        ops: vec![w.id, r.id, seen_op.id],
                        sentence: format!(
                            "{} was issued after the same client's {} saw {}, but {reason}",
                            k.describe(k.write_source(w)),
                            r.name(),
                            k.describe(seen)
                        ),
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::next_not_greater;

    #[test]
    fn next_not_greater_skips_unknown_versions() {
        let v = [Some(3), None, Some(5), Some(3), Some(1), None];
        assert_eq!(
            next_not_greater(&v),
            vec![Some(3), None, Some(3), Some(4), None, None]
        );
    }
}
