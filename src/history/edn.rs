//! Reads Jepsen register and cas-register histories written in EDN.
//!
//! The input is a vector, a list, or a bare stream of maps such as
//! `{:process 0, :type :invoke, :f :cas, :value [1 2]}`. Invocations are paired with the
//! next completion of the same process; `:f :read` becomes a get, `:write` a put and `:cas`
//! (value `[old new]`) a cas. All ops act on the one key [`KEY`]. Times are positions in the
//! stream (every element counts, so they are strictly increasing). Following Jepsen's
//! register clients and Porcupine's reading of them:
//!
//! - `:fail :cas` is a cas whose compare did not match: outcome ok, `swapped: false`;
//!   `:fail` of a read or write did not take effect (outcome fail).
//! - `:ok :read` of `nil` is an unknown read (outcome info): it constrains nothing.
//! - `:info`, or an invocation never completed, is outcome info with no completion time.
//! - Ops of other processes (`:nemesis`, any non-integer process) are ignored.
//!
//! `initial` is the register's value before the history: a put of it (op id 0, client
//! `u64::MAX`, marked `"initial": true`) completes at time 0, before every other op.
use std::collections::BTreeMap;

use super::{History, HistoryError, Op, OpKind, Outcome, Value};

/// The key every op of an EDN register history acts on.
pub const KEY: &str = "x";

