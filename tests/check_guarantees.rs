//! The checkers weaker than linearizability, on hand-made histories: each rule with both
//! verdicts, and the witness text.
use quorumlab::check::{convergence, session, stale, Violation};
use quorumlab::history::History;

/// Builds a history from compact op lines: `id client kind key value-or-read invoke complete
/// [outcome] [ts writer] [final]`; `-` for no value, `null` for absent.
fn h(lines: &[&str]) -> History {
    let mut ops = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (id, client, kind, key, v, inv, comp) = (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        let outcome = f.get(7).copied().unwrap_or("ok");
        let mut op = serde_json::json!({
            "id": id.parse::<u64>().unwrap(), "client": client.parse::<u64>().unwrap(),
            "kind": kind, "key": key, "invoke": inv.parse::<u64>().unwrap(), "outcome": outcome,
        });
        if outcome != "info" {
            op["complete"] = comp.parse::<u64>().unwrap().into();
        }
        let val = |s: &str| -> serde_json::Value {
            if s == "null" {
                serde_json::Value::Null
            } else {
                s.parse::<i64>().unwrap().into()
            }
        };
        match kind {
            "put" => op["value"] = val(v),
            "get" if outcome == "ok" => op["read"] = val(v),
            _ => {}
        }
        if let (Some(ts), Some(w)) = (f.get(8), f.get(9)) {
            if *ts != "-" {
                op["timestamp"] = ts.parse::<i64>().unwrap().into();
                op["writer"] = w.parse::<i64>().unwrap().into();
            }
        }
        if f.get(10) == Some(&"final") {
            op["phase"] = "final".into();
        }
        ops.push(op);
    }
    let doc = serde_json::json!({"format": "quorumlab-history/1", "ops": ops});
    History::from_json_str(&doc.to_string()).unwrap()
}

fn one(v: Vec<Violation>) -> Violation {
    assert_eq!(v.len(), 1, "expected exactly one violation, got {v:#?}");
    v.into_iter().next().unwrap()
}

#[test]
fn a_read_after_the_latest_write_completed_is_not_stale() {
    let hist = h(&["1 0 put x 1 0 10", "2 1 get x 1 20 30"]);
    assert!(stale::check(&hist).unwrap().is_empty());
}

#[test]
fn a_read_that_misses_a_write_completed_before_it_began_is_stale() {
    let hist = h(&["1 0 put x 1 0 10", "2 0 put x 2 20 30", "3 1 get x 1 40 50"]);
    let v = one(stale::check(&hist).unwrap());
    assert_eq!(v.ops, vec![3, 1, 2]);
    assert_eq!(
        v.sentence,
        "get#3 by client 1 [0.00004..0.00005 ms] read 1 saw put#1 of 1 by client 0 [0..0.00001 ms], but put#2 of 2 by \
         client 0 [0.00002..0.00003 ms] began after that and completed before the read began"
    );
}

#[test]
fn a_read_concurrent_with_the_newer_write_may_return_the_older() {
    let hist = h(&["1 0 put x 1 0 10", "2 0 put x 2 20 45", "3 1 get x 1 40 50"]);
    assert!(stale::check(&hist).unwrap().is_empty());
}

#[test]
fn overlapping_writes_do_not_supersede_each_other() {
    // put 2 began before put 1 completed: either order is possible, so reading 1 is fine.
    let hist = h(&["1 0 put x 1 0 10", "2 1 put x 2 5 30", "3 2 get x 1 40 50"]);
    assert!(stale::check(&hist).unwrap().is_empty());
}

#[test]
fn reading_absent_after_a_completed_put_is_stale_unless_a_delete_explains_it() {
    let stale_read = h(&["1 0 put x 1 0 10", "2 1 get x null 20 30"]);
    let v = one(stale::check(&stale_read).unwrap());
    assert!(
        v.sentence.contains("the initial (absent) state"),
        "{}",
        v.sentence
    );
    let deleted = h(&[
        "1 0 put x 1 0 10",
        "2 0 delete x - 12 15",
        "3 1 get x null 20 30",
    ]);
    assert!(stale::check(&deleted).unwrap().is_empty());
}

#[test]
fn reading_a_value_nobody_wrote_or_from_the_future_is_a_violation() {
    let garbage = h(&["1 0 put x 1 0 10", "2 1 get x 7 20 30"]);
    let v = one(stale::check(&garbage).unwrap());
    assert!(
        v.sentence.contains("no write which may have taken effect"),
        "{}",
        v.sentence
    );
    let failed = h(&["1 0 put x 1 0 10 fail", "2 1 get x 1 20 30"]);
    assert_eq!(stale::check(&failed).unwrap().len(), 1);
    let future = h(&["1 0 put x 3 60 70", "2 1 get x 3 40 50"]);
    let v = one(stale::check(&future).unwrap());
    assert!(
        v.sentence.contains("began only after the read completed"),
        "{}",
        v.sentence
    );
}

