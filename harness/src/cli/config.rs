//! The configuration flags shared by `run` and `explore`.
// Doc comments here are clap's --help text, where `<n>` is a placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]
use crate::systems::leaderless::{
    Bug, ConsistencyLevel, FsyncPolicy, ReadRepair, ReplicaChoice, StoreConfig,
};

use strum::VariantArray;

use crate::scenario::{limits, NetworkConfig, SlowLink, SlowWrite, SystemConfig};
use crate::strategy::{parse_fault_list, FaultChoice, ScenarioShape, UnknownFault};

/// Store, workload and fault flags. Store defaults are the store's own (Cassandra-like).
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigFlags {
    /// The system under test: leaderless (the reference store) or leader-follower. The store
    /// flags below (--rf, --read, --write, --read-repair, --hints, --anti-entropy, --fsync,
    /// --bug, --replica-choice) configure the leaderless store; any other system reads its
    /// configuration from --system-config.
    #[arg(long, default_value = crate::systems::leaderless::NAME, value_parser = clap::builder::PossibleValuesParser::new(crate::systems::NAMES))]
    pub system: String,
    /// The configuration of a system other than leaderless, as JSON (e.g.
    /// '{"replication": "async"}'; docs/leader-follower.md lists leader-follower's fields) or
    /// @FILE to read it from a file [default: the system's own defaults].
    #[arg(long)]
    pub system_config: Option<String>,
    /// Number of nodes [default: the store's, 5].
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Replication factor [default: the store's, 3].
    #[arg(long)]
    pub rf: Option<usize>,
    /// Read consistency level: one|two|three|quorum|all|<n> [default: quorum].
    #[arg(long)]
    pub read: Option<ConsistencyLevel>,
    /// Write consistency level: one|two|three|quorum|all|<n> [default: quorum].
    #[arg(long)]
    pub write: Option<ConsistencyLevel>,
    /// Read repair: none|blocking|async [default: blocking].
    #[arg(long)]
    pub read_repair: Option<ReadRepair>,
    /// Hinted handoff: on|off [default: on].
    #[arg(long, value_parser = parse_on_off)]
    pub hints: Option<bool>,
    /// Anti-entropy: on|off [default: off].
    #[arg(long, value_parser = parse_on_off)]
    pub anti_entropy: Option<bool>,
    /// Commit log fsync policy: always|periodic|never [default: periodic].
    #[arg(long)]
    pub fsync: Option<FsyncPolicy>,
    /// Plant store bugs (comma-separated or repeated).
    #[arg(long = "bug", value_delimiter = ',', value_parser = Named::new(Bug::VARIANTS))]
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
    /// Percent of ops that are compare-and-sets (0 to 100), each expecting a value written
    /// before it on its key; the rest are gets, puts and deletes as without it. Only for a
    /// system that supports cas (leader-follower; the leaderless store is last-write-wins).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub cas_percent: u8,
    /// Coordinator choice.
    #[arg(long, value_enum, default_value_t = Coordinator::Random)]
    pub coordinator: Coordinator,
    /// One-way message latency in simulated ms: a range MIN-MAX, or one number for a fixed
    /// latency (which keeps other messages' timing when shrinking removes an op).
    #[arg(long, default_value = "1-5", value_parser = parse_latency)]
    pub latency: (u64, u64),
    /// A long tail on message latency: PERCENT:MS sends that share of messages up to MS ms
    /// later (e.g. 5:200); 0:0 for none.
    #[arg(long, default_value = "0:0", value_parser = parse_tail)]
    pub tail: (u8, u64),
    /// A slow replica: NODE:MS adds MS ms to every message node NODE sends to other nodes
    /// (repeatable).
    #[arg(long = "slow-node", value_parser = parse_slow_node)]
    pub slow_node: Vec<(u16, u64)>,
    /// A replica slow to take writes (a loaded commit-log disk): NODE:MS adds MS ms to every
    /// write sent to node NODE (a coordinator's write, a hint, a read repair), not to the reads
    /// it answers (repeatable).
    #[arg(long = "slow-writes", value_parser = parse_slow_node)]
    pub slow_writes: Vec<(u16, u64)>,
    /// Which replicas a coordinator reads from: ordered (itself, then ring order), shuffled
    /// (random per read), snitch (fastest recent replies first) or random (the PBS model:
    /// writes also go to exactly W random replicas, without hints).
    #[arg(long)]
    pub replica_choice: Option<ReplicaChoice>,
    /// Simulated ms to settle after the workload, all faults healed, before the final reads.
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
    /// How long each fault lasts, in simulated ms: MIN-MAX or one number [default: 10 ms to
    /// half the workload]. Windows longer than the failure timeout (1000 ms) take the down
    /// path: replicas marked down, Unavailable replies, hints stored and replayed.
    #[arg(long, value_parser = parse_fault_ms)]
    pub fault_ms: Option<(u64, u64)>,
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
        if let Some(c) = self.replica_choice {
            store.replica_choice = c;
        }
        store.bugs.extend(self.bugs.iter().copied());
        // The error names the store setting ("invalid store config: nodes = 0: ...").
        store.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(store)
    }

    /// The system these flags describe, validated by building it: a bad configuration is
    /// refused here, naming the field, rather than when the first scenario runs.
    pub fn system(&self) -> anyhow::Result<SystemConfig> {
        if self.system == crate::systems::leaderless::NAME {
            if self.system_config.is_some() {
                anyhow::bail!(
                    "--system-config configures systems other than leaderless; the leaderless \
                     store takes the store flags (--rf, --read, --write, ...)"
                );
            }
            return Ok(SystemConfig::Leaderless(self.store()?));
        }
        let store_flags = [
            ("--rf", self.rf.is_some()),
            ("--read", self.read.is_some()),
            ("--write", self.write.is_some()),
            ("--read-repair", self.read_repair.is_some()),
            ("--hints", self.hints.is_some()),
            ("--anti-entropy", self.anti_entropy.is_some()),
            ("--fsync", self.fsync.is_some()),
            ("--bug", !self.bugs.is_empty()),
            ("--replica-choice", self.replica_choice.is_some()),
        ];
        if let Some((flag, _)) = store_flags.iter().find(|(_, given)| *given) {
            anyhow::bail!(
                "{flag} configures the leaderless store, not {}; give {}'s configuration with \
                 --system-config",
                self.system,
                self.system
            );
        }
        let config = match &self.system_config {
            None => serde_json::Value::Null,
            Some(text) => {
                let (text, whence) = match text.strip_prefix('@') {
                    Some(path) => (
                        std::fs::read_to_string(path)
                            .map_err(|e| anyhow::anyhow!("--system-config: reading {path}: {e}"))?,
                        path.to_string(),
                    ),
                    None => (text.clone(), "--system-config".to_string()),
                };
                crate::scenario::value_with_unique_keys(&text)
                    .map_err(|e| anyhow::anyhow!("{whence}: not valid JSON: {e}"))?
            }
        };
        let spec = SystemConfig::Named(crate::scenario::SystemSpec {
            name: self.system.clone(),
            nodes: self.nodes.unwrap_or(StoreConfig::default().nodes),
            config,
        });
        crate::systems::build(&spec).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        Ok(spec)
    }

    /// The scenario shape these flags describe, refused when a flag is over its limit (see
    /// [`limits`]): generating the scenario would otherwise allocate without bound.
    pub fn shape(&self) -> anyhow::Result<ScenarioShape> {
        if self.clients == 0 {
            anyhow::bail!("--clients must be at least 1");
        }
        if self.keys == 0 {
            anyhow::bail!("--keys must be at least 1");
        }
        if self.ops == 0 {
            // Not raised quietly to one op per client: a run of no ops is a mistake.
            anyhow::bail!("--ops must be at least 1");
        }
        let over = |flag: &str, value: u64, limit: u64| -> anyhow::Result<()> {
            if value > limit {
                anyhow::bail!("{flag} {value} is over the limit of {limit} (see docs/limits.md)");
            }
            Ok(())
        };
        if let Some(n) = self.nodes {
            over("--nodes", n as u64, limits::MAX_NODES)?;
        }
        over("--clients", self.clients as u64, limits::MAX_CLIENTS)?;
        over("--ops", self.ops as u64, limits::MAX_OPS)?;
        over("--keys", u64::from(self.keys), limits::MAX_KEYS)?;
        over("--max-faults", self.max_faults as u64, limits::MAX_FAULTS)?;
        over(
            "--latency (maximum)",
            self.latency.1,
            limits::MAX_LATENCY_MS,
        )?;
        over("--settle-ms", self.settle_ms, limits::MAX_WINDOW_MS)?;
        if let Some((_, hi)) = self.fault_ms {
            over("--fault-ms (maximum)", hi, limits::MAX_WINDOW_MS)?;
        }
        over("--tail (ms)", self.tail.1, limits::MAX_LATENCY_MS)?;
        for &(_, ms) in &self.slow_node {
            over("--slow-node (ms)", ms, limits::MAX_LATENCY_MS)?;
        }
        over(
            "--slow-node (count)",
            self.slow_node.len() as u64,
            limits::MAX_SLOW_LINKS,
        )?;
        for &(_, ms) in &self.slow_writes {
            over("--slow-writes (ms)", ms, limits::MAX_LATENCY_MS)?;
        }
        over(
            "--slow-writes (count)",
            self.slow_writes.len() as u64,
            limits::MAX_NODES,
        )?;
        let nodes = self.nodes.unwrap_or(StoreConfig::default().nodes) as u64;
        over(
            "--nodes x --keys (final reads)",
            nodes * u64::from(self.keys),
            limits::MAX_FINAL_READS,
        )?;
        let per_client = self.ops.div_ceil(self.clients) as u64;
        // Every client gets the same number of ops, so few ops over many clients still plans
        // one op for each.
        if per_client * self.clients as u64 > limits::MAX_OPS {
            anyhow::bail!(
                "--ops {} over --clients {} plans {} ops in all (at least one per client), over \
                 the limit of {} (see docs/limits.md)",
                self.ops,
                self.clients,
                per_client * self.clients as u64,
                limits::MAX_OPS
            );
        }
        // Ops are planned over about ops-per-client x (think time + 4 latencies).
        let span = per_client * (u64::from(self.think_ms) + 4 * self.latency.1.max(1));
        if span > limits::MAX_START_MS {
            anyhow::bail!(
                "--think-ms {} with {per_client} ops per client plans ops over {span} simulated ms, \
                 over the limit of {} (see docs/limits.md)",
                self.think_ms,
                limits::MAX_START_MS
            );
        }
        let system = self.system()?;
        let built = crate::systems::build(&system)
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        if let Some(f) = self.faults.0.iter().find(|f| !built.honours(f.class())) {
            let honoured: Vec<&str> = FaultChoice::VARIANTS
                .iter()
                .filter(|f| built.honours(f.class()))
                .map(|f| f.name())
                .collect();
            anyhow::bail!(
                "--faults: {} does not honour {} faults ({}); it honours {}",
                built.name(),
                f.class().name(),
                f.name(),
                honoured.join(", ")
            );
        }
        if self.cas_percent > 0 && !built.supports_cas() {
            anyhow::bail!(
                "--cas-percent: {} does not support cas (compare-and-set); --system \
                 leader-follower does",
                built.name()
            );
        }
        Ok(ScenarioShape {
            system,
            network: NetworkConfig {
                tail_percent: self.tail.0,
                tail_ms: self.tail.1,
                slow_links: self
                    .slow_node
                    .iter()
                    .map(|&(node, extra_ms)| SlowLink {
                        from: Some(node),
                        to: None,
                        extra_ms,
                    })
                    .collect(),
                slow_writes: self
                    .slow_writes
                    .iter()
                    .map(|&(node, extra_ms)| SlowWrite { node, extra_ms })
                    .collect(),
                ..NetworkConfig::latency(self.latency.0, self.latency.1)
            },
            clients: self.clients,
            ops: self.ops,
            keys: self.keys,
            faults: self.faults.0.clone(),
            max_faults: self.max_faults,
            think_ms: self.think_ms,
            get_percent: 50,
            put_percent: 40,
            cas_percent: self.cas_percent,
            sticky: self.coordinator == Coordinator::Sticky,
            settle_ms: self.settle_ms,
            fault_window_ms: self.fault_ms,
        })
    }

    /// A short, file-name-safe summary, e.g. `rf3-r1-w1-partition`.
    pub fn slug(&self) -> anyhow::Result<String> {
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
        match self.system()? {
            SystemConfig::Leaderless(s) => {
                Ok(format!("rf{}-r{}-w{}-{}", s.rf, s.read, s.write, faults))
            }
            SystemConfig::Named(spec) => Ok(format!("{}-{}", spec.name, faults)),
        }
    }
}

