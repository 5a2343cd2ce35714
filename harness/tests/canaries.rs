//! Every planted bug is found by the harness, from a fixed search seed, within a few cases, and
//! shrinks to a small case that still fails on rerun. A change that weakens the generators, the
//! nemesis, the shrinker or the checkers fails here.
//!
//! `quorumlab canaries` measures the same searches over many seeds, and runs the configurations
//! clean; docs/canaries.md holds its table.
use std::process::Command;

use quorumlab_harness::canaries::{canary, catalog, search, Search};
use quorumlab_harness::systems::leaderless::Bug;
use strum::VariantArray;

/// Cases a search may take before the test fails: detection must stay quick.
const CASES: u32 = 20;
/// Shrink steps: enough for these seeds to reach at most 10 client ops.
const SHRINK_STEPS: u32 = 150;

/// The catalog's target: every bug shrinks to at most this many client ops.
const MAX_OPS: usize = 10;

fn finds(bug: Bug, seed: u64) {
    finds_within(bug, seed, CASES)
}

fn finds_within(bug: Bug, seed: u64, cases: u32) {
    let c = canary(bug);
    let result = search(&c, seed, cases, SHRINK_STEPS)
        .unwrap_or_else(|e| panic!("{bug}: a run failed (search seed {seed}): {e}"));
    let found = match result {
        Search::Found(f) => f,
        Search::Missed { cases, .. } => panic!(
            "{bug}: not found in {cases} cases with search seed {seed}; by hand: {}",
            c.explore_command(seed)
        ),
    };
    assert!(
        found.case.judgement.violated().contains(&found.broken),
        "{bug}: the shrunk case did not fail again on rerun"
    );
    assert!(
        c.expect.contains(&found.broken),
        "{bug}: broke {} which the canary does not claim",
        found.broken
    );
    assert!(
        found.shrunk.ops <= MAX_OPS,
        "{bug}: shrunk only to {} client ops (search seed {seed}); witness: {}",
        found.shrunk.ops,
        found.witness
    );
    eprintln!(
        "{bug}: found after {} cases, shrunk to {} ops / {} faults / {} nodes: {}",
        found.cases, found.shrunk.ops, found.shrunk.faults, found.shrunk.nodes, found.witness
    );
}

#[test]
fn the_catalog_covers_every_bug_once_and_plants_only_its_own() {
    let cat = catalog();
    assert_eq!(
        cat.iter().map(|c| c.bug).collect::<Vec<_>>(),
        Bug::VARIANTS.to_vec()
    );
    for c in &cat {
        assert!(c.store().bugs.is_empty(), "{}: clean shape has bugs", c.bug);
        let planted = c.planted().system;
        let planted = planted
            .store()
            .expect("canaries plant bugs in the reference store");
        assert_eq!(
            planted.bugs.iter().copied().collect::<Vec<_>>(),
            vec![c.bug]
        );
        planted.validate().unwrap();
        assert!(!c.expect.is_empty());
    }
}

