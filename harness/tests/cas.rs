//! Compare-and-set through the boundary: planned, generated, run and recorded as the history's
//! cas ops, judged by the linearizability checker, and refused for a system without it.
//!
//! The leader-follower store performs cas at the leader in log order; the leaderless store,
//! last-write-wins, has none.
use quorumlab::check::Guarantee;
use quorumlab::history::{OpKind, Outcome as Done};
use quorumlab_harness::explore::{explore, generate, ExploreOptions, Outcome as Explored, Quiet};
use quorumlab_harness::scenario::{
    ClientPlan, PlannedKind, PlannedOp, Scenario, SystemConfig, SystemSpec,
};
use quorumlab_harness::strategy::{parse_fault_list, ScenarioShape};
use quorumlab_harness::systems::leader_follower::NAME;
use quorumlab_harness::verdict::judge;
use serde_json::{json, Value};

fn leader_follower(config: Value) -> SystemConfig {
    SystemConfig::Named(SystemSpec {
        name: NAME.into(),
        nodes: 3,
        config,
    })
}

/// A busy workload on two keys with a third of its ops cas, and faults of 100 to 600 ms.
fn shape(config: Value, faults: &str) -> ScenarioShape {
    ScenarioShape {
        clients: 4,
        ops: 60,
        keys: 2,
        think_ms: 10,
        cas_percent: 35,
        settle_ms: 3000,
        fault_window_ms: Some((100, 600)),
        ..ScenarioShape::for_system(leader_follower(config), &parse_fault_list(faults).unwrap())
    }
}

fn linearizable() -> Value {
    json!({"failover_timeout_ms": 100})
}

fn op(kind: PlannedKind, at_ms: u32, value: Option<i64>) -> PlannedOp {
    PlannedOp {
        kind,
        key: 0,
        coordinator: 1,
        at_ms,
        value,
    }
}

