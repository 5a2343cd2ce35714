//! A system of a user's own, tested through the public boundary alone: a toy store where each
//! node keeps its own copy, answers writes at once and tells the other nodes 20 ms later (its
//! configuration's `gossip_ms`). It
//! reads its own copy, so a read through another node soon after a write is stale; each node
//! stamps writes with its own logical clock, so a later write can lose to an earlier one; and
//! with no retry, a partition during the gossip leaves the copies apart for good. Its
//! compare-and-set compares against the node's own copy, so two nodes can both swap from the
//! same value: not linearizable, and explore finds it.
//!
//! Nothing here names quorumlab's own store: the system is registered by name, and explore,
//! shrinking, replay and the checkers run it as they run the built-in ones.
//!
//! docs/own-system.md walks through this file: its code snippets are the regions between
//! `// docs:NAME` and `// docs:end` here, and `the_walkthrough_shows_this_files_code` fails
//! when the two differ.
// docs:use
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use quorumlab::check::Guarantee;
use quorumlab::history::OpKind;
use quorumlab_harness::case::Case;
use quorumlab_harness::explore::{explore, ExploreOptions, Outcome as Explored, Quiet};
use quorumlab_harness::scenario::{
    ClientPlan, Fault, FaultKind, PartitionShape, PlannedKind, PlannedOp, SystemConfig, SystemSpec,
};
use quorumlab_harness::strategy::{parse_fault_list, ScenarioShape};
use quorumlab_harness::system::{
    Account, Cluster, Env, Events, FaultChange, FaultClass, LocalFuture, Outcome, Reply, Request,
    RequestKind, Session, System, SystemError, Unreachable,
};
use quorumlab_harness::workload::WorkloadChoice;
use serde_json::{json, Value};
use turmoil::net::UdpSocket;
// docs:end

const PORT: u16 = 9000;
const NAME: &str = "gossip-cache";

/// The system: `nodes` nodes, each a turmoil host `g0`, `g1`, ...
struct GossipCache {
    nodes: usize,
    config: GossipConfig,
}

/// The configuration, as a scenario's `system.config` gives it.
#[derive(serde::Deserialize, Clone, Copy, Debug)]
#[serde(default, deny_unknown_fields)]
struct GossipConfig {
    /// How long a node waits before it tells the others of a write. Default 20.
    gossip_ms: u64,
}

impl Default for GossipConfig {
    fn default() -> GossipConfig {
        GossipConfig { gossip_ms: 20 }
    }
}

impl System for GossipCache {
    fn name(&self) -> &str {
        NAME
    }

    fn nodes(&self) -> usize {
        self.nodes
    }

    fn host_name(&self, node: usize) -> String {
        format!("g{node}")
    }

    fn honours(&self, fault: FaultClass) -> bool {
        // Partitions, pauses and crashes act on turmoil's hosts and links. The nodes read no
        // clock and have no network layer of their own, so skew, loss and latency would not act.
        matches!(
            fault,
            FaultClass::Partition | FaultClass::Pause | FaultClass::Crash
        )
    }

    // docs:supports-cas
    fn supports_cas(&self) -> bool {
        // It answers cas, atomically on one node: the search judges whether that is enough.
        true
    }
    // docs:end

    fn install(
        &self,
        sim: &mut turmoil::Sim<'_>,
        _env: &Env<'_>,
    ) -> Result<Rc<dyn Cluster>, SystemError> {
        let hosts: Vec<String> = (0..self.nodes).map(|i| self.host_name(i)).collect();
        let gossip = Duration::from_millis(self.config.gossip_ms);
        for (i, host) in hosts.iter().enumerate() {
            let peers = hosts.clone();
            sim.host(host.as_str(), move || node(i, peers.clone(), gossip));
        }
        Ok(Rc::new(Handle { hosts }))
    }
}