/// An EDN value; only what Jepsen histories use is kept apart.
#[derive(Clone, Debug, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(String),
    Str(String),
    Char(char),
    Keyword(String),
    Symbol(String),
    Seq(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Set(Vec<Edn>),
    Tagged(String, Box<Edn>),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

type PResult<T> = Result<T, HistoryError>;

impl<'a> Parser<'a> {
    fn err(&self, message: impl Into<String>) -> HistoryError {
        let before = &self.s[..self.pos.min(self.s.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        HistoryError::Edn {
            message: message.into(),
            line,
            column,
        }
    }

    fn skip_ws(&mut self) -> PResult<()> {
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'#' if self.s.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    self.value()?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn at_end(&mut self) -> PResult<bool> {
        self.skip_ws()?;
        Ok(self.pos >= self.s.len())
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.pos < self.s.len() {
            let b = self.s[self.pos];
            if b.is_ascii_whitespace() || b",;()[]{}\"".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        // Token bytes are checked UTF-8 since the whole input is a &str.
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn seq(&mut self, close: u8) -> PResult<Vec<Edn>> {
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            match self.s.get(self.pos) {
                None => {
                    return Err(
                        self.err(format!("unclosed collection, expected `{}`", close as char))
                    )
                }
                Some(&b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.value()?),
            }
        }
    }

    fn value(&mut self) -> PResult<Edn> {
        self.skip_ws()?;
        let Some(&b) = self.s.get(self.pos) else {
            return Err(self.err("unexpected end of input"));
        };
        match b {
            b'[' | b'(' => {
                self.pos += 1;
                Ok(Edn::Seq(self.seq(if b == b'[' { b']' } else { b')' })?))
            }
            b'{' => {
                self.pos += 1;
                let start = self.pos;
                let items = self.seq(b'}')?;
                if items.len() % 2 != 0 {
                    self.pos = start;
                    return Err(self.err("map with an odd number of forms"));
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            b'#' => {
                self.pos += 1;
                match self.s.get(self.pos) {
                    Some(b'{') => {
                        self.pos += 1;
                        Ok(Edn::Set(self.seq(b'}')?))
                    }
                    _ => {
                        let tag = self.token().to_string();
                        if tag.is_empty() {
                            return Err(self.err("`#` without a tag"));
                        }
                        let v = self.value()?;
                        Ok(Edn::Tagged(tag, Box::new(v)))
                    }
                }
            }
            b'"' => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.pos) {
                        None => return Err(self.err("unterminated string")),
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let c = self.s.get(self.pos + 1).copied();
                            out.push(match c {
                                Some(b'n') => b'\n',
                                Some(b't') => b'\t',
                                Some(b'r') => b'\r',
                                Some(c @ (b'"' | b'\\')) => c,
                                _ => return Err(self.err("bad escape in string")),
                            });
                            self.pos += 2;
                        }
                        Some(&c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
                String::from_utf8(out)
                    .map(Edn::Str)
                    .map_err(|_| self.err("string is not UTF-8"))
            }
            b'\\' => {
                self.pos += 1;
                let t = self.token();
                let c = match t {
                    "newline" => '\n',
                    "space" => ' ',
                    "tab" => '\t',
                    "return" => '\r',
                    _ => {
                        let mut cs = t.chars();
                        match (cs.next(), cs.next()) {
                            (Some(c), None) => c,
                            _ => return Err(self.err(format!("bad character literal \\{t}"))),
                        }
                    }
                };
                Ok(Edn::Char(c))
            }
            b')' | b']' | b'}' => Err(self.err(format!("unexpected `{}`", b as char))),
            _ => {
                let start = self.pos;
                let t = self.token();
                if t.is_empty() {
                    return Err(self.err(format!("unexpected character `{}`", b as char)));
                }
                Ok(match t {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ if t.starts_with(':') => Edn::Keyword(t[1..].to_string()),
                    _ if t.as_bytes()[0].is_ascii_digit()
                        || (t.len() > 1
                            && (t.starts_with('-') || t.starts_with('+'))
                            && t.as_bytes()[1].is_ascii_digit()) =>
                    {
                        let digits = t.strip_suffix('N').unwrap_or(t);
                        match digits.parse::<i64>() {
                            Ok(i) => Edn::Int(i),
                            Err(_) if t.contains(['.', 'e', 'E', 'M']) => Edn::Float(t.to_string()),
                            Err(_) => {
                                self.pos = start;
                                return Err(self.err(format!("bad number `{t}`")));
                            }
                        }
                    }
                    _ => Edn::Symbol(t.to_string()),
                })
            }
        }
    }
}

fn get<'e>(m: &'e [(Edn, Edn)], key: &str) -> Option<&'e Edn> {
    m.iter()
        .find(|(k, _)| matches!(k, Edn::Keyword(s) if s == key))
        .map(|(_, v)| v)
}

fn to_value(e: &Edn) -> Result<Option<Value>, String> {
    match e {
        Edn::Nil => Ok(None),
        Edn::Int(i) => Ok(Some(Value::Int(*i))),
        Edn::Str(s) => Ok(Some(Value::Str(s.clone()))),
        Edn::Keyword(k) => Ok(Some(Value::Str(format!(":{k}")))),
        Edn::Symbol(s) => Ok(Some(Value::Str(s.clone()))),
        other => Err(format!("unsupported register value {other:?}")),
    }
}

struct Pending {
    at: usize,
    kind: OpKind,
    value: Option<Value>,
    expect: Option<Value>,
    id: u64,
}

/// Parses a Jepsen EDN register or cas-register history.
pub fn parse(text: &str, initial: Option<Value>) -> Result<History, HistoryError> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    // A single top-level vector or list holds the history; otherwise the text is a stream.
    let mut elems: Vec<(usize, Edn)> = Vec::new();
    while !p.at_end()? {
        let at = p.pos;
        elems.push((at, p.value()?));
    }
    if elems.len() == 1 {
        if let Edn::Seq(items) = &elems[0].1 {
            let at = elems[0].0;
            elems = items.iter().cloned().map(|e| (at, e)).collect();
        }
    }
    let err_at = |at: usize, message: String| {
        let q = Parser {
            s: text.as_bytes(),
            pos: at,
        };
        q.err(message)
    };

    let mut ops: Vec<Op> = Vec::new();
    let mut next_id = 1u64;
    if let Some(v) = initial {
        let mut op = Op::new(0, u64::MAX, OpKind::Put, KEY, 0);
        op.value = Some(v);
        op.complete = Some(0);
        op.outcome = Outcome::Ok;
        op.extra.insert("initial".into(), true.into());
        ops.push(op);
    }
    let mut pending: BTreeMap<i64, Pending> = BTreeMap::new();
    for (index, (at, e)) in elems.iter().enumerate() {
        let time = index as u64 + 1;
        let Edn::Map(m) = e else {
            return Err(err_at(*at, format!("history element {index} is not a map")));
        };
        let process = match get(m, "process") {
            Some(Edn::Int(p)) => *p,
            Some(_) => continue, // :nemesis and other non-client processes
            None => {
                return Err(err_at(
                    *at,
                    format!("history element {index} has no :process"),
                ))
            }
        };
        let typ = match get(m, "type") {
            Some(Edn::Keyword(t)) => t.as_str(),
            _ => {
                return Err(err_at(
                    *at,
                    format!("history element {index} has no :type keyword"),
                ))
            }
        };
        let f = match get(m, "f") {
            Some(Edn::Keyword(f)) => f.as_str(),
            _ => {
                return Err(err_at(
                    *at,
                    format!("history element {index} has no :f keyword"),
                ))
            }
        };
        let kind = match f {
            "read" => OpKind::Get,
            "write" => OpKind::Put,
            "cas" => OpKind::Cas,
            other => {
                return Err(err_at(
                    *at,
                    format!("history element {index}: unsupported :f :{other} (expected :read, :write or :cas)"),
                ))
            }
        };
        let raw = get(m, "value").cloned().unwrap_or(Edn::Nil);
        let val = |e: &Edn| {
            to_value(e).map_err(|msg| err_at(*at, format!("history element {index}: {msg}")))
        };
        match typ {
            "invoke" => {
                if pending.contains_key(&process) {
                    return Err(err_at(*at, format!("history element {index}: process {process} invoked while its previous op is in flight")));
                }
                let (value, expect) = match kind {
                    OpKind::Get => (None, None),
                    OpKind::Put => (val(&raw)?, None),
                    _ => match &raw {
                        Edn::Seq(pair) if pair.len() == 2 => (val(&pair[1])?, val(&pair[0])?),
                        _ => {
                            return Err(err_at(
                                *at,
                                format!("history element {index}: a cas value must be [old new]"),
                            ))
                        }
                    },
                };
                if kind != OpKind::Get && value.is_none() {
                    return Err(err_at(*at, format!("history element {index}: writes nil")));
                }
                pending.insert(
                    process,
                    Pending {
                        at: index,
                        kind,
                        value,
                        expect,
                        id: next_id,
                    },
                );
                next_id += 1;
            }
            "ok" | "fail" | "info" => {
                let Some(inv) = pending.remove(&process) else {
                    return Err(err_at(*at, format!("history element {index}: :{typ} for process {process} with no invocation")));
                };
                if inv.kind != kind {
                    return Err(err_at(*at, format!("history element {index}: completes :f :{f} but process {process} invoked a {}", inv.kind)));
                }
                let client = u64::try_from(process)
                    .map_err(|_| err_at(*at, format!("negative process {process}")))?;
                let mut op = Op::new(inv.id, client, kind, KEY, inv.at as u64 + 1);
                op.value = inv.value;
                op.expect = inv.expect;
                match (typ, kind) {
                    ("ok", OpKind::Get) => {
                        op.read = val(&raw)?;
                        op.complete = Some(time);
                        // Jepsen clients record nil for reads they could not make sense of.
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
                    ("fail", OpKind::Cas) => {
                        op.complete = Some(time);
                        op.outcome = Outcome::Ok;
                        op.swapped = Some(false);
                    }
                    ("fail", _) => {
                        op.complete = Some(time);
                        op.outcome = Outcome::Fail;
                    }
                    _ => op.outcome = Outcome::Info,
                }
                ops.push(op);
            }
            other => {
                return Err(err_at(
                    *at,
                    format!("history element {index}: unknown :type :{other}"),
                ))
            }
        }
    }
    for (process, inv) in pending {
        let mut op = Op::new(inv.id, process as u64, inv.kind, KEY, inv.at as u64 + 1);
        op.value = inv.value;
        op.expect = inv.expect;
        ops.push(op);
    }
    ops.sort_by_key(|o| o.id);
    let h = History::new(ops);
    h.validate()?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_edn_values() {
        let mut p = Parser {
            s: br#"[1 -2 :a "s\"" nil #{1} {:k [1 2]} (3) \c 1.5 #inst "x" #_ 9]"#,
            pos: 0,
        };
        let Edn::Seq(v) = p.value().unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 11);
        assert_eq!(v[1], Edn::Int(-2));
        assert_eq!(v[3], Edn::Str("s\"".into()));
    }

    #[test]
    fn pairs_invocations_with_completions() {
        let h = parse(
            "{:process 0 :type :invoke :f :write :value 3}
             {:process :nemesis :type :info :f :start :value nil}
             {:process 1 :type :invoke :f :cas :value [3 4]}
             {:process 0 :type :ok :f :write :value 3}
             {:process 1 :type :fail :f :cas :value [3 4]}
             {:process 2 :type :invoke :f :read :value nil}
             {:process 2 :type :ok :f :read :value nil}
             {:process 3 :type :invoke :f :read :value nil}",
            Some(Value::Int(0)),
        )
        .unwrap();
        assert_eq!(h.ops.len(), 5);
        assert_eq!(h.ops[0].id, 0);
        assert_eq!(h.ops[1].kind, OpKind::Put);
        assert_eq!((h.ops[1].invoke, h.ops[1].complete), (1, Some(4)));
        assert_eq!(h.ops[2].swapped, Some(false));
        assert_eq!(h.ops[2].expect, Some(Value::Int(3)));
        assert_eq!(h.ops[3].outcome, Outcome::Info);
        assert_eq!(h.ops[4].complete, None);
    }

    #[test]
    fn errors_name_the_place() {
        let e = parse(
            "[{:process 0 :type :invoke :f :read}\n {:process 0 :type",
            None,
        )
        .unwrap_err();
        assert!(matches!(e, HistoryError::Edn { line: 2, .. }), "{e}");
        assert!(parse("[{:process 0 :type :invoke :f :incr :value 1}]", None).is_err());
        assert!(parse("{:a}", None).is_err());
    }
}
