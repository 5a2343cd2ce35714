//! Splitting a history per key, shared by the models of one kind of object per key.
use std::collections::BTreeMap;

use super::{Model, PartOp, Partition};
use crate::history::{History, HistoryError, Op, OpKind, Outcome};

/// Splits `history` per key, for [`Model::partition`]. An op whose kind is not in `kinds` is an
/// error ([`HistoryError::Unsupported`]). `input` gives an op's input (`None`: a required
/// value is missing); `output` its recorded output, asked only for ops that completed ok
/// (`None`: a required result is missing). Fail ops are left out (they did not happen), and so
/// are ops of the kinds in `reads` whose outcome is not ok (a read of unknown result
/// constrains nothing). Ops of each partition are ordered by invocation.
pub fn per_key<M: Model>(
    model: &M,
    history: &History,
    kinds: &[OpKind],
    reads: &[OpKind],
    input: impl Fn(&Op) -> Option<M::Input>,
    output: impl Fn(&Op) -> Option<M::Output>,
) -> Result<Vec<Partition<M>>, HistoryError> {
    let mut parts: BTreeMap<&str, Vec<PartOp<M>>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        let unsupported = || HistoryError::Unsupported {
            id: op.id,
            kind: op.kind.name(),
            model: model.name(),
        };
        if !kinds.contains(&op.kind) {
            return Err(unsupported());
        }
        let part = parts.entry(op.key.as_str()).or_default();
        if op.outcome == Outcome::Fail || (reads.contains(&op.kind) && op.outcome != Outcome::Ok) {
            continue;
        }
        let input = input(op).ok_or(HistoryError::MissingField {
            op: crate::history::OpLoc::Id(op.id),
            field: "value",
            at: None,
        })?;
        let (output, ret) = match op.outcome {
            Outcome::Ok => {
                let out = output(op).ok_or(HistoryError::MissingField {
                    op: crate::history::OpLoc::Id(op.id),
                    field: "read",
                    at: None,
                })?;
                (Some(out), op.complete)
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
