//! The guarantees quorumlab judges, and what a checker reports about one.
use std::fmt;

use serde::Serialize;

/// A consistency guarantee a history can keep or break. Its name in JSON and on the command
/// line ([`Guarantee::name`]) is its variant's in snake case.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    /// Every guarantee, in report order (declaration order).
    pub const ALL: &'static [Guarantee] = <Guarantee as strum::VariantArray>::VARIANTS;

    /// The name used in JSON (`no_stale_reads`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Parses a name; `-` and `_` are interchangeable (`no-stale-reads`).
    pub fn from_name(s: &str) -> Option<Guarantee> {
        let s = s.trim().replace('-', "_");
        Guarantee::ALL.iter().copied().find(|g| g.name() == s)
    }

    /// Parses a comma-separated list (`all` for every guarantee), sorted and without repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Guarantee>, GuaranteeListError> {
        let mut out = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "all" {
                out.extend(Guarantee::ALL);
                continue;
            }
            match Guarantee::from_name(word) {
                Some(g) => out.push(g),
                None => return Err(GuaranteeListError::Unknown(word.to_string())),
            }
        }
        if out.is_empty() {
            return Err(GuaranteeListError::Empty);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Why a list of guarantees ([`Guarantee::parse_list`]) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuaranteeListError {
    /// A word that names no guarantee.
    #[error("unknown guarantee {0:?}; known: {known}, or all", known = known_names())]
    Unknown(String),
    /// Nothing but commas and spaces.
    #[error("no guarantee given")]
    Empty,
}

fn known_names() -> String {
    let known: Vec<_> = Guarantee::ALL.iter().map(|g| g.name()).collect();
    known.join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_formats_in_report_order() {
        let names: Vec<&str> = Guarantee::ALL.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                "linearizable",
                "no_stale_reads",
                "read_your_writes",
                "monotonic_reads",
                "monotonic_writes",
                "writes_follow_reads",
                "convergence"
            ]
        );
        for g in Guarantee::ALL {
            assert_eq!(serde_json::to_value(g).unwrap(), g.name());
            assert_eq!(Guarantee::from_name(&g.name().replace('_', "-")), Some(*g));
        }
        assert_eq!(
            Guarantee::parse_list("monotonic-reads, linearizable,linearizable"),
            Ok(vec![Guarantee::Linearizable, Guarantee::MonotonicReads])
        );
        assert_eq!(Guarantee::parse_list("all").unwrap(), Guarantee::ALL);
        let e = Guarantee::parse_list("linearizible")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("unknown guarantee \"linearizible\"; known: linearizable,"),
            "{e}"
        );
        assert!(e.ends_with("convergence, or all"), "{e}");
        assert_eq!(
            Guarantee::parse_list(" , ").unwrap_err().to_string(),
            "no guarantee given"
        );
    }
}
