//! The harness end to end: determinism of runs, and finding, shrinking, saving and replaying a
//! violation in a deliberately weak configuration.
mod common;

use std::process::Command;

use common::*;
use quorumlab::check::Guarantee;
use quorumlab_harness::case::Case;
use quorumlab_harness::explore::{explore, generate, ExploreOptions, Outcome, Quiet};
use quorumlab_harness::strategy::FaultChoice;
use quorumlab_harness::systems::leaderless::{ConsistencyLevel, StoreConfig};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quorumlab"))
}

#[test]
fn the_same_scenario_twice_gives_byte_identical_history_files() {
    let faults = [
        FaultChoice::Partition,
        FaultChoice::Crash,
        FaultChoice::Loss,
        FaultChoice::Pause,
        FaultChoice::Skew,
    ];
    let scenario = generate(&shape(StoreConfig::default(), &faults, 40), 7);
    assert!(!scenario.faults.is_empty());
    let a = Case::run(&scenario, Guarantee::ALL)
        .unwrap()
        .to_file_string();
    let b = Case::run(&scenario, Guarantee::ALL)
        .unwrap()
        .to_file_string();
    assert_eq!(a, b, "two runs of one scenario differ");
}

#[test]
fn runs_in_two_processes_write_identical_files() {
    let dir = std::env::temp_dir().join(format!("quorumlab-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..2 {
        let out = dir.join(format!("run{i}.json"));
        let status = bin()
            .args([
                "run", "--faults", "mixed", "--ops", "30", "--seed", "11", "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.code() == Some(0) || status.status.code() == Some(1),
            "{status:?}"
        );
        files.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(
        files[0], files[1],
        "two processes wrote different histories for one seed"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_weak_configuration_is_found_shrunk_saved_and_replayed() {
    let store = StoreConfig {
        read: ConsistencyLevel::One,
        write: ConsistencyLevel::One,
        ..StoreConfig::default()
    };
    let options = ExploreOptions {
        workload: Default::default(),
        shape: shape(store, &[FaultChoice::Partition], 100),
        expect: vec![Guarantee::Linearizable],
        cases: 20,
        seed: 1,
        max_shrink_iters: 1000,
    };
    let Outcome::Found { case, .. } = explore(&options, &Quiet).unwrap() else {
        panic!("R = W = 1 under partitions should not be linearizable");
    };
    assert_eq!(case.judgement.violated(), vec![Guarantee::Linearizable]);
    assert!(
        case.scenario.op_count() <= 10,
        "shrunk only to {} ops",
        case.scenario.op_count()
    );

    let dir = std::env::temp_dir().join(format!("quorumlab-explore-{}", std::process::id()));
    let path = dir.join("case.json");
    case.save(&path).unwrap();
    let out = bin().arg("replay").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "replay failed: {stdout}");
    assert!(stdout.contains("reproduced byte for byte"), "{stdout}");

    // A changed file is caught, with the first difference.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"ok\"", "\"fail\"", 1)).unwrap();
    let out = bin().arg("replay").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("DIFFERS from the saved case at line"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_cli_explore_saves_a_case_and_prints_its_replay_command() {
    let dir = std::env::temp_dir().join(format!("quorumlab-cli-explore-{}", std::process::id()));
    let out = bin()
        .args([
            "explore",
            "--read",
            "one",
            "--write",
            "one",
            "--faults",
            "partition",
            "--cases",
            "10",
        ])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("linearizable violated"), "{stdout}");
    assert!(
        stdout.contains("replay: cargo run --release -- replay"),
        "{stdout}"
    );
    let mut saved: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    assert_eq!(saved.len(), 2, "the case and its report: {saved:?}");
    assert_eq!(saved[0].replace(".html", ".json"), saved[1]);
    let report = dir.join(&saved[0]);
    assert!(
        stdout.contains(&format!("report: {}", report.display())),
        "{stdout}"
    );
    // stderr is a pipe here, as in a CI log: no bar, but a line when the search finds its
    // violation (and one every ten seconds of a longer search).
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("explore: violation at case") && stderr.contains("; shrinking"),
        "{stderr}"
    );
    assert!(!stderr.contains('\r'), "no bar drawn into a log: {stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_flags_and_unreadable_scenarios_exit_2_with_a_message() {
    for args in [
        vec!["run", "--read", "most"],
        vec!["run", "--faults", "meteor"],
        vec!["run", "--rf", "7"],
        vec!["run", "--hints", "maybe"],
        vec!["run", "--scenario", "/nonexistent/scenario.json"],
        vec!["explore", "--expect", "serializable"],
    ] {
        let out = bin().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            !stderr.is_empty() && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
    let dir = std::env::temp_dir().join(format!("quorumlab-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"scenario\": {\"seed\": 1}}").unwrap();
    let out = bin().args(["replay"]).arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.json"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_mixed_search_draws_every_workload_over_the_flags_store_and_faults() {
    use quorumlab_harness::explore::generate_with;
    use quorumlab_harness::strategy::{FaultChoice, ScenarioShape};
    use quorumlab_harness::systems::leaderless::StoreConfig;
    use quorumlab_harness::workload::{Workload, WorkloadChoice};
    let store = StoreConfig {
        rf: 5,
        ..StoreConfig::default()
    };
    let shape = ScenarioShape::new(store.clone(), &[FaultChoice::Partition]);
    let strategy = WorkloadChoice::Mix.strategy(&shape);
    let (mut slow_writes, mut long_faults, mut one_key, mut choices) =
        (0, 0, 0, std::collections::BTreeSet::new());
    for seed in 0..200 {
        let s = generate_with(&strategy, seed);
        let c = s.system.store().expect("the flags' store");
        assert_eq!((c.rf, c.read, c.write), (5, store.read, store.write));
        choices.insert(format!("{:?}", c.replica_choice));
        slow_writes += usize::from(!s.network.slow_writes.is_empty());
        long_faults += usize::from(s.faults.iter().any(|f| f.kind.duration_ms() >= 1500));
        one_key += usize::from(s.keys == 1);
        assert!(s.faults.iter().all(|f| matches!(
            f.kind,
            quorumlab_harness::scenario::FaultKind::Partition { .. }
        )));
    }
    // Slow writes (slow-writes, partial-writes), faults past the failure detector (down-path)
    // and one hot key (hot-key, read-mostly, slow-writes, power-failure) all come up, under
    // every replica choice.
    assert!(
        slow_writes > 20 && long_faults > 5 && one_key > 40,
        "{slow_writes} {long_faults} {one_key}"
    );
    assert_eq!(choices.len(), 3, "{choices:?}");
    // One workload by name, or the flags' own shape.
    assert_eq!(
        WorkloadChoice::parse("slow-writes"),
        Ok(WorkloadChoice::Only(Workload::SlowWrites))
    );
    assert_eq!(WorkloadChoice::parse("flags"), Ok(WorkloadChoice::Flags));
    let err = WorkloadChoice::parse("hotkey").unwrap_err().to_string();
    assert!(err.contains("hot-key") && err.contains("mix"), "{err}");
    let out = bin()
        .args(["explore", "--workload", "hotkey", "--cases", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown workload"));
}
