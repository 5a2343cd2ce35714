//! Reads Jepsen register and cas-register histories written in EDN, with Jepsen's semantics.
//!
//! The input is a vector, a list, or a bare stream of maps such as
//! `{:process 0, :type :invoke, :f :cas, :value [1 2]}`. Invocations are paired with the
//! next completion of the same process; `:f :read` becomes a get, `:write` a put and `:cas`
//! (value `[old new]`) a cas. All ops act on the one key [`KEY`]. Times are Jepsen's `:time`
//! (nanoseconds) when every element has one and the clients' times strictly increase from 1 in
//! the order of the file, so that they order the ops exactly as the file does, as Knossos reads
//! it (and the initial value, at 0, comes first). Otherwise they are positions in the stream
//! (every element counts, so they are strictly increasing), and the history's
//! [`TIME_UNIT_FIELD`] says `"position"`, so sentences give positions, not milliseconds. As in
//! Jepsen and Knossos:
//!
//! - `:ok`: the op took effect, once, between its invocation and its completion.
//! - `:fail`: the op certainly did not take effect, whatever its `:f` (outcome fail); a failed
//!   cas constrains nothing. [`EdnOptions::fail_cas_did_not_swap`] reads it more strictly.
//! - `:info`, or an invocation never completed: the op may have taken effect at any time after
//!   its invocation, or never (outcome info, no completion; the `:info` position is kept as
//!   `gave_up`). Jepsen then retires the process: a later op under the same process number
//!   belongs to a new logical process, so it gets a client id of its own (past every process
//!   number in the file) and keeps the number in the field `process`.
//! - `:ok :read` of `nil` is a read whose value is unknown (outcome info), as in Knossos'
//!   register models.
//! - Elements whose `:process` is a keyword (`:nemesis`, or another of the test's own
//!   processes, as Jepsen allows) are not client ops: they are kept in the history's top-level
//!   `nemesis` list (`time`, `process`, `type`, `f`, `value`), so that a report can draw them.
//!   Any other `:process` that is not an integer is an error.
//!
//! `initial` is the register's value before the history: a put of it (op id 0, marked
//! `"initial": true`, with a client id of its own) completes at time 0, before every other op.
//!
//! Bad input is an error naming the line and column of the element at fault: malformed EDN,
//! nesting deeper than [`MAX_DEPTH`], integers outside 64 bits, negative or absurd process
//! numbers (above [`MAX_PROCESS`]), a `:process` neither an integer nor a keyword, a key given
//! twice in one map, unknown `:type` or `:f`, completions without invocations, and an empty
//! input.
use std::collections::BTreeMap;

use serde_json::Map;

use super::{History, HistoryError, Op, OpKind, Outcome, Value, TIME_UNIT_FIELD};

mod reader;

pub use reader::MAX_DEPTH;
use reader::{error_at, Edn, Parser};

/// The key every op of an EDN register history acts on.
pub const KEY: &str = "x";

/// The largest process number accepted. Jepsen numbers processes from 0 and adds the
/// concurrency on every crash, so real numbers stay far below this.
pub const MAX_PROCESS: i64 = u32::MAX as i64;

/// The kind of object an EDN history acts on, which decides what its `:f` names mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EdnModel {
    /// `:read` and `:write`.
    Register,
    /// `:read`, `:write` and `:cas` (the default).
    #[default]
    CasRegister,
    /// `:add` and `:read` (the value read: a vector or set of every element).
    Set,
    /// `:enqueue` and `:dequeue` (the value dequeued; `nil`: the queue was empty).
    Queue,
    /// `:acquire` and `:release`.
    Mutex,
}

impl EdnModel {
    /// The model's name: `register`, `cas-register`, `set`, `queue`, `mutex`.
    pub fn name(self) -> &'static str {
        match self {
            EdnModel::Register => "register",
            EdnModel::CasRegister => "cas-register",
            EdnModel::Set => "set",
            EdnModel::Queue => "queue",
            EdnModel::Mutex => "mutex",
        }
    }

    /// The op kind of a Jepsen `:f` name, if the model has it.
    pub fn kind(self, f: &str) -> Option<OpKind> {
        Some(match (self, f) {
            (EdnModel::Register | EdnModel::CasRegister, "read") => OpKind::Get,
            (EdnModel::Register | EdnModel::CasRegister, "write") => OpKind::Put,
            (EdnModel::CasRegister, "cas") => OpKind::Cas,
            (EdnModel::Set, "add") => OpKind::Add,
            (EdnModel::Set, "read") => OpKind::Members,
            (EdnModel::Queue, "enqueue") => OpKind::Enqueue,
            (EdnModel::Queue, "dequeue") => OpKind::Dequeue,
            (EdnModel::Mutex, "acquire") => OpKind::Acquire,
            (EdnModel::Mutex, "release") => OpKind::Release,
            _ => return None,
        })
    }

    fn fs(self) -> &'static str {
        match self {
            EdnModel::Register => ":read or :write",
            EdnModel::CasRegister => ":read, :write or :cas",
            EdnModel::Set => ":add or :read",
            EdnModel::Queue => ":enqueue or :dequeue",
            EdnModel::Mutex => ":acquire or :release",
        }
    }
}

