//! The boundary between the harness and a system under test.
//!
//! Everything the harness does (generated workloads and faults, the nemesis, recording,
//! shrinking, replay, the checkers, the matrix and the reports) reaches the system through
//! these traits alone, so a replicated store of your own runs under all of it by implementing
//! them: [`System`] says how to start the nodes as turmoil hosts, [`Cluster`] is the running
//! system's handle (clients, fault hooks, the final state, its own account of the run), and
//! [`Session`] performs one client's operations. docs/own-system.md walks through it.
//!
//! The contract, in the terms of the history a run records:
//! - node `i` is a turmoil host named [`System::host_name`]`(i)`; the harness partitions, holds,
//!   crashes and restarts hosts by those names itself, and tells the cluster of every change
//!   ([`Cluster::apply`]) so that a system with a network layer of its own can follow it;
//! - a crash is turmoil's: the host's task is dropped and what its files had not synced is lost;
//!   a restart runs the host's closure again, which must recover from turmoil's file system;
//! - every operation ends with an [`Outcome`]: `Ok` when it took effect, `Fail` only when it
//!   certainly did not, `Info` when the client cannot know (a timeout). Calling a failure that
//!   may have happened `Fail` makes the checkers judge a history the system did not produce;
//! - a session performs one operation at a time, and every operation ends within a bounded
//!   simulated time (the system's own timeout): a session that never answers is a stuck run.
//!
//! A system honours the faults it can ([`System::honours`]); a scenario with a fault it does
//! not honour is refused before it runs, with the fault named, rather than run as if the fault
//! had happened. In the same way a system performs compare-and-set only if it says so
//! ([`System::supports_cas`]), and a scenario with cas ops is refused otherwise.
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;

use crate::scenario::NetworkConfig;

/// The most events a case file keeps: the first ones the run recorded. A shrunk case has a few
/// hundred; the limit keeps a long run's file within about 200 KB.
pub const EVENT_LIMIT: usize = 2_000;

/// A boxed future that runs on the simulation's single thread.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A configured system under test: knows how to start its nodes inside a simulation.
pub trait System {
    /// The system's name, as `--system` selects it (`leaderless`, `leader-follower`, ...).
    fn name(&self) -> &str;

    /// How many nodes the cluster has.
    fn nodes(&self) -> usize;

    /// The turmoil host name of node `node`. The harness addresses faults to it.
    fn host_name(&self, node: usize) -> String {
        format!("n{node}")
    }

    /// Whether the system honours a class of fault. Partitions, pauses and crashes act on
    /// turmoil's hosts and links and work for any system whose nodes are turmoil hosts
    /// speaking over turmoil's network; clock skew needs the nodes to read their clock through
    /// the fault state [`Cluster::apply`] keeps, and loss and latency need the system's own
    /// network layer to decide each message's fate from it.
    fn honours(&self, fault: FaultClass) -> bool;

    /// Whether the system performs compare-and-set ([`RequestKind::Cas`]) as one atomic step.
    /// Default false: a scenario with cas ops is refused before it runs against a system that
    /// does not (naming the system and the first cas op), and a search that asks for them is
    /// refused before it starts. A system that says true answers every cas with
    /// [`Outcome::Cas`] (or `Fail`/`Info`), and the checkers judge the swap it reports.
    fn supports_cas(&self) -> bool {
        false
    }

    /// Registers every node as a turmoil host and returns the running cluster's handle.
    fn install(
        &self,
        sim: &mut turmoil::Sim<'_>,
        env: &Env<'_>,
    ) -> Result<Rc<dyn Cluster>, SystemError>;
}

/// Why a system could not be built or installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("system {system}: {message}")]
pub struct SystemError {
    /// The system's name.
    pub system: String,
    /// What is wrong.
    pub message: String,
}

impl SystemError {
    /// An error of system `system`.
    pub fn new(system: impl Into<String>, message: impl Into<String>) -> SystemError {
        SystemError {
            system: system.into(),
            message: message.into(),
        }
    }
}

