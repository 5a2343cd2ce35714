//! The `quorumlab-history/1` format: a recorded history of concurrent client operations.
//!
//! A history is a list of [`Op`]s over a map of independent registers. Each op carries its
//! invocation and completion times and an [`Outcome`]; the checkers in [`crate::check`] decide
//! which guarantees the history kept. The JSON format is documented in `docs/history-format.md`;
//! [`edn`] reads Jepsen register histories.
//!
//! ```
//! use quorumlab::history::History;
//!
//! let h = History::from_json_str(r#"{"format": "quorumlab-history/1", "ops": [
//!   {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 5,
//!    "invoke": 0, "complete": 10, "outcome": "ok"},
//!   {"id": 2, "client": 1, "kind": "get", "key": "x",
//!    "invoke": 20, "complete": 30, "outcome": "ok", "read": 5}]}"#).unwrap();
//! assert_eq!(h.ops.len(), 2);
//! assert_eq!(History::from_json_str(&h.to_json_string()).unwrap(), h);
//! ```
use std::fmt;
use std::sync::Arc;

use serde_json::Map;

pub mod edn;
mod error;
mod json;
mod recorder;

pub use error::{HistoryError, OpLoc, Position};
pub use recorder::{Call, OpId, Recorder, Ret};

/// A JSON value's type in words (`a string`, `an object`), for messages.
pub fn json_type_name(v: &serde_json::Value) -> &'static str {
    json::type_name(v)
}

/// The value of the `format` field.
pub const FORMAT: &str = "quorumlab-history/1";

/// A register value: a JSON integer or string. An absent key is `None` (`null` in JSON).
///
/// A string is shared, not copied, when a value is cloned: a checker puts the values of a
/// history into its model states, partitions and witnesses many times over, and one value may
/// be most of a file (a `String` behind the `Arc`, so that a string read from a file becomes a
/// value without being copied once more).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// A JSON integer.
    Int(i64),
    /// A JSON string.
    Str(Arc<String>),
}

impl Value {
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Str(s) => serde_json::Value::from(s.as_str()),
        }
    }

    /// Parses a command-line value: an integer when it reads as one, otherwise a string.
    pub fn parse_cli(s: &str) -> Value {
        s.parse::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::from(s))
    }

    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            Value::Int(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            // Messages stay readable when a value is most of a file.
            Value::Str(s) if s.len() > 80 => {
                let cut = (0..=60).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                write!(f, "{:?}... ({} bytes)", &s[..cut], s.len())
            }
            Value::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Arc::new(s.to_string()))
    }
}

impl From<String> for Value {
    /// Takes the string without copying it.
    fn from(s: String) -> Self {
        Value::Str(Arc::new(s))
    }
}

/// A history time (nanoseconds) in milliseconds, exact and without trailing zeros: `42`,
/// `1768.000001`. Sentences about ops give times this way: a simulated run's clock reads in
/// ms, and an exact value keeps "completed before it began" visible to the nanosecond.
pub fn ms(ns: u64) -> String {
    let (whole, frac) = (ns / 1_000_000, ns % 1_000_000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:06}").trim_end_matches('0'))
    }
}

/// An op's span in a sentence: `[42.000001..49 ms]`, or `[42 ms..]` when it never completed.
pub fn span(invoke: u64, complete: Option<u64>) -> String {
    TimeUnit::Nanos.span(invoke, complete)
}

/// The top-level field that says what a history's times count (see [`TimeUnit`]).
pub const TIME_UNIT_FIELD: &str = "time_unit";

/// What a history's times count: nanoseconds, the format's unit, unless its top-level field
/// [`TIME_UNIT_FIELD`] says `"position"` (a Jepsen EDN history without `:time`: the times
/// are the elements' positions in the file, which order the ops but measure nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeUnit {
    /// Nanoseconds; sentences give them in ms ([`ms`]).
    #[default]
    Nanos,
    /// Positions in the source; sentences say `position 12`.
    Position,
}

impl TimeUnit {
    /// One time in a sentence: `42.5 ms`, or `position 42`.
    pub fn time(self, t: u64) -> String {
        match self {
            TimeUnit::Nanos => format!("{} ms", ms(t)),
            TimeUnit::Position => format!("position {t}"),
        }
    }

    /// An op's span in a sentence: `[42.000001..49 ms]` (`[42 ms..]` when it never completed),
    /// or `[positions 42..49]` (`[position 42..]`).
    pub fn span(self, invoke: u64, complete: Option<u64>) -> String {
        match (self, complete) {
            (TimeUnit::Nanos, Some(c)) => format!("[{}..{} ms]", ms(invoke), ms(c)),
            (TimeUnit::Nanos, None) => format!("[{} ms..]", ms(invoke)),
            (TimeUnit::Position, Some(c)) => format!("[positions {invoke}..{c}]"),
            (TimeUnit::Position, None) => format!("[position {invoke}..]"),
        }
    }
}

