//! One node: a turmoil host that runs a replica of every partition it holds and answers the
//! clients.
//!
//! Each replica is a minimal Raft (Ongaro and Ousterhout 2014): terms, one durable vote per
//! term, elections won by a majority of the partition's group with the log up-to-date check,
//! a log the leader brings its followers to, and a commit rule that counts replicas only for
//! entries of the leader's own term. What the configuration can turn off (async replication,
//! fewer sync followers, no fencing, no fsync) is exactly what the argument for
//! linearizability rests on, and the tests show what breaks without it.
//!
//! The node is a single task: it waits for a datagram or its next timer, lets the replicas
//! act on it (every action is synchronous and only queues messages), and then sends what is
//! due. Nothing in it reads a clock but simulated time, and every random choice (an election
//! timeout) is a hash of the seed and the node's state, so a seed replays byte for byte.
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use turmoil::net::UdpSocket;

use super::links::{End, Links};
use super::shared::Shared;
use super::storage::{Durable, StateFile};
use super::wire::{self, stamp, Answer, Cell, ClientOp, Entry, EntryOp, Message};
use super::{draw, group_of, partition_of, Config, Fsync, Reads, Replication};

/// The UDP port every node listens on, for clients and peers alike.
pub const PORT: u16 = 9100;

/// How many times a request may be forwarded before a node refuses it: enough to go from a
/// node outside the partition to a replica and from there to the leader, with one stale hint.
const MAX_HOPS: u8 = 3;

/// The most log entries one append carries, so a datagram stays small.
const MAX_BATCH: usize = 64;

/// What a node's host is started with (cloned for every restart).
#[derive(Clone)]
pub struct Setup {
    /// The node's index.
    pub id: usize,
    /// The cluster's node count (and partition count).
    pub nodes: usize,
    /// The configuration.
    pub config: Config,
    /// The scenario's seed.
    pub seed: u64,
    /// Every node's host name, by index.
    pub hosts: Vec<String>,
    /// Message delays.
    pub links: Links,
    /// The cluster's shared report.
    pub shared: Rc<RefCell<Shared>>,
}

/// Simulated milliseconds since the simulation started: unlike tokio's clock inside a host,
/// it does not start again when the host restarts.
fn now_ms() -> u64 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

/// Runs a node until its host is crashed.
pub async fn run(setup: Setup) -> turmoil::Result {
    let first_start = setup.shared.borrow_mut().started(setup.id) == 0;
    let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    let mut node = Node::start(setup, first_start)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let wait = node.next_wake().saturating_sub(now_ms());
        tokio::select! {
            biased;
            received = socket.recv_from(&mut buf) => {
                let (len, from) = received?;
                node.on_datagram(&buf[..len], from);
                // Take what else is queued without going back to the scheduler.
                while let Ok((len, from)) = socket.try_recv_from(&mut buf) {
                    node.on_datagram(&buf[..len], from);
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
        }
        node.on_time();
        if let Some(e) = node.failed.take() {
            // A state file that cannot be written: stop rather than act on a vote or an
            // entry that would not survive.
            return Err(e.into());
        }
        node.flush(&socket);
        node.report();
    }
}

/// Where a queued message goes.
#[derive(Clone, Copy, Debug)]
enum Dest {
    Node(usize),
    Client(SocketAddr),
}

/// What a replica's action needs of its node: the configuration, the time, and somewhere to
/// put the messages it sends and the durability failures it meets.
struct Cx<'a> {
    me: usize,
    cfg: &'a Config,
    seed: u64,
    now: u64,
    out: &'a mut Vec<(Dest, Message)>,
    shared: &'a RefCell<Shared>,
    failed: &'a mut Option<io::Error>,
}

impl Cx<'_> {
    fn send(&mut self, to: Dest, msg: Message) {
        self.out.push((to, msg));
    }

    fn count(&self, name: &'static str) {
        self.shared.borrow_mut().count(name);
    }

    fn event(&self, what: &str, fields: serde_json::Value) {
        self.shared.borrow_mut().event(self.me, what, fields);
    }

    /// Answers a client, telling it what `told` says besides the answer.
    fn reply(&mut self, client: SocketAddr, id: u64, answer: Answer, told: Told, term: u64) {
        let Told {
            read,
            swapped,
            version,
            leader,
        } = told;
        if let Answer::Fail(reason) = &answer {
            if reason.starts_with("unavailable") {
                self.count("unavailable");
            }
        }
        let msg = Message::Reply {
            id,
            answer,
            read,
            swapped,
            version,
            by: self.me,
            leader,
            term,
        };
        self.send(Dest::Client(client), msg);
    }
}

/// What a client's answer carries besides the answer: the value read, whether a cas swapped,
/// the version written or read as (timestamp, writer), and the leader it was answered under.
#[derive(Default)]
struct Told {
    read: Option<i64>,
    swapped: Option<bool>,
    version: Option<(i64, usize)>,
    leader: Option<usize>,
}

