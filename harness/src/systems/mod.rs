//! The systems built into quorumlab, each behind the boundary of [`crate::system`], and the
//! lookup that turns a scenario's [`SystemConfig`] into one.
//!
//! - [`leaderless`]: the reference leaderless store (`--system leaderless`, the default).
//!
//! A system of your own needs no entry here: pass it to [`crate::runner::run_system`].
use crate::scenario::SystemConfig;
use crate::system::{System, SystemError};

pub mod leaderless;

/// The names of the built-in systems, as `--system` takes them.
pub const NAMES: &[&str] = &[leaderless::NAME];

/// The built-in system a scenario names, configured as it says.
pub fn build(config: &SystemConfig) -> Result<Box<dyn System>, SystemError> {
    match config {
        SystemConfig::Leaderless(store) => Ok(Box::new(leaderless::Leaderless::new(store.clone()))),
        SystemConfig::Named(spec) => Err(SystemError::new(
            &spec.name,
            format!(
                "not a built-in system (built in: {}); run a system of your own through \
                 quorumlab_harness::runner::run_system",
                NAMES.join(", ")
            ),
        )),
    }
}
