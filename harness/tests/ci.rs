//! The CI setup: the workflow parses and calls the ci/ scripts, ci/deep's shards split its case
//! list exactly, a planted failing history fails the replay step with its replay command, and a
//! stale committed matrix fails the matrix step with the command that regenerates it.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use quorumlab::check::Guarantee;
use quorumlab_harness::case::Case;
use quorumlab_harness::deep::{base_seed_from_commit, case_list, shard};
use quorumlab_harness::explore::generate;
use quorumlab_harness::scenario::NetworkConfig;
use quorumlab_harness::strategy::ScenarioShape;
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const BIN: &str = env!("CARGO_BIN_EXE_quorumlab");

/// A fresh scratch directory, unique within this process.
fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("quorumlab-ci-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---- the workflow -------------------------------------------------------------------------

fn workflow() -> Yaml {
    let path = repo().join("ci/github/workflows/ci.yml");
    let src = std::fs::read_to_string(&path).expect("reading the workflow");
    let mut docs = YamlLoader::load_from_str(&src)
        .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

/// Every `run:` script of a job, joined.
fn runs(job: &Yaml) -> Vec<String> {
    job["steps"]
        .as_vec()
        .expect("a job has steps")
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_string))
        .collect()
}

fn uploads_on_failure(job: &Yaml) -> bool {
    job["steps"].as_vec().expect("steps").iter().any(|s| {
        s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
            && s["if"].as_str() == Some("failure()")
    })
}

