//! The Wing-Gong/Lowe search for one partition, with memoization as in Porcupine.
//!
//! Calls and returns sit in a doubly linked list ordered by time ([`Events`]: a call before a
//! return at the same instant, so touching intervals count as concurrent), and the ops
//! linearized so far in a bitset ([`Linearized`]). The search ([`Search::explore`]) walks the
//! list: at a call it tries to linearize that op now (the model must give the recorded output
//! and the (set, state) configuration must be new), lifting the call and its return out of the
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

use super::events::{Events, Kind};
use super::linearized::Linearized;
use super::memo::Memo;
use crate::check::hash::FxBuild;
use crate::model::{Effect, Model, PartOp};

pub(super) const NIL: u32 = u32::MAX;
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

    /// Units of work left before the clock is read again.
    pub(crate) fn until_poll(&self) -> u64 {
        self.next_poll.saturating_sub(self.work).max(1)
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
    /// Whether [`Stuck::prefix`] is a longest linearizable prefix of the partition's ops.
    pub longest: Longest,
}

/// What is known of a violation's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Longest {
    /// No linearizable prefix is longer.
    Proven,
    /// The search for a longer one ran out of steps or memory: none longer was found.
    OutOfSteps,
    /// Not looked into: the caller searches the key's ops again for a longer one.
    NotSearched,
}

/// What a search is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// The verdict: configurations that cannot explain a pending read are cut
    /// ([`NextRead`]).
    Verdict,
    /// A linearizable prefix longer than this many ops, if there is one: every prefix is
    /// explored except those of configurations that cannot lead to a prefix longer than both
    /// this and the longest found so far (see [`NextRead::at_most`]).
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

    /// The state `op` (at `op_index`) leads to from `state`, if it gives its recorded output.
    /// Inlined for the cached transition, which most steps find.
    #[inline]
    fn step(&mut self, state: u32, op_index: usize, op: &PartOp<M>) -> Option<u32> {
        let key = (state as u64) << 32 | op_index as u64;
        let next = match self.trans.get(&key) {
            Some(&next) => next,
            None => self.step_model(key, state, op),
        };
        (next != IMPOSSIBLE).then_some(next)
    }

    /// Asks the model and caches the answer (IMPOSSIBLE when the op does not fit).
    #[inline(never)]
    fn step_model(&mut self, key: u64, state: u32, op: &PartOp<M>) -> u32 {
        let next = match self.model.step(&self.states[state as usize], &op.input) {
            Some((s, out)) if op.output.as_ref().is_none_or(|want| *want == out) => self.intern(s),
            _ => IMPOSSIBLE,
        };
        self.trans.insert(key, next);
        self.bytes += TRANS_BYTES;
        next
    }
}

/// Places in the tree of [`Open`]'s configurations at most; past it they are dropped.
const OPEN_LIMIT: usize = 1 << 18;

/// An op linearized, as the search keeps it to backtrack.
struct Frame {
    call: u32,
    /// A read-only op linearized without alternatives: backtracking skips past it.
    forced: bool,
    /// The state before it.
    state: u32,
    /// The greatest op linearized, this one included.
    max_op: u32,
    /// Placed as part of the configuration the search starts from: backtracking stops here.
    base: bool,
    /// Its place in the tree of configurations kept for a second search, or NIL.
    place: u32,
}

/// The configurations cut that may lead further than the longest prefix at the time (a
/// longer prefix extends one of them, as the search explored every other): the longest prefix
/// possible in each and its place in a tree of (parent, op), which shares the ops they have in
/// common (a frame's place is given when a cut below it is kept).
struct Open {
    cuts: Vec<(usize, u32)>,
    tree: Vec<(u32, u32)>,
    /// False once there were too many to keep.
    kept: bool,
}

