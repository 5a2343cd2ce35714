//! `quorumlab matrix`: which guarantees each quorum configuration keeps, from evidence.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::matrix::{self, parse_shard, MatrixOptions, MatrixReport, Profile, Tick};
use crate::report;

/// Arguments of `quorumlab matrix`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MatrixArgs {
    #[command(subcommand)]
    pub action: Option<MatrixAction>,
    /// quick: a documented subset that runs in minutes; full: every cell (shard it).
    #[arg(long, default_value = "quick")]
    pub profile: Profile,
    /// Most scenarios searched per cell (1 to 1,000,000) [default: the profile's, 96 for
    /// quick, 576 for full].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub cases: Option<u32>,
    /// Most planned client ops searched per cell (1 to 100,000,000) [default: the profile's].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub ops: Option<u64>,
    /// Run only slice I of N (cells I-1, I-1+N, ...); join slices with `matrix merge`.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Directory for consistency-matrix.md and consistency-matrix.json.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
    /// Directory for the shrunk counterexamples.
    #[arg(long, default_value = "histories/matrix")]
    pub examples: PathBuf,
    /// Shrink steps (runs) per counterexample, and up to three times as many for one still
    /// larger than 10 client ops (0 to 1,000,000) [default: the profile's, 60 for quick, 150
    /// for full].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub shrink_steps: Option<u32>,
    /// The systems to cover, comma-separated: leaderless, leader-follower [default: every
    /// built-in system].
    #[arg(long = "system", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(crate::systems::NAMES))]
    pub systems: Vec<String>,
    /// Worker threads, each running whole cells (1 to 1024) [default: available cores].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
}

/// `quorumlab matrix merge`.
#[derive(clap::Subcommand, Debug)]
pub enum MatrixAction {
    /// Join shard files into the whole matrix (exactly what an unsharded run writes).
    Merge {
        /// Shard files (consistency-matrix.shard-I-of-N.json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Directory for consistency-matrix.md and consistency-matrix.json.
        #[arg(long, default_value = "docs")]
        out: PathBuf,
    },
    /// Holds a matrix against theory: exit 1 if a predicted break was not found or a predicted
    /// hold broke, unless the pair is listed in `--known`.
    Check {
        /// A consistency-matrix.json.
        file: PathBuf,
        /// Known gaps, one `CELL GUARANTEE` per line (`#` starts a comment), each explained in
        /// docs/consistency.md.
        #[arg(long)]
        known: Option<PathBuf>,
    },
}

/// The matrix disagrees with theory beyond the known gaps (exit 1 of `matrix check`).
#[derive(Debug)]
struct Disagrees;

impl std::fmt::Display for Disagrees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the matrix disagrees with theory")
    }
}

impl std::error::Error for Disagrees {}

/// Runs `quorumlab matrix`: exit 0 when the report was written (or `check` passed), 1 when
/// `check` found a disagreement with theory, 2 on bad input or a failed run.
pub fn run(args: MatrixArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Disagrees>() => ExitCode::from(1),
        Err(e) => {
            eprintln!("quorumlab matrix: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The way from the Markdown file's directory back to the repository root, for example links.
fn link_prefix(out: &std::path::Path, examples: &std::path::Path) -> String {
    if examples.is_absolute() {
        return String::new();
    }
    let depth = out
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count();
    "../".repeat(depth)
}

/// `matrix check`: the disagreements with theory that are not known gaps.
fn check(file: &std::path::Path, known: Option<&std::path::Path>) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let report: MatrixReport = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a consistency-matrix.json", file.display()))?;
    let mut gaps = std::collections::BTreeSet::new();
    if let Some(k) = known {
        let text =
            std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(cell), Some(g), None) => {
                    gaps.insert((cell.to_string(), g.to_string()));
                }
                _ => anyhow::bail!(
                    "{}:{}: expected `CELL GUARANTEE`, found {line:?}",
                    k.display(),
                    n + 1
                ),
            }
        }
    }
    let mut ok = true;
    let mut used = std::collections::BTreeSet::new();
    for (cell, g, gc) in report.disagreements() {
        let key = (cell, g.name().to_string());
        if gaps.contains(&key) {
            used.insert(key);
            continue;
        }
        ok = false;
        if gc.broken {
            println!(
                "{} {}: broke, but theory predicts it holds ({}); replay {}",
                key.0,
                key.1,
                gc.reason,
                gc.example.as_deref().unwrap_or("(no example)")
            );
        } else {
            println!(
                "{} {}: held in {} scenarios, but theory predicts a break ({}): the search got weaker",
                key.0, key.1, gc.cases, gc.reason
            );
        }
    }
    for gap in gaps.difference(&used) {
        println!(
            "{} {}: listed as a known gap but agrees with theory now; remove it from the list",
            gap.0, gap.1
        );
        ok = false;
    }
    Ok(ok)
}

