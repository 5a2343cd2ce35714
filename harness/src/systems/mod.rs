//! The systems built into quorumlab, each behind the boundary of [`crate::system`], and the
//! lookup that turns a scenario's [`SystemConfig`] into one.
//!
//! - [`leaderless`]: the reference leaderless store (`--system leaderless`, the default).
//! - [`leader_follower`]: a leader-follower store, built on the public boundary alone
//!   (`--system leader-follower`).
//!
//! A system of your own is registered under its name ([`register`]); from then on every
//! scenario that names it (a [`SystemConfig::Named`]) runs against it everywhere a built-in
//! one would: [`crate::runner::run`], explore, shrinking, replay and the matrix.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::scenario::{SystemConfig, SystemSpec};
use crate::system::{System, SystemError};

pub mod leader_follower;
pub mod leaderless;

/// The names of the built-in systems, as `--system` takes them.
pub const NAMES: &[&str] = &[leaderless::NAME, leader_follower::NAME];

/// The built-in system a scenario names, configured as it says.
pub fn build(config: &SystemConfig) -> Result<Box<dyn System>, SystemError> {
    match config {
        SystemConfig::Leaderless(store) => Ok(Box::new(leaderless::Leaderless::new(store.clone()))),
        SystemConfig::Named(spec) if spec.name == leader_follower::NAME => {
            Ok(Box::new(leader_follower::LeaderFollower::from_spec(spec)?))
        }
        SystemConfig::Named(spec) => {
            let factory = registry()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&spec.name)
                .cloned();
            match factory {
                Some(factory) => factory(spec),
                None => Err(SystemError::new(
                    &spec.name,
                    format!(
                        "no such system: built in are {}, and no system of that name was \
                         registered (quorumlab_harness::systems::register)",
                        NAMES.join(", ")
                    ),
                )),
            }
        }
    }
}

/// Builds a system from the name, node count and configuration a scenario gives it.
pub type Factory = dyn Fn(&SystemSpec) -> Result<Box<dyn System>, SystemError> + Send + Sync;

fn registry() -> &'static Mutex<BTreeMap<String, Arc<Factory>>> {
    static REGISTRY: std::sync::OnceLock<Mutex<BTreeMap<String, Arc<Factory>>>> =
        std::sync::OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers a system of your own under `name`: scenarios whose `system` field names it run
/// against what `factory` builds from their [`SystemSpec`]. Registering a name again replaces
/// the factory; a built-in name cannot be registered.
pub fn register(
    name: &str,
    factory: impl Fn(&SystemSpec) -> Result<Box<dyn System>, SystemError> + Send + Sync + 'static,
) -> Result<(), SystemError> {
    if NAMES.contains(&name) {
        return Err(SystemError::new(name, "is a built-in system's name"));
    }
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), Arc::new(factory));
    Ok(())
}