impl Open {
    /// Keeps the configuration of `stack` with `op` placed on top, which can lead to a prefix
    /// of at most `most` ops.
    fn keep(&mut self, most: usize, stack: &mut [Frame], events: &Events, op: usize) {
        if !self.kept {
            return;
        }
        let at = self.place(stack, events);
        self.tree.push((at, op as u32));
        self.cuts.push((most, (self.tree.len() - 1) as u32));
        if self.tree.len() > OPEN_LIMIT {
            *self = Open {
                cuts: Vec::new(),
                tree: Vec::new(),
                kept: false,
            };
        }
    }

    /// The place in the tree of the configuration on the stack, giving places to the frames
    /// that have none yet (those pushed since the last call, as a frame below one with a place
    /// has one); NIL for the empty stack.
    fn place(&mut self, stack: &mut [Frame], events: &Events) -> u32 {
        let from = stack
            .iter()
            .rposition(|f| f.place != NIL)
            .map_or(0, |k| k + 1);
        for k in from..stack.len() {
            let parent = if k == 0 { NIL } else { stack[k - 1].place };
            self.tree.push((parent, events.op(stack[k].call) as u32));
            stack[k].place = (self.tree.len() - 1) as u32;
        }
        stack.last().map_or(NIL, |f| f.place)
    }

    /// Those that may lead to more than `longest` ops, furthest first; `None` when there were
    /// too many to keep.
    fn into_starts(self, longest: usize) -> Option<Starts> {
        let Open {
            mut cuts,
            tree,
            kept,
        } = self;
        kept.then(|| {
            cuts.retain(|&(most, _)| most > longest);
            cuts.sort_by_key(|&(most, _)| std::cmp::Reverse(most));
            Starts { cuts, tree }
        })
    }
}

/// Configurations for a search to start from, in order, each as the longest prefix possible in
/// it and its place in a tree of (parent, op). A start's ops are read out of the tree only
/// when the search comes to it: most are skipped once a prefix as long as their bound is
/// found.
#[derive(Clone)]
pub(crate) struct Starts {
    cuts: Vec<(usize, u32)>,
    tree: Vec<(u32, u32)>,
}

impl Starts {
    /// The empty configuration alone: a search from the beginning.
    fn empty() -> Starts {
        Starts {
            cuts: vec![(usize::MAX, NIL)],
            tree: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.cuts.is_empty()
    }

    /// The ops placed in the configuration at `at` in the tree, in order, into `ops`.
    fn ops(&self, mut at: u32, ops: &mut Vec<u32>) {
        ops.clear();
        while at != NIL {
            ops.push(self.tree[at as usize].1);
            at = self.tree[at as usize].0;
        }
        ops.reverse();
    }
}

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
/// identical info ops in call order, and [`NextRead::at_most`]). The prefixes it records, and so
/// its answer, are those of the same search without that bound: a configuration cut holds no
/// prefix that would have been recorded.
///
/// A violation's [`Stuck::longest`] is [`Longest::NotSearched`]; [`search_verdict`] settles it.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[PartOp<M>],
    limits: &Limits,
    goal: Goal,
) -> Found<M::State> {
    let mut search = match Search::new(model, ops, limits, goal) {
        Ok(Some(s)) => s,
        Ok(None) => return Found::Linearizable,
        Err(why) => return Found::GaveUp(why),
    };
    match search.explore_from(&Starts::empty()) {
        Err(why) => Found::GaveUp(why),
        Ok(()) if search.remaining == 0 => Found::Linearizable,
        Ok(()) => Found::Violation(search.stuck(Longest::NotSearched)),
    }
}

/// How [`search_verdict`] looks for a longer prefix once it has found a violation.
pub(crate) struct Longer<'f> {
    /// Asked once, when the violation is found: whether to look at all (false leaves
    /// [`Longest::NotSearched`]).
    pub wanted: &'f dyn Fn() -> bool,
    /// Steps the look may take: as many as finding the violation took, and at least these.
    pub min_steps: u64,
    /// The memory limit of its memo, in bytes.
    pub memo_bytes: usize,
}

