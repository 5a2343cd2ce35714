//! `quorumlab deep`: the deep CI run, sharded, seeded from the commit; see [`crate::deep`].
use std::path::PathBuf;
use std::process::ExitCode;

use crate::case::replay_command;
use crate::deep::{self, CaseOutcome, DeepCase, DeepOptions};
use crate::matrix::parse_shard;

/// Arguments of `quorumlab deep`.
#[derive(clap::Args, Debug)]
pub struct DeepArgs {
    /// Base seed from a git commit id (its first 16 hex digits), e.g. `$(git rev-parse HEAD)`.
    #[arg(long, conflicts_with = "seed", required_unless_present = "seed")]
    pub commit: Option<String>,
    /// Base seed as a number, instead of --commit.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only slice I of N (cases I-1, I-1+N, ...): N machines split one run.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Search seeds per property and workload variant (1 to 10,000).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub seeds: u32,
    /// Generated scenarios per case (1 to 1,000,000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub cases: u32,
    /// Most shrink steps per failure (each one a full run; 0 to 1,000,000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(0..=1000000))]
    pub max_shrink_iters: u32,
    /// Directory for shrunk failures.
    #[arg(long, default_value = "target/ci-artifacts")]
    pub artifacts: PathBuf,
    /// Run only the named cases (as printed by --list); repeatable.
    #[arg(long)]
    pub only: Vec<String>,
    /// Print the cases (index, name, search seed) this shard would run, and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Worker threads, each running whole cases (1 to 1024) [default: available cores].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
}

/// Runs `quorumlab deep`: exit 0 when every case held, 1 when one broke (each failure printed
/// with its seed, saved file and replay command), 2 on bad input.
pub fn run(args: DeepArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quorumlab deep: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &DeepArgs) -> anyhow::Result<ExitCode> {
    let (base, source) = match (&args.commit, args.seed) {
        (Some(c), _) => (
            deep::base_seed_from_commit(c)?,
            format!("--commit {}", c.trim()),
        ),
        (None, Some(s)) => (s, format!("--seed {s}")),
        (None, None) => anyhow::bail!("give --commit $(git rev-parse HEAD) or --seed N"),
    };
    if args.seeds == 0 || args.cases == 0 {
        anyhow::bail!("--seeds and --cases must be at least 1");
    }
    let all = deep::case_list(base, args.seeds);
    for name in &args.only {
        if !all.iter().any(|c| &c.name == name) {
            anyhow::bail!("--only {name}: no such case (see --list)");
        }
    }
    let cases: Vec<DeepCase> = deep::shard(&all, args.shard)
        .into_iter()
        .filter(|c| args.only.is_empty() || args.only.contains(&c.name))
        .collect();
    let shard = args
        .shard
        .map(|(i, n)| format!("shard {i}/{n}"))
        .unwrap_or_else(|| "unsharded".into());
    if args.list {
        for c in &cases {
            println!("{}\t{}\t{}", c.index, c.name, c.seed);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "deep: {} of {} cases ({shard}), {} scenarios each, base seed {base} ({source})",
        cases.len(),
        all.len(),
        args.cases
    );
    let options = DeepOptions {
        cases: args.cases,
        max_shrink_iters: args.max_shrink_iters,
        artifacts: args.artifacts.clone(),
    };
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let results = run_all(&cases, &options, threads);
    let mut failed = 0;
    for (c, outcome) in cases.iter().zip(&results) {
        if outcome.failed() {
            failed += 1;
            report_failure(
                c,
                outcome,
                &format!("{source} --seeds {} --cases {}", args.seeds, args.cases),
            );
        }
    }
    println!(
        "deep: {} cases ({shard}), {} held, {failed} failed; base seed {base} ({source})",
        cases.len(),
        cases.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs the cases on `threads` workers; each simulation stays on one thread, so results do not
/// depend on the thread count. Returns the outcomes in case order.
fn run_all(cases: &[DeepCase], options: &DeepOptions, threads: usize) -> Vec<CaseOutcome> {
    // One line per finished case: a deep case runs for minutes, so every line is news.
    let clock = super::progress::Lines::default();
    quorumlab::jobs::run_with_progress(
        cases,
        threads,
        |case| deep::run_case(case, options),
        |f| {
            let word = match f.result {
                CaseOutcome::Held { .. } => "held",
                CaseOutcome::Violated { .. } => "VIOLATED",
                CaseOutcome::Nondeterministic { .. } => "NONDETERMINISTIC",
                CaseOutcome::Error(_) => "ERROR",
            };
            let (done, total) = (f.done as u64, f.total as u64);
            eprintln!(
                "[{done}/{total}] {} {word} ({:.0} s elapsed, {}, ETA {})",
                cases[f.index].name,
                clock.elapsed_secs(),
                clock.rate(done),
                clock.eta(done, total)
            );
        },
    )
}

/// Prints a failure with its seeds, saved file and the commands that reproduce it; `flags` are
/// the deep flags that rebuild the same case list.
fn report_failure(case: &DeepCase, outcome: &CaseOutcome, flags: &str) {
    let rerun = format!("cargo run --release -- deep {flags} --only {}", case.name);
    match outcome {
        CaseOutcome::Held { .. } => {}
        CaseOutcome::Violated {
            broken,
            cases_to_failure,
            scenario_seed,
            path,
        } => {
            let names: Vec<_> = broken.iter().map(|(g, _)| g.name()).collect();
            println!(
                "FAIL {}: {} violated after {cases_to_failure} scenarios (search seed {}, \
                 scenario seed {scenario_seed})",
                case.name,
                names.join(", "),
                case.seed
            );
            for (g, sentence) in broken {
                if let Some(s) = sentence {
                    println!("  {}: {s}", g.name());
                }
            }
            println!("  saved: {}", path.display());
            println!("  {}", crate::report::report_line(path));
            println!("  replay: {}", replay_command(path));
        }
        CaseOutcome::Nondeterministic {
            scenario_seed,
            path,
            difference: (line, a, b),
        } => {
            println!(
                "FAIL {}: scenario seed {scenario_seed} (search seed {}) gave two different \
                 case files; first difference at line {line}\n  first:  {a}\n  second: {b}",
                case.name, case.seed
            );
            println!("  saved (first run): {}", path.display());
            println!("  {}", crate::report::report_line(path));
            println!("  replay: {}", replay_command(path));
        }
        CaseOutcome::Error(e) => {
            println!("FAIL {}: {e} (search seed {})", case.name, case.seed);
        }
    }
    println!("  rerun this case: {rerun}");
}
