//! [`Node`]: one store node as a deterministic state machine, `handle(input, now) -> effects`.
//!
//! The node never touches a socket, a file or a clock: the host adapter ([`super::host`]) feeds
//! it decoded messages and timer firings with the current time, and carries out the [`Effect`]s
//! it returns, in order.
//!
//! A node is its parts, each with its own state: the [`Replica`] (table and commit log), the
//! [`Coordinator`] (client requests in flight, hints, the write clock), [`AntiEntropy`] and the
//! [`FailureDetector`]. This file only routes each input to the part it concerns. Parts never
//! reach into one another's fields: they call methods, and write their effects into the one
//! outbox of the shared context ([`super::outbox`]), so the effects come out in the order the
//! parts wrote them.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::antientropy::AntiEntropy;
use super::cell::{Cell, NodeId};
use super::clock::Clock;
use super::config::{Bug, StoreConfig};
use super::control::{Counters, EventKind};
use super::coordinator::{Coordinator, ReplyTo};
use super::failure::FailureDetector;
use super::message::Message;
use super::outbox::{Ctx, Outbox};
pub use super::outbox::{Dest, Effect, Now, Timer};
use super::replica::Replica;
use super::ring::Ring;
use super::storage::Storage;

/// Something that happens to a node.
#[derive(Debug, Clone)]
pub enum Input {
    /// The node software started (after its commit log was replayed).
    Start,
    /// A datagram arrived and decoded to `msg`.
    Message {
        /// The sender: a node when the datagram came from a node's address, else a client.
        from: Dest,
        /// The message.
        msg: Message,
    },
    /// A datagram arrived that does not decode: it is counted and dropped.
    Malformed,
    /// A timer fired.
    Timer(Timer),
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
    cx: Ctx,
    replica: Replica,
    coordinator: Coordinator,
    anti_entropy: AntiEntropy,
    detector: FailureDetector,
    /// Commit log records replayed at start, for the start event.
    replayed: u64,
}

