//! EDN syntax: the values Jepsen histories are written in, with their positions.
//!
//! The reader is bounded: nesting deeper than [`MAX_DEPTH`] is an error (not a stack
//! overflow), an integer outside the 64-bit signed range is an error naming it, and a string is
//! copied once, into an allocation of its exact size.
use crate::history::HistoryError;

/// The deepest nesting of collections, tags and discards the reader accepts. Jepsen histories
/// nest a handful of levels; this bound keeps the recursive reader far from any thread's stack
/// limit (a test thread has 2 MiB).
pub const MAX_DEPTH: usize = 256;

/// An EDN value; only what Jepsen histories use is kept apart.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Edn {
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

pub(super) struct Parser<'a> {
    s: &'a [u8],
    pub(super) pos: usize,
    depth: usize,
}

type PResult<T> = Result<T, HistoryError>;

/// An error at byte offset `at` of `s`.
pub(super) fn error_at(s: &[u8], at: usize, message: impl Into<String>) -> HistoryError {
    let crate::history::Position { line, column } = crate::history::Position::of_offset(s, at);
    HistoryError::Edn {
        message: message.into(),
        line,
        column,
    }
}

impl<'a> Parser<'a> {
    pub(super) fn new(s: &'a [u8]) -> Parser<'a> {
        Parser {
            s,
            pos: 0,
            depth: 0,
        }
    }

    fn err(&self, message: impl Into<String>) -> HistoryError {
        error_at(self.s, self.pos, message)
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
                    self.nested(|p| p.value())?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    pub(super) fn at_end(&mut self) -> PResult<bool> {
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
        // The caller's input is a &str, so token bytes (cut at ASCII bytes) are UTF-8.
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    /// Runs `f` one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(format!(
                "nested more than {MAX_DEPTH} levels deep (collections, tags and discards)"
            )));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// An error at the current position.
    pub(super) fn err_here(&self, message: impl Into<String>) -> HistoryError {
        self.err(message)
    }

    /// Inside a collection opened at `open`: true when another form follows, false (past the
    /// delimiter) when `close` ends it.
    pub(super) fn next_item(&mut self, close: u8, open: usize) -> PResult<bool> {
        self.skip_ws()?;
        match self.s.get(self.pos) {
            None => Err(unclosed(self.s, open, close)),
            Some(&b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            Some(_) => Ok(true),
        }
    }

    fn seq(&mut self, close: u8) -> PResult<Vec<Edn>> {
        let open = self.pos.saturating_sub(1);
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            match self.s.get(self.pos) {
                None => return Err(unclosed(self.s, open, close)),
                Some(&b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.value()?),
            }
        }
    }

    /// A map's pairs, after its `{` at `open`. A key given twice is an error at its second
    /// place, naming it (which of the two values a reader keeps is not defined).
    fn map(&mut self, open: usize) -> PResult<Vec<(Edn, Edn)>> {
        let mut pairs = Vec::new();
        // Keys as their debug form, so that any key is compared in one lookup.
        let mut seen = std::collections::HashSet::new();
        loop {
            self.skip_ws()?;
            match self.s.get(self.pos) {
                None => return Err(unclosed(self.s, open, b'}')),
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(pairs);
                }
                Some(_) => {}
            }
            let at = self.pos;
            let k = self.value()?;
            self.skip_ws()?;
            match self.s.get(self.pos) {
                None => return Err(unclosed(self.s, open, b'}')),
                Some(b'}') => {
                    return Err(error_at(self.s, open, "map with an odd number of forms"))
                }
                Some(_) => {}
            }
            if !seen.insert(format!("{k:?}")) {
                return Err(error_at(
                    self.s,
                    at,
                    format!("the key {} appears twice in one map", k.to_json()),
                ));
            }
            let v = self.value()?;
            pairs.push((k, v));
        }
    }

    pub(super) fn value(&mut self) -> PResult<Edn> {
        self.skip_ws()?;
        let Some(&b) = self.s.get(self.pos) else {
            return Err(self.err("unexpected end of input"));
        };
        match b {
            b'[' | b'(' => {
                self.pos += 1;
                let close = if b == b'[' { b']' } else { b')' };
                Ok(Edn::Seq(self.nested(|p| p.seq(close))?))
            }
            b'{' => {
                let start = self.pos;
                self.pos += 1;
                Ok(Edn::Map(self.nested(|p| p.map(start))?))
            }
            b'#' => {
                self.pos += 1;
                match self.s.get(self.pos) {
                    Some(b'{') => {
                        self.pos += 1;
                        Ok(Edn::Set(self.nested(|p| p.seq(b'}'))?))
                    }
                    _ => {
                        let tag = self.token().to_string();
                        if tag.is_empty() {
                            return Err(self.err("`#` without a tag"));
                        }
                        let v = self.nested(|p| p.value())?;
                        Ok(Edn::Tagged(tag, Box::new(v)))
                    }
                }
            }
            b'"' => self.string(),
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
                        number(t).map_err(|e| error_at(self.s, start, e.to_string()))?
                    }
                    _ => Edn::Symbol(t.to_string()),
                })
            }
        }
    }

    /// A string literal, at its opening quote. Its length is measured first so that the
    /// string is built in one allocation of its exact size.
    fn string(&mut self) -> PResult<Edn> {
        let start = self.pos;
        self.pos += 1;
        let mut end = self.pos;
        let mut len = 0usize;
        loop {
            match self.s.get(end) {
                None => return Err(error_at(self.s, start, "string never terminated")),
                Some(b'"') => break,
                Some(b'\\') => {
                    end += 2;
                    len += 1;
                }
                Some(_) => {
                    end += 1;
                    len += 1;
                }
            }
        }
        let mut out = Vec::new();
        if out.try_reserve_exact(len).is_err() {
            return Err(error_at(
                self.s,
                start,
                format!("out of memory: a string of {len} bytes does not fit"),
            ));
        }
        while self.pos < end {
            let c = self.s[self.pos];
            if c == b'\\' {
                out.push(match self.s.get(self.pos + 1) {
                    Some(b'n') => b'\n',
                    Some(b't') => b'\t',
                    Some(b'r') => b'\r',
                    Some(&c @ (b'"' | b'\\')) => c,
                    _ => return Err(self.err("bad escape in string")),
                });
                self.pos += 2;
            } else {
                out.push(c);
                self.pos += 1;
            }
        }
        self.pos = end + 1;
        String::from_utf8(out)
            .map(Edn::Str)
            .map_err(|_| error_at(self.s, start, "string is not UTF-8"))
    }
}

