//! The turmoil adapter: runs each [`Node`] as a turmoil host, with one UDP socket, its timers
//! and its commit log, all in one task.
//!
//! It is the only place that knows bytes and addresses: it decodes each datagram into an
//! [`Input`] (naming the sender as a node when it comes from a node's address), and carries out
//! the node's typed [`Effect`]s in order, encoding each message and each commit log record.
//!
//! On `sim.bounce(host)` turmoil runs the host closure again: the node replays its commit log
//! from the simulated file system, recovers its clock floor and rejoins.
//!
//! turmoil's per-socket receive queue holds `udp_capacity` datagrams (64 by default) and drops
//! the rest; with many concurrent clients, build the simulation with a larger
//! `Builder::udp_capacity` unless those drops are wanted.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use turmoil::net::UdpSocket;

use super::cell::NodeId;
use super::commitlog::{encode_record, ClockFile, CommitLog};
use super::config::{ConfigError, StoreConfig};
use super::control::{
    ClientMark, ClusterControl, Delivery, Endpoint, Event, EventKind, Fate, Receiver,
};
use super::message::{Message, MessageKind};
use super::node::{Dest, Effect, Input, Node, Now, Recovered, Timer};

/// The UDP port every node listens on.
pub const STORE_PORT: u16 = 7000;

/// The turmoil host name of node `id`: `n0`, `n1`, ...
pub fn node_host_name(id: NodeId) -> String {
    format!("n{}", id.0)
}

/// The address of node `id` (inside the simulation).
pub fn node_addr(id: NodeId) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(node_host_name(id)), STORE_PORT)
}

/// Registers every node of `config` as a turmoil host. `seed` is the scenario seed: it fixes
/// the ring tokens and each node's random choices.
pub fn install(
    sim: &mut turmoil::Sim<'_>,
    config: &StoreConfig,
    seed: u64,
    control: &ClusterControl,
) -> Result<(), ConfigError> {
    config.validate()?;
    for i in 0..config.nodes {
        let id = NodeId(i as u16);
        let config = config.clone();
        let control = control.clone();
        sim.host(node_host_name(id), move || {
            run_node(id, config.clone(), seed, control.clone())
        });
    }
    Ok(())
}

fn now(control: &ClusterControl, id: NodeId) -> Now {
    let mono = turmoil::sim_elapsed().unwrap_or_default().as_micros() as u64;
    Now {
        mono,
        wall: mono as i64 + control.clock_offset(id),
    }
}

/// A datagram the link model holds back.
struct Held {
    to: SocketAddr,
    dest: Endpoint,
    bytes: Vec<u8>,
    kind: MessageKind,
    /// When the node sent it, monotonic microseconds.
    sent: u64,
}

struct Runner {
    id: NodeId,
    node: Node,
    socket: UdpSocket,
    log: CommitLog,
    clock: ClockFile,
    control: ClusterControl,
    timers: BTreeMap<(u64, u64), Timer>,
    timer_seq: u64,
    events: Vec<Event>,
    /// Every node's address, by node index: to name a destination for the link model.
    peers: Vec<SocketAddr>,
    /// Datagrams the link model holds back: (due, sequence) -> what to send. Lost if the node
    /// crashes first, like the contents of a dying machine's send queue.
    outbox: BTreeMap<(u64, u64), Held>,
    /// Whether the trace is recorded (then sent messages are traced too).
    tracing: bool,
    /// How many datagrams in the outbox are not heartbeats.
    held_data: usize,
}

impl Runner {
    fn step(&mut self, input: Input) {
        let now = now(&self.control, self.id);
        let effects = self.node.handle(input, now);
        self.execute(effects, now);
    }

    /// A datagram arrived from `from`: decoded, it is the node's next input.
    fn receive(&mut self, from: SocketAddr, bytes: &[u8]) {
        let input = match Message::decode(bytes) {
            Ok(msg) => {
                let from = match self.peers.iter().position(|p| *p == from) {
                    Some(i) => Dest::Node(NodeId(i as u16)),
                    None => Dest::Client(from),
                };
                Input::Message { from, msg }
            }
            Err(_) => Input::Malformed,
        };
        self.step(input);
    }

    fn execute(&mut self, effects: Vec<Effect>, now: Now) {
        for e in effects {
            match e {
                // UDP: a failed send is a lost datagram, which the protocol already tolerates.
                Effect::Send { to, msg } => {
                    let (to, dest) = match to {
                        Dest::Node(n) => (self.peers[n.index()], Endpoint::Node(n)),
                        Dest::Client(addr) => (addr, Endpoint::Client(addr.port())),
                    };
                    let (bytes, tag, kind) = (msg.encode(), msg.tag(), msg.kind());
                    self.control.note_sent(kind);
                    match self
                        .control
                        .fate(Endpoint::Node(self.id), dest, now.mono, tag, kind)
                    {
                        Fate::Drop => self.note_fate(dest, kind, now.mono, 0, Delivery::Lost),
                        Fate::Deliver(0) => self.hand_off(Held {
                            to,
                            dest,
                            bytes,
                            kind,
                            sent: now.mono,
                        }),
                        Fate::Deliver(delay) => {
                            self.timer_seq += 1;
                            self.held_data += usize::from(kind != MessageKind::Heartbeat);
                            let held = Held {
                                to,
                                dest,
                                bytes,
                                kind,
                                sent: now.mono,
                            };
                            self.outbox.insert((now.mono + delay, self.timer_seq), held);
                        }
                    }
                }
                Effect::SetTimer { at, timer } => {
                    self.timer_seq += 1;
                    self.timers.insert((at, self.timer_seq), timer);
                }
                Effect::Append { key, cell } => {
                    if self.log.append(&encode_record(&key, &cell)).is_err() {
                        self.node.note_io_error();
                    }
                }
                Effect::Sync => {
                    if self.log.sync().is_err() {
                        self.node.note_io_error();
                    }
                }
                Effect::PersistClock(mark) => {
                    if self.clock.store(mark).is_err() {
                        self.node.note_io_error();
                    }
                }
                Effect::Trace(kind) => self.events.push(Event {
                    at: now.mono,
                    node: self.id,
                    kind,
                }),
            }
        }
        if !self.events.is_empty() {
            self.control.record(self.events.drain(..));
        }
        self.control.store_counters(self.id, *self.node.counters());
    }

