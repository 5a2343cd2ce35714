//! [`Node`]: one store node as a deterministic state machine, `handle(input, now) -> effects`.
//!
//! The node never touches a socket, a file or a clock: the host adapter ([`super::host`]) feeds
//! it datagrams and timer firings with the current time, and carries out the [`Effect`]s it
//! returns, in order. Effects are ordered on purpose: a replica's `Append` and `Sync` come before
//! the `Send` of its ack, so the fsync policy decides what an ack promises.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cell::{Cell, NodeId};
use super::commitlog::encode_record;
use super::config::{Bug, FsyncPolicy, StoreConfig, DEFAULT_FSYNC_PERIOD};
use super::control::{Counters, EventKind};
use super::coordinator::Pending;
use super::failure::FailureDetector;
use super::hints::HintStore;
use super::message::{Message, MessageKind};
use super::ring::Ring;
use super::storage::Storage;

/// Hints replayed per target per tick.
pub(super) const HINT_BATCH: usize = 32;

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

/// Something that happens to a node.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// The node software started (after its commit log was replayed).
    Start,
    /// A datagram arrived.
    Datagram {
        /// The sender's address.
        from: SocketAddr,
        /// The datagram.
        bytes: &'a [u8],
    },
    /// A timer fired.
    Timer(Timer),
}

/// Something the host must do for the node, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send one datagram.
    Send {
        /// The destination.
        to: SocketAddr,
        /// The encoded [`Message`].
        bytes: Vec<u8>,
        /// The message's [`tag`](super::message::Message::tag), for the link model.
        tag: u64,
        /// What kind of message it is (a heartbeat says only that the sender is up, and
        /// changes no data).
        kind: MessageKind,
    },
    /// Fire `timer` when `Now::mono` reaches `at`.
    SetTimer {
        /// Deadline, monotonic microseconds.
        at: u64,
        /// The timer.
        timer: Timer,
    },
    /// Append an encoded record to the commit log (pending until synced).
    Append(Vec<u8>),
    /// Sync the commit log.
    Sync,
    /// Durably record the last timestamp issued, before anything carrying it leaves the node,
    /// so a restarted node never issues it or a smaller one again.
    PersistClock(u64),
    /// Record an event in the trace.
    Trace(EventKind),
}

/// What a restarting node recovered from disk.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// Commit log records, in log order.
    pub records: Vec<(String, Cell)>,
    /// The last timestamp the node issued before it stopped (0 if none).
    pub clock_mark: u64,
}

/// One store node. See the module docs.
pub struct Node {
    pub(super) id: NodeId,
    pub(super) config: StoreConfig,
    pub(super) ring: Ring,
    pub(super) peers: Vec<SocketAddr>,
    pub(super) rng: ChaCha8Rng,
    pub(super) storage: Storage,
    pub(super) detector: FailureDetector,
    pub(super) hints: HintStore,
    pub(super) pending: BTreeMap<u64, Pending>,
    /// Recent read reply time of each node, microseconds (0: not yet measured).
    pub(super) snitch: Vec<u64>,
    next_req: u64,
    last_ts: u64,
    heartbeat_seq: u64,
    unsynced: bool,
    pub(super) ae_next: usize,
    pub(super) counters: Counters,
    tracing: bool,
    fx: Vec<Effect>,
    replayed: u64,
    /// Monotonic time of the input being handled.
    now_mono: u64,
    /// Subtracted from the node clock for timestamps: zero unless the planted
    /// [`Bug::ClockResetOnRestart`] makes the clock restart from zero.
    clock_base: u64,
}

