//! `quorumlab explore`: search for a violation of the expected guarantees, shrink it, save it.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use super::config::ConfigFlags;
use crate::case::{case_path, replay_command};
use crate::explore::{explore, ExploreOptions, Outcome, Progress};
use quorumlab::check::Guarantee;

/// Arguments of `quorumlab explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    /// Guarantees that should hold, comma-separated.
    #[arg(long, default_value = "linearizable", value_parser = parse_guarantee_list)]
    pub expect: GuaranteeList,
    #[command(flatten)]
    pub config: ConfigFlags,
    /// Scenarios to try.
    #[arg(long, default_value_t = 100)]
    pub cases: u32,
    /// Search seed: the same seed and flags try the same scenarios.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Most shrink steps (each one a full run).
    #[arg(long, default_value_t = 2000)]
    pub max_shrink_iters: u32,
    /// Directory for the shrunk case file.
    #[arg(long, default_value = "histories")]
    pub dir: PathBuf,
}

/// A parsed `--expect` list.
#[derive(Clone, Debug)]
pub struct GuaranteeList(pub Vec<Guarantee>);

fn parse_guarantee_list(s: &str) -> Result<GuaranteeList, String> {
    Guarantee::parse_list(s).map(GuaranteeList)
}

struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn case_done(&self, n: u32) {
        if let Some(b) = &self.0 {
            b.set_position(n as u64);
        }
    }
    fn shrinking(&self, n: u32) {
        if let Some(b) = &self.0 {
            b.set_message(format!("violation at case {n}; shrinking"));
        }
    }
    fn shrink_step(&self, steps: u32, ops: usize) {
        if let Some(b) = &self.0 {
            b.set_message(format!("shrinking: step {steps}, {ops} client ops"));
        }
    }
}

/// Runs `quorumlab explore`: exit 0 when no violation was found, 1 with the case file's path
/// when one was, 2 on bad input.
pub fn run(args: ExploreArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quorumlab explore: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &ExploreArgs) -> anyhow::Result<ExitCode> {
    let options = ExploreOptions {
        shape: args.config.shape()?,
        expect: args.expect.0.clone(),
        cases: args.cases,
        seed: args.seed,
        max_shrink_iters: args.max_shrink_iters,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(args.cases as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} cases {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        b
    });
    let progress = Bar(bar);
    let outcome = explore(&options, &progress);
    if let Some(b) = &progress.0 {
        b.finish_and_clear();
    }
    let outcome = outcome.map_err(|e| anyhow::anyhow!("search seed {}: {e}", args.seed))?;
    match outcome {
        Outcome::Held { cases } => {
            let names: Vec<_> = options.expect.iter().map(|g| g.name()).collect();
            println!(
                "no violation of {} in {cases} cases (search seed {})",
                names.join(", "),
                args.seed
            );
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Found {
            cases_to_failure,
            shrink_steps,
            case,
            original,
        } => {
            let broken = case
                .judgement
                .violated()
                .first()
                .copied()
                .unwrap_or(options.expect[0]);
            let path = case_path(&args.dir, broken, &args.config.slug()?, case.scenario.seed);
            case.save(&path)?;
            println!(
                "{} violated after {cases_to_failure} cases (search seed {}, scenario seed {})",
                broken.name(),
                args.seed,
                case.scenario.seed
            );
            println!(
                "shrunk in {shrink_steps} steps from {} to {} client ops and from {} to {} faults",
                original.op_count(),
                case.scenario.op_count(),
                original.faults.len(),
                case.scenario.faults.len()
            );
            for (g, f) in &case.judgement.findings {
                if let Some(s) = &f.sentence {
                    println!("  {}: {s}", g.name());
                }
            }
            if case.judgement.violated().is_empty() {
                println!("  (the shrunk scenario did not fail again on rerun: a determinism bug)");
            }
            println!("saved: {}", path.display());
            println!("replay: {}", replay_command(&path));
            Ok(ExitCode::from(1))
        }
    }
}