#[test]
fn an_info_write_may_be_read_at_any_time_after_it_began() {
    let hist = h(&[
        "1 0 put x 1 0 0 info",
        "2 1 get x 1 500 510",
        "3 2 get x null 520 530",
    ]);
    assert!(stale::check(&hist).unwrap().is_empty());
}

#[test]
fn staleness_counts_versions_behind() {
    let hist = h(&[
        "1 0 put x 1 0 10",
        "2 0 put x 2 20 30",
        "3 0 put x 3 40 50",
        "4 1 get x 1 60 70",
        "5 1 get x 3 80 90",
        "6 1 get x 2 100 110",
    ]);
    let s = stale::staleness(&hist).unwrap();
    assert_eq!((s.reads, s.stale, s.max_behind), (3, 2, 2));
    assert_eq!(s.behind, vec![1, 1, 1]);
    assert!((s.rate - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn read_your_writes_breaks_when_a_client_misses_its_own_write() {
    let hist = h(&["1 0 put x 1 0 10", "2 0 get x null 20 30"]);
    let v = one(session::read_your_writes(&hist).unwrap());
    assert_eq!(v.ops, vec![2, 1]);
    assert_eq!(
        v.sentence,
        "get#2 by client 0 [0.00002..0.00003 ms] read absent saw the initial (absent) state, but the same \
         client's put#1 of 1 by client 0 [0..0.00001 ms] began after that write completed"
    );
    // Another client missing the write is stale, but not a read-your-writes violation.
    let other = h(&["1 0 put x 1 0 10", "2 1 get x null 20 30"]);
    assert!(session::read_your_writes(&other).unwrap().is_empty());
}

#[test]
fn read_your_writes_allows_newer_and_concurrent_writes_of_others() {
    let hist = h(&[
        "1 0 put x 1 0 10",
        "2 1 put x 2 12 18",
        "3 2 put x 3 5 40",
        "4 0 get x 2 20 30",
        "5 0 get x 3 41 50",
    ]);
    assert!(session::read_your_writes(&hist).unwrap().is_empty());
    let superseded = h(&["1 1 put x 5 0 5", "2 0 put x 6 10 15", "3 0 get x 5 20 30"]);
    assert_eq!(
        one(session::read_your_writes(&superseded).unwrap()).ops,
        vec![3, 2, 1]
    );
}

#[test]
fn a_session_continues_across_renumbered_clients() {
    // Client 0 gave up on an op and continued as client 7; the session field ties them.
    let mut hist = h(&[
        "1 0 put x 1 0 10",
        "2 0 put x 9 12 0 info",
        "3 7 get x null 20 30",
    ]);
    for op in &mut hist.ops {
        op.extra.insert("session".into(), 0.into());
    }
    assert_eq!(
        one(session::read_your_writes(&hist).unwrap()).ops,
        vec![3, 1]
    );
}

#[test]
fn monotonic_reads_breaks_when_a_later_read_goes_back_in_time() {
    let hist = h(&[
        "1 1 put x 1 0 5",
        "2 1 put x 2 10 20",
        "3 0 get x 2 30 40",
        "4 0 get x 1 50 60",
    ]);
    let v = one(session::monotonic_reads(&hist).unwrap());
    assert_eq!(v.ops, vec![4, 3, 2, 1]);
    assert!(
        v.sentence
            .starts_with("get#4 by client 0 [0.00005..0.00006 ms] read 1 saw put#1"),
        "{}",
        v.sentence
    );
    let forward = h(&[
        "1 1 put x 1 0 5",
        "2 1 put x 2 10 20",
        "3 0 get x 1 30 40",
        "4 0 get x 2 50 60",
    ]);
    assert!(session::monotonic_reads(&forward).unwrap().is_empty());
}

#[test]
fn monotonic_reads_allows_concurrent_writes_in_either_order() {
    let hist = h(&[
        "1 1 put x 1 0 25",
        "2 2 put x 2 10 20",
        "3 0 get x 2 30 40",
        "4 0 get x 1 50 60",
    ]);
    assert!(session::monotonic_reads(&hist).unwrap().is_empty());
}

#[test]
fn monotonic_writes_uses_the_store_version_order() {
    let broken = h(&["1 0 put x 1 0 10 ok 100 0", "2 0 put x 2 20 30 ok 90 1"]);
    let v = one(session::monotonic_writes(&broken).unwrap());
    assert_eq!(v.ops, vec![2, 1]);
    assert!(v.sentence.contains("timestamp 90 < 100"), "{}", v.sentence);
    let kept = h(&["1 0 put x 1 0 10 ok 100 0", "2 0 put x 2 20 30 ok 110 1"]);
    assert!(session::monotonic_writes(&kept).unwrap().is_empty());
}

#[test]
fn monotonic_writes_uses_the_final_state_without_timestamps() {
    let broken = h(&[
        "1 0 put x 1 0 10",
        "2 0 put x 2 20 30",
        "3 9 get x 1 100 110 ok - - final",
    ]);
    let v = one(session::monotonic_writes(&broken).unwrap());
    assert!(
        v.sentence.contains("settled on the earlier write"),
        "{}",
        v.sentence
    );
    let kept = h(&[
        "1 0 put x 1 0 10",
        "2 0 put x 2 20 30",
        "3 9 get x 2 100 110 ok - - final",
    ]);
    assert!(session::monotonic_writes(&kept).unwrap().is_empty());
}

#[test]
fn writes_follow_reads_breaks_when_a_write_is_ordered_before_what_was_read() {
    let broken = h(&[
        "1 1 put x 1 0 10 ok 100 0",
        "2 0 get x 1 20 30 ok 100 0",
        "3 0 put x 2 40 50 ok 50 2",
    ]);
    let v = one(session::writes_follow_reads(&broken).unwrap());
    assert_eq!(v.ops, vec![3, 2, 1]);
    assert!(v.sentence.contains("timestamp 50 <= 100"), "{}", v.sentence);
    let kept = h(&[
        "1 1 put x 1 0 10 ok 100 0",
        "2 0 get x 1 20 30 ok 100 0",
        "3 0 put x 2 40 50 ok 150 2",
    ]);
    assert!(session::writes_follow_reads(&kept).unwrap().is_empty());
}

fn with_replicas(mut hist: History, cells: serde_json::Value) -> History {
    hist.extra.insert("replicas".into(), cells);
    hist
}

#[test]
fn convergence_holds_when_replicas_agree_on_the_last_write() {
    let cell = serde_json::json!({"timestamp": 20, "writer": 1, "value": 2});
    let hist = with_replicas(
        h(&["1 0 put x 1 0 10", "2 0 put x 2 20 30"]),
        serde_json::json!({"x": [{"node": 0, "cell": cell}, {"node": 1, "cell": cell}]}),
    );
    assert!(convergence::check(&hist).unwrap().is_empty());
}

#[test]
fn convergence_breaks_when_replicas_disagree() {
    let hist = with_replicas(
        h(&["1 0 put x 1 0 10", "2 0 put x 2 20 30"]),
        serde_json::json!({"x": [
            {"node": 0, "cell": {"timestamp": 20, "writer": 1, "value": 2}},
            {"node": 3, "cell": {"timestamp": 5, "writer": 0, "value": 1}}]}),
    );
    let v = one(convergence::check(&hist).unwrap());
    assert_eq!(
        v.sentence,
        "after the final heal and settle, replicas of key \"x\" disagree: node 0 holds put#2 of 2 \
         by client 0 [0.00002..0.00003 ms] (timestamp 20) but node 3 holds put#1 of 1 by client 0 [0..0.00001 ms] \
         (timestamp 5)"
    );
}

#[test]
fn convergence_breaks_when_an_acknowledged_write_is_lost() {
    let cell = serde_json::json!({"timestamp": 5, "writer": 0, "value": 1});
    let hist = with_replicas(
        h(&["1 0 put x 1 0 10", "2 0 put x 2 20 30"]),
        serde_json::json!({"x": [{"node": 0, "cell": cell}, {"node": 1, "cell": cell}]}),
    );
    let v = one(convergence::check(&hist).unwrap());
    assert_eq!(v.ops, vec![2, 1]);
    assert!(
        v.sentence.starts_with("acknowledged put#2 of 2"),
        "{}",
        v.sentence
    );
}

#[test]
fn convergence_needs_final_replica_states() {
    let hist = h(&["1 0 put x 1 0 10"]);
    assert!(matches!(
        convergence::check(&hist),
        Err(convergence::ConvergenceError::NoReplicaStates)
    ));
}

#[test]
fn duplicate_values_are_refused_with_a_clear_error() {
    let hist = h(&["1 0 put x 1 0 10", "2 1 put x 1 20 30"]);
    let e = stale::check(&hist).unwrap_err().to_string();
    assert_eq!(
        e,
        "key \"x\": put#1 and put#2 both write 1; this guarantee needs every put to write a value \
         unique to its key"
    );
}