/// One node: a map from key to (version, value), served over UDP. Text messages:
/// `put <id> <key> <value>`, `get <id> <key>`, `cas <id> <key> <expect|-> <new>`, and
/// `set <key> <version> <writer> <value>` between nodes; replies
/// `ok <id> [<version> <writer> <value>|-|swapped|kept]`.
async fn node(me: usize, peers: Vec<String>, gossip_after: Duration) -> turmoil::Result {
    let socket =
        std::sync::Arc::new(UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?);
    let mut copies = Copies {
        me,
        data: BTreeMap::new(),
        clock: 0,
    };
    let mut buf = vec![0u8; 1024];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let words: Vec<&str> = text.split(' ').collect();
        match words.as_slice() {
            ["put", id, key, value] => {
                let Ok(value) = value.parse::<i64>() else {
                    continue;
                };
                let version = copies.write(key, value);
                socket.send_to(format!("ok {id}").as_bytes(), from).await?;
                gossip(&socket, &peers, me, key, version, gossip_after);
            }
            ["cas", id, key, expect, new] => {
                let Ok(new) = new.parse::<i64>() else {
                    continue;
                };
                // The compare reads this node's own copy, which may not have heard of a write
                // through another node yet: two nodes can both swap from the same value.
                let current = copies
                    .data
                    .get(*key)
                    .map_or("-".into(), |c| c.2.to_string());
                if current != *expect {
                    socket
                        .send_to(format!("ok {id} kept").as_bytes(), from)
                        .await?;
                    continue;
                }
                let version = copies.write(key, new);
                socket
                    .send_to(format!("ok {id} swapped").as_bytes(), from)
                    .await?;
                gossip(&socket, &peers, me, key, version, gossip_after);
            }
            ["set", key, clock_at, writer, value] => {
                let (Ok(c), Ok(w), Ok(v)) = (clock_at.parse(), writer.parse(), value.parse())
                else {
                    continue;
                };
                copies.clock = copies.clock.max(c);
                let slot = copies.data.entry(key.to_string()).or_insert((0, 0, 0));
                if (c, w) > (slot.0, slot.1) {
                    *slot = (c, w, v);
                }
            }
            ["get", id, key] => {
                let reply = match copies.data.get(*key) {
                    Some((c, w, v)) => format!("ok {id} {c} {w} {v}"),
                    None => format!("ok {id} -"),
                };
                socket.send_to(reply.as_bytes(), from).await?;
            }
            _ => {} // not a message of ours: dropped
        }
    }
}

/// A node's copies: key -> (version: the node's logical clock, writer node, value).
struct Copies {
    me: usize,
    data: BTreeMap<String, (u64, usize, i64)>,
    clock: u64,
}

impl Copies {
    /// Stores a write under the node's next version.
    fn write(&mut self, key: &str, value: i64) -> (u64, usize, i64) {
        self.clock += 1;
        let version = (self.clock, self.me, value);
        self.data.insert(key.to_string(), version);
        version
    }
}

/// Tells the other nodes of a write `after` it, once: a lost message is never retried.
fn gossip(
    socket: &std::sync::Arc<UdpSocket>,
    peers: &[String],
    me: usize,
    key: &str,
    version: (u64, usize, i64),
    after: Duration,
) {
    let (socket, peers, key) = (socket.clone(), peers.to_vec(), key.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        for (_, peer) in peers.iter().enumerate().filter(|(j, _)| *j != me) {
            let msg = format!("set {key} {} {} {}", version.0, version.1, version.2);
            let to = SocketAddr::new(turmoil::lookup(peer.as_str()), PORT);
            let _ = socket.send_to(msg.as_bytes(), to).await;
        }
    });
}

struct Handle {
    hosts: Vec<String>,
}

impl Cluster for Handle {
    fn session(&self) -> LocalFuture<'static, std::io::Result<Box<dyn Session>>> {
        let hosts = self.hosts.clone();
        Box::pin(async move {
            let socket = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
            Ok(Box::new(Client {
                socket,
                hosts,
                next: RefCell::new(0),
            }) as Box<dyn Session>)
        })
    }

    fn apply(&self, _change: FaultChange) {}

    fn replicas_of(&self, _key: &str) -> Vec<usize> {
        (0..self.hosts.len()).collect()
    }

    fn account(&self) -> Account {
        Account {
            counters: Vec::new(),
            messages: None,
            events: Events::none(),
        }
    }
}

struct Client {
    socket: UdpSocket,
    hosts: Vec<String>,
    next: RefCell<u64>,
}