/// [`search`] with [`Goal::Verdict`], and on a violation, when `longer` wants it, the search
/// for a longer linearizable prefix in the same search, which has everything it needs already
/// built: every configuration it cut that might lead further than the prefix found
/// ([`Stuck`]'s prefix then is a longest when there is none), explored in turn with
/// [`Goal::LongerThan`] and a memo of its own, as a second search from them would.
///
/// Its violation's prefix is the longer prefix found, or the pruned search's own when there
/// is none or the look ran out of steps ([`Longest::OutOfSteps`]).
/// [`Longest::NotSearched`] when the configurations cut were too many to keep.
pub(crate) fn search_verdict<M: Model>(
    model: &M,
    ops: &[PartOp<M>],
    limits: &Limits,
    longer: &Longer,
) -> Found<M::State> {
    let mut search = match Search::new(model, ops, limits, Goal::Verdict) {
        Ok(Some(s)) => s,
        Ok(None) => return Found::Linearizable,
        Err(why) => return Found::GaveUp(why),
    };
    match search.explore_from(&Starts::empty()) {
        Err(why) => return Found::GaveUp(why),
        Ok(()) if search.remaining == 0 => return Found::Linearizable,
        Ok(()) => {}
    }
    if !(longer.wanted)() {
        return Found::Violation(search.stuck(Longest::NotSearched));
    }
    let open = std::mem::replace(
        &mut search.open,
        Open {
            cuts: Vec::new(),
            tree: Vec::new(),
            kept: false,
        },
    );
    let Some(starts) = open.into_starts(search.best.len) else {
        return Found::Violation(search.stuck(Longest::NotSearched));
    };
    let pruned = search.stuck(Longest::OutOfSteps);
    if starts.is_empty() {
        return Found::Violation(Stuck {
            longest: Longest::Proven,
            ..pruned
        });
    }
    search.look_longer(longer);
    match search.explore_from(&starts) {
        Err(GaveUp::Timeout) => Found::GaveUp(GaveUp::Timeout),
        Ok(()) if search.remaining == 0 => Found::Violation(pruned),
        Ok(()) => Found::Violation(search.stuck(Longest::Proven)),
        Err(_) => Found::Violation(pruned),
    }
}

/// What trying to linearize an op at its call gave.
enum Tried {
    /// Linearized: the search goes on from the start of the list.
    Placed,
    /// Not linearized: the search goes on with the next event.
    Skipped,
    /// Not linearized, and no other op from here needs trying: a read-only op that fits but
    /// leads to a configuration already explored, which explored every order from here.
    Explored,
}

/// One search's state: the configuration (the ops linearized, in `stack` and `linearized`, and
/// the model's `state`), what it has seen (`memo`) and what it found (`best`, `open`).
struct Search<'a, 'm, M: Model> {
    ops: &'a [PartOp<M>],
    goal: Goal,
    events: Events,
    linearized: Linearized,
    stack: Vec<Frame>,
    state: u32,
    /// Ops with a return not yet linearized; the search succeeds when none is left.
    remaining: usize,
    states: States<'m, M>,
    memo: Memo,
    grow: NextRead,
    /// Per op: whether it is read-only (its linearization changes no state).
    read_only: Vec<bool>,
    /// Per info op: the previous info op with the same input, or NIL. Such ops are
    /// interchangeable once both are called (neither has a return to meet), so only orders
    /// that linearize them in call order are tried: an info op waits for its previous twin.
    twin: Vec<u32>,
    /// The longest prefix seen and the op stuck after it.
    best: Best,
    open: Open,
    steps: u64,
    meter: Meter<'a>,
    /// The work (steps plus [`NextRead::scanned`]) given to `meter` so far.
    metered: u64,
    /// The work at which [`Search::check_limits`] looks at the limits again.
    next_check: u64,
    /// Steps allowed before [`GaveUp::Budget`].
    budget: u64,
}

