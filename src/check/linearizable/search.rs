//! The Wing-Gong/Lowe search for one partition, with memoization as in Porcupine.
//!
//! Calls and returns sit in a doubly linked list ordered by time (a call before a return at
//! the same instant, so touching intervals count as concurrent). The search walks the list:
//! at a call it tries to linearize that op now (the model must give the recorded output and
//! the (set, state) configuration must be new), lifting the call and its return out of the
//! list; at a return whose op is not yet linearized it backtracks. Ops whose outcome is info
//! have no return: they may be linearized at any point after their call, and the search
//! succeeds as soon as every op with a return is linearized, leaving the rest out.
//!
//! Two reductions keep the search small without changing a verdict: configurations whose
//! state can no longer explain a read still pending are cut ([`NextRead`]), and info ops with
//! the same input are linearized only in call order.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::memo::Memo;
use crate::check::hash::FxBuild;
use crate::model::{Effect, Model, PartOp};

const NIL: u32 = u32::MAX;
const IMPOSSIBLE: u32 = u32::MAX;

/// When to give up.
pub(crate) struct Limits<'a> {
    pub deadline: Option<Instant>,
    /// Steps allowed before answering [`GaveUp::Budget`].
    pub budget: u64,
    pub memo_bytes: usize,
    pub cancel: &'a AtomicBool,
}

/// Watches [`Limits::deadline`] and [`Limits::cancel`] at a cost that stays small beside the
/// work it watches: the clock is read once per [`Meter::POLL`] units of work, and a unit is
/// one step or one item scanned, so a deadline is overrun by at most about that much work
/// however costly single steps are.
pub(crate) struct Meter<'a> {
    limits: &'a Limits<'a>,
    work: u64,
    next_poll: u64,
}

impl<'a> Meter<'a> {
    /// Units of work between two readings of the clock (a reading costs about as much as 20
    /// to 50 units).
    const POLL: u64 = 1 << 12;

    pub(crate) fn new(limits: &'a Limits<'a>) -> Meter<'a> {
        Meter {
            limits,
            work: 0,
            next_poll: Self::POLL,
        }
    }

    /// Whether the deadline has passed or the check was cancelled, now.
    pub(crate) fn expired(&self) -> bool {
        self.limits.cancel.load(Ordering::Relaxed)
            || self.limits.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Counts `units` of work done; true when the deadline has passed (looked at only every
    /// [`Meter::POLL`] units).
    pub(crate) fn spend(&mut self, units: u64) -> bool {
        self.work = self.work.saturating_add(units);
        if self.work < self.next_poll {
            return false;
        }
        self.next_poll = self.work.saturating_add(Self::POLL);
        self.expired()
    }
}

/// Why a search gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GaveUp {
    Budget,
    Timeout,
    MemoLimit,
}

/// How far the search got before a violation.
#[derive(Clone)]
pub(crate) struct Stuck<S> {
    /// The longest linearizable prefix: partition op index and the state after it.
    pub prefix: Vec<(usize, S)>,
    /// The op whose return was reached at the end of that prefix without it linearized.
    pub op: usize,
    /// Steps the search took to find the violation.
    pub steps: u64,
    /// The configurations the search cut that might lead to a linearizable prefix longer
    /// than [`Stuck::prefix`] ([`Bound`]), each as the longest prefix possible in it and the
    /// ops placed in order, those that may lead furthest first; since the search
    /// explored every other configuration, a longer prefix extends one of them, and none
    /// exists when this is empty. `None` when there were too many to keep.
    pub open: Option<Vec<(usize, Vec<u32>)>>,
}

/// What a search is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// The verdict: configurations that cannot explain a pending read are cut
    /// ([`NextRead`]).
    Verdict,
    /// A linearizable prefix longer than this many ops, if there is one: every prefix is
    /// explored except those of configurations that cannot lead to a prefix longer than both
    /// this and the longest found so far (see [`Bound`]).
    LongerThan(usize),
}

pub(crate) enum Found<S> {
    Linearizable,
    Violation(Stuck<S>),
    GaveUp(GaveUp),
}

