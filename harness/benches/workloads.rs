//! Search throughput of each matrix workload: scenarios run and judged on every guarantee per
//! wall second, as one scenario of a matrix cell's search.
//!
//! `cargo bench -p quorumlab-harness --bench workloads [-- --cases N]`
//!
//! The cell is RF 3, R = W = 2, blocking read repair, hints on, with partitions (the fault
//! profile whose windows cost the most simulated time short of crashes); each workload runs N
//! scenarios under each replica choice in turn, seeded as the matrix seeds them.
use std::time::Instant;

use quorumlab::check::Guarantee;
use quorumlab_harness::explore::generate_with;
use quorumlab_harness::matrix::{case_seed, CellSpec, FaultProfile};
use quorumlab_harness::systems::leaderless::ReadRepair;
use quorumlab_harness::verdict::judge;
use quorumlab_harness::workload::{Workload, REPLICA_CHOICES};
use strum::VariantArray;

fn main() {
    let mut cases = 30u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--cases" {
            cases = args.next().and_then(|v| v.parse().ok()).expect("--cases N");
        }
    }
    let cell = CellSpec {
        rf: 3,
        r: 2,
        w: 2,
        read_repair: ReadRepair::Blocking,
        hints: true,
        anti_entropy: false,
        faults: FaultProfile::Partition,
    };
    println!(
        "{:<18} {:>7} {:>10} {:>14} {:>12}",
        "workload", "cases", "cases/s", "sim s/wall s", "ops/case"
    );
    for &workload in Workload::VARIANTS {
        let mut scenarios = Vec::new();
        for i in 0..cases {
            let choice = REPLICA_CHOICES[i as usize % REPLICA_CHOICES.len()];
            let seed = case_seed(&format!("bench-{}", workload.name()), i);
            scenarios.push(generate_with(&cell.strategy(workload, choice), seed));
        }
        let start = Instant::now();
        let mut simulated = 0.0;
        for s in &scenarios {
            let out = quorumlab_harness::runner::run(s).expect("scenario runs");
            simulated += out.simulated.as_secs_f64();
            let _ = judge(&out.history, Guarantee::ALL);
        }
        let secs = start.elapsed().as_secs_f64();
        let ops: usize = scenarios.iter().map(|s| s.op_count()).sum();
        println!(
            "{:<18} {:>7} {:>10.1} {:>14.1} {:>12.1}",
            workload.name(),
            cases,
            cases as f64 / secs,
            simulated / secs,
            ops as f64 / cases as f64
        );
    }
}
