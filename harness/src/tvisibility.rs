//! PBS's t-visibility for the matrix's probe cells: the chance that a read misses a write it
//! follows, by the time between the write's acknowledgment and the read.
//!
//! A probe cell sends each write to exactly W replicas, so a replica it skipped never gets it
//! and staleness cannot fade with time. Here the same RF, R and W run as PBS models Dynamo:
//! the coordinator sends the write to every replica and acknowledges after W of them, and a
//! read asks R replicas drawn at random (`replica_choice: shuffled`, no read repair, no
//! hints). A read issued right after the acknowledgment may ask only replicas the write has
//! not reached yet; a few message delays later every replica has it. The workload issues each
//! read a planned delay after its write (0 to 130 ms), over the matrix's network with its
//! long tail, and the time since the acknowledgment is
//! read from the history, so the curve is measured, not assumed.
use crate::systems::leaderless::{ConsistencyLevel, ReadRepair, ReplicaChoice, StoreConfig};
use quorumlab::history::{History, Outcome};
use serde::{Deserialize, Serialize};

use crate::matrix::ProbeSpec;
use crate::runner::RunError;
use crate::scenario::{ClientPlan, NetworkConfig, PlannedKind, PlannedOp, Scenario, SystemConfig};

/// The bins of time since the write's acknowledgment, ms: `[EDGES[i], EDGES[i + 1])`, the
/// last one open-ended.
pub const EDGES: [f64; 8] = [0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 70.0, 105.0];

/// Planned delays between a write and its read, ms, taken in turn.
const DELAYS: [u32; 10] = [0, 0, 2, 5, 10, 20, 35, 55, 85, 130];
/// Clients, and write-then-read pairs per client, per seed.
const CLIENTS: u32 = 8;
const PAIRS: u32 = 30;
/// Planned ms between one client's pairs: every read is done, and every replica has the
/// write, before the next write (a tail message takes up to 105 ms).
const SPACING_MS: u32 = 250;

/// One bin of the curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Time since the write was acknowledged, ms, from (inclusive).
    pub from_ms: f64,
    /// To (exclusive); `None` for the last, open-ended bin.
    pub to_ms: Option<f64>,
    /// Reads in the bin (both ops ok).
    pub reads: usize,
    /// Of those, reads that did not return the write's value.
    pub stale: usize,
}

impl Point {
    /// `stale / reads`, 0 for an empty bin.
    pub fn rate(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.stale as f64 / self.reads as f64
        }
    }
}

/// The store PBS models for this RF, R and W.
fn store(spec: &ProbeSpec) -> StoreConfig {
    StoreConfig {
        nodes: 5,
        rf: spec.rf,
        read: ConsistencyLevel::Count(spec.r),
        write: ConsistencyLevel::Count(spec.w),
        read_repair: ReadRepair::None,
        hints: false,
        replica_choice: ReplicaChoice::Shuffled,
        ..StoreConfig::default()
    }
}

/// The matrix's network: 1 to 5 ms a message, and one in ten up to 100 ms more (a long tail,
/// without which every replica has the write before any read can reach one).
fn network() -> NetworkConfig {
    NetworkConfig {
        tail_percent: 10,
        tail_ms: 100,
        ..NetworkConfig::default()
    }
}

/// SplitMix64's finalizer, for coordinators drawn from the seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The scenario of one seed: every client writes its own keys and reads each back after a
/// planned delay, through coordinators drawn from the seed.
pub fn scenario(spec: &ProbeSpec, seed: u64) -> Scenario {
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let mut ops = Vec::new();
        for i in 0..PAIRS {
            let key = c * PAIRS + i;
            let at_ms = i * SPACING_MS + c * 7;
            let via = |salt: u64| (mix(seed ^ mix(key as u64 * 2 + salt)) % 5) as u16;
            ops.push(PlannedOp {
                kind: PlannedKind::Put,
                key,
                coordinator: via(0),
                at_ms,
                value: None,
            });
            ops.push(PlannedOp {
                kind: PlannedKind::Get,
                key,
                coordinator: via(1),
                at_ms: at_ms + DELAYS[((i + c) as usize) % DELAYS.len()],
                value: None,
            });
        }
        clients.push(ClientPlan { sticky: None, ops });
    }
    Scenario {
        seed,
        system: SystemConfig::Leaderless(store(spec)),
        network: network(),
        keys: CLIENTS * PAIRS,
        clients,
        faults: Vec::new(),
        settle_ms: 200,
    }
}

