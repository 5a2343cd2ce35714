//! `quorumlab check`: check recorded histories.
use std::process::ExitCode;

/// Arguments of `quorumlab check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// History files to check.
    pub files: Vec<std::path::PathBuf>,
}

/// Runs `quorumlab check`.
pub fn run(_args: CheckArgs) -> ExitCode {
    eprintln!("quorumlab check: not built yet");
    ExitCode::from(2)
}
