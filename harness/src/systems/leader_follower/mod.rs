//! A leader-follower replicated store: the architecture leaderless stores were built to
//! replace, as a second system under test. It is also the worked example of a system written
//! against the public boundary alone: it uses [`crate::system`], the scenario's
//! [`SystemSpec`] and [`NetworkConfig`](crate::scenario::NetworkConfig), and plain crates (turmoil, tokio, serde, serde_json),
//! and nothing of the reference leaderless store. docs/leader-follower.md describes the design
//! and what each configuration claims.
//!
//! The parts:
//! - this module: the configuration ([`Config`]), how keys map to partitions and replica groups
//!   ([`partition_of`], [`group_of`]), and the [`System`] and [`Cluster`] implementations;
//! - `node`: one node, which runs a minimal Raft-like replica for every partition it holds;
//! - `wire`: the messages nodes and clients exchange, and their codec;
//! - `storage`: the file in which a node keeps a partition's term, vote and log;
//! - `links`: the delay of every message, derived from the message (turmoil adds none);
//! - `client`: the [`Session`] that sends a client's requests;
//! - `shared`: the counters, trace and work-in-hand flags the nodes report to the handle.
//!
//! A key belongs to one of `nodes` partitions; partition `p` is replicated on nodes `p`, `p+1`,
//! ..., `p+rf-1` (mod `nodes`), and node `p` leads it in term 1. Writes go to the partition's
//! leader, which appends them to its log and ships the log to the followers; reads go to the
//! leader or, with `reads: "any"`, to whichever replica the client called.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::scenario::SystemSpec;
use crate::system::{
    Account, Cluster, Env, Events, FaultChange, FaultClass, LocalFuture, Session, Settle, System,
    SystemError,
};

mod client;
mod links;
mod node;
mod shared;
mod storage;
mod wire;

/// The system's name, as `--system` and a scenario's `system.name` take it.
pub const NAME: &str = "leader-follower";

/// How the leader replicates a write before it acknowledges it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// The leader acknowledges once its own log has the write (synced, under
    /// `fsync: "always"`) and ships it to the followers in the background: fast, and an
    /// acknowledged write is lost if the leader fails before a follower has it.
    Async,
    /// The leader acknowledges once `sync_followers` followers of its current term have the
    /// write, besides itself.
    Sync,
}

/// Where reads are answered.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Reads {
    /// The partition's leader answers (confirming it still leads first, under fencing).
    Leader,
    /// The node the client called answers from its own copy if it holds the key, else a
    /// replica of the key does: cheap, and a follower that has not caught up answers stale.
    Any,
}

/// Whether a node's log, term and vote survive a crash.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Every change is synced to turmoil's file system before the node acts on it.
    Always,
    /// Nothing is written: a restarted node starts with an empty log, no term and no vote.
    Never,
}

/// The configuration, as a scenario's `system.config` gives it (a JSON object; `null` or an
/// absent field takes the default). The default is [`Config::linearizable`] for three replicas.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Replicas per partition, at most the node count. Default 3.
    pub rf: usize,
    /// `"async"` or `"sync"`. Default `"sync"`.
    pub replication: Replication,
    /// Under sync replication, the followers that must have a write before the leader
    /// acknowledges it, at most `rf - 1`. Default 1, which with `rf` 3 makes a majority.
    pub sync_followers: usize,
    /// `"leader"` or `"any"`. Default `"leader"`.
    pub reads: Reads,
    /// A follower that hears nothing from its leader for this long (plus a random part of up
    /// to half as much again) starts an election; a fenced leader that hears from no majority
    /// for this long steps down. Default 300.
    pub failover_timeout_ms: u64,
    /// Whether terms fence a deposed leader (see the docs). Default true.
    pub fencing: bool,
    /// `"always"` or `"never"`. Default `"always"`.
    pub fsync: Fsync,
    /// How long a client waits for an answer before it gives up (outcome info). Default 1000.
    pub request_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config::linearizable()
    }
}