impl<'a, 'm, M: Model> Search<'a, 'm, M> {
    /// The search at the empty configuration; `None` when no op has a return (linearizable
    /// at once).
    fn new(
        model: &'m M,
        ops: &'a [PartOp<M>],
        limits: &'a Limits<'a>,
        goal: Goal,
    ) -> Result<Option<Self>, GaveUp> {
        let remaining = ops.iter().filter(|o| o.ret.is_some()).count();
        if remaining == 0 {
            return Ok(None);
        }
        let events = Events::new(ops);
        if Meter::new(limits).expired() {
            return Err(GaveUp::Timeout);
        }
        let mut states = States {
            model,
            states: Vec::new(),
            ids: HashMap::default(),
            trans: HashMap::default(),
            bytes: 0,
        };
        let state = states.intern(model.init());
        let read_only = ops
            .iter()
            .map(|o| model.is_read_only(&o.input, o.output.as_ref()))
            .collect();
        let mut meter = Meter::new(limits);
        if meter.expired() {
            return Err(GaveUp::Timeout);
        }
        let grow = NextRead::new(&mut states, ops, &mut meter, limits.memo_bytes)?;
        let memo = Memo::new(limits.memo_bytes);
        let mut twin = vec![NIL; ops.len()];
        let mut last: HashMap<&M::Input, u32, FxBuild> = HashMap::default();
        for (i, o) in ops.iter().enumerate() {
            if o.ret.is_none() {
                if let Some(p) = last.insert(&o.input, i as u32) {
                    twin[i] = p;
                }
            }
        }
        Ok(Some(Search {
            ops,
            goal,
            events,
            linearized: Linearized::new(ops.len()),
            stack: Vec::new(),
            state,
            remaining,
            states,
            memo,
            grow,
            read_only,
            twin,
            best: Best::default(),
            open: Open {
                cuts: Vec::new(),
                tree: Vec::new(),
                kept: true,
            },
            steps: 0,
            meter,
            metered: 0,
            next_check: 0,
            budget: limits.budget,
        }))
    }

    /// An op without a return (info): it may be linearized anywhere after its call, or never.
    #[inline]
    fn is_info(&self, op: usize) -> bool {
        self.ops[op].ret.is_none()
    }

    /// The length of the longest prefix found, 0 before the first.
    fn best_len(&self) -> usize {
        if self.best.op.is_some() {
            self.best.len
        } else {
            0
        }
    }

    /// The length a start's prefix must exceed to be worth exploring.
    fn floor(&self) -> usize {
        match self.goal {
            Goal::LongerThan(floor) => floor.max(self.best_len()),
            Goal::Verdict => 0,
        }
    }

    /// The greatest op linearized once `op` is.
    fn max_op_with(&self, op: usize) -> u32 {
        self.stack
            .last()
            .map_or(op as u32, |f| f.max_op.max(op as u32))
    }

    /// Linearizes `op` (its call at `call`), which took the model to `next`.
    #[inline(always)]
    fn push(&mut self, call: u32, op: usize, next: u32, forced: bool, base: bool) {
        let max_op = self.max_op_with(op);
        self.stack.push(Frame {
            call,
            forced,
            state: self.state,
            max_op,
            base,
            place: NIL,
        });
        self.state = next;
        if !self.is_info(op) {
            self.remaining -= 1;
        }
        self.grow.linearized(op);
        self.events.lift(call);
    }

    /// Undoes the last linearization, if any, and returns its frame.
    #[inline(always)]
    fn pop(&mut self) -> Option<Frame> {
        let f = self.stack.pop()?;
        let op = self.events.op(f.call);
        self.linearized.remove(op);
        self.state = f.state;
        if !self.is_info(op) {
            self.remaining += 1;
        }
        self.events.unlift(f.call);
        self.grow.unlinearized(op);
        self.best.same = self.best.same.min(self.stack.len());
        Some(f)
    }

