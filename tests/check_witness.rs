//! Witnesses tell the truth. On generated non-linearizable histories, every claim a witness
//! makes is checked against the history by brute force written here from the format's rules
//! (tests/common): the op named, the prefix (a linearizable prefix with the states given, and a
//! longest one when the sentence says so), that the op cannot follow it, and the write and
//! real-time claims of the sentence. Fixed seed (ChaCha8): a failure replays exactly and
//! prints the history.
use std::collections::HashSet;

use quorumlab::check::linearizable::{check, CheckOptions, Verdict, Witness};
use quorumlab::history::{show, History, Op, OpKind, Outcome, Value};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;
use common::{apply, brute_force, perturb, sequential, Gen};

/// The key's ops a prefix may hold: those that may have taken effect and constrain anything.
fn candidates<'h>(h: &'h History, key: &str) -> Vec<&'h Op> {
    h.ops
        .iter()
        .filter(|o| {
            o.key == key
                && o.outcome != Outcome::Fail
                && !(o.kind == OpKind::Get && o.outcome != Outcome::Ok)
        })
        .collect()
}

/// Whether `op` may come next after the ops in `done`: every ok op that completed before it
/// was invoked is already placed.
fn ready(ops: &[&Op], done: &[bool], op: &Op) -> bool {
    ops.iter()
        .zip(done)
        .all(|(o, d)| *d || o.outcome != Outcome::Ok || o.complete.unwrap() >= op.invoke)
}

/// The length of a longest linearizable prefix (memoized on placed set and state).
fn longest(ops: &[&Op]) -> usize {
    fn go(
        ops: &[&Op],
        done: &mut Vec<bool>,
        state: &Option<Value>,
        seen: &mut HashSet<(Vec<bool>, Option<Value>)>,
    ) -> usize {
        if !seen.insert((done.clone(), state.clone())) {
            return 0; // explored already; its length was counted then
        }
        let mut best = done.iter().filter(|d| **d).count();
        for i in 0..ops.len() {
            if done[i] || !ready(ops, done, ops[i]) {
                continue;
            }
            if let Some((next, true)) = apply(state, ops[i]) {
                done[i] = true;
                best = best.max(go(ops, done, &next, seen));
                done[i] = false;
            }
        }
        best
    }
    go(ops, &mut vec![false; ops.len()], &None, &mut HashSet::new())
}

fn state_json(s: &Option<Value>) -> serde_json::Value {
    s.as_ref().map_or(serde_json::Value::Null, Value::to_json)
}

