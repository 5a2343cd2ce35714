//! Checkers: each decides whether a history kept one guarantee.

// Guarantees weaker than linearizability, judged on histories whose puts write unique values.
pub mod convergence;
pub mod guarantee;
pub mod observe;
pub mod session;
pub mod stale;

pub use guarantee::{Guarantee, Violation};