    /// Places a start's ops as the search would; false when they do not fit the model or the
    /// configuration was already explored.
    fn place(&mut self, start: &[u32]) -> Result<bool, GaveUp> {
        for &op in start {
            let op = op as usize;
            let Some(next) = self.states.step(self.state, op, &self.ops[op]) else {
                return Ok(false);
            };
            self.linearized.insert(op);
            self.push(self.events.call_of(op), op, next, false, true);
        }
        let Some(f) = self.stack.last() else {
            return Ok(true);
        };
        let (lo, words) = self.linearized.key(f.max_op);
        self.memo
            .insert(self.state, lo, words, self.states.bytes + self.grow.bytes)
            .map_err(|_| GaveUp::MemoLimit)
    }

    /// Explores every configuration that extends the one placed, until every op with a
    /// return is linearized (`remaining` 0) or none is left.
    fn explore(&mut self) -> Result<(), GaveUp> {
        // Two passes over the candidates of each configuration: ops with a known result first,
        // then info ops. Both passes see every candidate, so the search stays complete; trying
        // the constrained ops first finds linearizations of long info-heavy histories much
        // sooner.
        let mut info_pass = false;
        let mut entry = self.events.first();
        while self.remaining > 0 {
            self.steps += 1;
            // One comparison per step; the limits themselves are looked at only when it says
            // one of them may have been reached.
            if self.steps + self.grow.scanned >= self.next_check {
                self.check_limits()?;
            }
            match self.events.kind(entry) {
                kind @ (Kind::Call | Kind::InfoCall) => {
                    let info = kind == Kind::InfoCall;
                    if info != info_pass {
                        entry = self.events.next(entry);
                        continue;
                    }
                    let op = self.events.op(entry);
                    // Only info ops have twins.
                    if info {
                        let t = self.twin[op];
                        if t != NIL && !self.linearized.contains(t as usize) {
                            entry = self.events.next(entry);
                            continue;
                        }
                    }
                    match self.try_op(entry, op)? {
                        Tried::Placed => {
                            info_pass = false;
                            entry = self.events.first();
                            continue;
                        }
                        Tried::Skipped => {
                            entry = self.events.next(entry);
                            continue;
                        }
                        Tried::Explored => {}
                    }
                }
                Kind::Return if !info_pass => {
                    info_pass = true;
                    entry = self.events.first();
                    continue;
                }
                Kind::Return => {
                    // A return of an op not yet linearized: this prefix cannot be extended.
                    if self.best.op.is_none() || self.stack.len() > self.best.len {
                        self.best.record(&self.stack, self.state, &self.events);
                        self.best.len = self.stack.len();
                        self.best.op = Some(self.events.op(entry));
                    }
                }
                // Unreachable while an op with a return is pending (its return comes first);
                // a dead end all the same.
                Kind::End => {}
            }
            // A dead end: on from the last op linearized with alternatives left.
            match self.backtrack() {
                Some(call) => {
                    info_pass = self.events.kind(call) == Kind::InfoCall;
                    entry = self.events.next(call);
                }
                None => break,
            }
        }
        Ok(())
    }

    /// The budget of steps and, once per [`Meter::POLL`] units of work, the deadline. A unit
    /// is a step or a set op [`NextRead::may_lead`] scanned (a step's own cost grows with
    /// what it scans), so a costly step does not stretch the time between two readings of the
    /// clock. Sets [`Search::next_check`] to the work at which to look again: at the next
    /// reading of the clock, or sooner when the budget of steps may run out first (work is
    /// steps plus scans, so it reaches the bound no later than the steps pass the budget).
    #[cold]
    fn check_limits(&mut self) -> Result<(), GaveUp> {
        if self.steps > self.budget {
            return Err(GaveUp::Budget);
        }
        let work = self.steps + self.grow.scanned;
        if self.meter.spend(work - self.metered) {
            return Err(GaveUp::Timeout);
        }
        self.metered = work;
        let past_budget = self
            .budget
            .saturating_add(1)
            .saturating_add(self.grow.scanned);
        self.next_check = work
            .saturating_add(self.meter.until_poll())
            .min(past_budget);
        Ok(())
    }