impl Node {
    /// A node rebuilt from what it recovered. `peers[i]` is node `i`'s address; `seed` is the
    /// scenario seed (it fixes the ring and this node's RNG stream); `counters` continue the
    /// node's counters from before a restart; `tracing` turns trace effects on.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: NodeId,
        config: StoreConfig,
        seed: u64,
        peers: Vec<SocketAddr>,
        recovered: Recovered,
        counters: Counters,
        tracing: bool,
        now: Now,
    ) -> Node {
        let bug = |b: Bug| config.bugs.contains(&b);
        let mut ring = Ring::new(config.nodes, config.vnodes, seed);
        if bug(Bug::RingOffByOne) {
            ring = ring.with_off_by_one_walk();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0x1000 + u64::from(id.0));
        // The stream position moves on with restarts so a restarted node does not repeat choices.
        rng.set_word_pos(u128::from(now.mono) * 16);
        let mut storage = if bug(Bug::LwwTieByArrival) {
            Storage::with_tie_by_arrival()
        } else {
            Storage::new()
        };
        let mut own_max = 0;
        for (key, cell) in &recovered.records {
            // Bug seam (Bug::TombstoneLostOnReplay): replay skips tombstones.
            if cell.is_tombstone() && bug(Bug::TombstoneLostOnReplay) {
                continue;
            }
            storage.apply(key, *cell);
            if cell.writer == id {
                own_max = own_max.max(cell.timestamp);
            }
        }
        // Bug seam (Bug::ClockResetOnRestart): the clock floor and the clock's origin.
        let (floor, clock_base) = if bug(Bug::ClockResetOnRestart) {
            (0, now.mono)
        } else {
            (recovered.clock_mark.max(own_max), 0)
        };
        let detector = FailureDetector::new(
            id,
            config.nodes,
            config.failure_timeout.as_micros() as u64,
            now.mono,
        );
        let mut counters = counters;
        counters.starts += 1;
        counters.replayed_records += recovered.records.len() as u64;
        Node {
            id,
            ring,
            peers,
            rng,
            storage,
            detector,
            hints: HintStore::new(),
            pending: BTreeMap::new(),
            snitch: vec![0; config.nodes],
            next_req: now.mono.saturating_mul(1000) + 1,
            last_ts: floor,
            heartbeat_seq: 0,
            unsynced: false,
            ae_next: id.index() + 1,
            counters,
            tracing,
            fx: Vec::new(),
            replayed: recovered.records.len() as u64,
            now_mono: now.mono,
            clock_base,
            config,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Whether the node has work in hand that will send messages without any new input: a
    /// request still waiting for replicas, or hints to replay.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.hints.is_empty()
    }

    /// The node's counters (including those carried over from before restarts).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a file system error the host met while carrying out an effect.
    pub fn note_io_error(&mut self) {
        self.counters.io_errors += 1;
    }

    /// The node's stored cell for `key`.
    pub fn cell(&self, key: &str) -> Option<&Cell> {
        self.storage.get(key)
    }

    /// Number of hints this node holds.
    pub fn hint_count(&self) -> usize {
        self.hints.len()
    }

    /// Handles one input at time `now` and returns what the host must do, in order.
    pub fn handle(&mut self, input: Input<'_>, now: Now) -> Vec<Effect> {
        self.now_mono = now.mono;
        match input {
            Input::Start => self.on_start(now),
            Input::Datagram { from, bytes } => self.on_datagram(from, bytes, now),
            Input::Timer(t) => self.on_timer(t, now),
        }
        std::mem::take(&mut self.fx)
    }

    fn on_start(&mut self, now: Now) {
        self.trace(EventKind::Start {
            replayed: self.replayed,
            clock_floor: self.last_ts,
        });
        let hb = self.config.heartbeat_interval.as_micros() as u64;
        // Spread the nodes' ticks so they do not all fire in the same instant.
        let jitter = self.rng.next_u64() % hb.max(1);
        self.set_timer(now.mono + jitter, Timer::Tick);
        if let FsyncPolicy::Periodic { period } = self.config.fsync {
            self.set_timer(now.mono + period.as_micros() as u64, Timer::Fsync);
        }
        if self.config.anti_entropy {
            let ae = self.config.anti_entropy_interval.as_micros() as u64;
            let jitter = self.rng.next_u64() % ae.max(1);
            self.set_timer(now.mono + ae + jitter, Timer::AntiEntropy);
        }
    }

    pub(super) fn node_of(&self, addr: SocketAddr) -> Option<NodeId> {
        self.peers
            .iter()
            .position(|p| *p == addr)
            .map(|i| NodeId(i as u16))
    }

    fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Now) {
        self.counters.datagrams_received += 1;
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.counters.malformed_dropped += 1;
                return;
            }
        };
        let peer = self.node_of(from);
        if let Some(p) = peer {
            if p != self.id && self.detector.heard(p, now.mono) {
                self.trace(EventKind::Up { peer: p });
                self.replay_hints(p, now);
            }
        }
        match (msg, peer) {
            (Message::Request { req, op, level }, _) => self.coordinate(from, req, op, level, now),
            (Message::LocalRead { req, key }, _) => {
                let cell = self.storage.get(&key).copied();
                self.send_addr(from, &Message::LocalCell { req, cell });
            }
            (Message::Heartbeat { .. }, Some(_)) => {}
            (Message::Write { req, key, cell }, Some(p)) => {
                self.apply(&key, cell);
                self.sync_if_always();
                self.send(p, &Message::WriteAck { req });
            }
            (Message::WriteAck { req }, Some(p)) => self.on_write_ack(p, req, now),
            (Message::Read { req, key }, Some(p)) => {
                let cell = self.storage.get(&key).copied();
                self.send(p, &Message::ReadReply { req, cell });
            }
            (Message::ReadReply { req, cell }, Some(p)) => self.on_read_reply(p, req, cell, now),
            (Message::AeDigest { round, buckets }, Some(p)) => self.on_ae_digest(p, round, buckets),
            (Message::AeCells { round, cells, want }, Some(p)) => {
                self.on_ae_cells(p, round, cells, want)
            }
            (Message::AePush { cells, .. }, Some(_)) => self.on_ae_push(cells),
            _ => self.counters.unexpected_dropped += 1,
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Now) {
        match timer {
            Timer::Tick => self.on_tick(now),
            Timer::Fsync => {
                if self.unsynced {
                    self.sync();
                }
                if let FsyncPolicy::Periodic { period } = self.config.fsync {
                    self.set_timer(now.mono + period.as_micros() as u64, Timer::Fsync);
                }
            }
            Timer::AntiEntropy => {
                self.start_anti_entropy(now);
                let ae = self.config.anti_entropy_interval.as_micros() as u64;
                self.set_timer(now.mono + ae, Timer::AntiEntropy);
            }
            Timer::Request(req) => self.on_request_deadline(req, now),
        }
    }

    fn on_tick(&mut self, now: Now) {
        self.heartbeat_seq += 1;
        let hb = Message::Heartbeat {
            seq: self.heartbeat_seq,
        };
        let tag = hb.tag();
        let hb = hb.encode();
        for i in 0..self.peers.len() {
            if i != self.id.index() {
                self.counters.messages_sent += 1;
                self.fx.push(Effect::Send {
                    to: self.peers[i],
                    bytes: hb.clone(),
                    tag,
                    kind: MessageKind::Heartbeat,
                });
            }
        }
        for peer in self.detector.expire(now.mono) {
            self.trace(EventKind::Down { peer });
        }
        for target in self.hints.targets() {
            self.replay_hints(target, now);
        }
        let grace = self.config.tombstone_grace.as_micros() as u64;
        for key in self
            .storage
            .drop_expired_tombstones(now.wall.max(0) as u64, grace)
        {
            self.counters.tombstones_dropped += 1;
            self.trace(EventKind::TombstoneDropped { key });
        }
        let hb = self.config.heartbeat_interval.as_micros() as u64;
        self.set_timer(now.mono + hb, Timer::Tick);
    }

    /// The next cell timestamp: the node clock, forced strictly above every timestamp this node
    /// issued before, restarts included.
    pub(super) fn next_timestamp(&mut self, now: Now) -> u64 {
        let clock = (now.wall.max(0) as u64).saturating_sub(self.clock_base);
        let ts = clock.max(self.last_ts + 1);
        self.last_ts = ts;
        // The exact value, not a lease ahead of it: a restarted node resumes from its real
        // clock instead of jumping ahead of the other nodes' clocks (which would let its next
        // writes silently win over later writes elsewhere).
        self.fx.push(Effect::PersistClock(ts));
        ts
    }

    pub(super) fn next_req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    /// Merges a cell into this replica: logged before applied; returns whether it was newer.
    pub(super) fn apply(&mut self, key: &str, cell: Cell) -> bool {
        if !self.storage.would_apply(key, &cell) {
            return false;
        }
        self.fx.push(Effect::Append(encode_record(key, &cell)));
        self.counters.log_appends += 1;
        self.unsynced = true;
        self.storage.apply(key, cell);
        if self.tracing {
            self.trace(EventKind::Applied {
                key: key.to_string(),
                timestamp: cell.timestamp,
                writer: cell.writer,
                tombstone: cell.is_tombstone(),
            });
        }
        true
    }

    /// Under `fsync: always`, syncs what was appended before anything is acknowledged.
    pub(super) fn sync_if_always(&mut self) {
        if self.config.fsync == FsyncPolicy::Always && self.unsynced {
            // Bug seam (Bug::AckBeforeSync): the sync is put off to a timer, so the ack that
            // follows leaves before the log is durable.
            if self.bug(Bug::AckBeforeSync) {
                let at = self.now_mono + DEFAULT_FSYNC_PERIOD.as_micros() as u64;
                self.set_timer(at, Timer::Fsync);
                return;
            }
            self.sync();
        }
    }

    /// Whether a planted bug is switched on.
    pub(super) fn bug(&self, bug: Bug) -> bool {
        self.config.bugs.contains(&bug)
    }

    fn sync(&mut self) {
        self.fx.push(Effect::Sync);
        self.counters.log_syncs += 1;
        self.unsynced = false;
    }

    pub(super) fn send(&mut self, to: NodeId, msg: &Message) {
        if let Some(addr) = self.peers.get(to.index()).copied() {
            self.send_addr(addr, msg);
        }
    }

    pub(super) fn send_addr(&mut self, to: SocketAddr, msg: &Message) {
        self.counters.messages_sent += 1;
        self.fx.push(Effect::Send {
            to,
            bytes: msg.encode(),
            tag: msg.tag(),
            kind: msg.kind(),
        });
    }

    pub(super) fn set_timer(&mut self, at: u64, timer: Timer) {
        self.fx.push(Effect::SetTimer { at, timer });
    }

    pub(super) fn trace(&mut self, kind: EventKind) {
        if self.tracing {
            self.fx.push(Effect::Trace(kind));
        }
    }

    pub(super) fn tracing(&self) -> bool {
        self.tracing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::config::ConsistencyLevel;
    use crate::store::message::{Op, ReplyOutcome};

    fn addr(i: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i as u8 + 1], 7000))
    }

    fn now(ms: u64) -> Now {
        Now {
            mono: ms * 1000,
            wall: (ms * 1000) as i64,
        }
    }

    fn node(id: u16, config: &StoreConfig) -> Node {
        let peers = (0..config.nodes as u16).map(addr).collect();
        let mut n = Node::new(
            NodeId(id),
            config.clone(),
            1,
            peers,
            Recovered::default(),
            Counters::default(),
            true,
            now(0),
        );
        n.handle(Input::Start, now(0));
        n
    }

    fn sent(fx: &[Effect]) -> Vec<(SocketAddr, Message)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send { to, bytes, .. } => Some((*to, Message::decode(bytes).unwrap())),
                _ => None,
            })
            .collect()
    }

    /// A write at `all` driven by hand: the coordinator logs and syncs its own replica before
    /// sending, answers only after every replica acked, and a replica appends and syncs before
    /// its ack.
    #[test]
    fn write_path_without_a_network() {
        let config = StoreConfig {
            fsync: FsyncPolicy::Always,
            ..StoreConfig::default()
        };
        let ring = Ring::new(config.nodes, config.vnodes, 1);
        let key = (0..)
            .map(|i| format!("k{i}"))
            .find(|k| ring.replicas(k, 3)[0] == NodeId(0))
            .unwrap();
        let replicas = ring.replicas(&key, 3);
        let mut coord = node(0, &config);
        let client = SocketAddr::from(([10, 9, 9, 9], 5000));
        let req = Message::Request {
            req: 1,
            op: Op::Put {
                key: key.clone(),
                value: 5,
            },
            level: Some(ConsistencyLevel::All),
        }
        .encode();
        let fx = coord.handle(
            Input::Datagram {
                from: client,
                bytes: &req,
            },
            now(10),
        );
        let append = fx
            .iter()
            .position(|e| matches!(e, Effect::Append(_)))
            .unwrap();
        let sync = fx.iter().position(|e| *e == Effect::Sync).unwrap();
        let first_send = fx
            .iter()
            .position(|e| matches!(e, Effect::Send { .. }))
            .unwrap();
        assert!(append < sync && sync < first_send);
        let writes = sent(&fx);
        assert_eq!(writes.len(), 2);
        assert!(writes
            .iter()
            .all(|(_, m)| matches!(m, Message::Write { .. })));
        let Message::Write { req: rid, cell, .. } = writes[0].1.clone() else {
            unreachable!()
        };
        assert_eq!(cell.writer, NodeId(0));

        let mut replica = node(replicas[1].0, &config);
        let fx = replica.handle(
            Input::Datagram {
                from: addr(0),
                bytes: &writes[0].1.encode(),
            },
            now(11),
        );
        assert!(matches!(fx[0], Effect::Append(_)));
        assert!(fx.contains(&Effect::Sync));
        assert_eq!(sent(&fx), vec![(addr(0), Message::WriteAck { req: rid })]);

        let ack = Message::WriteAck { req: rid }.encode();
        let fx = coord.handle(
            Input::Datagram {
                from: addr(replicas[1].0),
                bytes: &ack,
            },
            now(12),
        );
        assert!(sent(&fx).is_empty(), "two of three acks is not all");
        let fx = coord.handle(
            Input::Datagram {
                from: addr(replicas[2].0),
                bytes: &ack,
            },
            now(12),
        );
        let replies = sent(&fx);
        assert_eq!(replies.len(), 1);
        let Message::Reply { req: 1, reply } = &replies[0].1 else {
            panic!("{replies:?}")
        };
        assert_eq!(reply.outcome, ReplyOutcome::Written);
        // A duplicate ack is stale, not a second reply.
        let fx = coord.handle(
            Input::Datagram {
                from: addr(replicas[2].0),
                bytes: &ack,
            },
            now(13),
        );
        assert!(sent(&fx).is_empty());
        assert_eq!(coord.counters().stale_replies, 1);
    }

    #[test]
    fn timestamps_are_strictly_increasing_even_when_the_clock_goes_back() {
        let mut n = node(0, &StoreConfig::default());
        let a = n.next_timestamp(now(100));
        let b = n.next_timestamp(Now {
            mono: 101_000,
            wall: 50_000,
        });
        assert!(b > a);
        assert!(n
            .fx
            .iter()
            .any(|e| matches!(e, Effect::PersistClock(m) if *m == b)));
    }
}
