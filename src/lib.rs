//! quorumlab: what R + W > RF really buys, shown empirically; and a checker for anyone's
//! histories.
//!
//! - [`history`]: the `quorumlab-history/1` format (JSON), Jepsen EDN input, and a
//!   [`Recorder`](history::Recorder) for histories recorded in other projects' tests.
//! - [`model`]: sequential specifications: the key-value map (with register and
//!   cas-register views), a set, a FIFO queue and a mutex, and the [`Model`](model::Model)
//!   trait for one of your own.
//! - [`check`]: checkers that decide which guarantees a history kept, with a witness for each
//!   break; [`check::judge()`] and [`check::assert_holds`] for tests.
//! - [`store`]: the reference leaderless store, as deterministic node state machines with a
//!   turmoil host adapter.
//! - [`jobs`]: independent jobs on a few threads, results in job order (the checker's keys,
//!   the harness's cells and cases).
//!
//! # Checking a store in your own test
//!
//! Record every client op with the times your test saw (any monotone clock), then check:
//!
//! ```
//! use std::sync::Mutex;
//! use quorumlab::check::assert_linearizable;
//! use quorumlab::history::{Call, Recorder, Ret};
//!
//! let store = Mutex::new(0i64); // the system under test: one register
//! let rec = Recorder::new();
//! // Four clients at once, on threads of your own or, as here, the crate's job runner.
//! quorumlab::jobs::run(&[0u64, 1, 2, 3], 4, |&client| {
//!     let op = rec.invoke(client, Call::put("x", client as i64), rec.now());
//!     *store.lock().unwrap() = client as i64;
//!     rec.ok(op, Ret::Done, rec.now());
//!     let op = rec.invoke(client, Call::get("x"), rec.now());
//!     let v = *store.lock().unwrap();
//!     rec.ok(op, Ret::Read(Some(v.into())), rec.now());
//! });
//! let history = rec.history().unwrap();
//! assert_linearizable(&history); // on failure: panics with the witness, saves the history
//! ```
//!
//! When an assertion fails, its message holds the witness sentence (the op that no order
//! explains, and why) and the path of the saved history; `quorumlab check PATH` checks it
//! again, and `QUORUMLAB_HISTORY_DIR` chooses where histories are saved.
pub mod check;
pub mod history;
pub mod jobs;
pub mod model;
pub mod store;