/// Where the clients send their ops (`--coordinator`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coordinator {
    /// A node drawn for each op.
    Random,
    /// One node per client, drawn once.
    Sticky,
}

/// A value parser that parses with the type's `FromStr`, whose error clap prints as it is, and
/// shows the type's names (its derived list of variants) as the possible values in --help.
#[derive(Clone, Copy)]
pub(crate) struct Named<T: 'static>(&'static [T]);

impl<T> Named<T> {
    /// The parser of the values in `all`.
    pub(crate) fn new(all: &'static [T]) -> Self {
        Named(all)
    }
}

impl<T> clap::builder::TypedValueParser for Named<T>
where
    T: std::str::FromStr + Copy + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
    &'static str: From<T>,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let parse = |s: &str| s.parse::<T>();
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let names = self.0.iter().map(|&v| <&'static str>::from(v));
        Some(Box::new(names.map(clap::builder::PossibleValue::new)))
    }
}

/// A parsed `--faults` list.
#[derive(Clone, Debug)]
pub struct FaultList(pub Vec<FaultChoice>);

fn parse_faults(s: &str) -> Result<FaultList, UnknownFault> {
    parse_fault_list(s).map(FaultList)
}

fn parse_latency(s: &str) -> Result<(u64, u64), String> {
    parse_ms_range("latency", s)
}

