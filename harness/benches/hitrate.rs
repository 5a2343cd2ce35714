//! How often one scenario of each workload breaks each guarantee of a matrix cell: the measure
//! behind the workload mix. A workload whose hit rate on a predicted break is 0 in hundreds of
//! scenarios is not searching for it; one whose rate is high finds it within the quick budget.
//!
//! `cargo bench -p quorumlab-harness --bench hitrate -- [--cases N] [--workload NAME]
//! [--gaps FILE | CELL...]`
//!
//! CELL is a matrix slug (e.g. `rf3-r2-w2-rr-none-hints-on-none`, or a leader-follower cell's,
//! `leader-follower-async-leader-fenced-partition`); `--gaps FILE` reads the `CELL GUARANTEE`
//! lines of docs/theory-gaps.txt and reports those guarantees only. Each workload runs N
//! scenarios (default 30) under each replica choice (once, for a leader-follower cell), seeded
//! from the cell's slug under a prefix of their own, so the scenarios are not the matrix's
//! own. A leader-follower cell also runs the aimed-only workloads (`leader-change`).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use proptest::strategy::BoxedStrategy;

use quorumlab::check::Guarantee;
use quorumlab_harness::explore::generate_with;
use quorumlab_harness::matrix::{case_seed, cells, system_cells, CellSpec, Profile};
use quorumlab_harness::scenario::Scenario;
use quorumlab_harness::systems::leader_follower;
use quorumlab_harness::verdict::judge;
use quorumlab_harness::workload::{Workload, REPLICA_CHOICES};
use strum::VariantArray;

fn main() {
    let mut cases = 30u32;
    let mut only: Option<String> = None;
    let mut wanted: BTreeMap<String, Vec<Guarantee>> = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cases" => cases = args.next().and_then(|v| v.parse().ok()).expect("--cases N"),
            "--gaps" => {
                let file = args.next().expect("--gaps FILE");
                let text = std::fs::read_to_string(&file).expect("reading the gaps file");
                for line in text.lines().map(str::trim) {
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let mut parts = line.split_whitespace();
                    let (Some(cell), Some(g)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let g = Guarantee::from_name(g).expect("a guarantee name");
                    wanted.entry(cell.to_string()).or_default().push(g);
                }
            }
            "--workload" => only = args.next(),
            "--bench" => {}
            slug => {
                wanted.entry(slug.to_string()).or_default();
            }
        }
    }
    let all: Vec<CellSpec> = cells(Profile::Full);
    let lf = system_cells(Profile::Full, leader_follower::NAME);
    for (slug, guarantees) in &wanted {
        let guarantees: Vec<Guarantee> = if guarantees.is_empty() {
            Guarantee::ALL.to_vec()
        } else {
            guarantees.clone()
        };
        // (workload, replica choice, strategy) rows of this cell.
        let mut rows: Vec<(Workload, Option<&str>, BoxedStrategy<Scenario>)> = Vec::new();
        if let Some(cell) = all.iter().find(|c| &c.slug() == slug) {
            for &workload in Workload::VARIANTS {
                for choice in REPLICA_CHOICES {
                    rows.push((
                        workload,
                        Some(choice.name()),
                        cell.strategy(workload, choice),
                    ));
                }
            }
        } else if let Some(cell) = lf.iter().find(|c| &c.slug() == slug) {
            for workload in Workload::all() {
                rows.push((workload, None, cell.strategy(workload)));
            }
        } else {
            eprintln!("hitrate: no cell {slug} in the full profile");
            continue;
        }
        println!("{slug}");
        print!("  {:<18} {:<9}", "workload", "choice");
        for g in &guarantees {
            print!(" {:>20}", g.name());
        }
        println!();
        for (workload, choice, strategy) in rows {
            if only.as_deref().is_some_and(|w| w != workload.name()) {
                continue;
            }
            let prefix = match choice {
                Some(choice) => format!("hitrate-{slug}-{}-{choice}", workload.name()),
                None => format!("hitrate-{slug}-{}", workload.name()),
            };
            let hits = rates(&strategy, &prefix, cases, &guarantees);
            print!("  {:<18} {:<9}", workload.name(), choice.unwrap_or("-"));
            for h in hits {
                print!(" {:>20}", format!("{h}/{cases}"));
            }
            println!();
        }
    }
}

/// How many of `cases` scenarios of `strategy`, seeded under `prefix`, break each of
/// `guarantees`.
fn rates(
    strategy: &BoxedStrategy<Scenario>,
    prefix: &str,
    cases: u32,
    guarantees: &[Guarantee],
) -> Vec<u32> {
    let scenarios: Vec<_> = (0..cases)
        .map(|i| generate_with(strategy, case_seed(prefix, i)))
        .collect();
    let next = AtomicUsize::new(0);
    let hits = Mutex::new(vec![0u32; guarantees.len()]);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(scenario) = scenarios.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let out = quorumlab_harness::runner::run(scenario).expect("scenario runs");
                    let broken = judge(&out.history, guarantees).violated();
                    let mut hits = hits.lock().expect("no panics while counting");
                    for (n, g) in guarantees.iter().enumerate() {
                        if broken.contains(g) {
                            hits[n] += 1;
                        }
                    }
                }
            });
        }
    });
    hits.into_inner().expect("no panics while counting")
}
