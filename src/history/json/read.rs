//! Reading `quorumlab-history/1` in one pass, without a JSON tree of the whole document: each
//! op is read as a small object, turned into an [`Op`] and dropped, so memory holds the ops,
//! not a tree several times the size of the file.
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use super::strict::{out_of_memory_what, owned, repeated, repeated_key, room_for_one, Key, Strict};
use super::validate;
use crate::history::{History, HistoryError, Op, OpKind, OpLoc, Outcome, Position, Value, FORMAT};

/// Client ids above this are refused: it is the largest integer every JSON reader (doubles
/// included) reads exactly, and no real history has that many clients.
pub const MAX_CLIENT: u64 = (1 << 53) - 1;

pub(in crate::history) fn from_slice(bytes: &[u8]) -> Result<History, HistoryError> {
    // A semantic error found while reading: serde's error aborts the read, this says why (and
    // which op, by its place in `ops`, when it is about one).
    let found = RefCell::new(None);
    room_for_escaped_strings(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let read = Top { found: &found }
        .deserialize(&mut de)
        .and_then(|h| de.end().map(|()| h));
    match (read, found.into_inner()) {
        (Ok(h), _) => match validate(&h) {
            Ok(()) => Ok(h),
            Err(e) => {
                let index = op_index(&e, &h.ops);
                Err(locate(bytes, index, e))
            }
        },
        (
            Err(_),
            Some(Found {
                error,
                op: Some(index),
            }),
        ) => Err(locate(bytes, Some(index), error)),
        // A top-level error: where reading stopped.
        (Err(e), Some(Found { error, op: None })) => Err(match error {
            HistoryError::TopLevel(why) => {
                HistoryError::TopLevel(format!("{why} (line {}, column {})", e.line(), e.column()))
            }
            other => other,
        }),
        (Err(e), None) => Err(match (repeated_key(&e), out_of_memory_what(&e)) {
            (Some(key), _) => HistoryError::DuplicateKey {
                key,
                line: e.line(),
                column: e.column(),
            },
            (None, Some(what)) => HistoryError::OutOfMemory {
                what,
                line: e.line(),
                column: e.column(),
            },
            (None, None) => HistoryError::Json {
                message: e.to_string(),
                line: e.line(),
                column: e.column(),
            },
        }),
    }
}

/// A semantic error found while reading, and the place in `ops` of the op it is about.
struct Found {
    error: HistoryError,
    op: Option<usize>,
}

/// Records `e` and returns the serde error that stops the read.
fn stop<E: de::Error>(found: &RefCell<Option<Found>>, e: HistoryError) -> E {
    stop_at(found, e, None)
}

/// [`stop`] for an error about the op at place `op` in `ops`.
fn stop_at<E: de::Error>(found: &RefCell<Option<Found>>, e: HistoryError, op: Option<usize>) -> E {
    let message = e.to_string();
    *found.borrow_mut() = Some(Found { error: e, op });
    E::custom(message)
}

/// The place in `ops` of the op a validation error is about.
fn op_index(e: &HistoryError, ops: &[Op]) -> Option<usize> {
    let by_id = |id: u64| ops.iter().position(|o| o.id == id);
    match e {
        HistoryError::DuplicateId { second, .. } => Some(*second),
        HistoryError::CompleteBeforeInvoke { id, .. } => by_id(*id),
        HistoryError::ClientOverlap { second, .. } => by_id(*second),
        HistoryError::MissingField { op, .. } | HistoryError::BadField { op, .. } => match op {
            OpLoc::Index(i) => Some(*i),
            OpLoc::Id(id) => by_id(*id),
        },
        _ => None,
    }
}

/// `e` with the position of the op at place `index` in `ops` (found by reading the file again
/// up to it: errors are rare, and the first pass keeps no positions), and a number in a field's
/// reason written as in the file rather than as the float serde_json read (`1e23` for
/// `100000000000000000000000`).
fn locate(bytes: &[u8], index: Option<usize>, mut e: HistoryError) -> HistoryError {
    let Some(raw) = index.and_then(|i| nth_op(bytes, i)) else {
        return e;
    };
    let offset = raw.get().as_ptr() as usize - bytes.as_ptr() as usize;
    e.set_position(Position::of_offset(bytes, offset));
    if let HistoryError::BadField { field, reason, .. } = &mut e {
        as_written(raw, field, reason);
    }
    e
}

/// Rewrites the start of `reason` with the number field `field` of `op` holds, as the file
/// writes it, when `reason` starts with that number as serde_json shows it.
fn as_written(op: &RawValue, field: &str, reason: &mut String) {
    let Ok(fields) = serde_json::from_str::<std::collections::HashMap<String, &RawValue>>(op.get())
    else {
        return;
    };
    let Some(text) = fields.get(field).map(|v| v.get().trim()) else {
        return;
    };
    let Ok(n) = serde_json::from_str::<serde_json::Number>(text) else {
        return;
    };
    if let Some(rest) = reason.strip_prefix(&n.to_string()) {
        *reason = format!("{text}{rest}");
    }
}

/// serde_json reads a string that has escapes into a scratch buffer it grows by doubling, and
/// that allocation aborts the process when it fails. So before reading, the longest string
/// with escapes is found, room for its scratch and for the copy kept of it is asked for
/// (fallibly) and given back at once: a file whose strings cannot fit in the memory left is
/// refused, naming where the string starts, instead of aborting halfway.
fn room_for_escaped_strings(bytes: &[u8]) -> Result<(), HistoryError> {
    if !bytes.contains(&b'\\') {
        return Ok(());
    }
    let (longest, at) = longest_escaped_string(bytes);
    if longest == 0 {
        return Ok(());
    }
    let need = longest.next_power_of_two().saturating_add(longest);
    if Vec::<u8>::new().try_reserve_exact(need).is_ok() {
        return Ok(());
    }
    let Position { line, column } = Position::of_offset(bytes, at);
    Err(HistoryError::OutOfMemory {
        what: format!("a string of {longest} bytes does not fit"),
        line,
        column,
    })
}

/// The most bytes any string with an escape in it can take once unescaped, and the offset of
/// its opening quote; (0, 0) when no string has an escape. A `\uXXXX` counts the UTF-8 bytes
/// its unit becomes, any other escape 1. Outside strings JSON has no `"`, so
/// every quote outside one opens the next; a malformed file only makes the bound looser, and
/// the reader reports what is wrong with it.
fn longest_escaped_string(bytes: &[u8]) -> (usize, usize) {
    let (mut longest, mut at) = (0, 0);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        let (mut len, mut escaped) = (0usize, false);
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                escaped = true;
                if bytes.get(i + 1) == Some(&b'u') {
                    len += utf8_len(bytes.get(i + 2..i + 6));
                    i += 6;
                } else {
                    len += 1;
                    i += 2;
                }
            } else {
                len += 1;
                i += 1;
            }
        }
        i += 1;
        if escaped && len > longest {
            (longest, at) = (len, start);
        }
    }
    (longest, at)
}

