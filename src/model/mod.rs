//! Sequential specifications: what a single copy of the data would have answered.
//!
//! A [`Model`] is tiny on purpose: a state, an input, an output and one `step` function. A
//! recorded op is valid in a state when `step` gives the output the client saw. The checkers
//! split a history into independent partitions ([`Model::partition`], per key for [`Kv`]) and
//! search each one for an order of its ops that the model explains.
//!
//! Models: [`Kv`] (a map of registers; [`Kv::register`] and [`Kv::cas_register`] restrict it),
//! [`Set`], [`Queue`] (FIFO) and [`Mutex`], each per key. Check a history against one with
//! [`check_model`](crate::check::linearizable::check_model).
//!
//! # Adding a model
//!
//! Implement [`Model`]: `init`, `step` (the next state and the output, or `None` when the op
//! cannot happen in that state), `partition` (which ops of the history it checks, as inputs
//! and recorded outputs; [`per_key`] does the usual split per key), `describe` and
//! `state_json` (for witnesses). The optional methods only speed the search up; their defaults
//! are always sound. A register that keeps the largest value ever put:
//!
//! ```
//! use quorumlab::check::linearizable::{check_model, CheckOptions};
//! use quorumlab::history::{History, HistoryError, OpKind, Value};
//! use quorumlab::model::{per_key, Model, Partition};
//!
//! struct MaxRegister;
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash)]
//! enum In { Put(i64), Get }
//!
//! impl Model for MaxRegister {
//!     type State = i64;
//!     type Input = In;
//!     type Output = Option<i64>; // what a get read; None for a put
//!     fn name(&self) -> &'static str { "max-register" }
//!     fn init(&self) -> i64 { 0 }
//!     fn step(&self, s: &i64, input: &In) -> Option<(i64, Option<i64>)> {
//!         Some(match input {
//!             In::Put(v) => ((*s).max(*v), None),
//!             In::Get => (*s, Some(*s)),
//!         })
//!     }
//!     fn partition(&self, h: &History) -> Result<Vec<Partition<Self>>, HistoryError> {
//!         let int = |v: &Option<Value>| match v { Some(Value::Int(i)) => Some(*i), _ => None };
//!         per_key(self, h, &[OpKind::Put, OpKind::Get], &[OpKind::Get],
//!             |op| match op.kind { OpKind::Put => int(&op.value).map(In::Put), _ => Some(In::Get) },
//!             |op| Some(match op.kind { OpKind::Get => int(&op.read), _ => None }))
//!     }
//!     fn describe(&self, s: &i64) -> String { s.to_string() }
//!     fn state_json(&self, s: &i64) -> serde_json::Value { (*s).into() }
//! }
//!
//! let h = History::from_json_str(r#"{"format": "quorumlab-history/1", "ops": [
//!   {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 5, "invoke": 0, "complete": 1, "outcome": "ok"},
//!   {"id": 2, "client": 0, "kind": "put", "key": "x", "value": 3, "invoke": 2, "complete": 3, "outcome": "ok"},
//!   {"id": 3, "client": 0, "kind": "get", "key": "x", "invoke": 4, "complete": 5, "outcome": "ok", "read": 5}]}"#).unwrap();
//! let report = check_model(&MaxRegister, &h, &CheckOptions::default());
//! assert_eq!(report.verdict.linearizable(), Some(true)); // a plain register would say false
//! ```
use std::fmt::Debug;
use std::hash::Hash;

use crate::history::{History, HistoryError};

mod kv;
mod mutex;
mod parts;
mod queue;
mod set;

pub use kv::{Kv, KvInput, KvOutput};
pub use mutex::{Mutex, MutexInput};
pub use parts::per_key;
pub use queue::{Queue, QueueInput, QueueOutput};
pub use set::{Element, Members, Set, SetInput, SetOutput};

/// What an op does to the state, as far as pruning needs to know
/// ([`Model::effect`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect<S> {
    /// Leaves it unchanged wherever it is valid (a read).
    Same,
    /// Makes it grow: the state after [`Model::extends`] the state before (an append).
    Grows,
    /// Sets it to this state, or (when the outcome is unknown) may leave it unchanged.
    Sets(S),
    /// Anything else: no pruning for the partition.
    Any,
}