/// An append from a leader, as a replica handles it: the entries after `prev_index`.
struct Append {
    term: u64,
    from: usize,
    prev_index: u64,
    prev_term: u64,
    entries: Vec<Entry>,
    leader_commit: u64,
    round: u64,
}

/// A follower's answer to an append, as its leader handles it.
struct Acked {
    term: u64,
    from: usize,
    ok: bool,
    last: u64,
    commit: u64,
    round: u64,
}

/// A client write (or cas) the leader logged and has not answered yet.
struct PendingWrite {
    /// For a cas, whether it swapped: decided when it was logged, answered once it commits.
    swapped: Option<bool>,
    term: u64,
    id: u64,
    client: SocketAddr,
    deadline: u64,
}

/// A leader read waiting for a majority to confirm the leader still leads.
struct PendingRead {
    /// The heartbeat round sent after the read arrived: an acknowledgement of it (or of a
    /// later one) in the current term shows the follower had not moved on when the read was
    /// already waiting.
    round: u64,
    id: u64,
    client: SocketAddr,
    key: String,
    deadline: u64,
}

/// What only a leader keeps.
struct Lead {
    /// Per follower: the next index to send.
    next: BTreeMap<usize, u64>,
    /// Per follower: the highest index known to match the leader's log.
    matched: BTreeMap<usize, u64>,
    /// Per follower: when it last answered in this term.
    acked_at: BTreeMap<usize, u64>,
    /// Per follower: its commit index, as it last said (for `quiet`).
    follower_commit: BTreeMap<usize, u64>,
    /// The heartbeat round: raised for every read that needs confirming.
    round: u64,
    /// Per follower: the highest round it acknowledged in this term.
    round_acked: BTreeMap<usize, u64>,
    /// When the leader last sent to every follower.
    last_broadcast: u64,
    writes: BTreeMap<u64, PendingWrite>,
    reads: Vec<PendingRead>,
}

enum Role {
    Follower,
    Candidate { votes: BTreeSet<usize> },
    Leader(Box<Lead>),
}

/// A node's replica of one partition.
struct Replica {
    p: usize,
    /// The partition's replica group (this node among them).
    group: Vec<usize>,
    /// Term, vote and log: written to `file` before the node acts on any change to them.
    durable: Durable,
    /// `None` under `fsync: "never"`.
    file: Option<StateFile>,
    /// The highest index known committed; entries up to it are applied.
    commit: u64,
    role: Role,
    /// The leader of the current term, when known.
    leader: Option<usize>,
    /// When a follower or candidate starts an election if it hears from no leader.
    election_at: u64,
    /// Elections this replica started in this incarnation (varies the timeout).
    elections: u64,
}

impl Replica {
    fn term(&self) -> u64 {
        self.durable.term
    }

    fn last_index(&self) -> u64 {
        self.durable.log.len() as u64
    }

    fn term_at(&self, index: u64) -> u64 {
        match index {
            0 => 0,
            i => self.durable.log.get(i as usize - 1).map_or(0, |e| e.term),
        }
    }

    fn last_term(&self) -> u64 {
        self.term_at(self.last_index())
    }

    fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    fn followers(&self, me: usize) -> Vec<usize> {
        self.group.iter().copied().filter(|&n| n != me).collect()
    }

