//! Checkers: each decides whether a [`History`](crate::history::History) kept one guarantee.
//!
//! - [`linearizable`]: every op appears to take effect atomically, at one instant between its
//!   invocation and completion (Wing-Gong/Lowe search with memoization, per key).
pub mod linearizable;

pub(crate) mod hash;

// Guarantees weaker than linearizability, judged on histories whose puts write unique values.
pub mod convergence;
pub mod guarantee;
pub mod observe;
pub mod session;
pub mod stale;

mod assert;
pub mod judge;

pub use assert::{assert_holds, assert_linearizable};
pub use guarantee::{Guarantee, GuaranteeListError, Violation};
pub use judge::{judge, Finding, Judgement};
