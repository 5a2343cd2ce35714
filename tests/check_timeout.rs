//! `CheckOptions::timeout` ends every phase of the linearizability check: a deadline that has
//! already passed gives "unknown (timeout)" on large histories, whichever model and whatever
//! the verdict would have been. No test here measures time.
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
