//! The configuration flags shared by `run` and `explore`.
// Doc comments here are clap's --help text, where `<n>` is a placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]
use quorumlab::store::{Bug, ConsistencyLevel, FsyncPolicy, ReadRepair, StoreConfig};

use crate::scenario::NetworkConfig;
use crate::strategy::{parse_fault_list, FaultChoice, ScenarioShape};

/// Store, workload and fault flags. Store defaults are the store's own (Cassandra-like).
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigFlags {
    /// Number of nodes [default: the store's, 5].
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Replication factor [default: the store's, 3].
    #[arg(long)]
    pub rf: Option<usize>,
    /// Read consistency level: one|two|three|quorum|all|<n> [default: quorum].
    #[arg(long, value_parser = parse_level)]
    pub read: Option<ConsistencyLevel>,
    /// Write consistency level: one|two|three|quorum|all|<n> [default: quorum].
    #[arg(long, value_parser = parse_level)]
    pub write: Option<ConsistencyLevel>,
    /// Read repair: none|blocking|async [default: blocking].
    #[arg(long, value_parser = parse_read_repair)]
    pub read_repair: Option<ReadRepair>,
    /// Hinted handoff: on|off [default: on].
    #[arg(long, value_parser = parse_on_off)]
    pub hints: Option<bool>,
    /// Anti-entropy: on|off [default: off].
    #[arg(long, value_parser = parse_on_off)]
    pub anti_entropy: Option<bool>,
    /// Commit log fsync policy: always|periodic|never [default: periodic].
    #[arg(long, value_parser = parse_fsync)]
    pub fsync: Option<FsyncPolicy>,
    /// Plant store bugs (comma-separated or repeated): ack-early, read-first-response,
    /// repair-fresh-timestamp, ring-off-by-one, tombstone-lost-on-replay, ack-before-sync,
    /// hint-new-timestamp, lww-tie-by-arrival, unavailable-ignored, clock-reset-on-restart.
    #[arg(long = "bug", value_delimiter = ',', value_parser = parse_bug)]
    pub bugs: Vec<Bug>,
    /// Concurrent clients, each with one op in flight.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Client ops in total, split evenly between clients.
    #[arg(long, default_value_t = 100)]
    pub ops: usize,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 3)]
    pub keys: u32,
    /// Faults to draw from, comma-separated: none, partition, isolate, ring, bridge, crash,
    /// loss, latency, skew, pause, mixed (all but skew).
    #[arg(long, default_value = "none", value_parser = parse_faults)]
    pub faults: FaultList,
    /// Most faults in one scenario (when --faults is not none).
    #[arg(long, default_value_t = 4)]
    pub max_faults: usize,
    /// Mean simulated ms a client thinks between ops (with --ops, how long the workload runs).
    #[arg(long, default_value_t = 10)]
    pub think_ms: u32,
    /// Coordinator choice: random (per op) or sticky (one per client).
    #[arg(long, default_value = "random", value_parser = ["random", "sticky"])]
    pub coordinator: String,
    /// One-way message latency in simulated ms: a range MIN-MAX, or one number for a fixed
    /// latency (which keeps other messages' timing when shrinking removes an op).
    #[arg(long, default_value = "1-5", value_parser = parse_latency)]
    pub latency: (u64, u64),
    /// Simulated ms to settle after the workload, all faults healed, before the final reads.
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
}

impl ConfigFlags {
    /// The store configuration these flags describe, validated.
    pub fn store(&self) -> anyhow::Result<StoreConfig> {
        let mut store = StoreConfig::default();
        if let Some(n) = self.nodes {
            store.nodes = n;
        }
        if let Some(rf) = self.rf {
            store.rf = rf;
        }
        if let Some(cl) = self.read {
            store.read = cl;
        }
        if let Some(cl) = self.write {
            store.write = cl;
        }
        if let Some(rr) = self.read_repair {
            store.read_repair = rr;
        }
        if let Some(h) = self.hints {
            store.hints = h;
        }
        if let Some(ae) = self.anti_entropy {
            store.anti_entropy = ae;
        }
        if let Some(f) = self.fsync {
            store.fsync = f;
        }
        store.bugs.extend(self.bugs.iter().copied());
        store
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid store configuration: {e}"))?;
        Ok(store)
    }

    /// The scenario shape these flags describe.
    pub fn shape(&self) -> anyhow::Result<ScenarioShape> {
        if self.clients == 0 {
            anyhow::bail!("--clients must be at least 1");
        }
        if self.keys == 0 {
            anyhow::bail!("--keys must be at least 1");
        }
        Ok(ScenarioShape {
            store: self.store()?,
            network: NetworkConfig {
                min_latency_ms: self.latency.0,
                max_latency_ms: self.latency.1,
            },
            clients: self.clients,
            ops: self.ops,
            keys: self.keys,
            faults: self.faults.0.clone(),
            max_faults: self.max_faults,
            think_ms: self.think_ms,
            get_percent: 50,
            put_percent: 40,
            sticky: self.coordinator == "sticky",
            settle_ms: self.settle_ms,
        })
    }

    /// A short, file-name-safe summary, e.g. `rf3-r1-w1-partition`.
    pub fn slug(&self) -> anyhow::Result<String> {
        let s = self.store()?;
        let faults = if self.faults.0.is_empty() {
            "nofaults".to_string()
        } else {
            self.faults
                .0
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join("+")
        };
        Ok(format!("rf{}-r{}-w{}-{}", s.rf, s.read, s.write, faults))
    }
}

/// A parsed `--faults` list.
#[derive(Clone, Debug)]
pub struct FaultList(pub Vec<FaultChoice>);

fn parse_faults(s: &str) -> Result<FaultList, String> {
    parse_fault_list(s).map(FaultList)
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    s.parse::<Bug>().map_err(|e| e.to_string())
}

fn parse_latency(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("latency {s:?}: expected MS or MIN-MAX in whole milliseconds");
    let (lo, hi) = match s.split_once('-') {
        Some((lo, hi)) => (
            lo.trim().parse().map_err(|_| bad())?,
            hi.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let v = s.trim().parse().map_err(|_| bad())?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("latency {s:?}: the minimum exceeds the maximum"));
    }
    Ok((lo, hi))
}

fn parse_level(s: &str) -> Result<ConsistencyLevel, String> {
    s.parse::<ConsistencyLevel>().map_err(|e| e.to_string())
}

fn parse_read_repair(s: &str) -> Result<ReadRepair, String> {
    s.parse::<ReadRepair>().map_err(|e| e.to_string())
}

fn parse_fsync(s: &str) -> Result<FsyncPolicy, String> {
    s.parse::<FsyncPolicy>().map_err(|e| e.to_string())
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, got {s:?}")),
    }
}
