//! The set, FIFO queue and mutex models: both verdicts for each, from JSON and from Jepsen EDN.
use quorumlab::check::linearizable::{check_model, CheckOptions, Verdict};
use quorumlab::history::edn::{self, EdnModel, EdnOptions};
use quorumlab::history::History;
use quorumlab::model::{Model, Mutex, Queue, Set};

fn history(ops: &[&str]) -> History {
    let text = format!(
        r#"{{"format": "quorumlab-history/1", "ops": [{}]}}"#,
        ops.join(",\n")
    );
    let h = History::from_json_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // Round trip: the new kinds write and read back the same.
    assert_eq!(History::from_json_str(&h.to_json_string()).unwrap(), h);
    h
}

fn verdict<M: Model + Sync>(model: &M, h: &History) -> Verdict {
    check_model(model, h, &CheckOptions::default()).verdict
}

fn violation<M: Model + Sync>(model: &M, h: &History) -> String {
    match verdict(model, h) {
        Verdict::Violation(w) => w.sentence,
        other => panic!("expected a violation, got {other:?}"),
    }
}

const ADD1: &str = r#"{"id": 1, "client": 0, "kind": "add", "key": "s", "value": 1, "invoke": 0, "complete": 10, "outcome": "ok"}"#;
const ADD2: &str = r#"{"id": 2, "client": 1, "kind": "add", "key": "s", "value": 2, "invoke": 5, "complete": 30, "outcome": "ok"}"#;

