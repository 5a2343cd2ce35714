//! `quorumlab check`: check recorded histories for linearizability.
//!
//! Exit status: 0 every file linearizable; 1 at least one violation; 2 bad input or usage
//! (the other files are still checked and reported); 3 no violation but at least one file
//! undecided (timeout or memo limit).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use quorumlab::check::linearizable::{self, CheckOptions, LinReport, Verdict};
use quorumlab::history::{edn, History, Value};

/// The input format of history files.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// `quorumlab-history/1` JSON.
    Json,
    /// A Jepsen register or cas-register history in EDN.
    Edn,
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
    /// Give up on a file after this many seconds (answer: unknown, exit 3). Default: no limit.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// With --format edn: the register's value before the history (an integer, else a string).
    #[arg(long, value_name = "VALUE")]
    pub initial: Option<String>,
    /// History files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `quorumlab check`.
pub fn run(args: CheckArgs) -> ExitCode {
    let timeout = match args.timeout {
        None => None,
        Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            eprintln!("quorumlab check: --timeout {t}: expected a non-negative number of seconds");
            return ExitCode::from(2);
        }
    };
    if args.initial.is_some() && args.format != InputFormat::Edn {
        eprintln!("quorumlab check: --initial applies only with --format edn");
        return ExitCode::from(2);
    }
    let options = CheckOptions {
        timeout,
        ..CheckOptions::default()
    };
    let initial = args.initial.as_deref().map(Value::parse_cli);
    let (mut bad, mut violation, mut unknown) = (false, false, false);
    let stdout = std::io::stdout();
    for file in &args.files {
        let history = match load(file, args.format, initial.clone()) {
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
        let report = linearizable::check(&history, &options);
        match report.verdict {
            Verdict::Linearizable => {}
            Verdict::Violation(_) => violation = true,
            Verdict::Unknown(_) => unknown = true,
        }
        let text = if args.json {
            json_line(file, &report)
        } else {
            human(file, &report)
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

fn load(file: &Path, format: InputFormat, initial: Option<Value>) -> anyhow::Result<History> {
    match format {
        InputFormat::Json => Ok(History::from_path(file)?),
        InputFormat::Edn => {
            let bytes =
                std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", file.display()))?;
            edn::parse(text, initial).map_err(|e| e.in_file(file).into())
        }
    }
}

fn json_line(file: &Path, r: &LinReport) -> String {
    let witness = match &r.verdict {
        Verdict::Violation(w) => serde_json::to_value(w).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    let mut line = serde_json::json!({
        "file": file.display().to_string(),
        "linearizable": r.verdict.linearizable(),
        "ops": r.ops,
        "keys": r.keys,
        "elapsed_ms": r.elapsed.as_secs_f64() * 1000.0,
        "witness": witness,
    });
    if let Verdict::Unknown(why) = &r.verdict {
        line["undecided"] = why.to_string().into();
    }
    line.to_string()
}

fn human(file: &Path, r: &LinReport) -> String {
    let verdict = match &r.verdict {
        Verdict::Linearizable => "linearizable".to_string(),
        Verdict::Violation(_) => "NOT linearizable".to_string(),
        Verdict::Unknown(why) => format!("unknown ({why})"),
    };
    let mut out = format!(
        "{}: {verdict}, {} ops, {} keys, {:.3} ms",
        file.display(),
        r.ops,
        r.keys,
        r.elapsed.as_secs_f64() * 1000.0
    );
    if let Verdict::Violation(w) = &r.verdict {
        out.push_str(&format!("\n  key {:?}: {}", w.key, w.sentence));
        let prefix: Vec<String> = w
            .prefix
            .iter()
            .map(|s| format!("#{}->{}", s.op, s.state))
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
    out
}
