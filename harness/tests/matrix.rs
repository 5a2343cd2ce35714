//! The consistency matrix: a search per cell that stops at a guarantee's first break, shards
//! that merge into exactly the unsharded result, saved counterexamples for every break, the
//! examples directory rewritten without losing a user's files, and theory's predictions.
use quorumlab::check::Guarantee;
use quorumlab_harness::matrix::{
    self, case_plan, cells, merge, probes, run_cells, shard_indices, Budget, CasePlanner, CellSpec,
    FaultProfile, MatrixError, MatrixOptions, MatrixReport, MergeError, Plan, ProbeSpec, Profile,
    MANIFEST,
};
use quorumlab_harness::systems::leaderless::ReadRepair;
use quorumlab_harness::theory::{predict, Mechanism};
use quorumlab_harness::workload::{Workload, REPLICA_CHOICES};
use strum::VariantArray;

fn options(shard: Option<(usize, usize)>, cases: u32) -> MatrixOptions {
    MatrixOptions {
        profile: Profile::Quick,
        budget: Budget {
            cases,
            ops: 1_000_000,
        },
        shard,
        examples_prefix: "ex".into(),
        shrink_steps: 5,
        threads: 2,
        systems: vec!["leaderless".into()],
    }
}

fn plan(cells: Vec<CellSpec>) -> Plan {
    Plan {
        cells,
        ..Plan::default()
    }
}

