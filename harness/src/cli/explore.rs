//! `quorumlab explore`: search for a violation of the expected guarantees, shrink it, save it.
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use super::config::ConfigFlags;
use crate::case::{replay_command, Case};
use crate::explore::{explore, ExploreOptions, Outcome, Progress};
use crate::workload::WorkloadChoice;
use quorumlab::check::Guarantee;
use std::cell::RefCell;

/// Arguments of `quorumlab explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    /// Guarantees that should hold, comma-separated.
    #[arg(long, default_value = "linearizable", value_parser = parse_guarantee_list)]
    pub expect: GuaranteeList,
    #[command(flatten)]
    pub config: ConfigFlags,
    /// Scenarios to try (1 to 1,000,000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub cases: u32,
    /// Search seed: the same seed and flags try the same scenarios.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Most shrink steps (each one a full run; 0 to 1,000,000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(0..=1000000))]
    pub max_shrink_iters: u32,
    /// Directory for the shrunk case file.
    #[arg(long, default_value = "histories")]
    pub dir: PathBuf,
    /// Which scenarios to generate: `flags` (the shape the flags give), `mix` (every workload
    /// of the matrix's rotation, drawn at random per scenario: hot keys, read-after-write
    /// chains, slow replicas and slow write paths, writes cut by crashes, faults that outlast
    /// the failure detector, power failures; each with its own clients, ops, keys, think time,
    /// network and fault windows, over the store and faults the flags give, and under every
    /// replica choice unless --replica-choice names one), or one workload by name: standard,
    /// hot-key, read-after-write, slow-replica, partial-writes, down-path, power-failure,
    /// read-mostly, slow-writes, or leader-change (leader-follower only, outside the rotation:
    /// the key's leader cut off or crashed after a put sent to it, the sessions then sent to
    /// its successor; give the configuration's failover_timeout_ms, which sets the fault's
    /// length).
    #[arg(long, default_value = "flags", value_parser = WorkloadChoice::parse)]
    pub workload: WorkloadChoice,
}

/// A parsed `--expect` list.
#[derive(Clone, Debug)]
pub struct GuaranteeList(pub Vec<Guarantee>);

fn parse_guarantee_list(s: &str) -> Result<GuaranteeList, String> {
    Guarantee::parse_list(s)
        .map(GuaranteeList)
        .map_err(|e| e.to_string())
}

/// The search's progress: a bar where stderr is a terminal, timed lines where it is not (a CI
/// log), and the statistics of the search cases run.
struct Bar {
    bar: Option<ProgressBar>,
    lines: Option<RefCell<super::progress::Lines>>,
    cases: u32,
    tally: RefCell<crate::summary::Tally>,
    shrinking: std::cell::Cell<bool>,
}

impl Bar {
    fn new(cases: u32) -> Bar {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let b = ProgressBar::new(cases as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} cases {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            b
        });
        Bar {
            bar,
            lines: (!terminal).then(Default::default),
            cases,
            tally: RefCell::default(),
            shrinking: Default::default(),
        }
    }

    /// A timed line for the log, when one is due (or `force`d).
    fn line(&self, force: bool, text: impl FnOnce(&super::progress::Lines) -> String) {
        if let Some(lines) = &self.lines {
            let mut lines = lines.borrow_mut();
            if lines.due(force) {
                eprintln!("explore: {}", text(&lines));
            }
        }
    }
}