/// How many UTF-8 bytes the UTF-16 unit written as these four hex digits becomes: 1, 2 or 3,
/// and 2 for either half of a surrogate pair (4 for the pair). 3 when the digits are not hex.
fn utf8_len(hex: Option<&[u8]>) -> usize {
    let unit = hex
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u16::from_str_radix(h, 16).ok());
    match unit {
        Some(0..=0x7f) => 1,
        Some(0x80..=0x7ff) | Some(0xd800..=0xdfff) => 2,
        _ => 3,
    }
}

/// The op at place `index` in the document's `ops`, as written.
fn nth_op(bytes: &[u8], index: usize) -> Option<&RawValue> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    NthOp(index).deserialize(&mut de).ok().flatten()
}

/// Reads a document, keeping only the op at this place in `ops`.
struct NthOp(usize);

impl<'de> DeserializeSeed<'de> for NthOp {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NthOp {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a quorumlab-history/1 object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut op = None;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == "ops" && op.is_none() {
                op = map.next_value_seed(NthElement(self.0))?;
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(op)
    }
}

/// An array, keeping only the element at this place.
struct NthElement(usize);

impl<'de> DeserializeSeed<'de> for NthElement {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NthElement {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of ops")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = None;
        let mut at = 0;
        loop {
            if at == self.0 {
                match seq.next_element::<&'de RawValue>()? {
                    Some(raw) => kept = Some(raw),
                    None => break,
                }
            } else if seq.next_element::<de::IgnoredAny>()?.is_none() {
                break;
            }
            at += 1;
        }
        Ok(kept)
    }
}

struct Top<'f> {
    found: &'f RefCell<Option<Found>>,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = History;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<History, D::Error> {
        d.deserialize_any(self)
    }
}

