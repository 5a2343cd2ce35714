//! The consistency matrix: shards merge into exactly the unsharded result, every violation
//! links a saved counterexample, and the PBS prediction is the closed form.
use quorumlab::store::ReadRepair;
use quorumlab_harness::matrix::{
    cells, merge, run_cells, shard_indices, CellSpec, FaultProfile, MatrixOptions, Profile,
};

fn options(dir: &std::path::Path, shard: Option<(usize, usize)>) -> MatrixOptions {
    MatrixOptions {
        profile: Profile::Quick,
        seeds: 1,
        shard,
        examples_dir: dir.to_path_buf(),
        examples_prefix: dir.display().to_string(),
        shrink_steps: 5,
        threads: 2,
    }
}

fn small_cells() -> Vec<CellSpec> {
    let cell = |r, w, faults| CellSpec {
        rf: 3,
        r,
        w,
        read_repair: ReadRepair::Blocking,
        hints: true,
        faults,
        pbs: false,
    };
    vec![
        cell(2, 2, FaultProfile::None),
        cell(1, 1, FaultProfile::Partition),
        cell(2, 2, FaultProfile::Skew),
    ]
}

#[test]
fn shards_merge_into_exactly_the_unsharded_matrix() {
    let dir = std::env::temp_dir().join(format!("quorumlab-matrix-{}", std::process::id()));
    let specs = small_cells();
    let whole = run_cells(&specs, &options(&dir, None), &|_, _, _| {}).unwrap();
    let a = run_cells(&specs, &options(&dir, Some((1, 2))), &|_, _, _| {}).unwrap();
    let b = run_cells(&specs, &options(&dir, Some((2, 2))), &|_, _, _| {}).unwrap();
    assert_eq!(a.cells.len() + b.cells.len(), specs.len());
    // merge() checks the cells against the quick profile, so compare its joining logic on
    // these cells directly: same cells, same order, same content.
    let mut joined: Vec<_> = a.cells.iter().chain(&b.cells).cloned().collect();
    joined.sort_by_key(|c| c.index);
    assert_eq!(joined, whole.cells);

    // Every violated guarantee names its first seed and a saved, replayable example.
    let mut violations = 0;
    for c in &whole.cells {
        for g in c.guarantees.values() {
            if g.violated > 0 {
                violations += 1;
                assert_eq!(g.first_seed, Some(1));
                let path = g
                    .example
                    .as_ref()
                    .expect("a violated cell links an example");
                assert!(std::path::Path::new(path).exists(), "{path} missing");
            }
        }
    }
    assert!(
        violations > 0,
        "R = W = 1 under partitions and skew should break something"
    );
    let md = whole.to_markdown("");
    assert!(
        md.contains("## R + W > RF") && md.contains("## R + W <= RF"),
        "{md}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shards_cover_every_cell_exactly_once() {
    let total = cells(Profile::Full).len();
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
    let report = |cells| quorumlab_harness::matrix::MatrixReport {
        profile: Profile::Quick,
        seeds: 1,
        shard: Some("1/1".into()),
        cells,
    };
    assert!(merge(vec![report(Vec::new())])
        .unwrap_err()
        .contains("is in no shard"));
    assert!(merge(Vec::new()).is_err());
}

#[test]
fn pbs_prediction_is_the_closed_form() {
    let probe = |rf, r, w| CellSpec {
        rf,
        r,
        w,
        read_repair: ReadRepair::None,
        hints: false,
        faults: FaultProfile::None,
        pbs: true,
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(probe(3, 1, 1).pbs_predicted().unwrap(), 2.0 / 3.0));
    assert!(close(probe(3, 1, 2).pbs_predicted().unwrap(), 1.0 / 3.0));
    assert!(close(probe(3, 2, 1).pbs_predicted().unwrap(), 1.0 / 3.0));
    assert!(close(probe(5, 2, 2).pbs_predicted().unwrap(), 3.0 / 10.0));
    let quick = cells(Profile::Quick);
    let probes: Vec<_> = quick.iter().filter(|c| c.pbs).map(|c| (c.r, c.w)).collect();
    assert_eq!(probes, vec![(1, 1), (1, 2), (2, 1)]);
}