/// What the harness tells a system when it installs it.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The scenario's seed: every random choice the system makes must come from it.
    pub seed: u64,
    /// The simulated network's latency, for a system that delays its own messages (turmoil's
    /// own latency is set to zero, so that a message's delay can be derived from the message
    /// and shrinking keeps the timing of the messages it leaves in).
    pub network: &'a NetworkConfig,
    /// The most events the system's trace should keep for a case file.
    pub trace_limit: usize,
}

/// A class of fault, as [`System::honours`] is asked about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    /// Links between nodes cut for a window.
    Partition,
    /// A node crashed and restarted.
    Crash,
    /// Messages lost at random.
    Loss,
    /// Message latency raised.
    Latency,
    /// A node's clock moved.
    Skew,
    /// A node paused: its links held, then delivered.
    Pause,
}

impl FaultClass {
    /// The fault's name, as a scenario's `fault` field spells it.
    pub fn name(self) -> &'static str {
        match self {
            FaultClass::Partition => "partition",
            FaultClass::Crash => "crash",
            FaultClass::Loss => "loss",
            FaultClass::Latency => "latency",
            FaultClass::Skew => "skew",
            FaultClass::Pause => "pause",
        }
    }
}

/// A change to the fault state, as the nemesis applies it. The harness has already done to
/// turmoil what turmoil can do (cut, hold or release the link, crash or restart the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultChange {
    /// The link between two nodes is now in this state.
    Link {
        /// One end.
        a: usize,
        /// The other end.
        b: usize,
        /// Its state.
        state: LinkState,
    },
    /// A node's links to clients are held (it is paused) or released.
    Paused {
        /// The node.
        node: usize,
        /// Whether it is paused now.
        paused: bool,
    },
    /// A node crashed (`down`) or was restarted.
    Down {
        /// The node.
        node: usize,
        /// Whether it is down now.
        down: bool,
    },
    /// The percent of messages between nodes lost at random (0: none).
    Loss {
        /// Percent, 0 to 100.
        percent: u8,
    },
    /// The raised maximum one-way latency between nodes, ms (0: the network's own).
    MaxLatency {
        /// Milliseconds.
        ms: u64,
    },
    /// A node's clock now runs this far from simulated time.
    ClockOffset {
        /// The node.
        node: usize,
        /// The offset in microseconds, negative for a clock behind.
        micros: i64,
    },
}

/// The state of a link between two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Messages pass.
    Healthy,
    /// Messages are dropped (a partition).
    Cut,
    /// Messages are held and delivered when released (a pause).
    Held,
}

/// How the runner may end the settle after the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Settle for the scenario's whole `settle_ms`.
    Full,
    /// End the settle once [`Cluster::quiet`] has held for this long.
    WhenQuietFor(Duration),
}

/// The running system: what the harness asks of it during and after a run.
pub trait Cluster {
    /// Opens a client session from inside the harness's client host. Called once per
    /// workload client and once for the final reads, in a fixed order.
    fn session(&self) -> LocalFuture<'static, std::io::Result<Box<dyn Session>>>;

    /// Follows a change of the fault state (see [`FaultChange`]). A system with no network
    /// layer or clock of its own can ignore it.
    fn apply(&self, change: FaultChange);

    /// The nodes holding `key`, whose own copies the final phase reads for convergence;
    /// empty when the system does not say.
    fn replicas_of(&self, key: &str) -> Vec<usize>;

    /// How the settle after the workload may end early.
    fn settle(&self) -> Settle {
        Settle::Full
    }

    /// Whether no node has work in hand (a request waiting, a message held back, a retry
    /// pending): the runner looks between steps. Only asked under [`Settle::WhenQuietFor`].
    fn quiet(&self) -> bool {
        false
    }

    /// The system's own account of the run, taken once it ended.
    fn account(&self) -> Account;
}

/// One client session: performs operations one at a time.
pub trait Session {
    /// Performs one operation through `node` as coordinator (or entry point).
    fn call<'a>(&'a self, node: usize, request: Request<'a>) -> LocalFuture<'a, Reply>;

