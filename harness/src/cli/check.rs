//! `quorumlab check`: check recorded histories for linearizability and, with `--guarantees`,
//! the weaker guarantees.
//!
//! Exit status: 0 every guarantee held in every file; 1 at least one violation; 2 bad input or
//! usage (the other files are still checked and reported); 3 no violation but at least one
//! guarantee undecided (timeout, memo limit, or a history that lacks what a checker needs).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use quorumlab::check::linearizable::{self, CheckOptions, LinReport, Verdict};
use quorumlab::check::Guarantee;
use quorumlab::history::edn::{self, EdnModel, EdnOptions};
use quorumlab::history::{History, Value};
use quorumlab::model::{Kv, Mutex, Queue, Set};

use quorumlab::check::judge::finding_until;

use crate::verdict::Finding;

mod capped;

/// The input format of history files.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// `quorumlab-history/1` JSON.
    Json,
    /// A Jepsen register or cas-register history in EDN.
    Edn,
}

/// The sequential model a history is checked against.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelArg {
    /// A map of registers: get, put, delete, append, cas (the default for JSON).
    Kv,
    /// Registers with get and put (EDN: :read, :write).
    Register,
    /// Registers with get, put and cas (EDN: :read, :write, :cas; the default for EDN).
    CasRegister,
    /// A set per key: add, members (EDN: :add, :read).
    Set,
    /// A FIFO queue per key: enqueue, dequeue (EDN: :enqueue, :dequeue).
    Queue,
    /// A lock per key: acquire, release (EDN: :acquire, :release).
    Mutex,
}

/// Arguments of `quorumlab check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Input format of the files.
    #[arg(long, value_enum, default_value = "json")]
    pub format: InputFormat,
    /// Print one JSON object per file and line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Give up checking a file after this many seconds, reading it not counted: every guarantee
    /// not judged by then is unknown (exit 3); a value too large for the clock means no limit.
    /// Default: no limit.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// With --format edn: the register's value before the history (an integer, else a string).
    #[arg(long, value_name = "VALUE")]
    pub initial: Option<String>,
    /// With --format edn: read `:fail :cas` as a cas whose compare did not match, instead of
    /// Jepsen's "did not take place". Stronger than Jepsen: it claims the register held
    /// another value during the op, which a client cannot know after a timeout. Default: off.
    #[arg(long)]
    pub failed_cas_did_not_swap: bool,
    /// The model to check against (and, with --format edn, what the :f names mean).
    /// Default: kv for JSON, cas-register for EDN.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Guarantees to judge, comma-separated: linearizable, no-stale-reads, read-your-writes,
    /// monotonic-reads, monotonic-writes, writes-follow-reads, convergence, or all.
    #[arg(long, default_value = "linearizable", value_parser = parse_guarantees)]
    pub guarantees: GuaranteeList,
    /// History files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// A parsed `--guarantees` list.
#[derive(Clone, Debug)]
pub struct GuaranteeList(pub Vec<Guarantee>);

fn parse_guarantees(s: &str) -> Result<GuaranteeList, String> {
    Guarantee::parse_list(s)
        .map(GuaranteeList)
        .map_err(|e| e.to_string())
}

/// The weaker guarantees' findings for one file, in list order. Once `deadline` has passed,
/// each guarantee not yet judged is undecided (timeout), and so is the one being judged: each
/// checker looks at the deadline as it goes.
fn weaker(
    history: &History,
    list: &[Guarantee],
    deadline: Option<Instant>,
) -> Vec<(Guarantee, Finding)> {
    list.iter()
        .filter(|g| **g != Guarantee::Linearizable)
        .map(|&g| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let timed_out = Finding {
                    held: None,
                    violations: 0,
                    witness: None,
                    sentence: Some("undecided: timeout".into()),
                };
                return (g, timed_out);
            }
            (g, finding_until(history, g, deadline))
        })
        .collect()
}

/// Runs `quorumlab check`.
pub fn run(args: CheckArgs) -> ExitCode {
    let timeout = match args.timeout {
        None => None,
        // More seconds than a `Duration` holds (about 585 billion years) is no limit.
        Some(t) if t.is_finite() && t >= 0.0 => Duration::try_from_secs_f64(t).ok(),
        Some(t) => {
            eprintln!("quorumlab check: --timeout {t}: expected a non-negative number of seconds");
            return ExitCode::from(2);
        }
    };
    if (args.initial.is_some() || args.failed_cas_did_not_swap) && args.format != InputFormat::Edn {
        eprintln!(
            "quorumlab check: --initial and --failed-cas-did-not-swap apply only with --format edn"
        );
        return ExitCode::from(2);
    }
    let options = CheckOptions {
        timeout,
        ..CheckOptions::default()
    };
    let edn_options = EdnOptions {
        initial: args.initial.as_deref().map(Value::parse_cli),
        fail_cas_did_not_swap: args.failed_cas_did_not_swap,
        model: match args.model {
            Some(ModelArg::Register) => EdnModel::Register,
            Some(ModelArg::Set) => EdnModel::Set,
            Some(ModelArg::Queue) => EdnModel::Queue,
            Some(ModelArg::Mutex) => EdnModel::Mutex,
            _ => EdnModel::CasRegister,
        },
    };
    let (mut bad, mut violation, mut unknown) = (false, false, false);
    let stdout = std::io::stdout();
    for file in &args.files {
        crate::oom::doing(&format!("check {}", file.display()));
        let history = match load(file, args.format, &edn_options) {
            Ok(h) => h,
            Err(e) => {
                bad = true;
                eprintln!("quorumlab check: {e:#}");
                if args.json {
                    let line = serde_json::json!({"file": file.display().to_string(), "error": format!("{e:#}")});
                    let _ = writeln!(stdout.lock(), "{line}");
                }
                continue;
            }
        };
        // --timeout bounds each file's checking (reading and parsing not included).
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let report = args
            .guarantees
            .0
            .contains(&Guarantee::Linearizable)
            .then(|| check_model(args.model, &history, &options));
        match report.as_ref().map(|r| &r.verdict) {
            None | Some(Verdict::Linearizable) => {}
            Some(Verdict::Violation(_)) => violation = true,
            Some(Verdict::Unknown(_)) => unknown = true,
        }
        let others = weaker(&history, &args.guarantees.0, deadline);
        for (_, f) in &others {
            match f.held {
                Some(true) => {}
                Some(false) => violation = true,
                None => unknown = true,
            }
        }
        let text = if args.json {
            json_line(file, &history, report.as_ref(), &others)
        } else {
            human(file, &history, report.as_ref(), &others)
        };
        let _ = writeln!(stdout.lock(), "{text}");
    }
    ExitCode::from(if bad {
        2
    } else if violation {
        1
    } else if unknown {
        3
    } else {
        0
    })
}

