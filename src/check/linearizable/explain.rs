//! Turns where the search got stuck into a witness a person can act on.
use super::search::Stuck;
use super::{Step, Witness};
use crate::history::{show, History, Op, OpKind, Outcome};
use crate::model::{Model, Partition};

pub(super) fn witness<M: Model>(
    model: &M,
    history: &History,
    part: &Partition<M>,
    stuck: &Stuck<M::State>,
) -> Witness {
    let op = &history.ops[part.ops[stuck.op].index];
    let prefix: Vec<Step> = stuck
        .prefix
        .iter()
        .map(|(i, s)| Step {
            op: history.ops[part.ops[*i].index].id,
            state: model.state_json(s),
        })
        .collect();
    let last = stuck
        .prefix
        .last()
        .map(|(i, s)| (&history.ops[part.ops[*i].index], s));
    let held = match last {
        Some((_, s)) => model.describe(s),
        None => model.describe(&model.init()),
    };
    Witness {
        key: part.key.clone(),
        op: op.id,
        prefix,
        sentence: sentence(
            history,
            &part.key,
            op,
            last.map(|(o, _)| o),
            &held,
            stuck.prefix.len(),
        ),
    }
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

fn sentence(
    history: &History,
    key: &str,
    op: &Op,
    last: Option<&Op>,
    held: &str,
    prefix_len: usize,
) -> String {
    let after = match last {
        Some(l) => format!(
            "the longest linearizable prefix ({prefix_len} ops, ending with {}) leaves the key at {held}",
            l.name()
        ),
        None => format!("no op on key {key:?} can be linearized before it (the key starts {held})"),
    };
    if op.kind == OpKind::Get && op.outcome == Outcome::Ok {
        let v = &op.read;
        let has_append = writes(history, key).any(|w| w.kind == OpKind::Append);
        let writes_v = |w: &Op| match w.kind {
            OpKind::Delete => v.is_none(),
            OpKind::Put | OpKind::Cas => w.value == *v,
            _ => false,
        };
        if v.is_some() && !has_append && !writes(history, key).any(&writes_v) {
            return format!(
                "{} read {}, but no op ever wrote {} to key {key:?}",
                prefix(op),
                show(v),
                show(v)
            );
        }
        // The write that completed last before the read began.
        let before = writes(history, key)
            .filter(|w| w.complete.is_some_and(|c| c < op.invoke) && w.outcome == Outcome::Ok)
            .max_by_key(|w| (w.complete, w.id));
        if let Some(w) = before {
            if !writes_v(w) && w.kind != OpKind::Append {
                let what = match w.kind {
                    OpKind::Delete => "deleting the key".to_string(),
                    _ => format!("of {}", show(&w.value)),
                };
                return format!(
                    "{} read {}, but {} {what} completed at {}, before the read began, and no write of {} can be ordered between them",
                    prefix(op),
                    show(v),
                    w.name(),
                    w.complete.unwrap_or_default(),
                    show(v)
                );
            }
        }
        return format!(
            "{} read {}, but {after}, and no order of the concurrent ops explains that read",
            prefix(op),
            show(v)
        );
    }
    format!(
        "{}, but {after}, and no order of the concurrent ops explains it",
        op.describe()
    )
}

/// `get#41 by client 3 [1200..1350]`.
fn prefix(op: &Op) -> String {
    let span = match op.complete {
        Some(c) => format!("[{}..{}]", op.invoke, c),
        None => format!("[{}..]", op.invoke),
    };
    format!("{} by client {} {}", op.name(), op.client, span)
}
