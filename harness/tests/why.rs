//! The report's sentence of what the store was doing at a witness, held against the history it
//! speaks of: every claim in it is checked again here from the case's own records, by a reader
//! that shares no code with the one that wrote it.
use quorumlab::check::Guarantee;
use quorumlab::history::{show, History, Op};
use quorumlab_harness::explore::{explore, ExploreOptions, Outcome, Quiet};
use quorumlab_harness::report::{layout, why, witness};
use quorumlab_harness::strategy::{FaultChoice, ScenarioShape};
use quorumlab_harness::systems::leaderless::{ConsistencyLevel, StoreConfig};

/// A shrunk case breaking linearizability at R = W = 1 under these faults.
fn found(faults: &[FaultChoice], seed: u64) -> History {
    let store = StoreConfig {
        read: ConsistencyLevel::One,
        write: ConsistencyLevel::One,
        ..StoreConfig::default()
    };
    let options = ExploreOptions {
        workload: Default::default(),
        shape: ScenarioShape::new(store, faults),
        expect: vec![Guarantee::Linearizable, Guarantee::NoStaleReads],
        cases: 100,
        seed,
        max_shrink_iters: 100,
    };
    match explore(&options, &Quiet).expect("the search runs") {
        Outcome::Found { case, .. } => {
            History::from_json_str(&case.to_file_string()).expect("the case file reads")
        }
        Outcome::Held { .. } => panic!("R = W = 1 held under {faults:?} (search seed {seed})"),
    }
}

/// The fault windows, in ns, with what they touched as the nemesis log says it.
fn windows(h: &History) -> Vec<(String, u64, u64, serde_json::Value)> {
    let mut out: Vec<(String, u64, u64, serde_json::Value)> = Vec::new();
    let end = h.ops.iter().filter_map(|o| o.complete).max().unwrap_or(0);
    for e in h.extra["nemesis"].as_array().unwrap() {
        let index = e["index"].as_u64().unwrap();
        let time = e["time"].as_u64().unwrap();
        match e["action"].as_str().unwrap() {
            "start" => out.push((format!("{index}"), time, u64::MAX, e["detail"].clone())),
            _ => {
                if let Some(w) = out
                    .iter_mut()
                    .rev()
                    .find(|w| w.0 == format!("{index}") && w.2 == u64::MAX)
                {
                    w.2 = time;
                }
            }
        }
    }
    for w in &mut out {
        if w.2 == u64::MAX {
            w.2 = end.max(w.1);
        }
    }
    out
}

fn nodes_in(text: &str) -> Vec<u64> {
    text.split(", ")
        .map(|n| n.trim_start_matches('n').parse().expect("a node name"))
        .collect()
}

/// Checks one clause against the op it names.
fn check_clause(h: &History, clause: &str, reader: Option<&Op>) {
    let name = clause.split(' ').next().unwrap();
    let id: u64 = name.split('#').nth(1).unwrap().parse().unwrap();
    let op = h
        .ops
        .iter()
        .find(|o| o.id == id)
        .expect("the op named exists");
    let coordinator = op.extra.get("coordinator").and_then(|c| c.as_u64());
    let cl = op.extra.get("cl").and_then(|c| c.as_str());
    if let Some(rest) = clause.split(" through n").nth(1) {
        let c: u64 = rest.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(Some(c), coordinator, "{clause}");
    }
    if let Some(rest) = clause.split("(coordinator n").nth(1) {
        let c: u64 = rest.split(',').next().unwrap().parse().unwrap();
        assert_eq!(Some(c), coordinator, "{clause}");
        let level = rest.split("W=").nth(1).unwrap().split(')').next().unwrap();
        assert_eq!(Some(level), cl, "{clause}");
    }
    if let Some(level) = clause.split("(R=").nth(1) {
        assert_eq!(Some(level.split(')').next().unwrap()), cl, "{clause}");
    }
    let replicas: Vec<u64> = op
        .extra
        .get("replicas")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|n| n.as_u64()).collect())
        .unwrap_or_default();
    if let Some(rest) = clause.split(" asked only ").nth(1) {
        assert_eq!(
            nodes_in(rest.split(" and ").next().unwrap()),
            replicas,
            "{clause}"
        );
    } else if let Some(rest) = clause.split(" asked ").nth(1) {
        assert_eq!(
            nodes_in(rest.split(" and ").next().unwrap()),
            replicas,
            "{clause}"
        );
    }
    if let Some(rest) = clause.split(" and read ").nth(1) {
        let value = rest.split(" during ").next().unwrap();
        assert_eq!(value, show(&op.read), "{clause}");
    }
    let at = op
        .complete
        .filter(|_| !clause.contains("never completed"))
        .unwrap_or(op.invoke);
    let active: Vec<_> = windows(h)
        .into_iter()
        .filter(|w| w.1 <= at && at <= w.2)
        .collect();
    if clause.contains(" during ") {
        assert!(!active.is_empty(), "{clause}: no fault window at {at} ns");
        for w in &active {
            // Each active window's nodes appear in the clause.
            let nodes: Vec<u64> = w.3["sides"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .flat_map(|x| x.as_array().unwrap().iter())
                        .filter_map(|n| n.as_u64())
                        .collect()
                })
                .or_else(|| {
                    w.3["nodes"]
                        .as_array()
                        .map(|n| n.iter().filter_map(|x| x.as_u64()).collect())
                })
                .unwrap_or_default();
            for n in nodes {
                assert!(
                    clause.contains(&n.to_string()),
                    "{clause}: node {n} not named"
                );
            }
        }
    }
    if clause.contains("outside every fault window") {
        assert!(active.is_empty(), "{clause}");
    }
    if let (Some(rest), Some(r)) = (clause.split("had been applied on ").nth(1), reader) {
        let list = rest
            .split(" when ")
            .next()
            .unwrap()
            .trim_end_matches(" only");
        let ts = op.extra["timestamp"].as_u64().unwrap();
        let writer = op.extra["writer"].as_u64().unwrap();
        let mut applied: Vec<u64> = h.extra["events"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["event"] == "applied"
                    && e["key"] == op.key.as_str()
                    && e["timestamp"] == ts
                    && e["writer"] == writer
                    && e["time"].as_u64().unwrap() < r.invoke
            })
            .map(|e| e["node"].as_u64().unwrap())
            .collect();
        applied.sort_unstable();
        applied.dedup();
        assert_eq!(nodes_in(list), applied, "{clause}");
    }
}

fn check(h: &History) -> usize {
    let t = layout::timeline(h);
    let mut checked = 0;
    for v in witness::witnesses(h, std::time::Duration::from_secs(10)) {
        if v.state != "violated" {
            continue;
        }
        let sentence = why::sentence(h, &v, &t.bands).expect("a sentence for a witness");
        let reader = v.culprit.and_then(|c| h.ops.iter().find(|o| o.id == c));
        for clause in sentence.split("; ") {
            check_clause(h, clause, reader);
            checked += 1;
        }
        eprintln!("{}: {sentence}", v.guarantee);
    }
    checked
}

#[test]
fn every_claim_holds_for_cases_found_under_partitions() {
    assert!(check(&found(&[FaultChoice::Partition], 1)) >= 2);
    assert!(check(&found(&[FaultChoice::Isolate], 2)) >= 2);
}

#[test]
fn every_claim_holds_for_cases_found_under_crashes() {
    assert!(check(&found(&[FaultChoice::Crash], 3)) >= 2);
}
