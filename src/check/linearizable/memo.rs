//! The memo of configurations already explored: (set of linearized ops, model state).
//!
//! The set is stored compactly as `lo` (the number of leading 64-op words that are all
//! linearized) and the words from `lo` up to the highest linearized op. A search over a long
//! history that makes progress thus stores a few words per entry, not one bit per op. Words
//! live in one arena; entries are chained by a full 64-bit hash, and every hit is confirmed
//! by comparing the words, so the memo never prunes on a hash collision.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::check::hash::FxHasher;

const NIL: u32 = u32::MAX;

/// Passes a hash that is already well mixed through unchanged.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

struct Entry {
    state: u32,
    lo: u32,
    start: usize,
    len: u32,
    next: u32,
}

/// The memo is full: the search stops with the answer "unknown".
#[derive(Debug)]
pub(crate) struct MemoFull;

pub(crate) struct Memo {
    heads: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    entries: Vec<Entry>,
    arena: Vec<u64>,
    limit_bytes: usize,
}

/// Bytes one entry costs beyond its words: the entry and its share of the hash table.
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>() + 24;

impl Memo {
    pub(crate) fn new(limit_bytes: usize) -> Memo {
        Memo {
            heads: HashMap::default(),
            entries: Vec::new(),
            arena: Vec::new(),
            limit_bytes,
        }
    }

    /// Number of configurations stored.
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Records (set, state); false when it was already there. `outside` is what the search
    /// holds besides the memo (model states, cached transitions), in bytes: it counts against
    /// the same limit. Given here, where a new entry is the only thing that grows the memo,
    /// rather than kept up to date at every step of the search.
    pub(crate) fn insert(
        &mut self,
        state: u32,
        lo: u32,
        words: &[u64],
        outside: usize,
    ) -> Result<bool, MemoFull> {
        let mut h = FxHasher::default();
        h.add(state as u64);
        h.add(lo as u64);
        for &w in words {
            h.add(w);
        }
        let hash = h.finish();
        // One probe of the table for both the lookup and the insertion. A chain left empty
        // when the memo is full costs nothing: the search stops there.
        let slot = self.heads.entry(hash).or_insert(NIL);
        let head = *slot;
        let mut at = head;
        while at != NIL {
            let e = &self.entries[at as usize];
            if e.state == state
                && e.lo == lo
                && &self.arena[e.start..e.start + e.len as usize] == words
            {
                return Ok(false);
            }
            at = e.next;
        }
        let need =
            (self.arena.len() + words.len()) * 8 + (self.entries.len() + 1) * ENTRY_BYTES + outside;
        if need > self.limit_bytes {
            return Err(MemoFull);
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(words);
        self.entries.push(Entry {
            state,
            lo,
            start,
            len: words.len() as u32,
            next: head,
        });
        *slot = (self.entries.len() - 1) as u32;
        Ok(true)
    }
}
