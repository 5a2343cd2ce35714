//! A canaries run as jobs, and its table: what `quorumlab canaries` plans, measures and writes
//! to docs/canaries.md.
//!
//! [`plan`] lists the jobs (every search seed of every bug, then the clean cases in chunks),
//! [`Job::run`] runs one, [`save_cases`] saves what they found and [`render`] writes the
//! markdown. The jobs share nothing, so any number of threads may run them; given in job
//! order, the results render the same table whatever the thread count, up to wall times.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{clean, search, Canary, Search};
use crate::case::Case;
use crate::runner::RunError;
use crate::systems::leaderless::Bug;

/// Clean cases are run in chunks of this many, each with its own search seed.
pub const CLEAN_CHUNK: u32 = 100;
/// Search seeds of clean chunks start here, apart from the planted searches' seeds.
pub const CLEAN_SEED_BASE: u64 = 1_000_000;
/// Where the table is written unless told otherwise.
pub const DEFAULT_OUT: &str = "docs/canaries.md";
/// Where shrunk cases are saved unless told otherwise.
pub const DEFAULT_CASES_DIR: &str = "histories/canaries";

/// What a canaries run was asked for: what its table says was measured, and the command that
/// regenerates it.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Searches per bug, with search seeds 1..=N.
    pub search_seeds: u64,
    /// Most cases per search before the bug counts as missed.
    pub cases: u32,
    /// Most shrink steps per search.
    pub max_shrink_iters: u32,
    /// Cases run with no bug planted, in total, split evenly between the bugs.
    pub clean_cases: u32,
    /// Only these bugs; empty for all.
    pub bugs: Vec<Bug>,
    /// Worker threads as asked for; `None` for the number of cores.
    pub threads: Option<usize>,
    /// Where the table is written; `None` for nowhere.
    pub out: Option<PathBuf>,
    /// Where shrunk cases are saved; `None` for nowhere.
    pub cases_dir: Option<PathBuf>,
}

impl Settings {
    /// Clean cases per bug.
    fn clean_per_bug(&self, bugs: usize) -> u32 {
        self.clean_cases / bugs.max(1) as u32
    }
}

/// One job of a run; `canary` is an index into the run's canaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// A search for the canary's bug with this search seed.
    Search {
        /// The canary.
        canary: usize,
        /// The search seed.
        seed: u64,
    },
    /// A chunk of clean cases in the canary's configuration.
    Clean {
        /// The canary.
        canary: usize,
        /// The search seed of the chunk.
        seed: u64,
        /// Cases in the chunk.
        cases: u32,
    },
}

/// The jobs of a run over `canaries`: every search seed of each, then each one's share of the
/// clean cases in chunks of at most [`CLEAN_CHUNK`], seeded from [`CLEAN_SEED_BASE`] on.
pub fn plan(canaries: &[Canary], settings: &Settings) -> Vec<Job> {
    let mut jobs = Vec::new();
    for canary in 0..canaries.len() {
        for seed in 1..=settings.search_seeds {
            jobs.push(Job::Search { canary, seed });
        }
    }
    let per_bug = settings.clean_per_bug(canaries.len());
    let mut chunk_seed = CLEAN_SEED_BASE;
    for canary in 0..canaries.len() {
        let mut left = per_bug;
        while left > 0 {
            let cases = left.min(CLEAN_CHUNK);
            chunk_seed += 1;
            jobs.push(Job::Clean {
                canary,
                seed: chunk_seed,
                cases,
            });
            left -= cases;
        }
    }
    jobs
}

impl Job {
    /// Runs the job: a search with the settings' case and shrink budgets, or a clean chunk.
    pub fn run(&self, canaries: &[Canary], settings: &Settings) -> Result<Done, RunError> {
        Ok(match *self {
            Job::Search { canary, seed } => Done::Search {
                canary,
                seed,
                result: search(
                    &canaries[canary],
                    seed,
                    settings.cases,
                    settings.max_shrink_iters,
                )?,
            },
            Job::Clean {
                canary,
                seed,
                cases,
            } => Done::Clean {
                canary,
                seed,
                result: clean(&canaries[canary], seed, cases)?,
            },
        })
    }

    /// What the job is, for an error: `BUG search seed N` or `BUG clean, search seed N`.
    pub fn describe(&self, canaries: &[Canary]) -> String {
        match *self {
            Job::Search { canary, seed } => format!("{} search seed {seed}", canaries[canary].bug),
            Job::Clean { canary, seed, .. } => {
                format!("{} clean, search seed {seed}", canaries[canary].bug)
            }
        }
    }
}

/// A job's result.
#[derive(Debug)]
pub enum Done {
    /// A search for a planted bug.
    Search {
        /// The canary.
        canary: usize,
        /// The search seed.
        seed: u64,
        /// Found or missed.
        result: Search,
    },
    /// A chunk of clean cases.
    Clean {
        /// The canary.
        canary: usize,
        /// The search seed of the chunk.
        seed: u64,
        /// The cases held, or the shrunk case of a false alarm.
        result: Result<u32, Box<Case>>,
    },
}

