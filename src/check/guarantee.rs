//! The guarantees quorumlab judges, and what a checker reports about one.
use std::fmt;

use serde::Serialize;

/// A consistency guarantee a history can keep or break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Every op appears to take effect atomically between its invocation and completion.
    Linearizable,
    /// No read returns a write that a later completed write superseded before the read began
    /// (a regular register).
    NoStaleReads,
    /// A client's reads never return what its own earlier writes superseded.
    ReadYourWrites,
    /// A client's successive reads of a key never go back in time.
    MonotonicReads,
    /// A client's writes to a key take effect in the order it issued them.
    MonotonicWrites,
    /// A write issued after reading a value is ordered after that value.
    WritesFollowReads,
    /// After the final heal and settle, every replica of a key holds the same cell and no
    /// acknowledged write was lost.
    Convergence,
}

impl Guarantee {
    /// Every guarantee, in report order.
    pub const ALL: [Guarantee; 7] = [
        Guarantee::Linearizable,
        Guarantee::NoStaleReads,
        Guarantee::ReadYourWrites,
        Guarantee::MonotonicReads,
        Guarantee::MonotonicWrites,
        Guarantee::WritesFollowReads,
        Guarantee::Convergence,
    ];

    /// The name used in JSON (`no_stale_reads`).
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::Linearizable => "linearizable",
            Guarantee::NoStaleReads => "no_stale_reads",
            Guarantee::ReadYourWrites => "read_your_writes",
            Guarantee::MonotonicReads => "monotonic_reads",
            Guarantee::MonotonicWrites => "monotonic_writes",
            Guarantee::WritesFollowReads => "writes_follow_reads",
            Guarantee::Convergence => "convergence",
        }
    }

    /// Parses a name; `-` and `_` are interchangeable (`no-stale-reads`).
    pub fn from_name(s: &str) -> Option<Guarantee> {
        let s = s.trim().replace('-', "_");
        Guarantee::ALL.into_iter().find(|g| g.name() == s)
    }

    /// Parses a comma-separated list (`all` for every guarantee), sorted and without repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Guarantee>, String> {
        let mut out = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "all" {
                out.extend(Guarantee::ALL);
                continue;
            }
            match Guarantee::from_name(word) {
                Some(g) => out.push(g),
                None => {
                    let known: Vec<_> = Guarantee::ALL.iter().map(|g| g.name()).collect();
                    return Err(format!(
                        "unknown guarantee {word:?}; known: {}, or all",
                        known.join(", ")
                    ));
                }
            }
        }
        if out.is_empty() {
            return Err("no guarantee given".into());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One violation of a guarantee weaker than linearizability: the ops involved and a sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The key.
    pub key: String,
    /// The ids of the ops involved, the offending op first.
    pub ops: Vec<u64>,
    /// What went wrong, in one plain sentence.
    pub sentence: String,
}