fn parse_fault_ms(s: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = parse_ms_range("fault duration", s)?;
    if lo == 0 {
        return Err(format!("fault duration {s:?}: a fault lasts at least 1 ms"));
    }
    Ok((lo, hi))
}

/// `MS` or `MIN-MAX` in whole milliseconds, named `what` in errors.
fn parse_ms_range(what: &str, s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{what} {s:?}: expected MS or MIN-MAX in whole milliseconds");
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
        return Err(format!("{what} {s:?}: the minimum exceeds the maximum"));
    }
    Ok((lo, hi))
}

fn parse_tail(s: &str) -> Result<(u8, u64), String> {
    let (p, ms) = s
        .split_once(':')
        .ok_or_else(|| format!("tail {s:?} is not of the form PERCENT:MS, e.g. 5:200"))?;
    let p: u8 = p
        .trim()
        .parse()
        .map_err(|_| format!("tail {s:?}: PERCENT is not a number from 0 to 100"))?;
    if p > 100 {
        return Err(format!("tail {s:?}: PERCENT {p} is over 100"));
    }
    let ms: u64 = ms
        .trim()
        .parse()
        .map_err(|_| format!("tail {s:?}: MS is not a number"))?;
    if ms > limits::MAX_LATENCY_MS {
        return Err(format!(
            "tail {s:?}: MS {ms} is over the limit of {} ms (see docs/limits.md)",
            limits::MAX_LATENCY_MS
        ));
    }
    Ok((p, ms))
}