/// Checks every claim of `w`; returns what is false.
fn false_claims(h: &History, w: &Witness) -> Vec<String> {
    let mut bad = Vec::new();
    let ops = candidates(h, &w.key);
    let by_id = |id: u64| h.ops.iter().find(|o| o.id == id);
    let Some(op) = by_id(w.op) else {
        return vec![format!("op {} is not in the history", w.op)];
    };
    if op.key != w.key || op.outcome != Outcome::Ok {
        bad.push(format!("op {} is not an ok op of key {:?}", w.op, w.key));
    }
    // The prefix: valid, in real-time order, with the states given.
    let mut done = vec![false; ops.len()];
    let mut state: Option<Value> = None;
    for step in &w.prefix {
        let Some(i) = ops.iter().position(|o| o.id == step.op) else {
            bad.push(format!(
                "prefix op {} is not a candidate of the key",
                step.op
            ));
            return bad;
        };
        if done[i] || !ready(&ops, &done, ops[i]) {
            bad.push(format!(
                "prefix op {} is placed out of real-time order",
                step.op
            ));
        }
        match apply(&state, ops[i]) {
            Some((next, true)) => state = next,
            _ => bad.push(format!("prefix op {} is not valid where it is", step.op)),
        }
        let last = Some(step) == w.prefix.last();
        match &step.state {
            Some(given) if state_json(&state) != *given => bad.push(format!(
                "the state after prefix op {} is {}, not {given}",
                step.op,
                show(&state),
            )),
            None if last => bad.push("the state after the prefix is not given".into()),
            _ => {}
        }
        done[i] = true;
    }
    // The op cannot follow the prefix.
    if let Some(i) = ops.iter().position(|o| o.id == w.op) {
        if done[i] {
            bad.push("the op is inside the prefix".into());
        } else if ready(&ops, &done, op) && matches!(apply(&state, op), Some((_, true))) {
            bad.push("the op could follow the prefix".into());
        }
    }
    let max = longest(&ops);
    if w.prefix_is_longest != (w.prefix.len() == max) || !w.prefix_is_longest {
        bad.push(format!(
            "prefix of {} ops, longest {max}, claimed longest: {}",
            w.prefix.len(),
            w.prefix_is_longest
        ));
    }
    // The sentence.
    let s = &w.sentence;
    if !s.starts_with(&format!("{} by client {} [", op.name(), op.client)) {
        bad.push("the sentence names another op".into());
    }
    let writes_v = |x: &Op, v: &Option<Value>| {
        x.key == w.key
            && x.outcome != Outcome::Fail
            && match x.kind {
                OpKind::Delete => v.is_none(),
                OpKind::Put => x.value == *v,
                OpKind::Cas => x.value == *v && x.swapped != Some(false),
                OpKind::Append => true, // could build any string
                _ => false,
            }
    };
    if s.contains(", but no op ever wrote ") {
        if h.ops.iter().any(|x| writes_v(x, &op.read)) {
            bad.push("some op wrote the value read".into());
        }
    } else if let Some(rest) = s
        .split(", but ")
        .nth(1)
        .filter(|r| r.contains(" completed at "))
    {
        let name = rest.split(' ').next().unwrap_or("");
        let id: u64 = name
            .split('#')
            .nth(1)
            .and_then(|i| i.parse().ok())
            .unwrap_or(u64::MAX);
        match by_id(id) {
            None => bad.push(format!("no write {name}")),
            Some(b) => {
                let at: u64 = rest
                    .split(" completed at ")
                    .nth(1)
                    .and_then(|t| t.split(" ms,").next())
                    .and_then(ns_of_ms)
                    .unwrap_or(u64::MAX);
                if b.outcome != Outcome::Ok
                    || b.complete != Some(at)
                    || at >= op.invoke
                    || b.key != w.key
                    || writes_v(b, &op.read)
                    || b.kind == OpKind::Get
                    || (b.kind == OpKind::Cas && b.swapped != Some(true))
                {
                    bad.push(format!("{name} is not an ok write of another value completed at {at}, before the read"));
                }
                for x in &h.ops {
                    let between = x.complete.is_none_or(|c| c >= b.invoke)
                        && op.complete.is_none_or(|c| c >= x.invoke);
                    if x.id != b.id && writes_v(x, &op.read) && between {
                        bad.push(format!(
                            "{} can be ordered between {name} and the read",
                            x.name()
                        ));
                    }
                }
            }
        }
    } else if s.contains("the longest linearizable prefix (")
        || s.contains("a linearizable prefix (the search for a longer one ran out of steps) (")
    {
        let which = if w.prefix_is_longest {
            "the longest linearizable prefix"
        } else {
            "a linearizable prefix (the search for a longer one ran out of steps)"
        };
        let want = match w.prefix.last().and_then(|st| by_id(st.op)) {
            Some(last) => format!(
                "{which} ({} ops, ending with {}) leaves the key at {}",
                w.prefix.len(),
                last.name(),
                show(&state)
            ),
            None => "(an empty prefix)".into(),
        };
        if !s.contains(&want) {
            bad.push(format!("the prefix is not {want:?}"));
        }
    } else if s.contains("can be linearized before it") {
        if !w.prefix.is_empty() || max != 0 {
            bad.push("an op can be linearized first".into());
        }
    } else {
        bad.push("a sentence of unknown form".into());
    }
    bad
}

#[test]
fn the_issue_example_blames_the_op_that_cannot_be_placed() {
    let h = History::from_json_str(r#"{"format": "quorumlab-history/1", "ops": [
      {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1, "invoke": 0, "complete": 100, "outcome": "ok"},
      {"id": 2, "client": 1, "kind": "put", "key": "x", "value": 2, "invoke": 0, "complete": 100, "outcome": "ok"},
      {"id": 3, "client": 0, "kind": "get", "key": "x", "invoke": 200, "complete": 210, "outcome": "ok", "read": 1},
      {"id": 4, "client": 0, "kind": "get", "key": "x", "invoke": 300, "complete": 310, "outcome": "ok", "read": 2}]}"#)
    .unwrap();
    let Verdict::Violation(w) = check(&h, &CheckOptions::default()).verdict else {
        panic!("not linearizable")
    };
    assert_eq!(w.op, 4, "{}", w.sentence);
    assert_eq!(w.prefix.len(), 3, "{:?}", w.prefix);
    assert!(
        w.sentence.contains(
            "the longest linearizable prefix (3 ops, ending with get#3) leaves the key at 1"
        ),
        "{}",
        w.sentence
    );
    assert_eq!(false_claims(&h, &w), Vec::<String>::new());
}

