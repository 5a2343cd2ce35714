//! `run` and `explore` print run statistics: outcomes by op kind, latency percentiles in
//! simulated ms, and message counts, agreeing with the history they describe.
use std::process::Command;

fn quorumlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quorumlab"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quorumlab-stats-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn row<'a>(stdout: &'a str, kind: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&kind) && w.len() == 9)
        .unwrap_or_else(|| panic!("no {kind} row in:\n{stdout}"))
}

#[test]
fn run_prints_the_statistics_of_its_history() {
    let dir = scratch("run");
    let file = dir.join("h.json");
    let out = quorumlab()
        .args(["run", "--faults", "partition", "--seed", "3", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("statistics, times in simulated ms:"),
        "{stdout}"
    );
    let history = quorumlab::history::History::from_path(&file).unwrap();
    let all = row(&stdout, "all");
    assert_eq!(all[1], history.ops.len().to_string());
    let ok = history
        .ops
        .iter()
        .filter(|o| o.outcome == quorumlab::history::Outcome::Ok)
        .count();
    assert_eq!(all[2], ok.to_string());
    let gets = history
        .ops
        .iter()
        .filter(|o| o.kind == quorumlab::history::OpKind::Get)
        .count();
    assert_eq!(row(&stdout, "get")[1], gets.to_string());
    let sent = history.extra["messages"]["sent"].as_u64().unwrap();
    let partitioned = history.extra["messages"]["partitioned"].as_u64().unwrap();
    assert!(partitioned > 0);
    assert!(
        stdout.contains(&format!("messages: {sent} sent, ")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{partitioned} partitioned")),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explore_prints_the_statistics_of_its_search_cases() {
    let dir = scratch("explore");
    let out = quorumlab()
        .args(["explore", "--cases", "3", "--ops", "20", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("statistics of the 3 search case(s) run, times in simulated ms:"),
        "{stdout}"
    );
    let all = row(&stdout, "all");
    // 20 workload ops and the final reads (every key through each of 5 nodes) per case.
    let ops: usize = all[1].parse().unwrap();
    assert!(ops >= 3 * 20, "{stdout}");
    assert!(stdout.contains(" sent, "), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_leader_follower_run_counts_the_messages_its_history_records() {
    let dir = scratch("lf");
    let file = dir.join("h.json");
    let out = quorumlab()
        .args(["run", "--system", "leader-follower", "--seed", "2", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let history = quorumlab::history::History::from_path(&file).unwrap();
    let sent = history.extra["messages"]["sent"].as_u64().unwrap();
    assert!(sent > 0);
    // The store counts what it sends, not what became of it: the line says so rather than
    // report nothing dropped.
    assert!(
        stdout.contains(&format!(
            "messages: {sent} sent (the system does not record what became of them)"
        )),
        "{stdout}"
    );
    let append = history.extra["messages"]["by_kind"]["append"]["sent"]
        .as_u64()
        .unwrap();
    assert!(stdout.contains(&format!("append {append}")), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
