//! A bounded fuzz run over every subcommand's flags and over scenario files, through the binary:
//! whatever the input, a command ends (within a wall-time limit per child), never panics or
//! aborts, and a refusal exits 2 naming the flag or the field at fault.
//!
//! Budgets stay tiny (one shard, a few cases, one thread), and the values drawn for a budget
//! flag are either tiny or beyond its bound, so no input asks for a long run. The case count is
//! small enough for a few seconds in CI; QUORUMLAB_FUZZ_CASES raises it for a longer run.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::select;
use quorumlab_harness::explore::generate;
use quorumlab_harness::strategy::{FaultChoice, ScenarioShape};

const BIN: &str = env!("CARGO_BIN_EXE_quorumlab");

/// Longest a child may run: every input here is refused at once or runs a tiny budget.
const WALL: Duration = Duration::from_secs(60);

fn fuzz_cases(default: u32) -> u32 {
    std::env::var("QUORUMLAB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A scratch directory holding a small saved case and a history to feed the commands that
/// read files, made once per test process.
fn fixtures() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("quorumlab-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let out = Command::new(BIN)
            .current_dir(&d)
            .args(["run", "--ops", "6", "--out", "case.json"])
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
        std::fs::write(d.join("scenario.json"), small_scenario().to_string()).unwrap();
        d
    })
}

fn small_scenario() -> serde_json::Value {
    let shape = ScenarioShape {
        ops: 8,
        clients: 2,
        ..ScenarioShape::new(
            quorumlab_harness::systems::leaderless::StoreConfig::default(),
            &[FaultChoice::Partition, FaultChoice::Crash],
        )
    };
    serde_json::from_str(&generate(&shape, 3).to_json()).unwrap()
}