impl Node {
    /// A node rebuilt from what it recovered. `seed` is the scenario seed (it fixes the ring
    /// and this node's RNG stream); `counters` continue the node's counters from before a
    /// restart; `tracing` turns trace effects on.
    pub fn new(
        id: NodeId,
        config: StoreConfig,
        seed: u64,
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
        let coordinator = Coordinator::new(config.nodes, Clock::new(floor, clock_base));
        // Request ids start from the start time, so a restarted node never reuses one that a
        // late reply could still carry.
        let last_req = now.mono.saturating_mul(1000) + 1;
        let out = Outbox::new(counters, tracing);
        Node {
            cx: Ctx::new(id, config, ring, rng, last_req, now, out),
            replica: Replica::new(storage),
            coordinator,
            anti_entropy: AntiEntropy::new(id),
            detector,
            replayed: recovered.records.len() as u64,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cx.id()
    }

    /// Whether the node has work in hand that will send messages without any new input: a
    /// request still waiting for replicas, or hints to replay.
    pub fn busy(&self) -> bool {
        self.coordinator.busy()
    }

    /// The node's counters (including those carried over from before restarts).
    pub fn counters(&self) -> &Counters {
        self.cx.outbox().counters()
    }

    /// Counts a file system error the host met while carrying out an effect.
    pub fn note_io_error(&mut self) {
        self.cx.out().count().io_errors += 1;
    }

    /// The node's stored cell for `key`.
    pub fn cell(&self, key: &str) -> Option<&Cell> {
        self.replica.get(key)
    }

    /// Number of hints this node holds.
    pub fn hint_count(&self) -> usize {
        self.coordinator.hint_count()
    }

    /// Handles one input at time `now` and returns what the host must do, in order.
    pub fn handle(&mut self, input: Input, now: Now) -> Vec<Effect> {
        self.cx.set_now(now);
        match input {
            Input::Start => self.on_start(),
            Input::Message { from, msg } => {
                self.cx.out().count().datagrams_received += 1;
                self.on_message(from, msg);
            }
            Input::Malformed => {
                let count = self.cx.out().count();
                count.datagrams_received += 1;
                count.malformed_dropped += 1;
            }
            Input::Timer(t) => self.on_timer(t),
        }
        self.cx.out().take()
    }

    fn on_start(&mut self) {
        let cx = &mut self.cx;
        let clock_floor = self.coordinator.clock_floor();
        cx.out().trace(EventKind::Start {
            replayed: self.replayed,
            clock_floor,
        });
        let hb = cx.config().heartbeat_interval.as_micros() as u64;
        // Spread the nodes' ticks so they do not all fire in the same instant.
        let jitter = cx.random() % hb.max(1);
        let at = cx.now().mono + jitter;
        cx.out().set_timer(at, Timer::Tick);
        self.replica.start(cx);
        self.anti_entropy.start(cx);
    }

    fn on_message(&mut self, from: Dest, msg: Message) {
        let cx = &mut self.cx;
        let peer = match from {
            Dest::Node(p) => Some(p),
            Dest::Client(_) => None,
        };
        // Any datagram from a peer shows it is up; one that was down gets its hints back.
        if let Some(p) = peer {
            if p != cx.id() && self.detector.heard(p, cx.now().mono) {
                cx.out().trace(EventKind::Up { peer: p });
                self.coordinator.replay_hints(cx, &self.detector, p);
            }
        }
        let (replica, detector) = (&mut self.replica, &self.detector);
        match (msg, peer) {
            (Message::Request { req, op, level }, _) => {
                let client = ReplyTo::new(from, req);
                self.coordinator
                    .coordinate(cx, replica, detector, client, op, level)
            }
            (Message::LocalRead { req, key }, _) => replica.on_local_read(cx, from, req, &key),
            (Message::Heartbeat { .. }, Some(_)) => {}
            (Message::Write { req, key, cell }, Some(p)) => {
                replica.on_write(cx, p, req, &key, cell)
            }
            (Message::WriteAck { req }, Some(p)) => self.coordinator.on_write_ack(cx, p, req),
            (Message::Read { req, key }, Some(p)) => replica.on_read(cx, p, req, &key),
            (Message::ReadReply { req, cell }, Some(p)) => {
                self.coordinator.on_read_reply(cx, replica, p, req, cell)
            }
            (Message::AeDigest { round, buckets }, Some(p)) => {
                self.anti_entropy.on_digest(cx, replica, p, round, buckets)
            }
            (Message::AeCells { round, cells, want }, Some(p)) => self
                .anti_entropy
                .on_cells(cx, replica, p, round, cells, want),
            (Message::AePush { cells, .. }, Some(_)) => {
                self.anti_entropy.on_push(cx, replica, cells)
            }
            // Replica messages from a host that is not a node, and replies nobody coordinates.
            _ => cx.out().count().unexpected_dropped += 1,
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        let cx = &mut self.cx;
        match timer {
            Timer::Tick => {
                self.detector.tick(cx);
                self.coordinator.replay_all_hints(cx, &self.detector);
                self.replica.drop_expired_tombstones(cx);
                let hb = cx.config().heartbeat_interval.as_micros() as u64;
                let at = cx.now().mono + hb;
                cx.out().set_timer(at, Timer::Tick);
            }
            Timer::Fsync => self.replica.on_fsync_timer(cx),
            Timer::AntiEntropy => self
                .anti_entropy
                .on_timer(cx, &self.replica, &self.detector),
            Timer::Request(req) => self.coordinator.on_deadline(cx, &self.detector, req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::config::{ConsistencyLevel, FsyncPolicy};
    use crate::store::message::{Op, ReplyOutcome};
    use std::net::SocketAddr;

    fn now(ms: u64) -> Now {
        Now {
            mono: ms * 1000,
            wall: (ms * 1000) as i64,
        }
    }

    fn node(id: u16, config: &StoreConfig) -> Node {
        let mut n = Node::new(
            NodeId(id),
            config.clone(),
            1,
            Recovered::default(),
            Counters::default(),
            true,
            now(0),
        );
        n.handle(Input::Start, now(0));
        n
    }

    fn from_node(i: u16, msg: Message) -> Input {
        Input::Message {
            from: Dest::Node(NodeId(i)),
            msg,
        }
    }

    fn sent(fx: &[Effect]) -> Vec<(Dest, Message)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg } => Some((*to, msg.clone())),
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
        let client = Dest::Client(SocketAddr::from(([10, 9, 9, 9], 5000)));
        let req = Message::Request {
            req: 1,
            op: Op::Put {
                key: key.clone(),
                value: 5,
            },
            level: Some(ConsistencyLevel::All),
        };
        let fx = coord.handle(
            Input::Message {
                from: client,
                msg: req,
            },
            now(10),
        );
        let append = fx
            .iter()
            .position(|e| matches!(e, Effect::Append { key: k, .. } if *k == key))
            .unwrap();
        let sync = fx.iter().position(|e| *e == Effect::Sync).unwrap();
        let first_send = fx
            .iter()
            .position(|e| matches!(e, Effect::Send { .. }))
            .unwrap();
        assert!(append < sync && sync < first_send);
        let writes = sent(&fx);
        let to: Vec<Dest> = writes.iter().map(|(to, _)| *to).collect();
        assert_eq!(to, [Dest::Node(replicas[1]), Dest::Node(replicas[2])]);
        let Message::Write { req: rid, cell, .. } = writes[0].1.clone() else {
            panic!("{writes:?}")
        };
        assert!(writes[1].1 == writes[0].1, "one cell to every replica");
        assert_eq!(cell.writer, NodeId(0));
        assert_eq!(cell.value, Some(5));

        let mut replica = node(replicas[1].0, &config);
        let fx = replica.handle(from_node(0, writes[0].1.clone()), now(11));
        assert_eq!(
            fx,
            [
                Effect::Append {
                    key: key.clone(),
                    cell
                },
                Effect::Trace(EventKind::Applied {
                    key: key.clone(),
                    timestamp: cell.timestamp,
                    writer: NodeId(0),
                    tombstone: false,
                }),
                Effect::Sync,
                Effect::Send {
                    to: Dest::Node(NodeId(0)),
                    msg: Message::WriteAck { req: rid }
                },
            ]
        );

        let ack = Message::WriteAck { req: rid };
        let fx = coord.handle(from_node(replicas[1].0, ack.clone()), now(12));
        assert!(sent(&fx).is_empty(), "two of three acks is not all");
        let fx = coord.handle(from_node(replicas[2].0, ack.clone()), now(12));
        let replies = sent(&fx);
        let [(to, Message::Reply { req: 1, reply })] = &replies[..] else {
            panic!("{replies:?}")
        };
        assert_eq!(*to, client);
        assert_eq!(reply.outcome, ReplyOutcome::Written);
        assert_eq!(reply.version, Some((cell.timestamp, NodeId(0))));
        // A duplicate ack is stale, not a second reply.
        let fx = coord.handle(from_node(replicas[2].0, ack), now(13));
        assert!(sent(&fx).is_empty());
        assert_eq!(coord.counters().stale_replies, 1);
    }

    /// A datagram that did not decode is counted, and changes nothing else.
    #[test]
    fn a_malformed_datagram_is_counted_and_dropped() {
        let mut n = node(0, &StoreConfig::default());
        assert!(n.handle(Input::Malformed, now(5)).is_empty());
        assert_eq!(n.counters().datagrams_received, 1);
        assert_eq!(n.counters().malformed_dropped, 1);
    }
}