struct States<'m, M: Model> {
    model: &'m M,
    states: Vec<M::State>,
    ids: HashMap<M::State, u32, FxBuild>,
    /// (state << 32 | op) -> next state, or IMPOSSIBLE.
    trans: HashMap<u64, u32, FxBuild>,
    /// Bytes the states and transitions hold, counted against the memory limit with the memo.
    bytes: usize,
}

/// Bytes one cached transition costs in its hash table (key, value, control byte, spare room).
const TRANS_BYTES: usize = 24;

impl<'m, M: Model> States<'m, M> {
    fn intern(&mut self, s: M::State) -> u32 {
        if let Some(&id) = self.ids.get(&s) {
            return id;
        }
        let id = self.states.len() as u32;
        // Two copies (the list and the index), plus what the state alone owns.
        self.bytes += 2 * std::mem::size_of::<M::State>() + 16 + self.model.heap_bytes(&s);
        self.states.push(s.clone());
        self.ids.insert(s, id);
        id
    }

    fn step(&mut self, state: u32, op_index: usize, op: &PartOp<M>) -> Option<u32> {
        let key = (state as u64) << 32 | op_index as u64;
        if let Some(&next) = self.trans.get(&key) {
            return (next != IMPOSSIBLE).then_some(next);
        }
        let next = match self.model.step(&self.states[state as usize], &op.input) {
            Some((s, out)) if op.output.as_ref().is_none_or(|want| *want == out) => self.intern(s),
            _ => IMPOSSIBLE,
        };
        self.trans.insert(key, next);
        self.bytes += TRANS_BYTES;
        (next != IMPOSSIBLE).then_some(next)
    }
}

struct Frame {
    call: u32,
    /// A read-only op linearized without alternatives: backtracking skips past it.
    forced: bool,
    state: u32,
    max_op: u32,
    /// Placed as part of the configuration the search starts from: backtracking stops here.
    base: bool,
    /// Its place in the tree of configurations kept for a second search, or NIL.
    place: u32,
}

/// Places in the tree of [`Stuck::open`]'s configurations at most; past it they are dropped.
const OPEN_LIMIT: usize = 1 << 18;

/// Searches one partition for a linearization.
///
/// Configurations that cannot explain the next read are cut ([`NextRead`]); a violation's
/// longest prefix may then end with the write after which the next read cannot be
/// explained, and name that read.
///
/// With [`Goal::LongerThan`] the reads are not used to cut configurations that could still
/// lead to a longer prefix: the search is slower but its violation carries a longest
/// linearizable prefix when one is longer than the goal's (every prefix reachable is explored,
/// up to the reductions that cannot shorten one: the memo, read-only ops placed first,
/// identical info ops in call order, and [`Bound`]). The prefixes it records, and so its
/// answer, are those of the same search without [`Bound`]: a configuration cut holds no
/// prefix that would have been recorded.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[PartOp<M>],
    limits: &Limits,
    goal: Goal,
) -> Found<M::State> {
    search_from(model, ops, limits, goal, &[(usize::MAX, Vec::new())])
}

