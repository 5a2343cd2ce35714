//! The reference leaderless store ([`quorumlab::store`]) behind the boundary of
//! [`crate::system`]: the only part of the harness that knows the store's own types, beside
//! the store's configuration types it re-exports for the parts that generate and describe
//! leaderless configurations (the matrix's cells, the canaries, the theory of quorums).
use std::rc::Rc;

use quorumlab::store::{self, Client, ClientOutcome, ClientResult, ClusterControl, LinkModel};
use serde_json::{json, Value};

use crate::scenario::NetworkConfig;
use crate::system::{
    Account, Cluster, Env, Events, FaultChange, FaultClass, LinkState, LocalFuture, Outcome, Phase,
    Reply, Request, RequestKind, Session, Settle, System, SystemError, Unreachable,
};

pub mod trace;

pub use quorumlab::store::{
    Bug, ConfigError, ConsistencyLevel, FsyncPolicy, ReadRepair, ReplicaChoice, StoreConfig,
};

/// The system's name, as `--system` takes it.
pub const NAME: &str = "leaderless";

/// The reference store, configured.
#[derive(Debug, Clone)]
pub struct Leaderless {
    config: StoreConfig,
}

impl Leaderless {
    /// The store with this configuration.
    pub fn new(config: StoreConfig) -> Leaderless {
        Leaderless { config }
    }
}

fn node(i: usize) -> store::NodeId {
    store::NodeId(i as u16)
}

impl System for Leaderless {
    fn name(&self) -> &str {
        NAME
    }

    fn nodes(&self) -> usize {
        self.config.nodes
    }

    fn host_name(&self, i: usize) -> String {
        store::node_host_name(node(i))
    }

    fn honours(&self, _fault: FaultClass) -> bool {
        // Every node reads its clock through the control handle and sends through the link
        // model, so every fault the nemesis has acts on it.
        true
    }

    fn supports_cas(&self) -> bool {
        // Replicas merge whatever cells they are sent by last-write-wins on (timestamp,
        // writer), and no node orders the writes to a key: there is no step at which a
        // compare could be atomic with its write.
        false
    }

    fn install(
        &self,
        sim: &mut turmoil::Sim<'_>,
        env: &Env<'_>,
    ) -> Result<Rc<dyn Cluster>, SystemError> {
        let control = ClusterControl::new(self.config.nodes);
        control.set_trace_limit(env.trace_limit);
        control.set_link_model(link_model(env.network, env.seed, self.config.nodes));
        store::install(sim, &self.config, env.seed, &control)
            .map_err(|e| SystemError::new(NAME, e.to_string()))?;
        Ok(Rc::new(LeaderlessCluster {
            config: self.config.clone(),
            seed: env.seed,
            control,
        }))
    }
}

/// The link model of a scenario's network: delays and loss decided per message. Slow links
/// name nodes modulo the node count, as everything in a scenario does.
fn link_model(net: &NetworkConfig, seed: u64, nodes: usize) -> LinkModel {
    let at = |n: u16| node(n as usize % nodes.max(1));
    LinkModel {
        seed,
        min_ms: net.min_latency_ms,
        max_ms: net.max_latency_ms,
        tail_percent: net.tail_percent,
        tail_ms: net.tail_ms,
        slow: net
            .slow_links
            .iter()
            .map(|l| (l.from.map(at), l.to.map(at), l.extra_ms))
            .collect(),
        client_ms: net.client_latency_ms,
        slow_writes: net
            .slow_writes
            .iter()
            .map(|w| (at(w.node), w.extra_ms))
            .collect(),
    }
}

struct LeaderlessCluster {
    config: StoreConfig,
    seed: u64,
    control: ClusterControl,
}

