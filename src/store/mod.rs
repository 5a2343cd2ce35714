//! The reference leaderless store: N equal nodes in the style of Cassandra and Dynamo, each a
//! deterministic state machine ([`Node`]) run as a turmoil host ([`host`]).
//!
//! - [`Ring`]: vnode token ring (Murmur3), SimpleStrategy placement of RF replicas.
//! - Coordinator: any node; writes wait for W acks, reads for R responses resolved by
//!   last-write-wins on `(timestamp, writer)`; Unavailable before sending when the failure
//!   detector sees too few live replicas; Timeout after `request_timeout`.
//! - Read repair (none, blocking, async), hinted handoff, anti-entropy (bucket digests),
//!   tombstones with a grace period.
//! - A commit log on turmoil's simulated file system with an fsync policy (always, periodic,
//!   never), replayed on restart; per-node clocks with an offset the fault injector sets.
//! - [`client::Client`]: get, put, delete over UDP, from a turmoil client host.
//! - Inside a node, parts with their own state: [`replica::Replica`] (table and commit log),
//!   [`coordinator::Coordinator`] (requests in flight, hints, the write clock),
//!   [`antientropy::AntiEntropy`] and [`failure::FailureDetector`]. They write typed
//!   [`Effect`]s (messages to a [`Dest`], timers, log records) into one outbox
//!   ([`outbox`]); only [`host`] turns them into bytes, addresses and files.
//!
//! ```no_run
//! use quorumlab::store::{self, client::Client, ClusterControl, NodeId, StoreConfig};
//!
//! let config = StoreConfig::default();
//! let control = ClusterControl::new(config.nodes);
//! let mut sim = turmoil::Builder::new().build();
//! store::host::install(&mut sim, &config, 42, &control).unwrap();
//! let c = config.clone();
//! sim.client("c0", async move {
//!     let mut client = Client::bind(&c).await?;
//!     client.put(NodeId(0), "k", 1, None).await;
//!     let r = client.get(NodeId(1), "k", None).await;
//!     println!("{r:?}");
//!     Ok(())
//! });
//! sim.run().unwrap();
//! ```
//!
//! Determinism: given the same seed, configuration, workload and turmoil settings, the event
//! trace ([`ClusterControl::trace_jsonl`]) is byte-identical from run to run.

#![deny(missing_docs)]

pub mod antientropy;
pub mod cell;
pub mod client;
pub mod clock;
pub mod commitlog;
pub mod config;
pub mod control;
pub mod coordinator;
pub mod failure;
pub mod hash;
pub mod hints;
pub mod host;
pub mod message;
pub mod node;
pub mod outbox;
pub mod replica;
pub mod ring;
pub mod storage;
#[cfg(test)]
mod testkit;
pub mod traffic;

pub use cell::{Cell, NodeId};
pub use client::{Client, ClientOutcome, ClientResult};
pub use config::{
    Bug, ConfigError, ConsistencyLevel, FsyncPolicy, ReadRepair, ReplicaChoice, StoreConfig,
};
pub use control::{
    ClusterControl, Counters, Delivery, Endpoint, Event, EventKind, Fate, KindCounts, LinkModel,
    MessageCounts, Receiver,
};
pub use host::{install, node_host_name, STORE_PORT};
pub use message::MessageKind;
pub use node::{Input, Node};
pub use outbox::{Dest, Effect, Now, Timer};
pub use ring::Ring;
