//! `quorumlab run`: run one scenario, write its history, report which guarantees held.
// Doc comments here are clap's --help text, where `<n>` is a placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::config::ConfigFlags;
use crate::case::Case;
use crate::explore::generate;
use crate::scenario::Scenario;
use quorumlab::check::Guarantee;

/// Arguments of `quorumlab run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigFlags,
    /// Seed: picks the generated scenario and seeds the simulation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run this scenario (or saved case) file instead of generating one from the flags.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Where to write the history (replacing any file there) [default:
    /// target/quorumlab/run-<slug>-<id>.json, where <id> is a digest of the whole scenario].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `quorumlab run`. Exit 0 when every guarantee judged held, 1 when one broke, 2 on bad
/// input.
pub fn run(args: RunArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quorumlab run: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let (scenario, slug) = match &args.scenario {
        Some(path) => {
            let text = crate::case::read_text(path)
                .with_context(|| format!("reading scenario file {}", path.display()))?;
            let s = Scenario::from_json(&text).with_context(|| path.display().to_string())?;
            (s, "scenario".to_string())
        }
        None => (
            generate(&args.config.shape()?, args.seed),
            args.config.slug()?,
        ),
    };
    let expect = Guarantee::ALL.to_vec();
    let case = Case::run(&scenario, &expect)
        .map_err(|e| anyhow::anyhow!("seed {}: {e}", scenario.seed))?;
    let out = match &args.out {
        Some(path) => {
            case.save(path)?;
            path.clone()
        }
        // Named after the whole scenario, so runs that differ in any setting never replace
        // each other's history.
        None => {
            let dir = std::path::Path::new("target/quorumlab");
            let stem = format!("run-{slug}-{:016x}", case.id());
            crate::fsutil::save_unique(dir, &stem, "json", case.to_file_string().as_bytes())
                .with_context(|| format!("saving {stem}.json in {}", dir.display()))?
        }
    };
    let violated = case.judgement.violated();
    // A violation is what a person opens, so its report is written beside the history.
    let report = (!violated.is_empty()).then(|| crate::report::write_beside(&out));
    if args.json {
        let obj = serde_json::json!({
            "seed": scenario.seed,
            "history": out.display().to_string(),
            "report": match &report {
                Some(Ok(p)) => serde_json::Value::from(p.display().to_string()),
                _ => serde_json::Value::Null,
            },
            "guarantees": case.judgement.verdict_json(),
            "witnesses": case.judgement.witnesses_json(),
        });
        println!("{obj}");
    } else {
        println!(
            "seed {}: {} client ops, {} faults, history in {}",
            scenario.seed,
            case.history.ops.len(),
            scenario.faults.len(),
            out.display()
        );
        for (g, f) in &case.judgement.findings {
            let state = match f.held {
                Some(true) => "held",
                Some(false) => "VIOLATED",
                // The sentence below says why: a timeout, or ops the checker does not judge
                // (a history with cas ops, for every guarantee but linearizability).
                None => "undecided",
            };
            println!("  {:<22} {state}", g.name());
            if let Some(s) = &f.sentence {
                println!("    {s}");
            }
        }
        println!("statistics, times in simulated ms:");
        print!("{}", crate::summary::Tally::of(&case.history).text());
        match &report {
            Some(Ok(p)) => println!("report: {}", p.display()),
            Some(Err(e)) => println!("report: not written ({e:#})"),
            None => {}
        }
        if !violated.is_empty() {
            println!("replay: {}", crate::case::replay_command(&out));
        }
    }
    Ok(if violated.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