#[test]
fn workflow_is_valid_and_its_jobs_call_ci_test_and_ci_deep() {
    let wf = workflow();
    let on = &wf["on"];
    assert!(!on["push"].is_badvalue(), "runs on every push");
    let cron = on["schedule"][0]["cron"]
        .as_str()
        .expect("a scheduled trigger with a cron line");
    assert_eq!(cron.split_whitespace().count(), 5, "cron {cron:?}");

    let jobs = wf["jobs"].as_hash().expect("jobs");
    for (name, job) in jobs {
        let name = name.as_str().unwrap_or("?");
        assert!(job["runs-on"].as_str().is_some(), "job {name} has runs-on");
        for step in job["steps"].as_vec().expect("steps") {
            assert!(
                step["uses"].as_str().is_some() || step["run"].as_str().is_some(),
                "job {name}: every step uses an action or runs a command: {step:?}"
            );
        }
    }

    let test = &wf["jobs"]["test"];
    assert!(
        runs(test)
            .iter()
            .any(|r| r.trim_start().starts_with("ci/test")),
        "the test job runs ci/test: {:?}",
        runs(test)
    );
    assert!(
        test["if"].as_str().is_some_and(|c| c.contains("push")),
        "the test job runs on push"
    );
    assert!(uploads_on_failure(test), "the test job uploads failures");

    let deep = &wf["jobs"]["deep"];
    assert!(
        deep["if"].as_str().is_some_and(|c| c.contains("schedule")),
        "the deep job runs on the schedule"
    );
    let shards: Vec<i64> = deep["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("a matrix of shards")
        .iter()
        .map(|s| s.as_i64().expect("shard numbers"))
        .collect();
    let n = shards.len() as i64;
    assert!(n >= 2, "at least two shards");
    assert_eq!(shards, (1..=n).collect::<Vec<_>>(), "shards 1..=N");
    let call = format!("ci/deep --shard ${{{{ matrix.shard }}}}/{n}");
    assert!(
        runs(deep).iter().any(|r| r.contains(&call)),
        "the deep job runs {call:?}: {:?}",
        runs(deep)
    );
    assert!(uploads_on_failure(deep), "the deep job uploads failures");
}

#[test]
fn ci_run_calls_ci_test_which_calls_every_step() {
    let run = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    assert!(run.lines().any(|l| l.trim() == "exec ci/test"), "{run}");
    let test = std::fs::read_to_string(repo().join("ci/test")).expect("ci/test");
    assert!(
        test.contains("set -euo pipefail"),
        "ci/test stops at the first failure"
    );
    for step in [
        "cargo fmt --all --check",
        "-D warnings",
        "cargo nextest run --workspace --profile ci",
        "cargo test --workspace --quiet",
        "ci/replay-histories histories",
        "ci/check-matrix",
    ] {
        let line = test
            .lines()
            .find(|l| l.trim_start().starts_with(step) || l.contains(step))
            .unwrap_or_else(|| panic!("ci/test runs {step:?}"));
        assert!(!line.contains("|| true"), "ci/test ignores {step:?}");
    }
}

#[test]
fn nextest_ci_profile_writes_junit() {
    let src = std::fs::read_to_string(repo().join(".config/nextest.toml")).expect("nextest.toml");
    assert!(src.contains("[profile.ci.junit]"), "{src}");
    assert!(src.contains("path = \"junit.xml\""), "{src}");
}

// ---- the browser for the report tests --------------------------------------------------------

/// `ci/setup-browser --find` with `PATH` and `QUORUMLAB_CHROMIUM` as given.
fn find_browser(path: &Path, chromium: Option<&Path>) -> Output {
    // bash by its path: the PATH given holds only the stand-in browsers.
    let mut cmd = Command::new("/bin/bash");
    cmd.arg(repo().join("ci/setup-browser"))
        .arg("--find")
        .env("PATH", path);
    match chromium {
        Some(c) => cmd.env("QUORUMLAB_CHROMIUM", c),
        None => cmd.env_remove("QUORUMLAB_CHROMIUM"),
    };
    cmd.output().expect("running ci/setup-browser")
}

/// A stand-in browser: a script named `name` in `dir` that answers `--version` with `status`.
fn fake_browser(dir: &Path, name: &str, status: i32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\necho Fake 1.0\nexit {status}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn setup_browser_finds_what_the_tests_use_and_says_why_when_it_cannot() {
    let dir = scratch("browser-path");
    // On PATH: chromium first, then chromium-browser; a browser that cannot run is passed over.
    fake_browser(&dir, "chromium-browser", 0);
    let out = find_browser(&dir, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.lines().last(),
        Some(&*dir.join("chromium-browser").to_string_lossy())
    );
    fake_browser(&dir, "chromium", 1);
    let out = find_browser(&dir, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("chromium-browser\n"));
    // google-chrome is not looked for: the tests would not use it.
    let other = scratch("browser-chrome");
    fake_browser(&other, "google-chrome", 0);
    let out = find_browser(&other, None);
    assert_eq!(out.status.code(), Some(3), "none found: {}", text(&out));
    assert!(text(&out).contains("no chromium"), "{}", text(&out));
    // QUORUMLAB_CHROMIUM, when set, is the only candidate, and one that does not run is an
    // error, not a skip.
    let mine = fake_browser(&other, "my-browser", 0);
    let out = find_browser(&dir, Some(&mine));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("my-browser\n"));
    let out = find_browser(&dir, Some(&other.join("missing")));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not run"), "{}", text(&out));
}

#[test]
fn ci_test_hands_the_browser_to_the_tests_and_never_skips_them_quietly() {
    let test = std::fs::read_to_string(repo().join("ci/test")).expect("ci/test");
    assert!(
        test.contains("export QUORUMLAB_CHROMIUM"),
        "ci/test passes the browser it found to the tests"
    );
    assert!(
        test.contains("-E 'not binary(browser)'"),
        "without a browser the browser tests are left out, not run to a pass"
    );
    assert!(
        test.matches("SKIPPED: the browser tests").count() >= 2,
        "a skip is said before the tests and again at the end"
    );
    assert!(
        test.contains("wait \"$browser_pid\" || browser_rc=$?"),
        "ci/test looks at ci/setup-browser's exit status"
    );
}

// ---- ci/deep's case list ----------------------------------------------------------------------

#[test]
fn deep_shards_cover_exactly_the_unsharded_cases() {
    let all = case_list(42, 3);
    let names: BTreeSet<_> = all.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names.len(), all.len(), "case names are unique");
    for n in 1..=7 {
        let mut seen = Vec::new();
        for i in 1..=n {
            let part = shard(&all, Some((i, n)));
            assert!(part.windows(2).all(|w| w[0].index < w[1].index));
            seen.extend(part.into_iter().map(|c| (c.index, c.name, c.seed)));
        }
        seen.sort();
        let whole: Vec<_> = all
            .iter()
            .map(|c| (c.index, c.name.clone(), c.seed))
            .collect();
        assert_eq!(seen, whole, "{n} shards");
    }
}

