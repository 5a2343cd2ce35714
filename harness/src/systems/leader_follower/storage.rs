//! What a node keeps of a partition on turmoil's simulated file system: its term, its vote in
//! that term, and its log.
//!
//! One file per partition, rewritten whole and synced on every change. A real log appends;
//! rewriting is simpler and, under turmoil's crash model (a crash discards every write not yet
//! synced, and a sync makes all of a file's pending writes durable at once), atomic: after a
//! crash the file holds either the old state or the new one, never a mix. The logs of a test
//! run hold a few hundred entries, so the cost does not matter here.
//!
//! Under `fsync: "never"` nothing is written at all, which is what a node that never syncs
//! finds after a crash: nothing.
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use turmoil::fs::shim::std::fs::{self, OpenOptions};

use super::wire::Entry;

/// The durable part of a replica's state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// The latest term the node has seen.
    pub term: u64,
    /// The candidate it voted for in that term.
    pub voted_for: Option<usize>,
    /// The log; entry `i` has index `i + 1`.
    pub log: Vec<Entry>,
}

/// A partition's state file.
pub struct StateFile {
    path: String,
}

impl StateFile {
    /// The file of partition `p`, and what it held (`None` when there is no file yet).
    pub fn open(p: usize) -> io::Result<(StateFile, Option<Durable>)> {
        let path = format!("/partition-{p}.json");
        let held = if fs::exists(&path) {
            let bytes = fs::read(&path)?;
            // The file is only ever replaced whole and synced, so anything unreadable is a bug
            // of this module, not a crash's leftover: refuse to start rather than forget a vote.
            let state = serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}")))?;
            Some(state)
        } else {
            None
        };
        Ok((StateFile { path }, held))
    }

    /// Replaces the file's content with `state`, durably. The first write also syncs the
    /// directory, so that the file itself survives a crash.
    pub fn store(&mut self, state: &Durable) -> io::Result<()> {
        let new = !fs::exists(&self.path);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.path)?;
        let bytes = serde_json::to_vec(state).expect("the state always serializes");
        file.write_all(&bytes)?;
        file.sync_all()?;
        if new {
            fs::sync_dir("/")?;
        }
        Ok(())
    }
}
