//! What a node's parts share while they handle one input: the node's fixed facts and draws
//! (`Ctx`), and the [`Outbox`] they write their [`Effect`]s into.
//!
//! A part (the replica, the coordinator, anti-entropy, the failure detector) never sends a
//! datagram, writes a file or reads a clock. It writes a typed effect (a [`Message`] to a
//! [`Dest`], a timer, a log record) into the outbox, and the host adapter ([`super::host`])
//! alone turns effects into bytes, socket addresses and file writes, in the order they were
//! written. So a node's tests read the messages it sends as messages, not as bytes to decode.
//! (stateright's actor `Out` is the model.)
//!
//! Order is behaviour: a replica's `Append` and `Sync` come before the `Send` of its ack, so
//! the fsync policy decides what an ack promises; and the host hands datagrams to the network
//! in outbox order, which fixes every later message's timing in the simulation.

use std::net::SocketAddr;

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

use super::cell::{Cell, NodeId};
use super::config::{Bug, StoreConfig};
use super::control::{Counters, EventKind};
use super::message::Message;
use super::ring::Ring;

/// The time a node is handed with each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time in microseconds that never goes back, not even across restarts
    /// (simulated time since the simulation started). Timers and timeouts use it.
    pub mono: u64,
    /// The node's own clock in microseconds: `mono` plus the node's clock offset. Cell
    /// timestamps and tombstone expiry use it.
    pub wall: i64,
}

/// A timer the node asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Heartbeats, failure detection, hint replay, tombstone GC (every heartbeat interval).
    Tick,
    /// Periodic commit log sync.
    Fsync,
    /// Start an anti-entropy round.
    AntiEntropy,
    /// The deadline of an internal request.
    Request(u64),
}

/// Where a message goes, or where one came from: a store node, or a client's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Store node `i` (the host knows its address).
    Node(NodeId),
    /// A client, by its socket address (the address the request came from).
    Client(SocketAddr),
}

/// Something the host must do for the node, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send one message as one datagram; the host encodes it.
    Send {
        /// The destination.
        to: Dest,
        /// The message.
        msg: Message,
    },
    /// Fire `timer` when `Now::mono` reaches `at`.
    SetTimer {
        /// Deadline, monotonic microseconds.
        at: u64,
        /// The timer.
        timer: Timer,
    },
    /// Append a record of `key`'s new cell to the commit log (pending until synced); the host
    /// encodes it ([`super::commitlog::encode_record`]).
    Append {
        /// The key.
        key: String,
        /// The cell the replica applied.
        cell: Cell,
    },
    /// Sync the commit log.
    Sync,
    /// Durably record the last timestamp issued, before anything carrying it leaves the node,
    /// so a restarted node never issues it or a smaller one again.
    PersistClock(u64),
    /// Record an event in the trace.
    Trace(EventKind),
}

/// Where a node's parts write what the host must do, and the running counts of what they did.
///
/// The counters outlive each input (they continue across restarts too); the effects are
/// taken by the host after every input.
#[derive(Debug, Default)]
pub struct Outbox {
    effects: Vec<Effect>,
    counters: Counters,
    tracing: bool,
}

impl Outbox {
    /// An empty outbox that continues `counters`; `tracing` turns trace effects on.
    pub(super) fn new(counters: Counters, tracing: bool) -> Outbox {
        Outbox {
            effects: Vec::new(),
            counters,
            tracing,
        }
    }

    /// Sends `msg` to `to` (and counts it).
    pub(super) fn send(&mut self, to: Dest, msg: Message) {
        self.counters.messages_sent += 1;
        self.effects.push(Effect::Send { to, msg });
    }

    /// Asks for `timer` at monotonic time `at`.
    pub(super) fn set_timer(&mut self, at: u64, timer: Timer) {
        self.effects.push(Effect::SetTimer { at, timer });
    }

    /// Asks for any other effect, as it is.
    pub(super) fn push(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// Traces `kind`, if the trace is on.
    pub(super) fn trace(&mut self, kind: EventKind) {
        if self.tracing {
            self.effects.push(Effect::Trace(kind));
        }
    }

    /// Whether the trace is on: a part skips building an event nobody records.
    pub(super) fn tracing(&self) -> bool {
        self.tracing
    }

    /// The counters, to count something in.
    pub(super) fn count(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The counters as they stand.
    pub(super) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The effects written since the last call, in order.
    pub(super) fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }
}

/// What every part of a node is handed with each input: the node's id, configuration and ring,
/// the time of the input, the two sequences the parts share (random numbers and request ids),
/// and the outbox they all write into.
///
/// A draw from either sequence shifts every later one, and request ids travel in messages, so
/// the parts draw in exactly the order the node always has.
pub(super) struct Ctx {
    id: NodeId,
    config: StoreConfig,
    ring: Ring,
    rng: ChaCha8Rng,
    last_req: u64,
    now: Now,
    out: Outbox,
}

impl Ctx {
    /// The context of node `id` at `now`; request ids continue after `last_req`.
    pub(super) fn new(
        id: NodeId,
        config: StoreConfig,
        ring: Ring,
        rng: ChaCha8Rng,
        last_req: u64,
        now: Now,
        out: Outbox,
    ) -> Ctx {
        Ctx {
            id,
            config,
            ring,
            rng,
            last_req,
            now,
            out,
        }
    }

    /// The outbox, to write an effect or count something.
    pub(super) fn out(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// The outbox as it stands (its counters).
    pub(super) fn outbox(&self) -> &Outbox {
        &self.out
    }

    /// This node.
    pub(super) fn id(&self) -> NodeId {
        self.id
    }

    /// The store's configuration.
    pub(super) fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The token ring.
    pub(super) fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The time of the input being handled.
    pub(super) fn now(&self) -> Now {
        self.now
    }

    /// Sets the time of the input about to be handled.
    pub(super) fn set_now(&mut self, now: Now) {
        self.now = now;
    }

    /// Whether a planted bug is switched on.
    pub(super) fn bug(&self, bug: Bug) -> bool {
        self.config.bugs.contains(&bug)
    }

    /// The next number of this node's seeded random stream.
    pub(super) fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A new request id (also the id of an anti-entropy round).
    pub(super) fn next_req(&mut self) -> u64 {
        self.last_req += 1;
        self.last_req
    }
}
