//! [`Coordinator`]: this node as the coordinator of client requests: writes and reads at a
//! consistency level, read repair, hints for replicas that missed a write, and hint replay.
//!
//! Every request follows the same shape: decide up front whether it can be tried at all (a
//! level above RF is rejected, too few live replicas is Unavailable, and in both cases nothing
//! is sent, so the client knows the request did not take effect), send to the replicas, keep a
//! pending entry under a fresh request id with a deadline timer, and move it on as replies
//! come in. A reply that matches no pending entry, or comes from a replica the entry did not
//! ask, is stale: counted and dropped, never an error, because UDP delivers late and twice.

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
        // A request without a level runs at the store's configured one for its kind.
        let level = level.unwrap_or(match op {
            Op::Get { .. } => cx.config().read,
            _ => cx.config().write,
        });
        // A level the store cannot meet (above RF) is rejected before anything is sent.
        let needed = match cx.config().check_level(level) {
            Ok(n) => n,
            Err(e) => {
                let outcome = ReplyOutcome::Rejected(e.to_string());
                reply(cx, client, outcome, None, Vec::new());
                return;
            }
        };
        // Liveness is this node's failure detector's opinion, and may be wrong either way: a
        // replica wrongly seen up makes the request time out instead of failing fast.
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
        // Fail fast, like Cassandra's UnavailableException: with too few replicas seen up the
        // request could only time out, and failing before sending tells the client for sure
        // that nothing was written (a fail, where a timeout would be an info).
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
        // The request id is drawn only now, for requests that will be sent: ids travel in
        // messages, so drawing one for a rejected request would shift every later id.
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
        // The coordinator stamps the write: its clock and its id decide last-write-wins for
        // this cell on every replica, whatever order the replicas see writes in.
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
        // Exactly R replicas are asked, no spare: a lost read or a slow replica makes the read
        // wait for its deadline (there is no speculative retry).
        contacted.truncate(read.needed);
        let mut responses = Vec::with_capacity(read.needed);
        for r in &contacted {
            // The local replica answers in place: its response is in before any other, and a
            // read at `one` it can answer completes within this input.
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
                // The local replica is written (and under `fsync: always` synced) before any
                // message leaves, and counts as an ack at once.
                replica.apply(cx, &key, cell);
                replica.sync_if_always(cx);
                write.sent.push(r);
                write.acked.push(r);
            } else if detector.is_up(r) {
                // Only replicas seen up are sent the write and counted in `sent`; the deadline
                // hints those of them that never acked.
                let key = key.clone();
                cx.out()
                    .send(Dest::Node(r), Message::Write { req, key, cell });
                write.sent.push(r);
            } else if self.maybe_hint(cx, detector, r, &key, cell) && cx.bug(Bug::HintsCountAsAcks)
            {
                // This replica was seen down: not sent the write (it would be lost), only
                // hinted, and in a correct store that never counts towards W, since a hint is
                // not a replica's copy.
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
        // The entry stays after the answer until every replica it went to acked: the deadline
        // then hints the ones that did not, so a write acked at W still reaches all RF.
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
                // Only a replica the write went to, and only once: a duplicated datagram must
                // not count twice towards W.
                if w.sent.contains(&from) && !w.acked.contains(&from) {
                    w.acked.push(from);
                    self.write_progress(cx, req);
                } else {
                    cx.out().count().stale_replies += 1;
                }
            }
            // A blocking read repair reuses the read's request id, so its acks land here.
            Some(Pending::Read(r)) => match &mut r.repair {
                Some((_, waiting)) if waiting.contains(&from) => {
                    waiting.retain(|n| *n != from);
                    self.repair_progress(cx, req);
                }
                _ => cx.out().count().stale_replies += 1,
            },
            // A hint is delivered only when its own target acks it (not the node a wrong replay
            // went to).
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
            // Responses count only while the read is still collecting them, from a replica it
            // asked, once each; after resolution a late response changes nothing.
            Some(Pending::Read(r))
                if r.repair.is_none()
                    && r.contacted.contains(&from)
                    && !r.responses.iter().any(|(n, _)| *n == from) =>
            {
                r.responses.push((from, cell));
                // The snitch's view of this replica: a moving average of its reply times, the
                // first sample taken as it is.
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
    ///
    /// The read answers with the newest cell among R responses. With W + R > RF every write
    /// acked at W is on at least one of them, which is what makes quorum reads see acked
    /// writes; the replicas found behind are written the resolved cell back (read repair), and
    /// with blocking repair the client hears only after they acked, so that once a read has
    /// returned a value, any later read of R replicas finds it (monotonic reads).
    fn read_progress(&mut self, cx: &mut Ctx, replica: &mut Replica, req: u64) {
        let Some(Pending::Read(r)) = self.pending.get(&req) else {
            return;
        };
        // Already resolved, waiting for repair acks: those move it on (`repair_progress`).
        if r.repair.is_some() {
            return;
        }
        // Fewer than R answers is no answer at all: the level promises R replicas' views, and
        // the deadline turns a read that never gets them into a Timeout.
        if r.responses.len() < r.needed {
            return;
        }
        // A copy, so the entry can be removed or updated while repairs are sent.
        let r = r.clone();
        // Bug seam (Bug::ReadFirstResponse): answering with the first response.
        let by_arrival = cx.bug(Bug::LwwTieByArrival);
        // Resolve by last-write-wins on (timestamp, writer), the same rule every replica merges
        // by, so the answer is the cell the replicas converge to. `None`: no replica has it.
        let resolved = if cx.bug(Bug::ReadFirstResponse) {
            r.responses.first().and_then(|(_, c)| *c)
        } else if by_arrival {
            // Bug seam (Bug::LwwTieByArrival): responses are in arrival order.
            resolve_by_arrival(r.responses.iter().map(|(_, c)| c.as_ref()))
        } else {
            resolve(r.responses.iter().map(|(_, c)| c.as_ref()))
        };
        // Behind: the responders whose cell the resolved one would replace, a missing cell
        // included. Under the planted arrival-order tie rule an equal cell also "loses" to
        // itself, so the resolved cell's own holders are left out by hand.
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
        // Answer at once when there is nothing to repair: the key is absent everywhere asked,
        // every responder is up to date, or read repair is off.
        let mode = cx.config().read_repair;
        let (Some(best), false, false) = (resolved, behind.is_empty(), mode == ReadRepair::None)
        else {
            self.pending.remove(&req);
            answer_read(cx, r.client, resolved, r.contacted);
            return;
        };
        // The repair writes the resolved cell itself, timestamp and writer unchanged: a repair
        // only spreads a write that happened, and can never win over a later write it did not
        // see (which a fresh timestamp would).
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
        // Bug seam (Bug::PartialReadRepair): only the first replica behind is repaired.
        let behind = if cx.bug(Bug::PartialReadRepair) {
            behind.into_iter().take(1).collect()
        } else {
            behind
        };
        let mut waiting = Vec::new();
        for target in behind {
            cx.out().count().read_repairs += 1;
            cx.out().trace(EventKind::ReadRepair {
                target,
                key: r.key.clone(),
            });
            if target == cx.id() {
                // This node's own replica is repaired in place, and synced as the policy says
                // before the answer can leave: nothing to wait for.
                replica.apply(cx, &r.key, repair_cell);
                replica.sync_if_always(cx);
            } else {
                // Blocking repairs reuse the read's id, so their acks find this entry.
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
        // Nothing to wait for (async repair, or only the local replica was behind): answer now.
        if waiting.is_empty() {
            self.pending.remove(&req);
            answer_read(cx, r.client, resolved, r.contacted);
            return;
        }
        // Wait for the repairs' acks with a fresh deadline: the repair is a write of its own and
        // gets a full request timeout. The read's first timer still fires, and is ignored
        // because the deadline moved. The answer keeps the resolved cell (`best`), what the
        // replicas had, even where the planted bug repaired with another.
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
            // A write past its deadline: a Timeout if the client was not answered yet (it may
            // still take effect: some replicas have it), and in any case a hint for every
            // replica that never acked, answered or not.
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
            // A read past its deadline was never answered (answering removes it): Timeout,
            // saying how many replicas did answer.
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
            // An unacked hint stays held and goes out again with a later batch.
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
        // Past the hint window (Cassandra's max_hint_window) the replica is left to read repair
        // and anti-entropy: hints for a long-dead node would only pile up.
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
        // A replica seen down would lose the batch; it is tried when heard from again.
        if !detector.is_up(target) {
            return;
        }
        // A bounded batch per tick, each hint under its own request id and deadline: the ack
        // of each delivers exactly that hint, and one that gets none is retried later.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::config::StoreConfig;
    use crate::store::message::Reply;
    use crate::store::outbox::Effect;
    use crate::store::storage::Storage;
    use crate::store::testkit::{at, cell, client, cx, key_where, sends, to_nodes};

    /// Node 0 as coordinator: its context, coordinator, replica and failure detector.
    struct Coord {
        cx: Ctx,
        c: Coordinator,
        replica: Replica,
        fd: FailureDetector,
    }

    impl Coord {
        fn new(config: &StoreConfig) -> Coord {
            let timeout = config.failure_timeout.as_micros() as u64;
            Coord {
                cx: cx(0, config, 10),
                c: Coordinator::new(config.nodes, Clock::new(0, 0)),
                replica: Replica::new(Storage::new()),
                fd: FailureDetector::new(NodeId(0), config.nodes, timeout, 0),
            }
        }

        fn at(&mut self, ms: u64) -> &mut Coord {
            self.cx.set_now(at(ms));
            self
        }

        /// Client request 7: `op` at `level`.
        fn request(&mut self, op: Op, level: ConsistencyLevel) -> Vec<Effect> {
            let to = ReplyTo::new(client(), 7);
            let Coord { cx, c, replica, fd } = self;
            c.coordinate(cx, replica, fd, to, op, Some(level));
            cx.out().take()
        }

        fn ack(&mut self, from: NodeId, req: u64) -> Vec<Effect> {
            self.c.on_write_ack(&mut self.cx, from, req);
            self.cx.out().take()
        }

        fn read_reply(&mut self, from: NodeId, req: u64, cell: Option<Cell>) -> Vec<Effect> {
            let Coord { cx, c, replica, .. } = self;
            c.on_read_reply(cx, replica, from, req, cell);
            cx.out().take()
        }

        fn deadline(&mut self, req: u64) -> Vec<Effect> {
            self.c.on_deadline(&mut self.cx, &self.fd, req);
            self.cx.out().take()
        }
    }

    fn put(key: &str, value: i64) -> Op {
        Op::Put {
            key: key.to_string(),
            value,
        }
    }

    fn get(key: &str) -> Op {
        Op::Get {
            key: key.to_string(),
        }
    }

    fn reply(outcome: ReplyOutcome, version: Option<Cell>, replicas: &[NodeId]) -> Effect {
        Effect::Send {
            to: client(),
            msg: Message::Reply {
                req: 7,
                reply: Reply {
                    outcome,
                    version: version.map(|c| (c.timestamp, c.writer)),
                    replicas: replicas.to_vec(),
                },
            },
        }
    }

    fn write(to: NodeId, req: u64, key: &str, cell: Cell) -> Effect {
        Effect::Send {
            to: Dest::Node(to),
            msg: Message::Write {
                req,
                key: key.to_string(),
                cell,
            },
        }
    }

    /// A key node 0 does not replicate, and its replicas.
    fn elsewhere(config: &StoreConfig) -> (String, Vec<NodeId>) {
        key_where(config, |r| !r.contains(&NodeId(0)))
    }

    #[test]
    fn a_write_at_two_goes_to_every_replica_and_is_answered_at_the_second_ack() {
        let config = StoreConfig::default();
        let (key, r) = elsewhere(&config);
        let mut n = Coord::new(&config);
        // Stamped with node 0's clock at 10 ms, under request id 101, with a deadline one
        // request timeout (500 ms) on.
        let c = cell(10_000, 0, Some(5));
        assert_eq!(
            n.request(put(&key, 5), ConsistencyLevel::Two),
            [
                Effect::PersistClock(10_000),
                write(r[0], 101, &key, c),
                write(r[1], 101, &key, c),
                write(r[2], 101, &key, c),
                Effect::SetTimer {
                    at: 510_000,
                    timer: Timer::Request(101)
                },
            ]
        );
        assert_eq!(n.at(12).ack(r[2], 101), []);
        assert_eq!(
            n.ack(r[0], 101),
            [reply(ReplyOutcome::Written, Some(c), &r)]
        );
        // The third ack completes the write: nothing is left waiting, and a duplicate of it
        // is stale, not a second answer.
        assert!(n.c.busy());
        assert_eq!(n.ack(r[1], 101), []);
        assert!(!n.c.busy());
        assert_eq!(n.ack(r[1], 101), []);
        assert_eq!(n.cx.outbox().counters().stale_replies, 1);
        // An ack from a node the write never went to counts for nothing.
        let mut m = Coord::new(&config);
        m.request(put(&key, 6), ConsistencyLevel::One);
        assert_eq!(m.ack(NodeId(0), 101), []);
        assert_eq!(m.cx.outbox().counters().stale_replies, 1);
    }

    #[test]
    fn a_coordinator_that_replicates_the_key_applies_it_first_and_counts_its_own_ack() {
        let config = StoreConfig::default();
        let (key, r) = key_where(&config, |r| r[0] == NodeId(0));
        let mut n = Coord::new(&config);
        let c = cell(10_000, 0, Some(5));
        assert_eq!(
            n.request(put(&key, 5), ConsistencyLevel::One),
            [
                Effect::PersistClock(10_000),
                Effect::Append {
                    key: key.clone(),
                    cell: c
                },
                write(r[1], 101, &key, c),
                write(r[2], 101, &key, c),
                Effect::SetTimer {
                    at: 510_000,
                    timer: Timer::Request(101)
                },
                reply(ReplyOutcome::Written, Some(c), &r),
            ]
        );
        assert_eq!(n.replica.get(&key), Some(&c));
    }

    #[test]
    fn a_read_that_finds_a_replica_behind_repairs_it_and_answers_after_the_repair_ack() {
        let config = StoreConfig::default(); // quorum reads, blocking repair, ordered
        let (key, r) = elsewhere(&config);
        let mut n = Coord::new(&config);
        let read = |to: NodeId| Effect::Send {
            to: Dest::Node(to),
            msg: Message::Read {
                req: 101,
                key: key.clone(),
            },
        };
        // Exactly R = 2 replicas are asked, in ring order.
        assert_eq!(
            n.request(get(&key), ConsistencyLevel::Quorum),
            [
                read(r[0]),
                read(r[1]),
                Effect::SetTimer {
                    at: 510_000,
                    timer: Timer::Request(101)
                },
            ]
        );
        let (new, old) = (cell(3_000, 2, Some(8)), cell(2_000, 1, Some(4)));
        assert_eq!(n.at(12).read_reply(r[0], 101, Some(new)), []);
        // The second response resolves the read: the stale replica is written the newer cell,
        // under the read's own id, and the read waits a fresh request timeout for its ack.
        assert_eq!(
            n.at(13).read_reply(r[1], 101, Some(old)),
            [
                write(r[1], 101, &key, new),
                Effect::SetTimer {
                    at: 513_000,
                    timer: Timer::Request(101)
                },
            ]
        );
        assert_eq!(n.cx.outbox().counters().read_repairs, 1);
        // The read's first deadline fires and is ignored: the deadline moved.
        assert_eq!(n.at(510).deadline(101), []);
        assert_eq!(
            n.at(511).ack(r[1], 101),
            [reply(ReplyOutcome::Read(Some(8)), Some(new), &r[..2])]
        );
        assert!(!n.c.busy());
    }

    #[test]
    fn an_async_repair_is_sent_under_its_own_id_and_the_read_answers_at_once() {
        let config = StoreConfig {
            read_repair: ReadRepair::Async,
            ..StoreConfig::default()
        };
        let (key, r) = elsewhere(&config);
        let mut n = Coord::new(&config);
        n.request(get(&key), ConsistencyLevel::Quorum);
        let (new, old) = (cell(3_000, 2, Some(8)), cell(2_000, 1, Some(4)));
        n.read_reply(r[0], 101, Some(old));
        assert_eq!(
            n.read_reply(r[1], 101, Some(new)),
            [
                write(r[0], 102, &key, new),
                reply(ReplyOutcome::Read(Some(8)), Some(new), &r[..2]),
            ]
        );
        // Nobody waits on the repair's ack.
        assert_eq!(n.ack(r[0], 102), []);
        assert_eq!(n.cx.outbox().counters().stale_replies, 1);
    }

    #[test]
    fn the_deadline_hints_the_replicas_that_never_acked_and_the_hints_are_replayed() {
        let config = StoreConfig::default();
        let (key, r) = elsewhere(&config);
        let mut n = Coord::new(&config);
        let c = cell(10_000, 0, Some(5));
        n.request(put(&key, 5), ConsistencyLevel::One);
        assert_eq!(
            n.at(12).ack(r[1], 101),
            [reply(ReplyOutcome::Written, Some(c), &r)]
        );
        // Answered already: the deadline only hints the two replicas that stayed silent.
        assert_eq!(n.at(510).deadline(101), []);
        assert_eq!(n.c.hint_count(), 2);
        assert_eq!(n.cx.outbox().counters().hints_stored, 2);
        // Each hint goes back with its original cell, under a request id and deadline of its
        // own, targets in node order.
        let Coord {
            cx, c: coord, fd, ..
        } = n.at(520);
        coord.replay_all_hints(cx, fd);
        let effects = cx.out().take();
        let mut silent = [r[0], r[2]];
        silent.sort();
        let expected = silent.iter().zip([102, 103]).flat_map(|(&to, req)| {
            [
                write(to, req, &key, c),
                Effect::SetTimer {
                    at: 1_020_000,
                    timer: Timer::Request(req),
                },
            ]
        });
        assert_eq!(effects, expected.collect::<Vec<_>>());
        // An ack from the node a hint went to delivers it.
        assert_eq!(n.ack(silent[0], 102), []);
        assert_eq!(n.c.hint_count(), 1);
        assert_eq!(n.cx.outbox().counters().hints_replayed, 1);
    }

    #[test]
    fn a_write_short_of_its_level_at_the_deadline_times_out_and_hints() {
        let config = StoreConfig::default();
        let (key, r) = elsewhere(&config);
        let mut n = Coord::new(&config);
        n.request(put(&key, 5), ConsistencyLevel::All);
        n.ack(r[0], 101);
        let timeout = ReplyOutcome::Timeout {
            answered: 1,
            needed: 3,
        };
        assert_eq!(n.at(510).deadline(101), [reply(timeout, None, &r)]);
        assert_eq!(n.c.hint_count(), 2);
        assert_eq!(n.cx.outbox().counters().timeouts, 1);
    }

    #[test]
    fn too_few_live_replicas_is_unavailable_before_anything_is_sent() {
        let config = StoreConfig::default();
        let (key, r) = elsewhere(&config);
        let mut n = Coord::new(&config);
        // Past the failure timeout (1 s), only r[0] has been heard from.
        n.fd.heard(r[0], 1_400_000);
        n.fd.expire(1_500_000);
        let unavailable = ReplyOutcome::Unavailable {
            needed: 2,
            alive: 1,
        };
        assert_eq!(
            n.at(1500).request(put(&key, 5), ConsistencyLevel::Quorum),
            [reply(unavailable, None, &[])]
        );
        assert_eq!(n.cx.outbox().counters().unavailable, 1);
        // A level above RF is refused the same way.
        let effects = n.request(get(&key), ConsistencyLevel::Count(4));
        assert!(
            matches!(&sends(&effects)[..], [(to, Message::Reply { reply, .. })]
                if *to == client() && matches!(reply.outcome, ReplyOutcome::Rejected(_))),
            "{effects:?}"
        );
        // Neither drew a request id: the next request sent is still 101, to the live replica.
        let effects = n.request(get(&key), ConsistencyLevel::One);
        let to: Vec<Dest> = sends(&effects).into_iter().map(|(to, _)| to).collect();
        assert_eq!(to, to_nodes(&r[..1]));
        assert!(matches!(
            sends(&effects)[0].1,
            Message::Read { req: 101, .. }
        ));
    }
}
