//! Store throughput: simulated client operations per wall-clock second for 5 nodes and 64
//! concurrent clients running a mixed workload, beside a bare turmoil UDP echo server measured
//! in the same run with the same tick and latency settings.
//!
//! Run: `cargo bench --bench store_throughput` (release profile). Optional arguments:
//! `--sim-secs <n>` (simulated seconds per measurement, default 10), `--clients <n>`
//! (default 64), `--tick-ms <n>` and `--latency-ms <n>` (default 1 and 1).

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use quorumlab::store::client::{Client, ClientOutcome};
use quorumlab::store::{self, ClusterControl, NodeId, StoreConfig};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use turmoil::net::UdpSocket;

/// Tick and link latency, shared by both measurements.
#[derive(Clone, Copy)]
struct Net {
    tick: Duration,
    latency: Duration,
}

fn builder(net: Net, sim_secs: u64) -> turmoil::Builder {
    let mut b = turmoil::Builder::new();
    b.tick_duration(net.tick)
        .min_message_latency(net.latency)
        .max_message_latency(net.latency)
        .udp_capacity(8192)
        .simulation_duration(Duration::from_secs(sim_secs + 30))
        .rng_seed(1);
    b
}

fn sim_now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// Runs the simulation to the end and returns wall seconds.
fn run(mut sim: turmoil::Sim<'_>) -> f64 {
    let start = Instant::now();
    sim.run().expect("simulation");
    start.elapsed().as_secs_f64()
}

struct Measure {
    ops: u64,
    wall: f64,
}

fn echo(net: Net, clients: usize, sim_secs: u64) -> Measure {
    let mut sim = builder(net, sim_secs).build();
    sim.host("echo", || async {
        let sock =
            UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9000)).await?;
        let mut buf = [0u8; 512];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await?;
            let _ = sock.try_send_to(&buf[..n], from);
        }
    });
    let done = Rc::new(Cell::new(0u64));
    let end = Duration::from_secs(sim_secs);
    for c in 0..clients {
        let done = done.clone();
        sim.client(format!("c{c}"), async move {
            let sock =
                UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
            let to = SocketAddr::new(turmoil::lookup("echo"), 9000);
            let mut buf = [0u8; 512];
            let mut req = 0u64;
            while sim_now() < end {
                req += 1;
                sock.send_to(&req.to_le_bytes(), to).await?;
                let reply =
                    tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf))
                        .await;
                if let Ok(Ok((8, _))) = reply {
                    if buf[..8] == req.to_le_bytes() {
                        done.set(done.get() + 1);
                    }
                }
            }
            Ok(())
        });
    }
    let wall = run(sim);
    Measure {
        ops: done.get(),
        wall,
    }
}

fn store_mixed(net: Net, clients: usize, sim_secs: u64) -> (Measure, u64) {
    let config = StoreConfig::default();
    let control = ClusterControl::without_trace(config.nodes);
    let mut sim = builder(net, sim_secs).build();
    store::install(&mut sim, &config, 1, &control).expect("valid config");
    let done = Rc::new(Cell::new(0u64));
    let not_ok = Rc::new(Cell::new(0u64));
    let end = Duration::from_secs(sim_secs);
    for c in 0..clients {
        let (done, not_ok, cfg) = (done.clone(), not_ok.clone(), config.clone());
        sim.client(format!("c{c}"), async move {
            let client = Client::bind(&cfg).await?;
            let mut rng = ChaCha8Rng::seed_from_u64(c as u64);
            let mut value = (c as i64) << 32;
            while sim_now() < end {
                let key = format!("key{}", rng.next_u32() % 1000);
                let node = NodeId((rng.next_u32() % cfg.nodes as u32) as u16);
                let r = match rng.next_u32() % 10 {
                    0..=4 => client.get(node, &key, None).await,
                    5..=8 => {
                        value += 1;
                        client.put(node, &key, value, None).await
                    }
                    _ => client.delete(node, &key, None).await,
                };
                done.set(done.get() + 1);
                if !matches!(r.outcome, ClientOutcome::Ok { .. }) {
                    not_ok.set(not_ok.get() + 1);
                }
            }
            Ok(())
        });
    }
    let wall = run(sim);
    (
        Measure {
            ops: done.get(),
            wall,
        },
        not_ok.get(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    // `cargo bench` passes `--bench`; a `cargo test` run of the benches passes nothing and
    // gets a short smoke run.
    let bench = args.iter().any(|a| a == "--bench");
    let sim_secs = arg("--sim-secs", if bench { 10 } else { 1 });
    let clients = arg("--clients", 64) as usize;
    let net = Net {
        tick: Duration::from_millis(arg("--tick-ms", 1)),
        latency: Duration::from_millis(arg("--latency-ms", 1)),
    };

    let e = echo(net, clients, sim_secs);
    let (s, not_ok) = store_mixed(net, clients, sim_secs);
    let echo_rate = e.ops as f64 / e.wall;
    let store_rate = s.ops as f64 / s.wall;
    println!(
        "settings: {clients} clients, tick {:?}, link latency {:?}, {sim_secs} simulated s each",
        net.tick, net.latency
    );
    println!(
        "echo baseline: {} RPCs in {:.2} wall s = {:.0} RPC/s ({:.0} per simulated s)",
        e.ops,
        e.wall,
        echo_rate,
        e.ops as f64 / sim_secs as f64
    );
    println!(
        "store (5 nodes, RF 3, quorum/quorum, 50% get / 40% put / 10% delete, 1000 keys): {} ops in {:.2} wall s = {:.0} ops/s ({:.0} per simulated s, {} not ok)",
        s.ops,
        s.wall,
        store_rate,
        s.ops as f64 / sim_secs as f64,
        not_ok
    );
    println!(
        "store / echo: {:.1}% (target: at least 15%)",
        100.0 * store_rate / echo_rate
    );
}
