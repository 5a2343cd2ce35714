//! The shrink test's shortcuts are sound: a workload-only run is the whole run up to its final
//! phase, a run that stops issuing ops at a moment is the same run up to that moment, and a
//! shrunk case still breaks what the found one broke when it is run whole.
mod common;

use std::time::Duration;

use common::*;
use quorumlab::check::Guarantee;
use quorumlab::history::Op;
use quorumlab_harness::explore::{generate, generate_with, shrink_with};
use quorumlab_harness::runner::{run, run_workload};
use quorumlab_harness::scenario::{PlannedKind, Scenario};
use quorumlab_harness::shrink::{Keep, ShrinkTest};
use quorumlab_harness::strategy::{scenario, FaultChoice};
use quorumlab_harness::systems::leaderless::{ConsistencyLevel, StoreConfig};
use quorumlab_harness::verdict::judge;

fn workload_ops(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter(|o| !o.extra.contains_key("phase"))
        .map(|o| format!("{o:?}"))
        .collect()
}

fn weak_store() -> StoreConfig {
    StoreConfig {
        read: ConsistencyLevel::One,
        write: ConsistencyLevel::One,
        ..StoreConfig::default()
    }
}

#[test]
fn a_workload_only_run_is_the_whole_run_without_its_final_phase() {
    let faults = [
        FaultChoice::Partition,
        FaultChoice::Crash,
        FaultChoice::Loss,
    ];
    for seed in 0..cases(6) as u64 {
        let s = generate(&shape(weak_store(), &faults, 60), seed);
        let whole = run(&s).unwrap();
        let workload = run_workload(&s, None).unwrap();
        assert_eq!(
            workload_ops(&workload.history.ops),
            workload_ops(&whole.history.ops),
            "seed {seed}"
        );
        assert!(workload
            .history
            .ops
            .iter()
            .all(|o| !o.extra.contains_key("phase")));
        assert!(!workload.history.extra.contains_key("replicas"));
        assert!(workload.simulated <= whole.simulated);
    }
}

#[test]
fn a_run_that_stops_issuing_ops_is_the_same_run_up_to_that_moment() {
    let faults = [FaultChoice::Partition, FaultChoice::Loss];
    for seed in 0..cases(6) as u64 {
        let s = generate(&shape(weak_store(), &faults, 80), seed);
        let whole = run(&s).unwrap();
        let span = whole
            .history
            .ops
            .iter()
            .filter(|o| !o.extra.contains_key("phase"))
            .map(|o| o.invoke)
            .max()
            .unwrap();
        let until = span / 2;
        let cut = run_workload(&s, Some(Duration::from_nanos(until))).unwrap();
        // Every op that ended by then ran exactly as it did in the whole run.
        let ended: Vec<String> = whole
            .history
            .ops
            .iter()
            .filter(|o| o.complete.is_some_and(|c| c <= until))
            .map(|o| format!("{o:?}"))
            .collect();
        let all: Vec<String> = workload_ops(&cut.history.ops);
        for op in &ended {
            assert!(all.contains(op), "seed {seed}: {op} ran differently");
        }
        // And none began later than a tick after it.
        assert!(
            cut.history
                .ops
                .iter()
                .all(|o| o.invoke <= until + 1_000_000),
            "seed {seed}"
        );
        assert!(cut.history.ops.len() < whole.history.ops.len());
    }
}

/// The first generated scenario (by seed) whose whole run breaks `g`, with its history.
fn find(shape_ops: usize, g: Guarantee) -> (Scenario, quorumlab::history::History, u64) {
    let shape = shape(weak_store(), &[FaultChoice::Partition], shape_ops);
    for seed in 0..200 {
        let s = generate(&shape, seed);
        let out = run(&s).unwrap();
        if judge(&out.history, &[g]).violated() == vec![g] {
            return (s, out.history, seed);
        }
    }
    panic!("R = W = 1 under partitions never broke {g:?} in 200 scenarios");
}

#[test]
fn a_shrunk_case_breaks_what_the_found_one_broke_when_run_whole() {
    for g in [Guarantee::NoStaleReads, Guarantee::MonotonicReads] {
        let (found, history, seed) = find(60, g);
        let shape = shape(weak_store(), &[FaultChoice::Partition], 60);
        let mut test = ShrinkTest::new(&found, Some(&history), Keep::All(vec![g]), 80);
        shrink_with(&scenario(&shape), seed, |s| test.check(s));
        assert!(test.runs() <= 80);
        let case = test.finish(&[g]).unwrap();
        assert_eq!(case.judgement.violated(), vec![g], "{g:?}");
        assert!(
            case.scenario.op_count() < found.op_count(),
            "{g:?}: {} of {} ops",
            case.scenario.op_count(),
            found.op_count()
        );
        // The saved case is what it says: its own whole run, again, breaks it.
        let again = run(&case.scenario).unwrap();
        assert_eq!(again.history.ops, case.history.ops);
    }
}

#[test]
fn a_budget_of_no_runs_gives_back_the_scenario_as_found() {
    let (found, history, seed) = find(60, Guarantee::NoStaleReads);
    let shape = shape(weak_store(), &[FaultChoice::Partition], 60);
    let keep = Keep::All(vec![Guarantee::NoStaleReads]);
    let mut test = ShrinkTest::new(&found, Some(&history), keep, 0);
    let (_, calls) = shrink_with(&scenario(&shape), seed, |s| test.check(s));
    assert_eq!((test.runs(), calls), (0, 1));
    let case = test.finish(&[Guarantee::NoStaleReads]).unwrap();
    assert_eq!(case.scenario, found);
}

#[test]
fn scenarios_that_write_one_value_twice_are_refused() {
    let mut s = generate(&shape(weak_store(), &[], 20), 3);
    let puts: Vec<(usize, usize)> = s
        .clients
        .iter()
        .enumerate()
        .flat_map(|(c, p)| {
            p.ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.kind == PlannedKind::Put)
                .map(move |(i, _)| (c, i))
        })
        .collect();
    assert!(puts.len() >= 2);
    s.validate().unwrap();
    let (c0, i0) = puts[0];
    let (c1, i1) = puts[1];
    s.clients[c1].ops[i1].value = Some(s.put_value(c0, i0));
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("must be unique"), "{err}");
}

#[test]
fn every_scenario_generated_or_shrunk_names_only_keys_and_nodes_it_has() {
    // Keys and sticky coordinators are drawn before shrinking lowers the key and node counts;
    // the scenario takes them modulo the counts it ends with, so every candidate is one a
    // scenario file may hold. A candidate "still fails" while it keeps every op, so shrinking
    // goes on to the fewest keys and nodes with every op still there.
    use proptest::strategy::Strategy;
    use quorumlab_harness::strategy::read_after_write;
    for sticky in [false, true] {
        let shape = quorumlab_harness::strategy::ScenarioShape {
            sticky,
            keys: 7,
            ..shape(weak_store(), &[FaultChoice::Crash], 40)
        };
        for seed in 0..4 {
            for strategy in [
                scenario(&shape).boxed(),
                read_after_write(&shape, 4).boxed(),
            ] {
                let all = generate_with(&strategy, seed).op_count();
                let mut fewest = u32::MAX;
                shrink_with(&strategy, seed, |s| {
                    s.validate().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                    let kept = s.op_count() == all;
                    if kept {
                        fewest = fewest.min(s.keys);
                    }
                    Some(kept)
                });
                assert_eq!(fewest, 1, "seed {seed}: shrinking reached one key");
            }
        }
    }
}