    fn persist(&mut self, cx: &mut Cx<'_>) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.store(&self.durable) {
                cx.failed.get_or_insert(e);
            }
        }
    }

    /// A random election timeout: the failover timeout plus up to half as much again, drawn
    /// from a hash of the seed, the node, the partition, the term, the elections so far and
    /// the time, so that two candidates that clashed are unlikely to clash again.
    fn reset_election_timer(&mut self, cx: &Cx<'_>) {
        let f = cx.cfg.failover_timeout_ms;
        let mut bytes = Vec::with_capacity(48);
        for x in [
            cx.seed,
            cx.me as u64,
            self.p as u64,
            self.term(),
            self.elections,
            cx.now,
        ] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        self.election_at = cx.now + f + draw(&bytes) % (f / 2 + 1);
    }

    /// The copy of `key` this replica has applied (its committed prefix).
    fn cell(&self, key: &str) -> Option<Cell> {
        let applied = &self.durable.log[..self.commit as usize];
        applied
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.key() == Some(key))
            .map(|(i, e)| Cell {
                timestamp: stamp(e.term, i as u64 + 1),
                writer: e.writer,
                value: match &e.op {
                    EntryOp::Put { value, .. } => Some(*value),
                    _ => None,
                },
            })
    }

    /// Answers a read from this replica's applied copy.
    fn answer_read(&self, cx: &mut Cx<'_>, client: SocketAddr, id: u64, key: &str) {
        let cell = self.cell(key);
        let (read, version) = (
            cell.and_then(|c| c.value),
            cell.map(|c| (c.timestamp, c.writer)),
        );
        let told = Told {
            read,
            version,
            leader: self.leader,
            ..Told::default()
        };
        cx.reply(client, id, Answer::Ok, told, self.term());
    }

    /// Moves to a newer term: no vote in it yet, no known leader. A leader steps down.
    fn adopt_term(&mut self, cx: &mut Cx<'_>, term: u64) {
        if self.is_leader() {
            self.step_down(cx, "it saw a newer term");
        }
        self.durable.term = term;
        self.durable.voted_for = None;
        self.role = Role::Follower;
        self.leader = None;
        self.persist(cx);
    }

    /// Stops leading. Every write it logged and has not answered may still commit under the
    /// next leader, so it is answered info; a read waiting for confirmation read nothing, so it
    /// fails.
    fn step_down(&mut self, cx: &mut Cx<'_>, why: &str) {
        let role = std::mem::replace(&mut self.role, Role::Follower);
        let term = self.term();
        self.leader = None;
        self.reset_election_timer(cx);
        let Role::Leader(lead) = role else { return };
        cx.count("stepped_down");
        cx.event(
            "step_down",
            json!({"partition": self.p, "term": term, "why": why}),
        );
        for (index, w) in lead.writes {
            cx.count("pending_write_info");
            let reason = format!(
                "leader {} of partition {} stepped down ({why}) before entry {index} of term {} \
                 committed: it may still commit",
                cx.me, self.p, w.term
            );
            cx.reply(w.client, w.id, Answer::Info(reason), Told::default(), term);
        }
        for r in lead.reads {
            let reason = format!(
                "unavailable: leader {} of partition {} stepped down ({why}) before the read \
                 was confirmed",
                cx.me, self.p
            );
            cx.reply(r.client, r.id, Answer::Fail(reason), Told::default(), term);
        }
    }

    fn start_election(&mut self, cx: &mut Cx<'_>) {
        self.durable.term += 1;
        self.durable.voted_for = Some(cx.me);
        self.elections += 1;
        self.role = Role::Candidate {
            votes: [cx.me].into_iter().collect(),
        };
        self.leader = None;
        // The new term and the vote for itself are durable before anyone is asked.
        self.persist(cx);
        self.reset_election_timer(cx);
        cx.count("elections");
        cx.event(
            "election",
            json!({"partition": self.p, "term": self.term()}),
        );
        let msg = Message::Vote {
            p: self.p,
            term: self.term(),
            from: cx.me,
            last_index: self.last_index(),
            last_term: self.last_term(),
        };
        for f in self.followers(cx.me) {
            cx.send(Dest::Node(f), msg.clone());
        }
        if 1 >= cx.cfg.majority() {
            self.become_leader(cx);
        }
    }

    fn become_leader(&mut self, cx: &mut Cx<'_>) {
        let followers = self.followers(cx.me);
        let next = self.last_index() + 1;
        let per = |v: u64| {
            followers
                .iter()
                .map(|&f| (f, v))
                .collect::<BTreeMap<_, _>>()
        };
        self.role = Role::Leader(Box::new(Lead {
            next: per(next),
            matched: per(0),
            // Counted as heard from now, so the new leader is not deposed by its first tick.
            acked_at: per(cx.now),
            follower_commit: per(0),
            round: 0,
            round_acked: per(0),
            last_broadcast: cx.now,
            writes: BTreeMap::new(),
            reads: Vec::new(),
        }));
        self.leader = Some(cx.me);
        cx.count("leader_changes");
        cx.event(
            "leader",
            json!({"partition": self.p, "term": self.term(), "last_index": self.last_index()}),
        );
        // An entry of its own term: only counting replicas of it can commit what earlier
        // leaders left (Raft §5.4.2), and a confirmed read waits until it has.
        self.durable.log.push(Entry {
            term: self.term(),
            writer: cx.me,
            op: EntryOp::Noop,
        });
        self.persist(cx);
        self.advance_commit(cx);
        self.broadcast(cx);
    }

    /// Sends every follower what it lacks (or a heartbeat).
    fn broadcast(&mut self, cx: &mut Cx<'_>) {
        for f in self.followers(cx.me) {
            self.send_append(cx, f);
        }
        if let Role::Leader(lead) = &mut self.role {
            lead.last_broadcast = cx.now;
        }
    }

    fn send_append(&self, cx: &mut Cx<'_>, f: usize) {
        let Role::Leader(lead) = &self.role else {
            return;
        };
        let next = lead.next.get(&f).copied().unwrap_or(1).max(1);
        let prev = (next - 1).min(self.last_index());
        let end = (prev as usize + MAX_BATCH).min(self.durable.log.len());
        let msg = Message::Append {
            p: self.p,
            term: self.term(),
            from: cx.me,
            prev_index: prev,
            prev_term: self.term_at(prev),
            entries: self.durable.log[prev as usize..end].to_vec(),
            commit: self.commit,
            round: lead.round,
        };
        cx.send(Dest::Node(f), msg);
    }

    /// Raises the commit index as far as the replication mode allows, then answers the writes
    /// and reads that were waiting for it.
    fn advance_commit(&mut self, cx: &mut Cx<'_>) {
        let (term, last) = (self.term(), self.last_index());
        let Role::Leader(lead) = &self.role else {
            return;
        };
        let commit = match cx.cfg.replication {
            // The leader's own (synced) log is all an async leader waits for.
            Replication::Async => last,
            // The highest entry of this term that `sync_followers` followers have; everything
            // before it commits with it.
            Replication::Sync => (self.commit + 1..=last)
                .rev()
                .find(|&n| {
                    self.term_at(n) == term
                        && lead.matched.values().filter(|&&m| m >= n).count()
                            >= cx.cfg.sync_followers
                })
                .unwrap_or(self.commit),
        };
        self.commit = self.commit.max(commit);
        let commit = self.commit;
        let Role::Leader(lead) = &mut self.role else {
            return;
        };
        let done: Vec<u64> = lead.writes.range(..=commit).map(|(i, _)| *i).collect();
        for index in done {
            let w = lead.writes.remove(&index).expect("listed above");
            // A leader never loses entries of its own term, so this always holds; it is
            // checked because an Ok for an entry that is not there would be a lost write.
            let entry = self.durable.log.get(index as usize - 1);
            if entry.is_some_and(|e| e.term == w.term && e.writer == cx.me) {
                // A cas that did not swap wrote nothing, so it has no version of its own.
                let version = (w.swapped != Some(false)).then_some((stamp(w.term, index), cx.me));
                let told = Told {
                    swapped: w.swapped,
                    version,
                    leader: Some(cx.me),
                    ..Told::default()
                };
                cx.reply(w.client, w.id, Answer::Ok, told, term);
            } else {
                let reason = format!("entry {index} was replaced before it committed");
                cx.reply(w.client, w.id, Answer::Info(reason), Told::default(), term);
            }
        }
        self.answer_confirmed_reads(cx);
    }

    /// Answers the reads a majority has confirmed, once an entry of this term has committed
    /// (before that, the leader's commit index may lag what its predecessor committed).
    fn answer_confirmed_reads(&mut self, cx: &mut Cx<'_>) {
        if self.term_at(self.commit) != self.term() {
            return;
        }
        let majority = cx.cfg.majority();
        let Role::Leader(lead) = &mut self.role else {
            return;
        };
        let acked = &lead.round_acked;
        let (ready, waiting): (Vec<PendingRead>, Vec<PendingRead>) =
            std::mem::take(&mut lead.reads)
                .into_iter()
                .partition(|r| 1 + acked.values().filter(|&&a| a >= r.round).count() >= majority);
        lead.reads = waiting;
        for r in ready {
            cx.count("reads_confirmed");
            self.answer_read(cx, r.client, r.id, &r.key);
        }
    }

    /// A client request at the partition's leader.
    fn lead_request(
        &mut self,
        cx: &mut Cx<'_>,
        id: u64,
        client: SocketAddr,
        op: ClientOp,
        key: String,
        confirm: bool,
    ) {
        let deadline = cx.now + cx.cfg.request_timeout_ms;
        let (entry_op, swapped) = match op {
            ClientOp::Get if !confirm && !cx.cfg.fencing => {
                // Without fencing a leader trusts that it still leads: a deposed leader that
                // has not heard of its successor answers from a copy that may be stale.
                self.answer_read(cx, client, id, &key);
                return;
            }
            ClientOp::Get => {
                let Role::Leader(lead) = &mut self.role else {
                    return;
                };
                lead.round += 1;
                let round = lead.round;
                lead.reads.push(PendingRead {
                    round,
                    id,
                    client,
                    key,
                    deadline,
                });
                self.broadcast(cx);
                self.answer_confirmed_reads(cx);
                return;
            }
            ClientOp::Put(value) => (EntryOp::Put { key, value }, None),
            ClientOp::Delete => (EntryOp::Delete { key }, None),
            // The compare is against the whole log, uncommitted entries included: the cas takes
            // its place after them, so it commits only if they do, and a leader that loses
            // them before they commit loses the cas with them. A cas that does not match still
            // takes a place (a no-op), and is answered only once that place commits: answered
            // at once, a deposed leader could report a compare against a value it never
            // committed.
            ClientOp::Cas { expect, new } => {
                let swapped = self.latest(&key) == expect;
                cx.count(if swapped {
                    "cas_swapped"
                } else {
                    "cas_not_swapped"
                });
                let entry_op = if swapped {
                    EntryOp::Put { key, value: new }
                } else {
                    EntryOp::Noop
                };
                (entry_op, Some(swapped))
            }
        };
        self.log_write(cx, id, client, entry_op, swapped);
    }

    /// The value of `key` after every entry of this replica's log, committed or not (`None`:
    /// absent or deleted).
    fn latest(&self, key: &str) -> Option<i64> {
        self.durable
            .log
            .iter()
            .rev()
            .find(|e| e.key() == Some(key))
            .and_then(|e| match &e.op {
                EntryOp::Put { value, .. } => Some(*value),
                _ => None,
            })
    }

    /// Appends a client's write at the leader and waits for it to commit.
    fn log_write(
        &mut self,
        cx: &mut Cx<'_>,
        id: u64,
        client: SocketAddr,
        entry_op: EntryOp,
        swapped: Option<bool>,
    ) {
        let term = self.term();
        let deadline = cx.now + cx.cfg.request_timeout_ms;
        self.durable.log.push(Entry {
            term,
            writer: cx.me,
            op: entry_op,
        });
        self.persist(cx);
        let index = self.last_index();
        if let Role::Leader(lead) = &mut self.role {
            lead.writes.insert(
                index,
                PendingWrite {
                    swapped,
                    term,
                    id,
                    client,
                    deadline,
                },
            );
        }
        self.advance_commit(cx);
        self.broadcast(cx);
    }

    fn on_vote(&mut self, cx: &mut Cx<'_>, term: u64, from: usize, last: (u64, u64)) {
        if term > self.term() {
            self.adopt_term(cx, term);
        }
        // At most one vote per term, and only for a log at least as up to date as this one
        // (last term first, then length): a majority that has an entry elects only leaders
        // that have it.
        let up_to_date = last >= (self.last_term(), self.last_index());
        let granted =
            term == self.term() && self.durable.voted_for.is_none_or(|v| v == from) && up_to_date;
        if granted {
            if self.durable.voted_for != Some(from) {
                self.durable.voted_for = Some(from);
                // Durable before the answer leaves.
                self.persist(cx);
            }
            self.reset_election_timer(cx);
        }
        let msg = Message::VoteReply {
            p: self.p,
            term: self.term(),
            from: cx.me,
            granted,
        };
        cx.send(Dest::Node(from), msg);
    }

    fn on_vote_reply(&mut self, cx: &mut Cx<'_>, term: u64, from: usize, granted: bool) {
        if term > self.term() {
            self.adopt_term(cx, term);
            return;
        }
        let majority = cx.cfg.majority();
        if let Role::Candidate { votes } = &mut self.role {
            if term == self.durable.term && granted {
                votes.insert(from);
                if votes.len() >= majority {
                    self.become_leader(cx);
                }
            }
        }
    }

    fn on_append(&mut self, cx: &mut Cx<'_>, append: Append) {
        let Append {
            term,
            from,
            prev_index,
            prev_term,
            entries,
            leader_commit,
            round,
        } = append;
        let reply = |r: &Replica, cx: &mut Cx<'_>, ok: bool, last: u64| {
            let msg = Message::AppendReply {
                p: r.p,
                term: r.term(),
                from: cx.me,
                ok,
                last,
                commit: r.commit,
                round,
            };
            cx.send(Dest::Node(from), msg);
        };
        if term < self.term() {
            if cx.cfg.fencing || self.is_leader() {
                // Fenced: a deposed leader's messages are refused, and the answer tells it of
                // the newer term, so it steps down. (A leader of the newer term refuses them
                // even without fencing: it knows it leads.)
                reply(self, cx, false, 0);
                return;
            }
            // Without fencing a follower takes entries from whichever leader sends them, and
            // keeps its own term (its answer still tells the old leader of the newer one).
            cx.count("stale_leader_obeyed");
        } else {
            if term > self.term() {
                self.adopt_term(cx, term);
            }
            if !matches!(self.role, Role::Follower) {
                // A candidate (or, with votes forgotten under fsync never, a second leader of
                // the same term) yields to the leader it hears from.
                self.step_down(cx, "another node leads this term");
            }
            if self.leader != Some(from) {
                self.leader = Some(from);
            }
            self.reset_election_timer(cx);
        }
        if prev_index > self.last_index() || self.term_at(prev_index) != prev_term {
            // The logs differ at prev_index, or this one is shorter: ask for earlier entries.
            let hint = self.last_index().min(prev_index.saturating_sub(1));
            reply(self, cx, false, hint);
            return;
        }
        let count = entries.len() as u64;
        let mut changed = false;
        for (k, entry) in entries.into_iter().enumerate() {
            let index = prev_index + 1 + k as u64;
            if index <= self.last_index() {
                if self.durable.log[index as usize - 1] == entry {
                    continue;
                }
                // The follower drops what the leader lacks, from the first entry that differs.
                if index <= self.commit {
                    // Never under the linearizable configuration: a committed entry is on a
                    // majority, and no leader without it can be elected.
                    cx.count("committed_entries_dropped");
                }
                cx.count("truncations");
                cx.event(
                    "truncate",
                    json!({"partition": self.p, "from_index": index, "dropped": self.last_index() - index + 1}),
                );
                self.durable.log.truncate(index as usize - 1);
                self.commit = self.commit.min(index - 1);
            }
            self.durable.log.push(entry);
            changed = true;
        }
        if changed {
            // Durable before the follower acknowledges: the leader counts this copy.
            self.persist(cx);
        }
        let matched = prev_index + count;
        self.commit = self.commit.max(leader_commit.min(matched));
        reply(self, cx, true, matched);
    }

    fn on_append_reply(&mut self, cx: &mut Cx<'_>, acked: Acked) {
        let Acked {
            term,
            from,
            ok,
            last,
            commit,
            round,
        } = acked;
        if term > self.term() {
            self.adopt_term(cx, term);
            return;
        }
        let last_index = self.last_index();
        let (t, now) = (self.term(), cx.now);
        let Role::Leader(lead) = &mut self.role else {
            return;
        };
        if term < t {
            return; // an answer to an earlier term's leader
        }
        lead.acked_at.insert(from, now);
        let r = lead.round_acked.entry(from).or_default();
        *r = (*r).max(round);
        let matched = lead.matched.entry(from).or_default();
        if ok {
            *matched = (*matched).max(last);
            let m = *matched;
            let next = lead.next.entry(from).or_default();
            *next = (*next).max(m + 1);
            lead.follower_commit.insert(from, commit);
            self.advance_commit(cx);
            if m < self.last_index() {
                self.send_append(cx, from);
            }
        } else {
            let m = *matched;
            lead.next
                .insert(from, (last + 1).max(m + 1).min(last_index + 1));
            self.send_append(cx, from);
        }
        self.answer_confirmed_reads(cx);
    }

    /// Timers: a leader's heartbeats, its majority check and its waiting requests' deadlines;
    /// a follower's or candidate's election timeout.
    fn on_time(&mut self, cx: &mut Cx<'_>) {
        let (now, f) = (cx.now, cx.cfg.failover_timeout_ms);
        let majority = cx.cfg.majority();
        let Role::Leader(lead) = &mut self.role else {
            if now >= self.election_at {
                self.start_election(cx);
            }
            return;
        };
        if cx.cfg.fencing {
            let heard = lead.acked_at.values().filter(|&&t| now - t < f).count();
            if 1 + heard < majority {
                // A leader cut off from a majority stops accepting writes: a new leader may
                // already have been elected on the other side.
                self.step_down(cx, "it heard from no majority within the failover timeout");
                return;
            }
        }
        let expired: Vec<u64> = lead
            .writes
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(i, _)| *i)
            .collect();
        let mut answers = Vec::new();
        for index in expired {
            let w = lead.writes.remove(&index).expect("listed above");
            let reason = format!("entry {index} did not commit within the request timeout");
            answers.push((w.client, w.id, Answer::Info(reason)));
        }
        let (late, waiting): (Vec<PendingRead>, Vec<PendingRead>) = std::mem::take(&mut lead.reads)
            .into_iter()
            .partition(|r| r.deadline <= now);
        lead.reads = waiting;
        for r in late {
            let reason = "unavailable: no majority confirmed the leader in time".to_string();
            answers.push((r.client, r.id, Answer::Fail(reason)));
        }
        let due = now >= lead.last_broadcast + cx.cfg.heartbeat().as_millis() as u64;
        let term = self.term();
        for (client, id, answer) in answers {
            let told = Told {
                leader: Some(cx.me),
                ..Told::default()
            };
            cx.reply(client, id, answer, told, term);
        }
        if due {
            self.broadcast(cx);
        }
    }

    /// Whether this replica has work in hand: an election, no known leader, or (as leader)
    /// a request waiting or a follower behind.
    fn busy(&self) -> bool {
        match &self.role {
            Role::Candidate { .. } => true,
            Role::Follower => self.leader.is_none(),
            Role::Leader(lead) => {
                !lead.writes.is_empty()
                    || !lead.reads.is_empty()
                    || lead.matched.values().any(|&m| m < self.last_index())
                    || lead.follower_commit.values().any(|&c| c < self.commit)
            }
        }
    }
}