impl Progress for Bar {
    fn case_run(&self, history: &quorumlab::history::History) {
        if !self.shrinking.get() {
            self.tally.borrow_mut().add(history);
        }
    }
    fn case_done(&self, n: u32) {
        if let Some(b) = &self.bar {
            b.set_position(n as u64);
        }
        self.line(false, |l| {
            format!(
                "{n}/{} cases ({}), {:.0} s elapsed, ETA {}",
                self.cases,
                l.rate(n as u64),
                l.elapsed_secs(),
                l.eta(n as u64, self.cases as u64)
            )
        });
    }
    fn shrinking(&self, n: u32) {
        self.shrinking.set(true);
        if let Some(b) = &self.bar {
            b.set_message(format!("violation at case {n}; shrinking"));
        }
        self.line(true, |l| {
            format!(
                "violation at case {n} after {:.0} s; shrinking",
                l.elapsed_secs()
            )
        });
    }
    fn shrink_step(&self, steps: u32, ops: usize) {
        if let Some(b) = &self.bar {
            b.set_message(format!("shrinking: step {steps}, {ops} client ops"));
        }
        self.line(false, |l| {
            format!(
                "shrinking: step {steps}, {ops} client ops, {:.0} s elapsed",
                l.elapsed_secs()
            )
        });
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
    check_dir(&args.dir)?;
    let shape = args.config.shape()?;
    // The weaker guarantees' checkers judge registers of gets, puts and deletes only: on a
    // history with cas ops each is undecided, so a search for its violation could find none.
    let unjudged: Vec<&str> = (args.expect.0.iter())
        .filter(|g| **g != Guarantee::Linearizable)
        .map(|g| g.name())
        .collect();
    if shape.cas_percent > 0 && !unjudged.is_empty() {
        anyhow::bail!(
            "--cas-percent: a history with cas ops is judged on linearizability only; {} \
             would be undecided in every case (--expect linearizable)",
            unjudged.join(", ")
        );
    }
    // A scenario the flags cannot make valid would otherwise count as a failure and be shrunk.
    crate::explore::generate(&shape, args.seed)
        .validate()
        .map_err(|e| anyhow::anyhow!("the flags give an invalid scenario: {e}"))?;
    let options = ExploreOptions {
        workload: args.workload,
        shape,
        expect: args.expect.0.clone(),
        cases: args.cases,
        seed: args.seed,
        max_shrink_iters: args.max_shrink_iters,
    };
    let progress = Bar::new(args.cases);
    let outcome = explore(&options, &progress);
    if let Some(b) = &progress.bar {
        b.finish_and_clear();
    }
    let tally = progress.tally.borrow();
    if tally.runs() > 0 {
        println!(
            "statistics of the {} search case(s) run, times in simulated ms:",
            tally.runs()
        );
        print!("{}", tally.text());
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
            let broken = case.headline();
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
            // The search may have taken hours: the scenario goes out before anything can fail,
            // so even a full disk or a wrong --dir loses nothing.
            println!(
                "scenario (rerun with `quorumlab run --scenario FILE`): {}",
                serde_json::to_string(&case.scenario).expect("a scenario always serializes")
            );
            let _ = std::io::stdout().flush();
            save_or_fall_back(&case, &args.dir, &args.config.slug()?);
            Ok(ExitCode::from(1))
        }
    }
}

/// Saves the found case in `dir`; when that fails, in the system's temporary directory; when
/// that fails too, prints the whole case file, so a found counterexample is never lost.
fn save_or_fall_back(case: &Case, dir: &Path, label: &str) {
    let saved = match case.save_new(dir, label) {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("quorumlab explore: could not save the case: {e:#}");
            let fallback = std::env::temp_dir().join("quorumlab-cases");
            match case.save_new(&fallback, label) {
                Ok(path) => {
                    eprintln!(
                        "quorumlab explore: saved it in {} instead",
                        fallback.display()
                    );
                    Some(path)
                }
                Err(e) => {
                    eprintln!("quorumlab explore: nor in {}: {e:#}", fallback.display());
                    None
                }
            }
        }
    };
    match saved {
        Some(path) => {
            println!("saved: {}", path.display());
            println!("{}", crate::report::report_line(&path));
            println!("replay: {}", replay_command(&path));
        }
        None => {
            println!("the case file, not saved (write it to a file and replay it):");
            print!("{}", case.to_file_string());
        }
    }
}

/// Refuses an output directory that cannot be one before the search starts, rather than after.
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => anyhow::bail!(
            "--dir {}: exists and is not a directory; name a directory for the case file",
            dir.display()
        ),
        _ => Ok(()),
    }
}
