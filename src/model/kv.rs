//! The key-value model of `quorumlab-history/1`: a map of independent registers.
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Effect, Model, PartOp, Partition};
use crate::history::{show, History, HistoryError, OpKind, Outcome, Value};

/// A map of independent registers: get, put, delete, append and cas on each key.
///
/// An absent key reads `None`; delete makes a key absent; append concatenates strings (absent
/// reads as ""; appending to an integer cannot happen); cas swaps when the current value
/// equals `expect`. [`Kv::register`] and [`Kv::cas_register`] restrict the kinds of op.
#[derive(Clone, Copy, Debug)]
pub struct Kv {
    name: &'static str,
    kinds: &'static [OpKind],
}

impl Default for Kv {
    fn default() -> Self {
        Kv::map()
    }
}

impl Kv {
    /// Every kind of op.
    pub fn map() -> Kv {
        Kv {
            name: "kv",
            kinds: &[
                OpKind::Get,
                OpKind::Put,
                OpKind::Delete,
                OpKind::Append,
                OpKind::Cas,
            ],
        }
    }

    /// A read/write register: get and put.
    pub fn register() -> Kv {
        Kv {
            name: "register",
            kinds: &[OpKind::Get, OpKind::Put],
        }
    }

    /// A cas-register: get, put and cas.
    pub fn cas_register() -> Kv {
        Kv {
            name: "cas-register",
            kinds: &[OpKind::Get, OpKind::Put, OpKind::Cas],
        }
    }
}

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read.
    Get,
    /// Write a value.
    Put(Value),
    /// Make the key absent.
    Delete,
    /// Append a string.
    Append(Arc<String>),
    /// Write `new` if the key holds `expect`.
    Cas {
        /// The value compared against.
        expect: Option<Value>,
        /// The value written on a match.
        new: Value,
    },
}

/// What an operation on one key returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The value read.
    Read(Option<Value>),
    /// A write finished.
    Done,
    /// Whether a cas swapped.
    Swapped(bool),
}

impl Model for Kv {
    type State = Option<Value>;
    type Input = KvInput;
    type Output = KvOutput;

