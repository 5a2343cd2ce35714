//! `CheckOptions::timeout` ends every phase of the linearizability check: a deadline that has
//! already passed gives "unknown (timeout)" on large histories, whichever model and whatever
//! the verdict would have been. No test here measures time: a deadline either has passed
//! already or is far shorter than the work it must stop.
use std::time::Duration;

use quorumlab::check::linearizable::{check, check_model, CheckOptions, Undecided, Verdict};
use quorumlab::history::{History, Op, OpKind, Outcome, Value};
use quorumlab::model::Set;

/// `n` ops on one key, one client after another: puts of unique values, every fifth a
/// delete, and reads of the latest value, with a stale read at the end when `violate`.
fn one_key(n: usize, violate: bool) -> History {
    let mut ops = Vec::with_capacity(n);
    let mut state: Option<Value> = None;
    for i in 0..n as u64 {
        let mut op = Op::new(i, i % 8, OpKind::Get, "k", 10 * i);
        op.complete = Some(10 * i + 25);
        op.outcome = Outcome::Ok;
        match i % 3 {
            0 if i % 5 == 0 => {
                op.kind = OpKind::Delete;
                state = None;
            }
            0 => {
                op.kind = OpKind::Put;
                op.value = Some(Value::Int(i as i64));
                state = op.value.clone();
            }
            _ => op.read = state.clone(),
        }
        ops.push(op);
    }
    if violate {
        let mut stale = Op::new(n as u64, 99, OpKind::Get, "k", 10 * n as u64 + 100);
        stale.complete = Some(10 * n as u64 + 110);
        stale.outcome = Outcome::Ok;
        stale.read = Some(Value::Int(-1));
        ops.push(stale);
    }
    History::new(ops)
}

fn expired() -> CheckOptions {
    CheckOptions {
        timeout: Some(Duration::ZERO),
        ..CheckOptions::default()
    }
}

#[test]
fn an_expired_deadline_gives_unknown_on_large_histories() {
    for violate in [false, true] {
        let h = one_key(200_000, violate);
        let report = check(&h, &expired());
        assert_eq!(
            report.verdict,
            Verdict::Unknown(Undecided::Timeout),
            "violate: {violate}"
        );
        assert_eq!(report.ops, h.ops.len());
    }
}

#[test]
fn an_expired_deadline_gives_unknown_with_any_model() {
    let mut ops = Vec::new();
    for i in 0..50_000u64 {
        let mut op = Op::new(i, i % 4, OpKind::Add, "s", 10 * i);
        op.value = Some(Value::Int(i as i64));
        op.complete = Some(10 * i + 5);
        op.outcome = Outcome::Ok;
        ops.push(op);
    }
    let h = History::new(ops);
    let report = check_model(&Set, &h, &expired());
    assert_eq!(report.verdict, Verdict::Unknown(Undecided::Timeout));
}

#[test]
fn without_a_deadline_the_same_histories_are_decided() {
    let opts = CheckOptions::default();
    assert_eq!(
        check(&one_key(20_000, false), &opts).verdict,
        Verdict::Linearizable
    );
    assert!(matches!(
        check(&one_key(20_000, true), &opts).verdict,
        Verdict::Violation(_)
    ));
}

/// One key with appends (so no index finds the writes a read may come from) and many puts and
/// reads of distinct strings: preparing the pruning compares every read with every put,
/// 10^10 comparisons here. The deadline stops it there, as it stops the search.
#[test]
fn the_deadline_stops_the_search_setup() {
    let mut ops = Vec::new();
    let n = 100_000u64;
    for i in 0..n {
        let mut op = Op::new(i, i % 8, OpKind::Put, "k", 10 * i);
        op.complete = Some(10 * i + 5);
        op.outcome = Outcome::Ok;
        match i % 2 {
            0 => op.value = Some(Value::from(format!("v{i}"))),
            _ => {
                op.kind = OpKind::Get;
                op.read = Some(Value::from(format!("v{}", i - 1)));
            }
        }
        ops.push(op);
    }
    let mut append = Op::new(n, 99, OpKind::Append, "k", 10 * n);
    append.value = Some(Value::from("!"));
    append.complete = Some(10 * n + 5);
    append.outcome = Outcome::Ok;
    ops.push(append);
    let options = CheckOptions {
        timeout: Some(Duration::from_millis(300)),
        ..CheckOptions::default()
    };
    let report = check(&History::new(ops), &options);
    assert_eq!(report.verdict, Verdict::Unknown(Undecided::Timeout));
}