impl Cluster for LeaderlessCluster {
    fn session(&self) -> LocalFuture<'static, std::io::Result<Box<dyn Session>>> {
        let (config, control) = (self.config.clone(), self.control.clone());
        Box::pin(async move {
            let client = Client::bind(&config).await?.with_link_model(&control);
            Ok(Box::new(LeaderlessSession { client, config }) as Box<dyn Session>)
        })
    }

    fn apply(&self, change: FaultChange) {
        let c = &self.control;
        match change {
            // The nodes count what a link drops or holds by its state.
            FaultChange::Link { a, b, state } => {
                c.set_partitioned(node(a), node(b), state == LinkState::Cut);
                c.set_held(node(a), node(b), state == LinkState::Held);
            }
            FaultChange::Paused { node: n, paused } => c.set_paused(node(n), paused),
            FaultChange::Down { node: n, down } => c.set_down(node(n), down),
            FaultChange::Loss { percent } => c.set_loss_percent(percent),
            FaultChange::MaxLatency { ms } => c.set_raised_max_latency(ms),
            FaultChange::ClockOffset { node: n, micros } => c.set_clock_offset(node(n), micros),
        }
    }

    fn replicas_of(&self, key: &str) -> Vec<usize> {
        store::Ring::new(self.config.nodes, self.config.vnodes, self.seed)
            .replicas(key, self.config.rf)
            .into_iter()
            .map(|n| n.index())
            .collect()
    }

    fn settle(&self) -> Settle {
        // From two quiet heartbeat intervals on nothing but heartbeats would be sent; with
        // anti-entropy the replicas compare on their own timer, so the settle runs in full.
        if self.config.anti_entropy {
            Settle::Full
        } else {
            Settle::WhenQuietFor(2 * self.config.heartbeat_interval)
        }
    }

    fn quiet(&self) -> bool {
        self.control.quiet()
    }

    fn account(&self) -> Account {
        let counters = match serde_json::to_value(self.control.total_counters()) {
            Ok(Value::Object(fields)) => fields
                .into_iter()
                .filter_map(|(k, v)| v.as_u64().map(|v| (k, v)))
                .collect(),
            _ => Vec::new(),
        };
        let trace = trace::Trace::take(&self.control);
        Account {
            counters,
            messages: Some(trace::messages_json(&self.control.message_counts())),
            events: Events::lazy(move || trace.to_json()),
        }
    }
}

struct LeaderlessSession {
    client: Client,
    config: StoreConfig,
}

impl Session for LeaderlessSession {
    fn call<'a>(&'a self, coordinator: usize, request: Request<'a>) -> LocalFuture<'a, Reply> {
        Box::pin(async move {
            let (c, key) = (node(coordinator), request.key);
            // The final reads ask every replica (`all`); the workload runs at the configured
            // levels.
            let level = match request.phase {
                Phase::Final => Some(ConsistencyLevel::All),
                Phase::Workload => None,
            };
            let result = match request.kind {
                RequestKind::Get => self.client.get(c, key, level).await,
                RequestKind::Put(v) => self.client.put(c, key, v, level).await,
                RequestKind::Delete => self.client.delete(c, key, level).await,
                // Never sent (the runner refuses cas ops for a system without them); nothing
                // was sent to the store, so the op certainly did not take effect.
                RequestKind::Cas { .. } => {
                    return Reply {
                        outcome: Outcome::Fail {
                            reason: "the leaderless store does not support cas".into(),
                        },
                        coordinator,
                        extra: Vec::new(),
                    }
                }
            };
            let configured = match request.kind {
                RequestKind::Get => self.config.read,
                _ => self.config.write,
            };
            reply(result, level.unwrap_or(configured))
        })
    }

    fn local_copy<'a>(
        &'a self,
        n: usize,
        key: &'a str,
    ) -> LocalFuture<'a, Result<Value, Unreachable>> {
        Box::pin(async move {
            match self.client.try_local_cell(node(n), key).await {
                Ok(cell) => Ok(cell_json(&cell)),
                Err(e) => Err(Unreachable::new(e.to_string())),
            }
        })
    }
}

/// The boundary's reply for a store client's result: the consistency level it ran at, the
/// version it wrote or read and the replicas the coordinator asked.
fn reply(result: ClientResult, level: ConsistencyLevel) -> Reply {
    let outcome = match result.outcome {
        ClientOutcome::Ok { read } => Outcome::Ok { read },
        ClientOutcome::Fail { reason } => Outcome::Fail { reason },
        ClientOutcome::Info { reason } => Outcome::Info { reason },
    };
    let mut extra = vec![("cl".to_string(), json!(level.to_string()))];
    if let Some((ts, writer)) = result.timestamp {
        extra.push(("timestamp".into(), json!(ts)));
        extra.push(("writer".into(), json!(writer.0)));
    }
    if !result.replicas.is_empty() {
        let replicas: Vec<u16> = result.replicas.iter().map(|n| n.0).collect();
        extra.push(("replicas".into(), json!(replicas)));
    }
    Reply {
        outcome,
        coordinator: result.coordinator.index(),
        extra,
    }
}

/// A replica's cell as JSON: timestamp, writer and value (null for a tombstone).
fn cell_json(cell: &Option<store::Cell>) -> Value {
    match cell {
        None => Value::Null,
        Some(c) => json!({
            "timestamp": c.timestamp,
            "writer": c.writer.0,
            "value": c.value,
        }),
    }
}
