//! The event list the search walks, as in Porcupine's `checker.go`.
use super::search::NIL;
use crate::model::{Model, PartOp};

/// The calls and returns of a partition's ops as a doubly linked list ordered by time, a call
/// before a return at the same instant (so touching intervals count as concurrent). Node 0 is
/// the head, then the events, then the tail. Linearizing an op lifts its call and return out
/// of the list, and backtracking puts them back where they were, as Porcupine's `lift` and
/// `unlift` do.
pub(super) struct Events {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Per node: the op of the event.
    op: Vec<u32>,
    /// Per node: what the event is.
    kind: Vec<Kind>,
    /// Per call node: the node of its op's return, or NIL for an op without one.
    ret: Vec<u32>,
    /// Per op: the node of its call.
    call: Vec<u32>,
}

/// What an event in the list is: the hot loop of the search tells them apart with one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// The call of an op with a return.
    Call,
    /// The call of an op without a return (info): it may be linearized anywhere after its
    /// call, or never.
    InfoCall,
    /// A return.
    Return,
    /// The head or the tail of the list.
    End,
}

impl Events {
    pub(super) fn new<M: Model>(ops: &[PartOp<M>]) -> Events {
        let n = ops.len();
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, 0, i as u32));
            if let Some(r) = op.ret {
                events.push((r, 1, i as u32));
            }
        }
        events.sort_unstable();
        let nodes = events.len() + 2;
        let tail = (nodes - 1) as u32;
        let mut next: Vec<u32> = (1..=nodes as u32).collect();
        let mut prev: Vec<u32> = (0..nodes as u32).map(|i| i.wrapping_sub(1)).collect();
        next[tail as usize] = NIL;
        prev[0] = NIL;
        let mut op = vec![0u32; nodes];
        let mut kind = vec![Kind::End; nodes];
        let mut ret_node = vec![NIL; n];
        let mut call = vec![NIL; n];
        for (k, &(_, k0, o)) in events.iter().enumerate() {
            let node = k + 1;
            op[node] = o;
            kind[node] = match (k0, ops[o as usize].ret) {
                (1, _) => Kind::Return,
                (_, Some(_)) => Kind::Call,
                (_, None) => Kind::InfoCall,
            };
            if k0 == 1 {
                ret_node[o as usize] = node as u32;
            } else {
                call[o as usize] = node as u32;
            }
        }
        let mut ret = vec![NIL; nodes];
        for node in 1..nodes - 1 {
            if kind[node] != Kind::Return {
                ret[node] = ret_node[op[node] as usize];
            }
        }
        Events {
            next,
            prev,
            op,
            kind,
            ret,
            call,
        }
    }

    /// The first event still in the list.
    #[inline]
    pub(super) fn first(&self) -> u32 {
        self.next[0]
    }

    /// The event after `node` in the list.
    #[inline]
    pub(super) fn next(&self, node: u32) -> u32 {
        self.next[node as usize]
    }

    /// What the event at `node` is ([`Kind::End`] past the last event).
    #[inline]
    pub(super) fn kind(&self, node: u32) -> Kind {
        self.kind.get(node as usize).copied().unwrap_or(Kind::End)
    }

    /// The op of the event at `node`.
    #[inline]
    pub(super) fn op(&self, node: u32) -> usize {
        self.op[node as usize] as usize
    }

    /// The node of `op`'s call.
    #[inline]
    pub(super) fn call_of(&self, op: usize) -> u32 {
        self.call[op]
    }

    /// Takes the call at `call` and its op's return out of the list.
    #[inline(always)]
    pub(super) fn lift(&mut self, call: u32) {
        for node in [call, self.ret[call as usize]] {
            if node == NIL {
                continue;
            }
            let (p, n) = (self.prev[node as usize], self.next[node as usize]);
            self.next[p as usize] = n;
            if n != NIL {
                self.prev[n as usize] = p;
            }
        }
    }

    /// Puts back what [`Events::lift`] took out; lifts are undone in reverse order.
    #[inline(always)]
    pub(super) fn unlift(&mut self, call: u32) {
        for node in [self.ret[call as usize], call] {
            if node == NIL {
                continue;
            }
            let (p, n) = (self.prev[node as usize], self.next[node as usize]);
            self.next[p as usize] = node;
            if n != NIL {
                self.prev[n as usize] = node;
            }
        }
    }
}
