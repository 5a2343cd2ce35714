//! A grow-only set per key (Jepsen's `:add` and `:read`; Knossos' `set`, Porcupine's set).
//!
//! A state is a bitset over the key's elements (every value added or read on the key, in value
//! order), in chunks shared between states ([`Members`]): an add copies a list of pointers and
//! one chunk instead of a tree of values, and a state hashes in O(1). With a `BTreeSet` of values, 50,000 adds to one key
//! cost time and memory quadratic in the adds (each state a copy of all the elements before
//! it, hashed in full).
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::{parts, Effect, Model, Partition};
use crate::history::{show_set, History, HistoryError, OpKind, Value};

/// A set of integers and strings per key: `add` puts an element in, `members` reads them all.
/// Starts empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

/// Some of one key's elements: bit `i` stands for the key's `i`-th element in value order.
///
/// The bits are kept in chunks of 16 words shared between states: an add copies the
/// list of chunks and the one chunk it changes. States are hashed by an order-free hash of
/// their elements, kept up to date on each add, and compared chunk by chunk (equal when
/// shared) only when hashes match.
#[derive(Clone, Debug)]
pub struct Members {
    /// Without trailing empty chunks, so that equal sets have equal chunks.
    chunks: Arc<[Arc<[u64; CHUNK]>]>,
    count: u32,
    hash: u64,
    /// The key's elements, in value order (`None` in the empty start state).
    elements: Option<Arc<[Value]>>,
}

/// Words per chunk of a [`Members`].
/// Words per chunk of a [`Members`] bitset (the 16 its documentation names).
const CHUNK: usize = 16;
const CHUNK_BITS: usize = 64 * CHUNK;

