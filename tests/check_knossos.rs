//! Every Knossos cas-register history in `../shared/corpus/knossos` (raw Jepsen EDN, checked
//! by Knossos with the model `(cas-register 0)`) gets Knossos' verdict: `good/` linearizable,
//! `bad/` not. Skipped, saying so, where the corpus is absent.
use std::path::{Path, PathBuf};

use quorumlab::check::linearizable::{check, CheckOptions};
use quorumlab::history::{edn, Value};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "edn"))
        .collect();
    files.sort();
    files
}

#[test]
fn knossos_corpus_verdicts_match() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/knossos");
    if !dir.is_dir() {
        println!("skipped: corpus directory {} is absent", dir.display());
        return;
    }
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for (sub, expected) in [("good", true), ("bad", false)] {
        let list = files(&dir.join(sub));
        assert!(!list.is_empty(), "no .edn files in {}/{sub}", dir.display());
        for file in list {
            let text = std::fs::read_to_string(&file).unwrap();
            let history = edn::parse(&text, Some(Value::Int(0)))
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let verdict = check(&history, &CheckOptions::default()).verdict;
            if verdict.linearizable() != Some(expected) {
                mismatches.push(format!(
                    "{}: expected {expected}, got {verdict:?}",
                    file.display()
                ));
            }
            checked += 1;
        }
    }
    println!("checked {checked} Knossos histories");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
