//! `quorumlab matrix`: which guarantees each quorum configuration keeps, from evidence.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::matrix::{self, parse_shard, MatrixOptions, MatrixReport, Profile};

/// Arguments of `quorumlab matrix`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MatrixArgs {
    #[command(subcommand)]
    pub action: Option<MatrixAction>,
    /// quick: a documented subset that runs in minutes; full: every cell (shard it).
    #[arg(long, default_value = "quick")]
    pub profile: Profile,
    /// Seeds per cell (1 to 10,000) [default: 3 for quick, 10 for full].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub seeds: Option<u32>,
    /// Run only slice I of N (cells I-1, I-1+N, ...); join slices with `matrix merge`.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Directory for consistency-matrix.md and consistency-matrix.json.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
    /// Directory for the shrunk counterexamples.
    #[arg(long, default_value = "histories/matrix")]
    pub examples: PathBuf,
    /// Most shrink steps per counterexample (0 to 1,000,000).
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(0..=1000000))]
    pub shrink_steps: u32,
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
}

/// Runs `quorumlab matrix`: exit 0 when the report was written, 2 on bad input or a failed run.
pub fn run(args: MatrixArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
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

fn run_inner(args: MatrixArgs) -> anyhow::Result<()> {
    if let Some(MatrixAction::Merge { files, out }) = args.action {
        let mut shards = Vec::new();
        for f in &files {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let report: MatrixReport = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a matrix shard file", f.display()))?;
            shards.push(report);
        }
        let report = matrix::merge(shards).map_err(anyhow::Error::msg)?;
        for p in matrix::write(
            &report,
            &out,
            &link_prefix(&out, std::path::Path::new("histories")),
        )? {
            println!("wrote {}", p.display());
        }
        return Ok(());
    }
    let seeds = args.seeds.unwrap_or(args.profile.default_seeds());
    if seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let options = MatrixOptions {
        profile: args.profile,
        seeds,
        shard: args.shard,
        examples_prefix: args.examples.display().to_string(),
        examples_dir: args.examples.clone(),
        shrink_steps: args.shrink_steps,
        threads,
    };
    let total = matrix::shard_indices(matrix::cells(args.profile).len(), args.shard).len();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} cells {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        b
    });
    let progress = |done: usize, total: usize, cell: &matrix::CellResult| match &bar {
        Some(b) => {
            b.set_position(done as u64);
            b.set_message(cell.spec.slug());
        }
        None => eprintln!("[{done}/{total}] {}", cell.spec.slug()),
    };
    if args.shard.is_none() {
        // A whole run rewrites every example, so earlier ones (of cells that now hold) go.
        remove_old_examples(&args.examples)?;
    }
    let report = matrix::run(&options, &progress).map_err(anyhow::Error::msg)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    for p in matrix::write(&report, &args.out, &link_prefix(&args.out, &args.examples))? {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Removes the example files a previous whole run left (`rf*.json`) in the examples directory.
fn remove_old_examples(dir: &std::path::Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("rf") && name.ends_with(".json") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}