/// `ci/deep --list` through the script and the binary, as CI calls it.
fn ci_deep_list(commit: Option<&str>, shard: Option<&str>) -> Vec<String> {
    let artifacts = scratch("deep-artifacts");
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("ci/deep"))
        .arg("--list")
        .env("QUORUMLAB_BIN", BIN)
        .env("CI_ARTIFACTS", &artifacts)
        .env_remove("QUORUMLAB_DEEP_SEED");
    match commit {
        Some(c) => cmd.env("QUORUMLAB_DEEP_COMMIT", c),
        None => cmd.env_remove("QUORUMLAB_DEEP_COMMIT"),
    };
    if let Some(s) = shard {
        cmd.args(["--shard", s]);
    }
    let out = cmd.output().expect("running ci/deep");
    assert!(out.status.success(), "ci/deep --list: {}", text(&out));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn ci_deep_shard_1_of_2_and_2_of_2_together_are_the_unsharded_run() {
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let whole = ci_deep_list(Some(commit), None);
    let one = ci_deep_list(Some(commit), Some("1/2"));
    let two = ci_deep_list(Some(commit), Some("2/2"));
    assert!(
        whole.len() >= 20,
        "a deep run has many cases: {}",
        whole.len()
    );
    assert!(!one.is_empty() && !two.is_empty());
    let a: BTreeSet<_> = one.iter().collect();
    let b: BTreeSet<_> = two.iter().collect();
    assert!(a.is_disjoint(&b), "the shards overlap");
    let mut joined: Vec<_> = one.iter().chain(&two).cloned().collect();
    joined.sort_by_key(|l| l.split('\t').next().unwrap().parse::<usize>().unwrap());
    assert_eq!(joined, whole);

    // The listed seeds are the library's for this commit.
    let expected: Vec<String> = case_list(base_seed_from_commit(commit).unwrap(), 4)
        .iter()
        .map(|c| format!("{}\t{}\t{}", c.index, c.name, c.seed))
        .collect();
    assert_eq!(whole, expected, "ci/deep's default is 4 seeds per case");
}

#[test]
fn ci_deep_seeds_come_from_the_commit() {
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo())
        .output();
    let Some(head) = head.ok().filter(|o| o.status.success()) else {
        eprintln!("skipped: not a git checkout, so there is no commit to seed from");
        return;
    };
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(
        ci_deep_list(None, None),
        ci_deep_list(Some(head.trim()), None)
    );
    let other = ci_deep_list(Some("fedcba9876543210"), None);
    assert_ne!(
        ci_deep_list(None, None),
        other,
        "another commit searches other seeds"
    );
}

#[test]
fn commit_ids_parse_into_base_seeds_and_junk_is_refused() {
    assert_eq!(
        base_seed_from_commit("00000000000000ff99").unwrap(),
        0xff,
        "the first 16 hex digits"
    );
    assert_eq!(base_seed_from_commit("abcdef1\n").unwrap(), 0xabcdef1);
    for junk in ["", "abc", "not-a-commit", "12345g7"] {
        let err = base_seed_from_commit(junk).unwrap_err().to_string();
        assert!(err.contains("commit"), "{junk:?}: {err}");
    }
    let out = Command::new(BIN)
        .args(["deep", "--commit", "xyz", "--list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a git commit id"), "{}", text(&out));
}

// ---- the replay step ------------------------------------------------------------------------

/// A small saved case: 2 clients, 6 ops, no faults.
fn saved_case(path: &Path) -> (String, u64) {
    let shape = ScenarioShape {
        system: quorumlab_harness::scenario::SystemConfig::Leaderless(Default::default()),
        network: NetworkConfig::default(),
        clients: 2,
        ops: 6,
        keys: 1,
        faults: vec![],
        max_faults: 0,
        think_ms: 10,
        get_percent: 50,
        put_percent: 40,
        cas_percent: 0,
        sticky: false,
        settle_ms: 500,
        fault_window_ms: None,
    };
    let scenario = generate(&shape, 4242);
    let case = Case::run(&scenario, &[Guarantee::Linearizable]).expect("a small run finishes");
    case.save(path).expect("saving the case");
    (case.to_file_string(), scenario.seed)
}

fn replay_histories(dir: &Path) -> Output {
    Command::new("bash")
        .arg(repo().join("ci/replay-histories"))
        .arg(dir)
        .env("QUORUMLAB_BIN", BIN)
        .output()
        .expect("running ci/replay-histories")
}

#[test]
fn replay_step_passes_when_every_case_reproduces() {
    let dir = scratch("replay-good");
    saved_case(&dir.join("good.json"));
    saved_case(&dir.join("matrix/also-good.json"));
    let out = replay_histories(&dir);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let last = all.lines().last().unwrap_or("");
    assert!(
        last.contains("2 files") && last.contains("all reproduced"),
        "{all}"
    );
}

