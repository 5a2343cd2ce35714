//! Whole-store behaviour in the simulator: each test builds a turmoil simulation, installs the
//! store, and drives it from a client host (faults through turmoil's API). Everything is seeded,
//! so a failure replays exactly with the same test.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use quorumlab::store::client::{Client, ClientOutcome};
use quorumlab::store::EventKind;
use quorumlab::store::{
    self, node_host_name, ClusterControl, ConsistencyLevel, FsyncPolicy, NodeId, ReadRepair, Ring,
    StoreConfig,
};

const SEED: u64 = 7;

/// A fault the client asks the test loop to apply (crash and bounce need `&mut Sim`).
enum Ctl {
    Crash(NodeId),
    Bounce(NodeId),
}

type Ctls = Rc<RefCell<Vec<Ctl>>>;

fn build() -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(5))
        .udp_capacity(4096)
        .simulation_duration(Duration::from_secs(120))
        .rng_seed(SEED)
        .build()
}

/// Runs the simulation to the clients' end, applying the faults they request.
fn drive(sim: &mut turmoil::Sim<'_>, ctls: &Ctls) {
    loop {
        let done = sim.step().expect("simulation step");
        for c in ctls.borrow_mut().drain(..) {
            match c {
                Ctl::Crash(n) => sim.crash(node_host_name(n)),
                Ctl::Bounce(n) => sim.bounce(node_host_name(n)),
            }
        }
        if done {
            return;
        }
    }
}

/// A key whose replicas do not include `not`, and its replicas.
fn key_avoiding(config: &StoreConfig, not: NodeId) -> (String, Vec<NodeId>) {
    let ring = Ring::new(config.nodes, config.vnodes, SEED);
    (0..)
        .map(|i| format!("key{i}"))
        .map(|k| {
            let r = ring.replicas(&k, config.rf);
            (k, r)
        })
        .find(|(_, r)| !r.contains(&not))
        .expect("some key avoids the node")
}

fn isolate_from_nodes(config: &StoreConfig, victim: NodeId) {
    for i in 0..config.nodes {
        let n = NodeId(i as u16);
        if n != victim {
            turmoil::partition(node_host_name(victim), node_host_name(n));
        }
    }
}

