//! The coordinator paths of a [`Node`]: client writes and reads at a consistency level, read
//! repair, hints for replicas that missed a write, and hint replay.

use std::net::SocketAddr;

use super::cell::{resolve, resolve_by_arrival, Cell, NodeId};
use super::config::{Bug, ReadRepair, ReplicaChoice};
use super::control::EventKind;
use super::message::{Message, Op, Reply, ReplyOutcome};
use super::node::{Node, Now, Timer};
use rand_core::RngCore;

/// A request this node is waiting on.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Write(WritePending),
    Read(ReadPending),
    Hint {
        target: NodeId,
        id: u64,
        deadline: u64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct WritePending {
    client: SocketAddr,
    client_req: u64,
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
pub(crate) struct ReadPending {
    client: SocketAddr,
    client_req: u64,
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

impl Node {
    /// A client request arrived: this node coordinates it.
    pub(super) fn coordinate(
        &mut self,
        client: SocketAddr,
        client_req: u64,
        op: Op,
        level: Option<super::config::ConsistencyLevel>,
        now: Now,
    ) {
        self.counters.client_requests += 1;
        if self.tracing() {
            let name = match op {
                Op::Get { .. } => "get",
                Op::Put { .. } => "put",
                Op::Delete { .. } => "delete",
            };
            self.trace(EventKind::Request {
                req: client_req,
                op: name.to_string(),
                key: op.key().to_string(),
            });
        }
        let level = level.unwrap_or(match op {
            Op::Get { .. } => self.config.read,
            _ => self.config.write,
        });
        let needed = match self.config.check_level(level) {
            Ok(n) => n,
            Err(e) => {
                let outcome = ReplyOutcome::Rejected(e.to_string());
                self.reply(client, client_req, outcome, None, Vec::new());
                return;
            }
        };
        let replicas = self.ring.replicas(op.key(), self.config.rf);
        let alive: Vec<NodeId> = replicas
            .iter()
            .copied()
            .filter(|r| self.detector.is_up(*r))
            .collect();
        // Bug seam (Bug::HintsCountAsAcks): a write counts the replicas it would hint for.
        let available = if self.bug(Bug::HintsCountAsAcks)
            && self.config.hints
            && !matches!(op, Op::Get { .. })
        {
            replicas.len()
        } else {
            alive.len()
        };
        // Bug seam (Bug::UnavailableIgnored): sending despite too few live replicas.
        if available < needed && !self.bug(Bug::UnavailableIgnored) {
            self.counters.unavailable += 1;
            let outcome = ReplyOutcome::Unavailable {
                needed: needed as u16,
                alive: alive.len() as u16,
            };
            self.reply(client, client_req, outcome, None, Vec::new());
            return;
        }
        let deadline = now.mono + self.config.request_timeout.as_micros() as u64;
        let req = self.next_req();
        match op {
            Op::Get { key } => {
                let mut contacted: Vec<NodeId> = Vec::with_capacity(needed);
                match self.config.replica_choice {
                    // This node first when it is a replica (a local read is free), then ring
                    // order.
                    ReplicaChoice::Ordered => {
                        if alive.contains(&self.id) {
                            contacted.push(self.id);
                        }
                        contacted.extend(alive.iter().copied().filter(|r| *r != self.id));
                    }
                    // Random per read: a replica left behind is as likely to be asked as any.
                    ReplicaChoice::Random | ReplicaChoice::Shuffled => {
                        contacted = self.shuffled(&alive)
                    }
                    // This node first (a local read is free), then the replicas whose recent
                    // replies came back soonest; ring order breaks ties, so a cold snitch is
                    // the ordered choice.
                    ReplicaChoice::Snitch => {
                        if alive.contains(&self.id) {
                            contacted.push(self.id);
                        }
                        let mut others: Vec<NodeId> =
                            alive.iter().copied().filter(|r| *r != self.id).collect();
                        others.sort_by_key(|r| self.snitch.get(r.index()).copied().unwrap_or(0));
                        contacted.extend(others);
                    }
                }
                contacted.truncate(needed);
                let mut responses = Vec::with_capacity(needed);
                for r in &contacted {
                    if *r == self.id {
                        responses.push((self.id, self.storage.get(&key).copied()));
                    } else {
                        self.send(
                            *r,
                            &Message::Read {
                                req,
                                key: key.clone(),
                            },
                        );
                    }
                }
                self.pending.insert(
                    req,
                    Pending::Read(ReadPending {
                        client,
                        client_req,
                        key,
                        needed,
                        contacted,
                        responses,
                        repair: None,
                        deadline,
                        sent_at: now.mono,
                    }),
                );
                self.set_timer(deadline, Timer::Request(req));
                self.read_progress(req, now);
            }
            Op::Put { key, value } => self.coordinate_write(
                client,
                client_req,
                req,
                key,
                Some(value),
                needed,
                replicas,
                deadline,
                now,
            ),
            Op::Delete { key } => self.coordinate_write(
                client, client_req, req, key, None, needed, replicas, deadline, now,
            ),
        }
    }

    /// `nodes` in a random order drawn from this node's seeded generator (Fisher-Yates).
    fn shuffled(&mut self, nodes: &[NodeId]) -> Vec<NodeId> {
        let mut v = nodes.to_vec();
        for i in (1..v.len()).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }

    #[allow(clippy::too_many_arguments)]
    fn coordinate_write(
        &mut self,
        client: SocketAddr,
        client_req: u64,
        req: u64,
        key: String,
        value: Option<i64>,
        needed: usize,
        replicas: Vec<NodeId>,
        deadline: u64,
        now: Now,
    ) {
        let cell = Cell {
            timestamp: self.next_timestamp(now),
            writer: self.id,
            value,
        };
        let mut sent = Vec::with_capacity(replicas.len());
        let mut acked = Vec::with_capacity(replicas.len());
        let replicas = match self.config.replica_choice {
            ReplicaChoice::Ordered | ReplicaChoice::Shuffled | ReplicaChoice::Snitch => replicas,
            // Exactly `needed` live replicas, drawn at random; the rest never hear of it.
            ReplicaChoice::Random => {
                let alive: Vec<NodeId> = replicas
                    .into_iter()
                    .filter(|r| *r == self.id || self.detector.is_up(*r))
                    .collect();
                let mut chosen = self.shuffled(&alive);
                chosen.truncate(needed);
                chosen
            }
        };
        for r in replicas {
            if r == self.id {
                self.apply(&key, cell);
                self.sync_if_always();
                sent.push(r);
                acked.push(r);
            } else if self.detector.is_up(r) {
                self.send(
                    r,
                    &Message::Write {
                        req,
                        key: key.clone(),
                        cell,
                    },
                );
                sent.push(r);
            } else if self.maybe_hint(r, &key, cell, now) && self.bug(Bug::HintsCountAsAcks) {
                // Bug seam (Bug::HintsCountAsAcks): the stored hint counts as the replica's ack.
                sent.push(r);
                acked.push(r);
            }
        }
        self.pending.insert(
            req,
            Pending::Write(WritePending {
                client,
                client_req,
                key,
                cell,
                needed,
                sent,
                acked,
                replied: false,
                deadline,
            }),
        );
        self.set_timer(deadline, Timer::Request(req));
        self.write_progress(req);
    }

    /// Answers the client once enough acks are in; forgets the write once every replica acked.
    fn write_progress(&mut self, req: u64) {
        // Bug seam (Bug::AckEarly): answering one ack early.
        let early = usize::from(self.bug(Bug::AckEarly));
        let Some(Pending::Write(w)) = self.pending.get_mut(&req) else {
            return;
        };
        let answer = if !w.replied && w.acked.len() + early >= w.needed {
            w.replied = true;
            Some((w.client, w.client_req, w.cell, w.sent.clone()))
        } else {
            None
        };
        let done = w.replied && w.acked.len() == w.sent.len();
        if let Some((client, client_req, cell, sent)) = answer {
            let version = Some((cell.timestamp, cell.writer));
            self.reply(client, client_req, ReplyOutcome::Written, version, sent);
        }
        if done {
            self.pending.remove(&req);
        }
    }

    pub(super) fn on_write_ack(&mut self, from: NodeId, req: u64, now: Now) {
        match self.pending.get_mut(&req) {
            Some(Pending::Write(w)) => {
                if w.sent.contains(&from) && !w.acked.contains(&from) {
                    w.acked.push(from);
                    self.write_progress(req);
                } else {
                    self.counters.stale_replies += 1;
                }
            }
            Some(Pending::Read(r)) => match &mut r.repair {
                Some((_, waiting)) if waiting.contains(&from) => {
                    waiting.retain(|n| *n != from);
                    self.read_progress(req, now);
                }
                _ => self.counters.stale_replies += 1,
            },
            Some(Pending::Hint { target, id, .. }) if *target == from => {
                let (target, id) = (*target, *id);
                self.pending.remove(&req);
                if let Some(h) = self.hints.delivered(target, id) {
                    self.counters.hints_replayed += 1;
                    self.trace(EventKind::HintReplayed { target, key: h.key });
                }
            }
            _ => self.counters.stale_replies += 1,
        }
    }

    pub(super) fn on_read_reply(&mut self, from: NodeId, req: u64, cell: Option<Cell>, now: Now) {
        match self.pending.get_mut(&req) {
            Some(Pending::Read(r))
                if r.repair.is_none()
                    && r.contacted.contains(&from)
                    && !r.responses.iter().any(|(n, _)| *n == from) =>
            {
                r.responses.push((from, cell));
                // The snitch's view of this replica: a moving average of its reply times.
                let sample = now.mono.saturating_sub(r.sent_at);
                if let Some(avg) = self.snitch.get_mut(from.index()) {
                    *avg = if *avg == 0 {
                        sample
                    } else {
                        (*avg * 3 + sample) / 4
                    };
                }
                self.read_progress(req, now);
            }
            _ => self.counters.stale_replies += 1,
        }
    }

    /// Moves a read on: resolve once R replicas answered, repair the ones behind, answer.
    fn read_progress(&mut self, req: u64, now: Now) {
        let Some(Pending::Read(r)) = self.pending.get(&req) else {
            return;
        };
        if let Some((resolved, waiting)) = &r.repair {
            if waiting.is_empty() {
                let (client, client_req, contacted) = (r.client, r.client_req, r.contacted.clone());
                let resolved = *resolved;
                self.pending.remove(&req);
                self.answer_read(client, client_req, Some(resolved), contacted);
            }
            return;
        }
        if r.responses.len() < r.needed {
            return;
        }
        let r = r.clone();
        // Bug seam (Bug::ReadFirstResponse): answering with the first response.
        let by_arrival = self.bug(Bug::LwwTieByArrival);
        let resolved = if self.bug(Bug::ReadFirstResponse) {
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
        let mode = self.config.read_repair;
        let (Some(best), false, false) = (resolved, behind.is_empty(), mode == ReadRepair::None)
        else {
            self.pending.remove(&req);
            self.answer_read(r.client, r.client_req, resolved, r.contacted);
            return;
        };
        // Bug seam (Bug::RepairFreshTimestamp): repairing with a new timestamp.
        let repair_cell = if self.bug(Bug::RepairFreshTimestamp) {
            Cell {
                timestamp: self.next_timestamp(now),
                writer: self.id,
                value: best.value,
            }
        } else {
            best
        };
        let mut waiting = Vec::new();
        for target in behind {
            self.counters.read_repairs += 1;
            self.trace(EventKind::ReadRepair {
                target,
                key: r.key.clone(),
            });
            if target == self.id {
                self.apply(&r.key, repair_cell);
                self.sync_if_always();
            } else {
                // Async repairs use a request id nobody waits on: their acks are dropped.
                let repair_req = if mode == ReadRepair::Blocking {
                    waiting.push(target);
                    req
                } else {
                    self.next_req()
                };
                self.send(
                    target,
                    &Message::Write {
                        req: repair_req,
                        key: r.key.clone(),
                        cell: repair_cell,
                    },
                );
            }
        }
        if waiting.is_empty() {
            self.pending.remove(&req);
            self.answer_read(r.client, r.client_req, resolved, r.contacted);
            return;
        }
        let deadline = now.mono + self.config.request_timeout.as_micros() as u64;
        if let Some(Pending::Read(p)) = self.pending.get_mut(&req) {
            p.repair = Some((best, waiting));
            p.deadline = deadline;
        }
        self.set_timer(deadline, Timer::Request(req));
    }

    fn answer_read(
        &mut self,
        client: SocketAddr,
        client_req: u64,
        resolved: Option<Cell>,
        contacted: Vec<NodeId>,
    ) {
        let outcome = ReplyOutcome::Read(resolved.and_then(|c| c.value));
        let version = resolved.map(|c| (c.timestamp, c.writer));
        self.reply(client, client_req, outcome, version, contacted);
    }

    pub(super) fn on_request_deadline(&mut self, req: u64, now: Now) {
        let deadline = match self.pending.get(&req) {
            Some(Pending::Write(w)) => w.deadline,
            Some(Pending::Read(r)) => r.deadline,
            Some(Pending::Hint { deadline, .. }) => *deadline,
            None => return,
        };
        if now.mono < deadline {
            return; // an earlier timer of a request whose deadline moved
        }
        match self.pending.remove(&req) {
            Some(Pending::Write(w)) => {
                // Bug seam (Bug::UnavailableIgnored): a write timeout reported as success.
                if !w.replied && self.bug(Bug::UnavailableIgnored) {
                    let version = Some((w.cell.timestamp, w.cell.writer));
                    self.reply(
                        w.client,
                        w.client_req,
                        ReplyOutcome::Written,
                        version,
                        w.sent.clone(),
                    );
                } else if !w.replied {
                    self.counters.timeouts += 1;
                    let outcome = ReplyOutcome::Timeout {
                        answered: w.acked.len() as u16,
                        needed: w.needed as u16,
                    };
                    self.reply(w.client, w.client_req, outcome, None, w.sent.clone());
                }
                for r in w.sent.iter().filter(|r| !w.acked.contains(r)) {
                    self.maybe_hint(*r, &w.key, w.cell, now);
                }
            }
            Some(Pending::Read(r)) => {
                self.counters.timeouts += 1;
                let answered = match &r.repair {
                    Some((_, waiting)) => r.contacted.len() - waiting.len(),
                    None => r.responses.len(),
                };
                let outcome = ReplyOutcome::Timeout {
                    answered: answered as u16,
                    needed: r.needed as u16,
                };
                self.reply(r.client, r.client_req, outcome, None, r.contacted);
            }
            Some(Pending::Hint { target, id, .. }) => self.hints.retry(target, id),
            None => {}
        }
    }

    /// Keeps a hint for a replica that missed a write, unless hints are off or the replica has
    /// been down longer than the hint window. Whether it kept one.
    fn maybe_hint(&mut self, target: NodeId, key: &str, cell: Cell, now: Now) -> bool {
        if !self.config.hints {
            return false;
        }
        let window = self.config.hint_window.as_micros() as u64;
        if self.detector.down_for(target, now.mono) > window {
            self.counters.hints_skipped += 1;
            return false;
        }
        self.hints.store(target, key, cell);
        self.counters.hints_stored += 1;
        self.trace(EventKind::HintStored {
            target,
            key: key.to_string(),
        });
        true
    }

    /// Sends a batch of `target`'s hints, with their original cells, if it is seen up.
    pub(super) fn replay_hints(&mut self, target: NodeId, now: Now) {
        if !self.detector.is_up(target) {
            return;
        }
        let deadline = now.mono + self.config.request_timeout.as_micros() as u64;
        for (id, mut hint) in self.hints.take_batch(target, super::node::HINT_BATCH) {
            // Bug seam (Bug::HintNewTimestamp): the replayed hint takes the replay time.
            if self.bug(Bug::HintNewTimestamp) {
                hint.cell.timestamp = self.next_timestamp(now);
            }
            let req = self.next_req();
            self.pending.insert(
                req,
                Pending::Hint {
                    target,
                    id,
                    deadline,
                },
            );
            // Bug seam (Bug::HintWrongTarget): the replay goes to the next node in node order.
            let to = if self.bug(Bug::HintWrongTarget) {
                NodeId(((target.index() + 1) % self.config.nodes) as u16)
            } else {
                target
            };
            self.send(
                to,
                &Message::Write {
                    req,
                    key: hint.key,
                    cell: hint.cell,
                },
            );
            self.set_timer(deadline, Timer::Request(req));
        }
    }

    fn reply(
        &mut self,
        client: SocketAddr,
        client_req: u64,
        outcome: ReplyOutcome,
        version: Option<(u64, NodeId)>,
        replicas: Vec<NodeId>,
    ) {
        if self.tracing() {
            self.trace(EventKind::Replied {
                req: client_req,
                outcome: format!("{outcome:?}"),
            });
        }
        self.send_addr(
            client,
            &Message::Reply {
                req: client_req,
                reply: Reply {
                    outcome,
                    version,
                    replicas,
                },
            },
        );
    }
}
