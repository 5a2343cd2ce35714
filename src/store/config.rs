//! [`StoreConfig`]: every knob of the reference store, with Cassandra-like defaults.
//!
//! Durations are simulated time and serialize as integer milliseconds.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::VariantArray;

/// A bad configuration value, named by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A consistency level string that is not `one|two|three|quorum|all|<n>`.
    #[error(
        "unknown consistency level {0:?}: expected one, two, three, quorum, all or a number >= 1"
    )]
    ConsistencyLevel(String),
    /// A read repair string that is not none|blocking|async.
    #[error("unknown read repair mode {0:?}: expected none, blocking or async")]
    ReadRepair(String),
    /// An fsync policy string that is not always|periodic|never.
    #[error("unknown fsync policy {0:?}: expected always, periodic, periodic:<ms> or never")]
    FsyncPolicy(String),
    /// A replica choice string that is not ordered|shuffled|snitch|random.
    #[error("unknown replica choice {0:?}; expected ordered, shuffled, snitch or random")]
    ReplicaChoice(String),
    /// A planted bug name that is not in the catalog.
    #[error("unknown bug {0:?}: expected one of {names}", names = Bug::name_list())]
    Bug(String),
    /// A field whose value is out of range.
    #[error("invalid store config: {field} = {value}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Its value, printed.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
}

/// How many replicas a read or write waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsistencyLevel {
    /// One replica.
    One,
    /// Two replicas.
    Two,
    /// Three replicas.
    Three,
    /// A majority of RF: `rf / 2 + 1`.
    Quorum,
    /// All RF replicas.
    All,
    /// An explicit number of replicas.
    Count(usize),
}

impl ConsistencyLevel {
    /// The number of replica responses this level needs at replication factor `rf`.
    pub fn required(self, rf: usize) -> usize {
        match self {
            ConsistencyLevel::One => 1,
            ConsistencyLevel::Two => 2,
            ConsistencyLevel::Three => 3,
            ConsistencyLevel::Quorum => rf / 2 + 1,
            ConsistencyLevel::All => rf,
            ConsistencyLevel::Count(n) => n,
        }
    }
}

impl fmt::Display for ConsistencyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsistencyLevel::One => f.write_str("one"),
            ConsistencyLevel::Two => f.write_str("two"),
            ConsistencyLevel::Three => f.write_str("three"),
            ConsistencyLevel::Quorum => f.write_str("quorum"),
            ConsistencyLevel::All => f.write_str("all"),
            ConsistencyLevel::Count(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for ConsistencyLevel {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "one" => Ok(ConsistencyLevel::One),
            "two" => Ok(ConsistencyLevel::Two),
            "three" => Ok(ConsistencyLevel::Three),
            "quorum" => Ok(ConsistencyLevel::Quorum),
            "all" => Ok(ConsistencyLevel::All),
            other => match other.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(ConsistencyLevel::Count(n)),
                _ => Err(ConfigError::ConsistencyLevel(s.to_string())),
            },
        }
    }
}

/// What a read coordinator does with replicas it finds behind. Its name (`Display`, `FromStr`,
/// serde) is the variant's, in lower case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[strum(serialize_all = "lowercase")]
pub enum ReadRepair {
    /// No repair.
    None,
    /// Write the resolved cell back to the contacted replicas that were behind and wait for
    /// their acks before answering (Cassandra's default).
    Blocking,
    /// Write the resolved cell back without waiting.
    Async,
}

impl fmt::Display for ReadRepair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.into())
    }
}

impl FromStr for ReadRepair {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        ReadRepair::VARIANTS
            .iter()
            .copied()
            .find(|r| <&str>::from(r) == t)
            .ok_or_else(|| ConfigError::ReadRepair(s.to_string()))
    }
}

/// When the commit log is synced to the (simulated) disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FsyncPolicy {
    /// Sync before acknowledging each mutation.
    Always,
    /// Sync every `period` (Cassandra's default: periodic, 10 s there).
    Periodic {
        /// Time between syncs.
        period: Duration,
    },
    /// Never sync: a crash loses everything written since the file was created.
    Never,
}

