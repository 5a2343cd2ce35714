//! The matrix page, docs/consistency-matrix.html: as committed, its links reach committed case
//! reports; as rendered from a matrix with t-visibility bins, it plots them.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::chromium::{chromium, repo};
use crate::{quorumlab, scratch, screenshot_colours};

/// The files under `dir` (relative to the repository) that git tracks, or `None` where the
/// tree is not a git checkout.
fn tracked(dir: &str) -> Option<BTreeSet<PathBuf>> {
    let out = std::process::Command::new("git")
        .args(["ls-files", "-z", "--", dir])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(
        out.stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect(),
    )
}

#[test]
fn the_committed_matrix_page_links_every_break_to_a_committed_report() {
    let Some(browser) = chromium() else { return };
    let root = repo().canonicalize().unwrap();
    let page = root.join("docs/consistency-matrix.html");
    let mut p = browser.open(&page, "", 1280, 900);
    // Every link as the browser resolves it against the page's own location.
    let links: Vec<String> = serde_json::from_value(p.eval(
        "Array.from(document.querySelectorAll('a[href]')).map(function (a) { return a.href; })",
    ))
    .unwrap();
    let cases = p
        .eval("document.querySelectorAll('a.case').length")
        .as_u64()
        .unwrap();
    assert!(cases > 100, "the breaks link their cases: {cases}");
    let committed = tracked("histories/matrix");
    if committed.is_none() {
        eprintln!("not a git checkout: links are checked against the files present");
    }
    let mut reports = BTreeSet::new();
    for l in &links {
        let file = l
            .strip_prefix("file://")
            .unwrap_or_else(|| panic!("{l}: not a link to a file beside the page"));
        let file = Path::new(file.split('#').next().unwrap());
        let rel = file
            .strip_prefix(&root)
            .unwrap_or_else(|_| panic!("{l} leaves the repository"));
        assert!(
            rel.starts_with("histories/matrix") && rel.extension().is_some_and(|e| e == "html"),
            "{l}: not a case report under histories/matrix"
        );
        assert!(file.is_file(), "{l} does not resolve to a file");
        if let Some(c) = &committed {
            assert!(c.contains(rel), "{} is not committed", rel.display());
        }
        reports.insert(rel.to_path_buf());
    }
    // Each report is of a committed case beside it.
    for r in &reports {
        let case = repo().join(r).with_extension("json");
        assert!(case.is_file(), "{} has no case beside it", r.display());
    }
    let dom: String = serde_json::from_value(p.eval("document.documentElement.outerHTML")).unwrap();
    assert!(dom.contains("td class=\"cell breaks"));
    assert!(dom.contains("td class=\"cell holds"));
    assert!(dom.contains("id=\"pbs-plot\"") && dom.contains("id=\"stale-plot\""));
    // The second system's cells sit in their own table, under their own headings.
    assert!(
        dom.contains("<h2>Leader-follower</h2>"),
        "the leader-follower group"
    );
    assert!(dom.contains("<th>replication</th><th>reads</th><th>fencing</th>"));
    drop(p);
    let dir = scratch("matrix");
    let colours = screenshot_colours(&browser, &page, &dir.join("matrix.png"));
    assert!(
        colours > 50,
        "the screenshot is not blank: {colours} colours"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_matrix_page_plots_t_visibility_for_the_probe_cells() {
    let Some(browser) = chromium() else { return };
    // The committed matrix with t-visibility bins given to its probe cells (a matrix of this
    // build measures them; the committed one may predate them).
    let dir = scratch("tvis");
    let mut m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/consistency-matrix.json")).unwrap(),
    )
    .unwrap();
    let probes = m["probes"].as_array_mut().unwrap();
    let n = probes.len();
    for (i, p) in probes.iter_mut().enumerate() {
        p["tvisibility"] = serde_json::json!([
            {"from_ms": 0.0, "to_ms": 2.0, "reads": 300, "stale": 30 + i},
            {"from_ms": 2.0, "to_ms": 5.0, "reads": 40, "stale": 2},
            {"from_ms": 5.0, "to_ms": null, "reads": 80, "stale": 0}
        ]);
    }
    let file = dir.join("consistency-matrix.json");
    std::fs::write(&file, m.to_string()).unwrap();
    let st = quorumlab()
        .arg("report")
        .arg("--matrix")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("docs"))
        .output()
        .expect("quorumlab runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let dom = browser.dom(&dir.join("docs/consistency-matrix.html"), "");
    let plot = dom
        .split("id=\"tvis-plot\"")
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .expect("the t-visibility plot is on the page");
    assert_eq!(
        plot.matches("<polyline").count(),
        n,
        "a line per probe cell"
    );
    assert_eq!(plot.matches("<circle").count(), 3 * n, "a point per bin");
    let _ = std::fs::remove_dir_all(&dir);
}