#[test]
fn set_adds_are_seen_once_complete() {
    let read = |id: u32, at: u32, set: &str| {
        format!(
            r#"{{"id": {id}, "client": 2, "kind": "members", "key": "s", "invoke": {at}, "complete": {}, "outcome": "ok", "read": {set}}}"#,
            at + 5
        )
    };
    // add 2 is concurrent with the first read, which may miss it; the second may not.
    let h = history(&[ADD1, ADD2, &read(3, 15, "[1]"), &read(4, 40, "[2, 1]")]);
    assert_eq!(verdict(&Set, &h), Verdict::Linearizable);
    let h = history(&[ADD1, ADD2, &read(3, 15, "[1]"), &read(4, 40, "[1]")]);
    let s = violation(&Set, &h);
    assert!(
        s.starts_with("members#4 by client 2 [0.00004..0.000045 ms] read {1}"),
        "{s}"
    );
    // An element nobody added.
    let h = history(&[ADD1, &read(3, 15, "[1, 7]")]);
    violation(&Set, &h);
    // A failed add did not happen; an info add may have.
    let failed = ADD2.replace(r#""outcome": "ok""#, r#""outcome": "fail""#);
    let h = history(&[ADD1, &failed, &read(3, 40, "[1, 2]")]);
    violation(&Set, &h);
    let info = ADD2.replace(r#""complete": 30, "outcome": "ok""#, r#""outcome": "info""#);
    let h = history(&[ADD1, &info, &read(3, 40, "[1, 2]"), &read(4, 50, "[1, 2]")]);
    assert_eq!(verdict(&Set, &h), Verdict::Linearizable);
}

fn queue_op(id: u32, client: u32, kind: &str, at: u32, extra: &str) -> String {
    format!(
        r#"{{"id": {id}, "client": {client}, "kind": "{kind}", "key": "q", "invoke": {at}, "complete": {}, "outcome": "ok"{extra}}}"#,
        at + 10
    )
}

#[test]
fn queue_is_first_in_first_out() {
    let enq1 = queue_op(1, 0, "enqueue", 0, r#", "value": 1"#);
    let enq2 = queue_op(2, 0, "enqueue", 20, r#", "value": 2"#);
    let deq = |id, at, v: &str| queue_op(id, 1, "dequeue", at, &format!(r#", "read": {v}"#));
    let h = history(&[
        &enq1,
        &enq2,
        &deq(3, 40, "1"),
        &deq(4, 60, "2"),
        &deq(5, 80, "null"),
    ]);
    assert_eq!(verdict(&Queue, &h), Verdict::Linearizable);
    let h = history(&[&enq1, &enq2, &deq(3, 40, "2")]);
    let s = violation(&Queue, &h);
    assert!(
        s.starts_with("dequeue#3 by client 1 [0.00004..0.00005 ms] dequeued 2"),
        "{s}"
    );
    // Found empty while an element was in it.
    let h = history(&[&enq1, &deq(3, 40, "null")]);
    violation(&Queue, &h);
    // Concurrent enqueues may go in either order.
    let enq2c = queue_op(2, 2, "enqueue", 0, r#", "value": 2"#);
    let h = history(&[&enq1, &enq2c, &deq(3, 40, "2"), &deq(4, 60, "1")]);
    assert_eq!(verdict(&Queue, &h), Verdict::Linearizable);
}

#[test]
fn mutex_is_held_by_one_at_a_time() {
    let op = |id, client, kind: &str, at, outcome: &str| {
        format!(
            r#"{{"id": {id}, "client": {client}, "kind": "{kind}", "key": "m", "invoke": {at}, "complete": {}, "outcome": "{outcome}"}}"#,
            at + 10
        )
    };
    let h = history(&[
        &op(1, 0, "acquire", 0, "ok"),
        &op(2, 1, "acquire", 15, "fail"),
        &op(3, 0, "release", 30, "ok"),
        &op(4, 1, "acquire", 50, "ok"),
    ]);
    assert_eq!(verdict(&Mutex, &h), Verdict::Linearizable);
    let h = history(&[
        &op(1, 0, "acquire", 0, "ok"),
        &op(2, 1, "acquire", 15, "ok"),
    ]);
    let s = violation(&Mutex, &h);
    assert!(
        s.starts_with("acquire#2 by client 1 [0.000015..0.000025 ms] acquired the lock"),
        "{s}"
    );
    // Releasing a free lock.
    let h = history(&[&op(1, 0, "release", 0, "ok")]);
    violation(&Mutex, &h);
}

#[test]
fn a_model_refuses_the_kinds_of_another() {
    let h = history(&[ADD1]);
    assert!(matches!(verdict(&Queue, &h), Verdict::Unknown(_)));
    let put = r#"{"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1, "invoke": 0, "complete": 10, "outcome": "ok"}"#;
    assert!(matches!(
        verdict(&Set, &history(&[put])),
        Verdict::Unknown(_)
    ));
}

fn edn_with(model: EdnModel, text: &str) -> History {
    edn::parse_with(
        text,
        &EdnOptions {
            model,
            ..EdnOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn edn_sets_queues_and_mutexes() {
    let set = |read: &str| {
        format!(
            "[{{:process 0 :type :invoke :f :add :value 1}}
              {{:process 0 :type :ok :f :add :value 1}}
              {{:process 1 :type :invoke :f :read :value nil}}
              {{:process 1 :type :ok :f :read :value {read}}}]"
        )
    };
    assert_eq!(
        verdict(&Set, &edn_with(EdnModel::Set, &set("#{1}"))),
        Verdict::Linearizable
    );
    violation(&Set, &edn_with(EdnModel::Set, &set("[]")));
    let queue = |v: &str| {
        format!(
            "[{{:process 0 :type :invoke :f :enqueue :value 1}}
              {{:process 0 :type :ok :f :enqueue :value 1}}
              {{:process 0 :type :invoke :f :enqueue :value 2}}
              {{:process 0 :type :ok :f :enqueue :value 2}}
              {{:process 1 :type :invoke :f :dequeue :value nil}}
              {{:process 1 :type :ok :f :dequeue :value {v}}}]"
        )
    };
    assert_eq!(
        verdict(&Queue, &edn_with(EdnModel::Queue, &queue("1"))),
        Verdict::Linearizable
    );
    violation(&Queue, &edn_with(EdnModel::Queue, &queue("2")));
    let mutex = |second: &str| {
        format!(
            "[{{:process 0 :type :invoke :f :acquire}}
              {{:process 0 :type :ok :f :acquire}}
              {{:process 1 :type :invoke :f :acquire}}
              {{:process 1 :type {second} :f :acquire}}]"
        )
    };
    assert_eq!(
        verdict(&Mutex, &edn_with(EdnModel::Mutex, &mutex(":fail"))),
        Verdict::Linearizable
    );
    violation(&Mutex, &edn_with(EdnModel::Mutex, &mutex(":ok")));
    // Each model knows only its own :f names.
    let e = edn::parse_with(&set("#{1}"), &EdnOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("unsupported :f :add for the cas-register model"),
        "{e}"
    );
}

/// `judge` decides linearizability of set, queue and mutex histories with their own model,
/// and says plainly that the weaker guarantees, defined for registers, cannot judge them.
#[test]
fn judge_uses_the_object_model_and_says_the_weaker_guarantees_cannot_judge() {
    use quorumlab::check::{judge, Guarantee};
    let read = r#"{"id": 3, "client": 2, "kind": "members", "key": "s", "invoke": 40, "complete": 45, "outcome": "ok", "read": [1]}"#;
    let h = history(&[ADD1, ADD2, read]);
    let j = judge(&h, &[Guarantee::Linearizable, Guarantee::MonotonicReads]);
    assert_eq!(j.findings[&Guarantee::Linearizable].held, Some(false));
    let weak = &j.findings[&Guarantee::MonotonicReads];
    assert_eq!(weak.held, None);
    let s = weak.sentence.as_deref().unwrap();
    assert!(
        s.starts_with("cannot judge:") && s.contains("add ops are not supported"),
        "{s}"
    );
    let read = read.replace("[1]", "[1, 2]");
    let h = history(&[ADD1, ADD2, &read]);
    assert_eq!(Guarantee::Linearizable.judge(&h).held, Some(true));
}
