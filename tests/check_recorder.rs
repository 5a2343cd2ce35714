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
