//! A lock per key (Jepsen's `:acquire` and `:release`; Knossos' `mutex`).
use super::{parts, Model, Partition};
use crate::history::{History, HistoryError, OpKind};

/// A mutex per key, as in Knossos: `acquire` succeeds only while it is free, `release` only
/// while it is held (by anyone; holders are not tracked). Starts free. A failed acquire did
/// not take the lock.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutex;

/// An operation on a mutex.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MutexInput {
    /// Take the lock.
    Acquire,
    /// Give it back.
    Release,
}

impl Model for Mutex {
    /// Whether the lock is held.
    type State = bool;
    type Input = MutexInput;
    type Output = ();

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&self) -> bool {
        false
    }

    fn step(&self, held: &bool, input: &MutexInput) -> Option<(bool, ())> {
        match (input, held) {
            (MutexInput::Acquire, false) => Some((true, ())),
            (MutexInput::Release, true) => Some((false, ())),
            _ => None,
        }
    }

    fn partition(&self, history: &History) -> Result<Vec<Partition<Mutex>>, HistoryError> {
        parts::per_key(
            self,
            history,
            &[OpKind::Acquire, OpKind::Release],
            &[],
            |op| {
                Some(match op.kind {
                    OpKind::Acquire => MutexInput::Acquire,
                    _ => MutexInput::Release,
                })
            },
            |_| Some(()),
        )
    }

    fn describe(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.to_string()
    }

    fn state_json(&self, held: &bool) -> serde_json::Value {
        (*held).into()
    }
}