/// Runs the binary in `cwd` under a 4 GB address-space limit, killed past [`WALL`].
fn run(cwd: &Path, args: &[String]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4000000 && exec \"$0\" \"$@\"")
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
        if start.elapsed() > WALL {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} ran past {WALL:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How a flag is named in messages: `--slow-node`, `slow-node`, `slow node`, `slow_node`.
fn spellings(flag: &str) -> Vec<String> {
    let bare = flag.trim_start_matches('-');
    vec![
        flag.to_string(),
        bare.to_string(),
        bare.replace('-', " "),
        bare.replace('-', "_"),
    ]
}

/// Ran (exit 0, 1, or 3 for an undecided check), or refused with exit 2 and a message that
/// names one of `names`; never a signal or a panic.
fn ended_well(out: &Output, names: &[String], what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    match out.status.code() {
        Some(0 | 1 | 3) => {}
        Some(2) => assert!(
            names.iter().any(|n| stderr.contains(n.as_str())),
            "{what}: exit 2 without naming any of {names:?}: {stderr}"
        ),
        other => panic!("{what}: ended with {other:?} (a signal, an abort?): {stderr}"),
    }
}

/// Values for a count or a budget: tiny ones, and ones past any bound (so none asks for a
/// long run), and ones that are not counts at all.
fn count() -> BoxedStrategy<String> {
    prop_oneof![
        (0u64..4).prop_map(|v| v.to_string()),
        select(vec![
            "1000001",
            "10001",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "1e19",
            "x",
            "",
        ])
        .prop_map(String::from),
    ]
    .boxed()
}

fn words(options: &[&'static str]) -> BoxedStrategy<String> {
    select(options.to_vec()).prop_map(String::from).boxed()
}

/// A timeout in seconds: ordinary, absurd and malformed.
fn seconds() -> BoxedStrategy<String> {
    words(&[
        "0", "0.5", "2", "-1", "1e19", "1e20", "1e400", "nan", "inf", "-inf", "x", "",
    ])
}

/// The same for `check --timeout`, less `-inf`: check's parser takes it for a flag
/// ("unexpected argument '-i'"), which names no flag.
fn check_seconds() -> BoxedStrategy<String> {
    words(&[
        "0", "0.5", "2", "-1", "1e19", "1e20", "1e400", "nan", "inf", "x", "",
    ])
}

/// The flags of `run` and `explore` (the scenario's configuration), with values for each.
fn config_flags() -> Vec<(&'static str, BoxedStrategy<String>)> {
    vec![
        (
            "--system",
            words(&["leaderless", "leader-follower", "paxos"]),
        ),
        (
            "--system-config",
            words(&[
                "{}",
                r#"{"replication": "async"}"#,
                r#"{"replication": "async", "replication": "sync"}"#,
                r#"{"replication": "sometimes"}"#,
                r#"{"nope": 1}"#,
                "[]",
                "{",
                "@/nonexistent/config.json",
            ]),
        ),
        ("--nodes", count()),
        ("--rf", count()),
        ("--read", words(&["one", "quorum", "all", "0", "7", "x"])),
        ("--write", words(&["one", "two", "all", "4", "x"])),
        ("--read-repair", words(&["none", "async", "x"])),
        ("--hints", words(&["on", "off", "x"])),
        ("--anti-entropy", words(&["on", "off", "x"])),
        (
            "--fsync",
            words(&["always", "periodic:5", "periodic:0", "x"]),
        ),
        ("--bug", words(&["ack-early", "ring-off-by-one", "x"])),
        ("--clients", count()),
        ("--ops", count()),
        ("--keys", count()),
        (
            "--faults",
            words(&["none", "mixed", "skew", "crash,x", "x"]),
        ),
        ("--max-faults", count()),
        ("--think-ms", count()),
        ("--coordinator", words(&["random", "sticky", "x"])),
        (
            "--latency",
            words(&["1-5", "3", "5-1", "0", "1-100000", "x-1", "-", ""]),
        ),
        (
            "--tail",
            words(&[
                "5:200",
                "0:0",
                "100:10000",
                "5:10001",
                "101:5",
                "5:",
                ":5",
                "x",
            ]),
        ),
        (
            "--slow-node",
            words(&["1:40", "0:10000", "1:10001", "70000:1", "1:", "x"]),
        ),
        (
            "--replica-choice",
            words(&["ordered", "snitch", "random", "x"]),
        ),
        ("--settle-ms", count()),
        (
            "--fault-ms",
            words(&["10-20", "5", "0-10", "30-10", "1-99999999", "x"]),
        ),
    ]
}

/// A subcommand's fixed, tiny-budget arguments and the flags fuzzed on top of them.
struct Command_ {
    base: Vec<String>,
    flags: Vec<(&'static str, BoxedStrategy<String>)>,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn commands(dir: &Path) -> Vec<Command_> {
    let at = |name: &str| dir.join(name).display().to_string();
    let mut explore = config_flags();
    explore.extend([
        ("--cases", count()),
        ("--max-shrink-iters", count()),
        ("--seed", count()),
        (
            "--expect",
            words(&["linearizable", "all", "monotonic-reads,x", "x"]),
        ),
    ]);
    let mut run_flags = config_flags();
    run_flags.push(("--seed", count()));
    vec![
        Command_ {
            base: strings(&["run", "--ops", "6", "--out", &at("run-out.json")]),
            flags: run_flags,
        },
        Command_ {
            base: strings(&[
                "explore",
                "--cases",
                "2",
                "--max-shrink-iters",
                "3",
                "--ops",
                "6",
                "--dir",
                &at("explored"),
            ]),
            flags: explore,
        },
        Command_ {
            base: strings(&["check", &at("case.json")]),
            flags: vec![
                ("--timeout", check_seconds()),
                (
                    "--guarantees",
                    words(&["all", "linearizable,convergence", "x", ""]),
                ),
                ("--format", words(&["json", "edn", "x"])),
                ("--model", words(&["kv", "register", "set", "x"])),
                ("--initial", words(&["0", "x", ""])),
            ],
        },
        Command_ {
            base: strings(&[
                "deep",
                "--seed",
                "1",
                "--seeds",
                "1",
                "--cases",
                "2",
                "--max-shrink-iters",
                "2",
                "--threads",
                "1",
                "--only",
                "quorum-nofaults-base-1",
                "--artifacts",
                &at("artifacts"),
            ]),
            flags: vec![
                ("--seed", count()),
                ("--seeds", words(&["0", "1", "10001", "x"])),
                ("--cases", count()),
                ("--max-shrink-iters", count()),
                ("--threads", words(&["0", "1", "1025", "x"])),
                ("--shard", words(&["1/1", "2/1", "0/3", "1/0", "x"])),
                ("--only", words(&["quorum-nofaults-base-1", "nothing"])),
            ],
        },
        Command_ {
            base: strings(&[
                "canaries",
                "--bug",
                "ack-early",
                "--search-seeds",
                "1",
                "--cases",
                "2",
                "--max-shrink-iters",
                "2",
                "--clean-cases",
                "2",
                "--threads",
                "1",
                "--out",
                &at("canaries.md"),
                "--cases-dir",
                &at("canary-cases"),
            ]),
            flags: vec![
                ("--search-seeds", words(&["0", "1", "10001", "x"])),
                ("--cases", count()),
                ("--max-shrink-iters", count()),
                ("--clean-cases", words(&["0", "1", "10000001", "x"])),
                ("--threads", words(&["0", "1", "1025", "x"])),
                ("--bug", words(&["hint-wrong-target", "x"])),
            ],
        },
        Command_ {
            base: strings(&[
                "matrix",
                "--shard",
                "1/200",
                "--cases",
                "2",
                "--shrink-steps",
                "1",
                "--threads",
                "1",
                "--out",
                &at("docs"),
                "--examples",
                &at("examples"),
            ]),
            flags: vec![
                (
                    "--shard",
                    words(&["1/200", "200/200", "0/3", "4/3", "1/0", "x"]),
                ),
                ("--cases", count()),
                ("--ops", count()),
                ("--shrink-steps", count()),
                ("--threads", words(&["0", "1", "1025", "x"])),
                ("--profile", words(&["quick", "x"])),
                ("--system", words(&["leaderless", "leader-follower", "x"])),
            ],
        },
        Command_ {
            base: strings(&["report", &at("case.json"), "--out", &at("reports")]),
            flags: vec![
                ("--timeout", seconds()),
                ("--format", words(&["json", "edn", "x"])),
                ("--link-prefix", words(&["../", ""])),
            ],
        },
        Command_ {
            base: strings(&["replay", &at("case.json")]),
            flags: vec![],
        },
    ]
}

/// One command line: a subcommand and up to three of its flags, each with a drawn value.
fn command_line() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    let dir = fixtures();
    let all: Vec<BoxedStrategy<(Vec<String>, Vec<String>)>> = commands(dir)
        .into_iter()
        .map(|c| {
            let base = c.base.clone();
            // A refusal names a flag, or the file it could not read as the flags say.
            let base_flags: Vec<String> = base
                .iter()
                .filter(|a| a.starts_with("--") || a.ends_with(".json"))
                .cloned()
                .collect();
            if c.flags.is_empty() {
                return Just((base, base_flags)).boxed();
            }
            let picks: Vec<BoxedStrategy<(String, String)>> = c
                .flags
                .into_iter()
                .map(|(name, values)| values.prop_map(move |v| (name.to_string(), v)).boxed())
                .collect();
            proptest::collection::vec(proptest::strategy::Union::new(picks), 0..4)
                .prop_map(move |pairs| {
                    let mut args = base.clone();
                    let mut names = base_flags.clone();
                    for (n, v) in pairs {
                        args.push(n.clone());
                        args.push(v);
                        names.push(n);
                    }
                    (args, names)
                })
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(all)
}

/// Every leaf of a JSON document, as a JSON pointer.
fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            out.push(at.clone());
            for (k, v) in m {
                leaves(v, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            out.push(at.clone());
            for (i, v) in a.iter().enumerate() {
                leaves(v, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

/// What a mutation does to the value at a pointer.
#[derive(Clone, Debug)]
enum Mutation {
    /// Put another value there.
    Set(serde_json::Value),
    /// Repeat the list's first entry this many times (past a limit, when large).
    Repeat(usize),
    /// Add a field no scenario has.
    Unknown,
    /// Take the field out.
    Remove,
    /// Give the object's first key a second time (done on the text).
    Duplicate,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => select(vec![
            serde_json::json!(0),
            serde_json::json!(3),
            serde_json::json!(u64::MAX),
            serde_json::json!(u32::MAX),
            serde_json::json!(65_535),
            serde_json::json!(-1),
            serde_json::json!(i64::MIN),
            serde_json::json!(1e300),
            serde_json::json!("x"),
            serde_json::json!(null),
            serde_json::json!([]),
            serde_json::json!({}),
        ])
        .prop_map(Mutation::Set),
        1 => select(vec![2usize, 1001, 1025, 100_001]).prop_map(Mutation::Repeat),
        1 => Just(Mutation::Unknown),
        1 => Just(Mutation::Remove),
        1 => Just(Mutation::Duplicate),
    ]
}

/// Applies `m` at `pointer`; returns the document's text.
fn mutate(doc: &mut serde_json::Value, pointer: &str, m: &Mutation) -> String {
    let Some(slot) = doc.pointer_mut(pointer) else {
        return doc.to_string();
    };
    match m {
        Mutation::Set(v) => *slot = v.clone(),
        Mutation::Repeat(n) => {
            if let Some(first) = slot.as_array().and_then(|a| a.first()).cloned() {
                *slot = serde_json::Value::Array(vec![first; *n]);
            }
        }
        Mutation::Unknown => {
            if let Some(o) = slot.as_object_mut() {
                o.insert("surplus".into(), 1.into());
            }
        }
        Mutation::Remove => {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", ""));
            if let Some(o) = doc.pointer_mut(parent).and_then(|p| p.as_object_mut()) {
                o.shift_remove(key);
            }
        }
        Mutation::Duplicate => {
            if let Some((k, v)) = slot.as_object().and_then(|o| o.iter().next()) {
                let dup = format!("{}:{},", serde_json::Value::from(k.as_str()), v);
                let text = slot.to_string();
                *slot = serde_json::Value::String(format!("\u{0}{}", &text[1..]));
                let marker = serde_json::Value::String(format!("\u{0}{}", &text[1..])).to_string();
                return doc
                    .to_string()
                    .replacen(&marker, &format!("{{{dup}{}", &text[1..]), 1);
            }
        }
    }
    doc.to_string()
}

#[test]
fn a_negative_value_written_and_read_back_is_not_an_overflow() {
    // Found by the fuzz below: a read of -1 overflowed the message tag's arithmetic, which
    // panicked wherever overflow checks are on (tests, CI's build).
    let cwd = fixtures();
    let mut doc = small_scenario();
    doc["scenario"]["keys"] = 1.into();
    let mut value = 0;
    for plan in doc["scenario"]["clients"].as_array_mut().unwrap() {
        for op in plan["ops"].as_array_mut().unwrap() {
            op["key"] = 0.into();
            if op["kind"] == "put" {
                value -= 1;
                op["value"] = value.into();
            }
        }
    }
    assert!(value < 0, "the scenario writes");
    let file = cwd.join("negative.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let args = strings(&[
        "run",
        "--scenario",
        &file.display().to_string(),
        "--out",
        &cwd.join("negative-out.json").display().to_string(),
    ]);
    let out = run(cwd, &args);
    ended_well(&out, &[], "negative values");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: fuzz_cases(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_subcommand_ends_well_whatever_its_flags((args, names) in command_line()) {
        let cwd = fixtures();
        let out = run(cwd, &args);
        let names: Vec<String> = names.iter().flat_map(|n| spellings(n)).collect();
        ended_well(&out, &names, &format!("{args:?}"));
    }

    #[test]
    fn a_scenario_file_runs_or_is_refused_naming_the_field(
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), mutation()), 1..3)
    ) {
        let cwd = fixtures();
        let mut doc = small_scenario();
        let mut text = doc.to_string();
        let mut fields = Vec::new();
        for (index, m) in &picks {
            let mut paths = Vec::new();
            leaves(&doc, String::new(), &mut paths);
            let pointer = index.get(&paths).clone();
            text = mutate(&mut doc, &pointer, m);
            if matches!(m, Mutation::Duplicate) {
                // The document now holds a marker only the text resolves: stop here.
                break;
            }
            // The fields on the way to the value changed: the scenario itself only when the
            // change was to it or to the whole file.
            if pointer.is_empty() || pointer == "/scenario" {
                fields.push("scenario".into());
            }
            fields.extend(
                pointer
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != "scenario" && s.parse::<usize>().is_err())
                    .map(String::from),
            );
        }
        // Or the field added, or the key given twice (the message names it).
        fields.extend(["surplus", "duplicate key", "duplicate field"].map(String::from));
        let file = cwd.join(format!("fuzz-{}.json", std::process::id()));
        std::fs::write(&file, &text).unwrap();
        let args = strings(&["run", "--scenario", &file.display().to_string(), "--out", &cwd.join("fuzz-out.json").display().to_string()]);
        let out = run(cwd, &args);
        ended_well(&out, &fields, &text);
    }
}
