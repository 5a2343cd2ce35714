//! The message diagram of a simulated case: one column for the clients and one per node,
//! simulated time going down, every traced message an arrow from its sender to its receiver,
//! and the store's own decisions (writes applied, hints, read repairs, failure detector
//! verdicts, restarts) as marks on the node that made them. Fault windows shade the columns
//! they touched.
//!
//! Time is drawn by rows rather than to scale: one row per simulated millisecond in which
//! something happened, as tall as its busiest column needs, so quiet stretches take no room and
//! a burst of messages stays legible. Pure layout data; the page's script draws it.
use std::collections::BTreeMap;

use quorumlab::history::History;
use serde::Serialize;
use serde_json::Value;

/// Height of one mark, px.
pub const ROW: f64 = 16.0;

/// An arrow: a message or a client's request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arrow {
    /// Sender's column.
    pub from: usize,
    /// Receiver's column.
    pub to: usize,
    /// Where it leaves and arrives, px from the top.
    pub y0: f64,
    /// Arrival (or, when dropped, where it would have arrived).
    pub y1: f64,
    /// `write`, `read_reply`, ... or the op (`put#10`) for a client's request.
    pub label: String,
    /// `delivered`, `held`, `lost`, `partitioned`, `crashed`, or `request`.
    pub fate: String,
}

/// A decision of the store, drawn on the node that made it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mark {
    /// The column.
    pub col: usize,
    /// px from the top.
    pub y: f64,
    /// The event's kind (`applied`, `hint_stored`, `down`, `start`, ...).
    pub event: String,
    /// Words for it: `applied put#10`, `sees n2 down`.
    pub label: String,
}

/// A fault window over the columns it touched.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shade {
    /// The columns (all node columns for a fault that touches every link).
    pub cols: Vec<usize>,
    /// Top and bottom, px.
    pub y0: f64,
    /// Bottom, px.
    pub y1: f64,
    /// The fault's name.
    pub fault: String,
}

/// A time label at the left edge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tick {
    /// px from the top.
    pub y: f64,
    /// The millisecond, as text.
    pub ms: u64,
}

/// The whole diagram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagram {
    /// Column names: `clients`, `n0`, `n1`, ...
    pub columns: Vec<String>,
    /// Total height, px.
    pub height: f64,
    /// Time labels, one per row.
    pub ticks: Vec<Tick>,
    /// Messages and requests.
    pub arrows: Vec<Arrow>,
    /// The store's decisions.
    pub marks: Vec<Mark>,
    /// Fault windows.
    pub shades: Vec<Shade>,
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(|x| x.as_u64())
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str())
}

/// The node count: the scenario's, else one past the highest node named anywhere.
fn node_count(history: &History, events: &[Value]) -> usize {
    if let Some(n) = history
        .extra
        .get("scenario")
        .and_then(|sc| sc.get("store"))
        .and_then(|st| u(st, "nodes"))
    {
        return n as usize;
    }
    let mut most = 0;
    for e in events {
        for k in ["node", "to", "peer", "target"] {
            if let Some(n) = u(e, k) {
                most = most.max(n as usize + 1);
            }
        }
    }
    for op in &history.ops {
        if let Some(c) = op.extra.get("coordinator").and_then(|c| c.as_u64()) {
            most = most.max(c as usize + 1);
        }
    }
    most
}