    /// Tries to linearize `op`, whose call is at `call`: the model must give its recorded
    /// output, the next read must stay explainable, and the configuration must be new.
    #[inline]
    fn try_op(&mut self, call: u32, op: usize) -> Result<Tried, GaveUp> {
        let next = match self.states.step(self.state, op, &self.ops[op]) {
            Some(next) if next != self.state => {
                match self
                    .grow
                    .may_lead(&self.states, self.state, next, op, &self.linearized)
                {
                    Ok(()) => Some(next),
                    Err(read) => self.cut(op, next, read),
                }
            }
            next => next,
        };
        let Some(next) = next else {
            return Ok(Tried::Skipped);
        };
        let max_op = self.max_op_with(op);
        self.linearized.insert(op);
        let (lo, words) = self.linearized.key(max_op);
        let outside = self.states.bytes + self.grow.bytes;
        match self.memo.insert(next, lo, words, outside) {
            Err(_) => Err(GaveUp::MemoLimit),
            Ok(true) => {
                self.push(call, op, next, self.read_only[op], false);
                Ok(Tried::Placed)
            }
            Ok(false) => {
                self.linearized.remove(op);
                Ok(if self.read_only[op] {
                    Tried::Explored
                } else {
                    Tried::Skipped
                })
            }
        }
    }

    /// `read` can never be linearized once `op` is (taking the model to `next`): past it, only
    /// ops called before the read returns may follow. Whether to linearize `op` all the same:
    /// for [`Goal::LongerThan`], when that may still lead to a longer prefix; for
    /// [`Goal::Verdict`], never, but the prefix up to `op` is recorded (after it, `read`
    /// cannot be), and the configuration kept for a second search when it may lead further.
    fn cut(&mut self, op: usize, next: u32, read: usize) -> Option<u32> {
        let most = self.grow.at_most(read);
        debug_assert!(
            most == usize::MAX || self.linearized.count_below(most + 1) == self.stack.len(),
            "every op placed is called before the read returns"
        );
        match self.goal {
            Goal::LongerThan(floor) => (most > floor.max(self.best_len())).then_some(next),
            Goal::Verdict => {
                if self.best.op.is_none() || self.stack.len() + 1 > self.best.len {
                    self.best.record(&self.stack, self.state, &self.events);
                    self.best.prefix.push((op, next));
                    self.best.len = self.stack.len() + 1;
                    self.best.op = Some(read);
                }
                if most > self.best.len {
                    self.open.keep(most, &mut self.stack, &self.events, op);
                }
                None
            }
        }
    }

    /// Backtracks to the last op linearized with alternatives left, and returns its call;
    /// `None` when there is none above the start.
    fn backtrack(&mut self) -> Option<u32> {
        while let Some(f) = self.pop() {
            if f.base {
                return None;
            }
            if !f.forced {
                return Some(f.call);
            }
        }
        None
    }

    /// Explores from each of `starts` in turn, skipping those that cannot lead further than
    /// [`Search::floor`], until every op with a return is linearized or none is left. Back at
    /// the empty configuration after each.
    fn explore_from(&mut self, starts: &Starts) -> Result<(), GaveUp> {
        let mut start = Vec::new();
        for &(most, at) in &starts.cuts {
            if most <= self.floor() {
                continue;
            }
            starts.ops(at, &mut start);
            if self.place(&start)? {
                self.explore()?;
            }
            if self.remaining == 0 {
                return Ok(());
            }
            while self.pop().is_some() {}
        }
        Ok(())
    }

    /// Turns a search that found a violation into one for a prefix longer than the one it
    /// found, with `longer`'s budget of steps and memo: [`Goal::LongerThan`], a memo of its
    /// own that counts only what it adds against its limit, and the rest (the event list,
    /// the states and transitions, the pruning's tables) kept.
    fn look_longer(&mut self, longer: &Longer) {
        self.goal = Goal::LongerThan(self.best.len);
        self.budget = self.steps.saturating_add(self.steps.max(longer.min_steps));
        self.next_check = self.steps;
        self.memo = Memo::new(longer.memo_bytes);
        self.states.bytes = 0;
        self.grow.bytes = 0;
    }