/// The default fsync period: 10 ms of simulated time.
pub const DEFAULT_FSYNC_PERIOD: Duration = Duration::from_millis(10);

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Periodic { period } => write!(f, "periodic:{}", period.as_millis()),
            FsyncPolicy::Never => f.write_str("never"),
        }
    }
}

impl FromStr for FsyncPolicy {
    type Err = ConfigError;
    /// `always`, `never`, `periodic` (10 ms) or `periodic:<ms>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            "periodic" => Ok(FsyncPolicy::Periodic {
                period: DEFAULT_FSYNC_PERIOD,
            }),
            _ => match t.strip_prefix("periodic:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(FsyncPolicy::Periodic {
                    period: Duration::from_millis(ms),
                }),
                _ => Err(ConfigError::FsyncPolicy(s.to_string())),
            },
        }
    }
}

macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_string!(ConsistencyLevel);
serde_as_string!(ReadRepair);
serde_as_string!(FsyncPolicy);

/// Planted bugs: deliberate departures from the correct protocol, each modelled on a real class
/// of bug in replicated stores and switched on by name, so the checkers can be shown to catch
/// them. None is ever on by default; with no bug set the store behaves exactly as documented.
/// Each variant acts at one decision point, marked `Bug seam` in the code.
///
/// The catalog order is the declaration order ([`VariantArray::VARIANTS`]); a bug's name
/// ([`Bug::name`], `Display`, serde) is its variant's name in kebab case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Bug {
    /// The write coordinator answers the client after W-1 replica acks (coordinator.rs, write
    /// ack count). Mimics an off-by-one in an ack counter; breaks linearizability at R+W > RF.
    AckEarly,
    /// A read answers with the first replica response instead of the newest cell
    /// (coordinator.rs, read resolution). Breaks linearizability.
    ReadFirstResponse,
    /// Read repair writes the resolved value back with a fresh timestamp instead of the cell's
    /// own (coordinator.rs, repair), so an old value can overwrite a newer write.
    RepairFreshTimestamp,
    /// The replica walk only skips a node equal to the previous pick, so it can pick the same
    /// node twice and fewer than RF distinct nodes hold a key (ring.rs, replica walk).
    RingOffByOne,
    /// Commit log replay skips tombstones, so a deleted value comes back after a restart
    /// (node.rs, recovery).
    TombstoneLostOnReplay,
    /// With fsync always, the ack goes out before the commit log is synced; the sync follows
    /// a period later (node.rs, sync before ack).
    AckBeforeSync,
    /// A replayed hint carries the replay time as its timestamp (coordinator.rs, hint replay).
    HintNewTimestamp,
    /// Equal timestamps from different writers are resolved by arrival order, not by the writer
    /// tiebreak (storage.rs, replica merge), so replicas can keep different winners.
    LwwTieByArrival,
    /// The coordinator sends even when too few replicas are alive, and reports a write timeout
    /// as success (coordinator.rs, availability and deadline).
    UnavailableIgnored,
    /// A node's clock starts from zero after a restart and the persisted clock floor is
    /// forgotten, so its timestamps go backwards (node.rs, recovery and timestamps).
    ClockResetOnRestart,
    /// Hint replay addresses the node after the hint's target in node order (a hint store keyed
    /// by a ring position that went stale), so the replica that missed the write never gets
    /// it and the replay is retried forever (coordinator.rs, hint replay).
    HintWrongTarget,
    /// A hint stored for a replica the failure detector has marked down counts as an ack toward
    /// W, in the availability check and in the ack count: the rule of Cassandra's consistency
    /// level ANY applied at every level (coordinator.rs, availability and write send). It acts
    /// only once a replica is marked down.
    HintsCountAsAcks,
    /// Read repair writes the resolved cell back to only the first replica it found behind
    /// (a repair loop that stops after its first target), so a read that saw a write on one
    /// replica leaves it on two, not on the R it asked (coordinator.rs, read repair).
    PartialReadRepair,
}

