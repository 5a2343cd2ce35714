//! Killing `explore`, `canaries` or `matrix` with SIGKILL at any moment leaves every file saved
//! before whole and readable: writes go to a temporary file that only takes the final name once
//! complete, and the matrix moves its files into place only once every one is written. The
//! kill points are random but seeded, so a failure replays.
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

/// Every file under `dir`, recursively, with its bytes, paths relative to `dir`.
fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// Makes `dir` hold exactly `files` (paths relative to it).
fn restore(dir: &Path, files: &[(PathBuf, Vec<u8>)]) {
    let _ = std::fs::remove_dir_all(dir);
    for (p, bytes) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// Entries under `dir` whose name starts with a dot: a staging directory, a temporary file.
fn hidden(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with('.') {
                out.push(p.clone());
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn killing_matrix_leaves_every_saved_file_whole() {
    let dir = scratch("matrix");
    let (docs, examples) = (dir.join("docs"), dir.join("histories/matrix"));
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::create_dir_all(&examples).unwrap();
    // A few committed examples, with their reports, and a user's own files beside them.
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../histories/matrix");
    let manifest = std::fs::read_to_string(committed.join("MANIFEST")).unwrap();
    for name in manifest.lines().take(3) {
        std::fs::copy(committed.join(name), examples.join(name)).unwrap();
        let html = Path::new(name).with_extension("html");
        std::fs::copy(committed.join(&html), examples.join(&html)).unwrap();
    }
    std::fs::write(examples.join("rf3-mine.json"), "a user's own file").unwrap();
    std::fs::write(docs.join("notes.md"), "a user's notes").unwrap();
    // One shard of the matrix: shrinking more finds the same cases smaller, so the second
    // run writes other bytes under the same names as the first.
    let matrix = |shrink_steps: &str| {
        let mut c = bin();
        c.current_dir(&dir).args([
            "matrix",
            "--shard",
            "1/60",
            "--cases",
            "4",
            "--shrink-steps",
            shrink_steps,
            "--threads",
            "1",
        ]);
        c
    };
    let out = matrix("1").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let old = snapshot_tree(&dir);
    let started = std::time::Instant::now();
    let out = matrix("8").output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{out:?}");
    let new = snapshot_tree(&dir);
    let replaced = old
        .iter()
        .filter(|(p, b)| new.iter().any(|(q, c)| p == q && b != c))
        .count();
    assert!(replaced >= 4, "the second run replaces the first's files");
    let mut rng = ChaCha8Rng::seed_from_u64(60);
    // Kill moments over the second half of the run and past its end: the files are written
    // in its last part.
    let took_ms = took.as_millis() as u64;
    for round in 0..10 {
        restore(&dir, &old);
        let ms = took_ms / 2 + rng.next_u64() % (took_ms * 3 / 4 + 1);
        kill_after(matrix("8"), Duration::from_millis(ms));
        let now = snapshot_tree(&dir);
        let whole = |version: &[(PathBuf, Vec<u8>)]| {
            version
                .iter()
                .all(|(p, b)| now.iter().any(|(q, c)| p == q && b == c))
        };
        // Every file of the first run is still there as it was, or the second run finished
        // and every file is its; never a mix, a torn file or a missing one.
        assert!(
            whole(&old) || whole(&new),
            "round {round}, killed after {ms} ms of a {took:?} run: files changed: {:?}",
            old.iter()
                .filter(|(p, b)| !now.iter().any(|(q, c)| p == q && b == c))
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        );
        // Anything else is unfinished work in a hidden staging directory or temporary file.
        for (path, _) in &now {
            if old.iter().chain(&new).any(|(p, _)| p == path) {
                continue;
            }
            let hidden = path
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
            assert!(hidden, "round {round}: {} appeared", path.display());
        }
    }
    // A run that finishes clears what killed runs left.
    let out = matrix("8").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(snapshot_tree(&dir), new);
    assert_eq!(hidden(&dir), Vec::<PathBuf>::new());
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
