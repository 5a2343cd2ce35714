//! The store's own account of a run, as a case file keeps it: the events the nodes traced
//! (top-level `events`) and the messages they exchanged, by kind and fate (`messages`).
//!
//! Both are functions of the run alone, so a replay reproduces them byte for byte. The events
//! are bounded ([`EVENT_LIMIT`](crate::system::EVENT_LIMIT)) so that a long run's case file stays small; the counts are
//! always complete.
use quorumlab::store::{ClusterControl, Event, KindCounts, MessageCounts, MessageKind};
use serde_json::{json, Map, Value};
use strum::VariantArray;

/// A run's trace: the events kept (at most [`EVENT_LIMIT`](crate::system::EVENT_LIMIT)) and how many there were.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The events kept, in the order recorded.
    pub events: Vec<Event>,
    /// Every event recorded, kept or not.
    pub recorded: u64,
}

impl Trace {
    /// Takes the trace out of a finished run's control handle.
    pub fn take(control: &ClusterControl) -> Trace {
        Trace {
            events: control.take_trace(),
            recorded: control.traced(),
        }
    }

    /// The `events` field: `{"recorded": N, "list": [...]}`, the list in time order (ties in
    /// the order recorded), each event `{"time": ns, "node": n, "event": kind, ...}`.
    pub fn to_json(&self) -> Value {
        let mut trace: Vec<&Event> = self.events.iter().collect();
        // Stable: events of one instant keep the order the nodes recorded them in. A sent
        // message is recorded when it leaves its node, with the time it was sent.
        trace.sort_by_key(|e| e.at);
        let list: Vec<Value> = trace
            .iter()
            .map(|e| {
                let mut out = Map::new();
                out.insert("time".into(), json!(e.at * 1000));
                out.insert("node".into(), json!(e.node.0));
                if let Ok(Value::Object(fields)) = serde_json::to_value(&e.kind) {
                    for (k, v) in fields {
                        // Every time in a case file is in nanoseconds.
                        let v = match (k.as_str(), v.as_u64()) {
                            ("delay", Some(us)) => json!(us * 1000),
                            _ => v,
                        };
                        out.insert(k, v);
                    }
                }
                Value::Object(out)
            })
            .collect();
        json!({"recorded": self.recorded, "list": list})
    }
}

fn counts_json(c: &KindCounts) -> Value {
    json!({
        "sent": c.sent,
        "held": c.held,
        "lost": c.lost,
        "partitioned": c.partitioned,
        "crashed": c.crashed,
    })
}

/// The `messages` field: totals, then the same by kind (kinds never sent left out).
pub fn messages_json(counts: &MessageCounts) -> Value {
    let mut by_kind = Map::new();
    for &kind in MessageKind::VARIANTS {
        let c = counts.of(kind);
        if c.sent > 0 {
            by_kind.insert(kind.name().into(), counts_json(&c));
        }
    }
    let mut out = counts_json(&counts.total());
    if let Value::Object(o) = &mut out {
        o.insert("by_kind".into(), Value::Object(by_kind));
    }
    out
}