/// What a mark says about one event, or `None` for events drawn otherwise (or not at all).
fn mark_label(e: &Value, writes: &BTreeMap<(String, u64, u64), String>) -> Option<String> {
    let node = |k: &str| u(e, k).map_or("?".to_string(), |n| format!("n{n}"));
    Some(match s(e, "event")? {
        "applied" => {
            let key = s(e, "key").unwrap_or("");
            let cell = (key.to_string(), u(e, "timestamp")?, u(e, "writer")?);
            match writes.get(&cell) {
                Some(op) => format!("applied {op}"),
                None if e.get("tombstone").and_then(|t| t.as_bool()) == Some(true) => {
                    format!("applied a tombstone of {key}")
                }
                None => format!("applied {key} @{} by n{}", cell.1, cell.2),
            }
        }
        "hint_stored" => format!("hint kept for {}", node("target")),
        "hint_replayed" => format!("hint replayed to {}", node("target")),
        "read_repair" => format!("read repair to {}", node("target")),
        "up" => format!("sees {} up", node("peer")),
        "down" => format!("sees {} down", node("peer")),
        "start" if u(e, "time") != Some(0) => {
            format!(
                "restart, {} records replayed",
                u(e, "replayed").unwrap_or(0)
            )
        }
        "anti_entropy" => format!("anti-entropy with {}", node("peer")),
        "tombstone_dropped" => format!("tombstone of {} dropped", s(e, "key").unwrap_or("")),
        _ => return None,
    })
}

