//! Checking time of the linearizability checker: Porcupine's corpus (from
//! `../shared/corpus/porcupine`, skipped with a message when absent) and generated histories.
//!
//! `cargo bench --bench checker`. Parsing is outside the measured part.
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use quorumlab::check::linearizable::{check, CheckOptions};
use quorumlab::history::{History, Op, OpKind, Outcome, Value};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn corpus(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/porcupine");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("corpus benchmarks skipped: {} is absent", dir.display());
        return;
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let load = |p: &Path| History::from_path(p).expect("corpus parses");
    let etcd: Vec<History> = files
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("etcd_"))
        })
        .map(|p| load(p))
        .collect();
    let opts = CheckOptions::default();
    let mut g = c.benchmark_group("corpus");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function(format!("etcd_all_{}_files", etcd.len()), |b| {
        b.iter(|| etcd.iter().map(|h| check(h, &opts).ops).sum::<usize>())
    });
    for name in [
        "etcd_002",
        "etcd_007",
        "kv-c10-ok",
        "kv-c50-ok",
        "kv-c50-bad",
    ] {
        let p = dir.join(format!("{name}.json"));
        if p.exists() {
            let h = load(&p);
            g.bench_function(name, |b| b.iter(|| check(&h, &opts).verdict));
        }
    }
    g.finish();
}

/// Ops applied one at a time at a random instant inside random intervals: linearizable.
fn generated(n: usize, keys: u64, clients: u64, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut below = |m: u64| rng.next_u64() % m;
    let mut state: Vec<Option<Value>> = vec![None; keys as usize];
    let mut free = vec![0u64; clients as usize];
    let mut t = 0;
    let mut ops = Vec::with_capacity(n);
    for id in 0..n as u64 {
        t += 1 + below(10);
        let c = below(clients) as usize;
        let invoke = free[c].max(t.saturating_sub(below(10 * clients)));
        t = t.max(invoke);
        let complete = t + below(10 * clients);
        let k = below(keys) as usize;
        let mut op = Op::new(id, c as u64, OpKind::Get, &format!("k{k}"), invoke);
        if below(2) == 0 {
            op.kind = OpKind::Put;
            op.value = Some(Value::Int(id as i64));
            state[k] = op.value.clone();
        } else {
            op.read = state[k].clone();
        }
        op.complete = Some(complete);
        op.outcome = Outcome::Ok;
        free[c] = complete + 1;
        ops.push(op);
    }
    History::new(ops)
}

fn synthetic(c: &mut Criterion) {
    let opts = CheckOptions::default();
    let mut g = c.benchmark_group("generated");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (n, keys, clients) in [
        (10_000, 1, 10),
        (10_000, 1, 50),
        (10_000, 10, 10),
        (10_000, 1000, 50),
        (100_000, 1, 10),
        (100_000, 100, 50),
        (100_000, 1000, 50),
    ] {
        let h = generated(n, keys, clients, 1);
        g.bench_function(format!("ops{n}_keys{keys}_clients{clients}"), |b| {
            b.iter(|| check(&h, &opts).verdict)
        });
    }
    g.finish();
}

/// A generated history (see [`generated`]) as the simulator records it, for the weaker
/// checkers: every fifth write a delete, and every write and read carries the store's version
/// (the order writes took effect), so monotonic writes and writes-follow-reads judge by
/// version; each client is one session.
fn versioned(n: usize, keys: u64, clients: u64, seed: u64) -> History {
    let mut h = generated(n, keys, clients, seed);
    let mut by_value = std::collections::BTreeMap::new();
    for (i, op) in h.ops.iter_mut().enumerate() {
        if op.kind == OpKind::Put {
            if i % 5 == 0 {
                op.kind = OpKind::Delete;
            }
            let ts = op.id as i64;
            by_value.insert(op.value.clone(), ts);
            if op.kind == OpKind::Delete {
                // A delete writes a tombstone: reads of it see absent, with its version.
                op.value = None;
            }
            op.extra.insert("timestamp".into(), ts.into());
            op.extra.insert("writer".into(), (op.client as i64).into());
        }
    }
    // Reads of a deleted value now read absent, with the delete's version.
    let deleted: std::collections::BTreeMap<_, _> = h
        .ops
        .iter()
        .filter(|o| o.kind == OpKind::Delete)
        .map(|o| {
            (
                Some(Value::Int(o.id as i64)),
                (o.id as i64, o.client as i64),
            )
        })
        .collect();
    for op in h.ops.iter_mut().filter(|o| o.kind == OpKind::Get) {
        if let Some(&(ts, writer)) = deleted.get(&op.read) {
            op.read = None;
            op.extra.insert("timestamp".into(), ts.into());
            op.extra.insert("writer".into(), writer.into());
        } else if let Some(ts) = op
            .read
            .as_ref()
            .and_then(|v| by_value.get(&Some(v.clone())))
        {
            op.extra.insert("timestamp".into(), (*ts).into());
        }
    }
    h
}