fn check_model(model: Option<ModelArg>, history: &History, options: &CheckOptions) -> LinReport {
    match model {
        None | Some(ModelArg::Kv) => linearizable::check(history, options),
        Some(ModelArg::Register) => linearizable::check_model(&Kv::register(), history, options),
        Some(ModelArg::CasRegister) => {
            linearizable::check_model(&Kv::cas_register(), history, options)
        }
        Some(ModelArg::Set) => linearizable::check_model(&Set, history, options),
        Some(ModelArg::Queue) => linearizable::check_model(&Queue, history, options),
        Some(ModelArg::Mutex) => linearizable::check_model(&Mutex, history, options),
    }
}

fn load(file: &Path, format: InputFormat, edn_options: &EdnOptions) -> anyhow::Result<History> {
    match format {
        InputFormat::Json => Ok(History::from_path(file)?),
        InputFormat::Edn => {
            let bytes = quorumlab::history::read_file(file)?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", file.display()))?;
            edn::parse_with(text, edn_options).map_err(|e| e.in_file(file).into())
        }
    }
}

fn json_line(
    file: &Path,
    history: &History,
    lin: Option<&LinReport>,
    others: &[(Guarantee, Finding)],
) -> String {
    let mut line = serde_json::json!({
        "file": file.display().to_string(),
        "ops": history.ops.len(),
        "keys": history.key_count(),
    });
    if let Some(r) = lin {
        let witness = match &r.verdict {
            Verdict::Violation(w) => capped::witness_json(w),
            _ => serde_json::Value::Null,
        };
        line["linearizable"] = serde_json::to_value(r.verdict.linearizable()).unwrap_or_default();
        line["elapsed_ms"] = (r.elapsed.as_secs_f64() * 1000.0).into();
        line["witness"] = witness;
        if let Verdict::Unknown(why) = &r.verdict {
            line["undecided"] = why.to_string().into();
        }
    }
    if !others.is_empty() {
        let mut guarantees = serde_json::Map::new();
        let mut witnesses = serde_json::Map::new();
        for (g, f) in others {
            guarantees.insert(
                g.name().into(),
                serde_json::to_value(f.held).unwrap_or_default(),
            );
            match (&f.witness, &f.sentence) {
                (Some(w), _) => {
                    witnesses.insert(g.name().into(), capped::capped(w));
                }
                (None, Some(why)) => {
                    witnesses.insert(g.name().into(), serde_json::json!({"undecided": why}));
                }
                _ => {}
            }
        }
        line["guarantees"] = guarantees.into();
        line["witnesses"] = witnesses.into();
    }
    line.to_string()
}

fn human(
    file: &Path,
    history: &History,
    lin: Option<&LinReport>,
    others: &[(Guarantee, Finding)],
) -> String {
    let mut out = match lin {
        Some(r) => {
            let verdict = match &r.verdict {
                Verdict::Linearizable => "linearizable".to_string(),
                Verdict::Violation(_) => "NOT linearizable".to_string(),
                Verdict::Unknown(why) => format!("unknown ({why})"),
            };
            format!(
                "{}: {verdict}, {} ops, {} keys, {:.3} ms",
                file.display(),
                r.ops,
                r.keys,
                r.elapsed.as_secs_f64() * 1000.0
            )
        }
        None => format!(
            "{}: {} ops, {} keys",
            file.display(),
            history.ops.len(),
            history.key_count()
        ),
    };
    if let Some(Verdict::Violation(w)) = lin.map(|r| &r.verdict) {
        out.push_str(&format!("\n  key {:?}: {}", w.key, w.sentence));
        let prefix: Vec<String> = w
            .prefix
            .iter()
            .map(|s| match &s.state {
                // Cut as it is rendered: a state can be most of the file.
                Some(state) => format!("#{}->{}", s.op, capped::cut_json(state)),
                None => format!("#{}", s.op),
            })
            .collect();
        out.push_str(&format!(
            "\n  longest linearizable prefix ({} ops, op id -> state after it): {}",
            w.prefix.len(),
            if prefix.is_empty() {
                "(empty)".to_string()
            } else {
                prefix.join(" ")
            }
        ));
    }
    for (g, f) in others {
        let state = match f.held {
            Some(true) => "held".to_string(),
            Some(false) if f.violations > 1 => format!("VIOLATED ({} times)", f.violations),
            Some(false) => "VIOLATED".to_string(),
            None => "undecided".to_string(),
        };
        out.push_str(&format!("\n  {}: {state}", g.name()));
        if let Some(s) = &f.sentence {
            out.push_str(&format!("\n    {s}"));
        }
    }
    out
}
