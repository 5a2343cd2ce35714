//! The set of ops a configuration has linearized, as in Porcupine's `bitset.go`.

/// The ops linearized so far, one bit per op. The words below `lo` are all ones, so the
/// memo's key for the set leaves them out: in a long history the ops behind the search's
/// front are all linearized, and the key stays short.
pub(super) struct Linearized {
    bits: Vec<u64>,
    /// Leading words with every bit set.
    lo: usize,
}

impl Linearized {
    pub(super) fn new(ops: usize) -> Linearized {
        Linearized {
            bits: vec![0; ops.div_ceil(64)],
            lo: 0,
        }
    }

    #[inline]
    pub(super) fn contains(&self, op: usize) -> bool {
        self.bits[op / 64] & (1 << (op % 64)) != 0
    }

    #[inline]
    pub(super) fn insert(&mut self, op: usize) {
        self.bits[op / 64] |= 1 << (op % 64);
        while self.lo < self.bits.len() && self.bits[self.lo] == u64::MAX {
            self.lo += 1;
        }
    }

    #[inline]
    pub(super) fn remove(&mut self, op: usize) {
        let w = op / 64;
        self.bits[w] &= !(1 << (op % 64));
        self.lo = self.lo.min(w);
    }

    /// The set as the memo keys it, with `max_op` the greatest op in it: the number of leading
    /// full words and the words from there to the one holding `max_op`.
    #[inline]
    pub(super) fn key(&self, max_op: u32) -> (u32, &[u64]) {
        let hi = (max_op as usize / 64 + 1).max(self.lo);
        (self.lo as u32, &self.bits[self.lo..hi])
    }

    /// How many of the ops below `end` are in the set.
    pub(super) fn count_below(&self, end: usize) -> usize {
        let (whole, part) = (end / 64, end % 64);
        let full = self.lo.min(whole);
        let mut n = full * 64
            + self.bits[full..whole]
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>();
        if part != 0 {
            n += (self.bits[whole] & ((1u64 << part) - 1)).count_ones() as usize;
        }
        n
    }
}