/// The case reports' line, then the page's.
fn print_written(w: &report::matrix_page::Written, examples: &std::path::Path) {
    println!(
        "wrote {} case report{} beside the cases in {}",
        w.reports,
        if w.reports == 1 { "" } else { "s" },
        examples.display()
    );
    println!("wrote {}", w.page.display());
}

fn run_inner(args: MatrixArgs) -> anyhow::Result<()> {
    if let Some(MatrixAction::Check { file, known }) = &args.action {
        if check(file, known.as_deref())? {
            println!(
                "{}: every cell agrees with theory (or is a known gap)",
                file.display()
            );
            return Ok(());
        }
        return Err(Disagrees.into());
    }
    if let Some(MatrixAction::Merge { files, out }) = args.action {
        let mut shards = Vec::new();
        for f in &files {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let report: MatrixReport = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a matrix shard file", f.display()))?;
            shards.push(report);
        }
        let report = matrix::merge(shards)?;
        let examples = std::path::Path::new("histories/matrix");
        let prefix = link_prefix(&out, std::path::Path::new("histories"));
        write(&report, &[], &out, examples, &prefix)?;
        return Ok(());
    }
    let mut budget = args.profile.budget();
    if let Some(c) = args.cases {
        if c == 0 {
            anyhow::bail!("--cases must be at least 1");
        }
        budget.cases = c;
    }
    if let Some(o) = args.ops {
        if o == 0 {
            anyhow::bail!("--ops must be at least 1");
        }
        budget.ops = o;
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let options = MatrixOptions {
        profile: args.profile,
        budget,
        shard: args.shard,
        examples_prefix: args.examples.display().to_string(),
        shrink_steps: args.shrink_steps.unwrap_or(args.profile.shrink_steps()),
        threads,
        systems: if args.systems.is_empty() {
            matrix::default_systems()
        } else {
            // In the built-in order, once each, whatever order the flag gave.
            matrix::default_systems()
                .into_iter()
                .filter(|s| args.systems.contains(s))
                .collect()
        },
    };
    let jobs = matrix::Plan::of(args.profile, &options.systems).jobs();
    let total = matrix::shard_indices(jobs, args.shard).len();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} cells {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        b
    });
    let lines = Mutex::new(ProgressLines::new(total));
    let progress = |tick: Tick<'_>| match (&bar, tick) {
        (Some(b), Tick::Cell { done, cell, .. }) => {
            b.set_position(done as u64);
            b.set_message(cell.to_string());
        }
        (Some(_), Tick::Case { .. }) => {}
        (None, tick) => lines.lock().unwrap_or_else(|e| e.into_inner()).tick(tick),
    };
    let (report, examples) = matrix::run(&options, &progress)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    write(
        &report,
        &examples,
        &args.out,
        &args.examples,
        &link_prefix(&args.out, &args.examples),
    )?;
    let dis = report.disagreements();
    if !dis.is_empty() {
        eprintln!(
            "quorumlab matrix: {} (cell, guarantee) pairs disagree with theory; see the report",
            dis.len()
        );
    }
    Ok(())
}

/// Writes a run's (or a merge's) files: the examples, their reports, the tables and the page
/// are all written aside first and moved into place only once every one is written, so a run
/// killed at any moment leaves the previous files whole (see [`matrix::commit`]).
fn write(
    report: &MatrixReport,
    examples: &[matrix::Example],
    out: &std::path::Path,
    examples_dir: &std::path::Path,
    prefix: &str,
) -> anyhow::Result<()> {
    let old_manifest = report::matrix_page::read_manifest(examples_dir);
    let mut staging = crate::fsutil::Staging::new();
    let written = matrix::stage(report, examples, out, examples_dir, prefix, &mut staging)?;
    // Beside the Markdown: the same cells as a page, each break linking its case's report.
    let page = report::matrix_page::stage(report, out, examples_dir, prefix, &mut staging)?;
    matrix::commit(report, staging, examples_dir, &old_manifest)?;
    for p in written {
        println!("wrote {}", p.display());
    }
    print_written(&page, examples_dir);
    Ok(())
}

/// Timed progress lines for a log (stderr not a terminal): one every 10 s of wall time.
struct ProgressLines {
    clock: super::progress::Lines,
    total: usize,
    done: usize,
    cases: u64,
}

impl ProgressLines {
    fn new(total: usize) -> Self {
        ProgressLines {
            clock: Default::default(),
            total,
            done: 0,
            cases: 0,
        }
    }

    fn tick(&mut self, tick: Tick<'_>) {
        let cell = match tick {
            Tick::Case { cell, .. } => {
                self.cases += 1;
                cell
            }
            Tick::Cell { done, cell, .. } => {
                self.done = done;
                cell
            }
        };
        if !self.clock.due(self.done == self.total) {
            return;
        }
        eprintln!(
            "matrix: {}/{} cells, {} scenarios ({}), {:.0} s elapsed, ETA {}; last: {cell}",
            self.done,
            self.total,
            self.cases,
            self.clock.rate(self.cases),
            self.clock.elapsed_secs(),
            self.clock.eta(self.done as u64, self.total as u64),
        );
    }
}