/// One op of a partition, as a checker sees it.
#[derive(Clone, Debug)]
pub struct PartOp<M: Model + ?Sized> {
    /// Index of the op in `History::ops`.
    pub index: usize,
    /// What the op asked for.
    pub input: M::Input,
    /// What it returned; `None` when unknown (outcome info), which any output matches.
    pub output: Option<M::Output>,
    /// Invocation time.
    pub call: u64,
    /// Completion time; `None` when the op may take effect at any time after `call`, or never.
    pub ret: Option<u64>,
}

/// The ops of one independent part of a history (one key for [`Kv`]).
#[derive(Clone, Debug)]
pub struct Partition<M: Model + ?Sized> {
    /// The key, or another name of the partition.
    pub key: String,
    /// Its ops, ordered by invocation time. Ops that constrain nothing (fail ops, reads of
    /// unknown result) are already left out.
    pub ops: Vec<PartOp<M>>,
}

/// A sequential specification (see the module docs for how to write one).
///
/// The checker explores orders of the ops and calls [`Model::step`] on the states it reaches;
/// states are hashed and compared to memoize configurations, so they should be small values.
pub trait Model {
    /// The model's state; cheap to compare and hash.
    type State: Clone + Eq + Hash + Debug + Send;
    /// An operation.
    type Input: Clone + Eq + Hash + Debug + Send + Sync;
    /// What an operation returns.
    type Output: Clone + PartialEq + Debug + Send + Sync;

    /// The name used in messages.
    fn name(&self) -> &'static str;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` in `state`: the next state and the output, or `None` when the input
    /// cannot happen in this state at all.
    fn step(&self, state: &Self::State, input: &Self::Input)
        -> Option<(Self::State, Self::Output)>;

    /// True when `input` with this recorded output leaves the state unchanged in every state
    /// where it is valid (a read, a cas that did not swap). The search then linearizes such
    /// an op as soon as it is valid without trying alternatives: if any order works, one that
    /// places it first does. Default: false (always sound).
    fn is_read_only(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> bool {
        false
    }

    /// The one state in which `input` with this recorded output is valid, when there is
    /// exactly one (a read pins the state it read). Used with [`Model::effect`] and [`Model::extends`] to prune.
    /// Default: `None`.
    fn pinned(&self, _input: &Self::Input, _output: &Self::Output) -> Option<Self::State> {
        None
    }

    /// What `input` with this recorded output (`None`: unknown) does to the state, for
    /// pruning. Default: [`Effect::Any`] (no pruning).
    fn effect(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> Effect<Self::State> {
        Effect::Any
    }

    /// Whether `later` is `earlier` or can grow from it by ops of effect [`Effect::Grows`]
    /// (reflexive and transitive). Default: true.
    fn extends(&self, _later: &Self::State, _earlier: &Self::State) -> bool {
        true
    }

    /// Splits a valid history into partitions that can be checked independently, with every
    /// op that constrains the verdict (fail ops and reads of unknown result left out).
    fn partition(&self, history: &History) -> Result<Vec<Partition<Self>>, HistoryError>;

    /// Leaves out of a partition ops that cannot change its verdict (for [`Kv`]: info writes
    /// that no read could observe), before the search. Witnesses are explained from the
    /// partition before this reduction. Default: nothing left out.
    fn reduce(&self, _partition: &mut Partition<Self>)
    where
        Self: Sized,
    {
    }

    /// Heap bytes `state` holds that it shares with nothing else (a string an append built,
    /// not one a put copied from the history), counted against the checker's memory limit
    /// ([`CheckOptions::memo_limit_bytes`](crate::check::linearizable::CheckOptions)).
    /// Default: 0, for states that own no heap memory.
    fn heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// A state in words, e.g. `5`, `"ab"` or `absent`.
    fn describe(&self, state: &Self::State) -> String;

    /// A state as JSON, for witnesses.
    fn state_json(&self, state: &Self::State) -> serde_json::Value;
}
