//! Saved cases: one self-contained file per counterexample or regression case.
//!
//! A case file is a `quorumlab-history/1` history (so `quorumlab check` reads it as is) whose
//! top-level fields also carry the scenario that produced it, the guarantees it was judged on,
//! the verdict and the witnesses. Its bytes are a pure function of the scenario and the expected
//! guarantees, so `quorumlab replay` can rerun the scenario and compare byte for byte.
use std::path::{Path, PathBuf};

use anyhow::Context;
use quorumlab::history::History;
use serde_json::json;

use crate::fsutil;
use crate::runner::{self, RunOutput};
use crate::scenario::Scenario;
use crate::verdict::{judge, Judgement};
use quorumlab::check::Guarantee;

/// A case: a run of a scenario, judged on some guarantees.
#[derive(Debug)]
pub struct Case {
    /// The scenario.
    pub scenario: Scenario,
    /// The guarantees judged.
    pub expect: Vec<Guarantee>,
    /// The recorded history.
    pub history: History,
    /// The findings.
    pub judgement: Judgement,
}

impl Case {
    /// Runs the scenario and judges it.
    pub fn run(scenario: &Scenario, expect: &[Guarantee]) -> Result<Case, runner::RunError> {
        let RunOutput {
            mut history,
            account,
            ..
        } = runner::run(scenario)?;
        // The system's own account goes into the case file (for the reference store, see
        // crate::systems::leaderless::trace).
        if let Some(events) = account.events.render() {
            history.extra.insert("events".into(), events);
        }
        let judgement = judge(&history, expect);
        Ok(Case {
            scenario: scenario.clone(),
            expect: expect.to_vec(),
            history,
            judgement,
        })
    }

    /// The case file's text: the history with the scenario, expectations, verdict and witnesses
    /// first, so a reader meets the verdict before a thousand ops.
    pub fn to_file_string(&self) -> String {
        let mut out = History::new(self.history.ops.clone());
        let mut put = |k: &str, v: serde_json::Value| {
            out.extra.insert(k.to_string(), v);
        };
        put(
            "expect",
            json!(self.expect.iter().map(|g| g.name()).collect::<Vec<_>>()),
        );
        put("verdict", self.judgement.verdict_json());
        put("witnesses", self.judgement.witnesses_json());
        for (k, v) in &self.history.extra {
            put(k, v.clone());
        }
        out.to_json_string()
    }

    /// Writes the case file at `path`, creating the directory, atomically (see
    /// [`fsutil::write_atomic`]): a file already there is replaced whole or not at all.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        fsutil::write_atomic(path, self.to_file_string().as_bytes())
            .with_context(|| format!("writing case file {}", path.display()))
    }

    /// The file name stem of this case: `<guarantee>-<label>-<id>`, where `id` is
    /// [`Case::id`], so two different cases never share a name.
    pub fn stem(&self, guarantee: Guarantee, label: &str) -> String {
        format!(
            "{}-{}-{:016x}",
            guarantee.name().replace('_', "-"),
            label,
            self.id()
        )
    }

    /// A stable digest of everything that makes the case: the whole scenario (seed, store,
    /// network, every client's plan, every fault, settle time) and the guarantees judged.
    pub fn id(&self) -> u64 {
        let expect: Vec<_> = self.expect.iter().map(|g| g.name()).collect();
        let canonical = json!({ "scenario": &self.scenario, "expect": expect });
        fsutil::digest(canonical.to_string().as_bytes())
    }

    /// The guarantee a case file is named after: the first one violated, else the first
    /// expected.
    pub fn headline(&self) -> Guarantee {
        self.judgement
            .violated()
            .first()
            .copied()
            .or_else(|| self.expect.first().copied())
            .unwrap_or(Guarantee::Linearizable)
    }

    /// Saves the case under `dir` as `<stem>.json` (see [`Case::stem`]) without ever replacing
    /// a file with other content (see [`fsutil::save_unique`]). Returns the path.
    pub fn save_new(&self, dir: &Path, label: &str) -> anyhow::Result<PathBuf> {
        let stem = self.stem(self.headline(), label);
        fsutil::save_unique(dir, &stem, "json", self.to_file_string().as_bytes())
            .with_context(|| format!("saving case file {stem}.json in {}", dir.display()))
    }
}

/// What a case file says it is: the scenario and the guarantees to judge.
pub struct CaseSpec {
    /// The scenario to rerun.
    pub scenario: Scenario,
    /// The guarantees it was judged on.
    pub expect: Vec<Guarantee>,
    /// The file's text as read.
    pub text: String,
}

/// Reads a case file (or a bare scenario file, judged on linearizability). Only the scenario
/// and `expect` are parsed; the ops and the rest are skipped, so reading costs little more
/// than the file's text, which the replay compares against.
pub fn read_case(path: &Path) -> anyhow::Result<CaseSpec> {
    let text = read_text(path).with_context(|| format!("reading case file {}", path.display()))?;
    let header = Scenario::read_header(&text)
        .with_context(|| format!("{}: no replayable scenario", path.display()))?;
    let expect = match header.expect {
        None => vec![Guarantee::Linearizable],
        Some(names) => {
            let mut out = Vec::new();
            for name in names {
                out.push(Guarantee::from_name(&name).with_context(|| {
                    format!(
                        "{}: unknown guarantee {name:?} in \"expect\"",
                        path.display()
                    )
                })?);
            }
            out
        }
    };
    Ok(CaseSpec {
        scenario: header.scenario,
        expect,
        text,
    })
}

/// A file's text, read into memory reserved up front: a file too large for the memory left is
/// an error that says so, not an abort.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = quorumlab::history::read_file(path)?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("not UTF-8 text: {e}"))
}

/// The first line where two texts differ, as (line number from 1, expected, actual).
pub fn first_difference(expected: &str, actual: &str) -> Option<(usize, String, String)> {
    let mut a = expected.lines();
    let mut b = actual.lines();
    let mut n = 0;
    loop {
        n += 1;
        match (a.next(), b.next()) {
            (None, None) => {
                return (expected != actual)
                    .then(|| (n, "(end of file)".to_string(), "(end of file)".to_string()))
            }
            (x, y) if x == y => continue,
            (x, y) => {
                let show = |l: Option<&str>| match l {
                    None => "(end of file)".to_string(),
                    Some(l) if l.len() > 300 => {
                        let mut end = 300;
                        while !l.is_char_boundary(end) {
                            end -= 1;
                        }
                        format!("{}...", &l[..end])
                    }
                    Some(l) => l.to_string(),
                };
                return Some((n, show(x), show(y)));
            }
        }
    }
}

/// The command that replays a case file.
pub fn replay_command(path: &Path) -> String {
    format!("cargo run --release -- replay {}", path.display())
}
