//! `quorumlab report`: one self-contained HTML report per history file.
//!
//! Exit status: 0 every report written; 2 a file could not be read, parsed or written (the
//! other files are still reported).
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use quorumlab::history::edn::{self, EdnOptions};
use quorumlab::history::History;

use crate::report;

/// The input format of a history file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// `quorumlab-history/1` JSON (saved cases included).
    Json,
    /// A Jepsen register or cas-register history in EDN.
    Edn,
}

/// Arguments of `quorumlab report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Directory for the reports [default: beside each history, same name with .html].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Input format [default: edn for files ending .edn, else json].
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// For a history without a saved verdict: most seconds to spend judging linearizability
    /// (the guarantee shows as undecided past it).
    // A value that starts with a hyphen (`-inf`) is the flag's, to be refused by name.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        allow_hyphen_values = true
    )]
    pub timeout: f64,
    /// Render this consistency-matrix.json as consistency-matrix.html in --out (default: the
    /// JSON's directory), linking examples through PREFIX [default: ../, the way from docs/ to
    /// the repository root].
    #[arg(long, value_name = "JSON")]
    pub matrix: Option<PathBuf>,
    /// With --matrix: the path from the page's directory to where example paths start.
    #[arg(long, value_name = "PREFIX", default_value = "../")]
    pub link_prefix: String,
    /// History files: quorumlab JSON histories, saved cases, or Jepsen EDN.
    #[arg(required_unless_present = "matrix")]
    pub files: Vec<PathBuf>,
}

fn load(file: &Path, format: ReportFormat) -> anyhow::Result<History> {
    match format {
        ReportFormat::Json => Ok(History::from_path(file)?),
        ReportFormat::Edn => {
            let bytes =
                std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", file.display()))?;
            edn::parse_with(text, &EdnOptions::default()).map_err(|e| e.in_file(file).into())
        }
    }
}

fn one(file: &Path, args: &ReportArgs, timeout: Duration) -> anyhow::Result<PathBuf> {
    let format = args.format.unwrap_or_else(|| {
        if file.extension().is_some_and(|e| e == "edn") {
            ReportFormat::Edn
        } else {
            ReportFormat::Json
        }
    });
    let history = load(file, format)?;
    let out = match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
            dir.join(report::html_path(Path::new(&report::title_of(file))))
        }
        None => report::html_path(file),
    };
    let views = report::witness::witnesses(&history, timeout);
    let html = report::render(&report::title_of(file), &history, &views);
    crate::fsutil::write_atomic(&out, html.as_bytes())
        .with_context(|| format!("writing report {}", out.display()))?;
    Ok(out)
}

fn matrix_page(json: &Path, args: &ReportArgs) -> anyhow::Result<PathBuf> {
    let text =
        std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?;
    let report: crate::matrix::MatrixReport = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a consistency-matrix.json", json.display()))?;
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => json.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating directory {}", dir.display()))?;
    let path = dir.join("consistency-matrix.html");
    let html = report::matrix_page::render(&report, &args.link_prefix);
    crate::fsutil::write_atomic(&path, html.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Runs `quorumlab report`.
pub fn run(args: ReportArgs) -> ExitCode {
    let timeout = match Duration::try_from_secs_f64(args.timeout) {
        Ok(t) => t,
        Err(_) => {
            eprintln!(
                "quorumlab report: --timeout {}: expected a non-negative number of seconds",
                args.timeout
            );
            return ExitCode::from(2);
        }
    };
    let mut bad = false;
    if let Some(json) = &args.matrix {
        match matrix_page(json, &args) {
            Ok(p) => println!("report: {}", p.display()),
            Err(e) => {
                bad = true;
                eprintln!("quorumlab report: {e:#}");
            }
        }
    }
    for file in &args.files {
        crate::oom::doing(&format!("report {}", file.display()));
        match one(file, &args, timeout) {
            Ok(out) => println!("report: {}", out.display()),
            Err(e) => {
                bad = true;
                eprintln!("quorumlab report: {e:#}");
            }
        }
    }
    ExitCode::from(if bad { 2 } else { 0 })
}
