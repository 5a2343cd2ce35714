//! Property tests of replica placement: every key gets RF distinct replicas, and adding a
//! node moves about 1/N of the keys, all of them to the new node.

use proptest::prelude::*;
use quorumlab::store::{NodeId, Ring};

proptest! {
    #[test]
    fn every_key_gets_rf_distinct_replicas(
        seed in any::<u64>(),
        nodes in 1usize..12,
        vnodes in 1usize..32,
        rf in 1usize..6,
        keys in proptest::collection::vec(".{0,24}", 1..64),
    ) {
        let ring = Ring::new(nodes, vnodes, seed);
        for key in &keys {
            let r = ring.replicas(key, rf);
            prop_assert_eq!(r.len(), rf.min(nodes));
            let mut sorted = r.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), r.len(), "duplicate replica for {:?}: {:?}", key, r);
            prop_assert!(r.iter().all(|n| n.index() < nodes));
            // The same lookup from a ring built again gives the same answer (portable hash).
            prop_assert_eq!(Ring::new(nodes, vnodes, seed).replicas(key, rf), r);
        }
    }

    #[test]
    fn adding_a_node_moves_about_one_nth_of_the_keys_to_it(
        seed in any::<u64>(),
        nodes in 3usize..12,
    ) {
        let vnodes = 64;
        let before = Ring::new(nodes, vnodes, seed);
        let after = Ring::new(nodes + 1, vnodes, seed);
        let new = NodeId(nodes as u16);
        let total = 4000;
        let mut moved = 0;
        for i in 0..total {
            let key = format!("key-{i}");
            let (a, b) = (before.replicas(&key, 1)[0], after.replicas(&key, 1)[0]);
            if a != b {
                prop_assert_eq!(b, new, "{} moved from {} to an old node {}", key, a, b);
                moved += 1;
            }
        }
        let fraction = moved as f64 / total as f64;
        let expected = 1.0 / (nodes + 1) as f64;
        // The new node's share is the sum of the arcs its vnodes cut: its relative spread is
        // about 1/sqrt(vnodes) (12.5% at 64), plus the sampling noise of `total` keys. Six
        // spreads either way is a bound no correct ring misses in a lifetime of CI runs, and a
        // ring that remapped every key (moving 1 - 1/N of them) would miss by far.
        let spread = expected / (vnodes as f64).sqrt()
            + (expected * (1.0 - expected) / total as f64).sqrt();
        prop_assert!(
            (fraction - expected).abs() < 6.0 * spread,
            "moved {:.3} of keys, expected about {:.3} (spread {:.3})", fraction, expected, spread
        );
    }
}