impl Bug {
    /// Every bug's name, comma-separated, in catalog order.
    pub fn name_list() -> String {
        Bug::VARIANTS
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The bug's name, as on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl FromStr for Bug {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        Bug::VARIANTS
            .iter()
            .copied()
            .find(|b| b.name() == t)
            .ok_or_else(|| ConfigError::Bug(s.to_string()))
    }
}

/// Every setting of the reference store. `Default` gives Cassandra-like behaviour scaled to
/// simulated time: 5 nodes, 8 vnodes, RF 3, quorum reads and writes, blocking read repair, hints
/// on, anti-entropy off, periodic fsync every 10 ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Number of nodes, `n0`..`n{N-1}` (default 5).
    pub nodes: usize,
    /// Tokens per node on the ring (default 8).
    pub vnodes: usize,
    /// Replication factor (default 3).
    pub rf: usize,
    /// Default read consistency level (default quorum).
    pub read: ConsistencyLevel,
    /// Default write consistency level (default quorum).
    pub write: ConsistencyLevel,
    /// Read repair mode (default blocking).
    pub read_repair: ReadRepair,
    /// Hinted handoff (default on).
    pub hints: bool,
    /// No hints are stored for a replica that has been seen down longer than this (default 10 s).
    #[serde(with = "millis")]
    pub hint_window: Duration,
    /// Periodic replica comparison (default off).
    pub anti_entropy: bool,
    /// Time between anti-entropy rounds of one node (default 1 s).
    #[serde(with = "millis")]
    pub anti_entropy_interval: Duration,
    /// Commit log sync policy (default periodic, 10 ms).
    pub fsync: FsyncPolicy,
    /// A tombstone older than this (by its timestamp against the node clock) is dropped
    /// (default 10 s; Cassandra's is 10 days).
    #[serde(with = "millis")]
    pub tombstone_grace: Duration,
    /// How long a coordinator waits for replicas before answering timeout (default 500 ms).
    #[serde(with = "millis")]
    pub request_timeout: Duration,
    /// Time between heartbeats a node sends to every other node (default 100 ms).
    #[serde(with = "millis")]
    pub heartbeat_interval: Duration,
    /// A node not heard from for this long is considered down (default 1 s).
    #[serde(with = "millis")]
    pub failure_timeout: Duration,
    /// Planted bugs (default none; see [`Bug`]).
    pub bugs: BTreeSet<Bug>,
    /// Which replicas a coordinator contacts (default ordered, as Cassandra with a static
    /// snitch; `random` follows the model of PBS, Bailis et al. 2012).
    #[serde(skip_serializing_if = "ReplicaChoice::is_ordered")]
    pub replica_choice: ReplicaChoice,
}

/// Which replicas a coordinator sends reads and writes to. Its name ([`ReplicaChoice::name`],
/// `FromStr`, serde) is the variant's, in lower case.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ReplicaChoice {
    /// Reads go to the coordinator itself when it is a replica, then to live replicas in ring
    /// order; writes go to every replica (hints for those seen down).
    #[default]
    Ordered,
    /// Reads go to R live replicas drawn at random for each read (so the replicas asked
    /// rotate); writes go to every replica, as with `ordered`.
    Shuffled,
    /// Reads go to the coordinator itself when it is a replica, then to the live replicas that
    /// answered its recent reads fastest (a dynamic snitch); writes go to every replica.
    Snitch,
    /// Reads go to R live replicas drawn at random, writes to exactly W live replicas drawn at
    /// random and to no other (no hints): the assumptions under which PBS predicts the chance
    /// of a stale read as C(RF-W, R) / C(RF, R).
    Random,
}

impl ReplicaChoice {
    /// Whether this is the default, [`ReplicaChoice::Ordered`].
    pub fn is_ordered(&self) -> bool {
        *self == ReplicaChoice::Ordered
    }