impl Client {
    /// Sends `msg` (with a fresh id in place of `{id}`) and waits up to 100 ms for its reply.
    async fn ask(&self, node: usize, msg: &str) -> Option<Vec<String>> {
        let id = {
            let mut n = self.next.borrow_mut();
            *n += 1;
            *n
        };
        let to = SocketAddr::new(turmoil::lookup(self.hosts[node].as_str()), PORT);
        self.socket
            .send_to(msg.replace("{id}", &id.to_string()).as_bytes(), to)
            .await
            .ok()?;
        let mut buf = [0u8; 256];
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf))
                .await
                .ok()?
                .ok()?;
            let words: Vec<String> = String::from_utf8_lossy(&buf[..n])
                .split(' ')
                .map(String::from)
                .collect();
            if words.get(1) == Some(&id.to_string()) {
                return Some(words[2..].to_vec());
            }
        }
    }
}

impl Session for Client {
    fn call<'a>(&'a self, node: usize, request: Request<'a>) -> LocalFuture<'a, Reply> {
        Box::pin(async move {
            let msg = match request.kind {
                RequestKind::Get => format!("get {{id}} {}", request.key),
                RequestKind::Put(v) => format!("put {{id}} {} {v}", request.key),
                RequestKind::Cas { expect, new } => {
                    let expect = expect.map_or("-".to_string(), |v| v.to_string());
                    format!("cas {{id}} {} {expect} {new}", request.key)
                }
                RequestKind::Delete => {
                    let reason = "deletes are not supported".to_string();
                    return Reply {
                        outcome: Outcome::Fail { reason },
                        coordinator: node,
                        extra: Vec::new(),
                    };
                }
            };
            // docs:outcome
            let outcome = match (request.kind, self.ask(node, &msg).await) {
                // No answer: the write may have happened, or not.
                (_, None) => Outcome::Info {
                    reason: "no reply within 100 ms".into(),
                },
                // A cas is answered with whether it swapped, never with a plain ok.
                (RequestKind::Cas { .. }, Some(rest)) => Outcome::Cas {
                    swapped: rest.first().is_some_and(|w| w == "swapped"),
                },
                (_, Some(rest)) => Outcome::Ok {
                    read: rest.get(2).and_then(|v| v.parse().ok()),
                },
            };
            // docs:end
            Reply {
                outcome,
                coordinator: node,
                extra: Vec::new(),
            }
        })
    }

    fn local_copy<'a>(
        &'a self,
        node: usize,
        key: &'a str,
    ) -> LocalFuture<'a, Result<Value, Unreachable>> {
        Box::pin(async move {
            let rest = self
                .ask(node, &format!("get {{id}} {key}"))
                .await
                .ok_or_else(|| Unreachable::new("no reply within 100 ms"))?;
            let int = |i: usize| rest.get(i).and_then(|v| v.parse::<i64>().ok());
            Ok(match (int(0), int(1), int(2)) {
                (Some(t), Some(w), Some(v)) => json!({"timestamp": t, "writer": w, "value": v}),
                _ => Value::Null,
            })
        })
    }
}

fn register() {
    register_gossip_cache().expect("not a built-in name");
}

fn register_gossip_cache() -> Result<(), SystemError> {
    // docs:register
    quorumlab_harness::systems::register(NAME, |spec: &SystemSpec| {
        let config = match &spec.config {
            Value::Null => GossipConfig::default(),
            given => serde_json::from_value(given.clone())
                .map_err(|e| SystemError::new(NAME, format!("config: {e}")))?,
        };
        let system = GossipCache {
            nodes: spec.nodes,
            config,
        };
        Ok(Box::new(system) as Box<dyn System>)
    })?;
    // docs:end
    Ok(())
}

fn shape(faults: &str) -> ScenarioShape {
    // docs:shape
    let system = SystemConfig::Named(SystemSpec {
        name: NAME.into(),
        nodes: 3,
        config: json!({"gossip_ms": 20}),
    });
    let shape = ScenarioShape {
        clients: 4,
        ops: 24,
        keys: 1,
        think_ms: 5,
        get_percent: 60,
        put_percent: 40,
        ..ScenarioShape::for_system(system, &parse_fault_list(faults).expect("a fault list"))
    };
    // docs:end
    shape
}

fn search(faults: &str, expect: Guarantee) -> Explored {
    register();
    let options = ExploreOptions {
        workload: Default::default(),
        shape: shape(faults),
        expect: vec![expect],
        cases: 50,
        seed: 7,
        max_shrink_iters: 200,
    };
    explore(&options, &Quiet).expect("the runs finish")
}

