//! Scenarios, nemesis, the turmoil runner and the CLI commands.
pub mod cli;