/// [`search`] from each of the configurations `starts` (the longest prefix possible in it,
/// and the ops placed, in order) in turn, exploring only what extends them: with
/// [`Goal::LongerThan`] and a violation's [`Stuck::open`], the configurations its search cut
/// that may hold a longer prefix. A start that cannot lead further than the goal and the
/// longest prefix found is skipped.
pub(crate) fn search_from<M: Model>(
    model: &M,
    ops: &[PartOp<M>],
    limits: &Limits,
    goal: Goal,
    starts: &[(usize, Vec<u32>)],
) -> Found<M::State> {
    let n = ops.len();
    let mut remaining = ops.iter().filter(|o| o.ret.is_some()).count();
    if remaining == 0 {
        return Found::Linearizable;
    }

    // The list: node 0 is the head, then events, then the tail.
    let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, 0, i as u32));
        if let Some(r) = op.ret {
            events.push((r, 1, i as u32));
        }
    }
    events.sort_unstable();
    if Meter::new(limits).expired() {
        return Found::GaveUp(GaveUp::Timeout);
    }
    let nodes = events.len() + 2;
    let tail = (nodes - 1) as u32;
    let mut next: Vec<u32> = (1..=nodes as u32).collect();
    let mut prev: Vec<u32> = (0..nodes as u32).map(|i| i.wrapping_sub(1)).collect();
    next[tail as usize] = NIL;
    prev[0] = NIL;
    let mut node_op = vec![0u32; nodes];
    let mut is_call = vec![false; nodes];
    let mut ret_node = vec![NIL; n];
    let mut call_node = vec![NIL; n];
    let mut call_ret = vec![NIL; nodes];
    for (k, &(_, kind, op)) in events.iter().enumerate() {
        let node = k + 1;
        node_op[node] = op;
        is_call[node] = kind == 0;
        if kind == 1 {
            ret_node[op as usize] = node as u32;
        } else {
            call_node[op as usize] = node as u32;
        }
    }
    for node in 1..nodes - 1 {
        if is_call[node] {
            call_ret[node] = ret_node[node_op[node] as usize];
        }
    }

    let mut states = States {
        model,
        states: Vec::new(),
        ids: HashMap::default(),
        trans: HashMap::default(),
        bytes: 0,
    };
    let mut state = states.intern(model.init());
    let words = n.div_ceil(64);
    let mut bits = vec![0u64; words];
    let mut lo = 0usize; // leading all-ones words
    let mut memo = Memo::new(limits.memo_bytes);
    let mut stack: Vec<Frame> = Vec::new();
    // The longest prefix seen and the op stuck after it.
    let mut best = Best::default();
    let mut steps: u64 = 0;

    // Two passes over the candidates of each configuration: ops with a known result first,
    // then info ops. Both passes see every candidate, so the search stays complete; trying the
    // constrained ops first finds linearizations of long info-heavy histories much sooner.
    let is_info = |op: usize| ops[op].ret.is_none();
    let read_only: Vec<bool> = ops
        .iter()
        .map(|o| model.is_read_only(&o.input, o.output.as_ref()))
        .collect();
    let mut meter = Meter::new(limits);
    if meter.expired() {
        return Found::GaveUp(GaveUp::Timeout);
    }
    let mut grow = match NextRead::new(&mut states, ops, &mut meter, limits.memo_bytes) {
        Ok(g) => g,
        Err(why) => return Found::GaveUp(why),
    };
    memo.set_outside(states.bytes + grow.bytes);
    let bound = Bound::new(ops);
    // The configurations cut that may lead further than the longest prefix at the time: the
    // longest prefix possible in each and its place in a tree of (parent, op), which shares
    // the ops they have in common (a frame's place is given when a cut below it is kept).
    let mut open: Vec<(usize, u32)> = Vec::new();
    let mut tree: Vec<(u32, u32)> = Vec::new();
    let mut open_kept = true;
    // Info ops with the same input are interchangeable once both are called (neither has a
    // return to meet), so only orders that linearize them in call order are tried: an info op
    // waits for its previous twin.
    let mut twin = vec![NIL; n];
    {
        let mut last: HashMap<&M::Input, u32, FxBuild> = HashMap::default();
        for (i, o) in ops.iter().enumerate() {
            if o.ret.is_none() {
                if let Some(p) = last.insert(&o.input, i as u32) {
                    twin[i] = p;
                }
            }
        }
    }
    for (most, start) in starts {
        let floor = match goal {
            Goal::LongerThan(floor) => floor.max(if best.op.is_some() { best.len } else { 0 }),
            Goal::Verdict => 0,
        };
        if *most <= floor {
            continue;
        }
        // Place the start's ops as the search would, then explore from there.
        let mut placed = true;
        for &op in start {
            let op = op as usize;
            let Some(s2) = states.step(state, op, &ops[op]) else {
                placed = false;
                break;
            };
            bits[op / 64] |= 1 << (op % 64);
            let max_op = stack.last().map_or(op as u32, |f| f.max_op.max(op as u32));
            while lo < words && bits[lo] == u64::MAX {
                lo += 1;
            }
            stack.push(Frame {
                call: call_node[op],
                forced: false,
                state,
                max_op,
                base: true,
                place: NIL,
            });
            state = s2;
            if !is_info(op) {
                remaining -= 1;
            }
            grow.linearized(op);
            let call = call_node[op];
            lift(call, call_ret[call as usize], &mut next, &mut prev);
        }
        if placed {
            if let Some(f) = stack.last() {
                let hi = (f.max_op as usize / 64 + 1).max(lo);
                match memo.insert(state, lo as u32, &bits[lo..hi]) {
                    Err(_) => return Found::GaveUp(GaveUp::MemoLimit),
                    Ok(fresh) => placed = fresh,
                }
            }
        }
        let mut info_pass = false;
        let mut entry = next[0];
        while placed && remaining > 0 {
            steps += 1;
            if steps > limits.budget {
                return Found::GaveUp(GaveUp::Budget);
            }
            // A step's own cost grows with what `may_lead` scans: the meter counts both.
            if meter.spend(1 + std::mem::take(&mut grow.scanned)) {
                return Found::GaveUp(GaveUp::Timeout);
            }
            memo.set_outside(states.bytes + grow.bytes);
            // The end of the list is unreachable while an op with a return is pending (its
            // return comes first); treat it as a dead end all the same.
            let mut dead = entry == tail || entry == NIL;
            let e = entry as usize;
            if dead {
            } else if is_call[e] {
                let op = node_op[e] as usize;
                if is_info(op) != info_pass {
                    entry = next[e];
                    continue;
                }
                let t = twin[op];
                if t != NIL && bits[t as usize / 64] & (1 << (t % 64)) == 0 {
                    entry = next[e];
                    continue;
                }
                let s2 = match states.step(state, op, &ops[op]) {
                    Some(s2) if s2 != state => match grow.may_lead(&states, state, s2, op, &bits) {
                        Ok(()) => Some(s2),
                        Err(read) => {
                            // `read` can never be linearized after this op: past it, only ops
                            // called before the read returns may follow.
                            let most = match (&bound, ops[read].ret) {
                                (Some(b), Some(ret)) => {
                                    b.at_most(&bits, lo, stack.len() + 1, op, (read, ret))
                                }
                                _ => usize::MAX,
                            };
                            match goal {
                                Goal::LongerThan(floor) => {
                                    let best_len = if best.op.is_some() { best.len } else { 0 };
                                    (most > floor.max(best_len)).then_some(s2)
                                }
                                Goal::Verdict => {
                                    // Linearizable up to this op, after which `read` cannot be.
                                    if best.op.is_none() || stack.len() + 1 > best.len {
                                        best.record(&stack, state, &node_op);
                                        best.prefix.push((op, s2));
                                        best.len = stack.len() + 1;
                                        best.op = Some(read);
                                    }
                                    if most > best.len && open_kept {
                                        let at = place(&mut stack, &mut tree, &node_op);
                                        tree.push((at, op as u32));
                                        open.push((most, (tree.len() - 1) as u32));
                                        if tree.len() > OPEN_LIMIT {
                                            open_kept = false;
                                            (open, tree) = (Vec::new(), Vec::new());
                                        }
                                    }
                                    None
                                }
                            }
                        }
                    },
                    s2 => s2,
                };
                if let Some(s2) = s2 {
                    let w = op / 64;
                    bits[w] |= 1 << (op % 64);
                    let max_op = stack.last().map_or(op as u32, |f| f.max_op.max(op as u32));
                    let mut new_lo = lo;
                    while new_lo < words && bits[new_lo] == u64::MAX {
                        new_lo += 1;
                    }
                    let hi = (max_op as usize / 64 + 1).max(new_lo);
                    match memo.insert(s2, new_lo as u32, &bits[new_lo..hi]) {
                        Err(_) => return Found::GaveUp(GaveUp::MemoLimit),
                        Ok(true) => {
                            lo = new_lo;
                            stack.push(Frame {
                                call: entry,
                                forced: read_only[op],
                                state,
                                max_op,
                                base: false,
                                place: NIL,
                            });
                            state = s2;
                            if !is_info(op) {
                                remaining -= 1;
                            }
                            grow.linearized(op);
                            lift(entry, call_ret[e], &mut next, &mut prev);
                            info_pass = false;
                            entry = next[0];
                            continue;
                        }
                        Ok(false) => {
                            bits[w] &= !(1 << (op % 64));
                            // A read-only op that fits but leads somewhere already explored:
                            // every order from here was explored through it.
                            dead = read_only[op];
                        }
                    }
                }
                entry = next[e];
            } else if !info_pass {
                info_pass = true;
                entry = next[0];
            } else {
                // A return of an op not yet linearized: this prefix cannot be extended.
                if best.op.is_none() || stack.len() > best.len {
                    best.record(&stack, state, &node_op);
                    best.len = stack.len();
                    best.op = Some(node_op[e] as usize);
                }
                dead = true;
            }
            if dead {
                let mut resume = None;
                while let Some(f) = backtrack(
                    &mut stack,
                    &mut bits,
                    &mut lo,
                    &mut state,
                    &mut remaining,
                    ops,
                    &call_ret,
                    &node_op,
                    &mut next,
                    &mut prev,
                ) {
                    grow.unlinearized(node_op[f.call as usize] as usize);
                    best.same = best.same.min(stack.len());
                    if f.base {
                        break;
                    }
                    if !f.forced {
                        resume = Some(f.call);
                        break;
                    }
                }
                match resume {
                    Some(call) => {
                        info_pass = is_info(node_op[call as usize] as usize);
                        entry = next[call as usize];
                    }
                    None => break,
                }
            }
        }
        if remaining == 0 {
            return Found::Linearizable;
        }
        // Back to the empty configuration for the next start.
        while let Some(f) = backtrack(
            &mut stack,
            &mut bits,
            &mut lo,
            &mut state,
            &mut remaining,
            ops,
            &call_ret,
            &node_op,
            &mut next,
            &mut prev,
        ) {
            grow.unlinearized(node_op[f.call as usize] as usize);
            best.same = best.same.min(stack.len());
        }
    }
    best.prefix.truncate(best.len);
    Found::Violation(Stuck {
        prefix: best
            .prefix
            .into_iter()
            .map(|(op, s)| (op, states.states[s as usize].clone()))
            .collect(),
        op: best.op.unwrap_or(0),
        steps,
        open: open_kept.then(|| {
            // Those that may lead furthest first.
            open.retain(|&(most, _)| most > best.len);
            open.sort_by_key(|&(most, _)| std::cmp::Reverse(most));
            open.into_iter()
                .map(|(most, mut at)| {
                    let mut seq = Vec::new();
                    while at != NIL {
                        seq.push(tree[at as usize].1);
                        at = tree[at as usize].0;
                    }
                    seq.reverse();
                    (most, seq)
                })
                .collect()
        }),
    })
}

