//! Deep runs for CI: many more cases and seeds than `cargo test`, sliced so N machines split one
//! run, and seeded from the commit so every commit searches new ground while any failure still
//! replays from its file.
//!
//! The case list is a pure function of the base seed and the seed count: properties (a store
//! configuration, the faults drawn and the guarantees that should hold) times workload variants
//! times seeds. `--shard I/N` takes every N-th case starting at the I-th, the same slicing as
//! `quorumlab matrix`, so the shards of one run are disjoint and together are the whole list.
//!
//! Each case explores generated scenarios with proptest and, on a violation, shrinks it and saves
//! the case file in the artifacts folder; it also runs its first scenario twice and compares the
//! two case files byte for byte, so a determinism bug fails the run too.
use std::path::{Path, PathBuf};

use crate::systems::leaderless::{ConsistencyLevel, FsyncPolicy, ReadRepair, StoreConfig};
use quorumlab::check::Guarantee;

use crate::case::{first_difference, Case};
use crate::explore::{explore, generate, ExploreOptions, Outcome, Quiet};
use crate::matrix::shard_indices;
use crate::runner::RunError;
use crate::scenario::{NetworkConfig, SystemConfig};
use crate::strategy::{FaultChoice, ScenarioShape};

/// A configuration and the guarantees it should keep under the faults it draws from.
#[derive(Clone, Debug)]
pub struct Property {
    /// File-name-safe name, e.g. `quorum-partitions`.
    pub name: &'static str,
    /// The store configuration.
    pub store: StoreConfig,
    /// Fault kinds to draw from.
    pub faults: Vec<FaultChoice>,
    /// The guarantees that should hold.
    pub expect: Vec<Guarantee>,
}

/// The workload around a property: how many clients, ops and keys, and the coordinator choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// File-name-safe name, e.g. `one-key`.
    pub name: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// Client ops in total.
    pub ops: usize,
    /// Distinct keys.
    pub keys: u32,
    /// One coordinator per client instead of one per op.
    pub sticky: bool,
}

/// One case of a deep run: a property under a workload variant with one search seed.
#[derive(Clone, Debug)]
pub struct DeepCase {
    /// Position in the unsharded list.
    pub index: usize,
    /// `<property>-<variant>-<k>`: unique in the list, and what `--only` selects.
    pub name: String,
    /// The generated scenarios' shape.
    pub shape: ScenarioShape,
    /// The guarantees that should hold.
    pub expect: Vec<Guarantee>,
    /// The search seed, derived from the base seed and the name.
    pub seed: u64,
}

const LIN: [Guarantee; 4] = [
    Guarantee::Linearizable,
    Guarantee::NoStaleReads,
    Guarantee::ReadYourWrites,
    Guarantee::MonotonicReads,
];

/// RF 3 at quorum/quorum with blocking read repair and fsync always: linearizable for plain
/// reads and writes (the claim of the harness property tests, searched much harder here).
pub fn quorum_store() -> StoreConfig {
    StoreConfig {
        read: ConsistencyLevel::Quorum,
        write: ConsistencyLevel::Quorum,
        read_repair: ReadRepair::Blocking,
        fsync: FsyncPolicy::Always,
        ..StoreConfig::default()
    }
}

/// The properties a deep run searches, in list order.
pub fn properties() -> Vec<Property> {
    use FaultChoice::*;
    let lin = |name, faults: &[FaultChoice]| Property {
        name,
        store: quorum_store(),
        faults: faults.to_vec(),
        expect: LIN.to_vec(),
    };
    vec![
        lin("quorum-nofaults", &[]),
        lin("quorum-partitions", &[Partition, Isolate, Ring, Bridge]),
        lin("quorum-crash-fsync-always", &[Crash]),
        lin("quorum-network", &[Loss, Latency, Pause]),
        lin(
            "quorum-mixed",
            &[
                Partition, Isolate, Ring, Bridge, Crash, Loss, Latency, Pause,
            ],
        ),
        // Anti-entropy with synced commit logs repairs every replica once faults heal, even at
        // ONE/ONE, and no acknowledged write is lost.
        Property {
            name: "one-anti-entropy-convergence",
            store: StoreConfig {
                read: ConsistencyLevel::One,
                write: ConsistencyLevel::One,
                anti_entropy: true,
                fsync: FsyncPolicy::Always,
                ..StoreConfig::default()
            },
            faults: vec![
                Partition, Isolate, Ring, Bridge, Crash, Loss, Latency, Pause,
            ],
            expect: vec![Guarantee::Convergence],
        },
    ]
}

