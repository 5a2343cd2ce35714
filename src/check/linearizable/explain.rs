//! Turns where the search got stuck into a witness a person can act on.
//!
//! Every claim a sentence makes is true of the history: the op named cannot be linearized
//! after the prefix given; "the longest linearizable prefix" is said only when no prefix is
//! longer; a write said to come before a read completed before the read began, and no write
//! of the value read can be ordered (in real time) between the two.
use super::search::Stuck;
use super::{Step, Witness};
use crate::history::{show, History, Op, OpKind, Outcome, TimeUnit};
use crate::model::{Model, Partition};

pub(super) fn witness<M: Model>(
    model: &M,
    history: &History,
    part: &Partition<M>,
    stuck: &Stuck<M::State>,
    longest: bool,
) -> Witness {
    let op = &history.ops[part.ops[stuck.op].index];
    // States from the last op back, while their size stays within the bound.
    let mut left = super::PREFIX_STATES_SIZE;
    let mut prefix: Vec<Step> = Vec::with_capacity(stuck.prefix.len());
    for (k, (i, s)) in stuck.prefix.iter().enumerate().rev() {
        let last = k + 1 == stuck.prefix.len();
        let state = (last || left > 0).then(|| model.state_json(s));
        let size = state.as_ref().map_or(0, json_size);
        let state = if last || size <= left {
            left = left.saturating_sub(size);
            state
        } else {
            left = 0;
            None
        };
        prefix.push(Step {
            op: history.ops[part.ops[*i].index].id,
            state,
        });
    }
    prefix.reverse();
    let last = stuck
        .prefix
        .last()
        .map(|(i, s)| (&history.ops[part.ops[*i].index], s));
    let held = match last {
        Some((_, s)) => model.describe(s),
        None => model.describe(&model.init()),
    };
    let context = Context {
        history,
        key: &part.key,
        last: last.map(|(o, _)| o),
        held: &held,
        prefix_len: stuck.prefix.len(),
        longest,
    };
    Witness {
        key: part.key.clone(),
        op: op.id,
        prefix,
        prefix_is_longest: longest,
        sentence: context.sentence(op),
    }
}

struct Context<'a> {
    history: &'a History,
    key: &'a str,
    /// The prefix's last op.
    last: Option<&'a Op>,
    /// The state after the prefix, in words.
    held: &'a str,
    prefix_len: usize,
    /// Whether no linearizable prefix is longer.
    longest: bool,
}

/// The ops that took effect, or may have, on `key`.
fn writes<'h>(history: &'h History, key: &'h str) -> impl Iterator<Item = &'h Op> {
    history.ops.iter().filter(move |o| {
        o.key == key
            && o.kind != OpKind::Get
            && o.outcome != Outcome::Fail
            && !(o.kind == OpKind::Cas && o.swapped == Some(false))
    })
}

impl Context<'_> {
    /// What the prefix says: its length (and whether longest), last op and state.
    fn after(&self) -> String {
        let which = if self.longest {
            "the longest linearizable prefix"
        } else {
            "a linearizable prefix (the search for a longer one ran out of steps)"
        };
        match self.last {
            Some(l) => format!(
                "{which} ({} ops, ending with {}) leaves the key at {}",
                self.prefix_len,
                l.name(),
                self.held
            ),
            None if self.longest => format!(
                "no op on key {:?} can be linearized before it (the key starts {})",
                self.key, self.held
            ),
            None => format!("{which} (0 ops) leaves the key at its start, {}", self.held),
        }
    }

    fn sentence(&self, op: &Op) -> String {
        let (history, key) = (self.history, self.key);
        let unit = history.time_unit();
        if op.kind == OpKind::Get && op.outcome == Outcome::Ok {
            let v = &op.read;
            let has_append = writes(history, key).any(|w| w.kind == OpKind::Append);
            let writes_v = |w: &Op| match w.kind {
                OpKind::Delete => v.is_none(),
                OpKind::Put | OpKind::Cas => w.value == *v,
                _ => false,
            };
            if v.is_some() && !has_append && !writes(history, key).any(writes_v) {
                return format!(
                    "{} read {}, but no op ever wrote {} to key {key:?}",
                    prefix(op, unit),
                    show(v),
                    show(v)
                );
            }
            // A write that completed before the read began, with no write of the value read
            // that real time lets in between (the last such write to complete, if any).
            // A write x of the value read can be ordered between w and the read in real
            // time when it may complete after w begins and begins before the read ends: w blocks
            // when it begins after every such x that may come before the read completes.
            // Found in one pass over the writes, not one per write.
            let blocker = (!has_append)
                .then(|| {
                    let mut latest: Option<Option<u64>> = None; // Some(None): one never completed
                    for x in writes(history, key).filter(|x| writes_v(x)) {
                        if op.complete.is_none_or(|c| c >= x.invoke) {
                            latest = Some(match (latest, x.complete) {
                                (Some(None), _) | (_, None) => None,
                                (Some(Some(l)), Some(c)) => Some(l.max(c)),
                                (None, Some(c)) => Some(c),
                            });
                        }
                    }
                    writes(history, key)
                        .filter(|w| {
                            w.outcome == Outcome::Ok
                                && w.complete.is_some_and(|c| c < op.invoke)
                                && !writes_v(w)
                                && match latest {
                                    None => true,
                                    Some(None) => false,
                                    Some(Some(l)) => l < w.invoke,
                                }
                        })
                        .max_by_key(|w| (w.complete, w.id))
                })
                .flatten();
            if let Some(w) = blocker {
                let what = match w.kind {
                    OpKind::Delete => "deleting the key".to_string(),
                    _ => format!("of {}", show(&w.value)),
                };
                return format!(
                    "{} read {}, but {} {what} completed at {}, before the read began, and no write of {} can be ordered between them",
                    prefix(op, unit),
                    show(v),
                    w.name(),
                    unit.time(w.complete.unwrap_or_default()),
                    show(v)
                );
            }
            return format!(
                "{} read {}, but {}, and no order of the concurrent ops explains that read",
                prefix(op, unit),
                show(v),
                self.after()
            );
        }
        format!(
            "{}, but {}, and no order of the concurrent ops explains it",
            op.describe_in(unit),
            self.after()
        )
    }
}

/// `get#41 by client 3 [1.2..1.35 ms]` (or `[positions 12..13]`).
fn prefix(op: &Op, unit: TimeUnit) -> String {
    let span = unit.span(op.invoke, op.complete);
    format!("{} by client {} {}", op.name(), op.client, span)
}

/// A JSON value's size: one per scalar and array item, string bytes, object keys too.
fn json_size(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::String(s) => s.len().max(1),
        serde_json::Value::Array(items) => 1 + items.iter().map(json_size).sum::<usize>(),
        serde_json::Value::Object(m) => {
            1 + m.iter().map(|(k, v)| k.len() + json_size(v)).sum::<usize>()
        }
        _ => 1,
    }
}
