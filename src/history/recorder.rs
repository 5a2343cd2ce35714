//! Recording a history from a test of any store, on any runtime.
//!
//! A [`Recorder`] is shared by the test's threads or tasks (it is `Sync`; wrap it in an `Arc`
//! or borrow it in scoped threads). Each client calls [`Recorder::invoke`] before sending a
//! request and then exactly one of [`Recorder::ok`], [`Recorder::fail`] or [`Recorder::info`]
//! when it learns the outcome. Times are the caller's, in nanoseconds of any monotone clock
//! ([`Recorder::now`] offers one); a client must have at most one op in flight.
//!
//! ```
//! use quorumlab::history::{Call, Recorder, Ret};
//!
//! let rec = Recorder::new();
//! let put = rec.invoke(0, Call::put("x", 1), 0);
//! let get = rec.invoke(1, Call::get("x"), 5);
//! rec.ok(put, Ret::Done, 10);
//! rec.ok(get, Ret::Read(Some(1.into())), 20);
//! let h = rec.history().unwrap();
//! assert_eq!(h.ops.len(), 2);
//! ```
//!
//! Besides the key-value calls (get, put, delete, append, cas), a [`Call`] can be a set's
//! ([`Call::add`], [`Call::read_set`]), a FIFO queue's ([`Call::enqueue`], [`Call::dequeue`])
//! or a lock's ([`Call::acquire`], [`Call::release`]), as the models in [`crate::model`] have
//! them; [`crate::check::judge()`] checks each key's ops against its own model.
use std::sync::Mutex;
use std::time::Instant;

use super::{History, HistoryError, Op, OpKind, Outcome, Value};

/// What a client asks for: the op's kind, key and arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    kind: OpKind,
    key: String,
    value: Option<Value>,
    expect: Option<Value>,
}

impl Call {
    /// Reads `key`.
    pub fn get(key: &str) -> Call {
        Call::new(OpKind::Get, key, None, None)
    }

    /// Writes `value` to `key`.
    pub fn put(key: &str, value: impl Into<Value>) -> Call {
        Call::new(OpKind::Put, key, Some(value.into()), None)
    }

    /// Makes `key` absent.
    pub fn delete(key: &str) -> Call {
        Call::new(OpKind::Delete, key, None, None)
    }

    /// Appends the string `s` to `key` (absent reads as "").
    pub fn append(key: &str, s: &str) -> Call {
        Call::new(OpKind::Append, key, Some(Value::from(s)), None)
    }

    /// Writes `new` to `key` if it holds `expect` (`None`: absent).
    pub fn cas(key: &str, expect: Option<Value>, new: impl Into<Value>) -> Call {
        Call::new(OpKind::Cas, key, Some(new.into()), expect)
    }

    /// Adds the element `value` to the set at `key` ([`crate::model::Set`]).
    pub fn add(key: &str, value: impl Into<Value>) -> Call {
        Call::new(OpKind::Add, key, Some(value.into()), None)
    }

    /// Reads the whole set at `key`; complete it with [`Ret::Members`].
    pub fn read_set(key: &str) -> Call {
        Call::new(OpKind::Members, key, None, None)
    }

    /// Appends `value` to the FIFO queue at `key` ([`crate::model::Queue`]).
    pub fn enqueue(key: &str, value: impl Into<Value>) -> Call {
        Call::new(OpKind::Enqueue, key, Some(value.into()), None)
    }

    /// Takes the oldest element off the queue at `key`; complete it with [`Ret::Read`] (`None`:
    /// the queue was empty).
    pub fn dequeue(key: &str) -> Call {
        Call::new(OpKind::Dequeue, key, None, None)
    }

    /// Takes the lock at `key` ([`crate::model::Mutex`]); it succeeds only when the lock is
    /// free.
    pub fn acquire(key: &str) -> Call {
        Call::new(OpKind::Acquire, key, None, None)
    }

    /// Frees the lock at `key`; it succeeds only when the lock is held.
    pub fn release(key: &str) -> Call {
        Call::new(OpKind::Release, key, None, None)
    }

    fn new(kind: OpKind, key: &str, value: Option<Value>, expect: Option<Value>) -> Call {
        Call {
            kind,
            key: key.to_string(),
            value,
            expect,
        }
    }
}

/// What an op returned, for [`Recorder::ok`].
#[derive(Clone, Debug, PartialEq)]
pub enum Ret {
    /// An op that returns nothing finished: put, delete, append, add, enqueue, acquire,
    /// release.
    Done,
    /// A get returned this value (`None`: absent), or a dequeue this element (`None`: the
    /// queue was empty).
    Read(Option<Value>),
    /// A cas finished; whether it swapped.
    Swapped(bool),
    /// A set read returned these elements (in any order; repeats count once).
    Members(Vec<Value>),
}

