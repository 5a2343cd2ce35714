//! quorumlab: what R + W > RF really buys, shown empirically.
//!
//! - [`history`]: the `quorumlab-history/1` format (JSON) and Jepsen EDN input.
//! - [`model`]: sequential specifications (the kv map, register, cas-register).
//! - [`check`]: checkers that decide which guarantees a history kept.
//! - [`store`]: the reference leaderless store, as deterministic node state machines with a
//!   turmoil host adapter.
pub mod check;
pub mod history;
pub mod model;
pub mod store;
