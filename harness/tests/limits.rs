//! Nothing unbounded: absurd flags and scenario files are refused up front with exit 2 and the
//! limit named (never a panic, an abort, a hang or gigabytes of memory), under a 4 GB address
//! space limit too; and a bounded fuzz run over flags and scenario files finds no other ending.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use quorumlab_harness::explore::generate;
use quorumlab_harness::strategy::{FaultChoice, ScenarioShape};

const BIN: &str = env!("CARGO_BIN_EXE_quorumlab");

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quorumlab-limits-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the binary with `args` in `cwd`, under `ulimit -v 4000000` (4 GB of address space),
/// and kills it if it runs past `limit`.
fn run_limited(cwd: &Path, args: &[String], limit: Duration) -> Output {
    run_within(cwd, args, limit, 4_000_000)
}

/// Runs the binary with `args` in `cwd` under `ulimit -v kib` (KiB of address space), and
/// kills it if it runs past `limit`.
fn run_within(cwd: &Path, args: &[String], limit: Duration, kib: u64) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} ran past {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Exit 2 with a message naming `needle` and no panic.
fn refused(out: &Output, needle: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(stderr.contains(needle), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

/// A small valid scenario file's JSON.
fn small_scenario() -> serde_json::Value {
    let shape = ScenarioShape {
        ops: 8,
        clients: 2,
        ..ScenarioShape::new(
            quorumlab_harness::systems::leaderless::StoreConfig::default(),
            &[FaultChoice::Partition],
        )
    };
    serde_json::from_str(&generate(&shape, 3).to_json()).unwrap()
}

#[test]
fn absurd_flags_are_refused_naming_the_limit() {
    let cwd = scratch("flags");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--clients", "100000", "--ops", "100000"],
            "--clients",
        ),
        (
            &["run", "--nodes", "65535", "--rf", "3", "--ops", "10"],
            "--nodes",
        ),
        (&["run", "--ops", "1000000000"], "--ops"),
        (
            &["run", "--max-faults", "1000000", "--faults", "mixed"],
            "--max-faults",
        ),
        (&["run", "--clients", "1000", "--ops", "1000000"], "--ops"),
        (&["run", "--clients", "1000", "--ops", "200000"], "limit"),
        (
            &["run", "--settle-ms", "18446744073709551615"],
            "--settle-ms",
        ),
        (
            &["run", "--think-ms", "4000000000", "--ops", "10"],
            "--think-ms",
        ),
        (&["run", "--latency", "1-100000"], "--latency"),
        (&["run", "--fault-ms", "10-99999999"], "--fault-ms"),
        (&["run", "--fault-ms", "0-10"], "at least 1 ms"),
        (&["run", "--fault-ms", "30-10"], "exceeds the maximum"),
        (&["run", "--keys", "4000000000"], "--keys"),
        (&["run", "--nodes", "64", "--ops", "10"], "--nodes"),
        (
            &["run", "--nodes", "32", "--keys", "1000", "--ops", "10"],
            "--nodes x --keys",
        ),
        (&["explore", "--cases", "0"], "--cases"),
        (&["explore", "--cases", "99999999999"], "--cases"),
        (&["deep", "--seed", "1", "--cases", "0"], "--cases"),
        (&["deep", "--seed", "1", "--seeds", "0"], "--seeds"),
        (&["canaries", "--search-seeds", "0"], "--search-seeds"),
        (&["canaries", "--cases", "0"], "--cases"),
        (&["canaries", "--threads", "0"], "--threads"),
        (&["matrix", "--seeds", "0"], "--seeds"),
    ];
    for (args, needle) in cases {
        let out = run_limited(&cwd, &strings(args), Duration::from_secs(60));
        refused(&out, needle, &format!("{args:?}"));
    }
    std::fs::remove_dir_all(&cwd).ok();
}

#[test]
fn absurd_scenario_files_are_refused_naming_the_field() {
    let cwd = scratch("files");
    let base = small_scenario();
    let mut cases: Vec<(serde_json::Value, &str)> = Vec::new();
    let mut many_clients = base.clone();
    let plan = many_clients["scenario"]["clients"][0].clone();
    many_clients["scenario"]["clients"] = serde_json::Value::Array(vec![plan; 100_000]);
    cases.push((many_clients, "clients"));
    let mut ring = base.clone();
    ring["scenario"]["store"]["nodes"] = 65_535.into();
    ring["scenario"]["store"]["vnodes"] = 4096.into();
    cases.push((ring, "store.nodes"));
    let mut vnodes = base.clone();
    vnodes["scenario"]["store"]["vnodes"] = 4096.into();
    cases.push((vnodes, "store.vnodes"));
    let mut settle = base.clone();
    settle["scenario"]["settle_ms"] = u64::MAX.into();
    cases.push((settle, "settle_ms"));
    let mut at = base.clone();
    at["scenario"]["clients"][0]["ops"][0]["at_ms"] = u32::MAX.into();
    cases.push((at, "clients[0].ops[0].at_ms"));
    let mut fault = base.clone();
    fault["scenario"]["faults"][0]["at_ms"] = (u64::MAX - 5).into();
    cases.push((fault, "faults[0].at_ms"));
    let mut timeout = base.clone();
    timeout["scenario"]["store"]["request_timeout"] = u64::MAX.into();
    cases.push((timeout, "store.request_timeout"));
    for (i, (doc, needle)) in cases.into_iter().enumerate() {
        let file = cwd.join(format!("s{i}.json"));
        std::fs::write(&file, doc.to_string()).unwrap();
        let args = vec![
            "run".to_string(),
            "--scenario".into(),
            file.display().to_string(),
        ];
        let out = run_limited(&cwd, &args, Duration::from_secs(60));
        refused(&out, needle, needle);
    }
    std::fs::remove_dir_all(&cwd).ok();
}

fn run_scenario_text(cwd: &Path, name: &str, text: &str) -> Output {
    let file = cwd.join(name);
    std::fs::write(&file, text).unwrap();
    let args = strings(&["run", "--scenario", &file.display().to_string()]);
    run_limited(cwd, &args, Duration::from_secs(60))
}

#[test]
fn wrong_scenario_files_are_refused_once_naming_the_field() {
    let cwd = scratch("wrong");
    let text = small_scenario().to_string();
    let cases: Vec<(String, &str)> = vec![
        (
            text.replacen(r#""keys":"#, r#""keys":2,"keys":"#, 1),
            "scenario: duplicate field `keys`",
        ),
        (
            text.replacen(
                r#""format":"#,
                r#""format":"quorumlab-scenario/1","format":"#,
                1,
            ),
            "duplicate key `format`",
        ),
        (
            text.replacen(r#""nodes":"#, r#""nodes":5,"nodes":"#, 1),
            "scenario.store: duplicate field `nodes`",
        ),
        (
            text.replacen(r#""seed":"#, r#""colour":1,"seed":"#, 1),
            "scenario.colour: unknown field `colour`",
        ),
        (
            text.replacen(r#""at_ms":"#, r#""at_ms":18446744073709551615,"x":"#, 1),
            "scenario.clients[0].ops[0].at_ms: invalid value: integer `18446744073709551615`, \
             expected u32",
        ),
        (
            text.replacen(r#""sticky":null"#, r#""sticky":5"#, 1),
            "clients[0].sticky is 5, beyond the 5 nodes (0 to 4)",
        ),
        (
            {
                let mut d = small_scenario();
                d["scenario"]["clients"][0]["ops"][0]["key"] = 3.into();
                d.to_string()
            },
            "clients[0].ops[0].key is 3, beyond the 3 keys (0 to 2)",
        ),
        (
            text.replacen(
                r#""format":"quorumlab-scenario/1""#,
                r#""format":"other/2""#,
                1,
            ),
            "unknown scenario format \"other/2\"",
        ),
    ];
    for (i, (doc, needle)) in cases.iter().enumerate() {
        assert_ne!(doc, &text, "{needle}: the edit did not apply");
        let out = run_scenario_text(&cwd, &format!("w{i}.json"), doc);
        refused(&out, needle, needle);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = needle.split(':').next_back().unwrap().trim();
        assert_eq!(stderr.matches(first).count(), 1, "said twice: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    std::fs::remove_dir_all(&cwd).ok();
}

#[test]
fn duplicate_keys_in_a_system_config_are_refused() {
    let cwd = scratch("sysconf");
    let args = strings(&[
        "run",
        "--system",
        "leader-follower",
        "--system-config",
        r#"{"replication": "async", "replication": "sync"}"#,
    ]);
    let out = run_limited(&cwd, &args, Duration::from_secs(60));
    refused(&out, "--system-config", "inline");
    refused(&out, "duplicate key `replication`", "inline");
    let file = cwd.join("config.json");
    std::fs::write(&file, r#"{"replication": "async", "replication": "sync"}"#).unwrap();
    let args = strings(&[
        "run",
        "--system",
        "leader-follower",
        "--system-config",
        &format!("@{}", file.display()),
    ]);
    let out = run_limited(&cwd, &args, Duration::from_secs(60));
    refused(&out, "duplicate key `replication`", "from a file");
    std::fs::remove_dir_all(&cwd).ok();
}

#[test]
fn a_huge_scenario_file_is_refused_within_a_small_address_space() {
    // 1,000,000 faults, 90 MB of JSON: the reader refuses the list at its 1,001st entry. Built
    // as a JSON tree first (as it once was), the file took 3 GB; here the whole process has
    // 600 MB of address space, the file's text included.
    let cwd = scratch("huge");
    let text = small_scenario().to_string();
    let fault = r#"{"at_ms":1,"kind":{"fault":"pause","node":0,"duration_ms":5}}"#;
    let start = text.find(r#""faults":["#).unwrap() + r#""faults":["#.len();
    let end = start + text[start..].find("],").unwrap();
    let mut huge = String::with_capacity(text.len() + 1_000_000 * (fault.len() + 1));
    huge.push_str(&text[..start]);
    for i in 0..1_000_000 {
        if i > 0 {
            huge.push(',');
        }
        huge.push_str(fault);
    }
    huge.push_str(&text[end..]);
    let file = cwd.join("huge.json");
    std::fs::write(&file, &huge).unwrap();
    drop(huge);
    let args = strings(&["run", "--scenario", &file.display().to_string()]);
    let out = run_within(&cwd, &args, Duration::from_secs(60), 600_000);
    refused(
        &out,
        "scenario.faults: more than 1000 entries, over the limit of 1000",
        "a million faults",
    );
    std::fs::remove_dir_all(&cwd).ok();
}

#[test]
fn a_large_case_runs_from_its_scenario_alone_within_a_small_address_space() {
    // A saved case's ops, events and witnesses are skipped unread: a case padded to 60 MB of
    // ops runs in 300 MB of address space (the file's text, once, and the run itself). As a
    // JSON tree it took 16 times the file.
    let cwd = scratch("large-case");
    let mut doc = small_scenario();
    let op = serde_json::json!({"id": 1, "client": 0, "kind": "put", "key": "k0", "value": 1,
        "invoke": 0, "complete": 10, "outcome": "ok"});
    doc["format"] = "quorumlab-history/1".into();
    doc["ops"] = serde_json::Value::Array(vec![op; 700_000]);
    let file = cwd.join("case.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    drop(doc);
    assert!(std::fs::metadata(&file).unwrap().len() > 60_000_000);
    let args = strings(&[
        "run",
        "--scenario",
        &file.display().to_string(),
        "--out",
        &cwd.join("out.json").display().to_string(),
    ]);
    let out = run_within(&cwd, &args, Duration::from_secs(60), 300_000);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&cwd).ok();
}

#[test]
fn a_thousand_clients_run_in_a_small_address_space() {
    // Every client task once held its own copy of the scenario, and so of every client's
    // plan: memory grew with the square of the client count (1,000 clients of 100 ops in all
    // took 82 MB resident, 4,000 took 1.06 GB). Now the run needs about 40 MB of address
    // space, all of it counted (binary, heap, stacks); 64 MB is the bound.
    let cwd = scratch("thousand");
    let args = strings(&[
        "run",
        "--clients",
        "1000",
        "--ops",
        "100",
        "--out",
        &cwd.join("run.json").display().to_string(),
    ]);
    let out = run_within(&cwd, &args, Duration::from_secs(60), 64_000);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A thousand clients' ops and the final reads.
    let ops: usize = stdout
        .strip_prefix("seed 1: ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(ops >= 1000, "{stdout}");
    std::fs::remove_dir_all(&cwd).ok();
}

#[test]
fn flag_limits_are_the_documented_ones() {
    let cwd = scratch("documented");
    for (args, needle) in [
        (
            &["run", "--tail", "5:10001"][..],
            "over the limit of 10000 ms",
        ),
        (
            &["run", "--slow-node", "1:10001"],
            "over the limit of 10000 ms",
        ),
        (&["run", "--ops", "0"], "--ops must be at least 1"),
        (
            &["run", "--nodes", "0"],
            "nodes = 0: must be between 1 and 32",
        ),
        (
            &["explore", "--ops", "0", "--cases", "1"],
            "--ops must be at least 1",
        ),
    ] {
        let out = run_limited(&cwd, &strings(args), Duration::from_secs(60));
        refused(&out, needle, &format!("{args:?}"));
    }
    for args in [
        &["run", "--tail", "5:10000", "--ops", "4"][..],
        &["run", "--slow-node", "1:10000", "--ops", "4"],
    ] {
        let out = run_limited(&cwd, &strings(args), Duration::from_secs(60));
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {out:?}"
        );
    }
    std::fs::remove_dir_all(&cwd).ok();
}

/// Flag values: ordinary small ones, and every kind of absurd one.
fn flag_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..4).prop_map(|v| v.to_string()),
        Just("1000000".to_string()),
        Just("4294967296".to_string()),
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("1e19".to_string()),
        Just("x".to_string()),
        Just(String::new()),
    ]
}

fn flags() -> impl Strategy<Value = Vec<String>> {
    let names = [
        "--nodes",
        "--rf",
        "--clients",
        "--ops",
        "--keys",
        "--max-faults",
        "--think-ms",
        "--settle-ms",
        "--latency",
        "--seed",
    ];
    proptest::collection::vec(
        (proptest::sample::select(names.to_vec()), flag_value()),
        0..4,
    )
    .prop_map(|pairs| {
        let mut out = strings(&["run", "--ops", "6", "--faults", "mixed"]);
        for (n, v) in pairs {
            out.push(n.to_string());
            out.push(v);
        }
        out
    })
}

/// Every leaf of a JSON document, as a JSON pointer.
fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                leaves(v, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                leaves(v, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        (0u64..5).prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(u64::MAX)),
        Just(serde_json::Value::from(u32::MAX)),
        Just(serde_json::Value::from(65_535)),
        Just(serde_json::Value::from(-1)),
        Just(serde_json::Value::from(i64::MIN)),
        Just(serde_json::Value::from(1e300)),
        Just(serde_json::Value::from("x")),
        Just(serde_json::Value::Null),
    ]
}

fn ok_or_refused(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0 | 1) => {}
        Some(2) => assert!(
            !stderr.trim().is_empty() && !stderr.contains("panicked"),
            "{what}: exit 2 without a reason: {stderr}"
        ),
        other => panic!("{what}: ended with {other:?} (a signal, a panic?): {stderr}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn fuzzed_flags_run_or_are_refused(args in flags()) {
        let cwd = scratch("fuzz-flags");
        let out = run_limited(&cwd, &args, Duration::from_secs(120));
        ok_or_refused(&out, &format!("{args:?}"));
    }

    #[test]
    fn fuzzed_scenario_files_run_or_are_refused(
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), json_value()), 1..4)
    ) {
        let cwd = scratch("fuzz-files");
        let mut doc = small_scenario();
        let mut paths = Vec::new();
        leaves(&doc, String::new(), &mut paths);
        for (index, value) in picks {
            let path = index.get(&paths);
            if let Some(slot) = doc.pointer_mut(path) {
                *slot = value;
            }
        }
        let file = cwd.join(format!("fuzz-{}.json", std::process::id()));
        std::fs::write(&file, doc.to_string()).unwrap();
        let args = vec!["run".to_string(), "--scenario".into(), file.display().to_string()];
        let out = run_limited(&cwd, &args, Duration::from_secs(120));
        ok_or_refused(&out, &doc.to_string());
    }
}