#[test]
fn a_registered_system_runs_deterministically() {
    register();
    let s = quorumlab_harness::explore::generate(&shape("partition"), 3);
    let a = quorumlab_harness::runner::run(&s).unwrap().history;
    let b = quorumlab_harness::runner::run(&s).unwrap().history;
    assert_eq!(a.to_json_string(), b.to_json_string());
    let text = a.to_json_string();
    assert!(text.contains("\"system\""), "the scenario names its system");
    assert!(!a.ops.is_empty());
}

#[test]
fn explore_finds_and_shrinks_the_stale_read() {
    let Explored::Found { case, .. } = search("none", Guarantee::NoStaleReads) else {
        panic!("a read through another node within 20 ms of a write is stale");
    };
    assert!(case.judgement.violated().contains(&Guarantee::NoStaleReads));
    // A write and a read through another node are the whole story.
    assert!(
        case.scenario.op_count() <= 4,
        "{}",
        case.scenario.op_count()
    );
    // The saved case replays byte for byte, like any other.
    let again = Case::run(&case.scenario, &case.expect).unwrap();
    assert_eq!(again.to_file_string(), case.to_file_string());
}

#[test]
fn explore_finds_the_lost_write_of_per_node_clocks() {
    // Each node stamps writes with its own logical clock: a write through a node that has not
    // heard of an earlier write can carry a smaller version and lose to it, acknowledged.
    let Explored::Found { case, .. } = search("none", Guarantee::Convergence) else {
        panic!("a later write through another node can lose to an earlier one");
    };
    let finding = &case.judgement.findings[&Guarantee::Convergence];
    let sentence = finding.sentence.as_deref().unwrap_or_default();
    assert!(sentence.contains("was lost"), "{sentence}");
    assert!(
        case.scenario.op_count() <= 3,
        "{}",
        case.scenario.op_count()
    );
}

#[test]
fn a_partition_during_gossip_leaves_the_copies_apart() {
    register();
    // One write through node 0 while it is cut off: its gossip is lost and never retried. (The
    // runner heals every fault once the workload ends, so a later read keeps it running.)
    let mut s = quorumlab_harness::explore::generate(&shape("none"), 1);
    s.clients = vec![ClientPlan {
        sticky: None,
        ops: vec![
            PlannedOp {
                kind: PlannedKind::Put,
                key: 0,
                coordinator: 0,
                at_ms: 10,
                value: None,
            },
            PlannedOp {
                kind: PlannedKind::Get,
                key: 0,
                coordinator: 1,
                at_ms: 250,
                value: None,
            },
        ],
    }];
    s.faults = vec![Fault::at(
        0,
        FaultKind::Partition {
            shape: PartitionShape::Isolate { node: 0 },
            duration_ms: 200,
        },
    )];
    let out = quorumlab_harness::runner::run(&s).unwrap();
    let judged = quorumlab_harness::verdict::judge(&out.history, &[Guarantee::Convergence]);
    let finding = &judged.findings[&Guarantee::Convergence];
    assert_eq!(finding.held, Some(false));
    let sentence = finding.sentence.as_deref().unwrap_or_default();
    assert!(sentence.contains("disagree"), "{sentence}");
}

#[test]
fn faults_the_system_does_not_honour_are_refused() {
    register();
    let s = quorumlab_harness::explore::generate(&shape("skew"), 1);
    assert!(!s.faults.is_empty());
    let err = quorumlab_harness::runner::run(&s).unwrap_err().to_string();
    assert!(err.contains("does not honour skew faults"), "{err}");
}

#[test]
fn an_unknown_system_is_named() {
    let mut s = quorumlab_harness::explore::generate(&shape("none"), 1);
    if let SystemConfig::Named(spec) = &mut s.system {
        spec.name = "no-such-store".into();
    }
    let err = quorumlab_harness::runner::run(&s).unwrap_err().to_string();
    assert!(
        err.contains("no-such-store") && err.contains("no such system"),
        "{err}"
    );
}

