//! What reads observed: the shared groundwork of the checkers weaker than linearizability.
//!
//! These checkers rely on every put writing a value unique to its key, so that a read names the
//! write it saw. A read of absent is ambiguous (the initial state or any delete); where the
//! history carries the store's `timestamp` and `writer` on reads and deletes, they pick the
//! delete out, and otherwise every candidate is considered and a read counts as a violation
//! only if every way of explaining it is one.
//!
//! "Before" is real time: A is before B when A completed before B was invoked. An info op never
//! completed, so nothing is after it.
use std::collections::BTreeMap;

use crate::history::{History, Op, OpKind, Outcome, TimeUnit, Value};

/// Why a history cannot be judged by the weaker checkers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveError {
    /// Two puts to one key write the same value, so a read cannot name the write it saw.
    #[error(
        "key {key:?}: {first} and {second} both write {value}; this guarantee needs every put to \
         write a value unique to its key"
    )]
    DuplicateValue {
        /// The key.
        key: String,
        /// The first op.
        first: String,
        /// The second op.
        second: String,
        /// The value.
        value: String,
    },
    /// The deadline passed before the checker was done ([`Ticker`]).
    #[error("timeout")]
    Timeout,
    /// The history holds op kinds these checkers do not judge.
    #[error("{op}: {kind} ops are not supported by this guarantee (only get, put and delete)")]
    Unsupported {
        /// The op.
        op: String,
        /// Its kind.
        kind: OpKind,
    },
}

/// A write a read may have observed: the initial state (absent) or one of the key's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The key's state before any write: absent.
    Initial,
    /// The write at this index of [`KeyOps::writes`].
    Write(usize),
}

/// One key's ops, indexed.
#[derive(Debug)]
pub struct KeyOps<'h> {
    /// The key.
    pub key: &'h str,
    /// What the history's times count, for sentences.
    pub unit: TimeUnit,
    /// Puts and deletes that may have taken effect (ok or info), in history order.
    pub writes: Vec<&'h Op>,
    /// Gets with outcome ok, in history order.
    pub reads: Vec<&'h Op>,
    by_value: BTreeMap<&'h Value, usize>,
    deletes: Vec<usize>,
    /// Op id to its index in `writes`.
    by_id: BTreeMap<u64, usize>,
    /// The store's version of each delete that recorded one, to the first such delete.
    delete_by_version: BTreeMap<(i64, i64), usize>,
    /// Deletes as (invoke, latest completion among deletes invoked up to then), by invoke.
    deletes_by_invoke: Vec<(u64, i128)>,
}

/// What a read may have observed, without listing every candidate: what the checkers need
/// to judge a read in logarithmic time, with the same answers as [`KeyOps::sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Explained {
    /// No write that may have taken effect wrote the value read.
    Nothing,
    /// Exactly this source.
    One(Source),
    /// An ambiguous read of absent: the initial state, or any delete invoked before the read
    /// completed (the list [`KeyOps::sources`] returns, the initial state first).
    Absent {
        /// The latest completion among those deletes (`i128::MAX` for an info delete,
        /// `i128::MIN` when there is none).
        latest_delete_end: i128,
    },
}

/// Time of an op's invocation, with the initial state at minus infinity.
pub fn invoked(op: Option<&Op>) -> i128 {
    op.map_or(i128::MIN, |o| o.invoke as i128)
}

/// Time of an op's completion: the initial state at minus infinity, info at plus infinity.
pub fn completed(op: Option<&Op>) -> i128 {
    match op {
        None => i128::MIN,
        Some(o) => o.complete.map_or(i128::MAX, |c| c as i128),
    }
}

/// Whether `a` is before `b` in real time.
pub fn before(a: &Op, b: &Op) -> bool {
    matches!(a.complete, Some(c) if c < b.invoke)
}

/// The session an op belongs to: its `session` field when the history has one (a client that
/// gave up on an op continues under a new `client` id, as in Jepsen), else its client.
pub fn session(op: &Op) -> u64 {
    op.extra
        .get("session")
        .and_then(|s| s.as_u64())
        .unwrap_or(op.client)
}

/// The store's version of a cell an op wrote or read: (timestamp, writer), when recorded.
pub fn version(op: &Op) -> Option<(i64, i64)> {
    let ts = op.extra.get("timestamp")?.as_i64()?;
    let writer = op.extra.get("writer")?.as_i64()?;
    Some((ts, writer))
}

/// Whether an op belongs to a final phase (reads after everything healed and settled).
pub fn is_final(op: &Op) -> bool {
    op.extra.get("phase").and_then(|p| p.as_str()) == Some("final")
}