impl Top<'_> {
    fn not_object<E: de::Error>(self) -> Result<History, E> {
        Err(stop(
            self.found,
            HistoryError::TopLevel("the document is not a JSON object".into()),
        ))
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = History;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a quorumlab-history/1 object")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<History, E> {
        self.not_object()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<History, E> {
        self.not_object()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<History, E> {
        self.not_object()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<History, E> {
        self.not_object()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<History, E> {
        self.not_object()
    }
    fn visit_unit<E: de::Error>(self) -> Result<History, E> {
        self.not_object()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<History, A::Error> {
        self.not_object()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<History, A::Error> {
        let found = self.found;
        let top = |e: String| stop(found, HistoryError::TopLevel(e));
        let mut seen = BTreeSet::new();
        let mut ops = None;
        let mut format_ok = false;
        let mut extra = Map::new();
        while let Some(k) = map.next_key_seed(Key)? {
            if seen.contains(&k) {
                return Err(repeated(&k));
            }
            seen.insert(owned(&k)?);
            match k.as_str() {
                "format" => match map.next_value_seed(Strict)? {
                    Json::String(f) if f == FORMAT => format_ok = true,
                    other => {
                        return Err(top(format!(
                            "field `format` is {other}, expected \"{FORMAT}\""
                        )))
                    }
                },
                "ops" => ops = Some(map.next_value_seed(Ops { found })?),
                "replicas" => {
                    // Read by the convergence checker: an object when present.
                    let v = map.next_value_seed(Strict)?;
                    if !v.is_object() && !v.is_null() {
                        return Err(top(format!(
                            "field `replicas` is {}, expected an object of key -> replica entries",
                            type_name(&v)
                        )));
                    }
                    extra.insert(k, v);
                }
                _ => {
                    let v = map.next_value_seed(Strict)?;
                    extra.insert(k, v);
                }
            }
        }
        if !format_ok {
            return Err(top(format!(
                "missing field `format` (expected \"{FORMAT}\")"
            )));
        }
        let Some(ops) = ops else {
            return Err(top("missing field `ops`".into()));
        };
        Ok(History { ops, extra })
    }
}

struct Ops<'f> {
    found: &'f RefCell<Option<Found>>,
}

impl<'de> DeserializeSeed<'de> for Ops<'_> {
    type Value = Vec<Op>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Op>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Ops<'_> {
    type Value = Vec<Op>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of ops")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Op>, A::Error> {
        let mut ops = Vec::new();
        while let Some(op) = seq.next_element_seed(Strict)? {
            let op =
                parse_op(ops.len(), op).map_err(|e| stop_at(self.found, e, Some(ops.len())))?;
            room_for_one(&mut ops, "ops")?;
            ops.push(op);
        }
        ops.shrink_to_fit();
        Ok(ops)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Vec<Op>, A::Error> {
        Err(self.not_array())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<Op>, E> {
        Err(self.not_array())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<Op>, E> {
        Err(self.not_array())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<Op>, E> {
        Err(self.not_array())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<Op>, E> {
        Err(self.not_array())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<Op>, E> {
        Err(self.not_array())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<Op>, E> {
        Err(self.not_array())
    }
}

impl Ops<'_> {
    fn not_array<E: de::Error>(&self) -> E {
        stop(
            self.found,
            HistoryError::TopLevel("field `ops` is not an array".into()),
        )
    }
}

fn parse_op(index: usize, op: Json) -> Result<Op, HistoryError> {
    let Json::Object(mut m) = op else {
        return Err(HistoryError::BadField {
            op: OpLoc::Index(index),
            field: "ops",
            reason: "element is not a JSON object".into(),
            at: None,
        });
    };
    let mut loc = OpLoc::Index(index);
    let id = uint(&loc, "id", take(&loc, &mut m, "id")?)?;
    loc = OpLoc::Id(id);
    let client = uint(&loc, "client", take(&loc, &mut m, "client")?)?;
    if client > MAX_CLIENT {
        return Err(bad(
            &loc,
            "client",
            format!("{client} is absurd (more than {MAX_CLIENT})"),
        ));
    }
    let kind = match take(&loc, &mut m, "kind")? {
        Json::String(s) => OpKind::from_name(&s).ok_or_else(|| {
            bad(
                &loc,
                "kind",
                format!("unknown kind {s:?} (expected get, put, delete, append or cas)"),
            )
        })?,
        other => return Err(bad(&loc, "kind", format!("{other} is not a string"))),
    };
    let key = match take(&loc, &mut m, "key")? {
        Json::String(s) => s,
        other => return Err(bad(&loc, "key", format!("{other} is not a string"))),
    };
    let invoke = uint(&loc, "invoke", take(&loc, &mut m, "invoke")?)?;
    let outcome = match take(&loc, &mut m, "outcome")? {
        Json::String(s) => Outcome::from_name(&s).ok_or_else(|| {
            bad(
                &loc,
                "outcome",
                format!("unknown outcome {s:?} (expected ok, fail or info)"),
            )
        })?,
        other => return Err(bad(&loc, "outcome", format!("{other} is not a string"))),
    };
    let complete = match m.shift_remove("complete") {
        None | Some(Json::Null) if outcome == Outcome::Info => None,
        None | Some(Json::Null) => {
            return Err(HistoryError::MissingField {
                op: loc,
                field: "complete",
                at: None,
            })
        }
        Some(j) => Some(uint(&loc, "complete", j)?),
    };
    let value = match kind {
        OpKind::Put | OpKind::Append | OpKind::Cas | OpKind::Add | OpKind::Enqueue => {
            match json_value(&loc, "value", take(&loc, &mut m, "value")?)? {
                None => {
                    return Err(bad(
                        &loc,
                        "value",
                        "is null; a written value must be an integer or a string".into(),
                    ))
                }
                Some(Value::Int(_)) if kind == OpKind::Append => {
                    return Err(bad(
                        &loc,
                        "value",
                        "append writes strings, not integers".into(),
                    ))
                }
                v => v,
            }
        }
        _ => match m.shift_remove("value") {
            None | Some(Json::Null) => None,
            Some(_) => return Err(bad(&loc, "value", format!("{kind} writes no value"))),
        },
    };
    let expect = if kind == OpKind::Cas {
        json_value(&loc, "expect", take(&loc, &mut m, "expect")?)?
    } else {
        drop_null(&loc, &mut m, "expect", kind)?;
        None
    };
    let reads = matches!(kind, OpKind::Get | OpKind::Dequeue | OpKind::Members);
    let mut members = None;
    let read = if kind == OpKind::Members && outcome == Outcome::Ok {
        members = Some(set_value(&loc, take(&loc, &mut m, "read")?)?);
        None
    } else if reads && outcome == Outcome::Ok {
        json_value(&loc, "read", take(&loc, &mut m, "read")?)?
    } else {
        // A read that did not complete ok read nothing; keep nothing.
        if !reads {
            drop_null(&loc, &mut m, "read", kind)?;
        } else {
            m.shift_remove("read");
        }
        None
    };
    let swapped = if kind == OpKind::Cas && outcome == Outcome::Ok {
        match take(&loc, &mut m, "swapped")? {
            Json::Bool(b) => Some(b),
            other => return Err(bad(&loc, "swapped", format!("{other} is not a boolean"))),
        }
    } else {
        if kind != OpKind::Cas {
            drop_null(&loc, &mut m, "swapped", kind)?;
        } else {
            m.shift_remove("swapped");
        }
        None
    };
    check_optional(&loc, &m)?;
    // The object was sized for every field; keep only what the extra fields need (most of a
    // million-op history's memory was spare capacity here).
    let m: Map<String, Json> = if m.is_empty() {
        Map::new()
    } else {
        let mut exact = Map::with_capacity(m.len());
        exact.extend(m);
        exact
    };
    Ok(Op {
        id,
        client,
        kind,
        key,
        value,
        expect,
        invoke,
        complete,
        outcome,
        read,
        members,
        swapped,
        extra: m,
    })
}

fn bad(loc: &OpLoc, field: &'static str, reason: String) -> HistoryError {
    HistoryError::BadField {
        op: loc.clone(),
        field,
        reason,
        at: None,
    }
}

fn take(loc: &OpLoc, m: &mut Map<String, Json>, field: &'static str) -> Result<Json, HistoryError> {
    m.shift_remove(field)
        .ok_or_else(|| HistoryError::MissingField {
            op: loc.clone(),
            field,
            at: None,
        })
}

/// A field that does not belong to this kind: allowed only as null (then dropped).
fn drop_null(
    loc: &OpLoc,
    m: &mut Map<String, Json>,
    field: &'static str,
    kind: OpKind,
) -> Result<(), HistoryError> {
    match m.shift_remove(field) {
        None | Some(Json::Null) => Ok(()),
        Some(_) => Err(bad(loc, field, format!("does not apply to a {kind}"))),
    }
}

/// The optional fields the checkers read: when present, of the documented type (`null` counts
/// as absent).
fn check_optional(loc: &OpLoc, m: &Map<String, Json>) -> Result<(), HistoryError> {
    const FIELDS: [(&str, &str); 5] = [
        ("session", "a non-negative integer"),
        ("timestamp", "an integer"),
        ("writer", "an integer"),
        ("phase", "a string"),
        ("gave_up", "a non-negative integer"),
    ];
    for (field, want) in FIELDS {
        let Some(v) = m.get(field) else { continue };
        let ok = match field {
            "session" | "gave_up" => v.is_u64(),
            "timestamp" | "writer" => v.is_i64(),
            _ => v.is_string(),
        };
        if !ok && !v.is_null() {
            return Err(bad(
                loc,
                field,
                format!("{} is {}, expected {want}", short(v), type_name(v)),
            ));
        }
    }
    Ok(())
}

/// A JSON value's type, in words.
pub(crate) fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_f64() => "a fractional or out-of-range number",
        Json::Number(n) if n.is_i64() && !n.is_u64() => "a negative integer",
        Json::Number(_) => "an integer",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A value for a message, cut to a readable length.
fn short(v: &Json) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

fn uint(loc: &OpLoc, field: &'static str, j: Json) -> Result<u64, HistoryError> {
    j.as_u64().ok_or_else(|| {
        let why = match &j {
            // 2^64 and above: a float would read 1e2 as 100, which is in range.
            Json::Number(n)
                if n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f >= 18446744073709551616.0) =>
            {
                "is outside the 64-bit integer range"
            }
            _ => "is not a non-negative integer",
        };
        bad(loc, field, format!("{} {why}", short(&j)))
    })
}

/// A set read: an array of integers and strings, kept sorted and without repeats.
fn set_value(loc: &OpLoc, j: Json) -> Result<Vec<Value>, HistoryError> {
    let Json::Array(items) = j else {
        return Err(bad(
            loc,
            "read",
            format!(
                "{} is {}, expected an array (the set read)",
                short(&j),
                type_name(&j)
            ),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match json_value(loc, "read", item)? {
            Some(v) => out.push(v),
            None => return Err(bad(loc, "read", "a set holds no null".into())),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn json_value(loc: &OpLoc, field: &'static str, j: Json) -> Result<Option<Value>, HistoryError> {
    match j {
        Json::Null => Ok(None),
        Json::String(s) => Ok(Some(Value::from(s))),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Ok(Some(Value::Int(i))),
            None if n
                .as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9223372036854775808.0) =>
            {
                Err(bad(
                    loc,
                    field,
                    format!("{n} is outside the 64-bit signed integer range"),
                ))
            }
            None => Err(bad(
                loc,
                field,
                format!("{n} is not a 64-bit signed integer"),
            )),
        },
        other => Err(bad(
            loc,
            field,
            format!("{other} is not an integer, a string or null"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::longest_escaped_string;

    #[test]
    fn the_longest_escaped_string_is_measured_unescaped_and_found_at_its_quote() {
        // Strings without escapes are read in place and do not count.
        assert_eq!(
            longest_escaped_string(br#"{"aaaaaaaa": "bbbbbbbbbb"}"#),
            (0, 0)
        );
        // "\u00e9\n" is 2 + 1 bytes, "\u0041\"x" 1 + 1 + 1, "\ud83d\ude00" (one emoji) 4.
        let doc = br#"{"k": "\u00e9\n", "l": "\u0041\"x", "m": "\ud83d\ude00", "n": "\"\"\"\"\""}"#;
        let (len, at) = longest_escaped_string(doc);
        assert_eq!(len, 5);
        assert_eq!(&doc[at..at + 3], br#""\""#);
        assert_eq!(longest_escaped_string(br#"["\ud83d\ude00"]"#), (4, 1));
        assert_eq!(longest_escaped_string(br#"["\u00e9\n"]"#), (3, 1));
        // Malformed: an escape running past the end only loosens the bound.
        assert_eq!(longest_escaped_string(br#"["\u00"#), (3, 1));
    }
}