fn parse_slow_node(s: &str) -> Result<(u16, u64), String> {
    let (n, ms) = s
        .split_once(':')
        .ok_or_else(|| format!("slow node {s:?} is not of the form NODE:MS, e.g. 2:40"))?;
    let n: u16 = n
        .trim()
        .parse()
        .map_err(|_| format!("slow node {s:?}: NODE is not a node index"))?;
    let ms: u64 = ms
        .trim()
        .parse()
        .map_err(|_| format!("slow node {s:?}: MS is not a number"))?;
    if ms > limits::MAX_LATENCY_MS {
        return Err(format!(
            "slow node {s:?}: MS {ms} is over the limit of {} ms (see docs/limits.md)",
            limits::MAX_LATENCY_MS
        ));
    }
    Ok((n, ms))
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        config: ConfigFlags,
    }

    fn parse(args: &[&str]) -> Result<ConfigFlags, clap::Error> {
        Flags::try_parse_from(std::iter::once("quorumlab").chain(args.iter().copied()))
            .map(|f| f.config)
    }

    #[test]
    fn coordinator_names_are_random_and_sticky() {
        use clap::ValueEnum;
        let names: Vec<String> = Coordinator::value_variants()
            .iter()
            .map(|c| c.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, ["random", "sticky"]);
        assert_eq!(parse(&[]).unwrap().coordinator, Coordinator::Random);
        let flags = parse(&["--coordinator", "sticky"]).unwrap();
        assert_eq!(flags.coordinator, Coordinator::Sticky);
        assert!(flags.shape().unwrap().sticky);
        let e = parse(&["--coordinator", "x"]).unwrap_err().to_string();
        assert!(e.contains("[possible values: random, sticky]"), "{e}");
    }

    #[test]
    fn the_bug_flag_lists_every_bug_and_says_the_stores_error() {
        use clap::builder::TypedValueParser;
        let names: Vec<String> = Named::new(Bug::VARIANTS)
            .possible_values()
            .unwrap()
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "ack-early",
                "read-first-response",
                "repair-fresh-timestamp",
                "ring-off-by-one",
                "tombstone-lost-on-replay",
                "ack-before-sync",
                "hint-new-timestamp",
                "lww-tie-by-arrival",
                "unavailable-ignored",
                "clock-reset-on-restart",
                "hint-wrong-target",
                "hints-count-as-acks",
                "partial-read-repair",
            ]
        );
        let flags = parse(&["--bug", "ack-early,ring-off-by-one", "--bug", "ack-early"]).unwrap();
        assert_eq!(
            flags.bugs,
            [Bug::AckEarly, Bug::RingOffByOne, Bug::AckEarly]
        );
        let e = parse(&["--bug", "ack-late"]).unwrap_err().to_string();
        assert!(
            e.contains(
                "invalid value 'ack-late' for '--bug <BUGS>': unknown bug \"ack-late\": expected \
                 one of ack-early, read-first-response,"
            ),
            "{e}"
        );
    }

    #[test]
    fn store_flags_parse_with_the_stores_own_parsers_and_messages() {
        let flags = parse(&[
            "--read",
            "one",
            "--write",
            "3",
            "--read-repair",
            "async",
            "--fsync",
            "periodic:25",
            "--replica-choice",
            "snitch",
        ])
        .unwrap();
        let store = flags.store().unwrap();
        assert_eq!(store.read, ConsistencyLevel::One);
        assert_eq!(store.write, ConsistencyLevel::Count(3));
        assert_eq!(store.read_repair, ReadRepair::Async);
        assert_eq!(store.fsync.to_string(), "periodic:25");
        assert_eq!(store.replica_choice, ReplicaChoice::Snitch);
        for (flag, value, message) in [
            (
                "--read",
                "zero",
                "unknown consistency level \"zero\": expected one, two, three, quorum, all or a \
                 number >= 1",
            ),
            (
                "--read-repair",
                "x",
                "unknown read repair mode \"x\": expected none, blocking or async",
            ),
            (
                "--fsync",
                "periodic:0",
                "unknown fsync policy \"periodic:0\": expected always, periodic, periodic:<ms> \
                 or never",
            ),
            (
                "--replica-choice",
                "x",
                "unknown replica choice \"x\"; expected ordered, shuffled, snitch or random",
            ),
        ] {
            let e = parse(&[flag, value]).unwrap_err().to_string();
            assert!(
                e.contains(&format!("invalid value '{value}' for '{flag} <")),
                "{e}"
            );
            assert!(e.contains(message), "{e}");
        }
    }
}
