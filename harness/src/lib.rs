//! The harness: scenarios of clients and faults, generated and shrunk by proptest, run against
//! the reference store inside turmoil, recorded as histories and judged by the checkers.
//!
//! - [`scenario`]: the replayable test case.
//! - [`strategy`]: proptest strategies that generate and shrink scenarios.
//! - [`nemesis`]: applies a fault schedule to the simulation.
//! - [`runner`]: runs a scenario and records its history.
//! - [`summary`]: run statistics as text.
//! - [`system`]: the boundary between the harness and a system under test.
//! - [`systems`]: the built-in systems: the reference leaderless store.
//! - [`tvisibility`]: PBS's t-visibility for the matrix's probe cells.
//! - [`verdict`]: judges a history on the expected guarantees.
//! - [`case`]: saved, replayable case files.
//! - [`fsutil`]: atomic file writes that never leave a half-written file.
//! - [`oom`]: running out of memory ends the command with exit 2, never an abort.
//! - [`canaries`]: planted store bugs and the measure of how fast they are found.
//! - [`explore`]: the search for a violation, and its shrinking.
//! - [`shrink`]: the test each shrink step runs, as cheaply as it can be decided soundly.
//! - [`matrix`]: the consistency matrix.
//! - [`deep`]: the sharded deep CI run.
//! - [`report`]: HTML reports of histories and of the matrix.
//! - [`cli`]: the `quorumlab` subcommands.
pub mod canaries;
pub mod case;
pub mod cli;
pub mod deep;
pub mod explore;
pub mod fsutil;
pub mod matrix;
pub mod nemesis;
pub mod oom;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod strategy;
pub mod summary;
pub mod system;
pub mod systems;
pub mod theory;
pub mod tvisibility;
pub mod verdict;
pub mod workload;