#[test]
fn explore_finds_a_cas_judged_against_a_stale_copy() {
    register();
    // Puts and cas only, no reads in the workload: what breaks is a cas whose answer no order
    // of the ops explains.
    // docs:explore
    let options = ExploreOptions {
        shape: ScenarioShape {
            get_percent: 0,
            put_percent: 100,
            cas_percent: 60,
            ..shape("none")
        },
        workload: WorkloadChoice::Flags,
        expect: vec![Guarantee::Linearizable],
        cases: 50,
        seed: 7,
        max_shrink_iters: 300,
    };
    let Explored::Found { case, .. } = explore(&options, &Quiet).expect("the runs finish") else {
        panic!("a node compares against its own copy, which a write elsewhere has not reached");
    };
    // The shrunk case replays byte for byte, as every saved case does.
    let again = Case::run(&case.scenario, &case.expect).expect("it runs");
    assert_eq!(again.to_file_string(), case.to_file_string());
    // docs:end
    // The witness is a cas, and the story is a write and a cas through another node.
    let witness = &case.judgement.findings[&Guarantee::Linearizable].witness;
    let op = witness.as_ref().and_then(|w| w["op"].as_u64()).unwrap();
    let op = case.history.ops.iter().find(|o| o.id == op).unwrap();
    assert_eq!(op.kind, OpKind::Cas, "{}", case.to_file_string());
    assert!(case.scenario.op_count() <= 3, "{}", case.to_file_string());
}

#[test]
fn a_bad_configuration_is_refused_naming_the_system() {
    register();
    let mut s = quorumlab_harness::explore::generate(&shape("none"), 1);
    if let SystemConfig::Named(spec) = &mut s.system {
        spec.config = json!({"gossip": 20});
    }
    let err = quorumlab_harness::runner::run(&s).unwrap_err().to_string();
    assert!(
        err.starts_with("system gossip-cache: config: unknown field `gossip`"),
        "{err}"
    );
}

/// The regions of this file between `// docs:NAME` and `// docs:end`, by name, each with the
/// indentation of its first line taken off every line.
fn regions(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in source.lines() {
        let marker = line.trim();
        if marker == "// docs:end" {
            let (name, lines) = open.take().expect("a docs:end closes a docs:NAME");
            out.push((name, dedent(&lines)));
        } else if let Some(name) = marker.strip_prefix("// docs:") {
            assert!(open.is_none(), "docs:{name} opens inside another region");
            open = Some((name.to_string(), Vec::new()));
        } else if let Some((_, lines)) = &mut open {
            lines.push(line);
        }
    }
    assert!(open.is_none(), "a region is never closed");
    out
}

fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let body: Vec<&str> = lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect();
    body.join("\n")
}

/// The walkthrough's Rust snippets, by the region each names in the comment above it:
/// `<!-- harness/tests/own_system.rs: NAME -->`.
fn snippets(doc: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```rust" {
            i += 1;
            continue;
        }
        let above = (0..i)
            .rev()
            .map(|j| lines[j].trim())
            .find(|l| !l.is_empty());
        let name = above
            .and_then(|l| l.strip_prefix("<!-- harness/tests/own_system.rs: "))
            .and_then(|l| l.strip_suffix(" -->"))
            .unwrap_or_else(|| panic!("line {}: a Rust snippet names no region", i + 1));
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim() == "```")
            .expect("the snippet is closed");
        out.push((name.to_string(), dedent(&lines[i + 1..end])));
        i = end + 1;
    }
    out
}

/// Every Rust snippet of docs/own-system.md is a region of this file, as it is here, so the
/// walkthrough shows code that compiles and runs; and every region is shown.
#[test]
fn the_walkthrough_shows_this_files_code() {
    let source = include_str!("own_system.rs");
    let doc = include_str!("../../docs/own-system.md");
    let regions = regions(source);
    let snippets = snippets(doc);
    for (name, code) in &snippets {
        let region = regions.iter().find(|(n, _)| n == name);
        let Some((_, region)) = region else {
            panic!("docs/own-system.md shows region {name}, which own_system.rs does not mark");
        };
        assert_eq!(
            code, region,
            "docs/own-system.md's snippet {name} differs from the region in \
             harness/tests/own_system.rs: copy the region into the doc"
        );
    }
    for (name, _) in &regions {
        assert!(
            snippets.iter().any(|(n, _)| n == name),
            "region {name} is marked in own_system.rs but docs/own-system.md does not show it"
        );
    }
}