/// An element's share of a set's hash (splitmix64 of its number).
fn element_hash(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl PartialEq for Members {
    fn eq(&self, other: &Members) -> bool {
        self.count == other.count
            && self.hash == other.hash
            && self.chunks.len() == other.chunks.len()
            && self
                .chunks
                .iter()
                .zip(other.chunks.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

impl Eq for Members {}

impl Hash for Members {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

impl Members {
    fn empty() -> Members {
        Members {
            chunks: Arc::from(Vec::new()),
            count: 0,
            hash: 0,
            elements: None,
        }
    }

    fn from_indices(indices: impl Iterator<Item = usize>, elements: &Arc<[Value]>) -> Members {
        let mut m = Members {
            elements: Some(elements.clone()),
            ..Members::empty()
        };
        for i in indices {
            m = m.with(i, elements);
        }
        m
    }

    /// These elements and element `i`.
    fn with(&self, i: usize, elements: &Arc<[Value]>) -> Members {
        if self.contains(i) {
            return self.clone();
        }
        let mut chunks = self.chunks.to_vec();
        let c = i / CHUNK_BITS;
        if chunks.len() <= c {
            chunks.resize(c + 1, Arc::new([0; CHUNK]));
        }
        let mut chunk = *chunks[c];
        chunk[i % CHUNK_BITS / 64] |= 1 << (i % 64);
        chunks[c] = Arc::new(chunk);
        Members {
            chunks: Arc::from(chunks),
            count: self.count + 1,
            hash: self.hash ^ element_hash(i),
            elements: Some(elements.clone()),
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.chunks
            .get(i / CHUNK_BITS)
            .is_some_and(|c| c[i % CHUNK_BITS / 64] & (1 << (i % 64)) != 0)
    }

    /// Every element of `other` is one of these.
    fn contains_all(&self, other: &Members) -> bool {
        other.count <= self.count
            && other.chunks.len() <= self.chunks.len()
            && other
                .chunks
                .iter()
                .zip(self.chunks.iter())
                .all(|(o, s)| Arc::ptr_eq(o, s) || o.iter().zip(s.iter()).all(|(o, s)| o & !s == 0))
    }

    /// The elements, sorted.
    pub fn values(&self) -> Vec<Value> {
        let Some(elements) = &self.elements else {
            return Vec::new();
        };
        (0..elements.len())
            .filter(|&i| self.contains(i))
            .map(|i| elements[i].clone())
            .collect()
    }
}

/// One element of a key's set, numbered among the key's elements.
#[derive(Clone, Debug)]
pub struct Element {
    index: usize,
    elements: Arc<[Value]>,
}

impl Element {
    /// The element's value.
    pub fn value(&self) -> &Value {
        &self.elements[self.index]
    }
}

impl PartialEq for Element {
    fn eq(&self, other: &Element) -> bool {
        self.value() == other.value()
    }
}

impl Eq for Element {}

impl Hash for Element {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.value().hash(h)
    }
}

/// An operation on a set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetInput {
    /// Add an element.
    Add(Element),
    /// Read every element.
    Members,
}

/// What a set operation returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOutput {
    /// The add finished.
    Done,
    /// The elements.
    Members(Members),
}

impl Model for Set {
    type State = Members;
    type Input = SetInput;
    type Output = SetOutput;

    fn name(&self) -> &'static str {
        "set"
    }

    fn init(&self) -> Members {
        Members::empty()
    }

    fn step(&self, s: &Members, input: &SetInput) -> Option<(Members, SetOutput)> {
        Some(match input {
            SetInput::Add(e) => (s.with(e.index, &e.elements), SetOutput::Done),
            SetInput::Members => (s.clone(), SetOutput::Members(s.clone())),
        })
    }

    fn is_read_only(&self, input: &SetInput, _output: Option<&SetOutput>) -> bool {
        *input == SetInput::Members
    }

    /// A read pins the set to what it returned.
    fn pinned(&self, input: &SetInput, output: &SetOutput) -> Option<Members> {
        match (input, output) {
            (SetInput::Members, SetOutput::Members(m)) => Some(m.clone()),
            _ => None,
        }
    }

    fn effect(&self, input: &SetInput, _output: Option<&SetOutput>) -> Effect<Members> {
        match input {
            SetInput::Add(_) => Effect::Grows,
            SetInput::Members => Effect::Same,
        }
    }

    /// A set grows into any set that holds all its elements.
    fn extends(&self, later: &Members, earlier: &Members) -> bool {
        later.contains_all(earlier)
    }

    /// The list of chunks and the one chunk an add made; the other chunks are shared.
    fn heap_bytes(&self, s: &Members) -> usize {
        16 + 8 * s.chunks.len() + 16 + 8 * CHUNK
    }

    fn partition(&self, history: &History) -> Result<Vec<Partition<Set>>, HistoryError> {
        // Each key's elements: every value added or read there, in value order.
        let mut seen: BTreeMap<&str, BTreeSet<&Value>> = BTreeMap::new();
        for op in &history.ops {
            let values = seen.entry(op.key.as_str()).or_default();
            values.extend(op.value.iter());
            values.extend(op.members.iter().flatten());
        }
        let elements: BTreeMap<&str, Arc<[Value]>> = seen
            .into_iter()
            .map(|(k, vs)| (k, vs.into_iter().cloned().collect()))
            .collect();
        let index = |key: &str, v: &Value| {
            let e = &elements[key];
            (e.binary_search(v).expect("every value is an element"), e)
        };
        parts::per_key(
            self,
            history,
            &[OpKind::Add, OpKind::Members],
            &[OpKind::Members],
            |op| match op.kind {
                OpKind::Add => op.value.as_ref().map(|v| {
                    let (index, elements) = index(&op.key, v);
                    SetInput::Add(Element {
                        index,
                        elements: elements.clone(),
                    })
                }),
                _ => Some(SetInput::Members),
            },
            |op| match op.kind {
                OpKind::Add => Some(SetOutput::Done),
                _ => op.members.as_ref().map(|m| {
                    let e = &elements[op.key.as_str()];
                    SetOutput::Members(Members::from_indices(
                        m.iter().map(|v| index(&op.key, v).0),
                        e,
                    ))
                }),
            },
        )
    }

    fn describe(&self, s: &Members) -> String {
        show_set(&s.values())
    }

    fn state_json(&self, s: &Members) -> serde_json::Value {
        s.values().iter().map(Value::to_json).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_words_over_the_keys_elements() {
        let elements: Arc<[Value]> = vec![Value::Int(1), Value::Int(2), Value::from("a")].into();
        let add = |i| {
            SetInput::Add(Element {
                index: i,
                elements: elements.clone(),
            })
        };
        let (s, _) = Set.step(&Set.init(), &add(2)).unwrap();
        let (s, _) = Set.step(&s, &add(0)).unwrap();
        let (again, _) = Set.step(&s, &add(2)).unwrap();
        assert_eq!(again, s);
        assert_eq!(s.values(), vec![Value::Int(1), Value::from("a")]);
        assert_eq!(Set.describe(&s), r#"{1, "a"}"#);
        let (_, out) = Set.step(&s, &SetInput::Members).unwrap();
        assert_eq!(
            out,
            SetOutput::Members(Members::from_indices([0, 2].into_iter(), &elements))
        );
        assert!(Set.extends(&s, &Set.init()));
        assert!(!Set.extends(&Set.init(), &s));
    }
}