#[test]
fn witness_claims_hold_on_10000_violations() {
    let mut g = Gen(ChaCha8Rng::seed_from_u64(1212));
    let opts = CheckOptions {
        threads: 1,
        ..Default::default()
    };
    let (mut violations, mut cases) = (0, 0);
    while violations < 10_000 {
        cases += 1;
        assert!(cases < 100_000, "too few violations generated");
        let one_key = cases % 3 == 0;
        let n = if one_key {
            5 + g.below(5)
        } else {
            1 + g.below(7)
        } as usize;
        let (keys, clients) = (1 + g.below(2), 1 + g.below(4));
        let mut h = sequential(&mut g, n, keys, clients, true);
        if one_key {
            h.ops.retain(|o| o.key == "k1" || keys == 1);
        }
        perturb(&mut g, &mut h);
        if h.validate().is_err() || brute_force(&h) {
            continue;
        }
        let Verdict::Violation(w) = check(&h, &opts).verdict else {
            panic!(
                "case {cases}: the checker misses a violation\n{}",
                h.to_json_string()
            );
        };
        let bad = false_claims(&h, &w);
        assert!(
            bad.is_empty(),
            "case {cases}: false claims {bad:?}\nwitness: {w:?}\n{}",
            h.to_json_string()
        );
        violations += 1;
    }
    println!("{violations} violations in {cases} cases, every claim true");
}

/// A time as sentences write it, exact ms (`0.000029`, `42`), back to nanoseconds.
fn ns_of_ms(t: &str) -> Option<u64> {
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if frac.len() > 6 {
        return None;
    }
    let frac: u64 = format!("{frac:0<6}").parse().ok()?;
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac)
}

/// When the search for a longest prefix runs out of steps, the witness says so ("a
/// linearizable prefix (the search for a longer one ran out of steps)"), does not claim a
/// longest, and what it does claim is still true. Eight info puts that no read observes are
/// left out of the search that finds the violation, so the prefix search runs on the key's
/// whole ops, where the info puts can go anywhere: far more orders than its steps allow.
#[test]
fn a_witness_search_out_of_steps_says_so_and_claims_no_longest() {
    let mut ops = vec![
        r#"{"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1, "invoke": 0, "complete": 100, "outcome": "ok"}"#.to_string(),
        r#"{"id": 2, "client": 1, "kind": "put", "key": "x", "value": 2, "invoke": 0, "complete": 100, "outcome": "ok"}"#.to_string(),
        r#"{"id": 3, "client": 0, "kind": "get", "key": "x", "invoke": 200, "complete": 210, "outcome": "ok", "read": 1}"#.to_string(),
        r#"{"id": 4, "client": 0, "kind": "get", "key": "x", "invoke": 300, "complete": 310, "outcome": "ok", "read": 2}"#.to_string(),
    ];
    for i in 0..8 {
        ops.push(format!(
            r#"{{"id": {}, "client": {}, "kind": "put", "key": "x", "value": {}, "invoke": 0, "outcome": "info"}}"#,
            10 + i,
            10 + i,
            100 + i
        ));
    }
    let h = History::from_json_str(&format!(
        r#"{{"format": "quorumlab-history/1", "ops": [{}]}}"#,
        ops.join(",\n")
    ))
    .unwrap();
    let Verdict::Violation(w) = check(&h, &CheckOptions::default()).verdict else {
        panic!("not linearizable")
    };
    assert!(!w.prefix_is_longest, "{w:?}");
    assert!(
        w.sentence.contains(
            "but a linearizable prefix (the search for a longer one ran out of steps) (2 ops, ending with put#2) leaves the key at 2"
        ),
        "{}",
        w.sentence
    );
    // Every claim but "longest" holds: false_claims reports only that one.
    let max = longest(&candidates(&h, "x"));
    assert!(max > w.prefix.len(), "a longer prefix exists: {max}");
    assert_eq!(
        false_claims(&h, &w),
        [format!(
            "prefix of 2 ops, longest {max}, claimed longest: false"
        )]
    );
}
