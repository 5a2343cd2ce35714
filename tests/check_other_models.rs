//! The set, queue and mutex models held against brute force, as the kv model is in
//! check_agreement.rs and check_witness.rs: on small generated histories, every verdict equals
//! an exhaustive search over orders written here from the models' rules alone, and every claim
//! of a witness (the op, the prefix and the states after it, that the op cannot follow, that
//! the prefix is a longest) is true. Fixed seeds (ChaCha8): a failure replays exactly and
//! prints the history.
use std::collections::{BTreeSet, HashSet, VecDeque};

use quorumlab::check::linearizable::{check_model, CheckOptions, Verdict, Witness};
use quorumlab::history::{History, Op, OpKind, Outcome, Value};
use quorumlab::model::{Model, Mutex, Queue, Set};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;
use common::Gen;

/// The three models' states, written independently of the library.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum State {
    Set(BTreeSet<Value>),
    Queue(VecDeque<Value>),
    Lock(bool),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Which {
    Set,
    Queue,
    Lock,
}

impl Which {
    fn init(self) -> State {
        match self {
            Which::Set => State::Set(BTreeSet::new()),
            Which::Queue => State::Queue(VecDeque::new()),
            Which::Lock => State::Lock(false),
        }
    }

    fn check(self, h: &History) -> Verdict {
        let options = CheckOptions {
            threads: 1,
            ..Default::default()
        };
        match self {
            Which::Set => check_model(&Set, h, &options).verdict,
            Which::Queue => check_model(&Queue, h, &options).verdict,
            Which::Lock => check_model(&Mutex, h, &options).verdict,
        }
    }

    /// The state as the library's model writes it in a witness.
    fn json(self, s: &State) -> serde_json::Value {
        match s {
            State::Set(v) => v.iter().map(Value::to_json).collect(),
            State::Queue(v) => v.iter().map(Value::to_json).collect(),
            State::Lock(b) => (*b).into(),
        }
    }
}

/// The state after `op`, and whether what it returned matches (unknown returns match); `None`
/// when the op cannot take effect in `state` (a lock taken twice, or freed while free).
fn apply(state: &State, op: &Op) -> Option<(State, bool)> {
    let known = op.outcome == Outcome::Ok;
    Some(match (state, op.kind) {
        (State::Set(s), OpKind::Add) => {
            let mut s = s.clone();
            s.insert(op.value.clone().expect("an add adds a value"));
            (State::Set(s), true)
        }
        (State::Set(s), OpKind::Members) => {
            let read: Option<BTreeSet<Value>> =
                op.members.as_ref().map(|m| m.iter().cloned().collect());
            (state.clone(), !known || read.as_ref() == Some(s))
        }
        (State::Queue(q), OpKind::Enqueue) => {
            let mut q = q.clone();
            q.push_back(op.value.clone().expect("an enqueue has a value"));
            (State::Queue(q), true)
        }
        (State::Queue(q), OpKind::Dequeue) => {
            let mut q = q.clone();
            let front = q.pop_front();
            (State::Queue(q), !known || op.read == front)
        }
        (State::Lock(false), OpKind::Acquire) => (State::Lock(true), true),
        (State::Lock(true), OpKind::Release) => (State::Lock(false), true),
        _ => return None,
    })
}