impl<'h> KeyOps<'h> {
    /// The op behind a source (`None` for the initial state).
    pub fn op(&self, s: Source) -> Option<&'h Op> {
        match s {
            Source::Initial => None,
            Source::Write(i) => Some(self.writes[i]),
        }
    }

    /// How a source reads in a sentence: `put#12 of 5 [0.1..0.2 ms]`, `the initial state`.
    pub fn describe(&self, s: Source) -> String {
        match self.op(s) {
            None => "the initial (absent) state".to_string(),
            Some(op) => {
                let span = match op.complete {
                    Some(_) => self.unit.span(op.invoke, op.complete),
                    None => format!("{} (info)", self.unit.span(op.invoke, None)),
                };
                match op.kind {
                    OpKind::Delete => format!("{} by client {} {span}", op.name(), op.client),
                    _ => format!(
                        "{} of {} by client {} {span}",
                        op.name(),
                        crate::history::show(&op.value),
                        op.client
                    ),
                }
            }
        }
    }

    /// The index in [`KeyOps::writes`] of the write with this op id.
    pub fn write_index(&self, id: u64) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// A write of this key as a source (`Source::Write(usize::MAX)` if it is not one).
    pub fn write_source(&self, op: &Op) -> Source {
        Source::Write(self.write_index(op.id).unwrap_or(usize::MAX))
    }

    /// What a read may have observed, in logarithmic time (see [`Explained`]).
    pub fn explain(&self, read: &Op) -> Explained {
        match &read.read {
            Some(v) => match self.by_value.get(v) {
                Some(&i) => Explained::One(Source::Write(i)),
                None => Explained::Nothing,
            },
            None => {
                if let Some(&d) = version(read).and_then(|ver| self.delete_by_version.get(&ver)) {
                    return Explained::One(Source::Write(d));
                }
                let until = read.complete.unwrap_or(u64::MAX);
                let n = self.deletes_by_invoke.partition_point(|d| d.0 <= until);
                Explained::Absent {
                    latest_delete_end: n
                        .checked_sub(1)
                        .map_or(i128::MIN, |i| self.deletes_by_invoke[i].1),
                }
            }
        }
    }

    /// The writes a read may have observed. Empty when it read a value no write that may have
    /// taken effect wrote. An ambiguous read of absent lists every delete that may explain
    /// it; [`KeyOps::explain`] answers the same in logarithmic time.
    pub fn sources(&self, read: &Op) -> Vec<Source> {
        match &read.read {
            Some(v) => self
                .by_value
                .get(v)
                .map(|&i| vec![Source::Write(i)])
                .unwrap_or_default(),
            None => {
                if let Some(&d) = version(read).and_then(|ver| self.delete_by_version.get(&ver)) {
                    return vec![Source::Write(d)];
                }
                let mut out = vec![Source::Initial];
                out.extend(
                    self.deletes
                        .iter()
                        .filter(|&&d| self.writes[d].invoke <= read.complete.unwrap_or(u64::MAX))
                        .map(|&d| Source::Write(d)),
                );
                out
            }
        }
    }
}

/// Splits a history into keys, in key order.
pub fn by_key(history: &History) -> Result<Vec<KeyOps<'_>>, ObserveError> {
    let mut keys: BTreeMap<&str, KeyOps<'_>> = BTreeMap::new();
    for op in &history.ops {
        let k = keys.entry(op.key.as_str()).or_insert_with(|| KeyOps {
            key: op.key.as_str(),
            unit: history.time_unit(),
            writes: Vec::new(),
            reads: Vec::new(),
            by_value: BTreeMap::new(),
            deletes: Vec::new(),
            by_id: BTreeMap::new(),
            delete_by_version: BTreeMap::new(),
            deletes_by_invoke: Vec::new(),
        });
        match op.kind {
            OpKind::Get => {
                if op.outcome == Outcome::Ok {
                    k.reads.push(op);
                }
            }
            OpKind::Put | OpKind::Delete => {
                if op.outcome == Outcome::Fail {
                    continue;
                }
                let i = k.writes.len();
                k.writes.push(op);
                k.by_id.entry(op.id).or_insert(i);
                match &op.value {
                    Some(v) if op.kind == OpKind::Put => {
                        if let Some(&j) = k.by_value.get(v) {
                            return Err(ObserveError::DuplicateValue {
                                key: op.key.clone(),
                                first: k.writes[j].name(),
                                second: op.name(),
                                value: v.to_string(),
                            });
                        }
                        k.by_value.insert(v, i);
                    }
                    _ => {
                        k.deletes.push(i);
                        if let Some(ver) = version(op) {
                            k.delete_by_version.entry(ver).or_insert(i);
                        }
                    }
                }
            }
            _ => {
                return Err(ObserveError::Unsupported {
                    op: op.name(),
                    kind: op.kind,
                })
            }
        }
    }
    let mut keys: Vec<KeyOps<'_>> = keys.into_values().collect();
    for k in &mut keys {
        let mut ds: Vec<(u64, i128)> = k
            .deletes
            .iter()
            .map(|&d| (k.writes[d].invoke, completed(Some(k.writes[d]))))
            .collect();
        ds.sort_unstable();
        let mut latest = i128::MIN;
        for d in &mut ds {
            latest = latest.max(d.1);
            d.1 = latest;
        }
        k.deletes_by_invoke = ds;
    }
    Ok(keys)
}

/// Watches a deadline for the checkers weaker than linearizability: each calls
/// [`Ticker::tick`] per key, per session and per op it judges, and the clock is read once
/// every [`Ticker::EVERY`] ticks, so a deadline is overrun by at most about that much work
/// (plus grouping one key's ops, which is O(n log n)).
#[derive(Clone, Debug)]
pub struct Ticker {
    deadline: Option<std::time::Instant>,
    left: u32,
}

impl Ticker {
    /// Ticks between two readings of the clock.
    pub const EVERY: u32 = 1 << 10;

    /// A ticker for `deadline` (`None`: never).
    pub fn new(deadline: Option<std::time::Instant>) -> Ticker {
        Ticker { deadline, left: 0 }
    }

    /// `Err(ObserveError::Timeout)` once the deadline has passed.
    pub fn tick(&mut self) -> Result<(), ObserveError> {
        if self.deadline.is_none() {
            return Ok(());
        }
        if self.left > 0 {
            self.left -= 1;
            return Ok(());
        }
        self.left = Self::EVERY;
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => Err(ObserveError::Timeout),
            _ => Ok(()),
        }
    }
}
