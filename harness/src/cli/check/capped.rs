//! Values printed within a bound: a witness's state can be most of a file (one string of a
//! gigabyte), and rendering it whole to cut it afterwards takes as much memory again, or more.
//! These render into a writer that keeps only the start and counts the rest.
use std::io;

use quorumlab::check::linearizable::Witness;
use serde_json::Value as Json;

/// A value in `--json` output is printed whole when its JSON takes at most this many bytes;
/// past it, it is replaced by the marker [`capped`] describes.
pub const JSON_VALUE_BYTES: usize = 1 << 20;

/// Characters of a value kept where it is cut.
pub const CUT_CHARS: usize = 60;

/// Keeps the first `keep` bytes written and counts them all.
struct Capped {
    kept: Vec<u8>,
    keep: usize,
    total: usize,
}

impl io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = self.keep.saturating_sub(self.kept.len()).min(bytes.len());
        self.kept.extend_from_slice(&bytes[..room]);
        self.total += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The start of `v`'s JSON (at most `chars` characters), and the whole JSON's length in bytes.
fn start_and_size(v: &Json, chars: usize) -> (String, usize) {
    let mut w = Capped {
        kept: Vec::new(),
        keep: 4 * chars + 4,
        total: 0,
    };
    serde_json::to_writer(&mut w, v).expect("a JSON value renders, and the writer never fails");
    // The cut may fall inside a character: keep the whole ones.
    let valid = match std::str::from_utf8(&w.kept) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&w.kept[..e.valid_up_to()]).expect("valid up to there"),
    };
    let end = valid
        .char_indices()
        .nth(chars)
        .map_or(valid.len(), |(i, _)| i);
    (valid[..end].to_string(), w.total)
}

/// `v`'s JSON, or its first [`CUT_CHARS`] characters followed by `... (N bytes)` when it is
/// longer, without ever holding more than that start.
pub fn cut_json(v: &Json) -> String {
    let (start, size) = start_and_size(v, CUT_CHARS);
    if start.len() == size {
        start
    } else {
        format!("{start}... ({size} bytes)")
    }
}

/// `v` for `--json` output: itself when its JSON takes at most [`JSON_VALUE_BYTES`]; else an
/// object keeps its fields, each capped in turn, and any other value becomes the marker
/// `{"cut": START, "bytes": N}`: START is the first [`CUT_CHARS`] characters of its JSON, N the
/// whole JSON's length in bytes. No built-in model's state is a JSON object, so a state that is
/// an object was cut.
pub fn capped(v: &Json) -> Json {
    let (start, size) = start_and_size(v, CUT_CHARS);
    if size <= JSON_VALUE_BYTES {
        return v.clone();
    }
    match v {
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (cut_key(k), capped(v))).collect()),
        _ => serde_json::json!({"cut": start, "bytes": size}),
    }
}

/// An object's key, cut like a value when it is longer than [`JSON_VALUE_BYTES`].
fn cut_key(k: &str) -> String {
    if k.len() <= JSON_VALUE_BYTES {
        return k.to_string();
    }
    let end = (0..=CUT_CHARS)
        .rev()
        .find(|&i| k.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}... ({} bytes)", &k[..end], k.len())
}

/// A linearizability witness for `--json` output: the fields it serializes to, with the key and
/// each state [`capped`].
pub fn witness_json(w: &Witness) -> Json {
    let prefix: Vec<Json> = w
        .prefix
        .iter()
        .map(|s| {
            let mut step = serde_json::Map::new();
            step.insert("op".into(), s.op.into());
            if let Some(state) = &s.state {
                step.insert("state".into(), capped(state));
            }
            Json::Object(step)
        })
        .collect();
    serde_json::json!({
        "key": capped(&Json::String(w.key.clone())),
        "op": w.op,
        "prefix": prefix,
        "sentence": w.sentence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_whole_and_long_ones_cut_with_their_size() {
        assert_eq!(cut_json(&Json::from(42)), "42");
        assert_eq!(cut_json(&Json::from("abc")), "\"abc\"");
        let long = Json::from("x".repeat(1000));
        assert_eq!(
            cut_json(&long),
            format!("\"{}... (1002 bytes)", "x".repeat(59))
        );
        // Exactly 60 characters of JSON: whole.
        let sixty = Json::from("y".repeat(58));
        assert_eq!(cut_json(&sixty), format!("\"{}\"", "y".repeat(58)));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let v = Json::from("é".repeat(500));
        let s = cut_json(&v);
        assert!(s.starts_with(&format!("\"{}", "é".repeat(59))), "{s}");
        assert!(s.ends_with("... (1002 bytes)"), "{s}");
    }

    #[test]
    fn json_output_keeps_small_values_and_marks_big_ones() {
        let small = serde_json::json!([1, "two", null]);
        assert_eq!(capped(&small), small);
        let big = Json::from("z".repeat(JSON_VALUE_BYTES));
        assert_eq!(
            capped(&big),
            serde_json::json!({"cut": format!("\"{}", "z".repeat(59)), "bytes": JSON_VALUE_BYTES + 2})
        );
        let array = Json::Array((0..JSON_VALUE_BYTES as u64).map(Json::from).collect());
        let c = capped(&array);
        let start = c["cut"].as_str().unwrap();
        assert!(start.starts_with("[0,1,2,") && start.chars().count() == CUT_CHARS);
        assert!(c["bytes"].as_u64().unwrap() > JSON_VALUE_BYTES as u64);
        // An object keeps its fields; only the big one is cut.
        let obj = serde_json::json!({"read": 1, "value": big});
        let c = capped(&obj);
        assert_eq!(c["read"], 1);
        assert_eq!(c["value"]["bytes"], JSON_VALUE_BYTES + 2);
    }
}
