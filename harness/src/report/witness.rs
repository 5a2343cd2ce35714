//! What the report highlights for each guarantee: the witness ops, the op that cannot be
//! placed, the longest linearizable prefix with the state after each step, and the sentence.
//!
//! A case file already holds its verdict and witnesses, and the report shows exactly those (so
//! the page agrees with what replay compares). Any other history is judged here.
use std::time::Duration;

use quorumlab::check::judge::{finding, Finding};
use quorumlab::check::linearizable::{self, CheckOptions};
use quorumlab::check::Guarantee;
use quorumlab::history::History;
use serde::Serialize;

/// One guarantee's finding as the report shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WitnessView {
    /// The guarantee's name.
    pub guarantee: String,
    /// `held`, `violated` or `undecided`.
    pub state: &'static str,
    /// The witness's sentence, or why the guarantee could not be judged.
    pub sentence: Option<String>,
    /// The key of the witness.
    pub key: Option<String>,
    /// Every op the witness names (for linearizability: the prefix, then the culprit).
    pub ops: Vec<u64>,
    /// The op that cannot be placed (linearizability) or the read that broke the guarantee.
    pub culprit: Option<u64>,
    /// Linearizability: the longest linearizable prefix, (op id, state after it).
    pub prefix: Vec<(u64, String)>,
}

fn state(held: Option<bool>) -> &'static str {
    match held {
        Some(true) => "held",
        Some(false) => "violated",
        None => "undecided",
    }
}

/// A view of one guarantee's verdict and witness JSON (the shapes case files and
/// [`Finding::witness`] use).
pub fn view(
    g: &str,
    held: Option<bool>,
    witness: Option<&serde_json::Value>,
    sentence: Option<String>,
) -> WitnessView {
    let mut v = WitnessView {
        guarantee: g.to_string(),
        state: state(held),
        sentence,
        key: None,
        ops: Vec::new(),
        culprit: None,
        prefix: Vec::new(),
    };
    let Some(w) = witness else {
        return v;
    };
    v.key = w.get("key").and_then(|k| k.as_str()).map(str::to_string);
    if v.sentence.is_none() {
        v.sentence = w
            .get("sentence")
            .and_then(|s| s.as_str())
            .map(str::to_string);
    }
    if let Some(steps) = w.get("prefix").and_then(|p| p.as_array()) {
        for s in steps {
            if let Some(op) = s.get("op").and_then(|o| o.as_u64()) {
                let st = s.get("state").cloned().unwrap_or_default();
                v.prefix.push((op, st.to_string()));
                v.ops.push(op);
            }
        }
        v.culprit = w.get("op").and_then(|o| o.as_u64());
        v.ops.extend(v.culprit);
    } else if let Some(ops) = w.get("ops").and_then(|o| o.as_array()) {
        v.ops = ops.iter().filter_map(|o| o.as_u64()).collect();
        v.culprit = v.ops.first().copied();
    }
    v
}

/// The views a case file carries in its `verdict` and `witnesses` fields, if it has them.
pub fn from_case(history: &History) -> Option<Vec<WitnessView>> {
    let verdict = history.extra.get("verdict")?.as_object()?;
    let witnesses = history.extra.get("witnesses").and_then(|w| w.as_object());
    Some(
        verdict
            .iter()
            .map(|(g, held)| view(g, held.as_bool(), witnesses.and_then(|w| w.get(g)), None))
            .collect(),
    )
}

/// Judges a history on every guarantee, linearizability within `timeout`.
pub fn judge_all(history: &History, timeout: Duration) -> Vec<WitnessView> {
    let options = CheckOptions {
        timeout: Some(timeout),
        ..CheckOptions::default()
    };
    Guarantee::ALL
        .iter()
        .map(|&g| {
            let f: Finding = match g {
                Guarantee::Linearizable => {
                    Finding::from_verdict(&linearizable::check(history, &options).verdict)
                }
                _ => finding(history, g),
            };
            let sentence = if f.witness.is_some() {
                None
            } else {
                f.sentence.clone()
            };
            view(g.name(), f.held, f.witness.as_ref(), sentence)
        })
        .collect()
}

/// The case file's views when it has them, else a fresh judgement.
pub fn witnesses(history: &History, timeout: Duration) -> Vec<WitnessView> {
    from_case(history).unwrap_or_else(|| judge_all(history, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linearizability_witness_names_prefix_and_culprit() {
        let w = serde_json::json!({"key": "k1", "op": 1,
            "prefix": [{"op": 0, "state": 5}, {"op": 2, "state": 5}],
            "sentence": "get#1 read absent"});
        let v = view("linearizable", Some(false), Some(&w), None);
        assert_eq!(v.state, "violated");
        assert_eq!(v.ops, [0, 2, 1]);
        assert_eq!(v.culprit, Some(1));
        assert_eq!(v.prefix, [(0, "5".to_string()), (2, "5".to_string())]);
        assert_eq!(v.sentence.as_deref(), Some("get#1 read absent"));
    }

    #[test]
    fn judging_a_plain_history_finds_the_stale_read() {
        let h = History::from_json_str(
            r#"{"format": "quorumlab-history/1", "ops": [
              {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1,
               "invoke": 0, "complete": 10, "outcome": "ok"},
              {"id": 2, "client": 1, "kind": "get", "key": "x",
               "invoke": 20, "complete": 30, "outcome": "ok", "read": null}]}"#,
        )
        .unwrap();
        let views = witnesses(&h, Duration::from_secs(5));
        let lin = views
            .iter()
            .find(|v| v.guarantee == "linearizable")
            .unwrap();
        assert_eq!((lin.state, lin.culprit), ("violated", Some(2)));
        let stale = views
            .iter()
            .find(|v| v.guarantee == "no_stale_reads")
            .unwrap();
        assert_eq!(stale.ops, [2, 1]);
    }
}