    /// The choice's name, as on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl FromStr for ReplicaChoice {
    type Err = ConfigError;
    /// A name exactly as written (surrounding spaces aside): `ordered`, `shuffled`, `snitch`
    /// or `random`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        ReplicaChoice::VARIANTS
            .iter()
            .copied()
            .find(|c| c.name() == t)
            .ok_or_else(|| ConfigError::ReplicaChoice(s.to_string()))
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            nodes: 5,
            vnodes: 8,
            rf: 3,
            read: ConsistencyLevel::Quorum,
            write: ConsistencyLevel::Quorum,
            read_repair: ReadRepair::Blocking,
            hints: true,
            hint_window: Duration::from_secs(10),
            anti_entropy: false,
            anti_entropy_interval: Duration::from_secs(1),
            fsync: FsyncPolicy::Periodic {
                period: DEFAULT_FSYNC_PERIOD,
            },
            tombstone_grace: Duration::from_secs(10),
            request_timeout: Duration::from_millis(500),
            heartbeat_interval: Duration::from_millis(100),
            failure_timeout: Duration::from_secs(1),
            bugs: BTreeSet::new(),
            replica_choice: ReplicaChoice::Ordered,
        }
    }
}

impl StoreConfig {
    /// The most nodes a cluster has: simulating one costs more per step than the host count
    /// grows (a run of 10 ops took 1.2 s at 32 nodes and 14 s at 64).
    pub const MAX_NODES: usize = 32;
    /// The most ring tokens per node.
    pub const MAX_VNODES: usize = 256;

