//! The timeline's layout data: one section per key, one lane per client, one bar per op, one
//! band per fault window. Pure data, computed without a browser, so tests can hold it against
//! the history; the page's script only maps it to pixels.
//!
//! Times are in the history's own unit as the report shows it ([`time_in`]): milliseconds when
//! the history counts nanoseconds, positions when it counts positions in its source.
use std::collections::{BTreeMap, BTreeSet};

use quorumlab::history::{show, show_set, History, Op, OpKind, Outcome, TimeUnit};
use serde::Serialize;

/// Nanoseconds, the history's unit, to milliseconds, the report's.
pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// A history's time as the report shows it: milliseconds when the history counts nanoseconds,
/// the position itself when it counts positions in its source (which order the ops but
/// measure no time, so they are never scaled to look like milliseconds).
pub fn time_in(unit: TimeUnit, t: u64) -> f64 {
    match unit {
        TimeUnit::Nanos => ms(t),
        TimeUnit::Position => t as f64,
    }
}

/// A time in milliseconds for text: exact, without trailing zeros (`1768.000001`, `42`).
pub fn ms_text(ns: u64) -> String {
    quorumlab::history::ms(ns)
}

/// The whole timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timeline {
    /// What the history's times count; every time below is in its unit ([`time_in`]).
    #[serde(skip)]
    pub unit: TimeUnit,
    /// Earliest time shown.
    pub t0: f64,
    /// Latest time shown: the last completion, invocation or fault end.
    pub t1: f64,
    /// One section per key, in key order.
    pub sections: Vec<Section>,
    /// Fault windows, in start order.
    pub bands: Vec<Band>,
}

/// One key's ops.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Section {
    /// The key.
    pub key: String,
    /// The clients with an op on this key, one lane each, in client order.
    pub lanes: Vec<u64>,
    /// The key's ops, in history order.
    pub bars: Vec<Bar>,
}

/// One op drawn from invoke to complete.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bar {
    /// Index of the op in the history (and in the report's records).
    pub index: usize,
    /// The op's id.
    pub id: u64,
    /// Lane within the section.
    pub lane: usize,
    /// Invocation.
    pub start: f64,
    /// Completion; `None` for an info op that never completed (drawn open-ended).
    pub end: Option<f64>,
    /// `ok`, `fail` or `info`.
    pub outcome: &'static str,
    /// Kind and value or read, e.g. `put 5`, `get absent`.
    pub label: String,
}

/// One fault window drawn over every lane.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Band {
    /// The fault's index in the schedule.
    pub index: u64,
    /// The fault's name (`crash`, `partition`, ...).
    pub fault: String,
    /// Start.
    pub start: f64,
    /// End (the timeline's end when the history has no end event for it).
    pub end: f64,
    /// What it touched, in words: `n0, n1` or `{0,2}|{1,3,4}`.
    pub touched: String,
}

/// A value for a bar's label, cut short.
fn short(s: String) -> String {
    match s.char_indices().nth(24) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The bar's label: the kind and what was written or read.
pub fn label(op: &Op) -> String {
    let v = || short(show(&op.value));
    match (op.kind, op.outcome) {
        (OpKind::Get, Outcome::Ok) => format!("get {}", short(show(&op.read))),
        (OpKind::Members, Outcome::Ok) => {
            format!(
                "members {}",
                short(show_set(op.members.as_deref().unwrap_or(&[])))
            )
        }
        (OpKind::Dequeue, Outcome::Ok) => format!("dequeue {}", short(show(&op.read))),
        (OpKind::Get | OpKind::Members | OpKind::Dequeue, _) => format!("{} ?", op.kind),
        (OpKind::Cas, _) => {
            let mark = match op.swapped {
                Some(true) => " ✓",
                Some(false) => " ✗",
                None => "",
            };
            format!("cas {}→{}{mark}", short(show(&op.expect)), v())
        }
        (OpKind::Delete | OpKind::Acquire | OpKind::Release, _) => op.kind.to_string(),
        (kind, _) => format!("{kind} {}", v()),
    }
}

/// What a fault's `detail` says it touched.
pub fn touched(fault: &str, detail: &serde_json::Value) -> String {
    let list = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    };
    if let Some(nodes) = detail.get("nodes") {
        let names: Vec<String> = list(nodes).iter().map(|n| format!("n{n}")).collect();
        return names.join(", ");
    }
    if let Some(node) = detail.get("node") {
        return format!("n{node}");
    }
    if let Some(sides) = detail.get("sides").and_then(|s| s.as_array()) {
        let parts: Vec<String> = sides
            .iter()
            .map(|s| format!("{{{}}}", list(s).join(",")))
            .collect();
        let mut text = parts.join("|");
        if let Some(b) = detail.get("bridge").filter(|b| !b.is_null()) {
            text.push_str(&format!(" bridged by n{b}"));
        }
        return text;
    }
    if detail.get("shape").and_then(|s| s.as_str()) == Some("ring") {
        return "ring: each node sees only its neighbours".to_string();
    }
    if let Some(p) = detail.get("percent") {
        return format!("every link, {p}% of messages lost");
    }
    if let Some(m) = detail.get("max_ms") {
        return format!("every link, up to {m} ms extra latency");
    }
    format!("{fault}: {detail}")
}

