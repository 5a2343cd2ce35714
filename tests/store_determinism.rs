//! Determinism: the same seed and workload, run in two separate processes, give
//! byte-identical event traces.
//!
//! The test re-executes its own binary twice with `STORE_TRACE_OUT` set; each child runs the
//! workload and writes the trace there; the parent compares the files. To replay one run by
//! hand: `STORE_TRACE_OUT=/tmp/trace.jsonl cargo test --test store_determinism -- --exact
//! same_seed_gives_the_same_trace_in_two_processes`.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use quorumlab::store::client::Client;
use quorumlab::store::{self, node_host_name, ClusterControl, NodeId, StoreConfig};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ENV: &str = "STORE_TRACE_OUT";
const TEST: &str = "same_seed_gives_the_same_trace_in_two_processes";

/// Four clients doing random gets, puts and deletes on a few keys through random
/// coordinators, under a partition, a crash and restart, clock skew and link loss.
fn run_workload(seed: u64) -> String {
    let config = StoreConfig {
        anti_entropy: true,
        anti_entropy_interval: Duration::from_millis(300),
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .fail_rate(0.002)
        .repair_rate(0.5)
        .udp_capacity(4096)
        .simulation_duration(Duration::from_secs(60))
        .rng_seed(seed)
        .build();
    store::install(&mut sim, &config, seed, &control).unwrap();
    let results = Rc::new(RefCell::new(Vec::new()));
    for c in 0..4u64 {
        let (cfg, res) = (config.clone(), results.clone());
        sim.client(format!("c{c}"), async move {
            let client = Client::bind(&cfg).await?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(c + 1);
            for i in 0..40 {
                let key = format!("k{}", rng.next_u32() % 4);
                let node = NodeId((rng.next_u32() % cfg.nodes as u32) as u16);
                let r = match rng.next_u32() % 4 {
                    0 => client.delete(node, &key, None).await,
                    1 => client.get(node, &key, None).await,
                    _ => client.put(node, &key, (c * 1000 + i) as i64, None).await,
                };
                res.borrow_mut().push(format!("c{c} {i} {r:?}"));
                tokio::time::sleep(Duration::from_millis(u64::from(rng.next_u32() % 30))).await;
            }
            Ok(())
        });
    }
    let mut step = 0u64;
    loop {
        let done = sim.step().unwrap();
        step += 1;
        match step {
            300 => sim.partition(node_host_name(NodeId(1)), node_host_name(NodeId(2))),
            500 => control.set_clock_offset(NodeId(4), -3_000),
            800 => sim.crash(node_host_name(NodeId(3))),
            1300 => sim.bounce(node_host_name(NodeId(3))),
            1600 => sim.repair(node_host_name(NodeId(1)), node_host_name(NodeId(2))),
            _ => {}
        }
        if done {
            break;
        }
    }
    let mut out = control.trace_jsonl();
    for r in results.borrow().iter() {
        out.push_str(r);
        out.push('\n');
    }
    out
}

#[test]
fn same_seed_gives_the_same_trace_in_two_processes() {
    if let Ok(path) = std::env::var(ENV) {
        std::fs::write(&path, run_workload(11)).expect("write trace");
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = std::env::temp_dir();
    let mut traces = Vec::new();
    for run in 0..2 {
        let path = dir.join(format!(
            "quorumlab-store-trace-{}-{run}.jsonl",
            std::process::id()
        ));
        let status = Command::new(&exe)
            .args(["--exact", TEST, "--test-threads=1", "--nocapture"])
            .env(ENV, &path)
            .status()
            .expect("re-run the test binary");
        assert!(status.success(), "child run {run} failed");
        traces.push(std::fs::read(&path).expect("child wrote its trace"));
        let _ = std::fs::remove_file(&path);
    }
    assert!(traces[0].len() > 10_000, "trace too small to mean anything");
    if traces[0] != traces[1] {
        let (a, b) = (
            String::from_utf8_lossy(&traces[0]),
            String::from_utf8_lossy(&traces[1]),
        );
        let line = a.lines().zip(b.lines()).position(|(x, y)| x != y);
        panic!("traces differ (first differing line: {line:?})");
    }
    let text = String::from_utf8_lossy(&traces[0]);
    for needle in [
        "\"event\":\"start\"",
        "\"event\":\"applied\"",
        "\"event\":\"down\"",
    ] {
        assert!(text.contains(needle), "trace lacks {needle}");
    }
}

#[test]
fn a_different_seed_gives_a_different_trace() {
    assert_ne!(run_workload(11), run_workload(12));
}
