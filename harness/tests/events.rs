//! The store's events and message counts in a run's history: complete counts, bounded events in
//! time order, the faults' effects visible in both, and the same bytes on every rerun.
use quorumlab_harness::case::Case;
use quorumlab_harness::explore::generate;
use quorumlab_harness::scenario::{Fault, FaultKind, PartitionShape, Scenario};
use quorumlab_harness::strategy::ScenarioShape;
use quorumlab_harness::systems::leaderless::StoreConfig;
use serde_json::Value;

/// 40 ops on 5 nodes with a partition {0,2}|{1,3,4} from 50 to 250 ms, then n1 crashed from
/// 300 to 500 ms.
fn scenario() -> Scenario {
    let shape = ScenarioShape {
        ops: 40,
        ..ScenarioShape::new(StoreConfig::default(), &[])
    };
    let mut s = generate(&shape, 7);
    s.faults = vec![
        Fault::at(
            50,
            FaultKind::Partition {
                shape: PartitionShape::Halves { mask: 0b00101 },
                duration_ms: 200,
            },
        ),
        Fault::at(
            300,
            FaultKind::Crash {
                node: 1,
                count: 1,
                down_ms: 200,
            },
        ),
    ];
    s
}

/// Runs the scenario as a saved case would: its history with the store's events.
struct Out {
    history: quorumlab::history::History,
    account: quorumlab_harness::system::Account,
}

fn run(s: &Scenario) -> Result<Out, quorumlab_harness::runner::RunError> {
    let account = quorumlab_harness::runner::run(s)?.account;
    let case = Case::run(s, &[quorumlab::check::Guarantee::Linearizable])?;
    Ok(Out {
        history: case.history,
        account,
    })
}

fn field<'a>(h: &'a quorumlab::history::History, name: &str) -> &'a Value {
    h.extra
        .get(name)
        .unwrap_or_else(|| panic!("no {name} field"))
}

#[test]
fn events_are_in_time_order_and_show_the_faults() {
    let out = run(&scenario()).expect("the run");
    let events = field(&out.history, "events");
    let list = events["list"].as_array().unwrap();
    assert!(!list.is_empty());
    assert!(list.len() <= quorumlab_harness::system::EVENT_LIMIT);
    assert_eq!(events["recorded"].as_u64().unwrap(), list.len() as u64);
    let times: Vec<u64> = list.iter().map(|e| e["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");

    // The restart of n1 after its crash at 300 ms is a second start.
    let starts: Vec<u64> = list
        .iter()
        .filter(|e| e["event"] == "start" && e["node"] == 1)
        .map(|e| e["time"].as_u64().unwrap())
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!(starts[1] >= 500_000_000, "{starts:?}");

    // Every message the trace says the partition dropped crossed the cut while it was up.
    let side = |n: u64| [0, 2].contains(&n);
    let cut: Vec<&Value> = list.iter().filter(|e| e["fate"] == "partitioned").collect();
    assert!(!cut.is_empty(), "the partition dropped something");
    for e in &cut {
        let (from, to) = (e["node"].as_u64().unwrap(), e["to"].as_u64().unwrap());
        assert_ne!(side(from), side(to), "{e}");
        let left = e["time"].as_u64().unwrap() + e["delay"].as_u64().unwrap();
        assert!((50_000_000..=250_000_000).contains(&left), "{e}");
    }
    // Nothing is sent to n1 while it is down but counted as crashed.
    for e in list.iter().filter(|e| e["event"] == "sent" && e["to"] == 1) {
        let left = e["time"].as_u64().unwrap() + e["delay"].as_u64().unwrap();
        if (301_000_000..500_000_000).contains(&left) {
            assert_eq!(e["fate"], "crashed", "{e}");
        }
    }
    // Writes applied per replica name the cells the clients' puts wrote.
    assert!(list.iter().any(|e| e["event"] == "applied"));
}

#[test]
fn message_counts_add_up_by_kind() {
    let out = run(&scenario()).expect("the run");
    let m = field(&out.history, "messages");
    let by_kind = m["by_kind"].as_object().unwrap();
    for f in ["sent", "held", "lost", "partitioned", "crashed"] {
        let sum: u64 = by_kind.values().map(|k| k[f].as_u64().unwrap()).sum();
        assert_eq!(m[f].as_u64().unwrap(), sum, "{f}");
    }
    assert_eq!(
        m["sent"].as_u64().unwrap(),
        out.account.counter("messages_sent") + {
            // Clients' requests and local reads are counted too; the nodes' counters do not.
            by_kind["request"]["sent"].as_u64().unwrap()
                + by_kind
                    .get("local_read")
                    .map_or(0, |k| k["sent"].as_u64().unwrap())
        }
    );
    assert!(m["partitioned"].as_u64().unwrap() > 0);
    assert!(by_kind["heartbeat"]["partitioned"].as_u64().unwrap() > 0);
    // Every traced send that was not a heartbeat is in the counts.
    let list = field(&out.history, "events")["list"].as_array().unwrap();
    let traced_writes = list
        .iter()
        .filter(|e| e["event"] == "sent" && e["msg"] == "write")
        .count() as u64;
    assert_eq!(traced_writes, by_kind["write"]["sent"].as_u64().unwrap());
}

#[test]
fn a_rerun_records_the_same_events_and_counts() {
    let a = run(&scenario()).expect("the run");
    let b = run(&scenario()).expect("the rerun");
    assert_eq!(a.history.to_json_string(), b.history.to_json_string());
}

#[test]
fn a_crash_armed_by_a_write_starts_that_long_after_the_write_is_issued() {
    let mut s = scenario();
    // Every op after 200 ms goes; the put of client 0 nearest 100 ms arms a crash of its
    // coordinator 7 ms after it is issued, however late its client issues it.
    for c in &mut s.clients {
        c.ops.retain(|o| o.at_ms < 200);
    }
    let (ci, i) = s
        .clients
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| c.ops.iter().enumerate().map(move |(i, o)| (ci, i, o)))
        .filter(|(_, _, o)| o.kind == quorumlab_harness::scenario::PlannedKind::Put)
        .min_by_key(|(_, _, o)| o.at_ms.abs_diff(100))
        .map(|(ci, i, _)| (ci, i))
        .expect("a put");
    let value = s.put_value(ci, i);
    s.faults = vec![Fault {
        after_write: Some(value),
        ..Fault::at(
            7,
            FaultKind::Crash {
                node: 2,
                count: 1,
                down_ms: 30,
            },
        )
    }];
    let out = run(&s).unwrap();
    let put = out
        .history
        .ops
        .iter()
        .find(|o| o.value == Some(quorumlab::history::Value::Int(value)))
        .expect("the put ran");
    let log = field(&out.history, "nemesis").as_array().unwrap();
    let start = log
        .iter()
        .find(|e| e["action"] == "start")
        .expect("the crash started");
    let started = start["time"].as_u64().unwrap();
    // The nemesis applies events between 1 ms steps, so the crash starts within the step
    // after its time.
    let due = put.invoke / 1_000_000 * 1_000_000 + 7_000_000;
    assert!(
        (due..=due + 1_000_000).contains(&started),
        "put issued at {} ns, crash at {started} ns",
        put.invoke
    );
    // Without the put, the crash never happens.
    s.clients[ci].ops.remove(i);
    let out = run(&s).unwrap();
    assert!(field(&out.history, "nemesis")
        .as_array()
        .unwrap()
        .is_empty());
}