/// How to read an EDN history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdnOptions {
    /// The register's value before the history (`None`: absent). Default: `None`.
    pub initial: Option<Value>,
    /// Read `:fail :cas` as a cas that completed without swapping (the compare did not
    /// match), instead of Jepsen's "did not take place". This is stronger than Jepsen's
    /// reading: it claims the register did not hold the expected value at some instant in the
    /// op's interval, which a client cannot know when the failure came from a timeout or an
    /// unavailable replica. Default: false.
    pub fail_cas_did_not_swap: bool,
    /// What the `:f` names mean. Default: [`EdnModel::CasRegister`].
    pub model: EdnModel,
}

struct Pending {
    invoke: u64,
    kind: OpKind,
    value: Option<Value>,
    expect: Option<Value>,
    id: u64,
    client: u64,
}

/// Parses a Jepsen EDN register or cas-register history (see the module docs).
pub fn parse(text: &str, initial: Option<Value>) -> Result<History, HistoryError> {
    parse_with(
        text,
        &EdnOptions {
            initial,
            ..EdnOptions::default()
        },
    )
}

/// Parses a Jepsen EDN history with these options.
pub fn parse_with(text: &str, options: &EdnOptions) -> Result<History, HistoryError> {
    let src = text.as_bytes();
    let err_at = |at: usize, message: String| error_at(src, at, message);

    // Client ids for new logical processes and the initial op start past every process
    // number, and Jepsen's `:time` is used only when every element has one and the clients'
    // strictly increase from 1: a first pass finds out (the elements are parsed twice, not
    // held in memory).
    let mut fresh = 0u64;
    let mut times = true;
    let mut last_time = 0i64;
    for elem in Elements::new(src)? {
        let (at, e) = elem?;
        if let Edn::Map(m) = &e {
            let client = matches!(get(m, "process"), Some(Edn::Int(_)));
            match get(m, "time") {
                Some(Edn::Int(t)) if *t > last_time || (!client && *t >= 0) => {
                    if client {
                        last_time = *t;
                    }
                }
                _ => times = false,
            }
            if let Some(Edn::Int(p)) = get(m, "process") {
                let p = *p;
                if p < 0 {
                    return Err(err_at(at, format!("negative process number {p}")));
                }
                if p > MAX_PROCESS {
                    return Err(err_at(
                        at,
                        format!("process number {p} is absurd (more than {MAX_PROCESS})"),
                    ));
                }
                fresh = fresh.max(p as u64 + 1);
            }
        }
    }

    let mut ops: Vec<Op> = Vec::new();
    let mut nemesis: Vec<serde_json::Value> = Vec::new();
    let mut next_id = 1u64;
    if let Some(v) = &options.initial {
        let mut op = Op::new(0, fresh, OpKind::Put, KEY, 0);
        fresh += 1;
        op.value = Some(v.clone());
        op.complete = Some(0);
        op.outcome = Outcome::Ok;
        op.extra.insert("initial".into(), true.into());
        ops.push(op);
    }
    let mut pending: BTreeMap<i64, Pending> = BTreeMap::new();
    // The client id of each process: its number until it crashes, then a fresh id.
    let mut client_of: BTreeMap<i64, u64> = BTreeMap::new();
    for (index, elem) in Elements::new(src)?.enumerate() {
        let (at, e) = elem?;
        let Edn::Map(mut m) = e else {
            return Err(err_at(at, format!("history element {index} is not a map")));
        };
        let time = match get(&m, "time") {
            Some(Edn::Int(t)) if times => *t as u64,
            _ => index as u64 + 1,
        };
        let process = match get(&m, "process") {
            Some(Edn::Int(p)) => *p,
            // As in Jepsen, a keyword names a process that is not a client: the nemesis, or
            // another of the test's own.
            Some(Edn::Keyword(_)) => {
                nemesis.push(nemesis_entry(time, &m));
                continue;
            }
            Some(other) => {
                return Err(err_at(
                    at,
                    format!(
                        "history element {index}: :process {} is neither an integer (a client) nor a keyword (such as :nemesis)",
                        other.to_json()
                    ),
                ))
            }
            None => {
                return Err(err_at(
                    at,
                    format!("history element {index} has no :process"),
                ))
            }
        };
        // Moved out, not copied: a value may be most of the file.
        let raw = take(&mut m, "value");
        let typ = match get(&m, "type") {
            Some(Edn::Keyword(t)) => t.as_str(),
            _ => {
                return Err(err_at(
                    at,
                    format!("history element {index} has no :type keyword"),
                ))
            }
        };
        let f = match get(&m, "f") {
            Some(Edn::Keyword(f)) => f.as_str(),
            _ => {
                return Err(err_at(
                    at,
                    format!("history element {index} has no :f keyword"),
                ))
            }
        };
        let Some(kind) = options.model.kind(f) else {
            return Err(err_at(
                at,
                format!(
                    "history element {index}: unsupported :f :{f} for the {} model (expected {}; --model chooses another)",
                    options.model.name(),
                    options.model.fs()
                ),
            ));
        };
        let val = |e: Edn| {
            to_value(e).map_err(|other| {
                err_at(
                    at,
                    format!(
                        "history element {index}: unsupported register value {} (expected an \
                         integer, a string, a keyword or nil)",
                        other.to_json()
                    ),
                )
            })
        };
        match typ {
            "invoke" => {
                if pending.contains_key(&process) {
                    return Err(err_at(at, format!("history element {index}: process {process} invoked while its previous op is in flight")));
                }
                let (value, expect) = match kind {
                    OpKind::Put | OpKind::Add | OpKind::Enqueue => (val(raw)?, None),
                    OpKind::Cas => match raw {
                        Edn::Seq(pair) if pair.len() == 2 => {
                            let [old, new] = <[Edn; 2]>::try_from(pair).expect("two items");
                            (val(new)?, val(old)?)
                        }
                        _ => {
                            return Err(err_at(
                                at,
                                format!("history element {index}: a cas value must be [old new]"),
                            ))
                        }
                    },
                    _ => (None, None),
                };
                let writes = matches!(
                    kind,
                    OpKind::Put | OpKind::Cas | OpKind::Add | OpKind::Enqueue
                );
                if writes && value.is_none() {
                    return Err(err_at(at, format!("history element {index}: writes nil")));
                }
                let client = *client_of.entry(process).or_insert(process as u64);
                pending.insert(
                    process,
                    Pending {
                        invoke: time,
                        kind,
                        value,
                        expect,
                        id: next_id,
                        client,
                    },
                );
                next_id += 1;
            }
            "ok" | "fail" | "info" => {
                let Some(inv) = pending.remove(&process) else {
                    if typ == "info" {
                        // Jepsen logs a crash of an idle process this way; nothing happened.
                        continue;
                    }
                    return Err(err_at(at, format!("history element {index}: :{typ} for process {process} with no invocation")));
                };
                if inv.kind != kind {
                    return Err(err_at(at, format!("history element {index}: completes :f :{f} but process {process} invoked a {}", inv.kind)));
                }
                let mut op = inv.op(process);
                match (typ, kind) {
                    ("ok", OpKind::Members) => {
                        op.complete = Some(time);
                        op.outcome = Outcome::Ok;
                        match raw {
                            // As for registers, a nil read is a read of unknown value.
                            Edn::Nil => op.outcome = Outcome::Info,
                            Edn::Seq(items) | Edn::Set(items) => {
                                let mut set = Vec::with_capacity(items.len());
                                for e in items {
                                    match val(e)? {
                                        Some(v) => set.push(v),
                                        None => {
                                            return Err(err_at(
                                                at,
                                                format!("history element {index}: a set holds no nil"),
                                            ))
                                        }
                                    }
                                }
                                set.sort();
                                set.dedup();
                                op.members = Some(set);
                            }
                            other => {
                                return Err(err_at(
                                    at,
                                    format!(
                                        "history element {index}: a set read must be a vector or a set, not {}",
                                        other.to_json()
                                    ),
                                ))
                            }
                        }
                    }
                    ("ok", OpKind::Dequeue) => {
                        // nil: the queue was empty.
                        op.read = val(raw)?;
                        op.complete = Some(time);
                        op.outcome = Outcome::Ok;
                    }
                    ("ok", OpKind::Get) => {
                        op.read = val(raw)?;
                        op.complete = Some(time);
                        // Knossos' register models read nil as "value unknown".
                        op.outcome = if op.read.is_none() {
                            Outcome::Info
                        } else {
                            Outcome::Ok
                        };
                    }
                    ("ok", _) => {
                        op.complete = Some(time);
                        op.outcome = Outcome::Ok;
                        if kind == OpKind::Cas {
                            op.swapped = Some(true);
                        }
                    }
                    ("fail", OpKind::Cas) if options.fail_cas_did_not_swap => {
                        op.complete = Some(time);
                        op.outcome = Outcome::Ok;
                        op.swapped = Some(false);
                    }
                    ("fail", _) => {
                        op.complete = Some(time);
                        op.outcome = Outcome::Fail;
                    }
                    _ => {
                        // The process crashed: the op may still take effect, and the process
                        // number comes back, if ever, as a new logical process.
                        op.outcome = Outcome::Info;
                        op.extra.insert("gave_up".into(), time.into());
                        client_of.insert(process, fresh);
                        fresh += 1;
                    }
                }
                ops.push(op);
            }
            other => {
                return Err(err_at(
                    at,
                    format!("history element {index}: unknown :type :{other}"),
                ))
            }
        }
    }
    for (process, inv) in pending {
        ops.push(inv.op(process));
    }
    ops.sort_by_key(|o| o.id);
    let mut extra = Map::new();
    if !times {
        extra.insert(TIME_UNIT_FIELD.into(), "position".into());
    }
    if !nemesis.is_empty() {
        extra.insert("nemesis".into(), nemesis.into());
    }
    let h = History { ops, extra };
    h.validate()?;
    Ok(h)
}

