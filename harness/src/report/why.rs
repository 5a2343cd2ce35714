//! Why a witness happened, from inside the store: one sentence that names, for each op the
//! witness names, its coordinator, consistency level and replicas, the fault it ran into, and
//! where the store had applied the write by the time the read began.
//!
//! Every claim is read from recorded data only: the ops' own fields (`coordinator`, `cl`,
//! `replicas`, `read`, `timestamp`, `writer`), the `nemesis` windows and the `events` the nodes
//! traced. A claim whose data is missing is left out, never guessed.
use std::collections::BTreeSet;

use quorumlab::history::{show, History, Op, OpKind, Outcome};

use super::layout::{time_in, Band};
use super::witness::WitnessView;

/// The most ops one sentence describes.
const MOST_OPS: usize = 4;

/// The ids of the ops a witness sentence names (`get#16`, `put#10`), in order, each once.
pub fn named_ops(sentence: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let bytes = sentence.as_bytes();
    for (i, _) in sentence.match_indices('#') {
        let word_start = sentence[..i]
            .rfind(|c: char| !c.is_ascii_alphabetic())
            .map_or(0, |p| p + 1);
        let word = &sentence[word_start..i];
        if OpKind::from_name(word).is_none() {
            continue;
        }
        let digits: String = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        if let Ok(id) = digits.parse::<u64>() {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

fn node_list(nodes: &[u64]) -> String {
    let names: Vec<String> = nodes.iter().map(|n| format!("n{n}")).collect();
    names.join(", ")
}

/// The fault windows that contain instant `t` (in the timeline's unit), named with what they
/// touched.
fn faults_at(bands: &[Band], t: f64) -> Vec<String> {
    bands
        .iter()
        .filter(|b| b.start <= t && t <= b.end)
        .map(|b| format!("{} {}", b.fault, b.touched))
        .collect()
}

/// Which nodes the trace says applied the cell `(timestamp, writer)` of `key` before `before_ns`.
fn applied_on(history: &History, key: &str, cell: (u64, u64), before_ns: u64) -> Option<Vec<u64>> {
    let events = history.extra.get("events")?;
    let list = events.get("list")?.as_array()?;
    // A list cut short may have left out the very event that matters.
    if events.get("recorded")?.as_u64()? != list.len() as u64 {
        return None;
    }
    let is_apply =
        |e: &serde_json::Value| e.get("event").and_then(|v| v.as_str()) == Some("applied");
    // A system that traces no writes applied (a store of its own, with events of its own
    // kinds) says nothing of where a write was, least of all that it was nowhere.
    if !list.iter().any(is_apply) {
        return None;
    }
    let mut nodes = BTreeSet::new();
    for e in list {
        let time = e.get("time").and_then(|t| t.as_u64()).unwrap_or(u64::MAX);
        if time >= before_ns || !is_apply(e) {
            continue;
        }
        let same = e.get("key").and_then(|k| k.as_str()) == Some(key)
            && e.get("timestamp").and_then(|t| t.as_u64()) == Some(cell.0)
            && e.get("writer").and_then(|w| w.as_u64()) == Some(cell.1);
        if same {
            if let Some(n) = e.get("node").and_then(|n| n.as_u64()) {
                nodes.insert(n);
            }
        }
    }
    Some(nodes.into_iter().collect())
}

fn field_u64(op: &Op, name: &str) -> Option<u64> {
    op.extra.get(name).and_then(|v| v.as_u64())
}

fn field_str<'a>(op: &'a Op, name: &str) -> Option<&'a str> {
    op.extra.get(name).and_then(|v| v.as_str())
}

fn is_read(op: &Op) -> bool {
    matches!(op.kind, OpKind::Get | OpKind::Members | OpKind::Dequeue)
}

/// What one op did, as a clause. `reader` is the read the witness is about, if any: a write's
/// clause then says where the store had applied it when that read began.
fn clause(history: &History, op: &Op, bands: &[Band], reader: Option<&Op>) -> String {
    let name = format!("{}#{}", op.kind, op.id);
    let coordinator = field_u64(op, "coordinator");
    let level = field_str(op, "cl");
    let letter = if is_read(op) { "R" } else { "W" };
    let mut s = name.clone();
    if is_read(op) {
        if let Some(c) = coordinator {
            s.push_str(&format!(" through n{c}"));
        }
        if let Some(l) = level {
            s.push_str(&format!(" ({letter}={l})"));
        }
        if let Some(replicas) = op.extra.get("replicas").and_then(|r| r.as_array()) {
            let nodes: Vec<u64> = replicas.iter().filter_map(|n| n.as_u64()).collect();
            match nodes.len() {
                0 => {}
                1 => s.push_str(&format!(" asked only {}", node_list(&nodes))),
                _ => s.push_str(&format!(" asked {}", node_list(&nodes))),
            }
        }
    } else {
        match (coordinator, level) {
            (Some(c), Some(l)) => s.push_str(&format!(" (coordinator n{c}, {letter}={l})")),
            (Some(c), None) => s.push_str(&format!(" (coordinator n{c})")),
            (None, Some(l)) => s.push_str(&format!(" ({letter}={l})")),
            (None, None) => {}
        }
    }
    let (verb, at) = match (op.outcome, op.complete) {
        (Outcome::Ok, Some(c)) if is_read(op) => (format!("read {}", show(&op.read)), c),
        (Outcome::Ok, Some(c)) => ("completed".to_string(), c),
        (Outcome::Fail, Some(c)) => ("failed".to_string(), c),
        _ => ("never completed (outcome unknown)".to_string(), op.invoke),
    };
    let joiner = if is_read(op) && s.contains(" asked ") {
        " and "
    } else {
        " "
    };
    s.push_str(joiner);
    s.push_str(&verb);
    let unit = history.time_unit();
    let during = faults_at(bands, time_in(unit, at));
    let when = if op.complete.is_some() && op.outcome != Outcome::Info {
        ""
    } else {
        " (invoked"
    };
    if !during.is_empty() {
        if when.is_empty() {
            s.push_str(&format!(" during {}", during.join(" and ")));
        } else {
            s.push_str(&format!("{when} during {})", during.join(" and ")));
        }
    } else if !bands.is_empty() && !is_read(op) {
        s.push_str(&format!(
            " at {}, outside every fault window",
            unit.time(at)
        ));
    }
    if let (Some(r), false) = (reader, is_read(op)) {
        let cell = field_u64(op, "timestamp").zip(field_u64(op, "writer"));
        if let Some(nodes) = cell.and_then(|c| applied_on(history, &op.key, c, r.invoke)) {
            let reader_name = format!("{}#{}", r.kind, r.id);
            if nodes.is_empty() {
                s.push_str(&format!(
                    ", and no replica had applied it when {reader_name} began"
                ));
            } else {
                let only = if nodes.len() == 1 { " only" } else { "" };
                s.push_str(&format!(
                    ", and had been applied on {}{only} when {reader_name} began",
                    node_list(&nodes)
                ));
            }
        }
    }
    s
}

/// The sentence for one guarantee's witness, or `None` when it names no op of the history.
pub fn sentence(history: &History, view: &WitnessView, bands: &[Band]) -> Option<String> {
    let mut ids = view.sentence.as_deref().map(named_ops).unwrap_or_default();
    if ids.is_empty() {
        ids = view.culprit.into_iter().collect();
    }
    let mut ops: Vec<&Op> = ids
        .iter()
        .filter_map(|id| history.ops.iter().find(|o| o.id == *id))
        .take(MOST_OPS)
        .collect();
    if ops.is_empty() {
        return None;
    }
    // The read the witness is about: the culprit when it is a read, else the first read named.
    let reader = view
        .culprit
        .and_then(|c| ops.iter().find(|o| o.id == c && is_read(o)))
        .or_else(|| ops.iter().find(|o| is_read(o)))
        .copied();
    ops.sort_by_key(|o| (o.invoke, o.id));
    let clauses: Vec<String> = ops
        .iter()
        .map(|op| clause(history, op, bands, reader))
        .collect();
    Some(clauses.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::layout;
    use crate::report::witness::view;

    /// put#10 through n1 at W=1 during a partition {0,2}|{1,3,4}, applied on n1 only; get#16
    /// through n0 asks only n0 after the partition healed and reads absent.
    const CASE: &str = r#"{"format": "quorumlab-history/1",
      "nemesis": [
        {"time": 10000000, "action": "start", "index": 0, "fault": "partition",
         "detail": {"sides": [[0, 2], [1, 3, 4]], "bridge": null, "duration_ms": 40}},
        {"time": 50000000, "action": "end", "index": 0, "fault": "partition",
         "detail": {"sides": [[0, 2], [1, 3, 4]], "bridge": null, "duration_ms": 40}}],
      "events": {"recorded": 3, "list": [
        {"time": 21000000, "node": 1, "event": "applied", "key": "k0", "timestamp": 20000, "writer": 1, "tombstone": false},
        {"time": 22000000, "node": 0, "event": "sent", "to": 2, "msg": "write", "delay": 0, "fate": "delivered"},
        {"time": 70000000, "node": 3, "event": "applied", "key": "k0", "timestamp": 20000, "writer": 1, "tombstone": false}]},
      "ops": [
        {"id": 10, "client": 0, "kind": "put", "key": "k0", "value": 5, "invoke": 20000000,
         "complete": 23000000, "outcome": "ok", "coordinator": 1, "cl": "1", "replicas": [1, 3, 4],
         "timestamp": 20000, "writer": 1},
        {"id": 16, "client": 1, "kind": "get", "key": "k0", "invoke": 60000000,
         "complete": 62000000, "outcome": "ok", "read": null, "coordinator": 0, "cl": "1",
         "replicas": [0]}]}"#;

    fn witness(sentence: &str, culprit: u64) -> WitnessView {
        let w = serde_json::json!({"key": "k0", "ops": [culprit], "sentence": sentence});
        view("no_stale_reads", Some(false), Some(&w), None)
    }

    #[test]
    fn names_the_fault_the_coordinators_and_the_replicas() {
        let h = History::from_json_str(CASE).unwrap();
        let t = layout::timeline(&h);
        let v = witness(
            "get#16 by client 1 [60..62 ms] read absent, but put#10 of 5 completed at 23 ms",
            16,
        );
        assert_eq!(
            sentence(&h, &v, &t.bands).unwrap(),
            "put#10 (coordinator n1, W=1) completed during partition {0,2}|{1,3,4}, and had \
             been applied on n1 only when get#16 began; get#16 through n0 (R=1) asked only n0 \
             and read absent"
        );
    }

    #[test]
    fn without_events_or_faults_it_claims_nothing_it_cannot_read() {
        let mut h = History::from_json_str(CASE).unwrap();
        h.extra.remove("events");
        h.extra.remove("nemesis");
        let v = witness("get#16 read absent, but put#10 of 5 completed", 16);
        assert_eq!(
            sentence(&h, &v, &[]).unwrap(),
            "put#10 (coordinator n1, W=1) completed; get#16 through n0 (R=1) asked only n0 and \
             read absent"
        );
        // A cut event list cannot say where a write was not applied.
        let mut h = History::from_json_str(CASE).unwrap();
        h.extra["events"]["recorded"] = serde_json::json!(9);
        let t = layout::timeline(&h);
        assert!(!sentence(&h, &v, &t.bands).unwrap().contains("applied"));
        // Nor can a trace of other kinds of events (another system's): it records no apply.
        let mut h = History::from_json_str(CASE).unwrap();
        let list = h.extra["events"]["list"].as_array_mut().unwrap();
        list.retain(|e| e["event"] != "applied");
        let n = list.len();
        h.extra["events"]["recorded"] = serde_json::json!(n);
        assert!(!sentence(&h, &v, &t.bands).unwrap().contains("applied"));
    }

    #[test]
    fn a_write_outside_every_fault_and_an_unknown_outcome() {
        let h = History::from_json_str(
            r#"{"format": "quorumlab-history/1",
              "nemesis": [{"time": 100000000, "action": "start", "index": 0, "fault": "crash",
                "detail": {"nodes": [2], "down_ms": 50}}],
              "ops": [
                {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1, "invoke": 0,
                 "complete": 5000000, "outcome": "ok", "coordinator": 2, "cl": "quorum"},
                {"id": 2, "client": 1, "kind": "put", "key": "x", "value": 2,
                 "invoke": 120000000, "outcome": "info", "coordinator": 2, "cl": "quorum"}]}"#,
        )
        .unwrap();
        let t = layout::timeline(&h);
        let v = witness("put#2 and put#1", 2);
        assert_eq!(
            sentence(&h, &v, &t.bands).unwrap(),
            "put#1 (coordinator n2, W=quorum) completed at 5 ms, outside every fault window; \
             put#2 (coordinator n2, W=quorum) never completed (outcome unknown) (invoked during \
             crash n2)"
        );
    }

    #[test]
    fn op_names_are_read_from_the_sentence() {
        assert_eq!(
            named_ops("get#52 by client 7 read 1, but put#51 of 2 and put#51 again; seed#3"),
            [52, 51]
        );
    }
}