    fn name(&self) -> &'static str {
        self.name
    }

    fn init(&self) -> Option<Value> {
        None
    }

    fn step(&self, state: &Option<Value>, input: &KvInput) -> Option<(Option<Value>, KvOutput)> {
        Some(match input {
            KvInput::Get => (state.clone(), KvOutput::Read(state.clone())),
            KvInput::Put(v) => (Some(v.clone()), KvOutput::Done),
            KvInput::Delete => (None, KvOutput::Done),
            KvInput::Append(s) => match state {
                None => (Some(Value::Str(s.clone())), KvOutput::Done),
                Some(Value::Str(cur)) => (Some(Value::from(format!("{cur}{s}"))), KvOutput::Done),
                Some(Value::Int(_)) => return None,
            },
            KvInput::Cas { expect, new } => {
                if state == expect {
                    (Some(new.clone()), KvOutput::Swapped(true))
                } else {
                    (state.clone(), KvOutput::Swapped(false))
                }
            }
        })
    }

    fn is_read_only(&self, input: &KvInput, output: Option<&KvOutput>) -> bool {
        matches!(
            (input, output),
            (KvInput::Get, _) | (KvInput::Cas { .. }, Some(KvOutput::Swapped(false)))
        )
    }

    fn pinned(&self, input: &KvInput, output: &KvOutput) -> Option<Option<Value>> {
        match (input, output) {
            (KvInput::Get, KvOutput::Read(v)) => Some(v.clone()),
            _ => None,
        }
    }

    fn effect(&self, input: &KvInput, output: Option<&KvOutput>) -> Effect<Option<Value>> {
        match (input, output) {
            (KvInput::Get, _) | (KvInput::Cas { .. }, Some(KvOutput::Swapped(false))) => {
                Effect::Same
            }
            (KvInput::Append(_), _) => Effect::Grows,
            (KvInput::Put(v), _) | (KvInput::Cas { new: v, .. }, _) => {
                Effect::Sets(Some(v.clone()))
            }
            (KvInput::Delete, _) => Effect::Sets(None),
        }
    }

    /// Absent grows into any string, and a string into any string it starts with.
    fn extends(&self, later: &Option<Value>, earlier: &Option<Value>) -> bool {
        match (later, earlier) {
            (None, None) => true,
            (Some(Value::Str(_)), None) => true,
            (Some(Value::Str(l)), Some(Value::Str(e))) => l.starts_with(e.as_str()),
            (l, e) => l == e,
        }
    }

    fn partition(&self, history: &History) -> Result<Vec<Partition<Kv>>, HistoryError> {
        let mut parts: BTreeMap<&str, Vec<PartOp<Kv>>> = BTreeMap::new();
        for (index, op) in history.ops.iter().enumerate() {
            if !self.kinds.contains(&op.kind) {
                return Err(HistoryError::Unsupported {
                    id: op.id,
                    kind: op.kind.name(),
                    model: self.name,
                });
            }
            let part = parts.entry(op.key.as_str()).or_default();
            // A fail op did not happen, and a get with no known result constrains nothing.
            if op.outcome == Outcome::Fail || (op.kind == OpKind::Get && op.outcome != Outcome::Ok)
            {
                continue;
            }
            let missing = |field| HistoryError::MissingField {
                op: crate::history::OpLoc::Id(op.id),
                field,
                at: None,
            };
            let input = match op.kind {
                OpKind::Get => KvInput::Get,
                OpKind::Put => KvInput::Put(op.value.clone().ok_or(missing("value"))?),
                OpKind::Delete => KvInput::Delete,
                OpKind::Append => match &op.value {
                    Some(Value::Str(s)) => KvInput::Append(s.clone()),
                    _ => return Err(missing("value")),
                },
                OpKind::Cas => KvInput::Cas {
                    expect: op.expect.clone(),
                    new: op.value.clone().ok_or(missing("value"))?,
                },
                _ => {
                    return Err(HistoryError::Unsupported {
                        id: op.id,
                        kind: op.kind.name(),
                        model: self.name,
                    })
                }
            };
            let (output, ret) = match op.outcome {
                Outcome::Ok => {
                    let out = match op.kind {
                        OpKind::Get => KvOutput::Read(op.read.clone()),
                        OpKind::Cas => KvOutput::Swapped(op.swapped.ok_or(missing("swapped"))?),
                        _ => KvOutput::Done,
                    };
                    (Some(out), Some(op.complete.ok_or(missing("complete"))?))
                }
                _ => (None, None),
            };
            part.push(PartOp {
                index,
                input,
                output,
                call: op.invoke,
                ret,
            });
        }
        Ok(parts
            .into_iter()
            .map(|(key, mut ops)| {
                ops.sort_by_key(|o| (o.call, o.index));
                Partition {
                    key: key.to_string(),
                    ops,
                }
            })
            .collect())
    }

    fn reduce(&self, partition: &mut Partition<Kv>) {
        drop_unobservable(&mut partition.ops);
    }

    /// A string no other value points to was built by appends; one that is shared came from
    /// the history and costs nothing more.
    fn heap_bytes(&self, state: &Option<Value>) -> usize {
        match state {
            Some(Value::Str(s)) if Arc::strong_count(s) == 1 => s.capacity(),
            _ => 0,
        }
    }

    fn describe(&self, state: &Option<Value>) -> String {
        show(state)
    }

    fn state_json(&self, state: &Option<Value>) -> serde_json::Value {
        state
            .as_ref()
            .map_or(serde_json::Value::Null, Value::to_json)
    }
}

