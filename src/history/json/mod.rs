//! JSON reading (with validation) and deterministic writing of `quorumlab-history/1`.
use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::{History, HistoryError, Op, OpKind, OpLoc, Outcome, Value, FORMAT};

mod read;
mod strict;

pub(super) use read::{from_slice, type_name};

pub(super) fn validate(h: &History) -> Result<(), HistoryError> {
    let mut ids: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        if let Some(first) = ids.insert(op.id, i) {
            return Err(HistoryError::DuplicateId {
                id: op.id,
                first,
                second: i,
                at: None,
            });
        }
        let loc = OpLoc::Id(op.id);
        match op.complete {
            Some(c) if c < op.invoke => {
                return Err(HistoryError::CompleteBeforeInvoke {
                    id: op.id,
                    invoke: op.invoke,
                    complete: c,
                    at: None,
                })
            }
            None if op.outcome != Outcome::Info => {
                return Err(HistoryError::MissingField {
                    op: loc,
                    field: "complete",
                    at: None,
                })
            }
            _ => {}
        }
        match op.kind {
            OpKind::Put | OpKind::Cas | OpKind::Add | OpKind::Enqueue if op.value.is_none() => {
                return Err(HistoryError::MissingField {
                    op: loc,
                    field: "value",
                    at: None,
                })
            }
            OpKind::Append if !matches!(op.value, Some(Value::Str(_))) => {
                return Err(HistoryError::BadField {
                    op: loc,
                    field: "value",
                    reason: "append needs a string value".into(),
                    at: None,
                })
            }
            OpKind::Members if op.outcome == Outcome::Ok && op.members.is_none() => {
                return Err(HistoryError::MissingField {
                    op: loc,
                    field: "read",
                    at: None,
                })
            }
            OpKind::Cas if op.outcome == Outcome::Ok && op.swapped.is_none() => {
                return Err(HistoryError::MissingField {
                    op: loc,
                    field: "swapped",
                    at: None,
                })
            }
            _ => {}
        }
    }
    // At most one op in flight per client: sort each client's ops by invoke time.
    let mut by_client: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    for op in &h.ops {
        by_client.entry(op.client).or_default().push(op);
    }
    for (client, mut ops) in by_client {
        ops.sort_by_key(|o| (o.invoke, o.complete.unwrap_or(u64::MAX), o.id));
        for w in ops.windows(2) {
            let (a, b) = (w[0], w[1]);
            let busy = match a.complete {
                Some(c) => c > b.invoke,
                None => true,
            };
            if busy {
                return Err(HistoryError::ClientOverlap {
                    client,
                    first: a.id,
                    until: a.complete,
                    second: b.id,
                    invoke: b.invoke,
                    at: None,
                });
            }
        }
    }
    Ok(())
}

pub(super) fn op_to_json(op: &Op) -> Json {
    let mut m = Map::new();
    m.insert("id".into(), op.id.into());
    m.insert("client".into(), op.client.into());
    m.insert("kind".into(), op.kind.name().into());
    m.insert("key".into(), op.key.as_str().into());
    let opt = |v: &Option<Value>| v.as_ref().map_or(Json::Null, Value::to_json);
    if matches!(
        op.kind,
        OpKind::Put | OpKind::Append | OpKind::Cas | OpKind::Add | OpKind::Enqueue
    ) {
        m.insert("value".into(), opt(&op.value));
    }
    if op.kind == OpKind::Cas {
        m.insert("expect".into(), opt(&op.expect));
    }
    m.insert("invoke".into(), op.invoke.into());
    m.insert(
        "complete".into(),
        op.complete.map_or(Json::Null, Json::from),
    );
    m.insert("outcome".into(), op.outcome.name().into());
    if matches!(op.kind, OpKind::Get | OpKind::Dequeue) && op.outcome == Outcome::Ok {
        m.insert("read".into(), opt(&op.read));
    }
    if op.kind == OpKind::Members && op.outcome == Outcome::Ok {
        let set = op.members.as_deref().unwrap_or(&[]);
        m.insert("read".into(), set.iter().map(Value::to_json).collect());
    }
    if op.kind == OpKind::Cas && op.outcome == Outcome::Ok {
        m.insert("swapped".into(), op.swapped.map_or(Json::Null, Json::from));
    }
    for (k, v) in &op.extra {
        if !m.contains_key(k) && k != "format" {
            m.insert(k.clone(), v.clone());
        }
    }
    Json::Object(m)
}

pub(super) fn to_string(h: &History) -> String {
    let mut out = String::from("{\"format\": ");
    out.push_str(&Json::from(FORMAT).to_string());
    for (k, v) in &h.extra {
        if k == "format" || k == "ops" {
            continue;
        }
        out.push_str(", ");
        out.push_str(&Json::from(k.as_str()).to_string());
        out.push_str(": ");
        out.push_str(&v.to_string());
    }
    out.push_str(", \"ops\": [");
    for (i, op) in h.ops.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        out.push_str(&op_to_json(op).to_string());
    }
    out.push_str(if h.ops.is_empty() { "]}\n" } else { "\n]}\n" });
    out
}
