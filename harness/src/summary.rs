//! Run statistics as text, for `run` and `explore`: outcomes by op kind, latency percentiles in
//! simulated ms, and message counts, over one history or summed over many.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use quorumlab::history::{History, Outcome};

use crate::report::layout::ms;
use crate::report::stats::percentile;

/// Fates a message can meet, in the order the case file's `messages` field lists them.
const FATES: [&str; 5] = ["sent", "held", "lost", "partitioned", "crashed"];

#[derive(Clone, Debug, Default)]
struct KindTally {
    ok: u64,
    fail: u64,
    info: u64,
    /// Latency of every op that completed (ok or fail), ns.
    latency: Vec<u64>,
}

/// Statistics summed over the histories added to it.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    runs: u64,
    kinds: BTreeMap<String, KindTally>,
    /// By message kind, then `FATES`.
    messages: BTreeMap<String, [u64; 5]>,
    /// Whether some history said what became of its messages (a system may count only what
    /// it sent).
    fates: bool,
}

impl Tally {
    /// A tally of one history.
    pub fn of(history: &History) -> Tally {
        let mut t = Tally::default();
        t.add(history);
        t
    }

    /// Adds a history's ops and messages.
    pub fn add(&mut self, history: &History) {
        self.runs += 1;
        for op in &history.ops {
            let k = self.kinds.entry(op.kind.name().to_string()).or_default();
            match op.outcome {
                Outcome::Ok => k.ok += 1,
                Outcome::Fail => k.fail += 1,
                Outcome::Info => k.info += 1,
            }
            if let (Some(c), false) = (op.complete, op.outcome == Outcome::Info) {
                k.latency.push(c.saturating_sub(op.invoke));
            }
        }
        let by_kind = history
            .extra
            .get("messages")
            .and_then(|m| m.get("by_kind"))
            .and_then(|k| k.as_object());
        for (kind, counts) in by_kind.into_iter().flatten() {
            let row = self.messages.entry(kind.clone()).or_default();
            for (i, f) in FATES.iter().enumerate() {
                let n = counts.get(*f).and_then(|v| v.as_u64());
                self.fates |= i > 0 && n.is_some();
                row[i] += n.unwrap_or(0);
            }
        }
    }

    /// How many histories were added.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The statistics as an indented table and lines of text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  {:<8} {:>8} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8}",
            "kind", "ops", "ok", "fail", "info", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        let mut all = KindTally::default();
        let mut rows: Vec<(&str, &KindTally)> =
            self.kinds.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for (_, k) in &rows {
            all.ok += k.ok;
            all.fail += k.fail;
            all.info += k.info;
            all.latency.extend(&k.latency);
        }
        rows.push(("all", &all));
        for (name, k) in rows {
            let mut lat = k.latency.clone();
            lat.sort_unstable();
            let p = |q: f64| format!("{:.1}", ms(percentile(&lat, q)));
            let _ = writeln!(
                s,
                "  {:<8} {:>8} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8}",
                name,
                k.ok + k.fail + k.info,
                k.ok,
                k.fail,
                k.info,
                p(0.5),
                p(0.9),
                p(0.99),
                p(1.0)
            );
        }
        if self.messages.is_empty() {
            return s;
        }
        let mut total = [0u64; 5];
        for row in self.messages.values() {
            for (t, v) in total.iter_mut().zip(row) {
                *t += v;
            }
        }
        let dropped = |r: &[u64; 5]| r[2] + r[3] + r[4];
        if !self.fates {
            let kinds: Vec<String> = self
                .messages
                .iter()
                .map(|(k, r)| format!("{k} {}", r[0]))
                .collect();
            let _ = writeln!(
                s,
                "  messages: {} sent (the system does not record what became of them)",
                total[0]
            );
            let _ = writeln!(s, "  by kind: {}", kinds.join(", "));
            return s;
        }
        let _ = writeln!(
            s,
            "  messages: {} sent, {} dropped by faults ({} lost, {} partitioned, {} crashed), {} held",
            total[0],
            dropped(&total),
            total[2],
            total[3],
            total[4],
            total[1]
        );
        let kinds: Vec<String> = self
            .messages
            .iter()
            .map(|(k, r)| match dropped(r) {
                0 => format!("{k} {}", r[0]),
                d => format!("{k} {} ({d} dropped)", r[0]),
            })
            .collect();
        let _ = writeln!(s, "  by kind: {}", kinds.join(", "));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = r#"{"format": "quorumlab-history/1",
      "messages": {"sent": 12, "held": 0, "lost": 1, "partitioned": 2, "crashed": 0, "by_kind": {
        "write": {"sent": 8, "held": 0, "lost": 1, "partitioned": 2, "crashed": 0},
        "reply": {"sent": 4, "held": 0, "lost": 0, "partitioned": 0, "crashed": 0}}},
      "ops": [
        {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1, "invoke": 0,
         "complete": 4000000, "outcome": "ok"},
        {"id": 2, "client": 1, "kind": "put", "key": "x", "value": 2, "invoke": 0,
         "complete": 9000000, "outcome": "fail"},
        {"id": 3, "client": 2, "kind": "get", "key": "x", "invoke": 0, "outcome": "info",
         "gave_up": 500000000}]}"#;

    #[test]
    fn counts_latencies_and_messages_summed_over_runs() {
        let h = History::from_json_str(H).unwrap();
        let mut t = Tally::of(&h);
        t.add(&h);
        assert_eq!(t.runs(), 2);
        let text = t.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["get", "2", "0", "0", "2", "0.0", "0.0", "0.0", "0.0"]
        );
        // Two runs of latencies 4 and 9 ms: the median is the nearest rank.
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["put", "4", "2", "2", "0", "9.0", "9.0", "9.0", "9.0"]
        );
        assert_eq!(lines[3].split_whitespace().nth(1), Some("6"));
        assert_eq!(
            lines[4],
            "  messages: 24 sent, 6 dropped by faults (2 lost, 4 partitioned, 0 crashed), 0 held"
        );
        assert_eq!(lines[5], "  by kind: reply 8, write 16 (6 dropped)");
    }

    #[test]
    fn messages_of_a_system_that_counts_only_sends_are_not_called_undropped() {
        let h = History::from_json_str(
            r#"{"format": "quorumlab-history/1",
              "messages": {"sent": 7, "by_kind": {"append": {"sent": 5}, "reply": {"sent": 2}}},
              "ops": []}"#,
        )
        .unwrap();
        let text = Tally::of(&h).text();
        assert!(
            text.contains("messages: 7 sent (the system does not record what became of them)"),
            "{text}"
        );
        assert!(text.contains("by kind: append 5, reply 2"), "{text}");
        assert!(!text.contains("dropped"), "{text}");
    }
}
