//! The `quorumlab` command line.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quorumlab_harness::{cli, oom};

/// The system allocator, with a note of any allocation it cannot serve, so that running out of
/// memory ends the command with exit 2 and a message rather than an abort (see [`oom`]).
#[global_allocator]
static ALLOCATOR: oom::Watch = oom::Watch;

/// Empirical consistency of leaderless quorum stores.
#[derive(Parser, Debug)]
#[command(name = "quorumlab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Every subcommand takes a negative number as a flag's value (`--cases -1`), to be refused by
// the flag's own parser, naming the flag, rather than as "unexpected argument '-1'".
#[derive(Subcommand, Debug)]
enum Command {
    /// Check recorded histories for linearizability (and, with --guarantees, weaker models).
    #[command(allow_negative_numbers = true)]
    Check(cli::check::CheckArgs),
    /// Run one scenario, write its history, and report which guarantees held.
    #[command(allow_negative_numbers = true)]
    Run(cli::run::RunArgs),
    /// Search for a violation of the expected guarantees, shrink it and save it in histories/.
    #[command(allow_negative_numbers = true)]
    Explore(cli::explore::ExploreArgs),
    /// Rerun saved cases and check they reproduce byte for byte.
    #[command(allow_negative_numbers = true)]
    Replay(cli::replay::ReplayArgs),
    /// Measure which guarantees each RF/R/W and fault profile keeps: the consistency matrix.
    #[command(allow_negative_numbers = true)]
    Matrix(cli::matrix::MatrixArgs),
    /// The deep CI run: many cases and seeds, sharded, seeded from the commit.
    #[command(allow_negative_numbers = true)]
    Deep(cli::deep::DeepArgs),
    /// Search for every planted store bug and measure how fast each is found and shrunk.
    #[command(allow_negative_numbers = true)]
    Canaries(cli::canaries::CanariesArgs),
    /// Write a self-contained HTML report of each history: timeline, faults, witnesses, stats.
    #[command(allow_negative_numbers = true)]
    Report(cli::report::ReportArgs),
}

fn main() -> ExitCode {
    reset_sigpipe();
    cli::init_logging();
    oom::install();
    let args = Cli::parse();
    oom::doing(args.command.name());
    match args.command {
        Command::Check(a) => cli::check::run(a),
        Command::Run(a) => cli::run::run(a),
        Command::Explore(a) => cli::explore::run(a),
        Command::Replay(a) => cli::replay::run(a),
        Command::Matrix(a) => cli::matrix::run(a),
        Command::Deep(a) => cli::deep::run(a),
        Command::Canaries(a) => cli::canaries::run(a),
        Command::Report(a) => cli::report::run(a),
    }
}

impl Command {
    /// The subcommand's name, as typed.
    fn name(&self) -> &'static str {
        match self {
            Command::Check(_) => "check",
            Command::Run(_) => "run",
            Command::Explore(_) => "explore",
            Command::Replay(_) => "replay",
            Command::Matrix(_) => "matrix",
            Command::Deep(_) => "deep",
            Command::Canaries(_) => "canaries",
            Command::Report(_) => "report",
        }
    }
}

/// Rust ignores SIGPIPE, so printing to a closed pipe (`quorumlab run | head`) would panic;
/// restoring the default makes the process end quietly as other command-line tools do.
fn reset_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to SIG_DFL at startup, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
