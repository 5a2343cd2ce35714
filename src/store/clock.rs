//! [`Clock`]: the timestamps a coordinator gives the cells it writes.

use super::outbox::{Ctx, Effect};

/// Issues cell timestamps from the node clock, strictly increasing across restarts.
#[derive(Debug, Clone)]
pub struct Clock {
    /// The last timestamp issued (or the floor recovered at start).
    last: u64,
    /// Subtracted from the node clock for timestamps: zero unless the planted
    /// [`Bug::ClockResetOnRestart`](super::config::Bug::ClockResetOnRestart) makes the clock
    /// restart from zero.
    base: u64,
}

impl Clock {
    /// A clock that issues only timestamps above `floor`, counting from `base`.
    pub(super) fn new(floor: u64, base: u64) -> Clock {
        Clock { last: floor, base }
    }

    /// The floor: every timestamp issued from now on is above it.
    pub(super) fn floor(&self) -> u64 {
        self.last
    }

    /// The next cell timestamp: the node clock, forced strictly above every timestamp this node
    /// issued before, restarts included.
    pub(super) fn next_timestamp(&mut self, cx: &mut Ctx) -> u64 {
        let clock = (cx.now().wall.max(0) as u64).saturating_sub(self.base);
        let ts = clock.max(self.last + 1);
        self.last = ts;
        // The exact value, not a lease ahead of it: a restarted node resumes from its real
        // clock instead of jumping ahead of the other nodes' clocks (which would let its next
        // writes silently win over later writes elsewhere).
        cx.out().push(Effect::PersistClock(ts));
        ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cell::NodeId;
    use crate::store::config::StoreConfig;
    use crate::store::control::Counters;
    use crate::store::outbox::{Now, Outbox};
    use crate::store::ring::Ring;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn timestamps_are_strictly_increasing_even_when_the_clock_goes_back() {
        let config = StoreConfig::default();
        let ring = Ring::new(config.nodes, config.vnodes, 1);
        let at = |mono: u64, wall: i64| Now { mono, wall };
        let out = Outbox::new(Counters::default(), false);
        let rng = ChaCha8Rng::seed_from_u64(1);
        let mut cx = Ctx::new(NodeId(0), config, ring, rng, 0, at(100_000, 100_000), out);
        let mut clock = Clock::new(0, 0);
        let a = clock.next_timestamp(&mut cx);
        cx.set_now(at(101_000, 50_000));
        let b = clock.next_timestamp(&mut cx);
        assert!(b > a);
        assert_eq!(
            cx.out().take(),
            vec![Effect::PersistClock(a), Effect::PersistClock(b)]
        );
    }
}