#[test]
fn a_planted_failing_history_fails_the_replay_step_with_its_seed_and_replay_command() {
    let dir = scratch("replay-planted");
    let (good, seed) = saved_case(&dir.join("good.json"));
    // Plant a case whose saved verdict is not what the scenario gives.
    let held = "\"verdict\": {\"linearizable\":true}";
    let flipped = "\"verdict\": {\"linearizable\":false}";
    assert!(good.contains(held), "the saved verdict: {good}");
    let planted = dir.join("matrix/planted.json");
    std::fs::create_dir_all(dir.join("matrix")).unwrap();
    std::fs::write(&planted, good.replacen(held, flipped, 1)).unwrap();
    // And a file that is no case at all.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"format\": \"quorumlab-history/1\"").unwrap();

    let out = replay_histories(&dir);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!("FAIL {} (seed {seed},", planted.display())),
        "names the planted file and its seed: {all}"
    );
    assert!(
        all.contains(&format!(
            "replay: cargo run --release -- replay {}",
            planted.display()
        )),
        "prints the replay command: {all}"
    );
    assert!(all.contains("verdict changed"), "{all}");
    assert!(
        all.contains(&format!("FAIL {} (seed unknown", junk.display())),
        "{all}"
    );
    let good_path = dir.join("good.json");
    assert!(
        !all.contains(&format!("FAIL {}", good_path.display())),
        "{all}"
    );
    let last = all.lines().last().unwrap_or("");
    assert!(
        last.contains("3 files") && last.contains("1 reproduced, 2 FAILED"),
        "one-line summary last: {all}"
    );
}

#[test]
fn replay_step_refuses_a_missing_directory() {
    let out = replay_histories(Path::new("/nonexistent/histories"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

// ---- the matrix step ------------------------------------------------------------------------

/// A copy of ci/check-matrix in a scratch tree with a committed matrix, and a stand-in binary
/// that writes `fresh` as the regenerated Markdown and answers `matrix check` with
/// `theory_exit`.
fn check_matrix_with(name: &str, fresh: &str) -> Output {
    check_matrix_theory(name, fresh, 0)
}

fn check_matrix_theory(name: &str, fresh: &str, theory_exit: i32) -> Output {
    let root = scratch(name);
    std::fs::create_dir_all(root.join("ci")).unwrap();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::create_dir_all(root.join("histories/matrix")).unwrap();
    std::fs::copy(repo().join("ci/check-matrix"), root.join("ci/check-matrix")).unwrap();
    std::fs::write(root.join("docs/consistency-matrix.md"), "# committed\n").unwrap();
    std::fs::write(root.join("docs/consistency-matrix.json"), "{}\n").unwrap();
    std::fs::write(root.join("histories/matrix/a.json"), "{}\n").unwrap();
    let bin = root.join("fake-quorumlab");
    std::fs::write(
        &bin,
        format!(
            "#!/usr/bin/env bash\nif [[ \"$1 $2\" == \"matrix check\" ]]; then\n\
             [[ \"$4\" == --known && \"$5\" == docs/theory-gaps.txt ]] || exit 9\n\
             echo 'rf3-x linearizable: held, but theory predicts a break'; exit {theory_exit}\nfi\n\
             [[ \"$*\" == \"matrix --profile quick\" ]] || exit 9\n\
             mkdir -p docs histories/matrix\nprintf '%s\\n' '{fresh}' > docs/consistency-matrix.md\n\
             echo '{{}}' > docs/consistency-matrix.json\necho '{{}}' > histories/matrix/a.json\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    Command::new("bash")
        .arg(root.join("ci/check-matrix"))
        .env("QUORUMLAB_BIN", format!("{}", bin.display()))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .inspect(|_| {
            let _ = std::fs::remove_dir_all(&root);
        })
        .expect("running ci/check-matrix")
}

#[test]
fn matrix_step_passes_when_the_committed_matrix_is_current() {
    let out = check_matrix_with("matrix-same", "# committed");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_matrix_that_disagrees_with_theory_fails_even_when_it_matches_the_committed_one() {
    let out = check_matrix_theory("matrix-theory", "# committed", 1);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("rf3-x linearizable"), "{all}");
    assert!(all.contains("disagrees with theory"), "{all}");
}

#[test]
fn a_stale_committed_matrix_fails_with_the_difference_and_the_regenerate_command() {
    let out = check_matrix_with("matrix-stale", "# fresh");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("differs from a fresh run in: docs/consistency-matrix.md"),
        "{all}"
    );
    assert!(
        all.contains("+# fresh") && all.contains("-# committed"),
        "{all}"
    );
    assert!(
        all.contains("regenerate: cargo run --release -- matrix --profile quick"),
        "{all}"
    );
}