/// The place in `tree` of the configuration on the stack, giving places to the frames that
/// have none yet (those pushed since the last call, as a frame below one with a place has
/// one); NIL for the empty stack.
fn place(stack: &mut [Frame], tree: &mut Vec<(u32, u32)>, node_op: &[u32]) -> u32 {
    let from = stack
        .iter()
        .rposition(|f| f.place != NIL)
        .map_or(0, |k| k + 1);
    for k in from..stack.len() {
        let parent = if k == 0 { NIL } else { stack[k - 1].place };
        tree.push((parent, node_op[stack[k].call as usize]));
        stack[k].place = (tree.len() - 1) as u32;
    }
    stack.last().map_or(NIL, |f| f.place)
}

/// The longest linearizable prefix found. Its first `same` entries still match the stack
/// (backtracking lowers it), so recording a longer prefix copies only the frames pushed since
/// the last record: linear in the steps overall, not in steps times depth.
#[derive(Default)]
struct Best {
    /// (op, state after it); entries past `len` are stale.
    prefix: Vec<(usize, u32)>,
    len: usize,
    /// The op stuck after the prefix; `None` before the first record.
    op: Option<usize>,
    same: usize,
}

impl Best {
    /// Makes `prefix` the ops on the stack with the state after each.
    fn record(&mut self, stack: &[Frame], state: u32, node_op: &[u32]) {
        self.prefix.truncate(self.same);
        for (k, f) in stack.iter().enumerate().skip(self.same) {
            let after = stack.get(k + 1).map_or(state, |g| g.state);
            self.prefix.push((node_op[f.call as usize] as usize, after));
        }
        self.same = stack.len();
    }
}

