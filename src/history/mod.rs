//! History format.