    /// Checks that the settings make sense together: 1 to [`Self::MAX_NODES`] nodes, 1 to
    /// [`Self::MAX_VNODES`] tokens each, `1 <= rf <= nodes`, levels at most `rf`, non-zero
    /// timers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(
            field: &'static str,
            value: impl fmt::Display,
            reason: impl Into<String>,
        ) -> ConfigError {
            ConfigError::Invalid {
                field,
                value: value.to_string(),
                reason: reason.into(),
            }
        }
        if self.nodes == 0 || self.nodes > Self::MAX_NODES {
            return Err(bad(
                "nodes",
                self.nodes,
                format!("must be between 1 and {}", Self::MAX_NODES),
            ));
        }
        if self.vnodes == 0 || self.vnodes > Self::MAX_VNODES {
            return Err(bad(
                "vnodes",
                self.vnodes,
                format!("must be between 1 and {}", Self::MAX_VNODES),
            ));
        }
        if self.rf == 0 || self.rf > self.nodes {
            return Err(bad(
                "rf",
                self.rf,
                format!("must be between 1 and nodes ({})", self.nodes),
            ));
        }
        for (field, level) in [("read", self.read), ("write", self.write)] {
            let n = level.required(self.rf);
            if n == 0 || n > self.rf {
                return Err(bad(
                    field,
                    level,
                    format!("needs {n} replicas but rf is {}", self.rf),
                ));
            }
        }
        for (field, d) in [
            ("request_timeout", self.request_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("failure_timeout", self.failure_timeout),
            ("anti_entropy_interval", self.anti_entropy_interval),
        ] {
            if d.is_zero() {
                return Err(bad(field, "0", "must be positive"));
            }
        }
        if let FsyncPolicy::Periodic { period } = self.fsync {
            if period.is_zero() {
                return Err(bad("fsync", self.fsync, "period must be positive"));
            }
        }
        Ok(())
    }

    /// Checks that a per-request level can be served at this RF.
    pub fn check_level(&self, level: ConsistencyLevel) -> Result<usize, ConfigError> {
        let n = level.required(self.rf);
        if n == 0 || n > self.rf {
            return Err(ConfigError::Invalid {
                field: "consistency level",
                value: level.to_string(),
                reason: format!("needs {n} replicas but rf is {}", self.rf),
            });
        }
        Ok(n)
    }

    /// How long a client waits for its coordinator: long enough for a read, its blocking
    /// repair round and the reply, so a client never gives up before the coordinator does.
    pub fn client_timeout(&self) -> Duration {
        self.request_timeout * 3 + Duration::from_millis(100)
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_print_and_count() {
        for s in ["one", "two", "three", "quorum", "all", "4"] {
            let l: ConsistencyLevel = s.parse().unwrap();
            assert_eq!(l.to_string(), s);
        }
        assert_eq!(ConsistencyLevel::Quorum.required(3), 2);
        assert_eq!(ConsistencyLevel::Quorum.required(5), 3);
        assert_eq!(ConsistencyLevel::All.required(3), 3);
        assert!("zero".parse::<ConsistencyLevel>().is_err());
        assert!("0".parse::<ConsistencyLevel>().is_err());
        assert_eq!("async".parse::<ReadRepair>().unwrap(), ReadRepair::Async);
        assert!("sometimes".parse::<ReadRepair>().is_err());
        assert_eq!(
            "periodic:25".parse::<FsyncPolicy>().unwrap(),
            FsyncPolicy::Periodic {
                period: Duration::from_millis(25)
            }
        );
        assert!("periodic:x".parse::<FsyncPolicy>().is_err());
        for &b in Bug::VARIANTS {
            assert_eq!(b.name().parse::<Bug>().unwrap(), b);
            assert_eq!(b.to_string(), b.name());
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(json, format!("\"{}\"", b.name()));
        }
        assert!("ack-late".parse::<Bug>().is_err());
    }

    #[test]
    fn read_repair_and_replica_choice_names_are_derived_in_order() {
        let names: Vec<String> = ReadRepair::VARIANTS.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["none", "blocking", "async"]);
        for &r in ReadRepair::VARIANTS {
            assert_eq!(r.to_string().to_uppercase().parse::<ReadRepair>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert_eq!(
            "sometimes".parse::<ReadRepair>().unwrap_err().to_string(),
            "unknown read repair mode \"sometimes\": expected none, blocking or async"
        );
        let names: Vec<&str> = ReplicaChoice::VARIANTS.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["ordered", "shuffled", "snitch", "random"]);
        for &c in ReplicaChoice::VARIANTS {
            assert_eq!(format!(" {} ", c.name()).parse::<ReplicaChoice>(), Ok(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.name())
            );
        }
        // As the command line always took it: case-sensitive.
        assert_eq!(
            "Ordered".parse::<ReplicaChoice>().unwrap_err().to_string(),
            "unknown replica choice \"Ordered\"; expected ordered, shuffled, snitch or random"
        );
    }

    #[test]
    fn bug_names_are_the_catalog_in_order() {
        let names: Vec<&str> = Bug::VARIANTS.iter().map(|b| b.name()).collect();
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
        assert_eq!(
            " Ack-Early ".parse::<Bug>().unwrap(),
            Bug::AckEarly,
            "names are trimmed and case-insensitive"
        );
        assert_eq!(
            "ack-late".parse::<Bug>().unwrap_err().to_string(),
            format!(
                "unknown bug \"ack-late\": expected one of {}",
                names.join(", ")
            )
        );
    }

    #[test]
    fn config_round_trips_through_json_and_validates() {
        let c = StoreConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"read\":\"quorum\""), "{json}");
        assert!(json.contains("\"request_timeout\":500"), "{json}");
        let back: StoreConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let partial: StoreConfig = serde_json::from_str(r#"{"rf": 5, "read": "one"}"#).unwrap();
        assert_eq!(partial.rf, 5);
        assert_eq!(partial.nodes, 5);
    }

    #[test]
    fn validate_rejects_impossible_settings() {
        let c = StoreConfig {
            rf: 6,
            ..StoreConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("rf"));
        let c = StoreConfig {
            read: ConsistencyLevel::Count(4),
            ..StoreConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("read"));
        for (c, limit) in [
            (
                StoreConfig {
                    nodes: 0,
                    ..StoreConfig::default()
                },
                "nodes = 0: must be between 1 and 32",
            ),
            (
                StoreConfig {
                    nodes: 33,
                    ..StoreConfig::default()
                },
                "nodes = 33: must be between 1 and 32",
            ),
            (
                StoreConfig {
                    vnodes: 257,
                    ..StoreConfig::default()
                },
                "vnodes = 257: must be between 1 and 256",
            ),
        ] {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(limit), "{e}");
        }
        StoreConfig {
            nodes: 32,
            vnodes: 256,
            ..StoreConfig::default()
        }
        .validate()
        .unwrap();
    }
}