/// Pruning by the next read: the read still to be linearized whose return comes first
/// pins the state it read, `t`. Every op does nothing, grows the state or sets it
/// ([`Model::effect`]), so from a configuration in state `s` the read can be reached only
/// when `t` grows from `s` ([`Model::extends`]) or from the value of some set op not yet
/// linearized that is called no later than the read returns. A configuration that fails this
/// is dead. Without an effect for every op, nothing is pruned.
struct NextRead {
    /// Ops that pin a state, by return time; empty when not pruning.
    reads: Vec<u32>,
    /// Per place in `reads`: the pinned state.
    target: Vec<u32>,
    /// Per place: `explain[start[k]..end[k]]` are the set ops that could lead to it, called
    /// no later than the read returns. The reads of one state share one run of `explain`,
    /// in call order, each taking as much of it as its return allows: memory stays linear in
    /// the ops however many reads pin a state.
    start: Vec<u32>,
    end: Vec<u32>,
    explain: Vec<u32>,
    /// Per op: its place in `reads`, or NIL.
    place: Vec<u32>,
    /// Per place: linearized.
    done: Vec<bool>,
    /// The first place not linearized.
    at: usize,
    /// (state << 32 | target) -> whether the target grows from the state.
    grows: HashMap<u64, bool, FxBuild>,
    /// Per state id: reads not yet linearized that pin it (ids past the end: none).
    pending: Vec<u32>,
    /// Per state id: `by_state[pin_start[s]..pin_start[s + 1]]` are the set ops that could
    /// lead back to it.
    pin_start: Vec<u32>,
    by_state: Vec<u32>,
    /// No op grows the state: a state leads only to itself without a set op.
    exact: bool,
    /// Set ops looked at by [`NextRead::may_lead`] since the search last took the count.
    scanned: u64,
    /// Bytes held, for the memory limit.
    bytes: usize,
}

