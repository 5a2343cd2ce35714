//! Saved cases are never lost: each is named after everything that makes it, a different case
//! never replaces an existing file, a found counterexample survives a failed save, and killing
//! the process at any moment leaves every saved file whole.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quorumlab"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quorumlab-saved-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

/// R = W = 1 under partitions: found within a few cases.
fn explore(dir: &Path, extra: &[&str]) -> Output {
    bin()
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
            "--max-shrink-iters",
            "50",
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn cases_that_differ_only_in_read_repair_are_saved_side_by_side() {
    let dir = scratch("rr");
    let a = explore(&dir, &["--read-repair", "none"]);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let b = explore(&dir, &["--read-repair", "blocking"]);
    assert_eq!(b.status.code(), Some(1), "{}", text(&b));
    let files = json_files(&dir);
    assert_eq!(files.len(), 2, "one case replaced the other: {files:?}");
    let contents: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(contents
        .iter()
        .any(|c| c.contains("\"read_repair\":\"none\"")));
    assert!(contents
        .iter()
        .any(|c| c.contains("\"read_repair\":\"blocking\"")));

    // The same search again finds the same case: the file is left as it is, not duplicated.
    let before = std::fs::read(&files[0]).unwrap();
    let again = explore(&dir, &["--read-repair", "none"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert_eq!(json_files(&dir), files);
    assert_eq!(std::fs::read(&files[0]).unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_case_file_with_other_content_is_never_replaced() {
    let dir = scratch("clash");
    let first = explore(&dir, &[]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let files = json_files(&dir);
    assert_eq!(files.len(), 1);
    // Someone's edited (or older) file under the very name the next save would take.
    std::fs::write(&files[0], "{\"kept\": true}\n").unwrap();
    let second = explore(&dir, &[]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert_eq!(
        std::fs::read_to_string(&files[0]).unwrap(),
        "{\"kept\": true}\n"
    );
    assert_eq!(json_files(&dir).len(), 2, "the new case went nowhere");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn default_run_outputs_of_different_scenarios_do_not_collide() {
    let cwd = scratch("run-out");
    for rr in ["none", "blocking"] {
        let out = bin()
            .current_dir(&cwd)
            .args(["run", "--ops", "10", "--read-repair", rr])
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{rr}: {}",
            text(&out)
        );
    }
    assert_eq!(json_files(&cwd.join("target/quorumlab")).len(), 2);
    std::fs::remove_dir_all(&cwd).ok();
}

#[test]
fn a_dir_that_is_a_regular_file_is_refused_before_the_search() {
    let d = scratch("dir-file");
    let file = d.join("histories");
    std::fs::write(&file, "not a directory").unwrap();
    let out = explore(&file, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--dir"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "not a directory",
        "the file was touched"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_found_case_survives_a_failed_save() {
    let d = scratch("fallback");
    std::fs::write(d.join("file"), "x").unwrap();
    let tmp = d.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // A directory under a regular file can never be created.
    let out = bin()
        .env("TMPDIR", &tmp)
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
            "--max-shrink-iters",
            "50",
            "--dir",
        ])
        .arg(d.join("file/cases"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let scenario_at = stdout
        .find("scenario (rerun")
        .expect("the scenario printed");
    let saved_at = stdout.find("saved: ").expect("a fallback path printed");
    assert!(scenario_at < saved_at, "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not save"),
        "{}",
        text(&out)
    );
    let saved = json_files(&tmp.join("quorumlab-cases"));
    assert_eq!(saved.len(), 1, "{stdout}");
    let replay = bin().arg("replay").arg(&saved[0]).output().unwrap();
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    std::fs::remove_dir_all(&d).ok();
}