/// The node: its replicas and its queue of messages waiting out their delay.
struct Node {
    id: usize,
    nodes: usize,
    config: Config,
    seed: u64,
    addrs: Vec<SocketAddr>,
    links: Links,
    shared: Rc<RefCell<Shared>>,
    replicas: BTreeMap<usize, Replica>,
    /// Messages by (due time, sequence): sent once their delay has passed.
    outbox: BTreeMap<(u64, u64), (SocketAddr, Vec<u8>)>,
    seq: u64,
    next_tick: u64,
    /// Messages the replicas queued in the current step.
    out: Vec<(Dest, Message)>,
    failed: Option<io::Error>,
}

impl Node {
    /// Starts the node: every replica recovers its file, or, at the cluster's first start,
    /// begins in term 1 under the partition's first node as leader. A node restarted without
    /// its file (fsync never) begins with nothing, and knows no leader.
    fn start(setup: Setup, first_start: bool) -> io::Result<Node> {
        let Setup {
            id,
            nodes,
            config,
            seed,
            hosts,
            links,
            shared,
        } = setup;
        let addrs = hosts
            .iter()
            .map(|h| SocketAddr::new(turmoil::lookup(h.as_str()), PORT))
            .collect();
        let mut node = Node {
            id,
            nodes,
            config,
            seed,
            addrs,
            links,
            shared,
            replicas: BTreeMap::new(),
            outbox: BTreeMap::new(),
            seq: 0,
            next_tick: 0,
            out: Vec::new(),
            failed: None,
        };
        // Every start is counted, as the reference store counts its: more starts than nodes
        // means some node restarted, which the matrix reports per scenario.
        node.shared.borrow_mut().count("starts");
        if !first_start {
            node.shared.borrow_mut().event(id, "restart", json!({}));
        }
        let mut bootstrap = Vec::new();
        for p in 0..nodes {
            let group = group_of(p, node.config.rf, nodes);
            if !group.contains(&id) {
                continue;
            }
            let (file, held) = match node.config.fsync {
                Fsync::Always => {
                    let (file, held) = StateFile::open(p)?;
                    (Some(file), held)
                }
                Fsync::Never => (None, None),
            };
            let fresh = held.is_none() && first_start;
            let durable = held.unwrap_or_else(|| Durable {
                // The first start is term 1, every replica's vote already cast for the
                // partition's first node: so no other node can lead term 1.
                term: u64::from(fresh),
                voted_for: fresh.then_some(group[0]),
                log: Vec::new(),
            });
            let mut replica = Replica {
                p,
                leader: fresh.then_some(group[0]),
                group,
                durable,
                file,
                commit: 0,
                role: Role::Follower,
                election_at: 0,
                elections: 0,
            };
            let mut cx = node.cx_parts();
            let mut cx = cx.cx();
            if fresh {
                replica.persist(&mut cx);
            }
            replica.reset_election_timer(&cx);
            if fresh && replica.group[0] == id {
                bootstrap.push(p);
            }
            node.replicas.insert(p, replica);
        }
        for p in bootstrap {
            node.with_replica(p, |r, cx| r.become_leader(cx));
        }
        if let Some(e) = node.failed.take() {
            return Err(e);
        }
        Ok(node)
    }

