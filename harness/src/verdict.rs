//! Judging a run: which guarantees held, with a witness for each break. The judging lives in
//! the library ([`quorumlab::check::judge()`]) so that other projects' tests can use it; the
//! harness uses it from there.
pub use quorumlab::check::judge::{finding, judge, Finding, Judgement, LINEARIZABILITY_TIMEOUT};
