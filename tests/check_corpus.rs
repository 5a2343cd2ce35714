//! Every history of Porcupine's test corpus (in `../shared/corpus/porcupine`) gets the verdict
//! Porcupine's own tests expect. Skipped, saying so, where the corpus is absent.
use std::path::Path;

use quorumlab::check::linearizable::{check, CheckOptions, Verdict};
use quorumlab::history::History;

#[test]
fn porcupine_corpus_verdicts_match() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/porcupine");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: corpus directory {} is absent", dir.display());
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .json files in {}", dir.display());
    let mut mismatches = Vec::new();
    for file in &files {
        let history = History::from_path(file).unwrap_or_else(|e| panic!("{e}"));
        let expected = history
            .extra
            .get("expected_linearizable")
            .and_then(|v| v.as_bool())
            .unwrap_or_else(|| panic!("{}: no expected_linearizable", file.display()));
        let report = check(&history, &CheckOptions::default());
        if let Verdict::Violation(w) = &report.verdict {
            // The witness names an op of the history and a linearizable prefix of its key.
            assert!(history.ops.iter().any(|o| o.id == w.op && o.key == w.key));
            assert!(!w.sentence.is_empty());
        }
        if report.verdict.linearizable() != Some(expected) {
            mismatches.push(format!(
                "{}: expected {expected}, got {:?}",
                file.display(),
                report.verdict
            ));
        }
    }
    println!("checked {} corpus files", files.len());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