/// The workload variants, in list order.
pub fn variants() -> Vec<Variant> {
    vec![
        Variant {
            name: "base",
            clients: 4,
            ops: 60,
            keys: 3,
            sticky: false,
        },
        Variant {
            name: "one-key",
            clients: 6,
            ops: 90,
            keys: 1,
            sticky: false,
        },
        Variant {
            name: "sticky",
            clients: 4,
            ops: 60,
            keys: 3,
            sticky: true,
        },
        Variant {
            name: "long",
            clients: 3,
            ops: 150,
            keys: 4,
            sticky: false,
        },
    ]
}

/// The shape of a property under a variant.
pub fn shape(property: &Property, variant: &Variant) -> ScenarioShape {
    ScenarioShape {
        system: SystemConfig::Leaderless(property.store.clone()),
        network: NetworkConfig::default(),
        clients: variant.clients,
        ops: variant.ops,
        keys: variant.keys,
        faults: property.faults.clone(),
        max_faults: 3,
        think_ms: 10,
        get_percent: 50,
        put_percent: 40,
        cas_percent: 0,
        sticky: variant.sticky,
        settle_ms: 2000,
        fault_window_ms: None,
    }
}

/// The whole case list: every property, every variant, `seeds` search seeds each, in that
/// nesting order. The same base seed and count always give the same list.
pub fn case_list(base_seed: u64, seeds: u32) -> Vec<DeepCase> {
    let mut out = Vec::new();
    for p in properties() {
        for v in variants() {
            for k in 1..=seeds {
                let name = format!("{}-{}-{k}", p.name, v.name);
                out.push(DeepCase {
                    index: out.len(),
                    seed: case_seed(base_seed, &name),
                    name,
                    shape: shape(&p, &v),
                    expect: p.expect.clone(),
                });
            }
        }
    }
    out
}

/// The cases of one shard (`(I, N)`: indices I-1, I-1+N, ...), or all of them.
pub fn shard(cases: &[DeepCase], shard: Option<(usize, usize)>) -> Vec<DeepCase> {
    shard_indices(cases.len(), shard)
        .into_iter()
        .map(|i| cases[i].clone())
        .collect()
}

/// A `--commit` that is not a git commit id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("commit {0:?} is not a git commit id (at least 7 hex digits)")]
pub struct NotACommit(pub String);

/// A base seed from a git commit id: its first 16 hex digits.
pub fn base_seed_from_commit(commit: &str) -> Result<u64, NotACommit> {
    let commit = commit.trim();
    if commit.len() < 7 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(NotACommit(commit.to_string()));
    }
    let head = &commit[..commit.len().min(16)];
    Ok(u64::from_str_radix(head, 16).expect("at most 16 hex digits fit in a u64"))
}

