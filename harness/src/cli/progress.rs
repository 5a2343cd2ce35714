//! Timed progress lines for logs. Where stderr is a terminal the long commands draw a bar;
//! where it is not (a CI log, a pipe), they print a line at most every ten seconds of wall
//! time, so a reader of the log sees how far a run got, how fast it goes and when it ends.
//!
//! Wall time here only paces the lines; it never reaches a simulation.
use std::time::{Duration, Instant};

/// How often a line is printed at most.
const EVERY: Duration = Duration::from_secs(10);

/// The clock of one command's progress lines.
pub struct Lines {
    start: Instant,
    last: Instant,
}

impl Default for Lines {
    fn default() -> Self {
        let now = Instant::now();
        Lines {
            start: now,
            last: now,
        }
    }
}

impl Lines {
    /// Whether a line is due: ten seconds since the last one, or `force`. A due line restarts
    /// the ten seconds.
    pub fn due(&mut self, force: bool) -> bool {
        let now = Instant::now();
        if !force && now.duration_since(self.last) < EVERY {
            return false;
        }
        self.last = now;
        true
    }

    /// Wall seconds since the command began.
    pub fn elapsed_secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64().max(0.001)
    }

    /// `N/s` of `count` over the elapsed time.
    pub fn rate(&self, count: u64) -> String {
        format!("{:.1}/s", count as f64 / self.elapsed_secs())
    }

    /// The time left when `done` of `total` took the elapsed time, as `3m07s`; `unknown`
    /// before anything is done.
    pub fn eta(&self, done: u64, total: u64) -> String {
        if done == 0 {
            return "unknown".to_string();
        }
        let left = self.elapsed_secs() / done as f64 * total.saturating_sub(done) as f64;
        let left = left as u64;
        format!("{}m{:02}s", left / 60, left % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_paced_and_the_eta_scales_with_what_is_left() {
        let mut lines = Lines::default();
        assert!(!lines.due(false), "nothing is due right away");
        assert!(lines.due(true), "a forced line always is");
        assert_eq!(lines.eta(0, 10), "unknown");
        // All done: nothing left, whatever the elapsed time.
        assert_eq!(lines.eta(10, 10), "0m00s");
        assert!(lines.rate(0).ends_with("/s"));
    }
}
