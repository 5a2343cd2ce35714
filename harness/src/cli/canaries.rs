//! `quorumlab canaries`: search for every planted bug, measure detection and shrinking, run the
//! same configurations clean, and write the table to docs/canaries.md.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::systems::leaderless::Bug;
use anyhow::Context;

use crate::canaries::{catalog, clean, search, Canary, Search};

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
    #[arg(long = "bug", value_delimiter = ',', value_parser = parse_bug)]
    pub bugs: Vec<Bug>,
    /// Worker threads (1 to 1024) [default: the number of cores].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
    /// Where to write the report (markdown); "-" for none.
    #[arg(long, default_value = "docs/canaries.md")]
    pub out: PathBuf,
    /// Where to save every shrunk case (and false alarm), each with its HTML report beside
    /// it; the markdown links them. "-" for nowhere.
    #[arg(long, default_value = "target/quorumlab/canaries")]
    pub cases_dir: PathBuf,
}

/// The default of `--cases-dir`.
const DEFAULT_CASES_DIR: &str = "target/quorumlab/canaries";

/// Where the saved cases are, by (canary index, search seed); false alarms by (canary index,
/// clean search seed).
#[derive(Default)]
struct Saved {
    found: BTreeMap<(usize, u64), PathBuf>,
    false_alarms: BTreeMap<(usize, u64), PathBuf>,
}

/// `path` as a link from a file in `from_dir`: relative when both are under the current
/// directory (or both absolute), with `/` separators.
fn link(from_dir: &Path, path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let abs = |p: &Path| {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        p.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect::<PathBuf>()
    };
    let (from, to) = (abs(from_dir), abs(path));
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// Saves every found case and false alarm under `dir`, each with its report.
fn save_cases(dir: &Path, canaries: &[Canary], done: &[Done]) -> Saved {
    let mut saved = Saved::default();
    for d in done {
        let (case, label, slot) = match d {
            Done::Search {
                canary,
                seed,
                result: Search::Found(f),
            } => (
                &f.case,
                format!("canary-{}-seed{seed}", canaries[*canary].bug),
                (true, *canary, *seed),
            ),
            Done::Clean {
                canary,
                seed,
                result: Err(case),
            } => (
                case,
                format!("false-alarm-{}-seed{seed}", canaries[*canary].bug),
                (false, *canary, *seed),
            ),
            _ => continue,
        };
        // A case that cannot be saved loses its links, not the table of the whole run.
        let path = match case.save_new(dir, &label) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("quorumlab canaries: {label} not saved: {e:#}");
                continue;
            }
        };
        let report = crate::report::report_line(&path);
        eprintln!("saved: {} ({report})", path.display());
        let (found, canary, seed) = slot;
        if found {
            saved.found.insert((canary, seed), path);
        } else {
            saved.false_alarms.insert((canary, seed), path);
        }
    }
    saved
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    s.parse::<Bug>().map_err(|e| e.to_string())
}

/// Clean cases are run in chunks of this many, each with its own search seed.
const CLEAN_CHUNK: u32 = 100;
/// Search seeds of clean chunks start here, apart from the planted searches' seeds.
const CLEAN_SEED_BASE: u64 = 1_000_000;

enum Job {
    Search {
        canary: usize,
        seed: u64,
    },
    Clean {
        canary: usize,
        seed: u64,
        cases: u32,
    },
}