#[test]
fn run_takes_bugs_by_name_and_refuses_unknown_ones() {
    let bin = env!("CARGO_BIN_EXE_quorumlab");
    let dir = std::env::temp_dir().join(format!("quorumlab-canary-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run.json");
    let status = Command::new(bin)
        .args([
            "run",
            "--bug",
            "ack-early,clock-reset-on-restart",
            "--ops",
            "8",
        ])
        .args(["--seed", "3", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        matches!(status.status.code(), Some(0) | Some(1)),
        "{status:?}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("\"ack-early\"") && text.contains("\"clock-reset-on-restart\""),
        "the bugs are not in the saved scenario"
    );
    let bad = Command::new(bin)
        .args(["run", "--bug", "ack-late", "--ops", "4"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ack-late"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn finds_ack_early() {
    finds(Bug::AckEarly, SEEDS[0]);
}

#[test]
fn finds_read_first_response() {
    finds(Bug::ReadFirstResponse, SEEDS[1]);
}

/// Its failure depends on message timing; the canary's fixed latency keeps that timing when
/// shrinking removes ops, so it shrinks to a few ops like the others.
#[test]
fn finds_repair_fresh_timestamp() {
    finds(Bug::RepairFreshTimestamp, SEEDS[2]);
}

#[test]
fn finds_ring_off_by_one() {
    finds(Bug::RingOffByOne, SEEDS[3]);
}

#[test]
fn finds_tombstone_lost_on_replay() {
    finds(Bug::TombstoneLostOnReplay, SEEDS[4]);
}

#[test]
fn finds_ack_before_sync() {
    finds(Bug::AckBeforeSync, SEEDS[5]);
}

#[test]
fn finds_hint_new_timestamp() {
    finds(Bug::HintNewTimestamp, SEEDS[6]);
}

/// Equal timestamps need two writes to one key in the same millisecond through different
/// coordinators, and replicas that see them in different orders, so this bug takes more cases
/// than the others: with message delays fixed per message it is found within 40 cases by 2 of
/// search seeds 1 to 6 (seed 3 at case 8, seed 4 at case 30), down from every seed before.
#[test]
fn finds_lww_tie_by_arrival() {
    finds(Bug::LwwTieByArrival, SEEDS[7]);
}

#[test]
fn finds_unavailable_ignored() {
    finds(Bug::UnavailableIgnored, SEEDS[8]);
}

#[test]
fn finds_clock_reset_on_restart() {
    finds(Bug::ClockResetOnRestart, SEEDS[9]);
}

/// A hint replayed to the wrong node leaves its replica behind: only the down path (partitions
/// longer than the failure timeout) stores hints for writes that nothing else delivers.
#[test]
fn finds_hint_wrong_target() {
    finds(Bug::HintWrongTarget, SEEDS[10]);
}

/// Hints count as acks only for replicas already marked down.
#[test]
fn finds_hints_count_as_acks() {
    finds(Bug::HintsCountAsAcks, SEEDS[11]);
}

/// A read repaired onto one replica of the three it asked: at RF 5 a later read of three can
/// miss both holders. The race needs a read to meet the write on its one holder and the next
/// read to miss both holders (one read set in ten) before the slow replicas take the write:
/// about one scenario in ten breaks, so this search gets three times the usual cases.
#[test]
fn finds_partial_read_repair() {
    finds_within(Bug::PartialReadRepair, SEEDS[12], 3 * CASES);
}

/// The search seed of each bug's test, in the catalog order of [`Bug`].
const SEEDS: [u64; 13] = [2, 2, 3, 1, 1, 3, 1, 3, 2, 3, 1, 2, 1];

/// `quorumlab canaries` saves each shrunk case with its report, and every link of its markdown
/// resolves from the markdown's own directory.
#[test]
fn the_canary_table_links_its_saved_cases_and_reports() {
    let dir = std::env::temp_dir().join(format!("quorumlab-canary-cases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let md = dir.join("docs/canaries.md");
    // An earlier run's case and report, which the new table will not link, and a user's file
    // named like a canary case.
    let cases_dir = dir.join("cases");
    std::fs::create_dir_all(&cases_dir).unwrap();
    let stale = cases_dir.join("linearizable-canary-ack-early-seed9-0123456789abcdef.json");
    std::fs::write(
        &stale,
        "{\"format\": \"quorumlab-history/1\", \"ops\": []}\n",
    )
    .unwrap();
    let stale_report = stale.with_extension("html");
    std::fs::write(
        &stale_report,
        "<!DOCTYPE html>\n<meta name=\"generator\" content=\"quorumlab report\">\n",
    )
    .unwrap();
    let users = cases_dir.join("my-canary-notes.json");
    std::fs::write(&users, "{\"mine\": true}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quorumlab"))
        .args([
            "canaries",
            "--bug",
            "hint-new-timestamp",
            "--search-seeds",
            "1",
        ])
        .args([
            "--cases",
            "20",
            "--max-shrink-iters",
            "60",
            "--clean-cases",
            "0",
        ])
        .args(["--threads", "1", "--out"])
        .arg(&md)
        .arg("--cases-dir")
        .arg(dir.join("cases"))
        .output()
        .expect("quorumlab runs");
    let text = std::fs::read_to_string(&md).unwrap_or_else(|_| {
        panic!(
            "no markdown written: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let links: Vec<&str> = text
        .split("](")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .collect();
    let cases = links.iter().filter(|l| l.ends_with(".json")).count();
    let reports = links.iter().filter(|l| l.ends_with(".html")).count();
    // The table's witness column and the list of shrunk sizes each link the one case.
    assert_eq!((cases, reports), (2, 2), "{links:?}");
    for l in &links {
        assert!(
            md.parent().unwrap().join(l).is_file(),
            "{l} does not resolve"
        );
    }
    let case = md.parent().unwrap().join(links[0]);
    let history = quorumlab::history::History::from_path(&case).unwrap();
    assert!(history.extra.contains_key("events"), "a case of this build");
    assert!(
        !stale.exists() && !stale_report.exists(),
        "the earlier run's case and report go once the new table is written"
    );
    assert!(users.exists(), "a file quorumlab did not write stays");
    let _ = std::fs::remove_dir_all(&dir);
}
