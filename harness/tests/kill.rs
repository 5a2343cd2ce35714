//! Killing `explore` or `canaries` with SIGKILL at any moment leaves every file saved before
//! whole and readable: writes go to a temporary file that only takes the final name once
//! complete. The kill points are random but seeded, so a failure replays.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quorumlab"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quorumlab-kill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every file in `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Spawns the command, kills it with SIGKILL after `after`, and waits for it.
fn kill_after(mut cmd: Command, after: Duration) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    // `Child::kill` sends SIGKILL on Unix; the child may have finished already.
    let _ = child.kill();
    child.wait().unwrap();
}

fn explore(dir: &Path, seed: u64) -> Command {
    let mut c = bin();
    c.args([
        "explore",
        "--read",
        "one",
        "--write",
        "one",
        "--faults",
        "partition",
        "--cases",
        "20",
        "--max-shrink-iters",
        "100",
        "--seed",
    ])
    .arg(seed.to_string())
    .arg("--dir")
    .arg(dir);
    c
}

#[test]
fn killing_explore_leaves_saved_cases_whole() {
    let dir = scratch("explore");
    // Two cases saved by runs that finished.
    for seed in [1, 2] {
        let out = explore(&dir, seed).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
    }
    let before = snapshot(&dir);
    assert_eq!(before.len(), 4, "two cases and their reports");
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for round in 0..5 {
        let ms = 20 + rng.next_u64() % 3000;
        kill_after(explore(&dir, 3 + round), Duration::from_millis(ms));
        let now = snapshot(&dir);
        for (path, bytes) in &before {
            let kept = now.iter().find(|(p, _)| p == path);
            assert_eq!(
                kept.map(|(_, b)| b),
                Some(bytes),
                "round {round}, killed after {ms} ms: {} changed",
                path.display()
            );
        }
        // Whatever else is there is a whole case file or an unfinished temporary file that
        // no reader mistakes for one.
        for (path, bytes) in &now {
            let name = path.file_name().unwrap().to_string_lossy();
            if name.ends_with(".json") {
                let text = String::from_utf8(bytes.clone()).unwrap();
                quorumlab_harness::scenario::Scenario::from_json(&text)
                    .unwrap_or_else(|e| panic!("round {round}, killed after {ms} ms: {name}: {e}"));
            } else if name.ends_with(".html") {
                let text = String::from_utf8_lossy(bytes);
                assert!(
                    text.starts_with("<!DOCTYPE html>") && text.trim_end().ends_with("</html>"),
                    "round {round}, killed after {ms} ms: {name} is not a whole report"
                );
            } else {
                assert!(name.starts_with('.') && name.ends_with(".tmp"), "{name}");
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn killing_canaries_leaves_the_report_whole() {
    let dir = scratch("canaries");
    let report = dir.join("canaries.md");
    let canaries = |out: &Path| {
        let mut c = bin();
        c.args([
            "canaries",
            "--bug",
            "ack-early",
            "--search-seeds",
            "2",
            "--cases",
            "50",
            "--max-shrink-iters",
            "100",
            "--clean-cases",
            "20",
            "--threads",
            "1",
            "--out",
        ])
        .arg(out)
        // Saved cases go to the scratch directory, not into the source tree.
        .arg("--cases-dir")
        .arg(out.with_file_name("cases"));
        c
    };
    let out = canaries(&report).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = std::fs::read_to_string(&report).unwrap();
    assert!(first.lines().count() > 3, "{first}");
    let heading = first.lines().next().unwrap().to_string();
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    for round in 0..4 {
        let ms = 20 + rng.next_u64() % 4000;
        kill_after(canaries(&report), Duration::from_millis(ms));
        // Either the report as it was or a whole new one (wall times differ between runs).
        let now = std::fs::read_to_string(&report).unwrap();
        assert!(
            now == first
                || (now.starts_with(&heading)
                    && now.ends_with('\n')
                    && now.lines().count() == first.lines().count()),
            "round {round}, killed after {ms} ms: the report is torn:\n{now}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_write_cut_off_midway_leaves_the_previous_file() {
    // A file size limit kills the process (SIGXFSZ) in the middle of writing a history larger
    // than the limit: a crash at exactly the worst moment, every time.
    let dir = scratch("cut-off");
    let out = dir.join("run.json");
    let small = bin()
        .args(["run", "--ops", "6", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(matches!(small.status.code(), Some(0 | 1)), "{small:?}");
    let before = std::fs::read(&out).unwrap();
    // Under the limit below (100 blocks: 50 KiB where a block is 512 bytes), events included.
    assert!(before.len() < 50_000, "{} bytes", before.len());
    let cut = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 100 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_quorumlab"))
        .args(["run", "--ops", "300", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        !matches!(cut.status.code(), Some(0 | 1)),
        "the write was not cut off: {cut:?}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the previous history was torn"
    );
    std::fs::remove_dir_all(&dir).ok();
}