#[test]
fn a_planned_cas_is_recorded_as_the_historys_cas() {
    let mut s = generate(&shape(linearizable(), "none"), 1);
    s.keys = 1;
    s.clients = vec![ClientPlan {
        sticky: None,
        ops: vec![
            op(PlannedKind::Put, 10, Some(7)),
            // Matches: swaps 7 for 8.
            op(PlannedKind::Cas { expect: Some(7) }, 20, Some(8)),
            // 8 is there now, not 7: keeps 8.
            op(PlannedKind::Cas { expect: Some(7) }, 30, Some(9)),
            // Absent expected, key present: keeps 8.
            op(PlannedKind::Cas { expect: None }, 40, Some(10)),
            op(PlannedKind::Get, 50, None),
        ],
    }];
    // The scenario file says what each cas expects, and reads back as written.
    let text = s.to_json();
    let file: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<&Value> = (0..5)
        .map(|i| &file["scenario"]["clients"][0]["ops"][i]["kind"])
        .collect();
    assert_eq!(kinds[0], &json!("put"));
    assert_eq!(kinds[1], &json!({"cas": {"expect": 7}}));
    assert_eq!(kinds[3], &json!({"cas": {"expect": null}}));
    assert_eq!(Scenario::from_json(&text).unwrap(), s);
    // A cas with a field it does not have is refused, naming it.
    let bad = text.replacen(r#""expect": 7"#, r#""expect": 7, "expected": 7"#, 1);
    let err = Scenario::from_json(&bad).unwrap_err().to_string();
    assert!(
        err.contains("scenario.clients[0].ops[1].kind") && err.contains("unknown field"),
        "{err}"
    );

    let out = quorumlab_harness::runner::run(&s).unwrap();
    let cas: Vec<_> = out
        .history
        .ops
        .iter()
        .filter(|o| o.kind == OpKind::Cas)
        .collect();
    assert_eq!(cas.len(), 3);
    assert!(cas.iter().all(|o| o.outcome == Done::Ok));
    let swapped: Vec<_> = cas.iter().map(|o| o.swapped).collect();
    assert_eq!(swapped, [Some(true), Some(false), Some(false)]);
    let json = out.history.to_json_string();
    assert!(
        json.contains(r#""kind":"cas","key":"k0","value":8,"expect":7,"#),
        "{json}"
    );
    assert!(json.contains(r#""value":10,"expect":null,"#), "{json}");
    let get = out
        .history
        .ops
        .iter()
        .find(|o| o.kind == OpKind::Get)
        .unwrap();
    assert_eq!(get.read, Some(quorumlab::history::Value::Int(8)));
    // The checker judges the swaps: this history is linearizable, and flipping one swap's
    // answer makes it not.
    assert!(judge(&out.history, &[Guarantee::Linearizable])
        .violated()
        .is_empty());
    let mut wrong = out.history.clone();
    let second = wrong
        .ops
        .iter_mut()
        .filter(|o| o.kind == OpKind::Cas)
        .nth(1);
    second.unwrap().swapped = Some(true);
    assert_eq!(
        judge(&wrong, &[Guarantee::Linearizable]).violated(),
        [Guarantee::Linearizable]
    );
}

#[test]
fn a_cas_op_is_refused_for_a_system_without_cas() {
    let mut s = generate(&ScenarioShape::new(Default::default(), &[]), 1);
    s.clients[1].ops[2].kind = PlannedKind::Cas { expect: None };
    let err = quorumlab_harness::runner::run(&s).unwrap_err().to_string();
    assert!(
        err.contains("system leaderless: does not support cas, and clients[1].ops[2] is one"),
        "{err}"
    );
}

#[test]
fn a_search_for_cas_is_refused_for_a_system_without_cas() {
    let options = ExploreOptions {
        workload: Default::default(),
        shape: ScenarioShape {
            cas_percent: 10,
            ..ScenarioShape::new(Default::default(), &[])
        },
        expect: vec![Guarantee::Linearizable],
        cases: 1,
        seed: 1,
        max_shrink_iters: 0,
    };
    let err = explore(&options, &Quiet).unwrap_err().to_string();
    assert!(
        err.contains("system leaderless: does not support cas"),
        "{err}"
    );
}

#[test]
fn the_linearizable_leader_follower_configuration_keeps_cas_linearizable() {
    // Crashes (of one node or several at once), random halves, isolation and pauses, over a
    // hot key and over two keys; about a third of the ops are cas, compared at the leader in
    // log order.
    let hot = ScenarioShape {
        keys: 1,
        think_ms: 4,
        ..shape(linearizable(), "crash,partition,isolate,pause")
    };
    let wide = shape(linearizable(), "crash,partition,isolate,pause");
    for (shape, seed) in [(hot, 21), (wide, 22)] {
        let options = ExploreOptions {
            workload: Default::default(),
            shape,
            expect: vec![Guarantee::Linearizable],
            cases: 150,
            seed,
            max_shrink_iters: 100,
        };
        match explore(&options, &Quiet).expect("the runs finish") {
            Explored::Held { cases } => assert_eq!(cases, 150),
            Explored::Found { case, .. } => {
                panic!("a cas broke linearizability: {}", case.to_file_string())
            }
        }
    }
}

#[test]
fn async_replication_loses_a_swap_on_failover() {
    // The leader answers a cas once its own log has it; a leader that crashes or is cut off
    // before a follower has it takes the swap with it, and a later cas through its successor
    // compares against the value before it.
    let config = json!({"replication": "async", "failover_timeout_ms": 100});
    let options = ExploreOptions {
        workload: Default::default(),
        shape: ScenarioShape {
            get_percent: 0,
            put_percent: 40,
            cas_percent: 60,
            ..shape(config, "crash,isolate,partition")
        },
        expect: vec![Guarantee::Linearizable],
        cases: 200,
        seed: 3,
        max_shrink_iters: 300,
    };
    let Explored::Found { case, .. } = explore(&options, &Quiet).expect("the runs finish") else {
        panic!("an async leader acknowledges swaps its successor never had");
    };
    let witness = &case.judgement.findings[&Guarantee::Linearizable].witness;
    let id = witness.as_ref().and_then(|w| w["op"].as_u64()).unwrap();
    let op = case.history.ops.iter().find(|o| o.id == id).unwrap();
    assert!(
        op.kind == OpKind::Cas || op.extra.get("phase").is_some(),
        "the witness is a cas, or a final read: {}",
        case.to_file_string()
    );
    assert!(case.scenario.op_count() <= 10, "{}", case.to_file_string());
    let again = quorumlab_harness::case::Case::run(&case.scenario, &case.expect).unwrap();
    assert_eq!(again.to_file_string(), case.to_file_string());
}