impl Done {
    /// One line of progress: what the job found.
    pub fn progress_line(&self, canaries: &[Canary]) -> String {
        match self {
            Done::Search {
                canary,
                seed,
                result,
            } => match result {
                Search::Found(f) => format!(
                    "{} seed {seed}: found after {} cases in {:.2} s, shrunk to {} ops",
                    canaries[*canary].bug,
                    f.cases,
                    f.to_detection.as_secs_f64(),
                    f.shrunk.ops
                ),
                Search::Missed { cases, .. } => {
                    format!(
                        "{} seed {seed}: MISSED in {cases} cases",
                        canaries[*canary].bug
                    )
                }
            },
            Done::Clean {
                canary,
                seed,
                result,
            } => match result {
                Ok(n) => format!(
                    "{} clean seed {seed}: {n} cases held",
                    canaries[*canary].bug
                ),
                Err(case) => format!(
                    "{} clean seed {seed}: FALSE ALARM, scenario seed {}",
                    canaries[*canary].bug, case.scenario.seed
                ),
            },
        }
    }
}

/// Where the saved cases are, by (canary index, search seed); false alarms by (canary index,
/// clean search seed).
#[derive(Debug, Default)]
pub struct Saved {
    found: BTreeMap<(usize, u64), PathBuf>,
    false_alarms: BTreeMap<(usize, u64), PathBuf>,
}

/// Saves every found case and false alarm under `dir`, each with its report; a case that
/// cannot be saved is reported on stderr and loses its links, not the table of the whole run.
pub fn save_cases(dir: &Path, canaries: &[Canary], done: &[Done]) -> Saved {
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

/// Removes from `dir` the canary cases an earlier run saved there that this run's table no
/// longer links (`saved` is what this run saved), with their reports, so that regenerating the
/// table into a committed directory leaves no case behind that nothing links. Only files named
/// as a canary run names them (`*-canary-*` or `*-false-alarm-*`, `.json` or `.html`) whose
/// first bytes say quorumlab wrote them are removed; anything else in `dir` is left alone.
/// Returns the files removed.
pub fn remove_stale(dir: &Path, saved: &Saved) -> Vec<PathBuf> {
    let keep: std::collections::BTreeSet<PathBuf> = saved
        .found
        .values()
        .chain(saved.false_alarms.values())
        .flat_map(|p| [p.clone(), crate::report::html_path(p)])
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (name.contains("-canary-") || name.contains("false-alarm-"))
                && (name.ends_with(".json") || name.ends_with(".html"))
                && !keep.contains(p)
                && matches!(crate::fsutil::written_by_quorumlab(p), Ok(Some(true)))
        })
        .filter(|p| std::fs::remove_file(p).is_ok())
        .collect();
    removed.sort();
    removed
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

/// The command that regenerates the table.
fn command_line(settings: &Settings) -> String {
    let mut s = format!(
        "cargo run --release -- canaries --search-seeds {} --cases {} --max-shrink-iters {} \
         --clean-cases {}",
        settings.search_seeds, settings.cases, settings.max_shrink_iters, settings.clean_cases
    );
    if !settings.bugs.is_empty() {
        let names: Vec<_> = settings.bugs.iter().map(|b| b.name()).collect();
        write!(s, " --bug {}", names.join(",")).expect("string");
    }
    if let Some(t) = settings.threads {
        write!(s, " --threads {t}").expect("string");
    }
    match &settings.out {
        None => s.push_str(" --out -"),
        Some(p) if p.as_os_str() != DEFAULT_OUT => {
            write!(s, " --out {}", p.display()).expect("string")
        }
        Some(_) => {}
    }
    match &settings.cases_dir {
        None => s.push_str(" --cases-dir -"),
        Some(p) if p.as_os_str() != DEFAULT_CASES_DIR => {
            write!(s, " --cases-dir {}", p.display()).expect("string")
        }
        Some(_) => {}
    }
    s
}

/// The markdown of a run: the table of each bug's searches, the shrunk sizes, the false alarms
/// and the catalog, with links to the cases in `saved` relative to where the table is written.
/// `done` holds every job's result; `threads` and `wall` are what the run took. The flag is
/// true when every bug was found in every search, within 60 s (median) and shrunk to at most
/// 10 client ops, with no false alarm.
pub fn render(
    settings: &Settings,
    canaries: &[Canary],
    done: &[Done],
    saved: &Saved,
    threads: usize,
    wall: Duration,
) -> (String, bool) {
    let mut out = String::new();
    let ok = write_table(&mut out, settings, canaries, done, saved, threads, wall)
        .expect("writing to a String cannot fail");
    (out, ok)
}

fn write_table(
    w: &mut String,
    settings: &Settings,
    canaries: &[Canary],
    done: &[Done],
    saved: &Saved,
    threads: usize,
    wall: Duration,
) -> Result<bool, std::fmt::Error> {
    // Links are relative to the markdown's own directory.
    let md_dir = match settings.out.as_deref().and_then(Path::parent) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
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
    writeln!(w, "# Canaries: planted bugs the harness must find")?;
    writeln!(w)?;
    writeln!(
        w,
        "Generated by `quorumlab canaries`; regenerate with:\n\n```\n{}\n```\n",
        command_line(settings)
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
        settings.search_seeds,
        settings.cases,
        settings.max_shrink_iters,
        wall.as_secs_f64(),
        match &settings.cases_dir {
            None => String::new(),
            Some(dir) => format!(
                " Every shrunk case is saved in `{}` with its HTML report beside it, and linked \
                 below; `quorumlab replay FILE` reruns one.",
                dir.display()
            ),
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
        for d in done {
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
        settings.clean_per_bug(canaries.len()),
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
    Ok(ok)
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
