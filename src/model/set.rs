//! A grow-only set per key (Jepsen's `:add` and `:read`; Knossos' `set`, Porcupine's set).
use std::collections::BTreeSet;

use super::{parts, Model, Partition};
use crate::history::{show_set, History, HistoryError, OpKind, Value};

/// A set of integers and strings per key: `add` puts an element in, `members` reads them all.
/// Starts empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

/// An operation on a set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetInput {
    /// Add an element.
    Add(Value),
    /// Read every element.
    Members,
}

/// What a set operation returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOutput {
    /// The add finished.
    Done,
    /// The elements, sorted.
    Members(Vec<Value>),
}

impl Model for Set {
    type State = BTreeSet<Value>;
    type Input = SetInput;
    type Output = SetOutput;

    fn name(&self) -> &'static str {
        "set"
    }

    fn init(&self) -> BTreeSet<Value> {
        BTreeSet::new()
    }

    fn step(&self, s: &BTreeSet<Value>, input: &SetInput) -> Option<(BTreeSet<Value>, SetOutput)> {
        Some(match input {
            SetInput::Add(v) => {
                let mut next = s.clone();
                next.insert(v.clone());
                (next, SetOutput::Done)
            }
            SetInput::Members => (s.clone(), SetOutput::Members(s.iter().cloned().collect())),
        })
    }

    fn is_read_only(&self, input: &SetInput, _output: Option<&SetOutput>) -> bool {
        *input == SetInput::Members
    }

    fn partition(&self, history: &History) -> Result<Vec<Partition<Set>>, HistoryError> {
        parts::per_key(
            self,
            history,
            &[OpKind::Add, OpKind::Members],
            &[OpKind::Members],
            |op| match op.kind {
                OpKind::Add => op.value.clone().map(SetInput::Add),
                _ => Some(SetInput::Members),
            },
            |op| match op.kind {
                OpKind::Add => Some(SetOutput::Done),
                _ => op.members.clone().map(SetOutput::Members),
            },
        )
    }

    fn describe(&self, s: &BTreeSet<Value>) -> String {
        show_set(&s.iter().cloned().collect::<Vec<_>>())
    }

    fn state_json(&self, s: &BTreeSet<Value>) -> serde_json::Value {
        s.iter().map(Value::to_json).collect()
    }
}