fn unclosed(s: &[u8], open: usize, close: u8) -> HistoryError {
    error_at(
        s,
        open,
        format!(
            "collection opened here is never closed (expected `{}`)",
            close as char
        ),
    )
}

/// Why a token that starts like a number is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum NumberError {
    /// All digits, but too many for an `i64`.
    #[error("number {0} is outside the 64-bit signed integer range")]
    OutOfRange(String),
    /// Neither an integer nor a float.
    #[error("bad number `{0}`")]
    Malformed(String),
}

/// An integer (optionally with the `N` suffix) or a float kept as text.
fn number(t: &str) -> Result<Edn, NumberError> {
    let digits = t.strip_suffix('N').unwrap_or(t);
    match digits.parse::<i64>() {
        Ok(i) => Ok(Edn::Int(i)),
        Err(_) if t.contains(['.', 'e', 'E', 'M']) => Ok(Edn::Float(t.to_string())),
        Err(_)
            if digits.len() > 1
                && digits
                    .trim_start_matches(['-', '+'])
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            Err(NumberError::OutOfRange(t.to_string()))
        }
        Err(_) => Err(NumberError::Malformed(t.to_string())),
    }
}

impl Edn {
    /// The value as JSON, for fields kept as they are (nemesis entries): keywords as `":k"`,
    /// symbols and floats as strings, maps with their keys written as EDN.
    pub(super) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Edn::Nil => J::Null,
            Edn::Bool(b) => J::Bool(*b),
            Edn::Int(i) => J::from(*i),
            Edn::Float(f) => f
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| J::String(f.clone()), J::Number),
            Edn::Str(s) | Edn::Symbol(s) => J::String(s.clone()),
            Edn::Char(c) => J::String(c.to_string()),
            Edn::Keyword(k) => J::String(format!(":{k}")),
            Edn::Seq(v) | Edn::Set(v) => J::Array(v.iter().map(Edn::to_json).collect()),
            Edn::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Edn::Str(s) | Edn::Symbol(s) => s.clone(),
                            Edn::Keyword(k) => format!(":{k}"),
                            other => other.to_json().to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
            Edn::Tagged(tag, v) => serde_json::json!({ format!("#{tag}"): v.to_json() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_edn_values() {
        let mut p =
            Parser::new(br#"[1 -2 :a "s\"" nil #{1} {:k [1 2]} (3) \c 1.5 #inst "x" #_ 9]"#);
        let Edn::Seq(v) = p.value().unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 11);
        assert_eq!(v[1], Edn::Int(-2));
        assert_eq!(v[3], Edn::Str("s\"".into()));
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Parser::new(ok.as_bytes()).value().is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = Parser::new(deep.as_bytes()).value().unwrap_err();
        assert!(e.to_string().contains("nested more than"), "{e}");
        let discards = "#_ ".repeat(MAX_DEPTH + 1) + "1";
        assert!(Parser::new(discards.as_bytes()).value().is_err());
        let tags = "#a ".repeat(MAX_DEPTH + 1) + "1";
        assert!(Parser::new(tags.as_bytes()).value().is_err());
    }

    #[test]
    fn big_integers_are_named() {
        let e = Parser::new(b"99999999999999999999").value().unwrap_err();
        assert!(
            e.to_string()
                .contains("number 99999999999999999999 is outside the 64-bit"),
            "{e}"
        );
        assert_eq!(
            Parser::new(b"-9223372036854775808").value().unwrap(),
            Edn::Int(i64::MIN)
        );
    }
}