impl Ret {
    /// Whether this is what an op of `kind` returns.
    fn fits(&self, kind: OpKind) -> bool {
        matches!(
            (kind, self),
            (OpKind::Get | OpKind::Dequeue, Ret::Read(_))
                | (OpKind::Cas, Ret::Swapped(_))
                | (OpKind::Members, Ret::Members(_))
                | (
                    OpKind::Put
                        | OpKind::Delete
                        | OpKind::Append
                        | OpKind::Add
                        | OpKind::Enqueue
                        | OpKind::Acquire
                        | OpKind::Release,
                    Ret::Done
                )
        )
    }
}

/// An op in flight, returned by [`Recorder::invoke`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "complete the op with ok, fail or info"]
pub struct OpId(u64);

/// Records ops from many threads into a [`History`].
#[derive(Debug)]
pub struct Recorder {
    ops: Mutex<Vec<Op>>,
    /// The first op completed with a return that does not fit its kind, if any.
    misfit: Mutex<Option<(u64, OpKind)>>,
    start: Instant,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder; [`Recorder::now`] counts from here.
    pub fn new() -> Recorder {
        Recorder {
            ops: Mutex::new(Vec::new()),
            misfit: Mutex::new(None),
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the recorder was made, from a monotone clock: a time to pass to
    /// `invoke` and the completions when the test has no clock of its own.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records that `client` invoked `call` at time `at`. Until completed, the op counts as
    /// info (it may take effect at any time, or never).
    pub fn invoke(&self, client: u64, call: Call, at: u64) -> OpId {
        let mut ops = self.lock();
        // The id is the op's index, taken under the lock.
        let id = ops.len() as u64;
        let mut op = Op::new(id, client, call.kind, &call.key, at);
        op.value = call.value;
        op.expect = call.expect;
        ops.push(op);
        OpId(id)
    }

    /// Records that the op took effect and returned `ret` (a get or a dequeue: [`Ret::Read`];
    /// a cas: [`Ret::Swapped`]; a set read: [`Ret::Members`]; any other kind: [`Ret::Done`]),
    /// learnt at time `at`. A return of another kind makes [`Recorder::history`] an error.
    pub fn ok(&self, op: OpId, ret: Ret, at: u64) {
        let mut misfit = None;
        self.complete(op, |o| {
            o.outcome = Outcome::Ok;
            o.complete = Some(at);
            if !ret.fits(o.kind) {
                misfit = Some((o.id, o.kind));
            }
            match ret {
                Ret::Read(v) => o.read = v,
                Ret::Swapped(b) => o.swapped = Some(b),
                Ret::Members(mut v) => {
                    v.sort();
                    v.dedup();
                    o.members = Some(v);
                }
                Ret::Done => {}
            }
        });
        if let Some(m) = misfit {
            let mut first = self.misfit.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert(m);
        }
    }

    /// Records that the op certainly did not take effect, learnt at time `at`.
    pub fn fail(&self, op: OpId, at: u64) {
        self.complete(op, |o| {
            o.outcome = Outcome::Fail;
            o.complete = Some(at);
        });
    }

    /// Records that the outcome is unknown (a timeout, a lost connection): the op may take
    /// effect at any time after its invocation, or never. The client stays busy with it for
    /// good, so it must continue under a new client id.
    pub fn info(&self, op: OpId) {
        self.complete(op, |o| {
            o.outcome = Outcome::Info;
            o.complete = None;
        });
    }

    /// The history so far, ops in invocation order; ops not completed yet are info. Errors when
    /// the recording breaks a rule of the format (a client with two ops in flight, an `ok`
    /// with a return of the wrong kind, a completion before the invocation).
    pub fn history(&self) -> Result<History, HistoryError> {
        if let Some((id, kind)) = *self.misfit.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(HistoryError::BadField {
                op: super::OpLoc::Id(id),
                field: "read",
                reason: format!("the return recorded does not fit a {kind}"),
                at: None,
            });
        }
        let mut ops = self.lock().clone();
        ops.sort_by_key(|o| (o.invoke, o.id));
        let h = History::new(ops);
        h.validate()?;
        Ok(h)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Op>> {
        // A panic in another test thread leaves the ops intact: keep recording.
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(&self, op: OpId, f: impl FnOnce(&mut Op)) {
        if let Some(o) = self.lock().get_mut(op.0 as usize) {
            f(o);
        }
    }
}