impl Config {
    /// The configuration that claims linearizability, for three replicas: sync replication to
    /// a majority, leader reads, fencing, and every change synced. Raft's argument applies to
    /// it (a majority elects, a majority acknowledges, the vote and the log are durable), and
    /// the tests search it under crashes and partitions.
    pub fn linearizable() -> Config {
        Config::linearizable_for(3)
    }

    /// [`Config::linearizable`] for `rf` replicas: `sync_followers` is a majority of `rf`
    /// less the leader itself.
    pub fn linearizable_for(rf: usize) -> Config {
        Config {
            rf,
            replication: Replication::Sync,
            sync_followers: rf / 2,
            reads: Reads::Leader,
            failover_timeout_ms: 300,
            fencing: true,
            fsync: Fsync::Always,
            request_timeout_ms: 1000,
        }
    }

    /// Whether this configuration is one that claims linearizability: sync replication to at
    /// least a majority, leader reads, fencing and durable logs.
    pub fn claims_linearizability(&self) -> bool {
        self.replication == Replication::Sync
            && self.sync_followers >= self.rf / 2
            && self.reads == Reads::Leader
            && self.fencing
            && self.fsync == Fsync::Always
    }

    /// Parses a scenario's `system.config`: `null` for the defaults, else an object. An error
    /// names the field at fault.
    pub fn from_json(value: &Value) -> Result<Config, SystemError> {
        let bad = |message: String| SystemError::new(NAME, message);
        match value {
            Value::Null => Ok(Config::default()),
            Value::Object(fields) => serde_json::from_value(value.clone()).map_err(|e| {
                // serde's message names an unknown field but not the field whose value is
                // wrong ("unknown variant `x`"): parse each field alone to find it.
                let culprit = fields.iter().find_map(|(name, v)| {
                    let alone = Value::Object([(name.clone(), v.clone())].into_iter().collect());
                    serde_json::from_value::<Config>(alone)
                        .err()
                        .map(|e| (name, e))
                });
                bad(match culprit {
                    Some((_, e)) if e.to_string().starts_with("unknown field") => {
                        format!("config: {e}")
                    }
                    Some((name, e)) => format!("config field `{name}`: {e}"),
                    None => format!("config: {e}"),
                })
            }),
            other => Err(bad(format!(
                "config must be a JSON object of fields or null, not {other}"
            ))),
        }
    }

    /// Checks the fields against each other and the node count.
    pub fn validate(&self, nodes: usize) -> Result<(), SystemError> {
        let bad = |message: String| Err(SystemError::new(NAME, message));
        if nodes == 0 {
            return bad("nodes must be at least 1".into());
        }
        if self.rf == 0 {
            return bad("config field `rf` must be at least 1".into());
        }
        if self.rf > nodes {
            return bad(format!(
                "config field `rf` is {}, more than the cluster's {nodes} nodes",
                self.rf
            ));
        }
        if self.sync_followers > self.rf - 1 {
            return bad(format!(
                "config field `sync_followers` is {}, more than rf - 1 = {} (the followers a \
                 partition has)",
                self.sync_followers,
                self.rf - 1
            ));
        }
        if self.failover_timeout_ms < 6 {
            return bad(format!(
                "config field `failover_timeout_ms` is {}, below the least of 6 (heartbeats \
                 go out every sixth of it)",
                self.failover_timeout_ms
            ));
        }
        if self.request_timeout_ms == 0 {
            return bad("config field `request_timeout_ms` must be at least 1".into());
        }
        Ok(())
    }

    /// How often a leader sends heartbeats (and retries replication): a sixth of the failover
    /// timeout, so that a follower misses several in a row before it suspects the leader.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.failover_timeout_ms / 6)
    }

    /// The votes (or acknowledgements, the leader's own included) that make a majority of a
    /// partition's replica group.
    pub fn majority(&self) -> usize {
        self.rf / 2 + 1
    }
}

