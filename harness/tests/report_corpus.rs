//! `quorumlab report` on histories it did not write: every Porcupine corpus file
//! (`../shared/corpus/porcupine`, quorumlab JSON) and every Knossos file
//! (`../shared/corpus/knossos`, raw Jepsen EDN) renders, and each page is whole: the data its
//! script draws is there, with one bar per op, in the history's unit of time. Skipped, saying so, where a corpus is absent
//! (the corpora are not part of this repository).
use std::path::{Path, PathBuf};
use std::process::Command;

use quorumlab::history::edn::{self, EdnOptions};
use quorumlab::history::{History, TimeUnit};

fn corpus(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus directory {} is absent", dir.display());
        None
    }
}

/// The files under `dir` (one level of subdirectories too) ending in `.ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
        if e.is_dir() {
            out.extend(files(&e, ext));
        } else if e.extension().is_some_and(|x| x == ext) {
            out.push(e);
        }
    }
    out.sort();
    out
}

/// Renders the reports of `inputs` into a scratch directory with `quorumlab report` and checks
/// each page against its history (read by `read`).
fn renders_every_file(name: &str, inputs: &[PathBuf], read: impl Fn(&Path) -> History) {
    let out = std::env::temp_dir().join(format!("quorumlab-corpus-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // Judging each history is the checker's work, tested elsewhere; a few seconds each is
    // plenty for these, and a history past it still renders (undecided).
    let st = Command::new(env!("CARGO_BIN_EXE_quorumlab"))
        .args(["report", "--timeout", "5", "--out"])
        .arg(&out)
        .args(inputs)
        .output()
        .expect("quorumlab runs");
    assert!(
        st.status.success(),
        "quorumlab report failed ({}): {}",
        st.status,
        String::from_utf8_lossy(&st.stderr)
    );
    for input in inputs {
        let page_path = out.join(
            Path::new(input.file_name().unwrap())
                .with_extension("html")
                .file_name()
                .unwrap(),
        );
        let page = std::fs::read_to_string(&page_path)
            .unwrap_or_else(|e| panic!("{}: no report ({e})", input.display()));
        let history = read(input);
        let data = page
            .split(r#"<script type="application/json" id="report-data">"#)
            .nth(1)
            .and_then(|s| s.split("</script>").next())
            .unwrap_or_else(|| panic!("{}: the page has no data island", input.display()));
        let data: serde_json::Value = serde_json::from_str(data)
            .unwrap_or_else(|e| panic!("{}: the data island is not JSON: {e}", input.display()));
        // Each bar names its op's row; every op has exactly one.
        let mut rows: Vec<u64> = data["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["bars"].as_array().unwrap())
            .map(|b| b[0].as_u64().unwrap())
            .collect();
        rows.sort();
        let want: Vec<u64> = (0..history.ops.len() as u64).collect();
        assert_eq!(rows, want, "{}: one bar per op", input.display());
        assert_eq!(
            data["ops"]["rows"].as_array().unwrap().len(),
            history.ops.len(),
            "{}: one record per op",
            input.display()
        );
        // The page speaks the history's unit: positions for a Jepsen history without `:time`,
        // never milliseconds made of them.
        let summary = page
            .split(r#"<p class="summary">"#)
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .unwrap_or_else(|| panic!("{}: the page has no summary", input.display()));
        if history.time_unit() == TimeUnit::Position {
            assert_eq!(data["unit"], "position", "{}", input.display());
            assert!(
                summary.contains(" · positions ") && !summary.contains(" ms"),
                "{}: {summary}",
                input.display()
            );
        } else {
            assert!(data.get("unit").is_none(), "{}", input.display());
            assert!(summary.contains(" ms"), "{}: {summary}", input.display());
        }
        assert!(
            page.trim_end().ends_with("</html>"),
            "{}: the page is cut short",
            input.display()
        );
    }
    println!("{name}: {} reports, each with one bar per op", inputs.len());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn every_porcupine_corpus_file_renders_one_bar_per_op() {
    let Some(dir) = corpus("porcupine") else {
        return;
    };
    let inputs = files(&dir, "json");
    assert!(!inputs.is_empty(), "no .json files in {}", dir.display());
    renders_every_file("porcupine", &inputs, |f| History::from_path(f).unwrap());
}

#[test]
fn every_knossos_edn_file_renders_one_bar_per_op() {
    let Some(dir) = corpus("knossos") else {
        return;
    };
    let inputs = files(&dir, "edn");
    assert!(!inputs.is_empty(), "no .edn files in {}", dir.display());
    renders_every_file("knossos", &inputs, |f| {
        // As `quorumlab report` reads a file ending .edn.
        edn::parse_with(&std::fs::read_to_string(f).unwrap(), &EdnOptions::default()).unwrap()
    });
}
