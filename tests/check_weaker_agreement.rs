//! The weaker checkers agree with their first, quadratic versions, kept here as the oracle:
//! the same violations (key, ops, sentence, in the same order) and the same staleness figures
//! on thousands of generated histories with ambiguous absent reads, info ops, recorded and
//! missing versions, renumbered sessions and final-phase reads.
use quorumlab::check::stale::Staleness;
use quorumlab::check::{session, stale, Violation};
use quorumlab::history::{History, Op, OpKind, Outcome, Value};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The checkers as they were before they were made O(n log n): the oracle.
#[allow(clippy::all)]
mod oracle {
    use std::collections::BTreeMap;

    use quorumlab::check::observe::{
        by_key, completed, invoked, is_final, session, version, KeyOps, ObserveError, Source,
    };
    use quorumlab::check::stale::Staleness;
    use quorumlab::check::Violation;
    use quorumlab::history::{History, Op, OpKind, Outcome};

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
                        k.op(*s).map(|o| o.id) != Some(wc.id)
                            && completed(k.op(*s)) < wc.invoke as i128
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
                                "the key settled on the earlier write after the final heal"
                                    .to_string(),
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
                    let Some(w) = ops[i + 1..].iter().copied().find(|o| o.kind != OpKind::Get)
                    else {
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
                        _ if settled == Some(seen) => Some(
                            "the key settled on the write read after the final heal".to_string(),
                        ),
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
    pub fn stale_check(history: &History) -> Result<Vec<Violation>, ObserveError> {
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
}

/// A random history: a few keys and clients, puts with values unique per key, deletes, gets
/// that read a written value, absent, or (rarely) a value nobody wrote; ok, info and fail
/// outcomes; versions on some ops; sessions renumbered after info; final-phase reads.
fn generated(rng: &mut ChaCha8Rng) -> History {
    let mut below = |m: u64| rng.next_u64() % m;
    let keys = 1 + below(3);
    let clients = 1 + below(5);
    let n = below(60) as usize;
    let with_versions = below(3);
    let mut ops = Vec::new();
    let mut next_value = vec![0i64; keys as usize];
    let mut written: Vec<Vec<i64>> = vec![Vec::new(); keys as usize];
    let mut t = 0u64;
    for id in 0..n as u64 {
        t += below(4);
        let key = below(keys) as usize;
        let client = below(clients);
        let kind = match below(10) {
            0..=3 => OpKind::Get,
            4..=7 => OpKind::Put,
            _ => OpKind::Delete,
        };
        let mut op = Op::new(id, client, kind, &format!("k{key}"), t);
        let complete = t + below(12);
        op.outcome = match below(10) {
            0 => Outcome::Info,
            1 => Outcome::Fail,
            _ => Outcome::Ok,
        };
        if op.outcome != Outcome::Info {
            op.complete = Some(complete);
        }
        match kind {
            OpKind::Put => {
                next_value[key] += 1;
                let v = next_value[key];
                written[key].push(v);
                op.value = Some(Value::Int(v));
            }
            OpKind::Get if op.outcome == Outcome::Ok => {
                let w = &written[key];
                op.read = match below(8) {
                    0 | 1 => None,
                    2 => Some(Value::Int(1000 + below(3) as i64)),
                    _ if w.is_empty() => None,
                    _ => Some(Value::Int(w[below(w.len() as u64) as usize])),
                };
            }
            _ => {}
        }
        let versioned = match with_versions {
            0 => false,
            1 => true,
            _ => below(2) == 0,
        };
        if versioned {
            op.extra
                .insert("timestamp".into(), (below(20) as i64).into());
            op.extra.insert("writer".into(), (below(3) as i64).into());
        }
        if below(4) == 0 {
            op.extra.insert("session".into(), below(clients).into());
        }
        if kind == OpKind::Get && below(8) == 0 {
            op.extra.insert("phase".into(), "final".into());
        }
        ops.push(op);
    }
    History::new(ops)
}

/// A session checker: the library's or the oracle's.
type Checker = fn(&History) -> Result<Vec<Violation>, quorumlab::check::observe::ObserveError>;

fn same(what: &str, i: usize, h: &History, new: Vec<Violation>, old: Vec<Violation>) {
    assert_eq!(
        new,
        old,
        "{what} differs from the oracle on history {i}:\n{}",
        h.to_json_string()
    );
}

#[test]
fn the_weaker_checkers_agree_with_their_quadratic_versions() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let mut violations = 0;
    for i in 0..4000 {
        let h = generated(&mut rng);
        let (Ok(new), Ok(old)) = (stale::check(&h), oracle::stale_check(&h)) else {
            // Both refuse the same histories (a value written twice cannot happen here).
            assert_eq!(stale::check(&h).is_err(), oracle::stale_check(&h).is_err());
            continue;
        };
        violations += new.len();
        same("no-stale-reads", i, &h, new, old);
        let (new, old): (Staleness, Staleness) = (
            stale::staleness(&h).unwrap(),
            oracle::staleness(&h).unwrap(),
        );
        assert_eq!(
            new,
            old,
            "staleness differs on history {i}:\n{}",
            h.to_json_string()
        );
        let pairs: [(&str, Checker, Checker); 4] = [
            (
                "read-your-writes",
                session::read_your_writes,
                oracle::read_your_writes,
            ),
            (
                "monotonic-reads",
                session::monotonic_reads,
                oracle::monotonic_reads,
            ),
            (
                "monotonic-writes",
                session::monotonic_writes,
                oracle::monotonic_writes,
            ),
            (
                "writes-follow-reads",
                session::writes_follow_reads,
                oracle::writes_follow_reads,
            ),
        ];
        for (what, new, old) in pairs {
            let (new, old) = (new(&h).unwrap(), old(&h).unwrap());
            violations += new.len();
            same(what, i, &h, new, old);
        }
    }
    // The generated histories exercise the checkers, not only their quiet path.
    assert!(violations > 1000, "only {violations} violations generated");
}