/// The ops that may have taken effect and constrain something: not failed, and not a set
/// read whose result is unknown.
fn candidates(h: &History) -> Vec<&Op> {
    h.ops
        .iter()
        .filter(|o| {
            o.outcome != Outcome::Fail && !(o.kind == OpKind::Members && o.outcome != Outcome::Ok)
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

/// Exhaustively: the longest linearizable prefix's length, and whether some order places every
/// ok op (memoized on the placed set and the state).
fn search(which: Which, ops: &[&Op]) -> (usize, bool) {
    fn go(
        ops: &[&Op],
        done: &mut Vec<bool>,
        state: &State,
        seen: &mut HashSet<(Vec<bool>, State)>,
        found: &mut bool,
    ) -> usize {
        if !seen.insert((done.clone(), state.clone())) {
            return 0; // explored already; its length was counted then
        }
        if ops
            .iter()
            .zip(done.iter())
            .all(|(o, d)| *d || o.outcome != Outcome::Ok)
        {
            *found = true;
        }
        let mut best = done.iter().filter(|d| **d).count();
        for i in 0..ops.len() {
            if done[i] || !ready(ops, done, ops[i]) {
                continue;
            }
            if let Some((next, true)) = apply(state, ops[i]) {
                done[i] = true;
                best = best.max(go(ops, done, &next, seen, found));
                done[i] = false;
            }
        }
        best
    }
    let mut found = false;
    let best = go(
        ops,
        &mut vec![false; ops.len()],
        &which.init(),
        &mut HashSet::new(),
        &mut found,
    );
    (best, found)
}

/// A history of one key made by applying ops one at a time, each at an instant inside its
/// interval (so linearizable), then perturbed: returns changed, outcomes made info or fail.
fn generate(g: &mut Gen, which: Which, n: usize, clients: u64) -> History {
    let mut state = which.init();
    let mut client_free = vec![0u64; clients as usize];
    let mut ops = Vec::new();
    let mut t = 0u64;
    for id in 0..n as u64 {
        t += 1 + g.below(20);
        let c = g.below(clients) as usize;
        let invoke = client_free[c].max(t.saturating_sub(g.below(40)));
        let point = t.max(invoke);
        t = point;
        let complete = point + g.below(40);
        let kind = match (which, g.below(2), &state) {
            (Which::Set, 0, _) => OpKind::Add,
            (Which::Set, _, _) => OpKind::Members,
            (Which::Queue, 0, _) => OpKind::Enqueue,
            (Which::Queue, _, _) => OpKind::Dequeue,
            // A lock op that fits; sometimes one that does not, which then fails.
            (Which::Lock, _, State::Lock(held)) => {
                if *held != g.chance(15) {
                    OpKind::Release
                } else {
                    OpKind::Acquire
                }
            }
            _ => unreachable!(),
        };
        let mut op = Op::new(id, c as u64, kind, "k", invoke);
        if matches!(kind, OpKind::Add | OpKind::Enqueue) {
            op.value = Some(Value::Int(g.below(4) as i64));
        }
        op.complete = Some(complete);
        op.outcome = Outcome::Ok;
        match (&state, kind) {
            (State::Set(s), OpKind::Members) => op.members = Some(s.iter().cloned().collect()),
            (State::Queue(q), OpKind::Dequeue) => op.read = q.front().cloned(),
            _ => {}
        }
        match apply(&state, &op) {
            Some((next, _)) => state = next,
            None => op.outcome = Outcome::Fail,
        }
        client_free[c] = complete + 1;
        ops.push(op);
    }
    // Perturb.
    for op in &mut ops {
        match g.below(100) {
            0..=9 => {
                op.outcome = Outcome::Info;
                if g.chance(50) {
                    op.complete = None;
                }
            }
            10..=14 => op.outcome = Outcome::Fail,
            15..=34 if op.kind == OpKind::Members => {
                let mut m: Vec<Value> = (0..4).filter(|_| g.chance(50)).map(Value::Int).collect();
                m.sort();
                op.members = Some(m);
            }
            15..=34 if op.kind == OpKind::Dequeue => {
                op.read = g.chance(80).then(|| Value::Int(g.below(4) as i64));
            }
            15..=24 if op.outcome == Outcome::Fail => op.outcome = Outcome::Ok,
            _ => {}
        }
        if op.outcome != Outcome::Ok {
            op.read = None;
            if op.kind == OpKind::Members {
                op.members = None;
            }
        }
    }
    // An op that never completed keeps its client busy: later ops of that client move to a
    // client of their own.
    let mut next_client = 1000;
    let mut busy: Vec<u64> = Vec::new();
    for op in &mut ops {
        if busy.contains(&op.client) {
            op.client = next_client;
            next_client += 1;
        }
        if op.complete.is_none() {
            busy.push(op.client);
        }
    }
    History::new(ops)
}

/// What is false in `w`'s claims about `h`.
fn false_claims(which: Which, h: &History, w: &Witness) -> Vec<String> {
    let mut bad = Vec::new();
    let ops = candidates(h);
    let Some(op) = h.ops.iter().find(|o| o.id == w.op) else {
        return vec![format!("op {} is not in the history", w.op)];
    };
    if op.outcome != Outcome::Ok {
        bad.push(format!("op {} is not an ok op", w.op));
    }
    let mut done = vec![false; ops.len()];
    let mut state = which.init();
    for step in &w.prefix {
        let Some(i) = ops.iter().position(|o| o.id == step.op) else {
            bad.push(format!("prefix op {} is not a candidate", step.op));
            return bad;
        };
        if done[i] || !ready(&ops, &done, ops[i]) {
            bad.push(format!("prefix op {} is out of real-time order", step.op));
        }
        match apply(&state, ops[i]) {
            Some((next, true)) => state = next,
            _ => bad.push(format!("prefix op {} is not valid where it is", step.op)),
        }
        if let Some(given) = &step.state {
            if which.json(&state) != *given {
                bad.push(format!("the state after op {} is not {given}", step.op));
            }
        } else if Some(step) == w.prefix.last() {
            bad.push("the state after the prefix is not given".into());
        }
        done[i] = true;
    }
    if let Some(i) = ops.iter().position(|o| o.id == w.op) {
        if done[i] {
            bad.push("the op is inside the prefix".into());
        } else if ready(&ops, &done, op) && matches!(apply(&state, op), Some((_, true))) {
            bad.push("the op could follow the prefix".into());
        }
    }
    let (max, _) = search(which, &ops);
    if !w.prefix_is_longest || w.prefix.len() != max {
        bad.push(format!(
            "prefix of {} ops, longest {max}, claimed longest: {}",
            w.prefix.len(),
            w.prefix_is_longest
        ));
    }
    if !w
        .sentence
        .starts_with(&format!("{} by client {} [", op.name(), op.client))
    {
        bad.push("the sentence names another op".into());
    }
    bad
}

fn run(which: Which, seed: u64, histories: usize) {
    let mut g = Gen(ChaCha8Rng::seed_from_u64(seed));
    let (mut violations, mut linearizable) = (0, 0);
    for case in 0..histories {
        let n = 2 + g.below(6) as usize;
        let clients = 1 + g.below(3);
        let h = generate(&mut g, which, n, clients);
        if h.validate().is_err() {
            continue;
        }
        let (_, expected) = search(which, &candidates(&h));
        let verdict = which.check(&h);
        assert_eq!(
            verdict.linearizable(),
            Some(expected),
            "{which:?} case {case}: {verdict:?}\n{}",
            h.to_json_string()
        );
        match verdict {
            Verdict::Violation(w) => {
                let bad = false_claims(which, &h, &w);
                assert!(
                    bad.is_empty(),
                    "{which:?} case {case}: false claims {bad:?}\nwitness: {w:?}\n{}",
                    h.to_json_string()
                );
                violations += 1;
            }
            _ => linearizable += 1,
        }
    }
    println!("{which:?}: {violations} violations, {linearizable} linearizable, every verdict and claim true");
    assert!(
        violations >= histories / 10 && linearizable >= histories / 10,
        "{which:?}: too one-sided ({violations} violations, {linearizable} linearizable)"
    );
}

#[test]
fn set_agrees_with_brute_force_and_its_witnesses_are_true() {
    run(Which::Set, 21, 3000);
}

#[test]
fn queue_agrees_with_brute_force_and_its_witnesses_are_true() {
    run(Which::Queue, 22, 3000);
}

#[test]
fn mutex_agrees_with_brute_force_and_its_witnesses_are_true() {
    run(Which::Lock, 23, 3000);
}

/// The model states the witnesses give are the library's: a check that `json` above is
/// written as the models write it, so that a state mismatch means a false witness.
#[test]
fn states_are_written_as_the_models_write_them() {
    let set: BTreeSet<Value> = [Value::Int(2), Value::Int(1)].into_iter().collect();
    assert_eq!(Which::Set.json(&State::Set(set)), serde_json::json!([1, 2]));
    let q: VecDeque<Value> = [Value::Int(3), Value::Int(1)].into_iter().collect();
    assert_eq!(
        Which::Queue.json(&State::Queue(q.clone())),
        Queue.state_json(&q)
    );
    assert_eq!(
        Which::Lock.json(&State::Lock(true)),
        Mutex.state_json(&true)
    );
}
