//! `quorumlab check --guarantees`: the weaker guarantees from the command line.
use std::process::Command;

fn check(args: &[&str], history: &str) -> (Option<i32>, String, String) {
    let dir = std::env::temp_dir().join(format!("quorumlab-guarantees-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("h{}.json", args.join("-").replace(['/', ','], "_")));
    std::fs::write(&file, history).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quorumlab"))
        .arg("check")
        .args(args)
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const STALE: &str = r#"{"format": "quorumlab-history/1", "ops": [
  {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1, "invoke": 0, "complete": 10, "outcome": "ok"},
  {"id": 2, "client": 0, "kind": "put", "key": "x", "value": 2, "invoke": 20, "complete": 30, "outcome": "ok"},
  {"id": 3, "client": 1, "kind": "get", "key": "x", "invoke": 40, "complete": 50, "outcome": "ok", "read": 1}]}"#;

#[test]
fn weaker_guarantees_are_reported_with_their_witness() {
    let (code, out, _) = check(&["--guarantees", "no-stale-reads,read-your-writes"], STALE);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no_stale_reads: VIOLATED"), "{out}");
    assert!(
        out.contains("but put#2 of 2 by client 0 [0.00002..0.00003 ms] began after that"),
        "{out}"
    );
    assert!(out.contains("read_your_writes: held"), "{out}");
    assert!(
        !out.contains("linearizable"),
        "linearizability was not asked for: {out}"
    );
}

#[test]
fn json_output_carries_every_guarantee_asked_for() {
    let (code, out, _) = check(&["--json", "--guarantees", "all"], STALE);
    assert_eq!(code, Some(1), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["linearizable"], false);
    assert_eq!(v["guarantees"]["no_stale_reads"], false);
    assert_eq!(v["guarantees"]["monotonic_reads"], true);
    // No final replica states in this history: convergence is undecided, not held.
    assert_eq!(v["guarantees"]["convergence"], serde_json::Value::Null);
    assert!(v["witnesses"]["convergence"]["undecided"]
        .as_str()
        .unwrap()
        .contains("replicas"));
    assert_eq!(
        v["witnesses"]["no_stale_reads"]["ops"],
        serde_json::json!([3, 1, 2])
    );
}

#[test]
fn undecided_guarantees_exit_3_and_unknown_names_exit_2() {
    let fresh = r#"{"format": "quorumlab-history/1", "ops": [
      {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1, "invoke": 0, "complete": 10, "outcome": "ok"}]}"#;
    let (code, out, _) = check(&["--guarantees", "monotonic-reads,convergence"], fresh);
    assert_eq!(code, Some(3), "{out}");
    let (code, _, err) = check(&["--guarantees", "causal"], fresh);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown guarantee \"causal\""), "{err}");
}

#[test]
fn an_expired_timeout_leaves_every_guarantee_unknown() {
    let (code, out, err) = check(&["--json", "--guarantees", "all", "--timeout", "0"], STALE);
    assert_eq!(code, Some(3), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["linearizable"], serde_json::Value::Null, "{out}");
    for (g, held) in v["guarantees"].as_object().unwrap() {
        assert_eq!(*held, serde_json::Value::Null, "{g} was judged: {out}");
        assert!(
            v["witnesses"][g].to_string().contains("timeout"),
            "{g}: {out}"
        );
    }
}