/// Leaves out info writes that nothing could observe, so that they do not multiply the
/// search. An info op may always be left out, and dropping one changes no verdict when no ok
/// read and no cas compare could see what it wrote:
///
/// - a put or cas of `v` (or a delete, writing absent): no ok get reads `v` and no cas expects
///   `v`; for an append of `s`: no ok read and no cas expect contains `s` (non-empty);
/// - and the key has no ok cas that did not swap (it observes a value's absence), no append
///   when the op is a delete, and not both appends and integer writes when the op is a put
///   or a cas.
///
/// Then, in any linearization that includes the op, removing it (and the info ops it made
/// ineffective) leaves every op with a known result seeing the same value. A put's string
/// is looked for at the start of the strings read (appends only add after it), an append's
/// anywhere in them, and the scans for appends stop after [`APPEND_SCAN_BYTES`]: the work
/// stays about linear in the history, and an op not shown unobservable is kept.
/// Bytes of read strings the reduction scans for appended strings, at most.
const APPEND_SCAN_BYTES: usize = 1 << 26;

fn drop_unobservable(ops: &mut Vec<PartOp<Kv>>) {
    let mut has_append = false;
    let mut has_int_write = false;
    let mut reads: Vec<&Option<Value>> = Vec::new();
    let mut expects: Vec<&Option<Value>> = Vec::new();
    for o in ops.iter() {
        match (&o.input, &o.output) {
            (KvInput::Cas { .. }, Some(KvOutput::Swapped(false))) => return,
            (KvInput::Get, Some(KvOutput::Read(r))) => reads.push(r),
            (KvInput::Cas { expect, new }, _) => {
                expects.push(expect);
                has_int_write |= matches!(new, Value::Int(_));
            }
            (KvInput::Put(Value::Int(_)), _) => has_int_write = true,
            (KvInput::Append(_), _) => has_append = true,
            _ => {}
        }
    }
    let observed: std::collections::HashSet<&Option<Value>, crate::check::hash::FxBuild> =
        reads.iter().chain(&expects).copied().collect();
    let seen = |v: &Option<Value>| observed.contains(v);
    // The strings read or expected, sorted and without repeats: those that start with `s`
    // follow `s` itself, so one binary search finds whether any does.
    let mut texts: Vec<&str> = observed
        .iter()
        .filter_map(|v| v.as_ref().and_then(Value::as_str))
        .collect();
    texts.sort_unstable();
    let starts_with = |s: &str| {
        let at = texts.partition_point(|t| *t < s);
        texts.get(at).is_some_and(|t| t.starts_with(s))
    };
    // Whether an appended string shows anywhere in what was read costs a scan of every text;
    // past a budget of bytes scanned the remaining appends are kept, which is always sound.
    let text_bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut budget = APPEND_SCAN_BYTES;
    let mut contained: std::collections::HashMap<Arc<String>, bool, crate::check::hash::FxBuild> =
        Default::default();
    let mut contains = |s: &Arc<String>| -> bool {
        if let Some(&c) = contained.get(s) {
            return c;
        }
        if budget < text_bytes {
            return true;
        }
        budget -= text_bytes;
        let c = texts.iter().any(|t| t.contains(s.as_str()));
        contained.insert(s.clone(), c);
        c
    };
    let droppable: Vec<bool> = ops
        .iter()
        .map(|o| {
            if o.output.is_some() {
                return false;
            }
            match &o.input {
                KvInput::Get => false,
                KvInput::Delete => !has_append && !seen(&None),
                KvInput::Put(v) | KvInput::Cas { new: v, .. } => {
                    // A value a put or cas wrote is read as itself, or (with appends) as the
                    // start of what later appends made of it.
                    !(has_append && has_int_write)
                        && match v {
                            Value::Str(s) if has_append => !s.is_empty() && !starts_with(s),
                            _ => !seen(&Some(v.clone())),
                        }
                }
                KvInput::Append(s) => !s.is_empty() && !contains(s),
            }
        })
        .collect();
    let mut k = 0;
    ops.retain(|_| {
        k += 1;
        !droppable[k - 1]
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps() {
        let m = Kv::map();
        let s = m.init();
        let (s, out) = m.step(&s, &KvInput::Append(Arc::new("a".into()))).unwrap();
        assert_eq!(out, KvOutput::Done);
        let (s, _) = m.step(&s, &KvInput::Append(Arc::new("b".into()))).unwrap();
        assert_eq!(s, Some(Value::from("ab")));
        let cas = KvInput::Cas {
            expect: None,
            new: Value::Int(1),
        };
        assert_eq!(m.step(&s, &cas).unwrap().1, KvOutput::Swapped(false));
        let (s, _) = m.step(&s, &KvInput::Delete).unwrap();
        let (s, out) = m.step(&s, &cas).unwrap();
        assert_eq!(out, KvOutput::Swapped(true));
        assert!(m.step(&s, &KvInput::Append(Arc::new("c".into()))).is_none());
    }

    fn part(ops: &[(KvInput, Option<KvOutput>)]) -> Vec<PartOp<Kv>> {
        ops.iter()
            .enumerate()
            .map(|(i, (input, output))| PartOp {
                index: i,
                input: input.clone(),
                output: output.clone(),
                call: 10 * i as u64,
                ret: output.as_ref().map(|_| 10 * i as u64 + 5),
            })
            .collect()
    }

    fn kept(ops: &[(KvInput, Option<KvOutput>)]) -> Vec<usize> {
        let mut p = part(ops);
        drop_unobservable(&mut p);
        p.iter().map(|o| o.index).collect()
    }

    /// Info writes no read could observe are left out: a put's string is looked for at the
    /// start of what was read when the key has appends and as the whole value when not, an
    /// append's anywhere in it.
    #[test]
    fn unobservable_info_writes_are_left_out() {
        let s = |v: &str| Value::from(v);
        let read = |v: &str| (KvInput::Get, Some(KvOutput::Read(Some(s(v)))));
        let put = |v: &str| (KvInput::Put(s(v)), None);
        let append = |v: &str| (KvInput::Append(Arc::new(v.into())), None);
        let done = Some(KvOutput::Done);
        // With appends: "ab" may have become "abc"; "bc" can start nothing read; "c" shows in
        // "abc", "q" nowhere.
        let ops = [
            read("abc"),
            put("ab"),
            put("bc"),
            append("c"),
            append("q"),
            (KvInput::Append(Arc::new("x".into())), done.clone()),
        ];
        assert_eq!(kept(&ops), [0, 1, 3, 5]);
        // Without appends a read returns what one put wrote, whole.
        let ops = [
            read("abc"),
            put("ab"),
            put("abc"),
            (KvInput::Put(s("z")), done),
        ];
        assert_eq!(kept(&ops), [0, 2, 3]);
    }

    /// A string value is shared, not copied, from the history into the partition and into
    /// every model state: one value may be most of a file.
    #[test]
    fn string_values_are_shared_not_copied() {
        let big = Value::from("x".repeat(1 << 20));
        let mut put = crate::history::Op::new(1, 0, OpKind::Put, "k", 0);
        put.value = Some(big.clone());
        put.complete = Some(10);
        put.outcome = Outcome::Ok;
        let mut get = crate::history::Op::new(2, 1, OpKind::Get, "k", 20);
        get.read = Some(big.clone());
        get.complete = Some(30);
        get.outcome = Outcome::Ok;
        let h = History::new(vec![put, get]);
        let parts = Kv::map().partition(&h).unwrap();
        let KvInput::Put(v) = &parts[0].ops[0].input else {
            panic!("a put")
        };
        let (state, _) = Kv::map().step(&None, &parts[0].ops[0].input).unwrap();
        let (Value::Str(a), Value::Str(b), Some(Value::Str(c))) = (&big, v, &state) else {
            panic!("strings")
        };
        assert!(Arc::ptr_eq(a, b) && Arc::ptr_eq(a, c));
    }
}