impl NextRead {
    /// Gives up when the deadline passes (`meter` counts each op, read and comparison), or
    /// when what it builds, with the states interned so far, would hold more than
    /// `limit_bytes`.
    fn new<M: Model>(
        states: &mut States<'_, M>,
        ops: &[PartOp<M>],
        meter: &mut Meter<'_>,
        limit_bytes: usize,
    ) -> Result<NextRead, GaveUp> {
        let mut g = NextRead {
            reads: Vec::new(),
            target: Vec::new(),
            start: Vec::new(),
            end: Vec::new(),
            explain: Vec::new(),
            place: vec![NIL; ops.len()],
            done: Vec::new(),
            at: 0,
            grows: HashMap::default(),
            pending: Vec::new(),
            pin_start: Vec::new(),
            by_state: Vec::new(),
            exact: false,
            scanned: 0,
            bytes: 0,
        };
        let model = states.model;
        let mut sets: Vec<(usize, u32)> = Vec::new();
        let mut reads: Vec<(u64, usize, u32)> = Vec::new();
        g.exact = true;
        for (i, o) in ops.iter().enumerate() {
            match model.effect(&o.input, o.output.as_ref()) {
                Effect::Any => return Ok(g),
                Effect::Sets(v) => sets.push((i, states.intern(v))),
                Effect::Grows => g.exact = false,
                Effect::Same => {}
            }
            if let (Some(ret), Some(out)) = (o.ret, o.output.as_ref()) {
                if let Some(p) = model.pinned(&o.input, out) {
                    reads.push((ret, i, states.intern(p)));
                }
            }
        }
        // The set ops whose value a state can grow from: without growing ops, only the set
        // ops of that very state (found through an index rather than by comparing all).
        let mut of_state: HashMap<u32, Vec<usize>, FxBuild> = HashMap::default();
        if g.exact {
            for &(p, v) in &sets {
                of_state.entry(v).or_default().push(p);
            }
        }
        reads.sort_unstable();
        if meter.spend(ops.len() as u64 + reads.len() as u64) {
            return Err(GaveUp::Timeout);
        }
        let mut pending = vec![0u32; states.states.len()];
        let mut by_target: HashMap<u32, Vec<usize>, FxBuild> = HashMap::default();
        // Set ops listed for some state: each is held three times (`by_target`, `explain`,
        // `by_state`), with its call time once.
        let mut listed = 0usize;
        for &(_, _, t) in &reads {
            pending[t as usize] += 1;
            if by_target.contains_key(&t) {
                if meter.spend(1) {
                    return Err(GaveUp::Timeout);
                }
                continue;
            }
            let found: Vec<usize> = if g.exact {
                of_state.get(&t).cloned().unwrap_or_default()
            } else {
                // Without an index, every set op is compared with the state.
                let want = &states.states[t as usize];
                let mut found = Vec::new();
                for chunk in sets.chunks(1 << 10) {
                    if meter.spend(chunk.len() as u64) {
                        return Err(GaveUp::Timeout);
                    }
                    found.extend(
                        chunk
                            .iter()
                            .filter(|&&(_, v)| model.extends(want, &states.states[v as usize]))
                            .map(|&(p, _)| p),
                    );
                }
                found
            };
            listed += found.len();
            if listed.saturating_mul(32) + states.bytes > limit_bytes {
                return Err(GaveUp::MemoLimit);
            }
            by_target.insert(t, found);
        }
        g.bytes = listed * 32 + reads.len() * 24 + ops.len() * 4;
        // Each state's run of set ops, in call order.
        let mut runs: HashMap<u32, (u32, Vec<u64>), FxBuild> = HashMap::default();
        for (k, &(ret, i, t)) in reads.iter().enumerate() {
            if k & 0xfff == 0 && meter.expired() {
                return Err(GaveUp::Timeout);
            }
            g.reads.push(i as u32);
            g.target.push(t);
            g.place[i] = k as u32;
            let (at, calls) = runs.entry(t).or_insert_with(|| {
                let mut run = by_target[&t].clone();
                run.sort_by_key(|&p| (ops[p].call, p));
                let at = g.explain.len() as u32;
                g.explain.extend(run.iter().map(|&p| p as u32));
                (at, run.iter().map(|&p| ops[p].call).collect())
            });
            g.start.push(*at);
            g.end
                .push(*at + calls.partition_point(|&c| c <= ret) as u32);
        }
        g.done = vec![false; g.reads.len()];
        g.pin_start.push(0);
        for t in 0..pending.len() {
            if pending[t] > 0 {
                g.by_state
                    .extend(by_target[&(t as u32)].iter().map(|&p| p as u32));
            }
            g.pin_start.push(g.by_state.len() as u32);
        }
        g.pending = pending;
        Ok(g)
    }