/// Lays out the diagram of a history whose `events` list is complete; `None` when it has no
/// events, or they were cut short (a long run: the diagram is for shrunk cases).
pub fn diagram(history: &History) -> Option<Diagram> {
    let events = history.extra.get("events")?;
    let list = events.get("list")?.as_array()?;
    if list.is_empty() || u(events, "recorded")? != list.len() as u64 {
        return None;
    }
    let nodes = node_count(history, list);
    let col = |n: u64| (n as usize).min(nodes.saturating_sub(1)) + 1;
    // The op that wrote each cell, to name it where a replica applies it.
    let mut writes = BTreeMap::new();
    for op in &history.ops {
        let ts = op.extra.get("timestamp").and_then(|t| t.as_u64());
        let w = op.extra.get("writer").and_then(|t| t.as_u64());
        if let (Some(ts), Some(w), false) = (ts, w, op.kind == quorumlab::history::OpKind::Get) {
            writes.insert((op.key.clone(), ts, w), format!("{}#{}", op.kind, op.id));
        }
    }

    // First pass: every item as (time ns, ...) before rows are known.
    enum Item {
        Arrow(u64, u64, usize, usize, String, String),
        Mark(u64, usize, String, String),
    }
    let mut items = Vec::new();
    // Requests arrive at their coordinator as `request` events; each is matched to the first
    // op of that kind and key sent to that node, invoked before it and not yet matched.
    let mut unmatched: Vec<usize> = (0..history.ops.len()).collect();
    for e in list {
        let (Some(time), Some(node), Some(event)) = (u(e, "time"), u(e, "node"), s(e, "event"))
        else {
            continue;
        };
        match event {
            "sent" => {
                let to = match e.get("to") {
                    Some(Value::Number(n)) => n.as_u64().map_or(0, col),
                    _ => 0,
                };
                let left = time + u(e, "delay").unwrap_or(0);
                let msg = s(e, "msg").unwrap_or("message").to_string();
                let fate = s(e, "fate").unwrap_or("delivered").to_string();
                items.push(Item::Arrow(time, left, col(node), to, msg, fate));
            }
            "request" => {
                let (key, kind) = (s(e, "key").unwrap_or(""), s(e, "op").unwrap_or(""));
                let found = unmatched.iter().position(|&i| {
                    let op = &history.ops[i];
                    op.key == key
                        && op.kind.name() == kind
                        && op.invoke <= time
                        && op.extra.get("coordinator").and_then(|c| c.as_u64()) == Some(node)
                });
                let (start, label) = match found {
                    Some(p) => {
                        let op = &history.ops[unmatched.remove(p)];
                        (op.invoke, format!("{}#{}", op.kind, op.id))
                    }
                    None => (time, format!("{kind} {key}")),
                };
                items.push(Item::Arrow(
                    start,
                    time,
                    0,
                    col(node),
                    label,
                    "request".to_string(),
                ));
            }
            _ => {
                if let Some(label) = mark_label(e, &writes) {
                    items.push(Item::Mark(time, col(node), event.to_string(), label));
                }
            }
        }
    }

    // Fault windows, in ns, over the columns they touched.
    let mut windows: Vec<(u64, u64, Vec<usize>, String)> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let end_ns = list.iter().filter_map(|e| u(e, "time")).max().unwrap_or(0);
    for n in history
        .extra
        .get("nemesis")
        .and_then(|n| n.as_array())
        .into_iter()
        .flatten()
    {
        let (Some(time), Some(action), Some(fault)) = (u(n, "time"), s(n, "action"), s(n, "fault"))
        else {
            continue;
        };
        let index = u(n, "index").unwrap_or(0);
        match action {
            "start" => {
                let detail = n.get("detail").cloned().unwrap_or_default();
                let mut cols: Vec<usize> = match (detail.get("nodes"), u(&detail, "node")) {
                    (Some(list), _) => list
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_u64())
                        .map(col)
                        .collect(),
                    (None, Some(one)) => vec![col(one)],
                    (None, None) => (1..=nodes).collect(),
                };
                cols.sort_unstable();
                open.insert(index, windows.len());
                windows.push((time, end_ns.max(time), cols, fault.to_string()));
            }
            "end" => {
                if let Some(i) = open.remove(&index) {
                    windows[i].1 = time;
                }
            }
            _ => {}
        }
    }

    // Rows: one per millisecond with something in it, as tall as the most marks one column
    // has in it (arrows need one mark's height).
    let msec = |ns: u64| ns / 1_000_000;
    let mut height_of: BTreeMap<u64, usize> = BTreeMap::new();
    let mut per_col: BTreeMap<(u64, usize), usize> = BTreeMap::new();
    for it in &items {
        match it {
            Item::Arrow(t0, t1, ..) => {
                for t in [*t0, *t1] {
                    height_of.entry(msec(t)).or_insert(1);
                }
            }
            Item::Mark(t, c, ..) => {
                let n = per_col.entry((msec(*t), *c)).or_insert(0);
                *n += 1;
                let h = height_of.entry(msec(*t)).or_insert(1);
                *h = (*h).max(*n);
            }
        }
    }
    for (t0, t1, ..) in &windows {
        for t in [*t0, *t1] {
            height_of.entry(msec(t)).or_insert(1);
        }
    }
    let mut top: BTreeMap<u64, f64> = BTreeMap::new();
    let mut y = 0.0;
    let mut ticks = Vec::new();
    for (&m, &rows) in &height_of {
        top.insert(m, y);
        ticks.push(Tick { y, ms: m });
        y += rows as f64 * ROW;
    }
    let height = y;
    let mid = |ns: u64| top.get(&msec(ns)).copied().unwrap_or(0.0) + ROW / 2.0;

    let mut arrows = Vec::new();
    let mut marks = Vec::new();
    let mut stacked: BTreeMap<(u64, usize), usize> = BTreeMap::new();
    for it in items {
        match it {
            Item::Arrow(t0, t1, from, to, label, fate) => arrows.push(Arrow {
                from,
                to,
                y0: mid(t0),
                y1: mid(t1),
                label,
                fate,
            }),
            Item::Mark(t, c, event, label) => {
                let n = stacked.entry((msec(t), c)).or_insert(0);
                marks.push(Mark {
                    col: c,
                    y: mid(t) + *n as f64 * ROW,
                    event,
                    label,
                });
                *n += 1;
            }
        }
    }
    let shades = windows
        .into_iter()
        .map(|(t0, t1, cols, fault)| Shade {
            cols,
            y0: top.get(&msec(t0)).copied().unwrap_or(0.0),
            y1: top.get(&msec(t1)).map_or(height, |t| {
                t + height_of.get(&msec(t1)).copied().unwrap_or(1) as f64 * ROW
            }),
            fault,
        })
        .collect();
    let mut columns = vec!["clients".to_string()];
    columns.extend((0..nodes).map(|n| format!("n{n}")));
    Some(Diagram {
        columns,
        height,
        ticks,
        arrows,
        marks,
        shades,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = r#"{"format": "quorumlab-history/1",
      "scenario": {"store": {"nodes": 3}},
      "nemesis": [
        {"time": 2000000, "action": "start", "index": 0, "fault": "crash", "detail": {"nodes": [2], "down_ms": 5}},
        {"time": 7000000, "action": "end", "index": 0, "fault": "crash", "detail": {"nodes": [2], "down_ms": 5}}],
      "events": {"recorded": 7, "list": [
        {"time": 0, "node": 0, "event": "start", "replayed": 0, "clock_floor": 0},
        {"time": 1000000, "node": 0, "event": "request", "req": 1, "op": "put", "key": "x"},
        {"time": 1000000, "node": 0, "event": "applied", "key": "x", "timestamp": 900, "writer": 0, "tombstone": false},
        {"time": 1000000, "node": 0, "event": "hint_stored", "target": 2, "key": "x"},
        {"time": 1000000, "node": 0, "event": "sent", "to": 1, "msg": "write", "delay": 2000000, "fate": "delivered"},
        {"time": 1000000, "node": 0, "event": "sent", "to": 2, "msg": "write", "delay": 1000000, "fate": "crashed"},
        {"time": 8000000, "node": 0, "event": "sent", "to": "client", "msg": "reply", "delay": 0, "fate": "delivered"}]},
      "ops": [
        {"id": 4, "client": 0, "kind": "put", "key": "x", "value": 5, "invoke": 500000,
         "complete": 8000001, "outcome": "ok", "coordinator": 0, "timestamp": 900, "writer": 0}]}"#;

    #[test]
    fn arrows_marks_rows_and_shades() {
        let h = History::from_json_str(CASE).unwrap();
        let d = diagram(&h).unwrap();
        assert_eq!(d.columns, ["clients", "n0", "n1", "n2"]);
        // Rows: ms 0 (the request's invoke at 0.5 ms), 1 (two marks on n0: two rows), 2, 3, 7, 8.
        let ms: Vec<u64> = d.ticks.iter().map(|t| t.ms).collect();
        assert_eq!(ms, [0, 1, 2, 3, 7, 8]);
        assert_eq!(d.ticks[2].y, 3.0 * ROW);
        assert_eq!(d.height, 7.0 * ROW);
        let arrows: Vec<(usize, usize, &str, &str)> = d
            .arrows
            .iter()
            .map(|a| (a.from, a.to, a.label.as_str(), a.fate.as_str()))
            .collect();
        assert_eq!(
            arrows,
            [
                (0, 1, "put#4", "request"),
                (1, 2, "write", "delivered"),
                (1, 3, "write", "crashed"),
                (1, 0, "reply", "delivered")
            ]
        );
        // The request goes from the op's invocation down to its arrival.
        assert_eq!((d.arrows[0].y0, d.arrows[0].y1), (ROW / 2.0, ROW * 1.5));
        // The write to n1 left n0 at 1 ms and the network took it at 3 ms.
        assert_eq!(d.arrows[1].y1, 4.0 * ROW + ROW / 2.0);
        let marks: Vec<(usize, &str, f64)> = d
            .marks
            .iter()
            .map(|m| (m.col, m.label.as_str(), m.y))
            .collect();
        // The first start is not a restart and gets no mark; the cell is named by its op.
        assert_eq!(
            marks,
            [
                (1, "applied put#4", ROW * 1.5),
                (1, "hint kept for n2", ROW * 2.5)
            ]
        );
        assert_eq!(d.shades.len(), 1);
        assert_eq!(d.shades[0].cols, [3]);
        assert_eq!((d.shades[0].y0, d.shades[0].y1), (3.0 * ROW, 6.0 * ROW));
    }

    #[test]
    fn no_diagram_without_a_complete_event_list() {
        let mut h = History::from_json_str(CASE).unwrap();
        h.extra["events"]["recorded"] = serde_json::json!(8);
        assert!(diagram(&h).is_none());
        h.extra.remove("events");
        assert!(diagram(&h).is_none());
    }
}
