//! Scenario cases per wall second: what bounds how many cases `explore` tries.
//!
//! `cargo bench -p quorumlab-harness --bench scenarios [-- --cases N]`
//!
//! Each case is a generated scenario (5 nodes, RF 3, quorum, 4 clients, 100 ops over 3 keys,
//! up to 10 mixed faults, 2 s settle and the final reads), run in turmoil and judged on
//! linearizability, as one case of `quorumlab explore`. Reported: cases per wall second with and
//! without judging, and simulated seconds per wall second.
use std::time::Instant;

use quorumlab::check::Guarantee;
use quorumlab_harness::explore::generate;
use quorumlab_harness::strategy::{parse_fault_list, ScenarioShape};
use quorumlab_harness::systems::leaderless::StoreConfig;
use quorumlab_harness::verdict::judge;

fn main() {
    let mut cases = 200u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--cases" {
            cases = args.next().and_then(|v| v.parse().ok()).expect("--cases N");
        }
    }
    let faults = parse_fault_list("mixed").expect("a valid fault list");
    let shape = ScenarioShape {
        max_faults: 10,
        ..ScenarioShape::new(StoreConfig::default(), &faults)
    };
    let scenarios: Vec<_> = (1..=cases).map(|seed| generate(&shape, seed)).collect();
    let faults: usize = scenarios.iter().map(|s| s.faults.len()).sum();

    let start = Instant::now();
    let mut simulated = 0.0;
    let mut histories = Vec::new();
    for s in &scenarios {
        let out = quorumlab_harness::runner::run(s).expect("scenario runs");
        simulated += out.simulated.as_secs_f64();
        histories.push(out.history);
    }
    let run_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut violated = 0;
    for h in &histories {
        if !judge(h, &[Guarantee::Linearizable]).violated().is_empty() {
            violated += 1;
        }
    }
    let check_secs = start.elapsed().as_secs_f64();

    println!("scenarios: {cases} (5 nodes, 4 clients, 100 ops, {faults} faults in all, mixed)");
    println!("run only:        {:8.1} cases/s", cases as f64 / run_secs);
    println!(
        "run + judge:     {:8.1} cases/s",
        cases as f64 / (run_secs + check_secs)
    );
    println!(
        "simulated time:  {:8.1} simulated s per wall s ({:.1} simulated s in all)",
        simulated / run_secs,
        simulated
    );
    println!("linearizability violated in {violated} of {cases} (store default: fsync periodic)");
}