    /// Whether `t` grows from `s` (cached).
    fn grows<M: Model>(&mut self, states: &States<'_, M>, s: u32, t: u32) -> bool {
        if self.exact {
            return s == t;
        }
        let key = (s as u64) << 32 | t as u64;
        if !self.grows.contains_key(&key) {
            self.bytes += TRANS_BYTES;
        }
        *self.grows.entry(key).or_insert_with(|| {
            states
                .model
                .extends(&states.states[t as usize], &states.states[s as usize])
        })
    }

    /// Whether a configuration in state `s`, reached from state `from` by linearizing `op`
    /// with the ops in `bits`, may still explain the next read, and every read not yet
    /// linearized that pins `from`; if not, a read it cannot explain.
    fn may_lead<M: Model>(
        &mut self,
        states: &States<'_, M>,
        from: u32,
        s: u32,
        op: usize,
        bits: &[u64],
    ) -> Result<(), usize> {
        let Some(&t) = self.target.get(self.at) else {
            return Ok(());
        };
        let open = |p: &u32| *p as usize != op && bits[*p as usize / 64] & (1 << (p % 64)) == 0;
        let run = self.start[self.at] as usize..self.end[self.at] as usize;
        let f = from as usize;
        self.scanned += (run.len()
            + self
                .pin_start
                .get(f + 1)
                .map_or(0, |&e| (e - self.pin_start[f]) as usize)) as u64;
        if !self.grows(states, s, t) && !self.explain[run].iter().any(open) {
            return Err(self.reads[self.at] as usize);
        }
        if self.pending.get(f).is_none_or(|&n| n == 0)
            || self.grows(states, s, from)
            || self.by_state[self.pin_start[f] as usize..self.pin_start[f + 1] as usize]
                .iter()
                .any(open)
        {
            return Ok(());
        }
        let k = (self.at..self.reads.len())
            .find(|&k| !self.done[k] && self.target[k] == from)
            .expect("a read not yet linearized pins the state");
        Err(self.reads[k] as usize)
    }