/// The fault windows in a history's `nemesis` field: the simulator's start and end events
/// paired by index, or a Jepsen EDN history's nemesis ops ([`jepsen_bands`]); times in the
/// history's unit ([`time_in`]), `t_end` too.
pub fn bands(history: &History, t_end: f64) -> Vec<Band> {
    let Some(events) = history.extra.get("nemesis").and_then(|n| n.as_array()) else {
        return Vec::new();
    };
    let unit = history.time_unit();
    let mut out = if events.iter().any(|e| e.get("action").is_some()) {
        simulator_bands(events, unit)
    } else {
        jepsen_bands(events, unit)
    };
    for b in &mut out {
        if b.end.is_nan() {
            b.end = t_end.max(b.start);
        }
    }
    out
}

/// Which window a Jepsen nemesis `:f` opens or closes: `(true, name)` for a start, `(false,
/// name)` for a stop. `:start`/`:stop` is the window `nemesis`, `:start-X`/`:stop-X` the
/// window `X`, `:pause`/`:resume` the window `pause`.
fn jepsen_window(f: &str) -> Option<(bool, String)> {
    let f = f.strip_prefix(':').unwrap_or(f);
    match f {
        "start" => Some((true, "nemesis".into())),
        "stop" => Some((false, "nemesis".into())),
        "pause" => Some((true, "pause".into())),
        "resume" => Some((false, "pause".into())),
        _ => {
            if let Some(x) = f.strip_prefix("start-") {
                Some((true, x.into()))
            } else {
                f.strip_prefix("stop-").map(|x| (false, x.into()))
            }
        }
    }
}

/// A Jepsen EDN history's nemesis ops as windows: each opens at the first event of a start
/// (`:start`, `:start-X`, `:pause`) and closes at the last event of the stop that follows
/// (`:stop`, `:stop-X`, `:resume`; a nemesis op is logged twice, invoked and completed). What
/// it touched is the last non-nil value of its start (the completion says what was done).
/// A window with no stop runs to the end of the timeline. Times are in `unit` ([`time_in`]).
pub fn jepsen_bands(events: &[serde_json::Value], unit: TimeUnit) -> Vec<Band> {
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut stopping: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Band> = Vec::new();
    for e in events {
        let (Some(time), Some(f)) = (
            e.get("time").and_then(|t| t.as_u64()),
            e.get("f").and_then(|f| f.as_str()),
        ) else {
            continue;
        };
        let Some((starts, window)) = jepsen_window(f) else {
            continue;
        };
        let value = e
            .get("value")
            .filter(|v| !v.is_null())
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .map(|s| match s.char_indices().nth(60) {
                Some((i, _)) => format!("{}…", &s[..i]),
                None => s,
            });
        match (starts, open.get(&window), stopping.get(&window)) {
            (true, Some(&i), _) => {
                if let Some(v) = value {
                    out[i].touched = v;
                }
            }
            (true, None, _) => {
                stopping.remove(&window);
                open.insert(window.clone(), out.len());
                out.push(Band {
                    index: out.len() as u64,
                    fault: window,
                    start: time_in(unit, time),
                    end: f64::NAN,
                    touched: value.unwrap_or_default(),
                });
            }
            (false, Some(&i), _) => {
                out[i].end = time_in(unit, time);
                open.remove(&window);
                stopping.insert(window, i);
            }
            (false, None, Some(&i)) => out[i].end = time_in(unit, time),
            (false, None, None) => {}
        }
    }
    out
}

