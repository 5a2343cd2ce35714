//! [`Coordinator`]: this node as the coordinator of client requests: writes and reads at a
//! consistency level, read repair, hints for replicas that missed a write, and hint replay.

use std::collections::BTreeMap;

use super::cell::{resolve, resolve_by_arrival, Cell, NodeId};
use super::clock::Clock;
use super::config::{Bug, ConsistencyLevel, ReadRepair, ReplicaChoice};
use super::control::EventKind;
use super::failure::FailureDetector;
use super::hints::HintStore;
use super::message::{Message, Op, Reply, ReplyOutcome};
use super::outbox::{Ctx, Dest, Timer};
use super::replica::Replica;

/// Hints replayed per target per tick.
const HINT_BATCH: usize = 32;

/// Where a client's answer goes: the client, and its id for the request.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplyTo {
    to: Dest,
    req: u64,
}

impl ReplyTo {
    /// The answer to request `req` of the client at `to`.
    pub(super) fn new(to: Dest, req: u64) -> ReplyTo {
        ReplyTo { to, req }
    }
}

/// A request this node is waiting on.
#[derive(Debug, Clone)]
enum Pending {
    Write(WritePending),
    Read(ReadPending),
    Hint {
        target: NodeId,
        id: u64,
        deadline: u64,
    },
}

#[derive(Debug, Clone)]
struct WritePending {
    client: ReplyTo,
    key: String,
    cell: Cell,
    needed: usize,
    /// Replicas the write went to (this node included when it is a replica).
    sent: Vec<NodeId>,
    acked: Vec<NodeId>,
    replied: bool,
    deadline: u64,
}

#[derive(Debug, Clone)]
struct ReadPending {
    client: ReplyTo,
    key: String,
    needed: usize,
    contacted: Vec<NodeId>,
    responses: Vec<(NodeId, Option<Cell>)>,
    /// Set once the responses are resolved and blocking repair waits for acks.
    repair: Option<(Cell, Vec<NodeId>)>,
    deadline: u64,
    /// When the reads were sent, for the snitch's latency figures.
    sent_at: u64,
}

/// The coordinator's state: the requests it waits on, its view of replica latency, the hints
/// it holds and the clock it stamps writes with.
#[derive(Debug)]
pub struct Coordinator {
    pending: BTreeMap<u64, Pending>,
    /// Recent read reply time of each node, microseconds (0: not yet measured).
    snitch: Vec<u64>,
    hints: HintStore,
    clock: Clock,
}

impl Coordinator {
    /// A coordinator of a store of `nodes` nodes, waiting on nothing, that stamps writes with
    /// `clock`.
    pub(super) fn new(nodes: usize, clock: Clock) -> Coordinator {
        Coordinator {
            pending: BTreeMap::new(),
            snitch: vec![0; nodes],
            hints: HintStore::new(),
            clock,
        }
    }

