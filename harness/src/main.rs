//! The `quorumlab` command line.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quorumlab_harness::cli;

/// Empirical consistency of leaderless quorum stores.
#[derive(Parser, Debug)]
#[command(name = "quorumlab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check recorded histories for linearizability (and, with --guarantees, weaker models).
    Check(cli::check::CheckArgs),
}

fn main() -> ExitCode {
    cli::init_logging();
    let args = Cli::parse();
    match args.command {
        Command::Check(a) => cli::check::run(a),
    }
}