fn heal_nodes(config: &StoreConfig, victim: NodeId) {
    for i in 0..config.nodes {
        let n = NodeId(i as u16);
        if n != victim {
            turmoil::repair(node_host_name(victim), node_host_name(n));
        }
    }
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[test]
fn put_then_get_at_all_all() {
    let config = StoreConfig {
        read: ConsistencyLevel::All,
        write: ConsistencyLevel::All,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let c = config.clone();
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        let w = client.put(NodeId(0), "alpha", 41, None).await;
        assert_eq!(w.outcome, ClientOutcome::Ok { read: None }, "{w:?}");
        assert_eq!(w.replicas.len(), 3);
        assert_eq!(w.replicas, client.replicas_of("alpha", SEED));
        let (ts, writer) = w.timestamp.expect("a write reports its timestamp");
        assert_eq!(writer, NodeId(0));
        let r = client.get(NodeId(3), "alpha", None).await;
        assert_eq!(r.outcome, ClientOutcome::Ok { read: Some(41) }, "{r:?}");
        assert_eq!(r.timestamp, Some((ts, NodeId(0))));
        let d = client.delete(NodeId(2), "alpha", None).await;
        assert_eq!(d.outcome, ClientOutcome::Ok { read: None });
        assert!(d.timestamp.unwrap().0 > ts || d.timestamp.unwrap().1 != NodeId(0));
        let r = client.get(NodeId(4), "alpha", None).await;
        assert_eq!(r.outcome, ClientOutcome::Ok { read: None });
        let missing = client.get(NodeId(1), "never-written", None).await;
        assert_eq!(missing.outcome, ClientOutcome::Ok { read: None });
        assert_eq!(missing.timestamp, None);
        // A level above RF is refused before anything is sent.
        let bad = client
            .get(NodeId(1), "alpha", Some(ConsistencyLevel::Count(4)))
            .await;
        assert!(matches!(bad.outcome, ClientOutcome::Fail { .. }), "{bad:?}");
        let long = client.put(NodeId(1), &"x".repeat(5000), 1, None).await;
        assert!(
            matches!(long.outcome, ClientOutcome::Fail { .. }),
            "{long:?}"
        );
        let nowhere = client.get(NodeId(9), "alpha", None).await;
        assert!(
            matches!(nowhere.outcome, ClientOutcome::Fail { .. }),
            "{nowhere:?}"
        );
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    let t = control.total_counters();
    assert_eq!(t.malformed_dropped, 0);
    assert_eq!(t.timeouts, 0);
    assert!(t.client_requests >= 5);
}

#[test]
fn unavailable_under_a_partition_sends_nothing() {
    let config = StoreConfig::default();
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let coordinator = NodeId(0);
    let (key, replicas) = key_avoiding(&config, coordinator);
    let c = config.clone();
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        for r in &replicas[..2] {
            turmoil::partition(node_host_name(coordinator), node_host_name(*r));
        }
        // Let the coordinator's failure detector notice.
        sleep_ms(1500).await;
        let w = client.put(coordinator, &key, 5, None).await;
        let ClientOutcome::Fail { reason } = &w.outcome else {
            panic!("expected unavailable, got {w:?}");
        };
        assert!(reason.contains("unavailable"), "{reason}");
        assert!(w.replicas.is_empty());
        // Nothing was sent: the reachable replica holds nothing either.
        sleep_ms(100).await;
        assert_eq!(client.local_cell(replicas[2], &key).await, None);
        let r = client.get(coordinator, &key, None).await;
        assert!(matches!(r.outcome, ClientOutcome::Fail { .. }), "{r:?}");
        // One is still served by the reachable replica.
        let one = client
            .put(coordinator, &key, 6, Some(ConsistencyLevel::One))
            .await;
        assert_eq!(one.outcome, ClientOutcome::Ok { read: None }, "{one:?}");
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    assert_eq!(control.counters(NodeId(0)).unavailable, 2);
}

#[test]
fn a_write_that_times_out_is_later_visible() {
    let config = StoreConfig {
        hints: false,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let coordinator = NodeId(0);
    let (key, replicas) = key_avoiding(&config, coordinator);
    let c = config.clone();
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        sleep_ms(200).await;
        // Held links deliver nothing until released: the detector still sees the replicas up,
        // the coordinator sends, and only one replica acks in time.
        for r in &replicas[..2] {
            turmoil::hold(node_host_name(coordinator), node_host_name(*r));
        }
        let w = client.put(coordinator, &key, 9, None).await;
        let ClientOutcome::Info { reason } = &w.outcome else {
            panic!("expected a timeout, got {w:?}");
        };
        assert!(reason.contains("timeout"), "{reason}");
        assert_eq!(w.replicas.len(), 3);
        for r in &replicas[..2] {
            turmoil::release(node_host_name(coordinator), node_host_name(*r));
        }
        sleep_ms(100).await;
        let r = client
            .get(NodeId(4), &key, Some(ConsistencyLevel::All))
            .await;
        assert_eq!(r.outcome, ClientOutcome::Ok { read: Some(9) }, "{r:?}");
        for n in &replicas {
            assert_eq!(
                client.local_cell(*n, &key).await.and_then(|c| c.value),
                Some(9)
            );
        }
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    assert_eq!(control.counters(NodeId(0)).timeouts, 1);
}

/// Writes one value through a replica at `all`, crashes that replica `after_ms` later, restarts
/// it and returns what it holds for the key afterwards.
fn crash_after_write(fsync: FsyncPolicy, after_ms: u64) -> Option<i64> {
    let config = StoreConfig {
        fsync,
        hints: false,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let (key, replicas) = key_avoiding(&config, NodeId(0));
    let victim = replicas[0];
    let ctls: Ctls = Rc::default();
    let out = Rc::new(RefCell::new(None));
    let (c, ctl, o) = (config.clone(), ctls.clone(), out.clone());
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        sleep_ms(100).await;
        let w = client
            .put(NodeId(0), &key, 77, Some(ConsistencyLevel::All))
            .await;
        assert_eq!(w.outcome, ClientOutcome::Ok { read: None }, "{w:?}");
        sleep_ms(after_ms).await;
        ctl.borrow_mut().push(Ctl::Crash(victim));
        sleep_ms(50).await;
        ctl.borrow_mut().push(Ctl::Bounce(victim));
        sleep_ms(50).await;
        let cell = client
            .try_local_cell(victim, &key)
            .await
            .expect("restarted node answers");
        *o.borrow_mut() = Some(cell.and_then(|c| c.value));
        Ok(())
    });
    drive(&mut sim, &ctls);
    assert_eq!(control.counters(victim).starts, 2);
    let got = out.borrow_mut().take();
    got.expect("client finished")
}

#[test]
fn crash_keeps_synced_writes_and_loses_unsynced_ones() {
    assert_eq!(crash_after_write(FsyncPolicy::Always, 0), Some(77));
    assert_eq!(crash_after_write(FsyncPolicy::Never, 200), None);
    let periodic = FsyncPolicy::Periodic {
        period: Duration::from_millis(10),
    };
    // Periodic: a write survives once a sync has passed.
    assert_eq!(crash_after_write(periodic, 100), Some(77));
}

#[test]
fn restarted_node_never_reissues_a_smaller_timestamp() {
    let config = StoreConfig {
        fsync: FsyncPolicy::Never,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let ctls: Ctls = Rc::default();
    let (c, ctl, ctrl) = (config.clone(), ctls.clone(), control.clone());
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        // Node 1's clock runs 5 s ahead, then is set back after a crash.
        ctrl.set_clock_offset(NodeId(1), 5_000_000);
        sleep_ms(100).await;
        let first = client.put(NodeId(1), "t", 1, None).await;
        let (ts1, _) = first.timestamp.expect("ok write");
        ctl.borrow_mut().push(Ctl::Crash(NodeId(1)));
        ctrl.set_clock_offset(NodeId(1), 0);
        sleep_ms(20).await;
        ctl.borrow_mut().push(Ctl::Bounce(NodeId(1)));
        sleep_ms(50).await;
        let second = client.put(NodeId(1), "t", 2, None).await;
        let (ts2, _) = second.timestamp.expect("ok write");
        assert!(ts2 > ts1, "{ts2} <= {ts1}");
        // With the clock back in step, a restart does not push timestamps ahead of it.
        ctl.borrow_mut().push(Ctl::Crash(NodeId(1)));
        sleep_ms(20).await;
        ctl.borrow_mut().push(Ctl::Bounce(NodeId(1)));
        sleep_ms(6000).await;
        let third = client.put(NodeId(1), "t", 3, None).await;
        let (ts3, _) = third.timestamp.expect("ok write");
        let sim_now = turmoil::sim_elapsed().unwrap().as_micros() as u64;
        assert!(ts3 > ts2 && ts3 <= sim_now, "{ts3} vs clock {sim_now}");
        let r = client
            .get(NodeId(2), "t", Some(ConsistencyLevel::All))
            .await;
        assert_eq!(r.outcome, ClientOutcome::Ok { read: Some(3) });
        Ok(())
    });
    drive(&mut sim, &ctls);
}

#[test]
fn hints_are_replayed_after_a_partition_heals() {
    let config = StoreConfig {
        read_repair: ReadRepair::None,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let (key, replicas) = key_avoiding(&config, NodeId(4));
    let victim = replicas[2];
    let c = config.clone();
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        isolate_from_nodes(&c, victim);
        sleep_ms(1500).await;
        let w = client.put(replicas[0], &key, 3, None).await;
        assert_eq!(w.outcome, ClientOutcome::Ok { read: None }, "{w:?}");
        assert_eq!(client.local_cell(victim, &key).await, None);
        heal_nodes(&c, victim);
        sleep_ms(1000).await;
        let cell = client
            .local_cell(victim, &key)
            .await
            .expect("hint delivered");
        assert_eq!(cell.value, Some(3));
        assert_eq!(
            Some((cell.timestamp, cell.writer)),
            w.timestamp,
            "original timestamp"
        );
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    let t = control.total_counters();
    assert_eq!(t.hints_stored, 1);
    assert_eq!(t.hints_replayed, 1);
}

#[test]
fn no_hints_for_a_replica_down_longer_than_the_hint_window() {
    let config = StoreConfig {
        read_repair: ReadRepair::None,
        hint_window: Duration::from_millis(300),
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let (key, replicas) = key_avoiding(&config, NodeId(4));
    let victim = replicas[2];
    let c = config.clone();
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        isolate_from_nodes(&c, victim);
        sleep_ms(2000).await;
        let w = client.put(replicas[0], &key, 3, None).await;
        assert_eq!(w.outcome, ClientOutcome::Ok { read: None }, "{w:?}");
        heal_nodes(&c, victim);
        sleep_ms(1000).await;
        assert_eq!(
            client.local_cell(victim, &key).await,
            None,
            "no hint, no delivery"
        );
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    let t = control.total_counters();
    assert_eq!(t.hints_stored, 0);
    assert_eq!(t.hints_skipped, 1);
}

/// Makes `replicas[2]` of a key miss a write, heals, reads at `all` through `n4`, and returns
/// that replica's value right after the read answered, and whether the repair reached it
/// before the coordinator answered (from the event trace).
fn stale_replica_after_read(read_repair: ReadRepair) -> (Option<i64>, bool, ClusterControl) {
    let config = StoreConfig {
        read_repair,
        hints: false,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let (key, replicas) = key_avoiding(&config, NodeId(4));
    let behind = replicas[2];
    let out = Rc::new(RefCell::new(None));
    let (c, o, k) = (config.clone(), out.clone(), key.clone());
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        isolate_from_nodes(&c, behind);
        sleep_ms(100).await;
        let w = client.put(replicas[0], &k, 12, None).await;
        assert_eq!(w.outcome, ClientOutcome::Ok { read: None }, "{w:?}");
        heal_nodes(&c, behind);
        sleep_ms(1500).await;
        assert_eq!(
            client.local_cell(behind, &k).await,
            None,
            "missed the write"
        );
        let r = client.get(NodeId(4), &k, Some(ConsistencyLevel::All)).await;
        assert_eq!(r.outcome, ClientOutcome::Ok { read: Some(12) }, "{r:?}");
        *o.borrow_mut() = Some(client.local_cell(behind, &k).await.and_then(|c| c.value));
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    let got = out.borrow_mut().take().expect("client finished");
    let trace = control.trace();
    let applied = trace.iter().position(|e| {
        e.node == behind && matches!(&e.kind, EventKind::Applied { key: k, .. } if *k == key)
    });
    let answered = trace
        .iter()
        .rposition(|e| e.node == NodeId(4) && matches!(e.kind, EventKind::Replied { .. }))
        .expect("the read was answered");
    (got, applied.is_some_and(|a| a < answered), control)
}

#[test]
fn blocking_read_repair_brings_contacted_replicas_up_to_date() {
    let (value, before_answer, control) = stale_replica_after_read(ReadRepair::Blocking);
    assert_eq!(value, Some(12));
    assert!(before_answer, "blocking repair completes before the answer");
    assert_eq!(control.total_counters().read_repairs, 1);
    let (value, before_answer, control) = stale_replica_after_read(ReadRepair::Async);
    assert_eq!(value, Some(12), "async repair lands too, after the answer");
    assert!(!before_answer);
    assert_eq!(control.total_counters().read_repairs, 1);
    let (value, _, control) = stale_replica_after_read(ReadRepair::None);
    assert_eq!(value, None, "without repair the replica stays behind");
    assert_eq!(control.total_counters().read_repairs, 0);
}

#[test]
fn anti_entropy_converges_every_replica_after_a_heal() {
    let config = StoreConfig {
        anti_entropy: true,
        anti_entropy_interval: Duration::from_millis(200),
        hints: false,
        read_repair: ReadRepair::None,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let c = config.clone();
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        let victim = NodeId(2);
        isolate_from_nodes(&c, victim);
        sleep_ms(1500).await;
        let keys: Vec<String> = (0..20).map(|i| format!("ae{i}")).collect();
        for (i, k) in keys.iter().enumerate() {
            let w = client
                .put(NodeId(0), k, i as i64, Some(ConsistencyLevel::One))
                .await;
            assert_eq!(w.outcome, ClientOutcome::Ok { read: None }, "{w:?}");
        }
        heal_nodes(&c, victim);
        sleep_ms(4000).await;
        for (i, k) in keys.iter().enumerate() {
            for r in client.replicas_of(k, SEED) {
                let cell = client.local_cell(r, k).await;
                assert_eq!(cell.and_then(|c| c.value), Some(i as i64), "{k} on {r}");
            }
        }
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    let t = control.total_counters();
    assert!(t.anti_entropy_rounds > 0);
    assert!(t.anti_entropy_cells > 0);
}

/// Writes, makes one replica miss the delete, waits `wait_ms`, heals, lets anti-entropy run,
/// and returns what a read at `all` sees.
fn read_after_missed_delete(grace: Duration) -> Option<i64> {
    let config = StoreConfig {
        anti_entropy: true,
        anti_entropy_interval: Duration::from_millis(200),
        hints: false,
        read_repair: ReadRepair::None,
        tombstone_grace: grace,
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let (key, replicas) = key_avoiding(&config, NodeId(4));
    let missed = replicas[2];
    let out = Rc::new(RefCell::new(None));
    let (c, o) = (config.clone(), out.clone());
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        let w = client
            .put(NodeId(4), &key, 1, Some(ConsistencyLevel::All))
            .await;
        assert_eq!(w.outcome, ClientOutcome::Ok { read: None }, "{w:?}");
        isolate_from_nodes(&c, missed);
        sleep_ms(1500).await;
        let d = client.delete(NodeId(4), &key, None).await;
        assert_eq!(d.outcome, ClientOutcome::Ok { read: None }, "{d:?}");
        sleep_ms(1500).await;
        heal_nodes(&c, missed);
        sleep_ms(3000).await;
        let r = client
            .get(NodeId(4), &key, Some(ConsistencyLevel::All))
            .await;
        let ClientOutcome::Ok { read } = r.outcome else {
            panic!("read failed: {r:?}");
        };
        *o.borrow_mut() = Some(read);
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    let got = out.borrow_mut().take().expect("client finished");
    got
}

#[test]
fn a_shortened_tombstone_grace_resurrects_a_deleted_value() {
    // Grace longer than the partition: anti-entropy carries the tombstone to the replica that
    // missed it, and the delete holds.
    assert_eq!(read_after_missed_delete(Duration::from_secs(60)), None);
    // Grace shorter than the partition: the tombstones are gone before the heal, and the
    // replica that missed the delete spreads the old value back.
    assert_eq!(
        read_after_missed_delete(Duration::from_millis(500)),
        Some(1)
    );
}

#[test]
fn malformed_datagrams_are_counted_and_dropped() {
    let config = StoreConfig::default();
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let c = config.clone();
    sim.client("c0", async move {
        let sock = turmoil::net::UdpSocket::bind("0.0.0.0:0").await?;
        let to = (turmoil::lookup("n1"), store::STORE_PORT);
        sock.send_to(b"", to).await?;
        sock.send_to(&[1, 200, 3], to).await?;
        sock.send_to(&[9; 40], to).await?;
        // Well formed, but a replica message from a host that is not a node.
        let bogus = store::message::Message::WriteAck { req: 1 }.encode();
        sock.send_to(&bogus, to).await?;
        sleep_ms(50).await;
        let client = Client::bind(&c).await?;
        let w = client.put(NodeId(1), "still-works", 1, None).await;
        assert_eq!(w.outcome, ClientOutcome::Ok { read: None });
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    let n1 = control.counters(NodeId(1));
    assert_eq!(n1.malformed_dropped, 3);
    assert_eq!(n1.unexpected_dropped, 1);
}

#[test]
fn invalid_config_is_refused_by_install() {
    let config = StoreConfig {
        rf: 7,
        ..StoreConfig::default()
    };
    let mut sim = build();
    let err = store::install(&mut sim, &config, SEED, &ClusterControl::new(5)).unwrap_err();
    assert!(err.to_string().contains("rf"), "{err}");
}

#[test]
fn a_client_cut_off_from_its_coordinator_gets_info_not_a_hang() {
    let config = StoreConfig::default();
    let control = ClusterControl::new(config.nodes);
    let mut sim = build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let c = config.clone();
    sim.client("c0", async move {
        let client = Client::bind(&c).await?;
        turmoil::partition("c0", node_host_name(NodeId(2)));
        let started = tokio::time::Instant::now();
        let r = client.put(NodeId(2), "cut", 1, None).await;
        let ClientOutcome::Info { reason } = &r.outcome else {
            panic!("expected info, got {r:?}");
        };
        assert!(reason.contains("client timeout"), "{reason}");
        assert_eq!(started.elapsed(), c.client_timeout());
        turmoil::repair("c0", node_host_name(NodeId(2)));
        let r = client.put(NodeId(2), "cut", 2, None).await;
        assert_eq!(r.outcome, ClientOutcome::Ok { read: None }, "{r:?}");
        Ok(())
    });
    drive(&mut sim, &Rc::default());
}

#[test]
fn every_operation_completes_under_flapping_links_and_replicas_converge() {
    let config = StoreConfig {
        anti_entropy: true,
        anti_entropy_interval: Duration::from_millis(200),
        ..StoreConfig::default()
    };
    let control = ClusterControl::new(config.nodes);
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(10))
        .fail_rate(0.05)
        .repair_rate(0.3)
        .udp_capacity(4096)
        .simulation_duration(Duration::from_secs(120))
        .rng_seed(SEED)
        .build();
    store::install(&mut sim, &config, SEED, &control).unwrap();
    let done = Rc::new(RefCell::new((0, 0)));
    for id in 0..3u16 {
        let (c, done) = (config.clone(), done.clone());
        sim.client(format!("c{id}"), async move {
            let client = Client::bind(&c).await?;
            for i in 0..30i64 {
                let key = format!("flap{}", i % 5);
                let node = NodeId((i as u16 + id) % 5);
                let r = if i % 3 == 0 {
                    client.get(node, &key, None).await
                } else {
                    client.put(node, &key, i64::from(id) * 100 + i, None).await
                };
                let mut d = done.borrow_mut();
                d.0 += 1;
                if matches!(r.outcome, ClientOutcome::Ok { .. }) {
                    d.1 += 1;
                }
            }
            Ok(())
        });
    }
    drive(&mut sim, &Rc::default());
    let (completed, ok) = *done.borrow();
    assert_eq!(completed, 90, "every operation returned");
    assert!(ok > 0, "some operations succeed despite the flapping");
    // Heal everything and let anti-entropy and hints finish: every replica agrees.
    let c = config.clone();
    sim.set_fail_rate(0.0);
    sim.client("check", async move {
        for a in 0..c.nodes {
            for b in 0..c.nodes {
                if a != b {
                    turmoil::repair(
                        node_host_name(NodeId(a as u16)),
                        node_host_name(NodeId(b as u16)),
                    );
                }
            }
        }
        sleep_ms(5000).await;
        let client = Client::bind(&c).await?;
        for k in 0..5 {
            let key = format!("flap{k}");
            let mut cells = Vec::new();
            for r in client.replicas_of(&key, SEED) {
                cells.push(client.try_local_cell(r, &key).await.expect("reachable"));
            }
            assert!(cells.windows(2).all(|w| w[0] == w[1]), "{key}: {cells:?}");
        }
        Ok(())
    });
    drive(&mut sim, &Rc::default());
    assert_eq!(control.total_counters().malformed_dropped, 0);
}
