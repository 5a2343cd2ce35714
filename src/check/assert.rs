//! Assertions for tests: check a recorded history and fail the test with the witness.
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{judge, Guarantee};
use crate::history::History;

/// Panics unless `history` is linearizable (see [`assert_holds`]).
#[track_caller]
pub fn assert_linearizable(history: &History) {
    assert_holds(history, &[Guarantee::Linearizable]);
}

/// Panics unless every guarantee in `guarantees` held on `history`, and says why: the
/// witness sentence of each break (or why it could not be decided), and the file the history
/// was written to, with the command that checks it again.
///
/// The file goes to the directory named by `QUORUMLAB_HISTORY_DIR`, else the system's
/// temporary directory, as `quorumlab-<test thread>-<pid>-<n>.json`.
#[track_caller]
pub fn assert_holds(history: &History, guarantees: &[Guarantee]) {
    let judgement = judge(history, guarantees);
    let failed: Vec<String> = judgement
        .findings
        .iter()
        .filter(|(_, f)| f.held != Some(true))
        .map(|(g, f)| {
            let state = if f.held == Some(false) {
                "violated"
            } else {
                "undecided"
            };
            format!(
                "{g} {state}: {}",
                f.sentence.as_deref().unwrap_or("(no sentence)")
            )
        })
        .collect();
    if failed.is_empty() {
        return;
    }
    let saved = match save(history) {
        Ok(path) => format!(
            "history written to {} (check it again: quorumlab check {}{})",
            path.display(),
            if guarantees == [Guarantee::Linearizable] {
                String::new()
            } else {
                let names: Vec<_> = guarantees.iter().map(|g| g.name()).collect();
                format!("--guarantees {} ", names.join(","))
            },
            path.display()
        ),
        Err(e) => format!("the history could not be written: {e}"),
    };
    panic!("{}\n{saved}", failed.join("\n"));
}

fn save(history: &History) -> std::io::Result<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::var_os("QUORUMLAB_HISTORY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir)?;
    let thread = std::thread::current()
        .name()
        .unwrap_or("thread")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let path = dir.join(format!(
        "quorumlab-{thread}-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, history.to_json_string())?;
    Ok(path)
}
