//! A FIFO queue per key (Jepsen's `:enqueue` and `:dequeue`; Knossos' `fifo-queue`).
use std::collections::VecDeque;

use super::{parts, Model, Partition};
use crate::history::{show_set, History, HistoryError, OpKind, Value};

/// A first-in, first-out queue per key: `enqueue` adds an element at the back, `dequeue`
/// takes the front one (or finds the queue empty). Starts empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct Queue;

/// An operation on a queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueInput {
    /// Add an element at the back.
    Enqueue(Value),
    /// Take the front element.
    Dequeue,
}

/// What a queue operation returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueOutput {
    /// The enqueue finished.
    Done,
    /// The element taken; `None`: the queue was empty.
    Dequeued(Option<Value>),
}

impl Model for Queue {
    type State = VecDeque<Value>;
    type Input = QueueInput;
    type Output = QueueOutput;

    fn name(&self) -> &'static str {
        "queue"
    }

    fn init(&self) -> VecDeque<Value> {
        VecDeque::new()
    }

    fn step(
        &self,
        s: &VecDeque<Value>,
        input: &QueueInput,
    ) -> Option<(VecDeque<Value>, QueueOutput)> {
        let mut next = s.clone();
        Some(match input {
            QueueInput::Enqueue(v) => {
                next.push_back(v.clone());
                (next, QueueOutput::Done)
            }
            QueueInput::Dequeue => {
                let front = next.pop_front();
                (next, QueueOutput::Dequeued(front))
            }
        })
    }

    fn partition(&self, history: &History) -> Result<Vec<Partition<Queue>>, HistoryError> {
        parts::per_key(
            self,
            history,
            &[OpKind::Enqueue, OpKind::Dequeue],
            &[],
            |op| match op.kind {
                OpKind::Enqueue => op.value.clone().map(QueueInput::Enqueue),
                _ => Some(QueueInput::Dequeue),
            },
            |op| match op.kind {
                OpKind::Enqueue => Some(QueueOutput::Done),
                _ => Some(QueueOutput::Dequeued(op.read.clone())),
            },
        )
    }

    fn describe(&self, s: &VecDeque<Value>) -> String {
        match s.len() {
            0 => "empty".to_string(),
            _ => format!(
                "{} (front first)",
                show_set(&s.iter().cloned().collect::<Vec<_>>())
                    .replace('{', "[")
                    .replace('}', "]")
            ),
        }
    }

    fn state_json(&self, s: &VecDeque<Value>) -> serde_json::Value {
        s.iter().map(Value::to_json).collect()
    }
}