    /// The violation: the longest prefix found, with the state after each op.
    fn stuck(&self, longest: Longest) -> Stuck<M::State> {
        Stuck {
            prefix: self
                .best
                .prefix
                .iter()
                .take(self.best.len)
                .map(|&(op, s)| (op, self.states.states[s as usize].clone()))
                .collect(),
            op: self.best.op.unwrap_or(0),
            steps: self.steps,
            longest,
        }
    }
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
    fn record(&mut self, stack: &[Frame], state: u32, events: &Events) {
        self.prefix.truncate(self.same);
        for (k, f) in stack.iter().enumerate().skip(self.same) {
            let after = stack.get(k + 1).map_or(state, |g| g.state);
            self.prefix.push((events.op(f.call), after));
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
    /// Per place: the longest linearizable prefix possible while its read is not linearized
    /// (see [`NextRead::at_most`]), or NIL for no bound.
    most: Vec<u32>,
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
    /// Set ops looked at by [`NextRead::may_lead`], in all.
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
            most: Vec::new(),
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
        let in_call_order = ops.windows(2).all(|w| w[0].call <= w[1].call);
        // Ops called no later than the read returns, counted as the reads come by return.
        let mut called = 0;
        for (k, &(ret, i, t)) in reads.iter().enumerate() {
            if k & 0xfff == 0 && meter.expired() {
                return Err(GaveUp::Timeout);
            }
            while called < ops.len() && ops[called].call <= ret {
                called += 1;
            }
            // The read is one of them.
            g.most.push(if in_call_order {
                called as u32 - 1
            } else {
                NIL
            });
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
    /// after the ops `linearized`, may still explain the next read, and every read not yet
    /// linearized that pins `from`; if not, a read it cannot explain.
    fn may_lead<M: Model>(
        &mut self,
        states: &States<'_, M>,
        from: u32,
        s: u32,
        op: usize,
        linearized: &Linearized,
    ) -> Result<(), usize> {
        let Some(&t) = self.target.get(self.at) else {
            return Ok(());
        };
        let open = |p: &u32| *p as usize != op && !linearized.contains(*p as usize);
        // What is scanned is counted where it is scanned, so that the search's meter sees a
        // step's whole cost (a list can be as long as the key's set ops).
        if !self.grows(states, s, t) {
            let run = &self.explain[self.start[self.at] as usize..self.end[self.at] as usize];
            self.scanned += run.len() as u64;
            if !run.iter().any(open) {
                return Err(self.reads[self.at] as usize);
            }
        }
        let f = from as usize;
        if self.pending.get(f).is_none_or(|&n| n == 0) || self.grows(states, s, from) {
            return Ok(());
        }
        let back = &self.by_state[self.pin_start[f] as usize..self.pin_start[f + 1] as usize];
        self.scanned += back.len() as u64;
        if back.iter().any(open) {
            return Ok(());
        }
        let k = (self.at..self.reads.len())
            .find(|&k| !self.done[k] && self.target[k] == from)
            .expect("a read not yet linearized pins the state");
        self.scanned += (k - self.at) as u64;
        Err(self.reads[k] as usize)
    }

    /// An upper bound on the length of any linearizable prefix that extends a configuration in
    /// which `read` (a read [`NextRead::may_lead`] named) is not linearized and never can be:
    /// the ops called no later than the read returns, the read left out. Real time puts
    /// every other op after the read, and the search never places one of them while the read
    /// waits (it does not pass the return of an op not linearized), so the bound holds
    /// whatever the configuration. `usize::MAX` when the ops are not in call order.
    fn at_most(&self, read: usize) -> usize {
        match self.most[self.place[read] as usize] {
            NIL => usize::MAX,
            most => most as usize,
        }
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
