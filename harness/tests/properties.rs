//! Property tests: configurations that should keep their guarantees, explored with proptest.
//!
//! A failure saves the shrunk case in histories/ and prints the command that replays it.
//! PROPTEST_CASES raises the case count; QUORUMLAB_SEED changes the search seed.
mod common;

use common::*;
use quorumlab::check::Guarantee;
use quorumlab_harness::strategy::FaultChoice;

const LIN: &[Guarantee] = &[
    Guarantee::Linearizable,
    Guarantee::NoStaleReads,
    Guarantee::ReadYourWrites,
    Guarantee::MonotonicReads,
];

#[test]
fn quorum_reads_and_writes_are_linearizable_without_faults() {
    expect_to_hold(
        "prop-quorum-nofaults",
        shape(quorum_store(), &[], 60),
        LIN,
        cases(16),
        search_seed(1),
    );
}

#[test]
fn quorum_reads_and_writes_are_linearizable_under_partitions() {
    let faults = [
        FaultChoice::Partition,
        FaultChoice::Isolate,
        FaultChoice::Ring,
        FaultChoice::Bridge,
    ];
    expect_to_hold(
        "prop-quorum-partitions",
        shape(quorum_store(), &faults, 60),
        LIN,
        cases(16),
        search_seed(2),
    );
}

#[test]
fn quorum_reads_and_writes_are_linearizable_under_crashes_with_fsync_always() {
    let faults = [FaultChoice::Crash];
    expect_to_hold(
        "prop-quorum-crash",
        shape(quorum_store(), &faults, 60),
        LIN,
        cases(16),
        search_seed(3),
    );
}

#[test]
fn quorum_reads_and_writes_are_linearizable_under_loss_latency_and_pauses() {
    let faults = [FaultChoice::Loss, FaultChoice::Latency, FaultChoice::Pause];
    expect_to_hold(
        "prop-quorum-network",
        shape(quorum_store(), &faults, 60),
        LIN,
        cases(16),
        search_seed(4),
    );
}

/// The end of the workload (the last client op to complete), from a run's history.
fn workload_end(out: &quorumlab_harness::runner::RunOutput) -> std::time::Duration {
    let end = out
        .history
        .ops
        .iter()
        .filter(|o| o.extra.get("phase").is_none())
        .filter_map(|o| o.complete.or(Some(o.invoke)))
        .max()
        .expect("the workload ran ops");
    std::time::Duration::from_nanos(end)
}

#[test]
fn the_settle_ends_once_the_cluster_is_quiet_but_runs_in_full_with_anti_entropy() {
    use quorumlab_harness::explore::generate;
    use std::time::Duration;
    let mut shape = shape(quorum_store(), &[FaultChoice::Partition], 16);
    shape.settle_ms = 5_000;
    let conv = [Guarantee::Convergence];
    for seed in 1..=3 {
        let scenario = generate(&shape, seed);
        let out = quorumlab_harness::runner::run(&scenario).expect("the run finishes");
        // Quiet well before the five seconds: the final phase starts early.
        assert!(
            out.simulated < workload_end(&out) + Duration::from_millis(2_500),
            "seed {seed}: simulated {:?}, workload ended {:?}",
            out.simulated,
            workload_end(&out)
        );
        let judged = quorumlab_harness::verdict::judge(&out.history, &conv);
        assert!(judged.violated().is_empty(), "seed {seed}: {judged:?}");

        let mut with_ae = scenario.clone();
        if let Some(store) = with_ae.system.store_mut() {
            store.anti_entropy = true;
        }
        let out = quorumlab_harness::runner::run(&with_ae).expect("the run finishes");
        assert!(
            out.simulated >= workload_end(&out) + Duration::from_millis(5_000),
            "seed {seed}: anti-entropy's settle was cut short at {:?}",
            out.simulated
        );
    }
}