    /// Hands a datagram to the network now, and notes what the faults do with it.
    fn hand_off(&mut self, m: Held) {
        let mono = now(&self.control, self.id).mono;
        let fate = self.control.delivery(Endpoint::Node(self.id), m.dest);
        self.note_fate(m.dest, m.kind, m.sent, mono.saturating_sub(m.sent), fate);
        // Sent whatever the fate: turmoil itself drops what a cut link or a crashed host
        // cannot take, as it did before the fate was noted.
        let _ = self.socket.try_send_to(&m.bytes, m.to);
    }

    /// Counts a message's fate and traces it (heartbeats are only counted).
    fn note_fate(
        &mut self,
        dest: Endpoint,
        kind: MessageKind,
        sent: u64,
        delay: u64,
        fate: Delivery,
    ) {
        self.control.note_delivery(kind, fate);
        if self.tracing && kind != MessageKind::Heartbeat {
            let to = match dest.node() {
                Some(n) => Receiver::Node(n),
                None => Receiver::Client(ClientMark::Client),
            };
            self.events.push(Event {
                at: sent,
                node: self.id,
                kind: EventKind::Sent {
                    to,
                    msg: kind,
                    delay,
                    fate,
                },
            });
        }
    }

    /// Tells the runner whether this node has work in hand. Called once the host has handled
    /// everything due and before it waits again: the runner looks only between steps, while
    /// every host waits.
    fn store_busy(&self) {
        self.control
            .store_busy(self.id, self.node.busy() || self.held_data > 0);
    }

    /// Hands every held-back datagram whose delay has passed to the network.
    fn flush_due_sends(&mut self) {
        let mono = now(&self.control, self.id).mono;
        while let Some(entry) = self.outbox.first_entry() {
            if entry.key().0 > mono {
                break;
            }
            let held = entry.remove();
            self.held_data -= usize::from(held.kind != MessageKind::Heartbeat);
            self.hand_off(held);
        }
        if !self.events.is_empty() {
            self.control.record(self.events.drain(..));
        }
    }

    /// The next instant the host must wake for: a timer or a held-back datagram.
    fn next_wake(&self) -> Option<u64> {
        let timer = self.timers.first_key_value().map(|((at, _), _)| *at);
        let send = self.outbox.first_key_value().map(|((at, _), _)| *at);
        match (timer, send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn fire_due_timers(&mut self) {
        let mono = now(&self.control, self.id).mono;
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > mono {
                break;
            }
            let timer = entry.remove();
            self.step(Input::Timer(timer));
        }
    }
}

impl Drop for Runner {
    /// A crash drops the host's task: what the link model still held back dies with it.
    fn drop(&mut self) {
        let held: Vec<Held> = std::mem::take(&mut self.outbox).into_values().collect();
        for m in held {
            self.note_fate(m.dest, m.kind, m.sent, 0, Delivery::Crashed);
        }
        if !self.events.is_empty() {
            self.control.record(self.events.drain(..));
        }
    }
}

/// One node's software: bind, recover, then serve datagrams and timers until crashed.
pub async fn run_node(
    id: NodeId,
    config: StoreConfig,
    seed: u64,
    control: ClusterControl,
) -> turmoil::Result {
    let peers: Vec<SocketAddr> = (0..config.nodes)
        .map(|i| node_addr(NodeId(i as u16)))
        .collect();
    let socket = UdpSocket::bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        STORE_PORT,
    ))
    .await?;
    let (log, replay) = CommitLog::open()?;
    let (clock, clock_mark) = ClockFile::open()?;
    let recovered = Recovered {
        records: replay.records,
        clock_mark,
    };
    let start = now(&control, id);
    let node = Node::new(
        id,
        config,
        seed,
        recovered,
        control.counters(id),
        control.is_tracing(),
        start,
    );
    let tracing = control.is_tracing();
    let mut r = Runner {
        id,
        node,
        socket,
        log,
        clock,
        control,
        timers: BTreeMap::new(),
        timer_seq: 0,
        events: Vec::new(),
        peers,
        outbox: BTreeMap::new(),
        held_data: 0,
        tracing,
    };
    r.step(Input::Start);
    r.store_busy();
    let mut buf = vec![0u8; 65_536];
    loop {
        let sleep_for = r
            .next_wake()
            .map(|at| Duration::from_micros(at.saturating_sub(now(&r.control, id).mono)));
        tokio::select! {
            biased;
            received = r.socket.recv_from(&mut buf) => {
                let (len, from) = received?;
                r.receive(from, &buf[..len]);
                // Drain what else is queued without going back to the scheduler.
                while let Ok((len, from)) = r.socket.try_recv_from(&mut buf) {
                    r.receive(from, &buf[..len]);
                }
            }
            _ = tokio::time::sleep(sleep_for.unwrap_or_default()), if sleep_for.is_some() => {}
        }
        r.flush_due_sends();
        r.fire_due_timers();
        r.flush_due_sends();
        r.store_busy();
    }
}
