//! [`ClusterControl`]: the handle the fault injector and the harness share with the nodes:
//! clock offsets in, counters and the event trace out.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::cell::NodeId;

/// Per-node counters. They accumulate across restarts of the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams that failed to decode, dropped.
    pub malformed_dropped: u64,
    /// Well-formed datagrams that made no sense from their sender (e.g. a replica message from
    /// a host that is not a node), dropped.
    pub unexpected_dropped: u64,
    /// Replies that matched no pending request (late, duplicate or stale), dropped.
    pub stale_replies: u64,
    /// Datagrams sent.
    pub messages_sent: u64,
    /// Client requests coordinated.
    pub client_requests: u64,
    /// Requests answered Unavailable.
    pub unavailable: u64,
    /// Requests answered Timeout.
    pub timeouts: u64,
    /// Hints stored.
    pub hints_stored: u64,
    /// Hints not stored because the replica was down longer than the hint window.
    pub hints_skipped: u64,
    /// Hints replayed and acknowledged.
    pub hints_replayed: u64,
    /// Cells written back by read repair.
    pub read_repairs: u64,
    /// Anti-entropy rounds started.
    pub anti_entropy_rounds: u64,
    /// Cells applied from anti-entropy exchanges.
    pub anti_entropy_cells: u64,
    /// Tombstones dropped after their grace period.
    pub tombstones_dropped: u64,
    /// Commit log records appended.
    pub log_appends: u64,
    /// Commit log syncs.
    pub log_syncs: u64,
    /// Commit log records replayed at start.
    pub replayed_records: u64,
    /// Starts of the node software (1 + restarts).
    pub starts: u64,
    /// File system errors (the node keeps running).
    pub io_errors: u64,
}

/// What happened, for the event trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The node software started after replaying its log.
    Start {
        /// Records replayed.
        replayed: u64,
        /// The clock floor recovered.
        clock_floor: u64,
    },
    /// A client request arrived at this coordinator.
    Request {
        /// The client's request id.
        req: u64,
        /// `get`, `put` or `delete`.
        op: String,
        /// The key.
        key: String,
    },
    /// The coordinator answered a client.
    Replied {
        /// The client's request id.
        req: u64,
        /// The outcome, printed.
        outcome: String,
    },
    /// A replica applied a cell.
    Applied {
        /// The key.
        key: String,
        /// The cell's timestamp.
        timestamp: u64,
        /// The cell's writer.
        writer: NodeId,
        /// Whether it is a tombstone.
        tombstone: bool,
    },
    /// The failure detector now sees `peer` up.
    Up {
        /// The peer.
        peer: NodeId,
    },
    /// The failure detector now sees `peer` down.
    Down {
        /// The peer.
        peer: NodeId,
    },
    /// A hint was stored for `target`.
    HintStored {
        /// The replica that missed the write.
        target: NodeId,
        /// The key.
        key: String,
    },
    /// A hint was acknowledged by `target`.
    HintReplayed {
        /// The replica.
        target: NodeId,
        /// The key.
        key: String,
    },
    /// Read repair wrote a cell back to `target`.
    ReadRepair {
        /// The replica.
        target: NodeId,
        /// The key.
        key: String,
    },
    /// An anti-entropy round started with `peer`.
    AntiEntropy {
        /// The peer.
        peer: NodeId,
    },
    /// A tombstone was dropped after its grace period.
    TombstoneDropped {
        /// The key.
        key: String,
    },
}

/// One trace entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Simulated time, microseconds since the simulation started.
    pub at: u64,
    /// The node it happened on.
    pub node: NodeId,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Default)]
struct State {
    offsets: Vec<i64>,
    counters: Vec<Counters>,
    trace: Vec<Event>,
    tracing: bool,
}

/// Shared handle between the nodes and whoever drives the simulation. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct ClusterControl {
    inner: Arc<Mutex<State>>,
}

impl ClusterControl {
    /// A handle for a cluster of `nodes` nodes that records the event trace.
    pub fn new(nodes: usize) -> ClusterControl {
        let c = ClusterControl::without_trace(nodes);
        c.lock().tracing = true;
        c
    }

    /// A handle for `nodes` nodes that records no event trace (for benchmarks).
    pub fn without_trace(nodes: usize) -> ClusterControl {
        let c = ClusterControl::default();
        {
            let mut s = c.lock();
            s.offsets = vec![0; nodes];
            s.counters = vec![Counters::default(); nodes];
        }
        c
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the data is still consistent counters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether events are recorded.
    pub fn is_tracing(&self) -> bool {
        self.lock().tracing
    }

    /// Sets `node`'s clock offset in microseconds (may be negative): its clock reads simulated
    /// time plus this. Timestamps stay strictly increasing per node whatever the offset does.
    pub fn set_clock_offset(&self, node: NodeId, micros: i64) {
        let mut s = self.lock();
        if s.offsets.len() <= node.index() {
            s.offsets.resize(node.index() + 1, 0);
        }
        s.offsets[node.index()] = micros;
    }

    /// `node`'s clock offset in microseconds.
    pub fn clock_offset(&self, node: NodeId) -> i64 {
        self.lock().offsets.get(node.index()).copied().unwrap_or(0)
    }

    /// `node`'s counters.
    pub fn counters(&self, node: NodeId) -> Counters {
        self.lock()
            .counters
            .get(node.index())
            .copied()
            .unwrap_or_default()
    }

    /// The sum of every node's counters.
    pub fn total_counters(&self) -> Counters {
        let s = self.lock();
        let mut t = Counters::default();
        for c in &s.counters {
            t.datagrams_received += c.datagrams_received;
            t.malformed_dropped += c.malformed_dropped;
            t.unexpected_dropped += c.unexpected_dropped;
            t.stale_replies += c.stale_replies;
            t.messages_sent += c.messages_sent;
            t.client_requests += c.client_requests;
            t.unavailable += c.unavailable;
            t.timeouts += c.timeouts;
            t.hints_stored += c.hints_stored;
            t.hints_skipped += c.hints_skipped;
            t.hints_replayed += c.hints_replayed;
            t.read_repairs += c.read_repairs;
            t.anti_entropy_rounds += c.anti_entropy_rounds;
            t.anti_entropy_cells += c.anti_entropy_cells;
            t.tombstones_dropped += c.tombstones_dropped;
            t.log_appends += c.log_appends;
            t.log_syncs += c.log_syncs;
            t.replayed_records += c.replayed_records;
            t.starts += c.starts;
            t.io_errors += c.io_errors;
        }
        t
    }

    pub(crate) fn store_counters(&self, node: NodeId, counters: Counters) {
        let mut s = self.lock();
        if s.counters.len() <= node.index() {
            s.counters.resize(node.index() + 1, Counters::default());
        }
        s.counters[node.index()] = counters;
    }

    pub(crate) fn record(&self, events: impl IntoIterator<Item = Event>) {
        let mut s = self.lock();
        if s.tracing {
            s.trace.extend(events);
        }
    }

    /// A copy of the event trace so far, in the order events happened.
    pub fn trace(&self) -> Vec<Event> {
        self.lock().trace.clone()
    }

    /// The event trace as JSON lines: byte-identical for the same seed and workload.
    pub fn trace_jsonl(&self) -> String {
        let s = self.lock();
        let mut out = String::new();
        for e in &s.trace {
            out.push_str(&serde_json::to_string(e).expect("events serialize"));
            out.push('\n');
        }
        out
    }
}