    /// Whether it has work in hand that will send messages without any new input: a request
    /// still waiting for replicas, or hints to replay.
    pub(super) fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.hints.is_empty()
    }

    /// Number of hints held.
    pub(super) fn hint_count(&self) -> usize {
        self.hints.len()
    }

    /// Every timestamp this node issues from now on is above this.
    pub(super) fn clock_floor(&self) -> u64 {
        self.clock.floor()
    }

    /// A client request arrived: this node coordinates it.
    pub(super) fn coordinate(
        &mut self,
        cx: &mut Ctx,
        replica: &mut Replica,
        detector: &FailureDetector,
        client: ReplyTo,
        op: Op,
        level: Option<ConsistencyLevel>,
    ) {
        cx.out().count().client_requests += 1;
        if cx.out().tracing() {
            let name = match op {
                Op::Get { .. } => "get",
                Op::Put { .. } => "put",
                Op::Delete { .. } => "delete",
            };
            cx.out().trace(EventKind::Request {
                req: client.req,
                op: name.to_string(),
                key: op.key().to_string(),
            });
        }
        let level = level.unwrap_or(match op {
            Op::Get { .. } => cx.config().read,
            _ => cx.config().write,
        });
        let needed = match cx.config().check_level(level) {
            Ok(n) => n,
            Err(e) => {
                let outcome = ReplyOutcome::Rejected(e.to_string());
                reply(cx, client, outcome, None, Vec::new());
                return;
            }
        };
        let replicas = cx.ring().replicas(op.key(), cx.config().rf);
        let alive: Vec<NodeId> = replicas
            .iter()
            .copied()
            .filter(|r| detector.is_up(*r))
            .collect();
        // Bug seam (Bug::HintsCountAsAcks): a write counts the replicas it would hint for.
        let available = if cx.bug(Bug::HintsCountAsAcks)
            && cx.config().hints
            && !matches!(op, Op::Get { .. })
        {
            replicas.len()
        } else {
            alive.len()
        };
        // Bug seam (Bug::UnavailableIgnored): sending despite too few live replicas.
        if available < needed && !cx.bug(Bug::UnavailableIgnored) {
            cx.out().count().unavailable += 1;
            let outcome = ReplyOutcome::Unavailable {
                needed: needed as u16,
                alive: alive.len() as u16,
            };
            reply(cx, client, outcome, None, Vec::new());
            return;
        }
        let deadline = cx.now().mono + cx.config().request_timeout.as_micros() as u64;
        let req = cx.next_req();
        let (key, value) = match op {
            Op::Get { key } => {
                let read = ReadPending {
                    client,
                    key,
                    needed,
                    contacted: Vec::new(),
                    responses: Vec::new(),
                    repair: None,
                    deadline,
                    sent_at: cx.now().mono,
                };
                self.start_read(cx, replica, req, read, &alive);
                return;
            }
            Op::Put { key, value } => (key, Some(value)),
            Op::Delete { key } => (key, None),
        };
        let cell = Cell {
            timestamp: self.clock.next_timestamp(cx),
            writer: cx.id(),
            value,
        };
        let write = WritePending {
            client,
            key,
            cell,
            needed,
            sent: Vec::with_capacity(replicas.len()),
            acked: Vec::with_capacity(replicas.len()),
            replied: false,
            deadline,
        };
        self.start_write(cx, replica, detector, req, write, replicas);
    }

    /// Sends a read to the replicas chosen among the live ones, and moves it on (a read at
    /// `one` answered by this node's own replica is done at once).
    fn start_read(
        &mut self,
        cx: &mut Ctx,
        replica: &mut Replica,
        req: u64,
        mut read: ReadPending,
        alive: &[NodeId],
    ) {
        let me = cx.id();
        let mut contacted: Vec<NodeId> = Vec::with_capacity(read.needed);
        match cx.config().replica_choice {
            // This node first when it is a replica (a local read is free), then ring
            // order.
            ReplicaChoice::Ordered => {
                if alive.contains(&me) {
                    contacted.push(me);
                }
                contacted.extend(alive.iter().copied().filter(|r| *r != me));
            }
            // Random per read: a replica left behind is as likely to be asked as any.
            ReplicaChoice::Random | ReplicaChoice::Shuffled => contacted = shuffled(cx, alive),
            // This node first (a local read is free), then the replicas whose recent
            // replies came back soonest; ring order breaks ties, so a cold snitch is
            // the ordered choice.
            ReplicaChoice::Snitch => {
                if alive.contains(&me) {
                    contacted.push(me);
                }
                let mut others: Vec<NodeId> = alive.iter().copied().filter(|r| *r != me).collect();
                others.sort_by_key(|r| self.snitch.get(r.index()).copied().unwrap_or(0));
                contacted.extend(others);
            }
        }
        contacted.truncate(read.needed);
        let mut responses = Vec::with_capacity(read.needed);
        for r in &contacted {
            if *r == me {
                responses.push((me, replica.get(&read.key).copied()));
            } else {
                let key = read.key.clone();
                cx.out().send(Dest::Node(*r), Message::Read { req, key });
            }
        }
        read.contacted = contacted;
        read.responses = responses;
        let deadline = read.deadline;
        self.pending.insert(req, Pending::Read(read));
        cx.out().set_timer(deadline, Timer::Request(req));
        self.read_progress(cx, replica, req);
    }

    /// Sends a write to its replicas (applying it here first when this node is one), hints
    /// the ones seen down, and moves it on.
    fn start_write(
        &mut self,
        cx: &mut Ctx,
        replica: &mut Replica,
        detector: &FailureDetector,
        req: u64,
        mut write: WritePending,
        replicas: Vec<NodeId>,
    ) {
        let me = cx.id();
        let replicas = match cx.config().replica_choice {
            ReplicaChoice::Ordered | ReplicaChoice::Shuffled | ReplicaChoice::Snitch => replicas,
            // Exactly `needed` live replicas, drawn at random; the rest never hear of it.
            ReplicaChoice::Random => {
                let alive: Vec<NodeId> = replicas
                    .into_iter()
                    .filter(|r| *r == me || detector.is_up(*r))
                    .collect();
                let mut chosen = shuffled(cx, &alive);
                chosen.truncate(write.needed);
                chosen
            }
        };
        let (key, cell) = (write.key.clone(), write.cell);
        for r in replicas {
            if r == me {
                replica.apply(cx, &key, cell);
                replica.sync_if_always(cx);
                write.sent.push(r);
                write.acked.push(r);
            } else if detector.is_up(r) {
                let key = key.clone();
                cx.out()
                    .send(Dest::Node(r), Message::Write { req, key, cell });
                write.sent.push(r);
            } else if self.maybe_hint(cx, detector, r, &key, cell) && cx.bug(Bug::HintsCountAsAcks)
            {
                // Bug seam (Bug::HintsCountAsAcks): the stored hint counts as the replica's ack.
                write.sent.push(r);
                write.acked.push(r);
            }
        }
        let deadline = write.deadline;
        self.pending.insert(req, Pending::Write(write));
        cx.out().set_timer(deadline, Timer::Request(req));
        self.write_progress(cx, req);
    }

    /// Answers the client once enough acks are in; forgets the write once every replica acked.
    fn write_progress(&mut self, cx: &mut Ctx, req: u64) {
        // Bug seam (Bug::AckEarly): answering one ack early.
        let early = usize::from(cx.bug(Bug::AckEarly));
        let Some(Pending::Write(w)) = self.pending.get_mut(&req) else {
            return;
        };
        let answer = if !w.replied && w.acked.len() + early >= w.needed {
            w.replied = true;
            Some((w.client, w.cell, w.sent.clone()))
        } else {
            None
        };
        let done = w.replied && w.acked.len() == w.sent.len();
        if let Some((client, cell, sent)) = answer {
            let version = Some((cell.timestamp, cell.writer));
            reply(cx, client, ReplyOutcome::Written, version, sent);
        }
        if done {
            self.pending.remove(&req);
        }
    }

    /// A replica acknowledged a write: of a client write, a blocking read repair, or a hint.
    pub(super) fn on_write_ack(&mut self, cx: &mut Ctx, from: NodeId, req: u64) {
        match self.pending.get_mut(&req) {
            Some(Pending::Write(w)) => {
                if w.sent.contains(&from) && !w.acked.contains(&from) {
                    w.acked.push(from);
                    self.write_progress(cx, req);
                } else {
                    cx.out().count().stale_replies += 1;
                }
            }
            Some(Pending::Read(r)) => match &mut r.repair {
                Some((_, waiting)) if waiting.contains(&from) => {
                    waiting.retain(|n| *n != from);
                    self.repair_progress(cx, req);
                }
                _ => cx.out().count().stale_replies += 1,
            },
            Some(Pending::Hint { target, id, .. }) if *target == from => {
                let (target, id) = (*target, *id);
                self.pending.remove(&req);
                if let Some(h) = self.hints.delivered(target, id) {
                    cx.out().count().hints_replayed += 1;
                    cx.out()
                        .trace(EventKind::HintReplayed { target, key: h.key });
                }
            }
            _ => cx.out().count().stale_replies += 1,
        }
    }

    /// A replica answered a read.
    pub(super) fn on_read_reply(
        &mut self,
        cx: &mut Ctx,
        replica: &mut Replica,
        from: NodeId,
        req: u64,
        cell: Option<Cell>,
    ) {
        match self.pending.get_mut(&req) {
            Some(Pending::Read(r))
                if r.repair.is_none()
                    && r.contacted.contains(&from)
                    && !r.responses.iter().any(|(n, _)| *n == from) =>
            {
                r.responses.push((from, cell));
                // The snitch's view of this replica: a moving average of its reply times.
                let sample = cx.now().mono.saturating_sub(r.sent_at);
                if let Some(avg) = self.snitch.get_mut(from.index()) {
                    *avg = if *avg == 0 {
                        sample
                    } else {
                        (*avg * 3 + sample) / 4
                    };
                }
                self.read_progress(cx, replica, req);
            }
            _ => cx.out().count().stale_replies += 1,
        }
    }

    /// A blocking read repair heard another ack: once every repaired replica acked, answers
    /// the read with the resolved cell.
    fn repair_progress(&mut self, cx: &mut Ctx, req: u64) {
        let Some(Pending::Read(r)) = self.pending.get(&req) else {
            return;
        };
        if let Some((resolved, waiting)) = &r.repair {
            if waiting.is_empty() {
                let (client, contacted) = (r.client, r.contacted.clone());
                let resolved = *resolved;
                self.pending.remove(&req);
                answer_read(cx, client, Some(resolved), contacted);
            }
        }
    }

    /// Moves a read on: resolve once R replicas answered, repair the ones behind, answer.
    fn read_progress(&mut self, cx: &mut Ctx, replica: &mut Replica, req: u64) {
        let Some(Pending::Read(r)) = self.pending.get(&req) else {
            return;
        };
        if r.repair.is_some() {
            return;
        }
        if r.responses.len() < r.needed {
            return;
        }
        let r = r.clone();
        // Bug seam (Bug::ReadFirstResponse): answering with the first response.
        let by_arrival = cx.bug(Bug::LwwTieByArrival);
        let resolved = if cx.bug(Bug::ReadFirstResponse) {
            r.responses.first().and_then(|(_, c)| *c)
        } else if by_arrival {
            // Bug seam (Bug::LwwTieByArrival): responses are in arrival order.
            resolve_by_arrival(r.responses.iter().map(|(_, c)| c.as_ref()))
        } else {
            resolve(r.responses.iter().map(|(_, c)| c.as_ref()))
        };
        let behind: Vec<NodeId> = match resolved {
            Some(best) => r
                .responses
                .iter()
                .filter(|(_, c)| {
                    if by_arrival {
                        best.supersedes_by_arrival(c.as_ref()) && *c != Some(best)
                    } else {
                        best.supersedes(c.as_ref())
                    }
                })
                .map(|(n, _)| *n)
                .collect(),
            None => Vec::new(),
        };
        let mode = cx.config().read_repair;
        let (Some(best), false, false) = (resolved, behind.is_empty(), mode == ReadRepair::None)
        else {
            self.pending.remove(&req);
            answer_read(cx, r.client, resolved, r.contacted);
            return;
        };
        // Bug seam (Bug::RepairFreshTimestamp): repairing with a new timestamp.
        let repair_cell = if cx.bug(Bug::RepairFreshTimestamp) {
            Cell {
                timestamp: self.clock.next_timestamp(cx),
                writer: cx.id(),
                value: best.value,
            }
        } else {
            best
        };
        let mut waiting = Vec::new();
        for target in behind {
            cx.out().count().read_repairs += 1;
            cx.out().trace(EventKind::ReadRepair {
                target,
                key: r.key.clone(),
            });
            if target == cx.id() {
                replica.apply(cx, &r.key, repair_cell);
                replica.sync_if_always(cx);
            } else {
                // Async repairs use a request id nobody waits on: their acks are dropped.
                let repair_req = if mode == ReadRepair::Blocking {
                    waiting.push(target);
                    req
                } else {
                    cx.next_req()
                };
                cx.out().send(
                    Dest::Node(target),
                    Message::Write {
                        req: repair_req,
                        key: r.key.clone(),
                        cell: repair_cell,
                    },
                );
            }
        }
        if waiting.is_empty() {
            self.pending.remove(&req);
            answer_read(cx, r.client, resolved, r.contacted);
            return;
        }
        let deadline = cx.now().mono + cx.config().request_timeout.as_micros() as u64;
        if let Some(Pending::Read(p)) = self.pending.get_mut(&req) {
            p.repair = Some((best, waiting));
            p.deadline = deadline;
        }
        cx.out().set_timer(deadline, Timer::Request(req));
    }

    /// A request's deadline passed: answer Timeout (a write may still take effect), hint the
    /// replicas a write did not hear from, or let a hint be retried.
    pub(super) fn on_deadline(&mut self, cx: &mut Ctx, detector: &FailureDetector, req: u64) {
        let deadline = match self.pending.get(&req) {
            Some(Pending::Write(w)) => w.deadline,
            Some(Pending::Read(r)) => r.deadline,
            Some(Pending::Hint { deadline, .. }) => *deadline,
            None => return,
        };
        if cx.now().mono < deadline {
            return; // an earlier timer of a request whose deadline moved
        }
        match self.pending.remove(&req) {
            Some(Pending::Write(w)) => {
                // Bug seam (Bug::UnavailableIgnored): a write timeout reported as success.
                if !w.replied && cx.bug(Bug::UnavailableIgnored) {
                    let version = Some((w.cell.timestamp, w.cell.writer));
                    reply(cx, w.client, ReplyOutcome::Written, version, w.sent.clone());
                } else if !w.replied {
                    cx.out().count().timeouts += 1;
                    let outcome = ReplyOutcome::Timeout {
                        answered: w.acked.len() as u16,
                        needed: w.needed as u16,
                    };
                    reply(cx, w.client, outcome, None, w.sent.clone());
                }
                for r in w.sent.iter().filter(|r| !w.acked.contains(r)) {
                    self.maybe_hint(cx, detector, *r, &w.key, w.cell);
                }
            }
            Some(Pending::Read(r)) => {
                cx.out().count().timeouts += 1;
                let answered = match &r.repair {
                    Some((_, waiting)) => r.contacted.len() - waiting.len(),
                    None => r.responses.len(),
                };
                let outcome = ReplyOutcome::Timeout {
                    answered: answered as u16,
                    needed: r.needed as u16,
                };
                reply(cx, r.client, outcome, None, r.contacted);
            }
            Some(Pending::Hint { target, id, .. }) => self.hints.retry(target, id),
            None => {}
        }
    }

    /// Keeps a hint for a replica that missed a write, unless hints are off or the replica has
    /// been down longer than the hint window. Whether it kept one.
    fn maybe_hint(
        &mut self,
        cx: &mut Ctx,
        detector: &FailureDetector,
        target: NodeId,
        key: &str,
        cell: Cell,
    ) -> bool {
        if !cx.config().hints {
            return false;
        }
        let window = cx.config().hint_window.as_micros() as u64;
        if detector.down_for(target, cx.now().mono) > window {
            cx.out().count().hints_skipped += 1;
            return false;
        }
        self.hints.store(target, key, cell);
        cx.out().count().hints_stored += 1;
        cx.out().trace(EventKind::HintStored {
            target,
            key: key.to_string(),
        });
        true
    }

    /// Replays a batch of hints to every replica that has some (on every tick).
    pub(super) fn replay_all_hints(&mut self, cx: &mut Ctx, detector: &FailureDetector) {
        for target in self.hints.targets() {
            self.replay_hints(cx, detector, target);
        }
    }

    /// Sends a batch of `target`'s hints, with their original cells, if it is seen up.
    pub(super) fn replay_hints(
        &mut self,
        cx: &mut Ctx,
        detector: &FailureDetector,
        target: NodeId,
    ) {
        if !detector.is_up(target) {
            return;
        }
        let deadline = cx.now().mono + cx.config().request_timeout.as_micros() as u64;
        for (id, mut hint) in self.hints.take_batch(target, HINT_BATCH) {
            // Bug seam (Bug::HintNewTimestamp): the replayed hint takes the replay time.
            if cx.bug(Bug::HintNewTimestamp) {
                hint.cell.timestamp = self.clock.next_timestamp(cx);
            }
            let req = cx.next_req();
            self.pending.insert(
                req,
                Pending::Hint {
                    target,
                    id,
                    deadline,
                },
            );
            // Bug seam (Bug::HintWrongTarget): the replay goes to the next node in node order.
            let to = if cx.bug(Bug::HintWrongTarget) {
                NodeId(((target.index() + 1) % cx.config().nodes) as u16)
            } else {
                target
            };
            cx.out().send(
                Dest::Node(to),
                Message::Write {
                    req,
                    key: hint.key,
                    cell: hint.cell,
                },
            );
            cx.out().set_timer(deadline, Timer::Request(req));
        }
    }
}

/// `nodes` in a random order drawn from this node's seeded generator (Fisher-Yates).
fn shuffled(cx: &mut Ctx, nodes: &[NodeId]) -> Vec<NodeId> {
    let mut v = nodes.to_vec();
    for i in (1..v.len()).rev() {
        let j = (cx.random() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

fn answer_read(cx: &mut Ctx, client: ReplyTo, resolved: Option<Cell>, contacted: Vec<NodeId>) {
    let outcome = ReplyOutcome::Read(resolved.and_then(|c| c.value));
    let version = resolved.map(|c| (c.timestamp, c.writer));
    reply(cx, client, outcome, version, contacted);
}

fn reply(
    cx: &mut Ctx,
    client: ReplyTo,
    outcome: ReplyOutcome,
    version: Option<(u64, NodeId)>,
    replicas: Vec<NodeId>,
) {
    if cx.out().tracing() {
        cx.out().trace(EventKind::Replied {
            req: client.req,
            outcome: format!("{outcome:?}"),
        });
    }
    cx.out().send(
        client.to,
        Message::Reply {
            req: client.req,
            reply: Reply {
                outcome,
                version,
                replicas,
            },
        },
    );
}