enum Done {
    Search {
        canary: usize,
        seed: u64,
        result: Search,
    },
    Clean {
        canary: usize,
        seed: u64,
        result: Result<u32, Box<crate::case::Case>>,
    },
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
    let canaries: Vec<Canary> = catalog()
        .into_iter()
        .filter(|c| args.bugs.is_empty() || args.bugs.contains(&c.bug))
        .collect();
    let mut jobs = Vec::new();
    for (i, _) in canaries.iter().enumerate() {
        for seed in 1..=args.search_seeds {
            jobs.push(Job::Search { canary: i, seed });
        }
    }
    let per_bug = args.clean_cases / canaries.len().max(1) as u32;
    let mut chunk_seed = CLEAN_SEED_BASE;
    for (i, _) in canaries.iter().enumerate() {
        let mut left = per_bug;
        while left > 0 {
            let cases = left.min(CLEAN_CHUNK);
            chunk_seed += 1;
            jobs.push(Job::Clean {
                canary: i,
                seed: chunk_seed,
                cases,
            });
            left -= cases;
        }
    }
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
            let out = match *job {
                Job::Search { canary, seed } => {
                    let c = &canaries[canary];
                    search(c, seed, args.cases, args.max_shrink_iters)
                        .with_context(|| format!("{} search seed {seed}", c.bug))
                        .map(|result| Done::Search {
                            canary,
                            seed,
                            result,
                        })
                }
                Job::Clean {
                    canary,
                    seed,
                    cases,
                } => {
                    let c = &canaries[canary];
                    clean(c, seed, cases)
                        .with_context(|| format!("{} clean, search seed {seed}", c.bug))
                        .map(|result| Done::Clean {
                            canary,
                            seed,
                            result,
                        })
                }
            };
            if out.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            Some(out)
        },
        |f| {
            if let Some(Ok(d)) = f.result {
                report_progress(&canaries, d);
            }
        },
    );
    let wall = started.elapsed();
    let done = results
        .into_iter()
        .flatten()
        .collect::<anyhow::Result<Vec<Done>>>()?;
    let saved = if args.cases_dir.as_os_str() == "-" {
        Saved::default()
    } else {
        std::fs::create_dir_all(&args.cases_dir)
            .with_context(|| format!("creating --cases-dir {}", args.cases_dir.display()))?;
        save_cases(&args.cases_dir, &canaries, &done)
    };
    let (text, ok) = render(args, &canaries, done, &saved, threads, wall)?;
    print!("{text}");
    if args.out.as_os_str() != "-" {
        if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::fsutil::write_atomic(&args.out, text.as_bytes())
            .with_context(|| format!("writing {}", args.out.display()))?;
        eprintln!("wrote {}", args.out.display());
    }
    Ok(ok)
}