    fn cx_parts(&mut self) -> CxParts<'_> {
        CxParts {
            me: self.id,
            cfg: &self.config,
            seed: self.seed,
            out: &mut self.out,
            shared: &self.shared,
            failed: &mut self.failed,
        }
    }

    /// Runs `f` on replica `p` (if this node holds it) with a context.
    fn with_replica(&mut self, p: usize, f: impl FnOnce(&mut Replica, &mut Cx<'_>)) {
        let Some(replica) = self.replicas.get_mut(&p) else {
            return;
        };
        let mut cx = Cx {
            me: self.id,
            cfg: &self.config,
            seed: self.seed,
            now: now_ms(),
            out: &mut self.out,
            shared: &self.shared,
            failed: &mut self.failed,
        };
        f(replica, &mut cx);
    }

    fn tick_ms(&self) -> u64 {
        (self.config.failover_timeout_ms / 30).max(1)
    }

    /// When the node next has something to do: a message's delay ends, a follower's election
    /// timeout expires (to the millisecond: on a coarser tick two followers' random timeouts
    /// would often fall on the same tick, and their elections would split the vote), or the
    /// leaders' periodic tick.
    fn next_wake(&self) -> u64 {
        let due = self.outbox.keys().next().map_or(u64::MAX, |(t, _)| *t);
        let election = self
            .replicas
            .values()
            .filter(|r| !r.is_leader())
            .map(|r| r.election_at)
            .min()
            .unwrap_or(u64::MAX);
        self.next_tick.min(due).min(election)
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let msg = match wire::decode(bytes) {
            Ok(msg) => msg,
            Err(_) => {
                self.shared.borrow_mut().count("undecodable");
                return;
            }
        };
        match msg {
            Message::Request {
                id,
                client,
                op,
                key,
                confirm,
                hops,
            } => {
                let client = client.unwrap_or(from);
                self.on_request(id, client, op, key, confirm, hops);
            }
            Message::LocalCopy { id, key } => {
                let p = partition_of(&key, self.nodes);
                let cell = self.replicas.get(&p).and_then(|r| r.cell(&key));
                self.out
                    .push((Dest::Client(from), Message::Copy { id, cell }));
            }
            Message::Vote {
                p,
                term,
                from,
                last_index,
                last_term,
            } => self.with_replica(p, |r, cx| {
                r.on_vote(cx, term, from, (last_term, last_index))
            }),
            Message::VoteReply {
                p,
                term,
                from,
                granted,
            } => self.with_replica(p, |r, cx| r.on_vote_reply(cx, term, from, granted)),
            Message::Append {
                p,
                term,
                from,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => self.with_replica(p, |r, cx| {
                let append = Append {
                    term,
                    from,
                    prev_index,
                    prev_term,
                    entries,
                    leader_commit: commit,
                    round,
                };
                r.on_append(cx, append)
            }),
            Message::AppendReply {
                p,
                term,
                from,
                ok,
                last,
                commit,
                round,
            } => self.with_replica(p, |r, cx| {
                let acked = Acked {
                    term,
                    from,
                    ok,
                    last,
                    commit,
                    round,
                };
                r.on_append_reply(cx, acked)
            }),
            // Answers are for clients; a node has none to wait for.
            Message::Reply { .. } | Message::Copy { .. } => {}
        }
    }

    /// A client request, called or forwarded: answered here, forwarded towards the leader,
    /// or refused. A refusal is certain (this node logged nothing, and a forwarded request is
    /// only ever with one node at a time), so it is a failure; everything else the client
    /// either hears about or times out on (info).
    fn on_request(
        &mut self,
        id: u64,
        client: SocketAddr,
        op: ClientOp,
        key: String,
        confirm: bool,
        hops: u8,
    ) {
        let p = partition_of(&key, self.nodes);
        let group = group_of(p, self.config.rf, self.nodes);
        let me = self.id;
        let forward = |node: &mut Node, to: usize, key: String, op: ClientOp| {
            node.shared.borrow_mut().count("forwarded");
            let msg = Message::Request {
                id,
                client: Some(client),
                op,
                key,
                confirm,
                hops: hops + 1,
            };
            node.out.push((Dest::Node(to), msg));
        };
        // Any replica's own copy answers a read under `reads: "any"` (not a confirmed one).
        let local_read = op == ClientOp::Get && self.config.reads == Reads::Any && !confirm;
        let Some(replica) = self.replicas.get(&p) else {
            // Not a replica of the key: hand it to one, chosen by the request id.
            if hops < MAX_HOPS {
                forward(self, group[id as usize % group.len()], key, op);
            } else {
                self.refuse(p, client, id, 0, "the request was forwarded too many times");
            }
            return;
        };
        if local_read {
            self.with_replica(p, |r, cx| r.answer_read(cx, client, id, &key));
            return;
        }
        if replica.is_leader() {
            self.with_replica(p, |r, cx| r.lead_request(cx, id, client, op, key, confirm));
            return;
        }
        let term = replica.term();
        match replica.leader {
            Some(l) if l != me && hops < MAX_HOPS => forward(self, l, key, op),
            Some(_) => self.refuse(
                p,
                client,
                id,
                term,
                "the request was forwarded too many times",
            ),
            None => self.refuse(
                p,
                client,
                id,
                term,
                "no leader is known (an election may be under way)",
            ),
        }
    }

    fn refuse(&mut self, p: usize, client: SocketAddr, id: u64, term: u64, why: &str) {
        let reason = format!("unavailable: node {} for partition {p}: {why}", self.id);
        let mut parts = self.cx_parts();
        let mut cx = parts.cx();
        cx.reply(client, id, Answer::Fail(reason), Told::default(), term);
    }

    /// Runs the replicas' timers (each acts only on what is due).
    fn on_time(&mut self) {
        let now = now_ms();
        if now >= self.next_tick {
            self.next_tick = now + self.tick_ms();
        }
        let ps: Vec<usize> = self.replicas.keys().copied().collect();
        for p in ps {
            self.with_replica(p, |r, cx| r.on_time(cx));
        }
    }

    /// Queues what the replicas sent, each after its delay, and sends what is due.
    fn flush(&mut self, socket: &UdpSocket) {
        let now = now_ms();
        for (dest, msg) in std::mem::take(&mut self.out) {
            let bytes = wire::encode(&msg);
            let delay_key = msg.delay_key();
            let (addr, end) = match dest {
                Dest::Node(n) => (self.addrs[n], End::Node(n)),
                Dest::Client(a) => (a, End::Client),
            };
            let writes = matches!(&msg, Message::Append { entries, .. } if !entries.is_empty());
            let due = now
                + self
                    .links
                    .delay_ms(End::Node(self.id), end, &delay_key, writes);
            self.shared.borrow_mut().sent(msg.kind());
            self.outbox.insert((due, self.seq), (addr, bytes));
            self.seq += 1;
        }
        while let Some(entry) = self.outbox.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (addr, bytes) = entry.remove();
            // A datagram to a crashed or cut-off host is dropped, as the network would.
            let _ = socket.try_send_to(&bytes, addr);
        }
    }

    /// Tells the cluster's handle whether this node has work in hand.
    fn report(&self) {
        let busy = !self.outbox.is_empty() || self.replicas.values().any(Replica::busy);
        self.shared.borrow_mut().set_busy(self.id, busy);
    }
}

/// The node's parts a context borrows, for actions outside a replica.
struct CxParts<'a> {
    me: usize,
    cfg: &'a Config,
    seed: u64,
    out: &'a mut Vec<(Dest, Message)>,
    shared: &'a RefCell<Shared>,
    failed: &'a mut Option<io::Error>,
}

impl CxParts<'_> {
    fn cx(&mut self) -> Cx<'_> {
        Cx {
            me: self.me,
            cfg: self.cfg,
            seed: self.seed,
            now: now_ms(),
            out: self.out,
            shared: self.shared,
            failed: self.failed,
        }
    }
}
