//! Convergence: after the final heal and settle, replicas agree and no acknowledged write is
//! lost.
//!
//! Needs the history's top-level `replicas` field, which the simulator samples after the final
//! heal and settle and before its final reads: `{"key": [{"node": 0, "cell": {"timestamp": t, "writer": n, "value": v|null}|null},
//! ...]}` with one entry per replica of the key. Histories without it (from other systems)
//! cannot be judged on convergence.
use super::guarantee::Violation;
use super::observe::{by_key, completed, KeyOps, ObserveError, Source};
use crate::history::{History, OpKind, Outcome, Value};

/// Why convergence could not be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvergenceError {
    /// The history carries no final replica states.
    #[error("the history has no \"replicas\" field with final replica states")]
    NoReplicaStates,
    /// The `replicas` field is there but is not an object of key -> replica entries.
    #[error("field \"replicas\" is {found}, expected an object of key -> replica entries")]
    ReplicaStatesNotObject {
        /// Its JSON type, in words.
        found: &'static str,
    },
    /// The `replicas` field does not have the expected shape.
    #[error("\"replicas\" for key {key:?}: {reason}")]
    BadReplicaStates {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The history's ops cannot be judged.
    #[error(transparent)]
    Observe(#[from] ObserveError),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cell {
    timestamp: i64,
    writer: i64,
    value: Option<Value>,
}

fn parse_cell(key: &str, v: &serde_json::Value) -> Result<Option<Cell>, ConvergenceError> {
    let bad = |reason: &str| ConvergenceError::BadReplicaStates {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if v.is_null() {
        return Ok(None);
    }
    let timestamp = v
        .get("timestamp")
        .and_then(|t| t.as_i64())
        .ok_or_else(|| bad("cell without integer timestamp"))?;
    let writer = v
        .get("writer")
        .and_then(|t| t.as_i64())
        .ok_or_else(|| bad("cell without integer writer"))?;
    let value = match v.get("value") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(Value::Int(
            n.as_i64().ok_or_else(|| bad("value is not an integer"))?,
        )),
        Some(serde_json::Value::String(s)) => Some(Value::from(s.as_str())),
        Some(_) => return Err(bad("value is neither integer, string nor null")),
    };
    Ok(Some(Cell {
        timestamp,
        writer,
        value,
    }))
}

/// The write a final cell holds, if it can be named.
fn cell_source(k: &KeyOps<'_>, cell: &Option<Cell>) -> Option<Source> {
    match cell {
        None => Some(Source::Initial),
        Some(c) => k
            .writes
            .iter()
            .position(|w| match (&c.value, w.kind) {
                (Some(v), OpKind::Put) => w.value.as_ref() == Some(v),
                (None, OpKind::Delete) => {
                    super::observe::version(w) == Some((c.timestamp, c.writer))
                }
                _ => false,
            })
            .map(Source::Write),
    }
}

/// Every convergence violation: replicas that disagree, and acknowledged writes lost.
pub fn check(history: &History) -> Result<Vec<Violation>, ConvergenceError> {
    check_until(history, None)
}

/// [`check`], giving up with [`ObserveError::Timeout`] once `deadline` has passed.
pub fn check_until(
    history: &History,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<Violation>, ConvergenceError> {
    let mut ticker = super::observe::Ticker::new(deadline);
    let states = match history.extra.get("replicas") {
        None => return Err(ConvergenceError::NoReplicaStates),
        Some(serde_json::Value::Object(states)) => states,
        Some(other) => {
            return Err(ConvergenceError::ReplicaStatesNotObject {
                found: crate::history::json_type_name(other),
            })
        }
    };
    let keys = by_key(history)?;
    let mut out = Vec::new();
    for (key, entries) in states {
        ticker.tick()?;
        let entries = entries
            .as_array()
            .ok_or_else(|| ConvergenceError::BadReplicaStates {
                key: key.clone(),
                reason: "not a list of replica entries".into(),
            })?;
        let mut cells = Vec::new();
        for e in entries {
            // A replica that could not be asked for its cell cannot be judged.
            if e.get("error").is_some() {
                continue;
            }
            let node = e.get("node").and_then(|n| n.as_u64()).ok_or_else(|| {
                ConvergenceError::BadReplicaStates {
                    key: key.clone(),
                    reason: "entry without integer node".into(),
                }
            })?;
            cells.push((
                node,
                parse_cell(key, e.get("cell").unwrap_or(&serde_json::Value::Null))?,
            ));
        }
        // `by_key` returns keys in key order.
        let k = keys
            .binary_search_by(|k| k.key.cmp(key.as_str()))
            .ok()
            .map(|i| &keys[i]);
        let show = |c: &Option<Cell>| match (c, k) {
            (None, _) => "nothing".to_string(),
            (Some(cell), Some(k)) => match cell_source(k, c) {
                Some(s) => format!("{} (timestamp {})", k.describe(s), cell.timestamp),
                None => format!("an unknown cell (timestamp {})", cell.timestamp),
            },
            (Some(cell), None) => format!("a cell with timestamp {}", cell.timestamp),
        };
        if let Some((n2, c2)) = cells.iter().find(|(_, c)| *c != cells[0].1) {
            let (n1, c1) = &cells[0];
            out.push(Violation {
                key: key.clone(),
                ops: Vec::new(),
                sentence: format!(
                    "after the final heal and settle, replicas of key {key:?} disagree: node {n1} \
                     holds {} but node {n2} holds {}",
                    show(c1),
                    show(c2)
                ),
            });
        }
        // Last write wins: the key's final value is the highest cell any replica holds.
        let Some(k) = k else { continue };
        let winner = cells.iter().map(|(_, c)| c.clone()).max().flatten();
        let source = cell_source(k, &winner);
        let end = match source {
            Some(s) => completed(k.op(s)),
            None => continue, // an unknown cell: nothing to compare against
        };
        if let Some(lost) = k
            .writes
            .iter()
            .filter(|w| w.outcome == Outcome::Ok && w.invoke as i128 > end)
            .max_by_key(|w| w.invoke)
        {
            out.push(Violation {
                key: key.clone(),
                ops: [lost.id]
                    .into_iter()
                    .chain(source.and_then(|s| k.op(s)).map(|o| o.id))
                    .collect(),
                sentence: {
                    let lost = k.describe(Source::Write(k.write_index(lost.id).unwrap_or(0)));
                    match &winner {
                        None => format!(
                            "acknowledged {lost} was lost: after the final settle no replica of \
                             key {key:?} holds any cell"
                        ),
                        Some(_) => format!(
                            "acknowledged {lost} was lost: key {key:?} settled on {}, which \
                             completed before that write began",
                            show(&winner)
                        ),
                    }
                },
            });
        }
    }
    Ok(out)
}