impl Pending {
    /// The op as invoked: outcome info, no completion yet.
    fn op(self, process: i64) -> Op {
        let mut op = Op::new(self.id, self.client, self.kind, KEY, self.invoke);
        op.value = self.value;
        op.expect = self.expect;
        if self.client != process as u64 {
            op.extra.insert("process".into(), process.into());
        }
        op
    }
}

/// The history's elements with their offsets, one at a time: the items of a single
/// top-level vector or list, or else every top-level form (a stream).
struct Elements<'a> {
    p: Parser<'a>,
    /// In a top-level vector or list: its closing delimiter and where it opened.
    close: Option<(u8, usize)>,
    done: bool,
}

impl<'a> Elements<'a> {
    fn new(src: &'a [u8]) -> Result<Elements<'a>, HistoryError> {
        let mut p = Parser::new(src);
        if p.at_end()? {
            return Err(error_at(
                src,
                p.pos,
                "the input is empty (expected a history: a vector of op maps)",
            ));
        }
        let at = p.pos;
        let close = match src[at] {
            b'[' => Some((b']', at)),
            b'(' => Some((b')', at)),
            _ => None,
        };
        if close.is_some() {
            p.pos += 1;
        }
        Ok(Elements {
            p,
            close,
            done: false,
        })
    }

    fn step(&mut self) -> Result<Option<(usize, Edn)>, HistoryError> {
        match self.close {
            None => {
                if self.p.at_end()? {
                    return Ok(None);
                }
            }
            Some((close, open)) => match self.p.next_item(close, open)? {
                true => {}
                false => {
                    if !self.p.at_end()? {
                        return Err(self.p.err_here(
                            "more forms after the history's closing delimiter (expected one \
                             vector of op maps, or a stream of maps)",
                        ));
                    }
                    return Ok(None);
                }
            },
        }
        let at = self.p.pos;
        Ok(Some((at, self.p.value()?)))
    }
}

impl Iterator for Elements<'_> {
    type Item = Result<(usize, Edn), HistoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

/// Removes a map entry and returns its value (`nil` when absent).
fn take(m: &mut Vec<(Edn, Edn)>, key: &str) -> Edn {
    match m
        .iter()
        .position(|(k, _)| matches!(k, Edn::Keyword(s) if s == key))
    {
        Some(i) => m.swap_remove(i).1,
        None => Edn::Nil,
    }
}

fn get<'e>(m: &'e [(Edn, Edn)], key: &str) -> Option<&'e Edn> {
    m.iter()
        .find(|(k, _)| matches!(k, Edn::Keyword(s) if s == key))
        .map(|(_, v)| v)
}

fn nemesis_entry(time: u64, m: &[(Edn, Edn)]) -> serde_json::Value {
    let mut entry = Map::new();
    entry.insert("time".into(), time.into());
    for field in ["process", "type", "f", "value"] {
        if let Some(v) = get(m, field) {
            entry.insert(field.into(), v.to_json());
        }
    }
    entry.into()
}

/// A register value from an element: `Err` gives back an element that is none (a vector, a
/// map, ...).
fn to_value(e: Edn) -> Result<Option<Value>, Edn> {
    match e {
        Edn::Nil => Ok(None),
        Edn::Int(i) => Ok(Some(Value::Int(i))),
        Edn::Str(s) | Edn::Symbol(s) => Ok(Some(Value::from(s))),
        Edn::Keyword(k) => Ok(Some(Value::from(format!(":{k}")))),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests;