    fn linearized(&mut self, op: usize) {
        let k = self.place[op];
        if k == NIL {
            return;
        }
        self.done[k as usize] = true;
        self.pending[self.target[k as usize] as usize] -= 1;
        while self.at < self.done.len() && self.done[self.at] {
            self.at += 1;
        }
    }

    fn unlinearized(&mut self, op: usize) {
        let k = self.place[op];
        if k == NIL {
            return;
        }
        self.done[k as usize] = false;
        self.pending[self.target[k as usize] as usize] += 1;
        self.at = self.at.min(k as usize);
    }
}

/// An upper bound on the length of any linearizable prefix that extends a configuration in
/// which some pending read can never be linearized (as [`NextRead`] finds): the ops placed,
/// plus the ops not placed that are called no later than the read returns (real time puts
/// every other op after the read), the read itself left out.
struct Bound {
    /// Per op (ops are in call order): its call time.
    calls: Vec<u64>,
}

impl Bound {
    /// `None` when the ops are not in call order (then no bound is known).
    fn new<M: Model>(ops: &[PartOp<M>]) -> Option<Bound> {
        ops.windows(2)
            .all(|w| w[0].call <= w[1].call)
            .then(|| Bound {
                calls: ops.iter().map(|o| o.call).collect(),
            })
    }

    /// The longest prefix possible once `op` is placed, with `placed` ops in all (`op`
    /// included) and `bits` the ops placed before it (the first `lo` words all set), when
    /// `read`, which returns at `ret` and is not placed, never can be.
    fn at_most(
        &self,
        bits: &[u64],
        lo: usize,
        placed: usize,
        op: usize,
        (read, ret): (usize, u64),
    ) -> usize {
        let before = self.calls.partition_point(|&c| c <= ret);
        let full = lo.min(before / 64);
        let mut done = full * 64
            + bits[full..before / 64]
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>();
        if before % 64 != 0 {
            done += (bits[before / 64] & ((1u64 << (before % 64)) - 1)).count_ones() as usize;
        }
        done += usize::from(op < before);
        debug_assert!(read < before);
        // The read is one of the `before` ops, and not placed.
        placed + (before - done).saturating_sub(1)
    }
}

#[allow(clippy::too_many_arguments)]
fn backtrack<M: Model>(
    stack: &mut Vec<Frame>,
    bits: &mut [u64],
    lo: &mut usize,
    state: &mut u32,
    remaining: &mut usize,
    ops: &[PartOp<M>],
    call_ret: &[u32],
    node_op: &[u32],
    next: &mut [u32],
    prev: &mut [u32],
) -> Option<Frame> {
    let f = stack.pop()?;
    let op = node_op[f.call as usize] as usize;
    let w = op / 64;
    bits[w] &= !(1 << (op % 64));
    if w < *lo {
        *lo = w;
    }
    *state = f.state;
    if ops[op].ret.is_some() {
        *remaining += 1;
    }
    unlift(f.call, call_ret[f.call as usize], next, prev);
    Some(f)
}

fn lift(call: u32, ret: u32, next: &mut [u32], prev: &mut [u32]) {
    for node in [call, ret] {
        if node == NIL {
            continue;
        }
        let (p, n) = (prev[node as usize], next[node as usize]);
        next[p as usize] = n;
        if n != NIL {
            prev[n as usize] = p;
        }
    }
}

fn unlift(call: u32, ret: u32, next: &mut [u32], prev: &mut [u32]) {
    for node in [ret, call] {
        if node == NIL {
            continue;
        }
        let (p, n) = (prev[node as usize], next[node as usize]);
        next[p as usize] = node;
        if n != NIL {
            prev[n as usize] = node;
        }
    }
}
