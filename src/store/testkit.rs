//! What the parts' unit tests share: a node's context at a chosen time, keys placed where a
//! test needs them, and the effects an input wrote, read as the typed values they are.
//!
//! A test drives one part through its methods with a [`Ctx`] of its own and reads
//! `cx.out().take()`: no node, no host, no bytes.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cell::{Cell, NodeId};
use super::config::StoreConfig;
use super::control::Counters;
use super::message::Message;
use super::outbox::{Ctx, Dest, Effect, Now, Outbox};
use super::ring::Ring;

/// The seed of every test ring.
pub const SEED: u64 = 1;

/// Simulated time `ms` milliseconds in, on a clock with no offset.
pub fn at(ms: u64) -> Now {
    Now {
        mono: ms * 1000,
        wall: (ms * 1000) as i64,
    }
}

/// Node `id`'s context at `ms`, with the trace off and request ids counting from 100.
pub fn cx(id: u16, config: &StoreConfig, ms: u64) -> Ctx {
    let ring = Ring::new(config.nodes, config.vnodes, SEED);
    let rng = ChaCha8Rng::seed_from_u64(SEED);
    let out = Outbox::new(Counters::default(), false);
    Ctx::new(NodeId(id), config.clone(), ring, rng, 100, at(ms), out)
}

/// The ring every test context uses for `config`.
pub fn ring(config: &StoreConfig) -> Ring {
    Ring::new(config.nodes, config.vnodes, SEED)
}

/// The first key `k0`, `k1`, ... whose replicas satisfy `wanted`, with those replicas.
pub fn key_where(
    config: &StoreConfig,
    wanted: impl Fn(&[NodeId]) -> bool,
) -> (String, Vec<NodeId>) {
    let ring = ring(config);
    (0..10_000)
        .map(|i| format!("k{i}"))
        .map(|k| {
            let r = ring.replicas(&k, config.rf);
            (k, r)
        })
        .find(|(_, r)| wanted(r))
        .expect("some key of the first 10,000 is placed so")
}

/// A cell written by `writer` at `timestamp`.
pub fn cell(timestamp: u64, writer: u16, value: Option<i64>) -> Cell {
    Cell {
        timestamp,
        writer: NodeId(writer),
        value,
    }
}

/// A client's address, as a coordinator answers it.
pub fn client() -> Dest {
    Dest::Client(std::net::SocketAddr::from(([10, 9, 9, 9], 5000)))
}

/// The messages among `effects`, in order, with where each goes.
pub fn sends(effects: &[Effect]) -> Vec<(Dest, Message)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

/// `Dest::Node` of each node.
pub fn to_nodes(nodes: &[NodeId]) -> Vec<Dest> {
    nodes.iter().map(|n| Dest::Node(*n)).collect()
}
