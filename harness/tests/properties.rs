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
