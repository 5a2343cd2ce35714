//! What a reader follows resolves: every relative link in the README and docs/ names a file in
//! the repository, and every saved case under histories/ has its HTML report beside it.
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Markdown files a reader opens: README.md, BENCHMARKS.md and docs/*.md.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![repo().join("README.md"), repo().join("BENCHMARKS.md")];
    for e in std::fs::read_dir(repo().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The targets of the inline links `[text](target)` in `text`, without a `#fragment`; links
/// to other sites and to anchors in the same page are left out.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split([')', ' ']).next())
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.contains("://"))
        .filter(|l| !l.starts_with("mailto:"))
        .map(|l| l.split('#').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut broken = Vec::new();
    let mut seen = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        for link in relative_links(&text) {
            seen += 1;
            if !dir.join(&link).exists() {
                broken.push(format!("{}: {link}", doc.display()));
            }
        }
    }
    assert!(seen > 100, "links found: {seen}");
    assert!(
        broken.is_empty(),
        "links that resolve to nothing:\n{}",
        broken.join("\n")
    );
}

fn cases(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            cases(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

#[test]
fn every_saved_case_has_its_report_beside_it() {
    let mut found = Vec::new();
    cases(&repo().join("histories"), &mut found);
    assert!(found.len() > 100, "saved cases: {}", found.len());
    let missing: Vec<String> = found
        .iter()
        .filter(|c| !c.with_extension("html").is_file())
        .map(|c| c.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "cases without a report:\n{}",
        missing.join("\n")
    );
}

#[test]
fn links_are_read_as_a_reader_follows_them() {
    assert_eq!(
        relative_links(
            "see [a](docs/a.md#x), [b](https://x.org/b) and [c](#top), [d](d.png \"t\")"
        ),
        vec!["docs/a.md", "d.png"]
    );
}