/// The simulator's fault events (`action` start or end, paired by `index`) as windows.
fn simulator_bands(events: &[serde_json::Value], unit: TimeUnit) -> Vec<Band> {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut out: Vec<Band> = Vec::new();
    for e in events {
        let (Some(time), Some(action)) = (
            e.get("time").and_then(|t| t.as_u64()),
            e.get("action").and_then(|a| a.as_str()),
        ) else {
            continue;
        };
        let index = e.get("index").and_then(|i| i.as_u64()).unwrap_or(0);
        let fault = e
            .get("fault")
            .and_then(|f| f.as_str())
            .unwrap_or("fault")
            .to_string();
        match action {
            "start" => {
                let detail = e.get("detail").cloned().unwrap_or_default();
                open.insert(index, out.len());
                out.push(Band {
                    index,
                    touched: touched(&fault, &detail),
                    fault,
                    start: time_in(unit, time),
                    end: f64::NAN,
                });
            }
            "end" => {
                if let Some(i) = open.remove(&index) {
                    out[i].end = time_in(unit, time);
                }
            }
            _ => {}
        }
    }
    out
}

/// Lays out a history, in its own unit of time ([`time_in`]).
pub fn timeline(history: &History) -> Timeline {
    let unit = history.time_unit();
    let at = |t: u64| time_in(unit, t);
    let mut t0 = u64::MAX;
    let mut t1 = 0u64;
    for op in &history.ops {
        t0 = t0.min(op.invoke);
        t1 = t1.max(op.complete.unwrap_or(op.invoke));
    }
    if t0 == u64::MAX {
        t0 = 0;
    }
    // Fault events widen the window so a fault before the first op or after the last shows.
    let times = history
        .extra
        .get("nemesis")
        .and_then(|n| n.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("time").and_then(|t| t.as_u64()));
    for t in times {
        t0 = t0.min(t);
        t1 = t1.max(t);
    }
    let t1 = t1.max(t0);
    let mut keys: BTreeMap<&str, (BTreeSet<u64>, Vec<usize>)> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        let entry = keys.entry(op.key.as_str()).or_default();
        entry.0.insert(op.client);
        entry.1.push(i);
    }
    let sections = keys
        .into_iter()
        .map(|(key, (clients, indices))| {
            let lanes: Vec<u64> = clients.into_iter().collect();
            let bars = indices
                .into_iter()
                .map(|i| {
                    let op = &history.ops[i];
                    Bar {
                        index: i,
                        id: op.id,
                        lane: lanes.binary_search(&op.client).unwrap_or(0),
                        start: at(op.invoke),
                        end: op.complete.map(at),
                        outcome: op.outcome.name(),
                        label: label(op),
                    }
                })
                .collect();
            Section {
                key: key.to_string(),
                lanes,
                bars,
            }
        })
        .collect();
    Timeline {
        unit,
        t0: at(t0),
        t1: at(t1),
        bands: bands(history, at(t1)),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        History::from_json_str(
            r#"{"format": "quorumlab-history/1",
            "nemesis": [
              {"time": 5000000, "action": "start", "index": 0, "fault": "crash",
               "detail": {"nodes": [4, 0], "down_ms": 10}},
              {"time": 15000000, "action": "end", "index": 0, "fault": "crash",
               "detail": {"nodes": [4, 0], "down_ms": 10}},
              {"time": 20000000, "action": "start", "index": 1, "fault": "partition",
               "detail": {"sides": [[0, 2], [1, 3, 4]], "bridge": null, "duration_ms": 50}}],
            "ops": [
              {"id": 1, "client": 7, "kind": "put", "key": "x", "value": 5,
               "invoke": 1000000, "complete": 3000000, "outcome": "ok"},
              {"id": 2, "client": 3, "kind": "get", "key": "x",
               "invoke": 2000000, "complete": 4500000, "outcome": "ok", "read": null},
              {"id": 3, "client": 3, "kind": "put", "key": "y", "value": 6,
               "invoke": 5000001, "complete": null, "outcome": "info"},
              {"id": 4, "client": 7, "kind": "put", "key": "x", "value": 8,
               "invoke": 6000000, "complete": 9000000, "outcome": "fail"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn one_section_per_key_and_one_lane_per_client() {
        let t = timeline(&history());
        let keys: Vec<_> = t.sections.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["x", "y"]);
        assert_eq!(t.sections[0].lanes, [3, 7]);
        assert_eq!(t.sections[1].lanes, [3]);
        let lanes: Vec<_> = t.sections[0].bars.iter().map(|b| (b.id, b.lane)).collect();
        assert_eq!(lanes, [(1, 1), (2, 0), (4, 1)]);
    }

    #[test]
    fn one_bar_per_op_with_its_outcome_and_label() {
        let t = timeline(&history());
        let bars: Vec<&Bar> = t.sections.iter().flat_map(|s| &s.bars).collect();
        assert_eq!(bars.len(), 4);
        let get = bars.iter().find(|b| b.id == 2).unwrap();
        assert_eq!((get.start, get.end), (2.0, Some(4.5)));
        assert_eq!(get.label, "get absent");
        let info = bars.iter().find(|b| b.id == 3).unwrap();
        assert_eq!((info.outcome, info.end), ("info", None));
        assert_eq!(bars.iter().find(|b| b.id == 4).unwrap().outcome, "fail");
    }

    #[test]
    fn bands_pair_start_and_end_and_name_the_nodes() {
        let t = timeline(&history());
        assert_eq!(t.bands.len(), 2);
        assert_eq!((t.bands[0].start, t.bands[0].end), (5.0, 15.0));
        assert_eq!(t.bands[0].touched, "n4, n0");
        // No end event: the band runs to the end of the timeline.
        assert_eq!(t.bands[1].touched, "{0,2}|{1,3,4}");
        assert_eq!((t.bands[1].start, t.bands[1].end), (20.0, 20.0));
        assert_eq!((t.unit, t.t0, t.t1), (TimeUnit::Nanos, 1.0, 20.0));
    }

    #[test]
    fn jepsen_nemesis_ops_pair_start_and_stop_into_bands() {
        // As the EDN reader keeps them: invoked and completed, nil value on the invocation, at
        // their positions in the file.
        let h = History::from_json_str(
            r#"{"format": "quorumlab-history/1", "time_unit": "position",
            "nemesis": [
              {"time": 3, "process": ":nemesis", "type": ":info", "f": ":start", "value": null},
              {"time": 4, "process": ":nemesis", "type": ":info", "f": ":start",
               "value": "Cut off {:n1 #{:n2 :n3}}"},
              {"time": 5, "process": ":nemesis", "type": ":info", "f": ":start-pause", "value": null},
              {"time": 8, "process": ":nemesis", "type": ":info", "f": ":stop", "value": null},
              {"time": 9, "process": ":nemesis", "type": ":info", "f": ":stop", "value": "fully connected"},
              {"time": 12, "process": ":nemesis", "type": ":info", "f": ":start", "value": null},
              {"time": 13, "process": ":nemesis", "type": ":info", "f": ":kill", "value": null}],
            "ops": [
              {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 5,
               "invoke": 1, "complete": 2, "outcome": "ok"},
              {"id": 2, "client": 0, "kind": "get", "key": "x",
               "invoke": 10, "complete": 14, "outcome": "ok", "read": 5}]}"#,
        )
        .unwrap();
        let t = timeline(&h);
        let bands: Vec<(&str, f64, f64, &str)> = t
            .bands
            .iter()
            .map(|b| (b.fault.as_str(), b.start, b.end, b.touched.as_str()))
            .collect();
        assert_eq!(
            bands,
            [
                // From the start's invocation to the stop's completion, named by the start's
                // completion.
                ("nemesis", 3.0, 9.0, "Cut off {:n1 #{:n2 :n3}}"),
                // No stop-pause: to the end of the timeline.
                ("pause", 5.0, 14.0, ""),
                // A second window of the same nemesis; :kill opens none.
                ("nemesis", 12.0, 14.0, ""),
            ]
        );
        assert_eq!(
            t.bands.iter().map(|b| b.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        // Positions stay positions: never read as nanoseconds and scaled to milliseconds.
        assert_eq!((t.unit, t.t0, t.t1), (TimeUnit::Position, 1.0, 14.0));
        let get = &t.sections[0].bars[1];
        assert_eq!((get.start, get.end), (10.0, Some(14.0)));
    }

    #[test]
    fn milliseconds_as_text_are_exact() {
        assert_eq!(ms_text(1_768_000_001), "1768.000001");
        assert_eq!(ms_text(42_000_000), "42");
        assert_eq!(ms_text(42_500_000), "42.5");
        assert_eq!(ms_text(7), "0.000007");
    }
}
