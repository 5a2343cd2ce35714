//! `quorumlab replay`: rerun a saved case and compare it byte for byte.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::case::{first_difference, read_case, Case};

/// Arguments of `quorumlab replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Saved case files (as written by `explore` or `run`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `quorumlab replay`: exit 0 only when every file reproduces byte for byte, 1 when one
/// differs (with the first difference), 2 when a file cannot be read.
pub fn run(args: ReplayArgs) -> ExitCode {
    let mut worst = 0u8;
    for path in &args.files {
        crate::oom::doing(&format!("replay {}", path.display()));
        let code = match replay_one(path) {
            Ok(true) => {
                println!("{}: reproduced byte for byte", path.display());
                0
            }
            Ok(false) => 1,
            Err(e) => {
                eprintln!("quorumlab replay: error: {e:#}");
                2
            }
        };
        worst = worst.max(code);
    }
    ExitCode::from(worst)
}

fn replay_one(path: &std::path::Path) -> anyhow::Result<bool> {
    let spec = read_case(path)?;
    let case = Case::run(&spec.scenario, &spec.expect)
        .map_err(|e| anyhow::anyhow!("{}: seed {}: {e}", path.display(), spec.scenario.seed))?;
    let now = case.to_file_string();
    match first_difference(&spec.text, &now) {
        None => Ok(true),
        Some((line, expected, actual)) => {
            println!(
                "{}: DIFFERS from the saved case at line {line} (seed {})\n  saved: {expected}\n  now:   {actual}",
                path.display(),
                spec.scenario.seed
            );
            let saved: serde_json::Value = serde_json::from_str(&spec.text).unwrap_or_default();
            let verdict_now = case.judgement.verdict_json();
            if saved.get("verdict") != Some(&verdict_now) {
                println!(
                    "  verdict changed: saved {} now {verdict_now}",
                    saved.get("verdict").cloned().unwrap_or_default()
                );
            }
            Ok(false)
        }
    }
}