/// Sequential appends of 1 kB each: every state is a new string, and together they hold
/// n^2/2 kB (500 MB at 1,000 appends). The states count against the memory limit, so the
/// check answers "memo limit" instead of growing past it; with room enough it decides.
#[test]
fn model_states_count_against_the_memory_limit() {
    let chunk = "x".repeat(1000);
    let mut ops = Vec::new();
    for i in 0..1000u64 {
        let mut op = Op::new(i, 0, OpKind::Append, "k", 10 * i);
        op.value = Some(Value::from(chunk.as_str()));
        op.complete = Some(10 * i + 5);
        op.outcome = Outcome::Ok;
        ops.push(op);
    }
    let h = History::new(ops);
    let small = CheckOptions {
        memo_limit_bytes: 64 << 20,
        ..CheckOptions::default()
    };
    assert_eq!(
        check(&h, &small).verdict,
        Verdict::Unknown(Undecided::MemoLimit { key: "k".into() })
    );
    let h = History::new(h.ops[..200].to_vec());
    assert_eq!(check(&h, &small).verdict, Verdict::Linearizable);
}

/// The set model on 50,000 adds to one key, four clients overlapping, with reads of every
/// element added so far now and then: decided without a deadline (each state shares all but
/// one chunk of its bits with the state before), and unknown once a short deadline passes on
/// twenty times as many adds.
#[test]
fn the_set_model_decides_50000_adds_and_watches_the_deadline() {
    let set_history = |n: u64| {
        let mut ops = Vec::new();
        for i in 0..n {
            let mut op = Op::new(i, i % 4, OpKind::Add, "s", 10 * i);
            op.value = Some(Value::Int(i as i64));
            op.complete = Some(10 * i + 35);
            op.outcome = Outcome::Ok;
            if i % 1000 == 999 && i < 50_000 {
                // Client 4 reads every element added before it, and none of the four
                // concurrent adds.
                op.client = 4;
                op.kind = OpKind::Members;
                op.value = None;
                op.invoke = 10 * i + 40;
                op.complete = Some(10 * i + 40);
                op.members = Some(
                    (0..i)
                        .filter(|v| v % 1000 != 999)
                        .map(|v| Value::Int(v as i64))
                        .collect(),
                );
            }
            ops.push(op);
        }
        History::new(ops)
    };
    let h = set_history(50_000);
    assert_eq!(
        check_model(&Set, &h, &CheckOptions::default()).verdict,
        Verdict::Linearizable
    );
    let mut bad = h.clone();
    let last = bad.ops.len() - 1;
    bad.ops[last].members.as_mut().unwrap().pop();
    match check_model(&Set, &bad, &CheckOptions::default()).verdict {
        Verdict::Violation(w) => assert_eq!(w.op, 49_999),
        other => panic!("expected a violation, got {other:?}"),
    }
    // A million adds and no reads: far more than 50 ms of work, and far less than the
    // memory limit in 50 ms.
    let mut adds = set_history(1_000_000);
    adds.ops.retain(|o| o.kind == OpKind::Add);
    let short = CheckOptions {
        timeout: Some(Duration::from_millis(50)),
        ..CheckOptions::default()
    };
    assert_eq!(
        check_model(&Set, &adds, &short).verdict,
        Verdict::Unknown(Undecided::Timeout)
    );
}

/// The weaker checkers watch the same deadline: once it has passed they answer undecided
/// (`quorumlab check` exits 3), and without one they decide the same history.
#[test]
fn the_weaker_checkers_watch_the_deadline() {
    use quorumlab::check::judge::finding_until;
    use quorumlab::check::Guarantee;
    let h = one_key(200_000, true);
    for g in [
        Guarantee::NoStaleReads,
        Guarantee::ReadYourWrites,
        Guarantee::MonotonicReads,
        Guarantee::MonotonicWrites,
        Guarantee::WritesFollowReads,
    ] {
        let f = finding_until(&h, g, Some(std::time::Instant::now()));
        assert_eq!(f.held, None, "{g}");
        assert_eq!(f.sentence.as_deref(), Some("undecided: timeout"), "{g}");
        assert!(finding_until(&h, g, None).held.is_some(), "{g}");
    }
}
