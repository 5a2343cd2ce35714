//! [`FailureDetector`]: timeout-based liveness from heartbeats (and any other datagram).
//!
//! Every tick a node sends each peer a heartbeat. A peer not heard from for `failure_timeout`
//! is down; one datagram brings it back up. Like every real detector it is wrong sometimes: a
//! partitioned-away but running peer looks down, and a peer that crashed looks up until the
//! timeout passes.

use super::cell::NodeId;
use super::control::EventKind;
use super::message::Message;
use super::outbox::{Ctx, Dest};

/// Liveness of every peer as this node sees it.
#[derive(Debug, Clone)]
pub struct FailureDetector {
    me: NodeId,
    timeout: u64,
    last_heard: Vec<u64>,
    up: Vec<bool>,
    down_since: Vec<u64>,
    /// The last heartbeat's number.
    heartbeat_seq: u64,
}

impl FailureDetector {
    /// All `nodes` peers start up, as if just heard at `now` (microseconds).
    pub fn new(me: NodeId, nodes: usize, timeout: u64, now: u64) -> FailureDetector {
        FailureDetector {
            me,
            timeout,
            last_heard: vec![now; nodes],
            up: vec![true; nodes],
            down_since: vec![0; nodes],
            heartbeat_seq: 0,
        }
    }

    /// One tick: a heartbeat to every peer in node order, then every peer silent too long is
    /// marked down (and traced).
    pub(super) fn tick(&mut self, cx: &mut Ctx) {
        self.heartbeat_seq += 1;
        let hb = Message::Heartbeat {
            seq: self.heartbeat_seq,
        };
        for i in 0..self.up.len() {
            if i != self.me.index() {
                cx.out().send(Dest::Node(NodeId(i as u16)), hb.clone());
            }
        }
        for peer in self.expire(cx.now().mono) {
            cx.out().trace(EventKind::Down { peer });
        }
    }

    /// Whether `node` is believed up (this node always is).
    pub fn is_up(&self, node: NodeId) -> bool {
        node == self.me || self.up.get(node.index()).copied().unwrap_or(false)
    }

    /// How long `node` has been believed down (0 if up).
    pub fn down_for(&self, node: NodeId, now: u64) -> u64 {
        if self.is_up(node) {
            0
        } else {
            now.saturating_sub(self.down_since[node.index()])
        }
    }

    /// Records a datagram from `node`; returns true if that brought it back up.
    pub fn heard(&mut self, node: NodeId, now: u64) -> bool {
        let i = node.index();
        if i >= self.up.len() {
            return false;
        }
        self.last_heard[i] = self.last_heard[i].max(now);
        if !self.up[i] {
            self.up[i] = true;
            return true;
        }
        false
    }

    /// Marks down every peer silent for longer than the timeout; returns them in node order.
    pub fn expire(&mut self, now: u64) -> Vec<NodeId> {
        let mut downs = Vec::new();
        for i in 0..self.up.len() {
            let node = NodeId(i as u16);
            if node != self.me
                && self.up[i]
                && now.saturating_sub(self.last_heard[i]) > self.timeout
            {
                self.up[i] = false;
                self.down_since[i] = self.last_heard[i];
                downs.push(node);
            }
        }
        downs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_marks_down_and_a_datagram_brings_up() {
        let mut fd = FailureDetector::new(NodeId(0), 3, 100, 0);
        assert!(fd.is_up(NodeId(1)));
        fd.heard(NodeId(1), 90);
        assert_eq!(fd.expire(150), vec![NodeId(2)]);
        assert!(!fd.is_up(NodeId(2)));
        assert!(fd.is_up(NodeId(0)));
        assert_eq!(fd.down_for(NodeId(2), 160), 160);
        assert!(fd.heard(NodeId(2), 170));
        assert!(!fd.heard(NodeId(2), 171));
        assert!(fd.is_up(NodeId(2)));
    }
}
