//! Shared by the checker's property tests: a generator of histories and a brute-force
//! linearizability search written from the format's rules alone, independent of the library.
#![allow(dead_code)]
use quorumlab::history::{History, Op, OpKind, Outcome, Value};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

pub struct Gen(pub ChaCha8Rng);

impl Gen {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The kv semantics, written independently of the library's model.
pub fn apply(state: &Option<Value>, op: &Op) -> Option<(Option<Value>, bool)> {
    // Returns the new state and whether the recorded result matches (unknown results match).
    let known = op.outcome == Outcome::Ok;
    Some(match op.kind {
        OpKind::Get => (state.clone(), !known || op.read == *state),
        OpKind::Put => (op.value.clone(), true),
        OpKind::Delete => (None, true),
        OpKind::Append => {
            let Some(Value::Str(s)) = &op.value else {
                return None;
            };
            match state {
                None => (Some(Value::Str(s.clone())), true),
                Some(Value::Str(c)) => (Some(Value::from(format!("{c}{s}"))), true),
                Some(Value::Int(_)) => return None,
            }
        }
        OpKind::Cas => {
            let hit = *state == op.expect;
            let next = if hit { op.value.clone() } else { state.clone() };
            (next, !known || op.swapped == Some(hit))
        }
        // Kinds of the other models: not generated here.
        _ => return None,
    })
}

/// Tries every order of every subset containing all ok ops, respecting real time.
pub fn brute_force(h: &History) -> bool {
    let ops: Vec<&Op> = h
        .ops
        .iter()
        .filter(|o| o.outcome != Outcome::Fail)
        .collect();
    let mut keys: Vec<&str> = ops.iter().map(|o| o.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    // Per key suffices for this model, but the brute force deliberately does not rely on it:
    // one global search over all keys, with the state a list of (key, value).
    let _ = keys;
    fn go(ops: &[&Op], done: &mut Vec<bool>, state: &mut Vec<(String, Option<Value>)>) -> bool {
        if ops
            .iter()
            .zip(done.iter())
            .all(|(o, d)| *d || o.outcome != Outcome::Ok)
        {
            return true;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            // Every ok op that completed before this one began must already be placed.
            let ready = ops.iter().zip(done.iter()).all(|(o, d)| {
                *d || o.outcome != Outcome::Ok || o.complete.unwrap() >= ops[i].invoke
            });
            if !ready {
                continue;
            }
            let pos = state.iter().position(|(k, _)| *k == ops[i].key);
            let cur = pos.and_then(|p| state[p].1.clone());
            if let Some((next, true)) = apply(&cur, ops[i]) {
                let saved = state.clone();
                match pos {
                    Some(p) => state[p].1 = next,
                    None => state.push((ops[i].key.clone(), next)),
                }
                done[i] = true;
                if go(ops, done, state) {
                    return true;
                }
                done[i] = false;
                *state = saved;
            }
        }
        false
    }
    go(&ops, &mut vec![false; ops.len()], &mut Vec::new())
}

/// A history made by applying ops one by one, each at an instant inside its interval.
pub fn sequential(g: &mut Gen, n: usize, keys: u64, clients: u64, small: bool) -> History {
    // Pick linearization points first, then build intervals around them per client.
    let mut state: Vec<Option<Value>> = vec![None; keys as usize];
    let mut client_free = vec![0u64; clients as usize];
    let mut ops = Vec::new();
    let mut t = 0u64;
    let vals = if small { 3 } else { 1000 };
    for id in 0..n as u64 {
        t += 1 + g.below(20);
        let c = g.below(clients) as usize;
        let invoke = client_free[c].max(t.saturating_sub(g.below(40)));
        let point = t.max(invoke);
        t = point;
        let complete = point + g.below(40);
        let k = g.below(keys) as usize;
        let key = format!("k{k}");
        let strings = k % 2 == 1; // odd keys hold strings, even keys integers
        let r = g.below(100);
        let kind = match r {
            0..=39 => OpKind::Get,
            40..=64 => OpKind::Put,
            65..=72 => OpKind::Delete,
            73..=84 if strings => OpKind::Append,
            _ => OpKind::Cas,
        };
        let mk = |g: &mut Gen| {
            let v = g.below(vals) as i64;
            if strings {
                Value::from(format!("{}", (b'a' + (v % 26) as u8) as char))
            } else {
                Value::Int(v)
            }
        };
        let mut op = Op::new(id, c as u64, kind, &key, invoke);
        match kind {
            OpKind::Put | OpKind::Append => op.value = Some(mk(g)),
            OpKind::Cas => {
                op.value = Some(mk(g));
                op.expect = if g.chance(20) { None } else { Some(mk(g)) };
                if g.chance(40) {
                    op.expect = state[k].clone();
                }
            }
            _ => {}
        }
        let (next, _) = apply(&state[k], &op).expect("generated ops apply");
        op.read = (kind == OpKind::Get).then(|| state[k].clone()).flatten();
        if kind == OpKind::Cas {
            op.swapped = Some(state[k] == op.expect);
        }
        state[k] = next;
        op.complete = Some(complete);
        op.outcome = Outcome::Ok;
        client_free[c] = complete + 1;
        ops.push(op);
    }
    History::new(ops)
}

/// Perturbs results and outcomes: wrong reads, flipped swaps, info and fail outcomes.
pub fn perturb(g: &mut Gen, h: &mut History) {
    for i in 0..h.ops.len() {
        let op = &mut h.ops[i];
        match g.below(100) {
            0..=9 => {
                op.outcome = Outcome::Info;
                if g.chance(50) {
                    op.complete = None;
                }
            }
            10..=14 => op.outcome = Outcome::Fail,
            15..=29 if op.kind == OpKind::Get => {
                op.read = match g.below(4) {
                    0 => None,
                    1 => Some(Value::Int(g.below(3) as i64)),
                    _ => Some(Value::from(
                        ["a", "b", "ab", "ba", "c"][g.below(5) as usize],
                    )),
                }
            }
            15..=29 if op.kind == OpKind::Cas => op.swapped = op.swapped.map(|b| !b),
            _ => {}
        }
        if op.outcome != Outcome::Ok {
            op.read = None;
            op.swapped = None;
        }
    }
    // An info op with no completion keeps its client busy: give later ops of that client a
    // fresh client id so the history stays valid.
    let mut next_client = 1000;
    let mut busy: Vec<u64> = Vec::new();
    for op in h.ops.iter_mut() {
        if busy.contains(&op.client) {
            op.client = next_client;
            next_client += 1;
        }
        if op.complete.is_none() {
            busy.push(op.client);
        }
    }
}