/// The checkers weaker than linearizability beside linearizability itself (up to 100k ops),
/// on one key (the worst case: every op in one per-key pass) at 10k, 100k and 1M ops.
fn weaker(c: &mut Criterion) {
    use quorumlab::check::{session, stale};
    let opts = CheckOptions::default();
    let mut g = c.benchmark_group("weaker");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for n in [10_000, 100_000, 1_000_000] {
        let h = versioned(n, 1, 10, 1);
        // At 1M ops of one key the linearizability search outgrows memory (22 GB seen, and
        // past its timeout): left out of the bench.
        if n <= 100_000 {
            g.bench_function(format!("ops{n}_linearizable"), |b| {
                b.iter(|| check(&h, &opts).verdict)
            });
        }
        g.bench_function(format!("ops{n}_no_stale_reads"), |b| {
            b.iter(|| stale::check(&h).unwrap().len())
        });
        g.bench_function(format!("ops{n}_staleness"), |b| {
            b.iter(|| stale::staleness(&h).unwrap().stale)
        });
        g.bench_function(format!("ops{n}_read_your_writes"), |b| {
            b.iter(|| session::read_your_writes(&h).unwrap().len())
        });
        g.bench_function(format!("ops{n}_monotonic_reads"), |b| {
            b.iter(|| session::monotonic_reads(&h).unwrap().len())
        });
        g.bench_function(format!("ops{n}_monotonic_writes"), |b| {
            b.iter(|| session::monotonic_writes(&h).unwrap().len())
        });
        g.bench_function(format!("ops{n}_writes_follow_reads"), |b| {
            b.iter(|| session::writes_follow_reads(&h).unwrap().len())
        });
    }
    g.finish();
}

criterion_group!(benches, corpus, synthetic, weaker);

/// `QUORUMLAB_WRITE_HISTORY=OPS:FILE cargo bench --bench checker` writes the one-key history
/// of the `weaker` group with OPS ops to FILE instead of benchmarking, to time `quorumlab
/// check` itself on it (BENCHMARKS.md).
///
/// `QUORUMLAB_CHECK_ONCE=OPS cargo bench --bench checker` times one linearizability check of
/// that history instead: at 1M ops one check takes about half a minute, too long for
/// criterion's ten samples.
fn main() {
    if let Ok(n) = std::env::var("QUORUMLAB_CHECK_ONCE") {
        let n: usize = n.parse().expect("QUORUMLAB_CHECK_ONCE=OPS");
        let h = versioned(n, 1, 10, 1);
        let start = std::time::Instant::now();
        let verdict = check(&h, &CheckOptions::default()).verdict;
        println!(
            "linearizable, {n} ops of one key: {:.2} s, {verdict:?}",
            start.elapsed().as_secs_f64()
        );
        return;
    }
    if let Ok(spec) = std::env::var("QUORUMLAB_WRITE_HISTORY") {
        let (n, path) = spec
            .split_once(':')
            .expect("QUORUMLAB_WRITE_HISTORY=OPS:FILE");
        let n: usize = n.parse().expect("OPS is a number");
        std::fs::write(path, versioned(n, 1, 10, 1).to_json_string()).expect("writing FILE");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