/// A case's search seed: the base seed mixed with the case name (FNV-1a, then splitmix64), so
/// cases get unrelated seeds and a case keeps its seed when the list around it changes.
pub fn case_seed(base_seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = base_seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How hard each case searches, and where failures go.
#[derive(Clone, Debug)]
pub struct DeepOptions {
    /// Generated scenarios per case.
    pub cases: u32,
    /// Most shrink steps per failure.
    pub max_shrink_iters: u32,
    /// Where shrunk failures are saved.
    pub artifacts: PathBuf,
}

/// What one case found.
#[derive(Debug)]
pub enum CaseOutcome {
    /// Every scenario kept every expected guarantee, and the first replayed byte for byte.
    Held {
        /// Scenarios run.
        cases: u32,
    },
    /// A guarantee broke; the shrunk case is saved.
    Violated {
        /// The broken guarantees, with their witness sentences.
        broken: Vec<(Guarantee, Option<String>)>,
        /// Scenarios run up to the first failure.
        cases_to_failure: u32,
        /// The shrunk scenario's seed.
        scenario_seed: u64,
        /// The saved case file.
        path: PathBuf,
    },
    /// The same scenario gave two different case files.
    Nondeterministic {
        /// The scenario's seed.
        scenario_seed: u64,
        /// The first run, saved.
        path: PathBuf,
        /// First differing line: number, first run, second run.
        difference: (usize, String, String),
    },
    /// A run could not finish, or the case file could not be saved.
    Error(DeepError),
}

/// Why a deep case could not finish.
#[derive(Debug, thiserror::Error)]
pub enum DeepError {
    /// A run of the determinism check failed.
    #[error("scenario seed {seed}: {source}")]
    Run {
        /// The scenario's seed.
        seed: u64,
        /// The runner's error.
        source: RunError,
    },
    /// The search could not run a scenario.
    #[error("search seed {seed}: {source}")]
    Search {
        /// The case's search seed.
        seed: u64,
        /// The runner's error.
        source: RunError,
    },
    /// The first run of a nondeterministic scenario could not be saved.
    #[error("saving {stem}.json in {}: {source}", dir.display())]
    SaveFirstRun {
        /// The file name, without `.json`.
        stem: String,
        /// The artifacts folder.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The shrunk case could not be saved (the error with its causes).
    #[error("{0:#}")]
    SaveCase(anyhow::Error),
}

impl CaseOutcome {
    /// Whether the case failed.
    pub fn failed(&self) -> bool {
        !matches!(self, CaseOutcome::Held { .. })
    }
}

/// Runs one case: the determinism check, then the search.
pub fn run_case(case: &DeepCase, options: &DeepOptions) -> CaseOutcome {
    match check_determinism(case, &options.artifacts) {
        Ok(None) => {}
        Ok(Some(outcome)) => return outcome,
        Err(e) => return CaseOutcome::Error(e),
    }
    let explore_options = ExploreOptions {
        workload: Default::default(),
        shape: case.shape.clone(),
        expect: case.expect.clone(),
        cases: options.cases,
        seed: case.seed,
        max_shrink_iters: options.max_shrink_iters,
    };
    match explore(&explore_options, &Quiet) {
        Ok(Outcome::Held { cases }) => CaseOutcome::Held { cases },
        Ok(Outcome::Found {
            cases_to_failure,
            case: found,
            ..
        }) => {
            let violated = found.judgement.violated();
            let first = violated.first().copied().unwrap_or(case.expect[0]);
            let path = match found.save_new(&options.artifacts, &format!("deep-{}", case.name)) {
                Ok(path) => path,
                Err(e) => return CaseOutcome::Error(DeepError::SaveCase(e)),
            };
            let broken = if violated.is_empty() {
                // The shrunk scenario passed on rerun: report what the search saw.
                vec![(first, Some("the shrunk scenario passed on rerun".into()))]
            } else {
                violated
                    .iter()
                    .map(|g| {
                        let sentence = found.judgement.findings[g].sentence.clone();
                        (*g, sentence)
                    })
                    .collect()
            };
            CaseOutcome::Violated {
                broken,
                cases_to_failure,
                scenario_seed: found.scenario.seed,
                path,
            }
        }
        Err(source) => CaseOutcome::Error(DeepError::Search {
            seed: case.seed,
            source,
        }),
    }
}

/// Runs the case's first scenario twice; `Some` when the two case files differ.
fn check_determinism(case: &DeepCase, artifacts: &Path) -> Result<Option<CaseOutcome>, DeepError> {
    let scenario = generate(&case.shape, case.seed);
    let run = || {
        Case::run(&scenario, &case.expect).map_err(|source| DeepError::Run {
            seed: scenario.seed,
            source,
        })
    };
    let first = run()?;
    let second = run()?;
    let (a, b) = (first.to_file_string(), second.to_file_string());
    let Some(difference) = first_difference(&a, &b) else {
        return Ok(None);
    };
    let stem = format!("nondeterministic-deep-{}-{:016x}", case.name, first.id());
    let path =
        crate::fsutil::save_unique(artifacts, &stem, "json", a.as_bytes()).map_err(|source| {
            DeepError::SaveFirstRun {
                stem: stem.clone(),
                dir: artifacts.to_path_buf(),
                source,
            }
        })?;
    Ok(Some(CaseOutcome::Nondeterministic {
        scenario_seed: scenario.seed,
        path,
        difference,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScenarioError;

    #[test]
    fn errors_say_the_seed_and_the_file_as_before() {
        let run = || RunError::Scenario(ScenarioError::Invalid("no clients".into()));
        assert_eq!(
            DeepError::Run {
                seed: 7,
                source: run()
            }
            .to_string(),
            "scenario seed 7: invalid scenario: no clients"
        );
        assert_eq!(
            DeepError::Search {
                seed: 9,
                source: run()
            }
            .to_string(),
            "search seed 9: invalid scenario: no clients"
        );
        let save = DeepError::SaveFirstRun {
            stem: "nondeterministic-deep-x".into(),
            dir: PathBuf::from("/tmp/artifacts"),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            save.to_string(),
            "saving nondeterministic-deep-x.json in /tmp/artifacts: disk full"
        );
        let chain = anyhow::anyhow!("disk full").context("writing deep-x.json");
        assert_eq!(
            DeepError::SaveCase(chain).to_string(),
            "writing deep-x.json: disk full"
        );
    }
}
