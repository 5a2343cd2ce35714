//! Exploring: run many generated scenarios until one breaks an expected guarantee, then shrink
//! it with proptest to the smallest scenario that still breaks it.
use std::cell::{Cell, RefCell};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::case::Case;
use crate::runner::RunError;
use crate::scenario::Scenario;
use crate::shrink::{Keep, ShrinkTest};
use crate::strategy::{scenario, ScenarioShape};
use crate::verdict::judge;
use crate::workload::WorkloadChoice;
use quorumlab::check::Guarantee;

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// The shape of generated scenarios: the system, faults and, with
    /// [`WorkloadChoice::Flags`], everything else.
    pub shape: ScenarioShape,
    /// Which workloads generate the scenarios.
    pub workload: WorkloadChoice,
    /// The guarantees that should hold.
    pub expect: Vec<Guarantee>,
    /// How many scenarios to try.
    pub cases: u32,
    /// Seeds the search: the same seed and options try the same scenarios in the same order.
    pub seed: u64,
    /// Most shrink steps (each a full run) before settling for the smallest failure so far.
    pub max_shrink_iters: u32,
}

/// Progress reported while exploring.
pub trait Progress {
    /// A generated case finished (`n` cases so far).
    fn case_done(&self, _n: u32) {}
    /// A failure was found after `n` cases; shrinking starts.
    fn shrinking(&self, _n: u32) {}
    /// One shrink step ran.
    fn shrink_step(&self, _steps: u32, _ops: usize) {}
    /// A search case ran and recorded this history (shrink steps are not reported here).
    fn case_run(&self, _history: &quorumlab::history::History) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// The result of an exploration.
#[derive(Debug)]
pub enum Outcome {
    /// Every case kept every expected guarantee.
    Held {
        /// Cases run.
        cases: u32,
    },
    /// A case broke a guarantee; this is the shrunk case.
    Found {
        /// Cases run up to and including the first failure.
        cases_to_failure: u32,
        /// Shrink steps run.
        shrink_steps: u32,
        /// The shrunk case, rerun and judged.
        case: Box<Case>,
        /// The scenario as first found, before shrinking.
        original: Box<Scenario>,
    },
}

/// The proptest RNG for a search seed.
pub fn search_rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"quorumlb");
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Generates the scenario a search seed yields first (what `quorumlab run --seed` runs).
pub fn generate(shape: &ScenarioShape, seed: u64) -> Scenario {
    generate_with(&scenario(shape), seed)
}

/// Generates the scenario a search seed yields first from any scenario strategy.
pub fn generate_with<S: proptest::strategy::Strategy<Value = Scenario>>(
    strategy: &S,
    seed: u64,
) -> Scenario {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new_with_rng(Config::default(), search_rng(seed));
    let mut s = strategy
        .new_tree(&mut runner)
        .expect("scenario strategies never reject")
        .current();
    s.seed = seed;
    s
}

/// Searches for a violation of the expected guarantees, then shrinks it: proptest proposes
/// the smaller scenarios and [`ShrinkTest`] decides each, with at most
/// `max_shrink_iters` runs.
pub fn explore(options: &ExploreOptions, progress: &dyn Progress) -> Result<Outcome, RunError> {
    // Refused here, naming what the system lacks, rather than by the first scenario's run,
    // which the search would take for a failure to shrink.
    options.shape.check_system()?;
    let config = Config {
        cases: options.cases,
        // Runs are what cost, and the shrink test counts them against `max_shrink_iters`
        // itself; a candidate it answers without running costs nothing.
        max_shrink_iters: u32::MAX,
        failure_persistence: None,
        // Each case is a whole simulation; proptest's own time limits do not apply.
        max_shrink_time: 0,
        timeout: 0,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, search_rng(options.seed));
    let cases = Cell::new(0u32);
    let shrink = RefCell::new(None::<ShrinkTest>);
    let expect = options.expect.clone();

    let result = runner.run(&options.workload.strategy(&options.shape), |s| {
        if let Some(test) = shrink.borrow_mut().as_mut() {
            let runs = test.runs();
            let fails = test.check(&s);
            if test.runs() > runs {
                progress.shrink_step(test.runs(), test.best().op_count());
            }
            return match fails {
                Some(true) => Err(TestCaseError::fail("still fails")),
                _ => Ok(()),
            };
        }
        cases.set(cases.get() + 1);
        let (keep, history, why) = match crate::runner::run(&s) {
            Ok(out) => {
                progress.case_run(&out.history);
                let violated = judge(&out.history, &expect).violated();
                progress.case_done(cases.get());
                if violated.is_empty() {
                    return Ok(());
                }
                let names: Vec<_> = violated.iter().map(|g| g.name()).collect();
                let why = format!("violated: {}", names.join(", "));
                (Keep::Any(expect.clone()), Some(out.history), why)
            }
            // A run that cannot finish is a failure of its own, shrunk like any other.
            Err(e) => (Keep::RunFails, None, e.to_string()),
        };
        progress.shrinking(cases.get());
        let test = ShrinkTest::new(&s, history.as_ref(), keep, options.max_shrink_iters);
        *shrink.borrow_mut() = Some(test);
        Err(TestCaseError::fail(why))
    });

    match result {
        Ok(()) => Ok(Outcome::Held { cases: cases.get() }),
        Err(TestError::Abort(why)) => Err(RunError::Simulation {
            at: Default::default(),
            message: format!("exploration aborted: {why}"),
        }),
        Err(TestError::Fail(_, _)) => {
            let test = shrink
                .into_inner()
                .expect("a failure starts the shrink test");
            let shrink_steps = test.runs();
            let original = Box::new(test.found().clone());
            // The shrunk scenario, rerun whole: its history and witness are what gets saved.
            let case = test.finish(&options.expect)?;
            Ok(Outcome::Found {
                cases_to_failure: cases.get(),
                shrink_steps,
                original,
                case: Box::new(case),
            })
        }
    }
}

/// Shrinks the scenario a search seed yields first from `strategy`, as proptest's runner would
/// (simplify after a failure, complicate after a pass), while `check` answers: `Some(true)`
/// the candidate still fails, `Some(false)` it passes, `None` stop (the budget is spent).
/// Returns the last candidate that failed (the scenario as generated if none did) and the
/// number of candidates checked.
pub fn shrink_with<S: proptest::strategy::Strategy<Value = Scenario>>(
    strategy: &S,
    seed: u64,
    mut check: impl FnMut(&Scenario) -> Option<bool>,
) -> (Scenario, u32) {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new_with_rng(Config::default(), search_rng(seed));
    let mut tree = strategy
        .new_tree(&mut runner)
        .expect("scenario strategies never reject");
    let with_seed = |mut s: Scenario| {
        s.seed = seed;
        s
    };
    let mut best = with_seed(tree.current());
    let mut steps = 0;
    if !tree.simplify() {
        return (best, steps);
    }
    loop {
        let candidate = with_seed(tree.current());
        steps += 1;
        let more = match check(&candidate) {
            None => break,
            Some(true) => {
                best = candidate;
                tree.simplify()
            }
            Some(false) => tree.complicate(),
        };
        if !more {
            break;
        }
    }
    (best, steps)
}
