//! The library API for other projects' tests: record from threads, judge, assert.
use std::sync::Mutex;

use quorumlab::check::{assert_holds, assert_linearizable, judge, Guarantee};
use quorumlab::history::{Call, History, OpKind, Outcome, Recorder, Ret, Value};

/// Four threads put and get on one register guarded by a mutex: linearizable.
#[test]
fn threads_recording_a_correct_store_pass() {
    let store = Mutex::new(None::<i64>);
    let rec = Recorder::new();
    std::thread::scope(|s| {
        for client in 0..4u64 {
            let (store, rec) = (&store, &rec);
            s.spawn(move || {
                for i in 0..50 {
                    let v = (client * 1000 + i) as i64;
                    let op = rec.invoke(client, Call::put("x", v), rec.now());
                    *store.lock().unwrap() = Some(v);
                    rec.ok(op, Ret::Done, rec.now());
                    let op = rec.invoke(client, Call::get("x"), rec.now());
                    let read = store.lock().unwrap().map(Value::Int);
                    rec.ok(op, Ret::Read(read), rec.now());
                }
            });
        }
    });
    let h = rec.history().unwrap();
    assert_eq!(h.ops.len(), 400);
    assert_linearizable(&h);
    assert_holds(&h, &[Guarantee::Linearizable, Guarantee::ReadYourWrites]);
}

/// A store that loses writes: the assertion panics with the witness and saves the history.
#[test]
fn a_broken_store_fails_with_the_witness_and_a_saved_history() {
    let dir = std::env::temp_dir().join(format!("quorumlab-recorder-{}", std::process::id()));
    std::env::set_var("QUORUMLAB_HISTORY_DIR", &dir);
    let rec = Recorder::new();
    let put = rec.invoke(0, Call::put("x", 1), 0);
    rec.ok(put, Ret::Done, 10);
    let get = rec.invoke(1, Call::get("x"), 20);
    rec.ok(get, Ret::Read(None), 30); // the write was lost
    let h = rec.history().unwrap();
    let panic = std::panic::catch_unwind(|| assert_linearizable(&h)).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("linearizable violated: get#1 by client 1 [0.00002..0.00003 ms] read absent, but put#0 of 1 completed at 0.00001 ms"),
        "{msg}"
    );
    let path = msg
        .split("history written to ")
        .nth(1)
        .and_then(|r| r.split(" (").next())
        .unwrap();
    assert!(path.starts_with(dir.to_str().unwrap()), "{path}");
    assert!(msg.contains(&format!("quorumlab check {path}")), "{msg}");
    assert_eq!(History::from_path(path).unwrap(), h);
}

#[test]
fn outcomes_and_validation() {
    let rec = Recorder::new();
    let a = rec.invoke(0, Call::cas("x", None, 5), 0);
    let b = rec.invoke(1, Call::append("y", "s"), 1);
    let c = rec.invoke(2, Call::delete("x"), 2);
    let d = rec.invoke(3, Call::get("x"), 3);
    rec.ok(a, Ret::Swapped(true), 4);
    rec.fail(b, 5);
    rec.info(c);
    let h = rec.history().unwrap();
    let kinds: Vec<_> = h.ops.iter().map(|o| (o.kind, o.outcome)).collect();
    assert_eq!(
        kinds,
        [
            (OpKind::Cas, Outcome::Ok),
            (OpKind::Append, Outcome::Fail),
            (OpKind::Delete, Outcome::Info),
            (OpKind::Get, Outcome::Info), // never completed
        ]
    );
    assert_eq!(judge(&h, &[Guarantee::Linearizable]).violated(), []);
    // Client 3's get is still in flight: another op of client 3 breaks the format's rule.
    let _ = rec.invoke(3, Call::get("x"), 9);
    assert!(rec.history().is_err());
    let _ = d;
    // A return of the wrong kind is refused.
    let rec = Recorder::new();
    let p = rec.invoke(0, Call::put("x", 1), 0);
    rec.ok(p, Ret::Swapped(true), 1);
    assert!(rec.history().is_err());
}

