//! Checks the history files named after a round count that many times, one thread, parsing
//! once: a fixed amount of checking work to time with a CPU-time counter when the machine is
//! too loaded for wall-clock benchmarks (BENCHMARKS.md).
//!
//! `cargo build --release --example check_rounds &&
//! perf stat -e task-clock target/release/examples/check_rounds 40 FILE...`; for an exact
//! count of instructions, `benches/checker-instructions` runs it under callgrind.
use quorumlab::check::linearizable::{check, CheckOptions};
use quorumlab::history::History;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .and_then(|r| r.parse().ok())
        .expect("usage: check_rounds ROUNDS FILE...");
    let histories: Vec<History> = args
        .map(|p| History::from_path(std::path::Path::new(&p)).expect("a history file"))
        .collect();
    let options = CheckOptions {
        threads: 1,
        ..CheckOptions::default()
    };
    let mut ops = 0;
    for _ in 0..rounds {
        for h in &histories {
            ops += check(h, &options).ops;
        }
    }
    println!("{ops} ops checked");
}