fn report_progress(canaries: &[Canary], d: &Done) {
    match d {
        Done::Search {
            canary,
            seed,
            result,
        } => match result {
            Search::Found(f) => eprintln!(
                "{} seed {seed}: found after {} cases in {:.2} s, shrunk to {} ops",
                canaries[*canary].bug,
                f.cases,
                f.to_detection.as_secs_f64(),
                f.shrunk.ops
            ),
            Search::Missed { cases, .. } => eprintln!(
                "{} seed {seed}: MISSED in {cases} cases",
                canaries[*canary].bug
            ),
        },
        Done::Clean {
            canary,
            seed,
            result,
        } => match result {
            Ok(n) => eprintln!(
                "{} clean seed {seed}: {n} cases held",
                canaries[*canary].bug
            ),
            Err(case) => eprintln!(
                "{} clean seed {seed}: FALSE ALARM, scenario seed {}",
                canaries[*canary].bug, case.scenario.seed
            ),
        },
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn command_line(args: &CanariesArgs) -> String {
    let mut s = format!(
        "cargo run --release -- canaries --search-seeds {} --cases {} --max-shrink-iters {} \
         --clean-cases {}",
        args.search_seeds, args.cases, args.max_shrink_iters, args.clean_cases
    );
    if !args.bugs.is_empty() {
        let names: Vec<_> = args.bugs.iter().map(|b| b.name()).collect();
        write!(s, " --bug {}", names.join(",")).expect("string");
    }
    if let Some(t) = args.threads {
        write!(s, " --threads {t}").expect("string");
    }
    if args.out.as_os_str() != "docs/canaries.md" {
        write!(s, " --out {}", args.out.display()).expect("string");
    }
    if args.cases_dir.as_os_str() != DEFAULT_CASES_DIR {
        write!(s, " --cases-dir {}", args.cases_dir.display()).expect("string");
    }
    s
}

fn render(
    args: &CanariesArgs,
    canaries: &[Canary],
    done: Vec<Done>,
    saved: &Saved,
    threads: usize,
    wall: Duration,
) -> anyhow::Result<(String, bool)> {
    // Links are relative to the markdown's own directory.
    let md_dir = match args.out.parent() {
        Some(d) if args.out.as_os_str() != "-" => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let links = |path: Option<&PathBuf>| -> String {
        match path {
            None => String::new(),
            Some(p) => format!(
                " ([case]({}), [report]({}))",
                link(&md_dir, p),
                link(&md_dir, &crate::report::html_path(p))
            ),
        }
    };
    let mut ok = true;
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "# Canaries: planted bugs the harness must find")?;
    writeln!(w)?;
    writeln!(
        w,
        "Generated by `quorumlab canaries`; regenerate with:\n\n```\n{}\n```\n",
        command_line(args)
    )?;
    writeln!(
        w,
        "Each bug is planted in the reference store (`StoreConfig::bugs`, never on by default) \
         and searched for with `explore` in a configuration where the guarantee it breaks is \
         claimed. Each search uses its own search seed (1..={}), tries at most {} cases and \
         shrinks with at most {} steps. Wall times are from the release build on a 2-core, \
         24 GiB machine with {threads} worker thread(s); total wall time {:.0} s. \"Cases\" and \
         \"time to detection\" are medians over the searches that found the bug; the shrunk size \
         and witness are those of search seed 1 (or the first seed that found it).{}",
        args.search_seeds,
        args.cases,
        args.max_shrink_iters,
        wall.as_secs_f64(),
        if args.cases_dir.as_os_str() == "-" {
            String::new()
        } else {
            format!(
                " Every shrunk case is saved in `{}` with its HTML report beside it, and linked \
                 below (the directory is the run's output: regenerate to get the files).",
                args.cases_dir.display()
            )
        }
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "| # | bug | guarantee broken | found | median cases | median s to detection | \
         max s to detection | shrunk ops / faults / nodes | witness (shrunk case) |"
    )?;
    writeln!(w, "|---|---|---|---|---|---|---|---|---|")?;
    let mut clean_total = 0u32;
    let mut false_alarms = Vec::new();
    for (i, c) in canaries.iter().enumerate() {
        let mut searches: Vec<(u64, &Search)> = done
            .iter()
            .filter_map(|d| match d {
                Done::Search {
                    canary,
                    seed,
                    result,
                } if *canary == i => Some((*seed, result)),
                _ => None,
            })
            .collect();
        searches.sort_by_key(|(s, _)| *s);
        let found: Vec<_> = searches
            .iter()
            .filter_map(|(s, r)| match r {
                Search::Found(f) => Some((*s, f)),
                Search::Missed { .. } => None,
            })
            .collect();
        for d in &done {
            if let Done::Clean {
                canary,
                seed,
                result,
            } = d
            {
                if *canary == i {
                    match result {
                        Ok(n) => clean_total += n,
                        Err(case) => false_alarms.push((i, c.bug, *seed, case)),
                    }
                }
            }
        }
        let cases = median(found.iter().map(|(_, f)| f.cases as f64).collect());
        let secs = median(
            found
                .iter()
                .map(|(_, f)| f.to_detection.as_secs_f64())
                .collect(),
        );
        let max_secs = found
            .iter()
            .map(|(_, f)| f.to_detection.as_secs_f64())
            .fold(0.0, f64::max);
        let all_small = found.iter().all(|(_, f)| f.shrunk.ops <= 10);
        if found.len() != searches.len() || !all_small || secs.is_none_or(|s| s > 60.0) {
            ok = false;
        }
        let (size, witness, broken) = match found.first() {
            Some((seed, f)) => (
                format!(
                    "{} / {} / {}",
                    f.shrunk.ops, f.shrunk.faults, f.shrunk.nodes
                ),
                format!(
                    "{}{}",
                    f.witness.replace('|', "\\|"),
                    links(saved.found.get(&(i, *seed)))
                ),
                f.broken.name(),
            ),
            None => ("-".into(), "-".into(), c.expect[0].name()),
        };
        writeln!(
            w,
            "| {} | `{}` | {} | {}/{} | {} | {} | {:.2} | {} | {} |",
            i + 1,
            c.bug,
            broken,
            found.len(),
            searches.len(),
            cases.map_or("-".into(), |v| format!("{v}")),
            secs.map_or("-".into(), |v| format!("{v:.2}")),
            max_secs,
            size,
            witness
        )?;
    }
    writeln!(w)?;
    writeln!(w, "Shrunk sizes over all searches (ops / faults / nodes):")?;
    writeln!(w)?;
    for (i, c) in canaries.iter().enumerate() {
        let mut sizes: Vec<(u64, String)> = done
            .iter()
            .filter_map(|d| match d {
                Done::Search {
                    canary,
                    seed,
                    result: Search::Found(f),
                } if *canary == i => Some((
                    *seed,
                    format!(
                        "seed {seed}: {} cases, {:.2} s, {} -> {} / {} / {} ({} shrink steps, {:.1} s){}",
                        f.cases,
                        f.to_detection.as_secs_f64(),
                        f.original.ops,
                        f.shrunk.ops,
                        f.shrunk.faults,
                        f.shrunk.nodes,
                        f.shrink_steps,
                        f.shrinking.as_secs_f64(),
                        links(saved.found.get(&(i, *seed)))
                    ),
                )),
                _ => None,
            })
            .collect();
        sizes.sort();
        let list: Vec<String> = sizes.into_iter().map(|(_, s)| s).collect();
        writeln!(w, "- `{}`: {}", c.bug, list.join("; "))?;
    }
    writeln!(w)?;
    writeln!(w, "## False alarms")?;
    writeln!(w)?;
    writeln!(
        w,
        "The same configurations with no bug planted: {clean_total} cases in total ({} per \
         bug, in chunks of {CLEAN_CHUNK} with search seeds from {}), {} violation(s).",
        per_bug_text(args, canaries.len()),
        CLEAN_SEED_BASE + 1,
        false_alarms.len()
    )?;
    for (i, bug, seed, case) in &false_alarms {
        ok = false;
        let sentences = case.judgement.sentences();
        writeln!(
            w,
            "\n- FALSE ALARM in the `{bug}` configuration (search seed {seed}, scenario seed \
             {}): {}{}",
            case.scenario.seed,
            sentences.join("; "),
            links(saved.false_alarms.get(&(*i, *seed)))
        )?;
    }
    writeln!(w)?;
    writeln!(w, "## The catalog")?;
    for (i, c) in canaries.iter().enumerate() {
        let expect: Vec<_> = c.expect.iter().map(|g| g.name()).collect();
        writeln!(w)?;
        writeln!(w, "### {}. `{}`", i + 1, c.bug)?;
        writeln!(w)?;
        writeln!(w, "- Mimics: {}.", c.mimics)?;
        writeln!(w, "- Configuration: {}.", c.config_summary())?;
        writeln!(w, "- Claimed: {}. Why: {}.", expect.join(", "), c.why)?;
        writeln!(w, "- By hand: `{}`", c.explore_command(1))?;
    }
    Ok((out, ok))
}

fn per_bug_text(args: &CanariesArgs, bugs: usize) -> u32 {
    args.clean_cases / bugs.max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_markdown() {
        assert_eq!(
            link(
                Path::new("docs"),
                Path::new("target/quorumlab/canaries/a.json")
            ),
            "../target/quorumlab/canaries/a.json"
        );
        assert_eq!(
            link(Path::new("."), Path::new("./cases/a.html")),
            "cases/a.html"
        );
        assert_eq!(
            link(Path::new("/x/docs"), Path::new("/x/docs/c/a.json")),
            "c/a.json"
        );
        assert_eq!(
            link(Path::new("/x/docs"), Path::new("/y/a.json")),
            "../../y/a.json"
        );
    }
}