    /// `node`'s own copy of `key`, read without coordination, or why it could not be had (the
    /// history records the reason as the replica's `error`). The
    /// final phase records it for convergence, which wants the history format's replica cell:
    /// `{"timestamp": t, "writer": n, "value": v}` (integers; `value` null for a delete), where
    /// the greatest `(timestamp, writer)` is the copy that should win, or `null` when the node
    /// holds nothing (docs/history-format.md).
    fn local_copy<'a>(
        &'a self,
        node: usize,
        key: &'a str,
    ) -> LocalFuture<'a, Result<Value, Unreachable>>;
}

/// Why a node's own copy of a key could not be read (it did not answer, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unreachable {
    /// Why, in words; the history records it as the replica's `error`.
    pub reason: String,
}

impl Unreachable {
    /// A copy that could not be had, for `reason`.
    pub fn new(reason: impl Into<String>) -> Unreachable {
        Unreachable {
            reason: reason.into(),
        }
    }
}

/// A client operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// What it does.
    pub kind: RequestKind,
    /// The key.
    pub key: &'a str,
    /// Why it is made: a workload op, or a final read.
    pub phase: Phase,
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Read the key.
    Get,
    /// Write this value.
    Put(i64),
    /// Delete the key.
    Delete,
    /// Compare-and-set: if the key holds `expect` (`None`: the key is absent or deleted), write
    /// `new`, as one atomic step; otherwise change nothing. Sent only to a system whose
    /// [`System::supports_cas`] says so; answered with [`Outcome::Cas`].
    Cas {
        /// The value the key must hold for the swap.
        expect: Option<i64>,
        /// The value written when it does.
        new: i64,
    },
}

/// Why a request is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The workload: the system's configured behaviour.
    Workload,
    /// The final reads after every fault healed and the cluster settled: the strongest read
    /// the system offers (a leaderless store reads at `all`), so that what it returns is what
    /// the cluster as a whole holds.
    Final,
}

/// What became of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The outcome.
    pub outcome: Outcome,
    /// The node the request went to.
    pub coordinator: usize,
    /// Fields the history records with the op, in this order, after `coordinator` (the
    /// reference store writes `cl`, `timestamp`, `writer` and `replicas`).
    pub extra: Vec<(String, Value)>,
}

/// An operation's outcome, in a history's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect; for a get, the value read (`None`: absent or deleted).
    Ok {
        /// The value read.
        read: Option<i64>,
    },
    /// A cas took effect (outcome ok in the history): it compared, and wrote its value when
    /// `swapped`. The answer to a [`RequestKind::Cas`] only, and the only ok answer to one:
    /// the history must say whether the swap happened, and the runner stops the run, naming
    /// the op, when a system answers a cas with `Ok` or another request with `Cas`.
    Cas {
        /// Whether the key held the expected value, so the new one was written.
        swapped: bool,
    },
    /// It certainly did not take effect.
    Fail {
        /// Why.
        reason: String,
    },
    /// Unknown: it may take effect later or never.
    Info {
        /// Why.
        reason: String,
    },
}

/// A system's own account of a run.
pub struct Account {
    /// Named counters (which paths the system took): the matrix reports how many runs took
    /// each path it knows (`unavailable`, `hints_stored`, `starts`, ...); names it does not
    /// know are kept for the reader.
    pub counters: Vec<(String, u64)>,
    /// The case file's `messages` field: messages exchanged, by kind and fate (`None`: the
    /// system does not count them).
    pub messages: Option<Value>,
    /// The case file's `events` field, rendered only when a case is saved.
    pub events: Events,
}

impl Account {
    /// A counter's value (0 when the system has none of that name).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("counters", &self.counters)
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

/// The events a system traced, rendered as JSON on demand: a search that only judges a
/// history never pays for writing them out.
pub struct Events(Option<Box<dyn FnOnce() -> Value + Send>>);

impl Events {
    /// No events.
    pub fn none() -> Events {
        Events(None)
    }

    /// Events rendered by `render` when asked for.
    pub fn lazy(render: impl FnOnce() -> Value + Send + 'static) -> Events {
        Events(Some(Box::new(render)))
    }

    /// The `events` field, if the system traced any.
    pub fn render(self) -> Option<Value> {
        self.0.map(|f| f())
    }
}
