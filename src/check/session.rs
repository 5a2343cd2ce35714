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

use super::guarantee::Violation;
use super::observe::{
    by_key, completed, invoked, is_final, session, version, KeyOps, ObserveError, Source,
};
use crate::history::{History, Op, OpKind, Outcome};

/// A key's ops grouped by session, each in invocation order.
fn sessions<'h>(k: &KeyOps<'h>, history: &'h History) -> BTreeMap<u64, Vec<&'h Op>> {
    let mut out: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    for op in history
        .ops
        .iter()
        .filter(|o| o.key == k.key && o.outcome == Outcome::Ok)
    {
        out.entry(session(op)).or_default().push(op);
    }
    for ops in out.values_mut() {
        ops.sort_by_key(|o| (o.invoke, o.id));
    }
    out
}

fn write_source(k: &KeyOps<'_>, op: &Op) -> Source {
    Source::Write(
        k.writes
            .iter()
            .position(|w| w.id == op.id)
            .unwrap_or(usize::MAX),
    )
}

/// Every read-your-writes violation.
pub fn read_your_writes(history: &History) -> Result<Vec<Violation>, ObserveError> {
    let mut out = Vec::new();
    for k in by_key(history)? {
        for ops in sessions(&k, history).values() {
            let mut last_write: Option<&Op> = None;
            for &op in ops {
                if op.kind != OpKind::Get {
                    last_write = Some(op);
                    continue;
                }
                let Some(wc) = last_write else { continue };
                let sources = k.sources(op);
                if sources.is_empty() {
                    continue; // a read of a value nobody wrote: no-stale-reads reports it
                }
                let superseded = |s: &Source| {
                    k.op(*s).map(|o| o.id) != Some(wc.id) && completed(k.op(*s)) < wc.invoke as i128
                };
                if sources.iter().all(superseded) {
                    out.push(Violation {
                        key: k.key.to_string(),
                        ops: [op.id, wc.id]
                            .into_iter()
                            .chain(k.op(sources[0]).map(|o| o.id))
                            .collect(),
                        sentence: format!(
                            "{} saw {}, but the same client's {} began after that write completed",
                            op.describe(),
                            k.describe(sources[0]),
                            k.describe(write_source(&k, wc))
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
    let mut out = Vec::new();
    for k in by_key(history)? {
        for ops in sessions(&k, history).values() {
            // The earlier read whose observed write began latest (taking, for an ambiguous
            // read, the explanation that began earliest), with that write.
            let mut high: Option<(i128, &Op, Source)> = None;
            for &r in ops.iter().filter(|o| o.kind == OpKind::Get) {
                let sources = k.sources(r);
                if sources.is_empty() {
                    continue;
                }
                if let Some((floor, earlier, seen)) = high {
                    let latest_end = sources
                        .iter()
                        .map(|&s| completed(k.op(s)))
                        .max()
                        .unwrap_or(i128::MIN);
                    if latest_end < floor {
                        out.push(Violation {
                            key: k.key.to_string(),
                            ops: [r.id, earlier.id]
                                .into_iter()
                                .chain(k.op(seen).map(|o| o.id))
                                .chain(k.op(sources[0]).map(|o| o.id))
                                .collect(),
                            sentence: format!(
                                "{} saw {}, which completed before {} began, and the same \
                                 client's earlier {} had already seen that later write",
                                r.describe(),
                                k.describe(sources[0]),
                                k.describe(seen),
                                earlier.name()
                            ),
                        });
                    }
                }
                let (lo, s) = sources
                    .iter()
                    .map(|&s| (invoked(k.op(s)), s))
                    .min()
                    .expect("sources is not empty");
                if high.is_none_or(|(h, _, _)| lo > h) {
                    high = Some((lo, r, s));
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

/// Every monotonic-writes violation.
pub fn monotonic_writes(history: &History) -> Result<Vec<Violation>, ObserveError> {
    let mut out = Vec::new();
    for k in by_key(history)? {
        let settled = final_source(&k);
        for ops in sessions(&k, history).values() {
            let writes: Vec<&Op> = ops
                .iter()
                .copied()
                .filter(|o| o.kind != OpKind::Get)
                .collect();
            for (i, &w1) in writes.iter().enumerate() {
                for &w2 in &writes[i + 1..] {
                    let reason = match (version(w1), version(w2)) {
                        (Some(v1), Some(v2)) if v2 <= v1 => Some(format!(
                            "the store ordered it before the earlier write (timestamp {} < {})",
                            v2.0, v1.0
                        )),
                        _ if settled == Some(write_source(&k, w1)) => Some(
                            "the key settled on the earlier write after the final heal".to_string(),
                        ),
                        _ => None,
                    };
                    if let Some(reason) = reason {
                        out.push(Violation {
                            key: k.key.to_string(),
                            ops: vec![w2.id, w1.id],
                            sentence: format!(
                                "{} was issued after the same client's {} completed, but {reason}",
                                k.describe(write_source(&k, w2)),
                                k.describe(write_source(&k, w1)),
                            ),
                        });
                        break;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Every writes-follow-reads violation.
pub fn writes_follow_reads(history: &History) -> Result<Vec<Violation>, ObserveError> {
    let mut out = Vec::new();
    for k in by_key(history)? {
        let settled = final_source(&k);
        for ops in sessions(&k, history).values() {
            for (i, &r) in ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.kind == OpKind::Get)
            {
                let sources = k.sources(r);
                let [seen @ Source::Write(_)] = sources[..] else {
                    continue;
                };
                let Some(w) = ops[i + 1..].iter().copied().find(|o| o.kind != OpKind::Get) else {
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
                            k.describe(write_source(&k, w)),
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
