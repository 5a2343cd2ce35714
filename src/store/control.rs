//! [`ClusterControl`]: the handle the fault injector and the harness share with the nodes:
//! clock offsets in, counters and the event trace out.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::cell::NodeId;
use super::message::MessageKind;
pub use super::traffic::{ClientMark, Delivery, KindCounts, MessageCounts, Receiver};

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
    /// The node sent a message other than a heartbeat. Recorded when the message left the node
    /// (after the link model's delay) or was lost, with `at` the time the node sent it.
    Sent {
        /// The receiver.
        to: Receiver,
        /// What kind of message.
        msg: MessageKind,
        /// Microseconds the link model held it before handing it to the network.
        delay: u64,
        /// What became of it.
        fate: Delivery,
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

/// Message delay and loss decided per message instead of by turmoil's random stream.
///
/// turmoil draws every message's latency (and every loss) from one random stream, so removing
/// one message shifts the fate of every later one, and a failure that depends on timing falls
/// apart while it is shrunk. Under a link model each message's delay is a hash of the seed, the
/// link, the send time and the message's own [`tag`](super::message::Message::tag): the same
/// message sent at the same instant on the same link always gets the same fate, whatever else
/// the run does. The host then holds the message back for that delay before handing it to
/// turmoil, whose own latency should be set to zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkModel {
    /// Mixed into every hash (the scenario's seed).
    pub seed: u64,
    /// Shortest one-way delay, ms.
    pub min_ms: u64,
    /// Longest one-way delay outside the tail, ms.
    pub max_ms: u64,
    /// Percent of messages (0 to 100) that take the long tail.
    pub tail_percent: u8,
    /// A tail message takes up to this many ms more.
    pub tail_ms: u64,
    /// Links between nodes slower than the rest: `(from, to, extra_ms)`, `None` matching any
    /// node. Links to and from clients are never slowed.
    pub slow: Vec<(Option<NodeId>, Option<NodeId>, u64)>,
    /// Shortest and longest delay between a client and a node, when it differs from the
    /// nodes' own `min_ms..=max_ms`.
    pub client_ms: Option<(u64, u64)>,
    /// Nodes slow to take writes: `(node, extra_ms)` adds `extra_ms` to every message that
    /// writes to `node` ([`MessageKind::Write`] and [`MessageKind::AePush`]: a coordinator's
    /// write, a replayed hint, a read repair, an anti-entropy push), as a loaded commit-log
    /// disk would; reads it answers are not slowed.
    pub slow_writes: Vec<(NodeId, u64)>,
}

/// One end of a message: a node, or a client socket (by port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A store node.
    Node(NodeId),
    /// A client, named by its socket's port.
    Client(u16),
}

impl Endpoint {
    fn id(self) -> u64 {
        match self {
            Endpoint::Node(n) => n.0 as u64,
            Endpoint::Client(port) => (1 << 32) | port as u64,
        }
    }

    /// The node, when this end is one.
    pub fn node(self) -> Option<NodeId> {
        match self {
            Endpoint::Node(n) => Some(n),
            Endpoint::Client(_) => None,
        }
    }
}

/// What the link does with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Hand it to the network after this many microseconds.
    Deliver(u64),
    /// Lose it.
    Drop,
}

/// SplitMix64's finalizer: a fixed, portable mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Debug, Default)]
struct State {
    links: Option<LinkModel>,
    /// Percent of node-to-node messages lost now (a loss fault).
    loss_percent: u8,
    /// The longest node-to-node delay now, when a latency fault raised it.
    raised_max_ms: u64,
    offsets: Vec<i64>,
    counters: Vec<Counters>,
    /// Per node: whether it last said it has work in hand (see [`ClusterControl::quiet`]).
    busy: Vec<bool>,
    trace: Vec<Event>,
    tracing: bool,
    /// Most events kept in `trace` (`None`: all); `traced` counts every event recorded.
    trace_limit: Option<usize>,
    traced: u64,
    messages: MessageCounts,
    /// Node pairs `(low, high)` a partition cuts now.
    cut: std::collections::BTreeSet<(u16, u16)>,
    /// Node pairs whose link is held now (a paused node); clients' links to a paused node are
    /// held too (`paused`).
    held: std::collections::BTreeSet<(u16, u16)>,
    paused: Vec<bool>,
    /// Nodes crashed now.
    down: Vec<bool>,
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