/// FNV-1a, 64 bits: a fixed, portable hash, so that a key's partition is the same on every
/// machine and every run (std's `DefaultHasher` promises neither).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A draw from `bytes`: FNV-1a finished with splitmix64's mixer. FNV-1a alone mixes poorly
/// in its low bits (a multiplication carries differences upwards only), so two nodes' hashes
/// of nearly the same input, taken modulo a small range, come out nearly the same; the mixer
/// spreads every input bit over the whole word.
pub fn draw(bytes: &[u8]) -> u64 {
    let mut z = fnv1a(bytes);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The partition a key belongs to, of `nodes` partitions (one led by each node at the start).
pub fn partition_of(key: &str, nodes: usize) -> usize {
    (fnv1a(key.as_bytes()) % nodes.max(1) as u64) as usize
}

/// Partition `p`'s replica group: nodes `p`, `p+1`, ..., `p+rf-1`, modulo `nodes`. The first
/// is the partition's leader in term 1.
pub fn group_of(p: usize, rf: usize, nodes: usize) -> Vec<usize> {
    (0..rf).map(|i| (p + i) % nodes.max(1)).collect()
}

/// The leader-follower store, configured.
#[derive(Clone, Debug)]
pub struct LeaderFollower {
    nodes: usize,
    config: Config,
}

impl LeaderFollower {
    /// The store on `nodes` nodes, refusing a configuration that cannot run there.
    pub fn new(nodes: usize, config: Config) -> Result<LeaderFollower, SystemError> {
        config.validate(nodes)?;
        Ok(LeaderFollower { nodes, config })
    }

    /// The store a scenario's system spec describes.
    pub fn from_spec(spec: &SystemSpec) -> Result<LeaderFollower, SystemError> {
        let config = Config::from_json(&spec.config)?;
        LeaderFollower::new(spec.nodes, config)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl System for LeaderFollower {
    fn name(&self) -> &str {
        NAME
    }

    fn nodes(&self) -> usize {
        self.nodes
    }

    fn honours(&self, fault: FaultClass) -> bool {
        // Partitions, pauses and crashes act on turmoil's hosts and links, which the nodes use
        // as they are. The nodes read no clock but simulated time, and their message delays
        // come from the scenario's network alone, so skew, loss and latency faults would not
        // act: declining them makes a scenario that asks for them refused, not silently
        // run without them.
        matches!(
            fault,
            FaultClass::Partition | FaultClass::Pause | FaultClass::Crash
        )
    }

    fn supports_cas(&self) -> bool {
        // The leader compares against its log and appends the cas in log order, so a cas is
        // as atomic as the log's order: linearizable in the linearizable configuration, and
        // exposed to everything the weaker ones lose (see docs/leader-follower.md).
        true
    }

    fn install(
        &self,
        sim: &mut turmoil::Sim<'_>,
        env: &Env<'_>,
    ) -> Result<Rc<dyn Cluster>, SystemError> {
        let shared = Rc::new(RefCell::new(shared::Shared::new(
            self.nodes,
            env.trace_limit,
        )));
        let hosts: Vec<String> = (0..self.nodes).map(|i| self.host_name(i)).collect();
        let links = links::Links::new(env.network, env.seed, self.nodes);
        for (i, host) in hosts.iter().enumerate() {
            let setup = node::Setup {
                id: i,
                nodes: self.nodes,
                config: self.config.clone(),
                seed: env.seed,
                hosts: hosts.clone(),
                links: links.clone(),
                shared: Rc::clone(&shared),
            };
            // turmoil runs the closure again on a restart: the node recovers from its files.
            sim.host(host.as_str(), move || node::run(setup.clone()));
        }
        Ok(Rc::new(LfCluster {
            nodes: self.nodes,
            config: self.config.clone(),
            hosts,
            links,
            shared,
        }))
    }
}

/// The running store's handle.
struct LfCluster {
    nodes: usize,
    config: Config,
    hosts: Vec<String>,
    links: links::Links,
    shared: Rc<RefCell<shared::Shared>>,
}

impl Cluster for LfCluster {
    fn session(&self) -> LocalFuture<'static, std::io::Result<Box<dyn Session>>> {
        let (hosts, links) = (self.hosts.clone(), self.links.clone());
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        Box::pin(async move {
            let session = client::LfSession::bind(hosts, links, timeout).await?;
            Ok(Box::new(session) as Box<dyn Session>)
        })
    }

    fn apply(&self, change: FaultChange) {
        // turmoil does everything the honoured faults need; a crashed node is only noted so
        // that `quiet` does not wait on it.
        if let FaultChange::Down { node, down } = change {
            self.shared.borrow_mut().set_down(node, down);
        }
    }

    fn replicas_of(&self, key: &str) -> Vec<usize> {
        group_of(partition_of(key, self.nodes), self.config.rf, self.nodes)
    }

    fn settle(&self) -> Settle {
        // Once every partition has a leader all its followers have caught up with, nothing but
        // heartbeats is sent: two heartbeat intervals of that is quiet enough.
        Settle::WhenQuietFor(2 * self.config.heartbeat())
    }

    fn quiet(&self) -> bool {
        self.shared.borrow().quiet()
    }

    fn account(&self) -> Account {
        let s = self.shared.borrow();
        let counters = s
            .counters()
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let messages = s.messages_json();
        let (events, recorded) = (s.trace().to_vec(), s.recorded());
        Account {
            counters,
            messages: Some(messages),
            events: Events::lazy(move || json!({"recorded": recorded, "list": events})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration, validated for three nodes.
    fn parse(v: Value) -> Result<Config, SystemError> {
        Config::from_json(&v).and_then(|c| c.validate(3).map(|()| c))
    }

    #[test]
    fn null_and_empty_are_the_linearizable_defaults() {
        assert_eq!(parse(Value::Null).unwrap(), Config::linearizable());
        assert_eq!(parse(json!({})).unwrap(), Config::linearizable());
        assert!(Config::default().claims_linearizability());
        assert_eq!(Config::linearizable_for(5).sync_followers, 2);
    }

    #[test]
    fn fields_parse() {
        let c = parse(
            json!({"replication": "async", "reads": "any", "fencing": false,
                             "fsync": "never", "rf": 2, "sync_followers": 0,
                             "failover_timeout_ms": 100, "request_timeout_ms": 500}),
        )
        .unwrap();
        assert_eq!(c.replication, Replication::Async);
        assert_eq!(c.reads, Reads::Any);
        assert_eq!(c.fsync, Fsync::Never);
        assert!(!c.fencing && !c.claims_linearizability());
        assert_eq!((c.rf, c.failover_timeout_ms), (2, 100));
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(json!({"rff": 3})).unwrap_err().message;
        assert!(e.contains("unknown field `rff`"), "{e}");
        let e = parse(json!({"rf": 4})).unwrap_err().message;
        assert!(e.contains("`rf`") && e.contains("3 nodes"), "{e}");
        let e = parse(json!({"rf": 0})).unwrap_err().message;
        assert!(e.contains("`rf`"), "{e}");
        let e = parse(json!({"sync_followers": 3})).unwrap_err().message;
        assert!(e.contains("`sync_followers`"), "{e}");
        let e = parse(json!({"fencing": true, "replication": "quorum"}))
            .unwrap_err()
            .message;
        assert!(e.contains("`replication`") && e.contains("quorum"), "{e}");
        let e = parse(json!({"rf": "three"})).unwrap_err().message;
        assert!(e.contains("`rf`"), "{e}");
        let e = parse(json!([1])).unwrap_err().message;
        assert!(e.contains("JSON object"), "{e}");
    }

    #[test]
    fn partitions_are_stable_and_groups_wrap() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let p = partition_of("k0", 3);
        assert_eq!(p, partition_of("k0", 3));
        assert_eq!(group_of(2, 3, 3), vec![2, 0, 1]);
        assert_eq!(group_of(4, 3, 5), vec![4, 0, 1]);
    }
}