/// Sets, queues and locks recorded from threads, each guarded by a std mutex: linearizable;
/// the same calls against a store that breaks each model: not.
#[test]
fn sets_queues_and_locks_are_recorded_and_judged() {
    use std::collections::{BTreeSet, VecDeque};
    let set = Mutex::new(BTreeSet::new());
    let queue = Mutex::new(VecDeque::new());
    let lock = Mutex::new(false);
    let rec = Recorder::new();
    std::thread::scope(|s| {
        for client in 0..4u64 {
            let (set, queue, lock, rec) = (&set, &queue, &lock, &rec);
            s.spawn(move || {
                for i in 0..20 {
                    let v = (client * 100 + i) as i64;
                    let op = rec.invoke(client, Call::add("s", v), rec.now());
                    set.lock().unwrap().insert(v);
                    rec.ok(op, Ret::Done, rec.now());
                    let op = rec.invoke(client, Call::read_set("s"), rec.now());
                    let members = set.lock().unwrap().iter().map(|&x| Value::Int(x)).collect();
                    rec.ok(op, Ret::Members(members), rec.now());
                    let op = rec.invoke(client, Call::enqueue("q", v), rec.now());
                    queue.lock().unwrap().push_back(v);
                    rec.ok(op, Ret::Done, rec.now());
                    let op = rec.invoke(client, Call::dequeue("q"), rec.now());
                    let got = queue.lock().unwrap().pop_front().map(Value::Int);
                    rec.ok(op, Ret::Read(got), rec.now());
                    let op = rec.invoke(client, Call::acquire("l"), rec.now());
                    let mut held = lock.lock().unwrap();
                    if *held {
                        rec.fail(op, rec.now());
                    } else {
                        *held = true;
                        rec.ok(op, Ret::Done, rec.now());
                        let op = rec.invoke(client, Call::release("l"), rec.now());
                        *held = false;
                        rec.ok(op, Ret::Done, rec.now());
                    }
                }
            });
        }
    });
    let h = rec.history().unwrap();
    for kind in [
        OpKind::Add,
        OpKind::Members,
        OpKind::Enqueue,
        OpKind::Dequeue,
        OpKind::Acquire,
        OpKind::Release,
    ] {
        assert!(h.ops.iter().any(|o| o.kind == kind), "{kind}");
    }
    assert_linearizable(&h);

    // A set read that misses an element added before it began.
    let rec = Recorder::new();
    let a = rec.invoke(0, Call::add("s", 1), 0);
    rec.ok(a, Ret::Done, 10);
    let r = rec.invoke(1, Call::read_set("s"), 20);
    rec.ok(r, Ret::Members(vec![]), 30);
    // A queue that hands out its newest element first.
    let e1 = rec.invoke(0, Call::enqueue("q", 1), 40);
    rec.ok(e1, Ret::Done, 50);
    let e2 = rec.invoke(0, Call::enqueue("q", 2), 60);
    rec.ok(e2, Ret::Done, 70);
    let d = rec.invoke(1, Call::dequeue("q"), 80);
    rec.ok(d, Ret::Read(Some(2.into())), 90);
    // A lock taken twice.
    let l1 = rec.invoke(0, Call::acquire("l"), 100);
    rec.ok(l1, Ret::Done, 110);
    let l2 = rec.invoke(1, Call::acquire("l"), 120);
    rec.ok(l2, Ret::Done, 130);
    let broken = rec.history().unwrap();
    for (key, history) in split_by_key(&broken) {
        let j = judge(&history, &[Guarantee::Linearizable]);
        assert_eq!(j.violated(), [Guarantee::Linearizable], "key {key}");
    }
    // Judged whole, each key against its own model: the witness is the first key's ("l").
    let j = judge(&broken, &[Guarantee::Linearizable]);
    assert_eq!(j.violated(), [Guarantee::Linearizable]);
    assert!(
        j.sentences()[0].starts_with("acquire#"),
        "{:?}",
        j.sentences()
    );

    // A return of another kind than the call's is refused.
    let rec = Recorder::new();
    let r = rec.invoke(0, Call::read_set("s"), 0);
    rec.ok(r, Ret::Read(None), 1);
    let e = rec.history().unwrap_err();
    assert!(
        e.to_string()
            .contains("the return recorded does not fit a members"),
        "{e}"
    );
}

/// One history per key.
fn split_by_key(h: &History) -> Vec<(String, History)> {
    let mut keys: Vec<String> = h.ops.iter().map(|o| o.key.clone()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let ops = h.ops.iter().filter(|o| o.key == k).cloned().collect();
            (k, History::new(ops))
        })
        .collect()
}