    /// Decides message delays and loss with `model` from now on (see [`LinkModel`]); without
    /// one, every message goes to turmoil at once and turmoil's latency applies.
    pub fn set_link_model(&self, model: LinkModel) {
        self.lock().links = Some(model);
    }

    /// Loses this percent of node-to-node messages (0 for none). Needs a link model.
    pub fn set_loss_percent(&self, percent: u8) {
        self.lock().loss_percent = percent.min(100);
    }

    /// Raises the longest node-to-node delay to `max_ms` (0 restores the model's). Needs a link
    /// model.
    pub fn set_raised_max_latency(&self, max_ms: u64) {
        self.lock().raised_max_ms = max_ms;
    }

    /// The fate of a message of `kind` from `from` to `to` with this
    /// [`tag`](super::message::Message::tag), sent at `now_us`.
    pub fn fate(
        &self,
        from: Endpoint,
        to: Endpoint,
        now_us: u64,
        tag: u64,
        kind: MessageKind,
    ) -> Fate {
        let s = self.lock();
        let Some(m) = &s.links else {
            return Fate::Deliver(0);
        };
        let h =
            |salt: u64| mix(m.seed ^ mix(from.id() ^ mix(to.id() ^ mix(now_us ^ mix(tag ^ salt)))));
        let between_nodes = from.node().is_some() && to.node().is_some();
        if between_nodes && s.loss_percent > 0 && h(1) % 100 < s.loss_percent as u64 {
            return Fate::Drop;
        }
        let (min, max) = match (between_nodes, m.client_ms) {
            (true, _) => (m.min_ms, m.max_ms.max(s.raised_max_ms)),
            (false, Some(range)) => range,
            (false, None) => (m.min_ms, m.max_ms),
        };
        let min = min.min(max);
        let mut ms = min + h(2) % (max - min + 1);
        if m.tail_percent > 0 && h(3) % 100 < m.tail_percent as u64 {
            ms += h(4) % (m.tail_ms + 1);
        }
        if between_nodes {
            for (a, b, extra) in &m.slow {
                let matches = |want: &Option<NodeId>, end: Endpoint| match want {
                    None => true,
                    Some(n) => end.node() == Some(*n),
                };
                if matches(a, from) && matches(b, to) {
                    ms += extra;
                }
            }
            if matches!(kind, MessageKind::Write | MessageKind::AePush) {
                for (node, extra) in &m.slow_writes {
                    if to.node() == Some(*node) {
                        ms += extra;
                    }
                }
            }
        }
        Fate::Deliver(ms * 1000)
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

    pub(crate) fn store_busy(&self, node: NodeId, busy: bool) {
        let mut s = self.lock();
        if s.busy.len() <= node.index() {
            s.busy.resize(node.index() + 1, false);
        }
        s.busy[node.index()] = busy;
    }

    /// Whether no node has work in hand: no request waiting for replicas, no hint to replay and
    /// no datagram held back by the link model. Each node says so after every input it
    /// handles; a crashed node keeps what it last said.
    pub fn quiet(&self) -> bool {
        !self.lock().busy.iter().any(|b| *b)
    }

    pub(crate) fn record(&self, events: impl IntoIterator<Item = Event>) {
        let mut s = self.lock();
        if s.tracing {
            for e in events {
                s.traced += 1;
                if s.trace_limit.is_none_or(|l| s.trace.len() < l) {
                    s.trace.push(e);
                }
            }
        }
    }

    /// Keeps at most `limit` events in the trace (the first ones recorded); later events are
    /// only counted ([`ClusterControl::traced`]). Bounds a long run's memory.
    pub fn set_trace_limit(&self, limit: usize) {
        self.lock().trace_limit = Some(limit);
    }

    /// How many events were recorded, including those past the trace limit.
    pub fn traced(&self) -> u64 {
        self.lock().traced
    }

    /// Tells the nodes that a partition cuts (or no longer cuts) the link between `a` and `b`,
    /// so that messages dropped on it are counted as such. The fault itself is turmoil's.
    pub fn set_partitioned(&self, a: NodeId, b: NodeId, cut: bool) {
        let pair = (a.0.min(b.0), a.0.max(b.0));
        let mut s = self.lock();
        if cut {
            s.cut.insert(pair);
        } else {
            s.cut.remove(&pair);
        }
    }

    /// Tells the nodes that the link between `a` and `b` is held (or no longer held).
    pub fn set_held(&self, a: NodeId, b: NodeId, held: bool) {
        let pair = (a.0.min(b.0), a.0.max(b.0));
        let mut s = self.lock();
        if held {
            s.held.insert(pair);
        } else {
            s.held.remove(&pair);
        }
    }

    /// Tells the nodes that `node` is paused (its links to clients held) or no longer.
    pub fn set_paused(&self, node: NodeId, paused: bool) {
        let mut s = self.lock();
        if s.paused.len() <= node.index() {
            s.paused.resize(node.index() + 1, false);
        }
        s.paused[node.index()] = paused;
    }

    /// Tells the nodes that `node` is crashed (or running again).
    pub fn set_down(&self, node: NodeId, down: bool) {
        let mut s = self.lock();
        if s.down.len() <= node.index() {
            s.down.resize(node.index() + 1, false);
        }
        s.down[node.index()] = down;
    }

    /// What happens now to a message handed to the network from `from` to `to`, as far as the
    /// faults the harness reported say.
    pub fn delivery(&self, from: Endpoint, to: Endpoint) -> Delivery {
        let s = self.lock();
        let down = |n: NodeId| s.down.get(n.index()).copied().unwrap_or(false);
        let paused = |n: NodeId| s.paused.get(n.index()).copied().unwrap_or(false);
        match (from.node(), to.node()) {
            (Some(a), Some(b)) => {
                let pair = (a.0.min(b.0), a.0.max(b.0));
                if s.cut.contains(&pair) {
                    Delivery::Partitioned
                } else if down(b) {
                    Delivery::Crashed
                } else if s.held.contains(&pair) {
                    Delivery::Held
                } else {
                    Delivery::Delivered
                }
            }
            (Some(n), None) | (None, Some(n)) => {
                if to.node() == Some(n) && down(n) {
                    Delivery::Crashed
                } else if paused(n) {
                    Delivery::Held
                } else {
                    Delivery::Delivered
                }
            }
            (None, None) => Delivery::Delivered,
        }
    }

    /// Counts one message sent.
    pub fn note_sent(&self, kind: MessageKind) {
        self.lock().messages.by_kind[kind.index()].sent += 1;
    }

    /// Counts what became of one message (nothing for [`Delivery::Delivered`]).
    pub fn note_delivery(&self, kind: MessageKind, fate: Delivery) {
        self.lock().messages.by_kind[kind.index()].note(fate);
    }

    /// The messages of the run so far.
    pub fn message_counts(&self) -> MessageCounts {
        self.lock().messages.clone()
    }

    /// A copy of the event trace so far, in the order events happened.
    pub fn trace(&self) -> Vec<Event> {
        self.lock().trace.clone()
    }

    /// Takes the event trace recorded so far, leaving it empty (the count stays).
    pub fn take_trace(&self) -> Vec<Event> {
        std::mem::take(&mut self.lock().trace)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn model(slow_writes: Vec<(NodeId, u64)>) -> LinkModel {
        LinkModel {
            seed: 9,
            min_ms: 2,
            max_ms: 2,
            tail_percent: 0,
            tail_ms: 0,
            slow: Vec::new(),
            client_ms: None,
            slow_writes,
        }
    }

    #[test]
    fn a_slow_write_path_delays_only_the_writes_sent_to_that_node() {
        let control = ClusterControl::without_trace(3);
        control.set_link_model(model(vec![(NodeId(1), 40)]));
        let fate = |to: Endpoint, kind| control.fate(Endpoint::Node(NodeId(0)), to, 0, 7, kind);
        let (slow, fast) = (Endpoint::Node(NodeId(1)), Endpoint::Node(NodeId(2)));
        // Writes of every kind to the slow node wait; reads and answers do not, and nothing
        // sent to another node or a client does.
        assert_eq!(fate(slow, MessageKind::Write), Fate::Deliver(42_000));
        assert_eq!(fate(slow, MessageKind::AePush), Fate::Deliver(42_000));
        for kind in [
            MessageKind::Read,
            MessageKind::WriteAck,
            MessageKind::Heartbeat,
        ] {
            assert_eq!(fate(slow, kind), Fate::Deliver(2_000), "{kind:?}");
        }
        assert_eq!(fate(fast, MessageKind::Write), Fate::Deliver(2_000));
        assert_eq!(
            fate(Endpoint::Client(9), MessageKind::Reply),
            Fate::Deliver(2_000)
        );
        // What the slow node sends is not slowed.
        let from_slow = control.fate(slow, fast, 0, 7, MessageKind::Write);
        assert_eq!(from_slow, Fate::Deliver(2_000));
    }
}
