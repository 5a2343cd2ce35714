//! What the nodes report to the cluster's handle: counters of the paths they took, messages
//! sent by kind, a bounded trace of elections and leader changes, and whether each node has
//! work in hand (for [`Cluster::quiet`](crate::system::Cluster::quiet)).
//!
//! The simulation runs every host on one thread, so an `Rc<RefCell<_>>` is all the sharing
//! needs; no borrow is ever held across an `await`. Everything here is ordered (`BTreeMap`,
//! `Vec`), so the account is the same on every run of a seed.
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// The nodes' shared report.
pub struct Shared {
    counters: BTreeMap<&'static str, u64>,
    sent: BTreeMap<&'static str, u64>,
    trace: Vec<Value>,
    recorded: u64,
    trace_limit: usize,
    /// Whether each node has work in hand, as it last said.
    busy: Vec<bool>,
    /// Whether each node is crashed.
    down: Vec<bool>,
    /// How many times each node's host has started.
    starts: Vec<u64>,
}

impl Shared {
    /// The report of a cluster of `nodes` nodes keeping at most `trace_limit` events.
    pub fn new(nodes: usize, trace_limit: usize) -> Shared {
        Shared {
            counters: BTreeMap::new(),
            sent: BTreeMap::new(),
            trace: Vec::new(),
            recorded: 0,
            trace_limit,
            busy: vec![true; nodes],
            down: vec![false; nodes],
            starts: vec![0; nodes],
        }
    }

    /// Counts one more of `name`.
    pub fn count(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
    }

    /// Counts a message sent.
    pub fn sent(&mut self, kind: &'static str) {
        *self.sent.entry(kind).or_default() += 1;
    }

    /// Records an event: `{"time": ns, "node": n, "event": what, ...fields}`.
    pub fn event(&mut self, node: usize, what: &str, fields: Value) {
        self.recorded += 1;
        if self.trace.len() >= self.trace_limit {
            return;
        }
        let time = turmoil::sim_elapsed().unwrap_or_default().as_nanos() as u64;
        let mut out = Map::new();
        out.insert("time".into(), json!(time));
        out.insert("node".into(), json!(node));
        out.insert("event".into(), json!(what));
        if let Value::Object(fields) = fields {
            out.extend(fields);
        }
        self.trace.push(Value::Object(out));
    }

    /// Notes that node `node`'s host started, returning how many times it had before (0 on
    /// the cluster's first start).
    pub fn started(&mut self, node: usize) -> u64 {
        let before = self.starts[node];
        self.starts[node] += 1;
        self.down[node] = false;
        self.busy[node] = true;
        before
    }

    /// A node says whether it has work in hand.
    pub fn set_busy(&mut self, node: usize, busy: bool) {
        self.busy[node] = busy;
    }

    /// A node crashed or was restarted.
    pub fn set_down(&mut self, node: usize, down: bool) {
        self.down[node] = down;
    }

    /// Whether no running node has work in hand.
    pub fn quiet(&self) -> bool {
        self.busy.iter().zip(&self.down).all(|(b, d)| !b || *d)
    }

    /// The counters, by name.
    pub fn counters(&self) -> &BTreeMap<&'static str, u64> {
        &self.counters
    }

    /// The events kept.
    pub fn trace(&self) -> &[Value] {
        &self.trace
    }

    /// Every event recorded, kept or not.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// The case file's `messages` field: messages sent, in total and by kind. This store
    /// decides delays but leaves drops to turmoil, so it does not know what became of a
    /// message: the fates (`held`, `lost`, `partitioned`, `crashed`) are left out, not zero.
    pub fn messages_json(&self) -> Value {
        let total: u64 = self.sent.values().sum();
        let by_kind: serde_json::Map<String, Value> = self
            .sent
            .iter()
            .map(|(kind, n)| (kind.to_string(), json!({ "sent": n })))
            .collect();
        json!({"sent": total, "by_kind": by_kind})
    }
}
