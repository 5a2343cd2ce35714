//! JSON reading (with validation) and deterministic writing of `quorumlab-history/1`.
use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::{History, HistoryError, Op, OpKind, OpLoc, Outcome, Value, FORMAT};

pub(super) fn from_slice(bytes: &[u8]) -> Result<History, HistoryError> {
    let doc: Json = serde_json::from_slice(bytes).map_err(|e| HistoryError::Json {
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    let Json::Object(mut top) = doc else {
        return Err(HistoryError::TopLevel(
            "the document is not a JSON object".to_string(),
        ));
    };
    match top.shift_remove("format") {
        Some(Json::String(f)) if f == FORMAT => {}
        Some(other) => {
            return Err(HistoryError::TopLevel(format!(
                "field `format` is {other}, expected \"{FORMAT}\""
            )))
        }
        None => {
            return Err(HistoryError::TopLevel(format!(
                "missing field `format` (expected \"{FORMAT}\")"
            )))
        }
    }
    let ops = match top.shift_remove("ops") {
        Some(Json::Array(ops)) => ops,
        Some(_) => return Err(HistoryError::TopLevel("field `ops` is not an array".into())),
        None => return Err(HistoryError::TopLevel("missing field `ops`".into())),
    };
    let ops = ops
        .into_iter()
        .enumerate()
        .map(|(i, op)| parse_op(i, op))
        .collect::<Result<Vec<_>, _>>()?;
    let h = History { ops, extra: top };
    validate(&h)?;
    Ok(h)
}

fn parse_op(index: usize, op: Json) -> Result<Op, HistoryError> {
    let Json::Object(mut m) = op else {
        return Err(HistoryError::BadField {
            op: OpLoc::Index(index),
            field: "ops",
            reason: "element is not a JSON object".into(),
        });
    };
    let mut loc = OpLoc::Index(index);
    let id = uint(&loc, "id", take(&loc, &mut m, "id")?)?;
    loc = OpLoc::Id(id);
    let client = uint(&loc, "client", take(&loc, &mut m, "client")?)?;
    let kind = match take(&loc, &mut m, "kind")? {
        Json::String(s) => OpKind::from_name(&s).ok_or_else(|| {
            bad(
                &loc,
                "kind",
                format!("unknown kind {s:?} (expected get, put, delete, append or cas)"),
            )
        })?,
        other => return Err(bad(&loc, "kind", format!("{other} is not a string"))),
    };
    let key = match take(&loc, &mut m, "key")? {
        Json::String(s) => s,
        other => return Err(bad(&loc, "key", format!("{other} is not a string"))),
    };
    let invoke = uint(&loc, "invoke", take(&loc, &mut m, "invoke")?)?;
    let outcome = match take(&loc, &mut m, "outcome")? {
        Json::String(s) => Outcome::from_name(&s).ok_or_else(|| {
            bad(
                &loc,
                "outcome",
                format!("unknown outcome {s:?} (expected ok, fail or info)"),
            )
        })?,
        other => return Err(bad(&loc, "outcome", format!("{other} is not a string"))),
    };
    let complete = match m.shift_remove("complete") {
        None | Some(Json::Null) if outcome == Outcome::Info => None,
        None | Some(Json::Null) => {
            return Err(HistoryError::MissingField {
                op: loc,
                field: "complete",
            })
        }
        Some(j) => Some(uint(&loc, "complete", j)?),
    };
    let value = match kind {
        OpKind::Put | OpKind::Append | OpKind::Cas => {
            match json_value(&loc, "value", take(&loc, &mut m, "value")?)? {
                None => {
                    return Err(bad(
                        &loc,
                        "value",
                        "is null; a written value must be an integer or a string".into(),
                    ))
                }
                Some(Value::Int(_)) if kind == OpKind::Append => {
                    return Err(bad(
                        &loc,
                        "value",
                        "append writes strings, not integers".into(),
                    ))
                }
                v => v,
            }
        }
        OpKind::Get | OpKind::Delete => match m.shift_remove("value") {
            None | Some(Json::Null) => None,
            Some(_) => return Err(bad(&loc, "value", format!("{kind} writes no value"))),
        },
    };
    let expect = if kind == OpKind::Cas {
        json_value(&loc, "expect", take(&loc, &mut m, "expect")?)?
    } else {
        drop_null(&loc, &mut m, "expect", kind)?;
        None
    };
    let read = if kind == OpKind::Get && outcome == Outcome::Ok {
        json_value(&loc, "read", take(&loc, &mut m, "read")?)?
    } else {
        // A get that did not complete ok read nothing; keep nothing.
        if kind != OpKind::Get {
            drop_null(&loc, &mut m, "read", kind)?;
        } else {
            m.shift_remove("read");
        }
        None
    };
    let swapped = if kind == OpKind::Cas && outcome == Outcome::Ok {
        match take(&loc, &mut m, "swapped")? {
            Json::Bool(b) => Some(b),
            other => return Err(bad(&loc, "swapped", format!("{other} is not a boolean"))),
        }
    } else {
        if kind != OpKind::Cas {
            drop_null(&loc, &mut m, "swapped", kind)?;
        } else {
            m.shift_remove("swapped");
        }
        None
    };
    Ok(Op {
        id,
        client,
        kind,
        key,
        value,
        expect,
        invoke,
        complete,
        outcome,
        read,
        swapped,
        extra: m,
    })
}

fn bad(loc: &OpLoc, field: &'static str, reason: String) -> HistoryError {
    HistoryError::BadField {
        op: loc.clone(),
        field,
        reason,
    }
}

fn take(loc: &OpLoc, m: &mut Map<String, Json>, field: &'static str) -> Result<Json, HistoryError> {
    m.shift_remove(field)
        .ok_or_else(|| HistoryError::MissingField {
            op: loc.clone(),
            field,
        })
}

/// A field that does not belong to this kind: allowed only as null (then dropped).
fn drop_null(
    loc: &OpLoc,
    m: &mut Map<String, Json>,
    field: &'static str,
    kind: OpKind,
) -> Result<(), HistoryError> {
    match m.shift_remove(field) {
        None | Some(Json::Null) => Ok(()),
        Some(_) => Err(bad(loc, field, format!("does not apply to a {kind}"))),
    }
}

fn uint(loc: &OpLoc, field: &'static str, j: Json) -> Result<u64, HistoryError> {
    j.as_u64()
        .ok_or_else(|| bad(loc, field, format!("{j} is not a non-negative integer")))
}

fn json_value(loc: &OpLoc, field: &'static str, j: Json) -> Result<Option<Value>, HistoryError> {
    match j {
        Json::Null => Ok(None),
        Json::String(s) => Ok(Some(Value::Str(s))),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Ok(Some(Value::Int(i))),
            None => Err(bad(
                loc,
                field,
                format!("{n} is not a 64-bit signed integer"),
            )),
        },
        other => Err(bad(
            loc,
            field,
            format!("{other} is not an integer, a string or null"),
        )),
    }
}

pub(super) fn validate(h: &History) -> Result<(), HistoryError> {
    let mut ids: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        if let Some(first) = ids.insert(op.id, i) {
            return Err(HistoryError::DuplicateId {
                id: op.id,
                first,
                second: i,
            });
        }
        let loc = OpLoc::Id(op.id);
        match op.complete {
            Some(c) if c < op.invoke => {
                return Err(HistoryError::CompleteBeforeInvoke {
                    id: op.id,
                    invoke: op.invoke,
                    complete: c,
                })
            }
            None if op.outcome != Outcome::Info => {
                return Err(HistoryError::MissingField {
                    op: loc,
                    field: "complete",
                })
            }
            _ => {}
        }
        match op.kind {
            OpKind::Put | OpKind::Cas if op.value.is_none() => {
                return Err(HistoryError::MissingField {
                    op: loc,
                    field: "value",
                })
            }
            OpKind::Append if !matches!(op.value, Some(Value::Str(_))) => {
                return Err(bad(&loc, "value", "append needs a string value".into()))
            }
            OpKind::Cas if op.outcome == Outcome::Ok && op.swapped.is_none() => {
                return Err(HistoryError::MissingField {
                    op: loc,
                    field: "swapped",
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
    if matches!(op.kind, OpKind::Put | OpKind::Append | OpKind::Cas) {
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
    if op.kind == OpKind::Get && op.outcome == Outcome::Ok {
        m.insert("read".into(), opt(&op.read));
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