fn cell(r: usize, w: usize, read_repair: ReadRepair, faults: FaultProfile) -> CellSpec {
    CellSpec {
        rf: 3,
        r,
        w,
        read_repair,
        hints: true,
        anti_entropy: false,
        faults,
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("quorumlab-matrix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn shards_merge_into_exactly_the_unsharded_matrix_and_every_break_has_an_example() {
    let specs = vec![
        cell(2, 2, ReadRepair::Blocking, FaultProfile::None),
        cell(1, 1, ReadRepair::None, FaultProfile::Partition),
        cell(2, 2, ReadRepair::Blocking, FaultProfile::Skew),
    ];
    let specs = plan(specs);
    let (whole, examples) = run_cells(&specs, &options(None, 6), &|_| {}).unwrap();
    let (a, ea) = run_cells(&specs, &options(Some((1, 2)), 6), &|_| {}).unwrap();
    let (b, eb) = run_cells(&specs, &options(Some((2, 2)), 6), &|_| {}).unwrap();
    assert_eq!(a.cells.len() + b.cells.len(), specs.cells.len());
    let mut joined: Vec<_> = a.cells.iter().chain(&b.cells).cloned().collect();
    joined.sort_by_key(|c| c.index);
    assert_eq!(joined, whole.cells);
    let mut joined_examples: Vec<_> = ea.into_iter().chain(eb).collect();
    joined_examples.sort();
    assert_eq!(joined_examples, examples);

    let mut breaks = 0;
    for c in &whole.cells {
        for (name, g) in &c.search.guarantees {
            assert!(
                g.cases <= c.search.cases,
                "{name}: searched more than the cell ran"
            );
            if g.broken {
                breaks += 1;
                // The search stopped at the break: the breaking scenario is the last counted.
                let example = g.example.as_ref().expect("a break links an example");
                let file = example.strip_prefix("ex/").unwrap();
                assert!(
                    examples.iter().any(|(n, _)| n == file),
                    "{example} not among the examples"
                );
                assert!(g.example_ops.is_some() && g.seed.is_some() && g.found_by.is_some());
            } else {
                assert_eq!(
                    g.cases, c.search.cases,
                    "{name}: a hold is searched to the end"
                );
            }
        }
    }
    assert!(
        breaks > 0,
        "R = W = 1 under partitions and skew break something"
    );
    let md = whole.to_markdown("");
    assert!(md.contains("## R + W > RF") && md.contains("## R + W <= RF"));
    assert!(md.contains("## What each configuration costs"), "{md}");
}

#[test]
fn a_cell_stops_searching_once_every_guarantee_broke() {
    // Skew at R = W = 1 with no read repair breaks every guarantee that theory allows quickly;
    // with a generous budget the cell must stop searching long before spending it if all
    // broke, running on only to complete the one rotation its costs are measured over.
    let spec = cell(1, 1, ReadRepair::None, FaultProfile::Skew);
    let budget = 90;
    let (report, _) = run_cells(&plan(vec![spec]), &options(None, budget), &|_| {}).unwrap();
    let c = &report.cells[0];
    let all_broke = c.search.guarantees.values().all(|g| g.broken);
    let rotation = (Workload::VARIANTS.len() * REPLICA_CHOICES.len()) as u32;
    if all_broke {
        let last = c.search.guarantees.values().map(|g| g.cases).max().unwrap();
        assert!(
            c.search.cases >= last && c.search.cases <= last + rotation,
            "{} scenarios, the last break at {last}",
            c.search.cases
        );
        assert!(c.search.cases < budget, "searched on to the budget");
        // The costs come from a whole rotation, whatever broke when.
        assert!(c.search.availability.reads.total > 0);
    } else {
        assert_eq!(c.search.cases, budget);
    }
}

#[test]
fn writing_keeps_files_the_matrix_did_not_write_and_swaps_examples_after_the_report() {
    let root = scratch("write");
    let (out, ex) = (root.join("docs"), root.join("ex"));
    std::fs::create_dir_all(&ex).unwrap();
    std::fs::write(ex.join("rf3-mine.json"), "a user's own file").unwrap();
    std::fs::write(ex.join("old.json"), "from the last run").unwrap();
    std::fs::write(ex.join("old.html"), "its report").unwrap();
    std::fs::write(ex.join("rf3-mine.html"), "a user's own report").unwrap();
    std::fs::write(ex.join(MANIFEST), "old.json\n../escape.json\n").unwrap();
    let report = MatrixReport {
        profile: Profile::Quick,
        budget: Profile::Quick.budget(),
        shard: None,
        cells: Vec::new(),
        probes: Vec::new(),
        examples: vec!["new.json".into()],
        systems: vec!["leaderless".into()],
        system_cells: Vec::new(),
    };
    let examples = vec![("new.json".to_string(), "{}\n".to_string())];
    matrix::write(&report, &examples, &out, &ex, "../").unwrap();
    assert_eq!(
        std::fs::read_to_string(ex.join("rf3-mine.json")).unwrap(),
        "a user's own file"
    );
    assert!(
        !ex.join("old.json").exists(),
        "the previous run's example stays"
    );
    assert!(
        !ex.join("old.html").exists(),
        "the previous run's example's report stays"
    );
    assert!(ex.join("rf3-mine.html").exists());
    assert_eq!(
        std::fs::read_to_string(ex.join("new.json")).unwrap(),
        "{}\n"
    );
    assert_eq!(
        std::fs::read_to_string(ex.join(MANIFEST)).unwrap(),
        "new.json\n"
    );
    assert!(out.join("consistency-matrix.md").exists());
    assert!(out.join("consistency-matrix.json").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&ex)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn an_example_never_replaces_a_users_file_of_the_same_name_but_replaces_its_own() {
    let root = scratch("foreign");
    let (out, ex) = (root.join("docs"), root.join("ex"));
    std::fs::create_dir_all(&ex).unwrap();
    let report = |name: &str| MatrixReport {
        profile: Profile::Quick,
        budget: Profile::Quick.budget(),
        shard: None,
        cells: Vec::new(),
        probes: Vec::new(),
        examples: vec![name.into()],
        systems: vec!["leaderless".into()],
        system_cells: Vec::new(),
    };
    let case = "{\"format\": \"quorumlab-history/1\", \"ops\": []}\n";
    // A user's file under an example's name, untracked by any manifest: refused, kept whole,
    // and nothing of the run is put in place.
    std::fs::write(ex.join("rf3-case1.json"), "a user's notes").unwrap();
    let err = matrix::write(
        &report("rf3-case1.json"),
        &[("rf3-case1.json".to_string(), case.to_string())],
        &out,
        &ex,
        "../",
    )
    .unwrap_err();
    assert!(matches!(err, MatrixError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("rf3-case1.json"), "{err}");
    assert_eq!(
        std::fs::read_to_string(ex.join("rf3-case1.json")).unwrap(),
        "a user's notes"
    );
    assert!(!out.join("consistency-matrix.md").exists());
    // The same for a report beside it.
    std::fs::write(ex.join("rf3-case2.html"), "<p>mine</p>").unwrap();
    let err = matrix::write(
        &report("rf3-case2.json"),
        &[("rf3-case2.json".to_string(), case.to_string())],
        &out,
        &ex,
        "../",
    )
    .unwrap_err();
    assert!(err.to_string().contains("rf3-case2.html"), "{err}");
    assert_eq!(
        std::fs::read_to_string(ex.join("rf3-case2.html")).unwrap(),
        "<p>mine</p>"
    );
    // A case quorumlab wrote (a shard's, or a run's killed before its manifest) is replaced.
    std::fs::write(ex.join("rf3-case3.json"), case.replace("[]", "[ ]")).unwrap();
    matrix::write(
        &report("rf3-case3.json"),
        &[("rf3-case3.json".to_string(), case.to_string())],
        &out,
        &ex,
        "../",
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(ex.join("rf3-case3.json")).unwrap(),
        case
    );
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn shards_cover_every_cell_exactly_once() {
    let total = cells(Profile::Full).len() + probes(Profile::Full).len();
    for n in 1..=7 {
        let mut seen: Vec<usize> = (1..=n)
            .flat_map(|i| shard_indices(total, Some((i, n))))
            .collect();
        seen.sort();
        assert_eq!(seen, (0..total).collect::<Vec<_>>(), "{n} shards");
    }
}

#[test]
fn merge_refuses_missing_and_duplicated_cells() {
    let report = |cells| MatrixReport {
        profile: Profile::Quick,
        budget: Profile::Quick.budget(),
        shard: Some("1/1".into()),
        cells,
        probes: Vec::new(),
        examples: Vec::new(),
        systems: vec!["leaderless".into()],
        system_cells: Vec::new(),
    };
    match merge(vec![report(Vec::new())]) {
        Err(MatrixError::Merge(m @ MergeError::Missing { what: "cell", .. })) => {
            let m = m.to_string();
            assert!(
                m.starts_with("cell 0 (") && m.ends_with(") is in no shard"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    match merge(vec![report(Vec::new()), report(Vec::new())]) {
        Err(MatrixError::Merge(MergeError::Missing { .. })) => {}
        other => panic!("{other:?}"),
    }
    let mut full = report(Vec::new());
    full.profile = Profile::Full;
    full.shard = Some("2/2".into());
    let e = merge(vec![report(Vec::new()), full])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("shard 2/2 is profile full with budget Budget {")
            && e.contains("but the first is profile quick with Budget {")
            && e.ends_with("over leaderless"),
        "{e}"
    );
    assert_eq!(
        merge(Vec::new()).unwrap_err().to_string(),
        "no shard to merge"
    );
}

#[test]
fn pbs_prediction_is_the_closed_form() {
    let probe = |rf, r, w| ProbeSpec { rf, r, w };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(probe(3, 1, 1).predicted(), 2.0 / 3.0));
    assert!(close(probe(3, 1, 2).predicted(), 1.0 / 3.0));
    assert!(close(probe(3, 2, 1).predicted(), 1.0 / 3.0));
    assert!(close(probe(5, 2, 2).predicted(), 3.0 / 10.0));
    let quick: Vec<_> = probes(Profile::Quick).iter().map(|p| (p.r, p.w)).collect();
    assert_eq!(quick, vec![(1, 1), (1, 2), (2, 1)]);
}

#[test]
fn quick_profile_is_the_documented_grid() {
    let quick = cells(Profile::Quick);
    assert_eq!(quick.len(), 6 * 2 * 6);
    assert!(quick
        .iter()
        .all(|c| c.rf == 3 && c.hints && !c.anti_entropy));
    for f in [
        FaultProfile::None,
        FaultProfile::Partition,
        FaultProfile::Loss,
        FaultProfile::CrashFsyncAlways,
        FaultProfile::CrashFsyncPeriodic,
        FaultProfile::Skew,
    ] {
        assert!(quick.iter().any(|c| c.faults == f), "{f:?}");
    }
}

#[test]
fn theory_follows_the_quorum_rules() {
    use Guarantee::*;
    let breaks = |c: &CellSpec, g| predict(c, g).can_break();
    // R + W <= RF: a read can miss a completed write, with no fault at all.
    let weak = cell(1, 1, ReadRepair::Blocking, FaultProfile::None);
    for g in [Linearizable, NoStaleReads, ReadYourWrites, MonotonicReads] {
        assert!(breaks(&weak, g), "{g:?}");
    }
    // Clocks follow real time without skew: writes stay in session order.
    for g in [MonotonicWrites, WritesFollowReads, Convergence] {
        assert!(!breaks(&weak, g), "{g:?}");
    }
    // Strict quorums with blocking repair and 2R > RF hold everything without faults...
    let strict = cell(2, 2, ReadRepair::Blocking, FaultProfile::None);
    assert!(Guarantee::ALL.iter().all(|g| !breaks(&strict, *g)));
    // ...but not without repair (a write in flight seen, then missed).
    let none = cell(2, 2, ReadRepair::None, FaultProfile::None);
    assert!(breaks(&none, Linearizable) && breaks(&none, MonotonicReads));
    assert!(!breaks(&none, NoStaleReads) && !breaks(&none, ReadYourWrites));
    // R = 1 repairs nothing: W = 3 does not save linearizability.
    let r1w3 = cell(1, 3, ReadRepair::Blocking, FaultProfile::None);
    assert!(breaks(&r1w3, Linearizable) && !breaks(&r1w3, NoStaleReads));
    // R = RF reads every replica: monotonic and linearizable even without repair.
    let r3w1 = cell(3, 1, ReadRepair::None, FaultProfile::Partition);
    assert!(!breaks(&r3w1, Linearizable) && !breaks(&r3w1, MonotonicReads));
    // A crash before the periodic sync loses acknowledged writes whatever R and W.
    let periodic = cell(3, 1, ReadRepair::Blocking, FaultProfile::CrashFsyncPeriodic);
    for &g in Guarantee::ALL {
        assert!(breaks(&periodic, g), "{g:?}");
    }
    // A skewed clock reorders writes, and even a strict quorum cannot keep reads monotonic: a
    // read's replicas answer at different times, one before the high-stamped earlier write
    // reached it, one after the low-stamped later write did.
    let skew = cell(2, 2, ReadRepair::Blocking, FaultProfile::Skew);
    assert!(breaks(&skew, MonotonicWrites) && breaks(&skew, MonotonicReads));
    assert!(breaks(
        &cell(3, 1, ReadRepair::Blocking, FaultProfile::Skew),
        MonotonicReads
    ));
    // Crashed coordinators lose hints; partitions alone do not.
    assert!(breaks(
        &cell(2, 2, ReadRepair::Blocking, FaultProfile::CrashFsyncAlways),
        Convergence
    ));
    assert!(!breaks(
        &cell(2, 2, ReadRepair::Blocking, FaultProfile::Partition),
        Convergence
    ));
    // One replica cannot diverge from others, whatever crashes, loss or missing hints do; it
    // can still forget an acknowledged write (amnesia) or keep an earlier one (reorder).
    let single = |hints, faults| CellSpec {
        rf: 1,
        r: 1,
        w: 1,
        read_repair: ReadRepair::None,
        hints,
        anti_entropy: false,
        faults,
    };
    for faults in [
        FaultProfile::CrashFsyncAlways,
        FaultProfile::Loss,
        FaultProfile::Partition,
    ] {
        assert!(!breaks(&single(false, faults), Convergence), "{faults:?}");
    }
    assert!(breaks(
        &single(true, FaultProfile::CrashFsyncPeriodic),
        Convergence
    ));
    assert!(breaks(&single(true, FaultProfile::Skew), Convergence));
}

#[test]
fn with_no_break_left_to_find_the_planner_is_the_full_rotation() {
    let mut planner = CasePlanner::default();
    for i in 0..72 {
        assert_eq!(planner.next(&[]), case_plan(i), "scenario {i}");
    }
}

#[test]
fn every_other_scenario_is_aimed_at_the_unbroken_mechanisms_under_every_replica_choice() {
    let mut planner = CasePlanner::default();
    let mut aimed = Vec::new();
    for i in 0..12u32 {
        let (w, c) = planner.next(&[Mechanism::WriteLost]);
        if i % 2 == 0 {
            assert_eq!(
                (w, c),
                case_plan(i / 2),
                "scenario {i} continues the rotation"
            );
        } else {
            assert!(w.aims_at(Mechanism::WriteLost), "scenario {i}: {w:?}");
            aimed.push(c);
        }
    }
    for choice in REPLICA_CHOICES {
        assert!(aimed.contains(&choice), "{choice:?} never aimed: {aimed:?}");
    }
    // Two mechanisms: the aimed scenarios take every workload aimed at either, in turn.
    let mut planner = CasePlanner::default();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (w, _) = planner.next(&[Mechanism::Divergence, Mechanism::WriteLost]);
        seen.insert(w);
    }
    for &w in Workload::VARIANTS {
        if w.aims_at(Mechanism::Divergence) || w.aims_at(Mechanism::WriteLost) {
            assert!(seen.contains(&w), "{w:?} never ran");
        }
    }
}

#[test]
fn every_predicted_break_names_a_mechanism_some_workload_aims_at() {
    for c in cells(Profile::Full) {
        for &g in Guarantee::ALL {
            let p = predict(&c, g);
            assert_eq!(p.can_break(), p.mechanism.is_some(), "{} {g:?}", c.slug());
            if let Some(m) = p.mechanism {
                assert!(
                    Workload::VARIANTS.iter().any(|w| w.aims_at(m)),
                    "{} {g:?}: no workload aims at {m:?}",
                    c.slug()
                );
            }
        }
    }
}

#[test]
fn aimed_only_workloads_leave_the_leaderless_plans_as_they_were_and_aim_at_leader_changes() {
    // No aimed-only workload aims at a mechanism of the leaderless store's theory, so every
    // leaderless cell's plan (rotation and aimed scenarios) is the one the rotation's workloads
    // alone give.
    for c in cells(Profile::Full) {
        for &g in Guarantee::ALL {
            if let Some(m) = predict(&c, g).mechanism {
                for w in Workload::AIMED_ONLY {
                    assert!(!w.aims_at(m), "{} {g:?}: {w:?} aims at {m:?}", c.slug());
                }
            }
        }
    }
    // A leader-follower cell still looking for a failover break runs the leader-change
    // workload in its aimed scenarios, and never in its rotation.
    let mut planner = CasePlanner::default();
    let plan: Vec<Workload> = (0..108)
        .map(|_| planner.next_variant(&[Mechanism::Failover], 1).0)
        .collect();
    for (i, w) in plan.iter().enumerate() {
        if i % 2 == 1 {
            assert_eq!(*w, Workload::LeaderChange, "scenario {i}");
        } else {
            assert_eq!(*w, Workload::VARIANTS[i / 2 % Workload::VARIANTS.len()]);
        }
    }
}

#[test]
fn leader_follower_theory_follows_the_design() {
    use quorumlab_harness::matrix::system_cells;
    let specs = system_cells(Profile::Quick, "leader-follower");
    assert_eq!(specs.len(), 12, "four settings, three fault profiles");
    for spec in &specs {
        // Every cell's configuration is one the system accepts.
        quorumlab_harness::systems::build(&spec.system_config())
            .unwrap_or_else(|e| panic!("{}: {e}", spec.slug()));
        let breaks: Vec<Guarantee> = Guarantee::ALL
            .iter()
            .copied()
            .filter(|g| spec.predict(*g).can_break())
            .collect();
        let lf = spec.leader_follower();
        let faults = spec.faults != FaultProfile::None;
        let expected: Vec<Guarantee> = if lf.sync_followers == 0 && faults
            || !lf.fencing && spec.faults == FaultProfile::Partition
        {
            Guarantee::ALL.to_vec()
        } else if lf.follower_reads {
            vec![
                Guarantee::Linearizable,
                Guarantee::NoStaleReads,
                Guarantee::ReadYourWrites,
                Guarantee::MonotonicReads,
            ]
        } else {
            Vec::new()
        };
        assert_eq!(breaks, expected, "{}", spec.slug());
        for g in &breaks {
            let m = spec.predict(*g).mechanism.unwrap();
            assert!(
                Workload::all().any(|w| w.aims_at(m)),
                "{}: no workload aims at {m:?}",
                spec.slug()
            );
        }
    }
    // The linearizable setting is predicted to keep everything everywhere.
    assert!(specs
        .iter()
        .filter(|s| s.setting == "sync1-leader-fenced")
        .all(|s| Guarantee::ALL.iter().all(|g| !s.predict(*g).can_break())));
    // No other system has cells of its own.
    assert!(system_cells(Profile::Quick, "leaderless").is_empty());
}

#[test]
fn a_report_read_back_writes_the_same_bytes() {
    // `matrix merge` joins shard files read from JSON: what it writes must be what the
    // unsharded run wrote, to the last digit of every rate.
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/consistency-matrix.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let report: MatrixReport = serde_json::from_str(&text).unwrap();
    assert_eq!(report.to_json(), text);
    assert!(
        !report.system_cells.is_empty(),
        "the committed matrix holds both systems"
    );
}

#[test]
fn the_page_counts_the_case_reports_it_wrote_beside_the_cases() {
    let root = scratch("page-count");
    let (out, ex) = (root.join("docs"), root.join("ex"));
    std::fs::create_dir_all(&ex).unwrap();
    // The page's directory exists already: `matrix` writes the Markdown and JSON there first.
    std::fs::create_dir_all(&out).unwrap();
    let case = r#"{"format": "quorumlab-history/1", "verdict": {"linearizable": true}, "witnesses": {}, "ops": [
{"id": 0, "client": 0, "kind": "put", "key": "k", "value": 1, "invoke": 0, "complete": 1000000, "outcome": "ok"}]}
"#;
    for name in ["a.json", "b.json"] {
        std::fs::write(ex.join(name), case).unwrap();
    }
    let report = MatrixReport {
        profile: Profile::Quick,
        budget: Profile::Quick.budget(),
        shard: None,
        cells: Vec::new(),
        probes: Vec::new(),
        // One example whose file was never copied here: it has no report, and is not counted.
        examples: vec!["a.json".into(), "b.json".into(), "gone.json".into()],
        systems: vec!["leaderless".into()],
        system_cells: Vec::new(),
    };
    let mut staging = quorumlab_harness::fsutil::Staging::new();
    let written =
        quorumlab_harness::report::matrix_page::stage(&report, &out, &ex, "../", &mut staging)
            .unwrap();
    quorumlab_harness::matrix::commit(&report, staging, &ex, "").unwrap();
    assert_eq!(written.reports, 2);
    assert_eq!(written.page, out.join("consistency-matrix.html"));
    assert!(ex.join("a.html").is_file() && ex.join("b.html").is_file());
    assert!(!ex.join("gone.html").exists());
    std::fs::remove_dir_all(&root).ok();
}
