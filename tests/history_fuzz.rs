//! The readers never panic: arbitrary bytes, and valid JSON and EDN histories with bytes
//! flipped, inserted, deleted or cut, either parse (and check) or give an error. 20,000 cases
//! per property run with the other tests (about a second of work in all, with the test
//! profile); `PROPTEST_CASES=N` runs N instead, e.g. a million for a longer search.
use proptest::prelude::*;
use quorumlab::check::linearizable::{check, CheckOptions};
use quorumlab::history::{edn, History, Value};

const JSON: &str = r#"{"format": "quorumlab-history/1", "scenario": {"seed": 7}, "ops": [
  {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 5, "invoke": 0, "complete": 900, "outcome": "ok", "session": 0},
  {"id": 2, "client": 1, "kind": "cas", "key": "x", "value": "six", "expect": 5, "invoke": 1000, "complete": 1100, "outcome": "ok", "swapped": true},
  {"id": 3, "client": 0, "kind": "append", "key": "log", "value": "a", "invoke": 1000, "outcome": "info"},
  {"id": 4, "client": 1, "kind": "get", "key": "x", "invoke": 1200, "complete": 1350, "outcome": "ok", "read": null, "timestamp": 3, "writer": 1},
  {"id": 5, "client": 1, "kind": "delete", "key": "x", "invoke": 1400, "complete": 1500, "outcome": "fail"}
], "replicas": {"x": [{"node": 0, "cell": null}]}}"#;

const EDN: &str = r#"[{:process 0, :type :invoke, :f :write, :value 3}
 {:process :nemesis, :type :info, :f :start, :value [:isolated {"n1" #{"n2"}}]}
 {:process 1, :type :invoke, :f :cas, :value [3 4], :time 17}
 {:process 0, :type :ok, :f :write, :value 3}
 ; a comment
 {:process 1, :type :fail, :f :cas, :value [3 4]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :info, :f :read, :value nil}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value "s\"x"}
 #_ {:ignored true}
 {:process 3, :type :invoke, :f :read, :value nil}]"#;

/// Reads with both readers; a history that parses is also checked (it must not panic either).
fn read_all(bytes: &[u8]) {
    if let Ok(h) = History::from_json_slice(bytes) {
        let _ = check(&h, &CheckOptions::default());
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(h) = edn::parse(text, Some(Value::Int(0))) {
            let _ = check(&h, &CheckOptions::default());
        }
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Cut(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    // Bytes that matter to the grammars are drawn more often than the others.
    let byte = prop_oneof![
        any::<u8>(),
        proptest::sample::select(b"[]{}()\":,;#_\\-+0123456789.eEN \nnull".to_vec()),
    ];
    let edit = prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Cut),
    ];
    proptest::collection::vec(edit, 1..8)
}

fn mutate(base: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for e in edits {
        let n = b.len().max(1);
        match *e {
            Edit::Flip(i, x) if !b.is_empty() => b[i % n] = x,
            Edit::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Edit::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            Edit::Cut(i) => b.truncate(i % (b.len() + 1)),
            _ => {}
        }
    }
    b
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        read_all(&bytes);
    }

    #[test]
    fn mutated_json_never_panics(e in edits()) {
        read_all(&mutate(JSON, &e));
    }

    #[test]
    fn mutated_edn_never_panics(e in edits()) {
        read_all(&mutate(EDN, &e));
    }
}

#[test]
fn the_seeds_are_valid() {
    History::from_json_str(JSON).unwrap();
    let h = edn::parse(EDN, Some(Value::Int(0))).unwrap();
    assert_eq!(h.ops.len(), 6, "{h:?}");
}

#[test]
fn deep_nesting_is_an_error_in_both_readers() {
    let n = 200_000;
    let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(edn::parse(&deep, None).is_err());
    let json = format!(r#"{{"format": "quorumlab-history/1", "ops": [], "x": {deep}}}"#);
    let e = History::from_json_str(&json).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
}