/// Formats an optional value: `absent` for `None`.
pub fn show(v: &Option<Value>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "absent".to_string(),
    }
}

/// Formats a set of values: `{1, 2}`.
pub fn show_set(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(Value::to_string).collect();
    format!("{{{}}}", items.join(", "))
}

/// What an operation does to its key. Its name in the JSON format ([`OpKind::name`]) is its
/// variant's in lower case.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "lowercase")]
pub enum OpKind {
    /// Reads the key.
    Get,
    /// Writes `value`.
    Put,
    /// Makes the key absent.
    Delete,
    /// Appends the string `value` (absent reads as "").
    Append,
    /// Writes `value` if the key holds `expect`.
    Cas,
    /// Set: adds the element `value` to the set at the key.
    Add,
    /// Set: reads the whole set (`members`).
    Members,
    /// Queue: appends `value` to the FIFO queue at the key.
    Enqueue,
    /// Queue: takes the oldest element off the queue (`read`; `None`: found it empty).
    Dequeue,
    /// Mutex: takes the lock at the key (ok: granted).
    Acquire,
    /// Mutex: gives the lock back.
    Release,
}

impl OpKind {
    /// The name used in the JSON format.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Parses a JSON kind name.
    pub fn from_name(s: &str) -> Option<OpKind> {
        s.parse().ok()
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the client learnt about an operation.
/// Its name in the JSON format ([`Outcome::name`]) is its variant's in lower case.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "lowercase")]
pub enum Outcome {
    /// Took effect exactly once, between invoke and complete.
    Ok,
    /// Certainly did not take effect.
    Fail,
    /// Unknown: may take effect at any time after invoke, or never.
    Info,
}

impl Outcome {
    /// The name used in the JSON format.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Parses a JSON outcome name.
    pub fn from_name(s: &str) -> Option<Outcome> {
        s.parse().ok()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One client operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Unique in the history.
    pub id: u64,
    /// The client; a client has at most one op in flight.
    pub client: u64,
    /// What the op does.
    pub kind: OpKind,
    /// The key it acts on.
    pub key: String,
    /// put, append, cas: the value written (append: a string). `None` for get and delete.
    pub value: Option<Value>,
    /// cas: the value compared against (`None` = absent).
    pub expect: Option<Value>,
    /// Invocation time (nanoseconds of any monotone clock).
    pub invoke: u64,
    /// Completion time, `>= invoke`; `None` only when the outcome is info.
    pub complete: Option<u64>,
    /// What the client learnt.
    pub outcome: Outcome,
    /// get with outcome ok: the value returned (`None` = absent); dequeue with outcome ok:
    /// the element taken (`None` = the queue was empty).
    pub read: Option<Value>,
    /// members with outcome ok: the set read, sorted, without repeats (`read` in JSON).
    pub members: Option<Vec<Value>>,
    /// cas with outcome ok: whether the compare matched and the swap happened.
    pub swapped: Option<bool>,
    /// Fields this format does not define, kept in their order (e.g. coordinator, level).
    pub extra: Map<String, serde_json::Value>,
}

impl Op {
    /// A new op with no value, no result and no extra fields.
    pub fn new(id: u64, client: u64, kind: OpKind, key: &str, invoke: u64) -> Op {
        Op {
            id,
            client,
            kind,
            key: key.to_string(),
            value: None,
            expect: None,
            invoke,
            complete: None,
            outcome: Outcome::Info,
            read: None,
            members: None,
            swapped: None,
            extra: Map::new(),
        }
    }

    /// Short name, e.g. `get#41`.
    pub fn name(&self) -> String {
        format!("{}#{}", self.kind, self.id)
    }

    /// What the op did, in words, e.g. `get#41 by client 3 [1.2..1.35 ms] read 5` (times in
    /// ms, see [`ms`]).
    pub fn describe(&self) -> String {
        self.describe_in(TimeUnit::Nanos)
    }

    /// [`Op::describe`] with times in `unit` (the history's, [`History::time_unit`]).
    pub fn describe_in(&self, unit: TimeUnit) -> String {
        let span = unit.span(self.invoke, self.complete);
        let what = match (self.kind, self.outcome) {
            (OpKind::Get, Outcome::Ok) => format!("read {}", show(&self.read)),
            (OpKind::Get, _) => "read (unknown)".to_string(),
            (OpKind::Put, _) => format!("put {}", show(&self.value)),
            (OpKind::Delete, _) => "deleted the key".to_string(),
            (OpKind::Append, _) => format!("appended {}", show(&self.value)),
            (OpKind::Cas, Outcome::Ok) => format!(
                "cas {} -> {} {}",
                show(&self.expect),
                show(&self.value),
                if self.swapped == Some(true) {
                    "swapped"
                } else {
                    "did not swap"
                }
            ),
            (OpKind::Cas, _) => format!("cas {} -> {}", show(&self.expect), show(&self.value)),
            (OpKind::Add, _) => format!("added {}", show(&self.value)),
            (OpKind::Members, Outcome::Ok) => {
                format!("read {}", show_set(self.members.as_deref().unwrap_or(&[])))
            }
            (OpKind::Members, _) => "read the set (unknown)".to_string(),
            (OpKind::Enqueue, _) => format!("enqueued {}", show(&self.value)),
            (OpKind::Dequeue, Outcome::Ok) => match &self.read {
                Some(v) => format!("dequeued {v}"),
                None => "found the queue empty".to_string(),
            },
            (OpKind::Dequeue, _) => "dequeued (unknown)".to_string(),
            (OpKind::Acquire, _) => "acquired the lock".to_string(),
            (OpKind::Release, _) => "released the lock".to_string(),
        };
        let outcome = match self.outcome {
            Outcome::Ok => "",
            Outcome::Fail => " (fail)",
            Outcome::Info => " (info)",
        };
        format!(
            "{} by client {} {} {}{}",
            self.name(),
            self.client,
            span,
            what,
            outcome
        )
    }
}

/// A file's bytes. A file too large for the memory left is an error that says so (exit 2 in
/// `quorumlab check`), not an abort.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, HistoryError> {
    use std::io::Read;
    let io = |e: std::io::Error| HistoryError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut bytes = Vec::new();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if bytes.try_reserve_exact(size.saturating_add(1)).is_err() {
        return Err(HistoryError::Io {
            path: path.to_path_buf(),
            message: format!("out of memory: the file's {size} bytes do not fit"),
        });
    }
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// A recorded history: ops plus any other top-level fields, kept in order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct History {
    /// The operations, in file order.
    pub ops: Vec<Op>,
    /// Top-level fields other than `format` and `ops` (scenario, nemesis, final states...).
    pub extra: Map<String, serde_json::Value>,
}

impl History {
    /// A history of these ops with no extra fields.
    pub fn new(ops: Vec<Op>) -> History {
        History {
            ops,
            extra: Map::new(),
        }
    }

    /// Parses and validates a `quorumlab-history/1` JSON document.
    pub fn from_json_str(s: &str) -> Result<History, HistoryError> {
        json::from_slice(s.as_bytes())
    }

    /// Parses and validates JSON bytes (which must be UTF-8).
    pub fn from_json_slice(bytes: &[u8]) -> Result<History, HistoryError> {
        json::from_slice(bytes)
    }

    /// Reads, parses and validates a JSON history file; errors name the file.
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<History, HistoryError> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        json::from_slice(&bytes).map_err(|e| e.in_file(path))
    }

    /// Serializes the history: deterministic (same history, same bytes), one op per line.
    pub fn to_json_string(&self) -> String {
        json::to_string(self)
    }

    /// Checks the rules of the format: unique ids, `complete >= invoke`, the fields each kind
    /// and outcome needs, and at most one op in flight per client.
    pub fn validate(&self) -> Result<(), HistoryError> {
        json::validate(self)
    }

    /// What the history's times count (its [`TIME_UNIT_FIELD`]).
    pub fn time_unit(&self) -> TimeUnit {
        match self.extra.get(TIME_UNIT_FIELD).and_then(|u| u.as_str()) {
            Some("position") => TimeUnit::Position,
            _ => TimeUnit::Nanos,
        }
    }

    /// The number of distinct keys.
    pub fn key_count(&self) -> usize {
        let keys: std::collections::BTreeSet<&str> =
            self.ops.iter().map(|o| o.key.as_str()).collect();
        keys.len()
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn kinds_and_outcomes_have_the_formats_names_and_parse_back() {
        let kinds: Vec<&str> = OpKind::VARIANTS.iter().map(|k| k.name()).collect();
        assert_eq!(
            kinds,
            [
                "get", "put", "delete", "append", "cas", "add", "members", "enqueue", "dequeue",
                "acquire", "release"
            ]
        );
        let outcomes: Vec<&str> = Outcome::VARIANTS.iter().map(|o| o.name()).collect();
        assert_eq!(outcomes, ["ok", "fail", "info"]);
        for k in OpKind::VARIANTS {
            assert_eq!(OpKind::from_name(k.name()), Some(*k));
            assert_eq!(k.to_string(), k.name());
        }
        for o in Outcome::VARIANTS {
            assert_eq!(Outcome::from_name(o.name()), Some(*o));
        }
        // Names are exact, as the format writes them.
        assert_eq!(OpKind::from_name("Get"), None);
        assert_eq!(Outcome::from_name("OK"), None);
    }
}
