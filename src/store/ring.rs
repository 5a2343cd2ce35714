//! [`Ring`]: token ring with vnodes and SimpleStrategy replica placement.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cell::NodeId;
use super::hash::hash64;

/// The token ring: each node owns `vnodes` tokens; a key's replicas are the first `rf`
/// distinct nodes met walking clockwise from the key's token.
///
/// Node `i`'s tokens depend only on `(seed, i)`, so a ring with one more node keeps every
/// existing token, and only about `1/N` of the keys change primary owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// `(token, owner)`, sorted by token.
    tokens: Vec<(u64, NodeId)>,
    nodes: usize,
    /// The planted [`Bug::RingOffByOne`](super::config::Bug::RingOffByOne).
    off_by_one: bool,
}

impl Ring {
    /// A ring of `nodes` nodes (`n0`..), each with `vnodes` tokens derived from `seed`.
    pub fn new(nodes: usize, vnodes: usize, seed: u64) -> Ring {
        let mut tokens = Vec::with_capacity(nodes * vnodes);
        for i in 0..nodes {
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            rng.set_stream(i as u64 + 1);
            for _ in 0..vnodes {
                tokens.push((rng.next_u64(), NodeId(i as u16)));
            }
        }
        tokens.sort();
        Ring {
            tokens,
            nodes,
            off_by_one: false,
        }
    }

    /// The same ring with the planted [`Bug::RingOffByOne`](super::config::Bug::RingOffByOne):
    /// the replica walk compares each owner with the previous pick only, so it can pick the
    /// same node twice.
    pub fn with_off_by_one_walk(mut self) -> Ring {
        self.off_by_one = true;
        self
    }

    /// Number of nodes on the ring.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The ring position of a partition key.
    pub fn token(key: &str) -> u64 {
        hash64(key.as_bytes())
    }

    /// The replicas of `key`: the first `rf` distinct nodes clockwise from its token (fewer if
    /// the ring has fewer nodes), primary first.
    pub fn replicas(&self, key: &str, rf: usize) -> Vec<NodeId> {
        self.replicas_of_token(Self::token(key), rf)
    }

    /// The replicas of a token; see [`Ring::replicas`].
    // Bug seam (Bug::RingOffByOne): the distinctness test of this walk.
    pub fn replicas_of_token(&self, token: u64, rf: usize) -> Vec<NodeId> {
        let want = rf.min(self.nodes);
        let mut out = Vec::with_capacity(want);
        if self.tokens.is_empty() {
            return out;
        }
        let start = self.tokens.partition_point(|(t, _)| *t < token);
        for i in 0..self.tokens.len() {
            let owner = self.tokens[(start + i) % self.tokens.len()].1;
            let repeat = if self.off_by_one {
                out.last() == Some(&owner)
            } else {
                out.contains(&owner)
            };
            if !repeat {
                out.push(owner);
                if out.len() == want {
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ring_and_tokens_are_stable_under_growth() {
        assert_eq!(Ring::new(5, 8, 7), Ring::new(5, 8, 7));
        assert_ne!(Ring::new(5, 8, 7), Ring::new(5, 8, 8));
        let small = Ring::new(4, 8, 3);
        let big = Ring::new(5, 8, 3);
        for t in &small.tokens {
            assert!(big.tokens.contains(t));
        }
    }

    #[test]
    fn the_off_by_one_walk_can_pick_a_node_twice() {
        let ring = Ring::new(5, 8, 7);
        let buggy = ring.clone().with_off_by_one_walk();
        let mut repeated = 0;
        for i in 0..200 {
            let key = format!("k{i}");
            let good = ring.replicas(&key, 3);
            let mut distinct = good.clone();
            distinct.dedup();
            assert_eq!(distinct.len(), 3);
            let bad = buggy.replicas(&key, 3);
            let mut set = bad.clone();
            set.sort();
            set.dedup();
            if set.len() < 3 {
                repeated += 1;
                assert_eq!(bad[0], bad[2], "{key}: {bad:?}");
            }
        }
        assert!(repeated > 0, "no key met the planted walk bug");
    }
}
