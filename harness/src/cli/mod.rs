//! One module per subcommand of the `quorumlab` binary.
pub mod canaries;
pub mod check;
pub mod config;
pub mod deep;
pub mod explore;
pub mod matrix;
pub mod progress;
pub mod replay;
pub mod report;
pub mod run;

/// Logs go to stderr through tracing-subscriber, filtered by `RUST_LOG` (default: warn).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
