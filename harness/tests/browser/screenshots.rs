//! The README's screenshots, docs/img/case-report.png and docs/img/consistency-matrix.png,
//! made again from committed files: a committed matrix case and docs/consistency-matrix.json,
//! each rendered by this build. Run on purpose only, by `ci/screenshots`; look at the two
//! images before committing them.
use std::path::{Path, PathBuf};

use crate::chromium::{chromium, repo};
use crate::{committed_cases, quorumlab, report, scratch};

/// The case to show: the first committed leaderless case with a partition whose report has it
/// all on one screen: the linearizability witness with its longest prefix, the partition as a
/// band over the lanes, the store's sentence naming it and the replicas a read asked, and the
/// message diagram.
fn showcase(dir: &Path) -> (PathBuf, PathBuf) {
    for case in committed_cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&case).unwrap();
        if !name.starts_with("rf")
            || !name.contains("-partition-")
            || !text.contains(r#""witnesses": {"linearizable":{"#)
            || !text.contains(r#""prefix":[{"#)
            || !text.contains(r#""events""#)
        {
            continue;
        }
        report(&[&case], dir);
        let page = dir.join(name.replace(".json", ".html"));
        let html = std::fs::read_to_string(&page).unwrap();
        let why = html
            .split(r#"<p id="witness-why">"#)
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .unwrap_or("");
        if why.contains("during partition") && why.contains(" asked only ") {
            return (case, page);
        }
    }
    panic!("no committed case shows a partition in the store's sentence");
}

#[test]
#[ignore = "writes docs/img/*.png; ci/screenshots runs it"]
fn readme_screenshots() {
    let browser = chromium().expect("a browser to take the screenshots with");
    let dir = scratch("screenshots");
    let img = repo().canonicalize().unwrap().join("docs/img");

    let (case, page) = showcase(&dir);
    // #focus opens zoomed to the witness; the window is tall enough to reach the diagram.
    let mut p = browser.open(&page, "#focus", 1100, 2440);
    let png = img.join("case-report.png");
    p.screenshot(&png);
    drop(p);
    eprintln!(
        "wrote {} ({} KB) from {}",
        png.display(),
        std::fs::metadata(&png).unwrap().len() / 1024,
        case.display()
    );

    // The matrix page from its newest part down: the leader-follower cells, then the plots;
    // wide enough for every guarantee's column.
    let st = quorumlab()
        .arg("report")
        .arg("--matrix")
        .arg(repo().join("docs/consistency-matrix.json"))
        .arg("--out")
        .arg(dir.join("docs"))
        .output()
        .expect("quorumlab runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut p = browser.open(
        &dir.join("docs/consistency-matrix.html"),
        "#leader-follower",
        1400,
        1330,
    );
    let png = img.join("consistency-matrix.png");
    p.screenshot(&png);
    drop(p);
    eprintln!(
        "wrote {} ({} KB) from docs/consistency-matrix.json",
        png.display(),
        std::fs::metadata(&png).unwrap().len() / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
}
