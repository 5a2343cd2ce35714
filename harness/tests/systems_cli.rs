//! `--system` on the command line: the leader-follower store runs from flags, its
//! configuration errors and the faults it does not honour are refused naming what is wrong,
//! and the leaderless store's own flags are refused with another system.
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_quorumlab");

fn quorumlab(args: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("quorumlab-systems-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Command::new(BIN)
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap()
}

/// Exit 2 with `needle` in stderr, and no panic.
fn refused(args: &[&str], needle: &str) {
    let out = quorumlab(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn run_takes_the_leader_follower_store_and_its_configuration() {
    let out = quorumlab(&[
        "run",
        "--system",
        "leader-follower",
        "--system-config",
        r#"{"replication": "sync", "reads": "leader"}"#,
        "--ops",
        "20",
        "--faults",
        "partition",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0),
        "the linearizable configuration holds: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let history = std::fs::read_to_string(
        std::env::temp_dir()
            .join(format!("quorumlab-systems-cli-{}", std::process::id()))
            .join(v["history"].as_str().unwrap()),
    )
    .unwrap();
    assert!(history.contains(r#""name":"leader-follower""#), "{history}");
    assert_eq!(v["guarantees"]["linearizable"], true);
}

#[test]
fn bad_configurations_and_unhonoured_faults_are_refused_by_name() {
    let lf = ["run", "--system", "leader-follower"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        lf.iter().copied().chain(extra.iter().copied()).collect()
    };
    refused(
        &with(&["--system-config", r#"{"rff": 3}"#]),
        "unknown field `rff`",
    );
    refused(
        &with(&["--system-config", r#"{"reads": "some"}"#]),
        "`reads`",
    );
    refused(&with(&["--system-config", "{not json"]), "not valid JSON");
    refused(&with(&["--nodes", "2"]), "`rf`");
    refused(
        &with(&["--rf", "3"]),
        "--rf configures the leaderless store",
    );
    refused(
        &with(&["--read", "one"]),
        "--read configures the leaderless store",
    );
    refused(&with(&["--faults", "skew"]), "does not honour skew faults");
    refused(&with(&["--faults", "mixed"]), "does not honour loss faults");
    refused(
        &["run", "--system-config", "{}"],
        "--system-config configures systems other than leaderless",
    );
    let out = quorumlab(&["run", "--system", "no-such-store"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("leader-follower"), "{stderr}");
}

#[test]
fn explore_finds_a_follower_read_stale() {
    let dir = std::env::temp_dir().join(format!("quorumlab-systems-cli-ex-{}", std::process::id()));
    let out = quorumlab(&[
        "explore",
        "--system",
        "leader-follower",
        "--system-config",
        r#"{"reads": "any"}"#,
        "--keys",
        "1",
        "--clients",
        "8",
        "--think-ms",
        "2",
        "--cases",
        "100",
        "--expect",
        "no_stale_reads",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no_stale_reads violated"), "{stdout}");
    assert!(stdout.contains("replay:"), "{stdout}");
}

#[test]
fn cas_percent_runs_cas_against_a_system_that_supports_it_and_is_refused_otherwise() {
    refused(
        &["run", "--cas-percent", "20"],
        "--cas-percent: leaderless does not support cas",
    );
    refused(&["run", "--cas-percent", "101"], "--cas-percent");
    refused(
        &[
            "explore",
            "--system",
            "leader-follower",
            "--cas-percent",
            "20",
            "--expect",
            "linearizable,convergence",
        ],
        "convergence would be undecided in every case",
    );
    let out = quorumlab(&[
        "run",
        "--system",
        "leader-follower",
        "--cas-percent",
        "30",
        "--ops",
        "20",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["guarantees"]["linearizable"], true);
    // Every other guarantee is undecided on cas ops, and says so.
    assert_eq!(v["guarantees"]["convergence"], serde_json::Value::Null);
    let history = std::fs::read_to_string(
        std::env::temp_dir()
            .join(format!("quorumlab-systems-cli-{}", std::process::id()))
            .join(v["history"].as_str().unwrap()),
    )
    .unwrap();
    assert!(history.contains(r#""kind":"cas""#), "{history}");
    assert!(history.contains(r#""swapped":"#), "{history}");
}
