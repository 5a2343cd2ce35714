//! Shared helpers for the harness tests.
#![allow(dead_code)]

use quorumlab::check::Guarantee;
use quorumlab_harness::case::replay_command;
use quorumlab_harness::explore::{explore, ExploreOptions, Outcome, Quiet};
use quorumlab_harness::strategy::{FaultChoice, ScenarioShape};
use quorumlab_harness::systems::leaderless::StoreConfig;

/// Cases per property: PROPTEST_CASES when set, else a modest default that keeps `cargo test`
/// quick.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The search seed: QUORUMLAB_SEED when set (ci/deep derives it from the commit), else fixed.
pub fn search_seed(default: u64) -> u64 {
    std::env::var("QUORUMLAB_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A shape with the given store and faults, 4 clients and `ops` ops over 3 keys.
pub fn shape(store: StoreConfig, faults: &[FaultChoice], ops: usize) -> ScenarioShape {
    ScenarioShape {
        ops,
        ..ScenarioShape::new(store, faults)
    }
}

#[allow(unused_imports)]
pub use quorumlab_harness::deep::quorum_store;

/// Explores and fails the test with a saved case and its replay command on a violation.
pub fn expect_to_hold(
    name: &str,
    shape: ScenarioShape,
    expect: &[Guarantee],
    cases: u32,
    seed: u64,
) {
    let options = ExploreOptions {
        workload: Default::default(),
        shape,
        expect: expect.to_vec(),
        cases,
        seed,
        max_shrink_iters: 500,
    };
    match explore(&options, &Quiet) {
        Ok(Outcome::Held { cases }) => {
            eprintln!("{name}: held in {cases} cases (QUORUMLAB_SEED={seed})")
        }
        Ok(Outcome::Found {
            case,
            cases_to_failure,
            ..
        }) => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../histories");
            let broken = case.judgement.violated()[0];
            let path = case.save_new(&dir, name).expect("saving the failing case");
            let sentences = case.judgement.sentences();
            panic!(
                "{name}: {broken} violated after {cases_to_failure} cases (QUORUMLAB_SEED={seed}, \
                 scenario seed {}):\n  {}\nsaved: {}\nreplay: {}",
                case.scenario.seed,
                sentences.join("\n  "),
                path.display(),
                replay_command(&path)
            );
        }
        Err(e) => panic!("{name}: the run failed (QUORUMLAB_SEED={seed}): {e}"),
    }
}