/// The curve of one history: each key's workload put and get, binned by the time from the
/// put's completion to the get's invocation. Final-phase reads are left out.
pub fn points(history: &History) -> Vec<Point> {
    let mut bins: Vec<Point> = EDGES
        .iter()
        .enumerate()
        .map(|(i, &from)| Point {
            from_ms: from,
            to_ms: EDGES.get(i + 1).copied(),
            reads: 0,
            stale: 0,
        })
        .collect();
    let mut puts = std::collections::BTreeMap::new();
    for op in &history.ops {
        if op.extra.get("phase").and_then(|p| p.as_str()) == Some("final") {
            continue;
        }
        match op.kind {
            quorumlab::history::OpKind::Put if op.outcome == Outcome::Ok => {
                puts.insert(op.key.as_str(), op);
            }
            quorumlab::history::OpKind::Get if op.outcome == Outcome::Ok => {
                let Some(put) = puts.get(op.key.as_str()) else {
                    continue;
                };
                let Some(acked) = put.complete.filter(|c| *c <= op.invoke) else {
                    continue;
                };
                let gap = (op.invoke - acked) as f64 / 1e6;
                let i = EDGES.iter().rposition(|e| *e <= gap).unwrap_or(0);
                bins[i].reads += 1;
                if op.read != put.value {
                    bins[i].stale += 1;
                }
            }
            _ => {}
        }
    }
    bins
}

/// Measures the curve of a probe cell's RF, R and W over `seeds` seeds.
pub fn measure(spec: &ProbeSpec, seeds: u32) -> Result<Vec<Point>, RunError> {
    let mut total: Vec<Point> = Vec::new();
    for k in 1..=seeds {
        let seed = crate::fsutil::digest(format!("tvisibility-{}-{k}", spec.slug()).as_bytes());
        let out = crate::runner::run(&scenario(spec, seed))?;
        let pts = points(&out.history);
        if total.is_empty() {
            total = pts;
        } else {
            for (t, p) in total.iter_mut().zip(pts) {
                t.reads += p.reads;
                t.stale += p.stale;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binning_by_time_since_the_acknowledgment() {
        let h = History::from_json_str(
            r#"{"format": "quorumlab-history/1", "ops": [
              {"id": 0, "client": 0, "kind": "put", "key": "a", "value": 1, "invoke": 0,
               "complete": 4000000, "outcome": "ok"},
              {"id": 1, "client": 0, "kind": "get", "key": "a", "invoke": 4000001,
               "complete": 6000000, "outcome": "ok", "read": null},
              {"id": 2, "client": 1, "kind": "put", "key": "b", "value": 2, "invoke": 0,
               "complete": 1000000, "outcome": "ok"},
              {"id": 3, "client": 1, "kind": "get", "key": "b", "invoke": 31000000,
               "complete": 33000000, "outcome": "ok", "read": 2},
              {"id": 5, "client": 3, "kind": "put", "key": "c", "value": 3, "invoke": 0,
               "complete": 1000000, "outcome": "ok"},
              {"id": 6, "client": 3, "kind": "get", "key": "c", "invoke": 200000000,
               "complete": 201000000, "outcome": "ok", "read": 3},
              {"id": 4, "client": 2, "kind": "get", "key": "b", "invoke": 40000000,
               "complete": 41000000, "outcome": "ok", "read": 2, "phase": "final"}]}"#,
        )
        .unwrap();
        let p = points(&h);
        assert_eq!((p[0].reads, p[0].stale), (1, 1));
        let last = p.last().unwrap();
        assert_eq!((last.from_ms, last.to_ms), (105.0, None));
        assert_eq!((last.reads, last.stale), (1, 0));
        // 30 ms after: the bin from 20 to 40.
        assert_eq!((p[4].from_ms, p[4].reads), (20.0, 1));
        assert_eq!(
            p.iter().map(|b| b.reads).sum::<usize>(),
            3,
            "final reads left out"
        );
    }

    #[test]
    fn staleness_fades_once_the_write_reaches_every_replica() {
        let spec = ProbeSpec { rf: 3, r: 1, w: 1 };
        let p = measure(&spec, 1).unwrap();
        let reads: usize = p.iter().map(|b| b.reads).sum();
        assert!(reads > 200, "{p:?}");
        // Right after the acknowledgment a read of one replica can miss a write whose
        // messages took the tail; past the longest delay a message can take (105 ms) every
        // replica has it.
        assert!(p[0].reads > 0 && p[0].stale > 0, "{p:?}");
        let last = p.last().unwrap();
        assert!(last.reads > 0 && last.stale == 0, "{p:?}");
        assert!(last.rate() < p[0].rate());
        // Deterministic: the same seeds give the same curve.
        assert_eq!(p, measure(&spec, 1).unwrap());
    }
}
