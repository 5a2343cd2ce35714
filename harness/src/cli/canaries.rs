//! `quorumlab canaries`: search for every planted bug, measure detection and shrinking, run the
//! same configurations clean, and write the table to docs/canaries.md (see
//! [`crate::canaries::table`]).
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::systems::leaderless::Bug;
use anyhow::Context;
use strum::VariantArray;

use crate::cli::config::Named;

use crate::canaries::table::{self, Done, Saved, Settings, DEFAULT_CASES_DIR, DEFAULT_OUT};
use crate::canaries::{catalog, Canary};

/// Arguments of `quorumlab canaries`.
#[derive(clap::Args, Debug)]
pub struct CanariesArgs {
    /// Searches per bug, with search seeds 1..=N (N from 1 to 10,000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub search_seeds: u64,
    /// Most cases per search before the bug counts as missed (1 to 1,000,000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1000000))]
    pub cases: u32,
    /// Most shrink steps per search (0 to 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=1000000))]
    pub max_shrink_iters: u32,
    /// Cases run with no bug planted, in total, split evenly between the bugs' configurations
    /// (0 to 10,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(0..=10000000))]
    pub clean_cases: u32,
    /// Only these bugs (comma-separated or repeated) [default: all].
    #[arg(long = "bug", value_delimiter = ',', value_parser = Named::new(Bug::VARIANTS))]
    pub bugs: Vec<Bug>,
    /// Worker threads (1 to 1024) [default: the number of cores].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
    /// Where to write the report (markdown); "-" for none.
    #[arg(long, default_value = DEFAULT_OUT)]
    pub out: PathBuf,
    /// Where to save every shrunk case (and false alarm), each with its HTML report beside
    /// it; the markdown links them, and once it is written the earlier run's canary cases
    /// there go. "-" for nowhere.
    #[arg(long, default_value = DEFAULT_CASES_DIR)]
    pub cases_dir: PathBuf,
}

impl CanariesArgs {
    /// The run the flags ask for, "-" read as nowhere.
    fn settings(&self) -> Settings {
        let path = |p: &PathBuf| (p.as_os_str() != "-").then(|| p.clone());
        Settings {
            search_seeds: self.search_seeds,
            cases: self.cases,
            max_shrink_iters: self.max_shrink_iters,
            clean_cases: self.clean_cases,
            bugs: self.bugs.clone(),
            threads: self.threads,
            out: path(&self.out),
            cases_dir: path(&self.cases_dir),
        }
    }
}

/// Runs `quorumlab canaries`: exit 0 when every bug was found in every search, shrunk to at
/// most 10 client ops, with no false alarm; 1 otherwise; 2 on bad input or a failed run.
pub fn run(args: CanariesArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("quorumlab canaries: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &CanariesArgs) -> anyhow::Result<bool> {
    if args.search_seeds == 0 {
        anyhow::bail!("--search-seeds must be at least 1");
    }
    let settings = args.settings();
    let canaries: Vec<Canary> = catalog()
        .into_iter()
        .filter(|c| args.bugs.is_empty() || args.bugs.contains(&c.bug))
        .collect();
    let jobs = table::plan(&canaries, &settings);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let started = Instant::now();
    // After a failed job the others left are skipped: the run reports the error alone.
    let failed = AtomicBool::new(false);
    let results = quorumlab::jobs::run_with_progress(
        &jobs,
        threads,
        |job| {
            if failed.load(Ordering::Relaxed) {
                return None;
            }
            let out = job
                .run(&canaries, &settings)
                .with_context(|| job.describe(&canaries));
            if out.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            Some(out)
        },
        |f| {
            if let Some(Ok(d)) = f.result {
                eprintln!("{}", d.progress_line(&canaries));
            }
        },
    );
    let wall = started.elapsed();
    let done = results
        .into_iter()
        .flatten()
        .collect::<anyhow::Result<Vec<Done>>>()?;
    let saved = match &settings.cases_dir {
        None => Saved::default(),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating --cases-dir {}", dir.display()))?;
            table::save_cases(dir, &canaries, &done)
        }
    };
    let (text, ok) = table::render(&settings, &canaries, &done, &saved, threads, wall);
    print!("{text}");
    if let Some(out) = &settings.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::fsutil::write_atomic(out, text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
        // The table written links this run's cases alone: the earlier run's go.
        if let Some(dir) = &settings.cases_dir {
            let removed = table::remove_stale(dir, &saved);
            if !removed.is_empty() {
                eprintln!(
                    "removed {} earlier canary files from {} that the table no longer links",
                    removed.len(),
                    dir.display()
                );
            }
        }
    }
    Ok(ok)
}
